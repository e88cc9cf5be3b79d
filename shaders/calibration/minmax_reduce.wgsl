// Min/max reductions, NaN-aware and deterministic: each invocation of a first pass reduces a fixed, strided
// share of one output's elements (or of a few outputs') sequentially and writes a record per output; combine
// passes reduce `in_lanes` records per output to `lanes`, until one is left. No atomics, no workgroup memory,
// no barriers. Values are compared as integers whose order is the float order with -0 < +0: exact on
// hardware that flushes subnormals, and independent of the order elements are met.
// A record is (min key, max key, flat index of the first NaN or kNoNaN, unused).
//
// Three first passes (the host picks one per box: firstPass in src/kernels/calibration/minmax-plan.ts):
// - minmax_input_along: an output's elements come in aligned runs of 4 (per tensor, per channel with
//   inner % 4 == 0, per group along the last axis); one vec4 load per 4 elements.
// - minmax_input_across: 4 neighbouring outputs share each aligned vec4 (per channel along the last axis,
//   per group with inner % 4 == 0).
// - minmax_input: anything else, one element at a time.
// The vec4 passes leave NaN out of the fast loop: a NaN's key lies above +Infinity's or below -Infinity's,
// so the keys' extremes show one was met, and only then is the share read again element by element.
// SwiftShader (a CPU) pays per load instruction and per invocation, not per byte: hence vec4 loads and
// 256 vec4s per invocation (src/kernels/calibration/minmax-plan.ts).
// Needs: numerics.wgsl (is_nan_bits), indexing.wgsl, minmax_params.wgsl.

override WORKGROUP_SIZE: u32 = 64;

@group(0) @binding(1) var<storage, read> input: array<f32>;
// The same binding seen as vec4s, by the vec4 first passes only (a box of a multiple of 4 elements).
@group(0) @binding(1) var<storage, read> input4: array<vec4<f32>>;
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

// order_key(+Infinity) and order_key(-Infinity): a NaN's key lies above the first or below the second.
const kPosInfKey: i32 = 0x7f800000;
const kNegInfKey: i32 = -2139095041;

fn order_key4(x: vec4<f32>) -> vec4<i32> {
  let bits = bitcast<vec4<i32>>(x);
  return select(bits, bits ^ vec4<i32>(0x7fffffff), bits < vec4<i32>(0));
}

fn nan_met(lo: vec4<i32>, hi: vec4<i32>) -> vec4<bool> {
  return (hi > vec4<i32>(kPosInfKey)) | (lo < vec4<i32>(kNegInfKey));
}

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

// The exact record of output w over its elements j = first + 4t + c (c < 4), j < end, NaNs left out.
fn along_exact(w: u32, first: u32, step: u32, end: u32) -> vec4<u32> {
  var lo = kEmptyMin;
  var hi = empty_max();
  var first_nan = kNoNaN;
  for (var j = first; j < end; j += step) {
    let offset = element_offset(w, j);
    let x = input4[offset >> 2u];
    for (var c = 0u; c < 4u; c++) {
      if (is_nan_bits(x[c])) {
        if (first_nan == kNoNaN) { first_nan = params.box_start + offset + c; }
        continue;
      }
      let key = order_key(x[c]);
      lo = min(lo, key);
      hi = max(hi, key);
    }
  }
  return vec4<u32>(bitcast<u32>(lo), bitcast<u32>(hi), first_nan, 0u);
}

fn along_record(w: u32, lo: vec4<i32>, hi: vec4<i32>, first: u32, step: u32, end: u32) -> vec4<u32> {
  let lo1 = min(min(lo.x, lo.y), min(lo.z, lo.w));
  let hi1 = max(max(hi.x, hi.y), max(hi.z, hi.w));
  if (hi1 > kPosInfKey || lo1 < kNegInfKey) { return along_exact(w, first, step, end); }
  return vec4<u32>(bitcast<u32>(lo1), bitcast<u32>(hi1), kNoNaN, 0u);
}

