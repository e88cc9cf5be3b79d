// The per-tensor scheme: one (inv_scale, zero_point, scale) for every element, held in the uniform.
// Packed on the host by packUniform(PER_TENSOR_PARAMS) in src/kernels/common/uniforms.ts; a unit test checks
// the two layouts agree. Provides the Position walk, params_at, quant_at, dequantize_at and
// dequantize_small_at to the entry-point files.

struct PerTensorParams {
  vec_count: u32,        // packed words (or vec4s) in this chunk
  thread_count: u32,     // invocations in the dispatch (the stride)
  inv_scale: f32,        // fround(1 / fround(scale)), computed on the host
  zero_point_f32: f32,   // fround(zero_point), for the float32 add of quantize
  qmin: f32,
  qmax: f32,
  scale: f32,            // fround(scale), for dequantize
  zero_point: i32,       // for the wrapping int32 subtraction of dequantize
}

@group(0) @binding(0) var<uniform> params: PerTensorParams;

// Per tensor every element has the same parameters, so positions carry nothing.
struct Position {
  unused: u32,
}

fn position_of(e: u32) -> Position { return Position(0u); }
fn next_word(p: Position) -> Position { return p; }
fn next4(p: Position) -> Position { return p; }

// The parameters of four elements.
fn params_at(p: Position) -> Params4 {
  return Params4(vec4<f32>(params.inv_scale), vec4<f32>(params.zero_point_f32), vec4<f32>(params.scale));
}

// The small-range path's parameters (per tensor, the 8-bit and 4-bit kernels run as stationary kernels;
// these entry points are compiled with the module but the host dispatches them only for the grouped scheme).
fn quant_at(p: Position) -> Quant4 {
  return quant4_of(vec4<f32>(params.inv_scale), vec4<f32>(params.zero_point_f32), params.qmin, params.qmax);
}

// dequantize_at for 8-bit and 4-bit values: q - zero_point is small, so its conversion is exact.
fn dequantize_small_at(q: vec4<i32>, p: Position) -> vec4<f32> {
  return vec4<f32>(q - vec4<i32>(params.zero_point)) * params.scale;
}

// x = f32(int32(q - zero_point)) * scale: the i32 subtraction wraps, as in PyTorch.
fn dequantize_at(q: vec4<i32>, p: Position) -> vec4<f32> {
  let d = q - vec4<i32>(params.zero_point);
  return vec4<f32>(i32_to_f32_rne(d.x), i32_to_f32_rne(d.y), i32_to_f32_rne(d.z), i32_to_f32_rne(d.w)) * params.scale;
}
