// The uniform of the calibration kernels (min/max reductions and the MSE search) and the element addressing
// they share. Packed on the host by packCalibrationParams (src/kernels/calibration/minmax-uniforms.ts); a unit test
// checks the two layouts agree.
//
// Each output (one future scale and zero point) owns a sequence of elements j = 0, 1, ... in increasing
// memory order (src/calibration/granularity.ts). A dispatch works on one box: a contiguous run of the tensor,
// uploaded alone, holding elements j in [j_start, min(j_end, output_length(w))) of the outputs w in
// [w_start, w_start + w_count).

struct CalibrationParams {
  family: u32,               // 0: per tensor / per channel (output a owns (o, a, k)); 1: per group
  n: u32,                    // the axis size
  inner: u32,                // product of the dimensions after the axis
  group_size: u32,
  groups: u32,               // ceil(n / group_size)
  channel_length: u32,       // elements each output owns per tensor / per channel (outer * inner)
  box_start: u32,            // flat index of the box's first element
  w_start: u32,
  w_count: u32,
  j_start: u32,
  j_end: u32,
  lanes: u32,                // invocations per output in this pass
  in_lanes: u32,             // records per output a combine pass reads
  lane_fastest: u32,         // 1: invocation i is lane i % lanes of output i / lanes; 0: the transpose
  invocations: u32,          // invocations doing work (the dispatch may launch more)
  invocation_offset: u32,    // index of this dispatch's first invocation (a pass too big for one dispatch is split)
  candidates: u32,           // MSE: clipping candidates per output
  block: u32,                // MSE: elements per block of the error sums
  first_block: u32,          // MSE: floor(j_start / block)
  box_blocks: u32,           // MSE: blocks per output this box touches
  window_start: u32,         // MSE: first output of the state window
  symmetric: u32,
  qmin: f32,
  qmax: f32,
  qrange: f32,               // fround(qmax - qmin)
  half_range: f32,           // fround((qmax - qmin) / 2)
  symmetric_zero_point: f32,
  eps: f32,                  // 2^-23, the smallest scale
  opaque_zero: u32,          // always 0, unknown to the compiler (see rounded_product in mse_search.wgsl)
  outputs_per_lane: u32,     // min/max vec4 first pass: consecutive outputs one invocation reduces (lanes == 1 only)
}

@group(0) @binding(0) var<uniform> params: CalibrationParams;

const kFamilyChannel: u32 = 0u;

// The pass-wide index of this invocation.
fn invocation_index(gid: vec3<u32>, groups: vec3<u32>, workgroup_size: u32) -> u32 {
  return linear_invocation(gid, groups, workgroup_size) + params.invocation_offset;
}

// Elements output w owns in the whole tensor.
fn output_length(w: u32) -> u32 {
  if (params.family == kFamilyChannel) { return params.channel_length; }
  let g = (w / params.inner) % params.groups;
  return min(params.group_size, params.n - g * params.group_size);
}

// Where element j of output w lies in the box's buffer.
fn element_offset(w: u32, j: u32) -> u32 {
  if (params.family == kFamilyChannel) {
    let o = j / params.inner;
    return (o * params.n + w) * params.inner + (j - o * params.inner) - params.box_start;
  }
  let row = w / params.inner;
  let k = w - row * params.inner;
  let o = row / params.groups;
  let g = row - o * params.groups;
  return (o * params.n + g * params.group_size + j) * params.inner + k - params.box_start;
}
