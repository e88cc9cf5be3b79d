// The MSE clipping search: for each output and each candidate clip ratio alpha, the squared error of
// quantizing the output's elements with the scale and zero point of the range [alpha * min, alpha * max]
// (PyTorch's observer formulas), summed in float32 in a fixed order that the CPU reference repeats
// (src/reference/calibration.ts): elements in blocks of `block` consecutive j, each block summed from 0 in
// j order, block sums added in block order. Three passes per box:
//   mse_blocks:     one invocation per (output, block, candidate), candidates fastest so that neighbours
//                   read the same element; a block cut by the box boundary continues from `state`.
//   mse_accumulate: one per (output, candidate): adds the box's finished blocks to the running total.
//   mse_pick:       one per output of a finished window: the first candidate with the smallest total.
// Needs: numerics.wgsl, indexing.wgsl, minmax_params.wgsl, mse_divide.wgsl, search_candidate.wgsl.

override WORKGROUP_SIZE: u32 = 64;

@group(0) @binding(1) var<storage, read> input: array<f32>;
@group(0) @binding(2) var<storage, read> ranges: array<vec2<f32>>;           // (min, max) per window output
@group(0) @binding(3) var<storage, read> alphas: array<f32>;                 // candidate clip ratios
@group(0) @binding(4) var<storage, read_write> block_sums: array<f32>;
@group(0) @binding(5) var<storage, read_write> state: array<vec2<f32>>;      // (total, open block) per (window output, candidate)
@group(0) @binding(6) var<storage, read_write> picks: array<vec4<u32>>;      // (candidate, its total bits, total bits of alpha 1, 0)

// The candidate of clip ratio c for output w of the window.
fn candidate(w_window: u32, c: u32) -> Candidate {
  return candidate_of(ranges[w_window], alphas[c]);
}

fn squared_error(x: f32, p: Candidate) -> f32 {
  let q = quantize_value(x, p.inv_scale, p.zero_point, params.qmin, params.qmax);
  let dequantized = rounded_product(q - p.zero_point, p.scale);
  let error = x - dequantized;
  return flush_subnormal(rounded_product(error, error));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn mse_blocks(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = invocation_index(gid, groups, WORKGROUP_SIZE);
  if (i >= params.invocations) { return; }
  let c = i % params.candidates;
  let t = i / params.candidates;
  let w = params.w_start + t / params.box_blocks;
  let block_begin = (params.first_block + t % params.box_blocks) * params.block;
  let j_from = max(params.j_start, block_begin);
  let j_to = min(min(params.j_end, output_length(w)), block_begin + params.block);
  if (j_from >= j_to) { return; }
  let slot = (w - params.window_start) * params.candidates + c;
  var sum = select(0.0, state[slot].y, j_from > block_begin);
  let p = candidate(w - params.window_start, c);
  for (var j = j_from; j < j_to; j++) {
    sum = sum + squared_error(input[element_offset(w, j)], p);
  }
  block_sums[i] = sum;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn mse_accumulate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = invocation_index(gid, groups, WORKGROUP_SIZE);
  if (i >= params.invocations) { return; }
  let c = i % params.candidates;
  let w_local = i / params.candidates;
  let w = params.w_start + w_local;
  let length = output_length(w);
  let end = min(params.j_end, length);
  let slot = (w - params.window_start) * params.candidates + c;
  var running = state[slot];
  for (var b = 0u; b < params.box_blocks; b++) {
    let block_begin = (params.first_block + b) * params.block;
    let j_from = max(params.j_start, block_begin);
    let j_to = min(end, block_begin + params.block);
    if (j_from >= j_to) { break; }
    let sum = block_sums[(w_local * params.box_blocks + b) * params.candidates + c];
    if (j_to == min(block_begin + params.block, length)) {
      running = vec2<f32>(running.x + sum, 0.0);
    } else {
      running.y = sum;
    }
  }
  state[slot] = running;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn mse_pick(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = invocation_index(gid, groups, WORKGROUP_SIZE);
  if (i >= params.invocations) { return; }
  let first = state[i * params.candidates].x;
  var best = 0u;
  var best_total = first;
  for (var c = 1u; c < params.candidates; c++) {
    let total = state[i * params.candidates + c].x;
    if (total < best_total) {
      best = c;
      best_total = total;
    }
  }
  picks[i] = vec4<u32>(best, bitcast<u32>(best_total), bitcast<u32>(first), 0u);
}
