// Error statistics: per-invocation partial sums of (x − x̂)², x², x̂², x·x̂, max |x − x̂|, and counts of
// clipped, non-finite and all elements. The host cuts the tensor into tiles (src/kernels/error-stats-plan.ts):
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
    if (SCHEME == 0u) {
      xh = bitcast<f32>(quantized[i]);
    } else {
      let q = bitcast<i32>(quantized[i]);
      var p: vec4<u32>;
      if (SCHEME == 1u) {
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
