// The 'lsq' calibration search (src/reference/lsq-search.ts has the rule and the exact float32 steps):
// for each output and candidate clip ratio, the observer parameters of the clipped range (raw), then a
// least-squares refit of the scale (and, affine, a mean update of the zero point), each scored by its
// float32 squared-error sum in j order. Two passes per box (a run of whole outputs):
//   lsq_candidates: one invocation per (output, candidate), candidates fastest: the better of the raw and
//                   refit pairs (raw on ties) with its error, and the raw error. Candidates past the R clip
//                   ratios (R = arrayLength(&alphas)): R is the signed extreme (affine searches only), and
//                   R + 1 + k (signedExtreme) is ratio k on Q4_0's grid (zero point kept, scale refit only).
//   lsq_pick:       one per output: the first candidate with the smallest error; with Q4_0's grid, per family,
//                   then the affine best only if below kAffineMargin x the grid's best.
// Every product that is summed goes through `opaque` (no FMA), subnormal x is scaled exactly (`scaled`),
// and every refit term is flushed when subnormal, as the CPU reference does.
// Needs: numerics.wgsl, indexing.wgsl, minmax_params.wgsl, mse_divide.wgsl, search_candidate.wgsl.

override WORKGROUP_SIZE: u32 = 64;

// LSQ_AFFINE_MARGIN in src/calibration/spec.ts: fround(0.7), written exactly.
const kAffineMargin: f32 = 0.699999988079071044921875;

@group(0) @binding(1) var<storage, read> input: array<f32>;
@group(0) @binding(2) var<storage, read> ranges: array<vec2<f32>>;            // (min, max) per box output
@group(0) @binding(3) var<storage, read> alphas: array<f32>;                  // candidate clip ratios, the first 1 (bound exactly)
@group(0) @binding(4) var<storage, read_write> records: array<vec4<u32>>;     // per (output, candidate): (error, scale, zero point, raw error)
@group(0) @binding(5) var<storage, read_write> picks: array<vec4<u32>>;       // per output: (scale, zero point, error, min/max error), (candidate, 0, 0, 0)

struct PassSums {
  error: f32,
  cross: f32,    // sum of x * l, l = q - zero point
  levels: f32,   // sum of l * l
}

// One pass over output w quantized with p: the error sum and the refit sums.
fn pass_sums(w: u32, p: Candidate) -> PassSums {
  var sums = PassSums(0.0, 0.0, 0.0);
  let length = output_length(w);
  for (var j = 0u; j < length; j++) {
    let x = input[element_offset(w, j)];
    let level = quantize_value(x, p.inv_scale, p.zero_point, params.qmin, params.qmax) - p.zero_point;
    let error = x - rounded_product(level, p.scale);
    sums.error = sums.error + flush_subnormal(rounded_product(error, error));
    sums.cross = flush_subnormal(sums.cross + flush_subnormal(opaque(scaled(x, level))));
    sums.levels = sums.levels + rounded_product(level, level); // integers: never subnormal
  }
  return sums;
}

// The affine zero point update: z + round(sum(l - x / s1) / n), clamped, l from the raw parameters.
fn refit_zero_point(w: u32, raw: Candidate, inv_scale: f32) -> f32 {
  let length = output_length(w);
  var shift = 0.0;
  for (var j = 0u; j < length; j++) {
    let x = input[element_offset(w, j)];
    let level = quantize_value(x, raw.inv_scale, raw.zero_point, params.qmin, params.qmax) - raw.zero_point;
    shift = flush_subnormal(shift + flush_subnormal(level - flush_subnormal(opaque(scaled(x, inv_scale)))));
  }
  if (is_inf_bits(shift) || is_nan_bits(shift)) { return raw.zero_point; }
  let moved = raw.zero_point + round(divide_rn(shift, f32(length)));
  return clamp(moved, params.qmin, params.qmax);
}

// v's order as an integer, +0 and -0 equal: comparing these keys is exact even where the hardware flushes
// subnormal operands of a float comparison.
fn signed_magnitude(v: f32) -> i32 {
  let magnitude = i32(bitcast<u32>(v) & 0x7fffffffu);
  return select(magnitude, -magnitude, (bitcast<u32>(v) & 0x80000000u) != 0u);
}

