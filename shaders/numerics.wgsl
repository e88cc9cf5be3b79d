// The quantization numerics shared by every kernel. Each step is one correctly rounded float32
// operation, in the order of PyTorch's CPU path, so GPU and CPU agree bit for bit:
//   q = clamp(zp + round_half_even(x * inv_scale), qmin, qmax)
// inv_scale = fround(1 / fround(scale)) comes from the host: WGSL '/' is not correctly rounded.

const kExpMask: u32 = 0x7f800000u;

// True for NaN. Integer test: a float comparison could be folded away by a compiler that assumes
// finite math.
fn is_nan_bits(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > kExpMask;
}

fn is_inf_bits(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) == kExpMask;
}

// x * inv_scale, correctly rounded even when x is subnormal (GPUs may flush subnormal operands to zero).
// The host keeps inv_scale within [2^-126, 2^126]. For subnormal x = m * 2^-149 the product is computed as
// (m * 2^-85) * (inv_scale * 2^-64): both factors normal and exact, the same exact product, one rounding.
// When inv_scale < 1 the product is below 2^-126 and rounds to zero either way.
fn scaled(x: f32, inv_scale: f32) -> f32 {
  let bits = bitcast<u32>(x);
  let mantissa = bits & 0x007fffffu;
  if ((bits & kExpMask) != 0u || mantissa == 0u) { return x * inv_scale; }
  if (inv_scale < 1.0) { return 0.0; }
  let magnitude = f32(mantissa) * 0x1p-85f;
  let x_times_2_64 = select(magnitude, -magnitude, (bits & 0x80000000u) != 0u);
  return x_times_2_64 * (inv_scale * 0x1p-64f);
}

// Quantizes one value to an integer-valued float in [qmin, qmax].
// NaN -> qmin; +/-Infinity (in x or from x * inv_scale overflowing) -> qmax / qmin.
fn quantize_value(x: f32, inv_scale: f32, zero_point: f32, qmin: f32, qmax: f32) -> f32 {
  if (is_nan_bits(x)) { return qmin; }
  let product = scaled(x, inv_scale);
  if (is_inf_bits(product)) { return select(qmax, qmin, (bitcast<u32>(product) & 0x80000000u) != 0u); }
  return clamp(zero_point + round(product), qmin, qmax);
}

// Float to i32 for a value already clamped to [-2^31, 2^31]; 2^31 (the float32 nearest to
// 2147483647) saturates to 2147483647 rather than relying on the conversion's clamping.
fn to_i32_saturated(v: f32) -> i32 {
  return select(i32(v), 2147483647, v >= 2147483648.0);
}

// i32 to f32 rounded to nearest even. A plain f32(v) may round either way for |v| > 2^24; here both
// halves are exact in float32 and the single add rounds correctly.
fn i32_to_f32_rne(v: i32) -> f32 {
  let high = v >> 16u;
  let low = v & 0xffff;
  return f32(high) * 65536.0 + f32(low);
}
