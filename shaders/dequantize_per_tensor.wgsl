// Per-tensor dequantize: x = f32(int32(q - zero_point)) * fround(scale). The i32 subtraction wraps, as in
// PyTorch; the conversion rounds to nearest even (exact for 8-bit types).
// Composed after per_tensor_params.wgsl and before dequantize_entries.wgsl.

fn dequantize4(q: vec4<i32>, v: u32) -> vec4<f32> {
  let d = q - vec4<i32>(params.zero_point);
  return vec4<f32>(i32_to_f32_rne(d.x), i32_to_f32_rne(d.y), i32_to_f32_rne(d.z), i32_to_f32_rne(d.w)) * params.scale;
}
