// Error statistics: per-invocation partial sums of (x − x̂)², x², x̂², x·x̂, max |x − x̂|, and counts of
// clipped, non-finite and all elements. The host cuts the tensor into tiles (src/kernels/error-stats/error-stats-plan.ts):
// lane `w` of a tile sums the elements at offsets w, w + width, ... below the tile's length, all of one
// statistics bucket, sequentially and with Kahan compensation, then writes one partial. The host adds the
// partials into their buckets in float64, in a fixed order, so the result is identical on every run.
// No workgroup memory, no barriers, no atomics.
// Composed after numerics.wgsl (quantize_value, is_inf_bits, i32_to_f32_rne) and indexing.wgsl. Packed on the host
// by packUniform(ERROR_STATS_PARAMS) in src/kernels/error-stats-uniform.ts; a unit test checks they agree.

override WORKGROUP_SIZE: u32 = 64;
// 0: `quantized` holds x̂ as f32 bits (a plain Tensor; no grid, no clipping).
// 1: per-tensor integers: x̂ = f32(int32(q − zp)) · scale, the subtraction wrapping as in PyTorch.
// 2: per-channel / per-group integers: x̂ = (f32(q) − f32(zp)) · scale, parameter from param_index.
override SCHEME: u32 = 0u;
// The schemes by name (the host's ERROR_STATS_SCHEME table in src/kernels/error-stats/error-stats-shader.ts).
const SCHEME_FLOATS: u32 = 0u;
const SCHEME_PER_TENSOR_INTEGERS: u32 = 1u;
const SCHEME_INDEXED_INTEGERS: u32 = 2u;
// error_stats_quads only: how `quantized` holds the integers of SCHEME 1 and 2: 4 (one i32 per element) or
// 1 (int8 / uint8 packed four to a word, as the QTensor stores them; QUANTIZED_SIGNED says which).
override QUANTIZED_BYTES: u32 = 4u;
override QUANTIZED_SIGNED: bool = true;
// With QUANTIZED_BYTES 1: the integers are 4-bit, packed two to a byte as the quantize kernels leave them on
// the device (element 2k in the low nibble of byte k): quad u is the half word 16 * (u & 1) of word u >> 1.
override QUANTIZED_NIBBLES: bool = false;
// error_stats_quads, SCHEME 2 only: each lane component meets one parameter on every row (per channel along
// the statistics' own axis), so it is looked up once per lane, not per quad. An override, not a uniform:
// SwiftShader runs both sides of a branch it cannot prove uniform, and the per-quad lookup divides.
override LANE_PARAMS: bool = false;
// error_stats_quads, SCHEME 1 and 2: count clipped elements as round(x * inv_scale) outside
// [qmin - zp, qmax - zp], without the rest of quantize_vec4. The host sets it only where that is exact:
// |qmin|, |qmax| <= 2^16 and every |zp| <= 2^22 (the sums below are exact; a product clamped to ±2^23 is
// out of range either way), every inv_scale <= 2^125 (a subnormal x then gives |x * inv_scale| < 0.5,
// which rounds to 0 whether or not the hardware flushes x). NaN x never reaches the kernel.
override SMALL_RANGE_CLIP: bool = false;

struct ErrorStatsParams {
  lane_count: u32,      // tiles * width: invocations with work
  width: u32,           // lanes per tile (= the row length of the tile's rows × width view)
  rows: u32,            // most rows of any tile
  chunk_start: u32,     // index in the whole tensor of this chunk's first element
  prescale: f32,        // a power of two bringing every finite |x|, |x̂| below 4: squares cannot overflow
  clip_low: f32,        // smallest f32 >= qmin
  clip_high: f32,       // largest f32 <= qmax
  clamp_low: f32,       // the f32 just below clip_low
  clamp_high: f32,      // the f32 just above clip_high
  param_base: u32,      // first parameter in param_table (the chunk's window of the table)
  q_inner: u32,         // the parameter index map (src/stats/index-map.ts), SCHEME 2 only
  q_axis_len: u32,
  q_group_size: u32,
  q_stride_outer: u32,
  q_stride_group: u32,
  q_stride_inner: u32,
}

