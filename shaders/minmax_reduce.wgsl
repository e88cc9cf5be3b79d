// Min/max reductions, NaN-aware and deterministic: each invocation of the first pass reduces a fixed,
// strided share of one output's elements (j = j_start + lane, + lanes, ...) sequentially and writes a
// record; combine passes reduce `in_lanes` records per output to `lanes`, until one is left. No atomics,
// no workgroup memory, no barriers. Values are compared as integers whose order is the float order with
// -0 < +0: exact on hardware that flushes subnormals, and independent of the order elements are met.
// A record is (min key, max key, flat index of the first NaN or kNoNaN, unused).
// Needs: numerics.wgsl (is_nan_bits), indexing.wgsl, minmax_params.wgsl.

override WORKGROUP_SIZE: u32 = 64;

@group(0) @binding(1) var<storage, read> input: array<f32>;
@group(0) @binding(2) var<storage, read_write> records: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> in_records: array<vec4<u32>>;

const kNoNaN: u32 = 0xffffffffu;
const kEmptyMin: i32 = 0x7fffffff;

// An i32 ordered like the float32 x (for non-NaN x); its own inverse.
fn order_key(x: f32) -> i32 {
  let bits = bitcast<i32>(x);
  return select(bits, bits ^ 0x7fffffff, bits < 0);
}

fn empty_max() -> i32 { return bitcast<i32>(0x80000000u); }

@compute @workgroup_size(WORKGROUP_SIZE)
fn minmax_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = invocation_index(gid, groups, WORKGROUP_SIZE);
  if (i >= params.invocations) { return; }
  var w_local = i / params.lanes;
  var lane = i % params.lanes;
  if (params.lane_fastest == 0u) {
    w_local = i % params.w_count;
    lane = i / params.w_count;
  }
  let w = params.w_start + w_local;
  let end = min(params.j_end, output_length(w));
  var lo = kEmptyMin;
  var hi = empty_max();
  var first_nan = kNoNaN;
  for (var j = params.j_start + lane; j < end; j += params.lanes) {
    let offset = element_offset(w, j);
    let x = input[offset];
    if (is_nan_bits(x)) {
      // j only grows, and offsets with it: the first NaN met is this invocation's smallest index.
      if (first_nan == kNoNaN) { first_nan = params.box_start + offset; }
      continue;
    }
    let key = order_key(x);
    lo = min(lo, key);
    hi = max(hi, key);
  }
  records[w_local * params.lanes + lane] = vec4<u32>(bitcast<u32>(lo), bitcast<u32>(hi), first_nan, 0u);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn minmax_combine(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = invocation_index(gid, groups, WORKGROUP_SIZE);
  if (i >= params.invocations) { return; }
  let w_local = i / params.lanes;
  let lane = i % params.lanes;
  var lo = kEmptyMin;
  var hi = empty_max();
  var first_nan = kNoNaN;
  for (var l = lane; l < params.in_lanes; l += params.lanes) {
    let r = in_records[w_local * params.in_lanes + l];
    lo = min(lo, bitcast<i32>(r.x));
    hi = max(hi, bitcast<i32>(r.y));
    first_nan = min(first_nan, r.z);
  }
  records[w_local * params.lanes + lane] = vec4<u32>(bitcast<u32>(lo), bitcast<u32>(hi), first_nan, 0u);
}
