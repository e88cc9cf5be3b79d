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
  // Always 1.0, unknown to the shader compiler: each Kahan step's new sum is multiplied by it, so a compiler that
  // reassociates float additions (a hardware driver may) cannot fold (next − sum) − term to zero and drop the
  // compensation. Exact: x · 1 = x for every f32.
  one: f32,
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
    let next = (sums + term) * params.one;
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

// The running sums of a quad lane: four Kahan-compensated float32 sums per component, its largest |e|, and
// its counts of clipped and non-finite elements (per component) and of quads (all components alike).
struct QuadSums {
  e2: vec4<f32>,
  x2: vec4<f32>,
  xh2: vec4<f32>,
  xxh: vec4<f32>,
  c_e2: vec4<f32>,
  c_x2: vec4<f32>,
  c_xh2: vec4<f32>,
  c_xxh: vec4<f32>,
  max_abs: vec4<f32>,
  clipped: vec4<u32>,
  non_finite: vec4<u32>,
  count: u32,
}

// Adds one quad: x and x̂ already multiplied by the prescale, zero where `inf` (a non-finite element adds zero
// terms; Kahan then folds its compensation in a step early: still exact to the same bound).
fn add_quad(s: ptr<function, QuadSums>, xs: vec4<f32>, xhs: vec4<f32>, inf: vec4<bool>) {
  (*s).count += 1u;
  (*s).non_finite += select(vec4<u32>(0u), vec4<u32>(1u), inf);
  let e = xs - xhs;
  (*s).max_abs = max((*s).max_abs, abs(e));
  // Kahan summation, four elements at once per sum (params.one: see ErrorStatsParams).
  let t_e2 = e * e - (*s).c_e2;
  let n_e2 = ((*s).e2 + t_e2) * params.one;
  (*s).c_e2 = (n_e2 - (*s).e2) - t_e2;
  (*s).e2 = n_e2;
  let t_x2 = xs * xs - (*s).c_x2;
  let n_x2 = ((*s).x2 + t_x2) * params.one;
  (*s).c_x2 = (n_x2 - (*s).x2) - t_x2;
  (*s).x2 = n_x2;
  let t_xh2 = xhs * xhs - (*s).c_xh2;
  let n_xh2 = ((*s).xh2 + t_xh2) * params.one;
  (*s).c_xh2 = (n_xh2 - (*s).xh2) - t_xh2;
  (*s).xh2 = n_xh2;
  let t_xxh = xs * xhs - (*s).c_xxh;
  let n_xxh = ((*s).xxh + t_xxh) * params.one;
  (*s).c_xxh = (n_xxh - (*s).xxh) - t_xxh;
  (*s).xxh = n_xxh;
}

// Writes a quad lane's four partials: component c is partial 4 * lane_id + c.
fn write_quad_partials(lane_id: u32, s: QuadSums) {
  let sums = array<vec4<f32>, 4>(s.e2 - s.c_e2, s.x2 - s.c_x2, s.xh2 - s.c_xh2, s.xxh - s.c_xxh);
  for (var c = 0u; c < 4u; c++) {
    let at = 2u * (4u * lane_id + c);
    partials[at] = bitcast<vec4<u32>>(vec4<f32>(sums[0][c], sums[1][c], sums[2][c], sums[3][c]));
    partials[at + 1u] = vec4<u32>(bitcast<u32>(s.max_abs[c]), s.clipped[c], s.non_finite[c], s.count);
  }
}

// The parameters a quad lane keeps for all its quads: SCHEME 1's single entry, or under LANE_PARAMS (SCHEME 2)
// each component's own (per channel along the statistics' own axis).
fn lane_params(tile_start: u32, lane: u32) -> array<vec4<u32>, 4> {
  if (SCHEME == SCHEME_INDEXED_INTEGERS && LANE_PARAMS) { return quad_params(params.chunk_start + 4u * (tile_start + lane)); }
  return array<vec4<u32>, 4>(param_table[0], param_table[0], param_table[0], param_table[0]);
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
  var s: QuadSums;
  // SCHEME 1, and SCHEME 2 where the host says each component's parameter holds for the whole lane (per
  // channel along the statistics' own axis): looked up once, not per quad.
  let lane_p = lane_params(tile.x, lane);
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
      s.clipped += select(vec4<u32>(0u), vec4<u32>(1u), outside);
    }
    let inf = ((bitcast<vec4<u32>>(x) & vec4<u32>(0x7fffffffu)) == vec4<u32>(kExpMask))
      | ((bitcast<vec4<u32>>(xh) & vec4<u32>(0x7fffffffu)) == vec4<u32>(kExpMask));
    // Scaling by a power of two is exact and keeps the dequantize product unfused.
    add_quad(&s, select(x * params.prescale, vec4<f32>(0.0), inf), select(xh * params.prescale, vec4<f32>(0.0), inf), inf);
  }
  write_quad_partials(lane_id, s);
}

