// Per-tensor quantize: one (inv_scale, zero_point) for every element, held in the uniform.
// Composed after per_tensor_params.wgsl and before quantize_entries.wgsl.

@group(0) @binding(1) var<storage, read> input: array<vec4<f32>>;

fn quantize4(v: u32) -> vec4<f32> {
  let x = input[v];
  return vec4<f32>(
    quantize_value(x.x, params.inv_scale, params.zero_point_f32, params.qmin, params.qmax),
    quantize_value(x.y, params.inv_scale, params.zero_point_f32, params.qmin, params.qmax),
    quantize_value(x.z, params.inv_scale, params.zero_point_f32, params.qmin, params.qmax),
    quantize_value(x.w, params.inv_scale, params.zero_point_f32, params.qmin, params.qmax));
}