// The signed-extreme candidate (signedExtremeCandidate in src/calibration/qparams.ts): the element of largest
// magnitude lands exactly on the end of the range on its side, the zero point h = floor(levels / 2) steps
// from it. Ties (-min == max) go to the minimum.
fn signed_extreme_candidate(range: vec2<f32>) -> Candidate {
  let half = floor((params.qmax - params.qmin + 1.0) * 0.5); // small integers: exact
  let negative = -signed_magnitude(range.x) >= signed_magnitude(range.y);
  let magnitude = max(select(range.y, -range.x, negative), 0.0);
  let scale = max(divide_rn(magnitude, half), params.eps);
  let zero_point = select(params.qmax - half, params.qmin + half, negative);
  return Candidate(divide_rn(1.0, scale), scale, zero_point);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn lsq_candidates(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = invocation_index(gid, groups, WORKGROUP_SIZE);
  if (i >= params.invocations) { return; }
  let c = i % params.candidates;
  let w_local = i / params.candidates;
  let w = params.w_start + w_local;
  let ratios = arrayLength(&alphas);
  let on_grid = c > ratios;
  var raw: Candidate;
  if (c < ratios) {
    raw = candidate_of(ranges[w_local], alphas[c]);
  } else {
    raw = signed_extreme_candidate(ranges[w_local]);
    if (on_grid) {
      let scale = max(rounded_product(alphas[c - ratios - 1u], raw.scale), params.eps);
      raw = Candidate(divide_rn(1.0, scale), scale, raw.zero_point);
    }
  }
  let sums = pass_sums(w, raw);
  var scale = raw.scale;
  if (sums.cross > 0.0 && sums.levels > 0.0 && !is_inf_bits(sums.cross)) {
    scale = max(flush_subnormal(divide_rn(sums.cross, sums.levels)), params.eps);
  }
  let inv_scale = divide_rn(1.0, scale);
  var zero_point = raw.zero_point;
  if (params.symmetric == 0u && !on_grid) { zero_point = refit_zero_point(w, raw, inv_scale); }
  let refit_error = pass_sums(w, Candidate(inv_scale, scale, zero_point)).error;
  var record = vec4<u32>(bitcast<u32>(sums.error), bitcast<u32>(raw.scale), bitcast<u32>(i32(raw.zero_point)), bitcast<u32>(sums.error));
  if (refit_error < sums.error) {
    record = vec4<u32>(bitcast<u32>(refit_error), bitcast<u32>(scale), bitcast<u32>(i32(zero_point)), record.w);
  }
  records[i] = record;
}

// The first candidate in [start, end) with the smallest error, and its record.
fn best_of(i: u32, start: u32, end: u32) -> vec2<u32> {
  var best = start;
  var best_error = bitcast<f32>(records[i * params.candidates + start].x);
  for (var c = start + 1u; c < end; c++) {
    let error = bitcast<f32>(records[i * params.candidates + c].x);
    if (error < best_error) {
      best = c;
      best_error = error;
    }
  }
  return vec2<u32>(best, bitcast<u32>(best_error));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn lsq_pick(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = invocation_index(gid, groups, WORKGROUP_SIZE);
  if (i >= params.invocations) { return; }
  let grid_start = arrayLength(&alphas) + 1u;
  var first = 0u;
  var best = best_of(i, 0u, min(grid_start, params.candidates)).x;
  if (params.candidates > grid_start) {
    first = grid_start;
    let affine = best_of(i, 0u, grid_start);
    let grid = best_of(i, grid_start, params.candidates);
    best = select(grid.x, affine.x, bitcast<f32>(affine.y) < flush_subnormal(rounded_product(kAffineMargin, bitcast<f32>(grid.y))));
  }
  let best_record = records[i * params.candidates + best];
  picks[2u * i] = vec4<u32>(best_record.y, best_record.z, best_record.x, records[i * params.candidates + first].w);
  picks[2u * i + 1u] = vec4<u32>(best, 0u, 0u, 0u);
}
