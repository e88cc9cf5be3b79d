// Per-channel quantize: each element uses its channel's (inv_scale, zero_point).
// Composed after per_channel_params.wgsl and before quantize_entries.wgsl.

@group(0) @binding(1) var<storage, read> input: array<vec4<f32>>;

fn quantize4(v: u32) -> vec4<f32> {
  let x = input[v];
  let p = channel_params4(v);
  return vec4<f32>(
    quantize_value(x.x, p[0].x, p[0].y, params.qmin, params.qmax),
    quantize_value(x.y, p[1].x, p[1].y, params.qmin, params.qmax),
    quantize_value(x.z, p[2].x, p[2].y, params.qmin, params.qmax),
    quantize_value(x.w, p[3].x, p[3].y, params.qmin, params.qmax));
}
