// The per-channel and per-group schemes: a table of parameters, one row per channel or group, and the
// formula that finds each element's row. Packed on the host by packUniform(GROUPED_PARAMS) in
// src/kernels/common/uniforms.ts; a unit test checks the two layouts agree. Provides the Position walk, quant_at,
// dequantize_small_at,
// params_at and dequantize_at to the entry-point files.
//
// The tensor is viewed as [outer, channels, inner] around the axis. Element (o, a, k) uses row
//   o * stride_outer + (a / group_size) * stride_group + k * stride_inner
// per channel: group_size 1, strides (0, 1, 0); per group (ONNX block_size): strides (groups * inner, inner, 1).
//
// Integer division is the cost here, so an invocation divides once, for its first word, and then walks:
// the host splits the loop stride (elements between an invocation's successive words) and 4 into
// (k, a, o) steps, and advancing is two compares and adds. How the four elements of a word find their
// rows is picked per tensor (never per shape: a pipeline serves every size):
//   ROW_LAYOUT 1 (same):        one row: per channel with inner % 4 == 0; per group along the last axis
//                               with channels % 4 == 0 and group_size % 4 == 0.
//   ROW_LAYOUT 2 (consecutive): rows r .. r + 3: per channel along the last axis with channels % 4 == 0;
//                               per group with inner % 4 == 0.
//   ROW_LAYOUT 0 (general):     any shape: step element by element.
// PER_GROUP false lets the compiler drop the group arithmetic (row = a) for per-channel tensors.

override ROW_LAYOUT: u32 = 0u;
// The layouts by name (the host's ROW_LAYOUT table in src/kernels/elementwise/scheme-params.ts).
const ROWS_GENERAL: u32 = 0u;
const ROWS_SAME: u32 = 1u;
const ROWS_CONSECUTIVE: u32 = 2u;
override PER_GROUP: bool = false;

struct GroupedParams {
  vec_count: u32,
  thread_count: u32,
  start_element: u32,   // global index of this chunk's first element
  inner: u32,           // product of the dimensions after the axis
  channels: u32,        // size of the axis
  group_size: u32,
  stride_outer: u32,
  stride_group: u32,
  stride_inner: u32,
  qmin: f32,
  qmax: f32,
  _pad0: u32,
  // The loop stride (elements between an invocation's successive words) split into (k, a, o) steps.
  word_step_k: u32,
  word_step_a: u32,
  word_step_o: u32,
  word_step_pad: u32,
  // 4 elements split the same way (the second half of a 4-bit word).
  four_step_k: u32,
  four_step_a: u32,
  four_step_o: u32,
  four_step_pad: u32,
}

@group(0) @binding(0) var<uniform> params: GroupedParams;
// Rows in blocks of four, structure of arrays: block b is three vec4s holding the inv_scale, the
// fround(zero_point) and the fround(scale) of rows 4b .. 4b + 3, so four consecutive rows are three loads.
@group(0) @binding(3) var<storage, read> table: array<vec4<f32>>;

// An element's place in the [outer, channels, inner] view.
struct Position {
  k: u32,
  a: u32,
  o: u32,
}

fn position_of(e: u32) -> Position {
  let index = params.start_element + e;
  let t = index / params.inner;
  return Position(index - t * params.inner, t % params.channels, t / params.channels);
}

// p advanced by a step already split into (k, a, o) with k < inner and a < channels: at most one carry each.
fn advance(p: Position, step: vec4<u32>) -> Position {
  var k = p.k + step.x;
  let carry_k = select(0u, 1u, k >= params.inner);
  k -= carry_k * params.inner;
  var a = p.a + step.y + carry_k;
  let carry_a = select(0u, 1u, a >= params.channels);
  a -= carry_a * params.channels;
  return Position(k, a, p.o + step.z + carry_a);
}

fn next_word(p: Position) -> Position {
  return advance(p, vec4<u32>(params.word_step_k, params.word_step_a, params.word_step_o, 0u));
}
fn next4(p: Position) -> Position {
  return advance(p, vec4<u32>(params.four_step_k, params.four_step_a, params.four_step_o, 0u));
}

fn row_of(p: Position) -> u32 {
  if (!PER_GROUP) { return p.a; }
  return p.o * params.stride_outer + (p.a / params.group_size) * params.stride_group + p.k * params.stride_inner;
}

// Lanes past the end of the tensor (padding of the last word) would read past the table: they read its
// last rows instead; their results are dropped by the host.
fn last_block() -> u32 {
  return arrayLength(&table) / 3u - 1u;
}

// One row's parameters, splatted over four elements.
fn row_params(row: u32) -> Params4 {
  let block = 3u * min(row / 4u, last_block());
  let lane = row % 4u;
  return Params4(vec4<f32>(table[block][lane]), vec4<f32>(table[block + 1u][lane]), vec4<f32>(table[block + 2u][lane]));
}

// The parameters of the four elements starting at p.
fn params_at(p: Position) -> Params4 {
  if (ROW_LAYOUT == ROWS_SAME) {
    return row_params(row_of(p));
  }
  if (ROW_LAYOUT == ROWS_CONSECUTIVE) {
    // Consecutive rows start at a multiple of 4 here (the host checks), so they are one block.
    let block = 3u * min(row_of(p) / 4u, last_block());
    return Params4(table[block], table[block + 1u], table[block + 2u]);
  }
  var result: Params4;
  var at = p;
  for (var j = 0u; j < 4u; j++) {
    let one = row_params(row_of(at));
    result.inv_scale[j] = one.inv_scale.x;
    result.zero_point[j] = one.zero_point.x;
    result.scale[j] = one.scale.x;
    at = advance(at, vec4<u32>(1u, 0u, 0u, 0u)); // one carry suffices even when inner or channels is 1
  }
  return result;
}

// The four elements' parameters for the small-range quantize path (numerics.wgsl quantize_small).
fn quant_at(p: Position) -> Quant4 {
  let q = params_at(p);
  return quant4_of(q.inv_scale, q.zero_point, params.qmin, params.qmax);
}

// dequantize_at for 8-bit and 4-bit values: q and the zero point are small, so every step is exact.
fn dequantize_small_at(q: vec4<i32>, p: Position) -> vec4<f32> {
  let params4 = params_at(p);
  return (vec4<f32>(q) - params4.zero_point) * params4.scale;
}

// x = fround(f32(q) - fround(zero_point)) * fround(scale), all float32. PyTorch's per-channel dequantize
// multiplies by the float64 scale: identical whenever the scale is a float32 value, within 1 ulp otherwise.
fn dequantize_at(q: vec4<i32>, p: Position) -> vec4<f32> {
  let params4 = params_at(p);
  let qf = vec4<f32>(i32_to_f32_rne(q.x), i32_to_f32_rne(q.y), i32_to_f32_rne(q.z), i32_to_f32_rne(q.w));
  return (qf - params4.zero_point) * params4.scale;
}
