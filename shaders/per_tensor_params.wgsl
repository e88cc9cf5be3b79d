// The uniform of the per-tensor kernel family (quantize and dequantize). Packed on the host by packUniform
// with the layout in src/kernels/uniforms.ts; a unit test checks the two layouts agree.

struct PerTensorParams {
  vec_count: u32,        // groups of 4 elements in this chunk (= 8-bit output words)
  thread_count: u32,     // invocations in the dispatch (the stride)
  inv_scale: f32,        // fround(1 / fround(scale)), computed on the host
  zero_point_f32: f32,   // fround(zero_point), for the float32 add of quantize
  qmin: f32,
  qmax: f32,
  scale: f32,            // fround(scale), for dequantize
  zero_point: i32,       // for the wrapping int32 subtraction of dequantize
}

@group(0) @binding(0) var<uniform> params: PerTensorParams;