// error_stats_quads that quantizes as it goes: the integers of each quad come from the float weight, not from
// `quantized`, and are written to `stored` as the 8-bit quantize kernels store them (quad u is word u), so one
// kernel does the quantize kernel's work and the statistics' in one read of the weight. Every quad of the
// tensor belongs to exactly one lane (the plan's tiles cover the tensor once, in one chunk), so every word is
// written once, by one invocation.
//
// The host uses it only where it gives the separate kernels' bits (src/kernels/weight/resident-weight.ts):
// 8-bit integers, SCHEME 1 or 2, the conditions of SMALL_RANGE_CLIP (|qmin|, |qmax| <= 2^16, |zp| <= 2^22,
// inv_scale <= 2^125), and every x and every level (q − zp) · scale finite, so no element is non-finite.
// Under those, with y = clamp(x · inv_scale, qmin − zp − 1, qmax − zp + 1) and t = round(y) (exact integers):
// - the integer is zp + clamp(t, qmin − zp, qmax − zp) = clamp(zp + round(x · inv_scale), qmin, qmax), the
//   quantize kernels' value (round() is monotonic and the bounds are integers; a subnormal x gives
//   |x · inv_scale| < 0.5, which rounds to 0 whether or not it was flushed);
// - the element is clipped exactly when t differs from its clamp, by exactly 1;
// - x̂ is that clamp times scale: (f32(q) − zp) and f32(q − zp) are the same integer, exactly.
@group(0) @binding(6) var<storage, read_write> stored: array<u32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn error_stats_quantize_quads(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let lane_id = linear_invocation(gid, groups, WORKGROUP_SIZE);
  if (lane_id >= params.lane_count) { return; }
  let tile = tiles[lane_id / params.width];
  let lane = lane_id % params.width;
  var s: QuadSums;
  var clipped = vec4<f32>(0.0);
  let lane_p = lane_params(tile.x, lane);
  let lane_inv_scale = bitcast<vec4<f32>>(vec4<u32>(lane_p[0].x, lane_p[1].x, lane_p[2].x, lane_p[3].x));
  let lane_zero_point = bitcast<vec4<f32>>(vec4<u32>(lane_p[0].y, lane_p[1].y, lane_p[2].y, lane_p[3].y));
  let lane_scale = bitcast<vec4<f32>>(vec4<u32>(lane_p[0].z, lane_p[1].z, lane_p[2].z, lane_p[3].z));
  // Loop invariants loaded and computed once: SwiftShader's code generator does not hoist them.
  let width = params.width;
  let rows = params.rows;
  let prescale = params.prescale;
  let lane_low = vec4<f32>(params.clip_low) - lane_zero_point;
  let lane_high = vec4<f32>(params.clip_high) - lane_zero_point;
  let lane_below = lane_low - 1.0;
  let lane_above = lane_high + 1.0;
  let lane_bias = lane_zero_point + kRound;
  for (var r = 0u; r < rows; r++) {
    let offset = r * width + lane;
    if (offset >= tile.y) { break; }
    let u = tile.x + offset;
    let x = original4[u];
    var inv_scale = lane_inv_scale;
    var zero_point = lane_zero_point;
    var scale = lane_scale;
    var low = lane_low;
    var high = lane_high;
    var below = lane_below;
    var above = lane_above;
    var bias = lane_bias;
    if (SCHEME == SCHEME_INDEXED_INTEGERS && !LANE_PARAMS) {
      let p = quad_params(params.chunk_start + 4u * u);
      inv_scale = bitcast<vec4<f32>>(vec4<u32>(p[0].x, p[1].x, p[2].x, p[3].x));
      zero_point = bitcast<vec4<f32>>(vec4<u32>(p[0].y, p[1].y, p[2].y, p[3].y));
      scale = bitcast<vec4<f32>>(vec4<u32>(p[0].z, p[1].z, p[2].z, p[3].z));
      low = vec4<f32>(params.clip_low) - zero_point;
      high = vec4<f32>(params.clip_high) - zero_point;
      below = low - 1.0;
      above = high + 1.0;
      bias = zero_point + kRound;
    }
    let t = round(clamp(x * inv_scale, below, above));
    let kept = clamp(t, low, high);
    clipped += abs(t - kept);
    // kept + (zero_point + 1.5 * 2^23) is q + 1.5 * 2^23 exactly (both sums are integers in [2^23, 2^24)), and its
    // low byte is q's (kRoundBits ends in a zero byte; numerics.wgsl): no float-to-int conversion, which WGSL
    // must saturate.
    let bytes = bitcast<vec4<u32>>(kept + bias) & vec4<u32>(0xffu);
    stored[u] = bytes.x | (bytes.y << 8u) | (bytes.z << 16u) | (bytes.w << 24u);
    // Scaling by a power of two is exact and keeps the dequantize product unfused.
    add_quad(&s, x * prescale, (kept * scale) * prescale, vec4<bool>(false));
  }
  s.clipped = vec4<u32>(clipped);
  write_quad_partials(lane_id, s);
}