// Lane `lane` of `outputs_per_lane` consecutive outputs (lanes == 1 when more than one) reads vec4s
// j = j_start + 4 * lane, + 4 * lanes, ... of each.
@compute @workgroup_size(WORKGROUP_SIZE)
fn minmax_input_along(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = invocation_index(gid, groups, WORKGROUP_SIZE);
  if (i >= params.invocations) { return; }
  let lane = i % params.lanes;
  let first = params.j_start + 4u * lane;
  let step = 4u * params.lanes;
  let w_first = (i / params.lanes) * params.outputs_per_lane;
  let w_end = min(w_first + params.outputs_per_lane, params.w_count);
  let end = min(params.j_end, output_length(params.w_start + w_first));
  // Per channel, when the box holds one run of each output (one o), element (w, j) lies at
  // base + w * inner + j: no division per load. The host gives outputs_per_lane > 1 only then.
  let one_run = params.family == kFamilyChannel && end > params.j_start && params.j_start / params.inner == (end - 1u) / params.inner;
  if (!one_run) {
    let w = params.w_start + w_first;
    var lo = vec4<i32>(kEmptyMin);
    var hi = vec4<i32>(empty_max());
    for (var j = first; j < end; j += step) {
      let key = order_key4(input4[element_offset(w, j) >> 2u]);
      lo = min(lo, key);
      hi = max(hi, key);
    }
    records[w_first * params.lanes + lane] = along_record(w, lo, hi, first, step, end);
    return;
  }
  // In vec4s: output w_first's share is [v_first, v_end) step lanes; each next output's, inner / 4 further.
  var v_first = (element_offset(params.w_start + w_first, params.j_start) + 4u * lane) >> 2u;
  let v_count = (end - params.j_start) >> 2u;
  for (var w_local = w_first; w_local < w_end; w_local++) {
    var lo = vec4<i32>(kEmptyMin);
    var hi = vec4<i32>(empty_max());
    let v_end = v_first - lane + v_count;
    for (var v = v_first; v < v_end; v += params.lanes) {
      let key = order_key4(input4[v]);
      lo = min(lo, key);
      hi = max(hi, key);
    }
    records[w_local * params.lanes + lane] = along_record(params.w_start + w_local, lo, hi, first, step, end);
    v_first += params.inner >> 2u;
  }
}

// Outputs w_start + 4q .. + 3 (4 | w_start, w_count) lie side by side in memory: lane `lane` of the quad
// reads their elements j = j_start + lane, + lanes, ..., one vec4 each, offsets growing by a fixed stride.
// Neighbouring invocations take neighbouring quads.
@compute @workgroup_size(WORKGROUP_SIZE)
fn minmax_input_across(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = invocation_index(gid, groups, WORKGROUP_SIZE);
  if (i >= params.invocations) { return; }
  let quads = params.w_count / 4u;
  let w_local = 4u * (i % quads);
  let lane = i / quads;
  let w = params.w_start + w_local;
  let end = min(params.j_end, output_length(w));
  let first = params.j_start + lane;
  var lo = vec4<i32>(kEmptyMin);
  var hi = vec4<i32>(empty_max());
  var first_nan = vec4<u32>(kNoNaN);
  if (first < end) {
    var offset = element_offset(w, first);
    let stride = (element_offset(w, first + 1u) - offset) * params.lanes;
    for (var j = first; j < end; j += params.lanes) {
      let key = order_key4(input4[offset >> 2u]);
      lo = min(lo, key);
      hi = max(hi, key);
      offset += stride;
    }
    if (any(nan_met(lo, hi))) {
      // A NaN was met: read the share again, leaving NaNs out of the keys.
      lo = vec4<i32>(kEmptyMin);
      hi = vec4<i32>(empty_max());
      offset = element_offset(w, first);
      for (var j = first; j < end; j += params.lanes) {
        let x = input4[offset >> 2u];
        let nan = (bitcast<vec4<u32>>(x) & vec4<u32>(0x7fffffffu)) > vec4<u32>(kExpMask);
        let key = order_key4(x);
        lo = select(min(lo, key), lo, nan);
        hi = select(max(hi, key), hi, nan);
        first_nan = select(first_nan, min(first_nan, vec4<u32>(params.box_start + offset) + vec4<u32>(0u, 1u, 2u, 3u)), nan);
        offset += stride;
      }
    }
  }
  for (var c = 0u; c < 4u; c++) {
    records[(w_local + c) * params.lanes + lane] = vec4<u32>(bitcast<u32>(lo[c]), bitcast<u32>(hi[c]), first_nan[c], 0u);
  }
}
