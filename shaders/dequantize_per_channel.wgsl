// Per-channel dequantize: x = (f32(q) - fround(zero_point)) * fround(scale) in float32. PyTorch computes
// the product in float64 with the float64 scale: identical for 8-bit types whenever the scale is a
// float32 value (always so for observer scales), within 1 ulp otherwise.
// Composed after per_channel_params.wgsl and before dequantize_entries.wgsl.

fn dequantize4(q: vec4<i32>, v: u32) -> vec4<f32> {
  let p = channel_params4(v);
  return vec4<f32>(
    (i32_to_f32_rne(q.x) - p[0].y) * p[0].z,
    (i32_to_f32_rne(q.y) - p[1].y) * p[1].z,
    (i32_to_f32_rne(q.z) - p[2].y) * p[2].z,
    (i32_to_f32_rne(q.w) - p[3].y) * p[3].z);
}