@group(0) @binding(0) var<uniform> params: ErrorStatsParams;
@group(0) @binding(1) var<storage, read> original: array<f32>;
// f32 bits (SCHEME 0) or i32 integers (SCHEME 1, 2), one per element.
@group(0) @binding(2) var<storage, read> quantized: array<u32>;
// Per parameter, as bits: (fround(1 / fround(scale)), fround(zp), fround(scale), zp as i32). Integers travel as
// u32 because small integers are subnormal f32 bit patterns, which some GPUs flush.
@group(0) @binding(3) var<storage, read> param_table: array<vec4<u32>>;
// Per tile: (start relative to chunk_start, length).
@group(0) @binding(4) var<storage, read> tiles: array<vec2<u32>>;
// Per lane, two words of 4: (Σe², Σx², Σx̂², Σx·x̂) as f32 bits, then (max |e| bits, clipped, non-finite, count).
@group(0) @binding(5) var<storage, read_write> partials: array<vec4<u32>>;
// The same buffers seen a quad (4 elements) at a time, by error_stats_quads only.
@group(0) @binding(1) var<storage, read> original4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> quantized4: array<vec4<u32>>;

fn param_index(i: u32) -> u32 {
  let row = i / params.q_inner;
  let a = row % params.q_axis_len;
  let o = row / params.q_axis_len;
  let k = i - row * params.q_inner;
  return o * params.q_stride_outer + (a / params.q_group_size) * params.q_stride_group + k * params.q_stride_inner
    - params.param_base;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn error_stats(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let lane_id = linear_invocation(gid, groups, WORKGROUP_SIZE);
  if (lane_id >= params.lane_count) { return; }
  let tile = tiles[lane_id / params.width];
  let lane = lane_id % params.width;
  var sums = vec4<f32>(0.0);
  var compensation = vec4<f32>(0.0);
  var max_abs = 0.0;
  var clipped = 0u;
  var non_finite = 0u;
  var count = 0u;
  for (var r = 0u; r < params.rows; r++) {
    let offset = r * params.width + lane;
    if (offset >= tile.y) { break; }
    let i = tile.x + offset;
    let x = original[i];
    var xh: f32;
    if (SCHEME == SCHEME_FLOATS) {
      xh = bitcast<f32>(quantized[i]);
    } else {
      let q = bitcast<i32>(quantized[i]);
      var p: vec4<u32>;
      if (SCHEME == SCHEME_PER_TENSOR_INTEGERS) {
        p = param_table[0];
        xh = i32_to_f32_rne(q - bitcast<i32>(p.w)) * bitcast<f32>(p.z);
      } else {
        p = param_table[param_index(params.chunk_start + i)];
        xh = (i32_to_f32_rne(q) - bitcast<f32>(p.y)) * bitcast<f32>(p.z);
      }
      // The exact quantize numerics (numerics.wgsl), clamped to a range one step wider than [qmin, qmax]:
      // the result lies outside [qmin, qmax] exactly when the pre-clamp value does (±Infinity included).
      let t = quantize_value(x, bitcast<f32>(p.x), bitcast<f32>(p.y), params.clamp_low, params.clamp_high);
      if (t < params.clip_low || t > params.clip_high) { clipped += 1u; }
    }
    count += 1u;
    if (is_inf_bits(x) || is_inf_bits(xh)) {
      non_finite += 1u;
      continue;
    }
    // Scaling by a power of two is exact, and the multiply also keeps a compiler from fusing the
    // dequantize product into the subtraction below: e is fround(x − x̂) times prescale.
    let xs = x * params.prescale;
    let xhs = xh * params.prescale;
    let e = xs - xhs;
    max_abs = max(max_abs, abs(e));
    // Kahan summation of the four sums at once.
    let term = vec4<f32>(e * e, xs * xs, xhs * xhs, xs * xhs) - compensation;
    let next = sums + term;
    compensation = (next - sums) - term;
    sums = next;
  }
  partials[2u * lane_id] = bitcast<vec4<u32>>(sums - compensation);
  partials[2u * lane_id + 1u] = vec4<u32>(bitcast<u32>(max_abs), clipped, non_finite, count);
}

// i32_to_f32_rne (numerics.wgsl) on four values.
fn i32_to_f32_rne4(v: vec4<i32>) -> vec4<f32> {
  return vec4<f32>(v >> vec4<u32>(16u)) * 65536.0 + vec4<f32>(v & vec4<i32>(0xffff));
}

// The quad's integers as floats: bytes convert exactly (|q| < 2^24) without the two-half split.
fn quad_floats(q: vec4<i32>) -> vec4<f32> {
  if (QUANTIZED_BYTES == 1u) { return vec4<f32>(q); }
  return i32_to_f32_rne4(q);
}

// The integers of quad u: four i32 words, or four bytes of one word (little-endian: element 4u + c is byte c;
// the host pads the bytes to a multiple of 16).
fn quad_integers(u: u32) -> vec4<i32> {
  if (QUANTIZED_BYTES == 1u && QUANTIZED_NIBBLES) {
    let half = vec4<u32>(quantized4[u >> 3u][(u >> 1u) & 3u] >> ((u & 1u) * 16u));
    if (QUANTIZED_SIGNED) {
      return bitcast<vec4<i32>>(half << vec4<u32>(28u, 24u, 20u, 16u)) >> vec4<u32>(28u);
    }
    return bitcast<vec4<i32>>((half >> vec4<u32>(0u, 4u, 8u, 12u)) & vec4<u32>(0xfu));
  }
  if (QUANTIZED_BYTES == 1u) {
    let word = quantized4[u >> 2u][u & 3u];
    if (QUANTIZED_SIGNED) {
      return bitcast<vec4<i32>>(vec4<u32>(word) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u);
    }
    return bitcast<vec4<i32>>((vec4<u32>(word) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xffu));
  }
  return bitcast<vec4<i32>>(quantized4[u]);
}

// The parameters of the 4 elements from flat index i (a multiple of 4): one lookup when the four share an
// index (the map's inner runs are a multiple of 4 long and the index does not vary inside them), else one each.
fn quad_params(i: u32) -> array<vec4<u32>, 4> {
  let first = param_table[param_index(i)];
  if (params.q_inner % 4u == 0u && params.q_stride_inner == 0u) { return array<vec4<u32>, 4>(first, first, first, first); }
  return array<vec4<u32>, 4>(first, param_table[param_index(i + 1u)], param_table[param_index(i + 2u)], param_table[param_index(i + 3u)]);
}

// error_stats over a plan of quads (src/kernels/error-stats/error-stats-plan.ts, planQuadTiles): tiles, width and rows
// count quads; lane `w` of a tile reads quads w, w + width, ... with vec4 loads and keeps the four
// components apart: component c sums elements 4u + c, all of one bucket, and is written as partial
// 4 * lane_id + c. Same sums, per component, as error_stats; SwiftShader (a CPU) pays per load and per
// operation, and here one vec4 load and one quantize_vec4 serve four elements.
@compute @workgroup_size(WORKGROUP_SIZE)
fn error_stats_quads(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let lane_id = linear_invocation(gid, groups, WORKGROUP_SIZE);
  if (lane_id >= params.lane_count) { return; }
  let tile = tiles[lane_id / params.width];
  let lane = lane_id % params.width;
  var e2 = vec4<f32>(0.0);
  var x2 = vec4<f32>(0.0);
  var xh2 = vec4<f32>(0.0);
  var xxh = vec4<f32>(0.0);
  var c_e2 = vec4<f32>(0.0);
  var c_x2 = vec4<f32>(0.0);
  var c_xh2 = vec4<f32>(0.0);
  var c_xxh = vec4<f32>(0.0);
  var max_abs = vec4<f32>(0.0);
  var clipped = vec4<u32>(0u);
  var non_finite = vec4<u32>(0u);
  var count = 0u;
  // SCHEME 1, and SCHEME 2 where the host says each component's parameter holds for the whole lane (per
  // channel along the statistics' own axis): looked up once, not per quad.
  var lane_p = array<vec4<u32>, 4>(param_table[0], param_table[0], param_table[0], param_table[0]);
  if (SCHEME == SCHEME_INDEXED_INTEGERS && LANE_PARAMS) { lane_p = quad_params(params.chunk_start + 4u * (tile.x + lane)); }
  let lane_inv_scale = bitcast<vec4<f32>>(vec4<u32>(lane_p[0].x, lane_p[1].x, lane_p[2].x, lane_p[3].x));
  let lane_zero_point = bitcast<vec4<f32>>(vec4<u32>(lane_p[0].y, lane_p[1].y, lane_p[2].y, lane_p[3].y));
  let lane_scale = bitcast<vec4<f32>>(vec4<u32>(lane_p[0].z, lane_p[1].z, lane_p[2].z, lane_p[3].z));
  for (var r = 0u; r < params.rows; r++) {
    let offset = r * params.width + lane;
    if (offset >= tile.y) { break; }
    let u = tile.x + offset;
    let x = original4[u];
    var xh: vec4<f32>;
    if (SCHEME == SCHEME_FLOATS) {
      xh = bitcast<vec4<f32>>(quantized4[u]);
    } else {
      let q = quad_integers(u);
      var inv_scale: vec4<f32>;
      var zero_point: vec4<f32>;
      if (SCHEME == SCHEME_PER_TENSOR_INTEGERS) {
        inv_scale = lane_inv_scale;
        zero_point = lane_zero_point;
        xh = i32_to_f32_rne4(q - vec4<i32>(bitcast<i32>(lane_p[0].w))) * lane_scale;
      } else if (LANE_PARAMS) {
        inv_scale = lane_inv_scale;
        zero_point = lane_zero_point;
        xh = (quad_floats(q) - zero_point) * lane_scale;
      } else {
        let p = quad_params(params.chunk_start + 4u * u);
        inv_scale = bitcast<vec4<f32>>(vec4<u32>(p[0].x, p[1].x, p[2].x, p[3].x));
        zero_point = bitcast<vec4<f32>>(vec4<u32>(p[0].y, p[1].y, p[2].y, p[3].y));
        let scale = bitcast<vec4<f32>>(vec4<u32>(p[0].z, p[1].z, p[2].z, p[3].z));
        xh = (quad_floats(q) - zero_point) * scale;
      }
      var outside: vec4<bool>;
      if (SMALL_RANGE_CLIP) {
        let r = round(clamp(x * inv_scale, vec4<f32>(-0x1p23f), vec4<f32>(0x1p23f)));
        outside = (r < vec4<f32>(params.clip_low) - zero_point) | (r > vec4<f32>(params.clip_high) - zero_point);
      } else {
        // As in error_stats: clamped one step wider than [qmin, qmax], so clipped values stay outside.
        let t = quantize_vec4(x, inv_scale, zero_point, params.clamp_low, params.clamp_high);
        outside = (t < vec4<f32>(params.clip_low)) | (t > vec4<f32>(params.clip_high));
      }
      clipped += select(vec4<u32>(0u), vec4<u32>(1u), outside);
    }
    count += 1u;
    let inf = ((bitcast<vec4<u32>>(x) & vec4<u32>(0x7fffffffu)) == vec4<u32>(kExpMask))
      | ((bitcast<vec4<u32>>(xh) & vec4<u32>(0x7fffffffu)) == vec4<u32>(kExpMask));
    non_finite += select(vec4<u32>(0u), vec4<u32>(1u), inf);
    // A non-finite element adds zero terms (Kahan then folds its compensation in a step early: still exact
    // to the same bound). Scaling by a power of two is exact and keeps the dequantize product unfused.
    let xs = select(x * params.prescale, vec4<f32>(0.0), inf);
    let xhs = select(xh * params.prescale, vec4<f32>(0.0), inf);
    let e = xs - xhs;
    max_abs = max(max_abs, abs(e));
    // Kahan summation, four elements at once per sum.
    let t_e2 = e * e - c_e2;
    let n_e2 = e2 + t_e2;
    c_e2 = (n_e2 - e2) - t_e2;
    e2 = n_e2;
    let t_x2 = xs * xs - c_x2;
    let n_x2 = x2 + t_x2;
    c_x2 = (n_x2 - x2) - t_x2;
    x2 = n_x2;
    let t_xh2 = xhs * xhs - c_xh2;
    let n_xh2 = xh2 + t_xh2;
    c_xh2 = (n_xh2 - xh2) - t_xh2;
    xh2 = n_xh2;
    let t_xxh = xs * xhs - c_xxh;
    let n_xxh = xxh + t_xxh;
    c_xxh = (n_xxh - xxh) - t_xxh;
    xxh = n_xxh;
  }
  let sums = array<vec4<f32>, 4>(e2 - c_e2, x2 - c_x2, xh2 - c_xh2, xxh - c_xxh);
  for (var c = 0u; c < 4u; c++) {
    let at = 2u * (4u * lane_id + c);
    partials[at] = bitcast<vec4<u32>>(vec4<f32>(sums[0][c], sums[1][c], sums[2][c], sums[3][c]));
    partials[at + 1u] = vec4<u32>(bitcast<u32>(max_abs[c]), clipped[c], non_finite[c], count);
  }
}
