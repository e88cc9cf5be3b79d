// What the calibration searches ('mse' in mse_search.wgsl, 'lsq' in lsq_search.wgsl) share: float32 steps
// that the compiler may not fuse or flush, and the observer formulas for one candidate range.
// Needs: numerics.wgsl, minmax_params.wgsl (the uniform), mse_divide.wgsl.

struct Candidate {
  inv_scale: f32,
  scale: f32,
  zero_point: f32,
}

// v unchanged, but opaque to the compiler: the XOR with a uniform that is always 0 stops a product from
// being fused with a later addition or subtraction into an FMA, which would skip the product's rounding and
// break the agreement with the CPU reference.
fn opaque(v: f32) -> f32 {
  return bitcast<f32>(bitcast<u32>(v) ^ params.opaque_zero);
}

// a * b, rounded to float32 on its own (see opaque).
fn rounded_product(a: f32, b: f32) -> f32 {
  return opaque(a * b);
}

// Subnormal -> 0, so the sums never depend on whether the hardware flushes.
fn flush_subnormal(v: f32) -> f32 {
  return select(v, 0.0, (bitcast<u32>(v) & kExpMask) == 0u);
}

// The observer formulas (src/calibration/qparams.ts) for the range [alpha * range.x, alpha * range.y].
fn candidate_of(range: vec2<f32>, alpha: f32) -> Candidate {
  let min_neg = min(rounded_product(alpha, range.x), 0.0);
  let max_pos = max(rounded_product(alpha, range.y), 0.0);
  var scale: f32;
  var zero_point: f32;
  if (params.symmetric != 0u) {
    scale = max(divide_rn(max(-min_neg, max_pos), params.half_range), params.eps);
    zero_point = params.symmetric_zero_point;
  } else {
    scale = max(divide_rn(max_pos - min_neg, params.qrange), params.eps);
    zero_point = clamp(params.qmin - round(divide_rn(min_neg, scale)), params.qmin, params.qmax);
  }
  return Candidate(divide_rn(1.0, scale), scale, zero_point);
}
