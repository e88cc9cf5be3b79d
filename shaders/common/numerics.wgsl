// The quantization numerics shared by every kernel. Each step is one correctly rounded float32
// operation, in the order of PyTorch's CPU path, so GPU and CPU agree bit for bit:
//   q = clamp(zp + round_half_even(x * inv_scale), qmin, qmax)
// inv_scale = fround(1 / fround(scale)) comes from the host: WGSL '/' is not correctly rounded.

const kExpMask: u32 = 0x7f800000u;

// The quantization parameters of four consecutive elements, one lane each.
struct Params4 {
  inv_scale: vec4<f32>,    // fround(1 / fround(scale)), computed on the host
  zero_point: vec4<f32>,   // fround(zero_point)
  scale: vec4<f32>,        // fround(scale)
}

// True for NaN. Integer test: a float comparison could be folded away by a compiler that assumes
// finite math.
fn is_nan_bits(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > kExpMask;
}

fn is_inf_bits(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) == kExpMask;
}

// Quantizes four values to integer-valued floats in [qmin, qmax]:
//   clamp(zero_point + round(x * inv_scale), qmin, qmax)
// NaN -> qmin; +/-Infinity (in x, or from x * inv_scale overflowing) -> qmax / qmin. Branch-free: every
// special case is a select on bit tests (integer tests, which no finite-math assumption can fold away).
//
// Subnormal x: GPUs may flush subnormal operands to zero, so x * inv_scale is rebuilt from the bits. For
// x = ±m * 2^-149, (1 + m * 2^-23) - 1 is m * 2^-23 exactly, and m * 2^-23 * (inv_scale * 2^-126) is the
// exact product rounded once. The host keeps inv_scale within [2^-126, 2^126]; when inv_scale < 1 the
// true product is below 2^-126 and rounds to zero either way (the flushed factor gives 0 too).
fn quantize_vec4(x: vec4<f32>, inv_scale: vec4<f32>, zero_point: vec4<f32>, qmin: f32, qmax: f32) -> vec4<f32> {
  let bits = bitcast<vec4<u32>>(x);
  let magnitude = bits & vec4<u32>(0x7fffffffu);
  let negative = (bits & vec4<u32>(0x80000000u)) != vec4<u32>(0u);
  let subnormal = (magnitude < vec4<u32>(0x00800000u)) & (magnitude != vec4<u32>(0u));
  let mantissa = bitcast<vec4<f32>>((bits & vec4<u32>(0x007fffffu)) | vec4<u32>(0x3f800000u)) - vec4<f32>(1.0);
  let small = select(mantissa, -mantissa, negative) * (inv_scale * 0x1p-126f);
  let product = select(x * inv_scale, small, subnormal);
  let product_bits = bitcast<vec4<u32>>(product) & vec4<u32>(0x7fffffffu);
  var q = clamp(zero_point + round(product), vec4<f32>(qmin), vec4<f32>(qmax));
  let overflow = select(vec4<f32>(qmax), vec4<f32>(qmin), (bitcast<vec4<u32>>(product) & vec4<u32>(0x80000000u)) != vec4<u32>(0u));
  q = select(q, overflow, product_bits == vec4<u32>(kExpMask));
  return select(q, vec4<f32>(qmin), magnitude > vec4<u32>(kExpMask));
}

// ---- The small-range path (8-bit and 4-bit dtypes): the same result as quantize_vec4, in fewer steps.
//
// Rounding by addition: for |y| <= 2^22, y + 1.5 * 2^23 lies in [2^23, 2^24), where float32 values are
// the integers, so that one correctly rounded addition (to nearest, ties to even, the IEEE default every
// GPU uses) rounds y exactly as round() does, and the sum's bits are kRoundBits + round(y). This replaces
// round() and the float-to-int conversion (which WGSL must clamp) with one add and one integer add.
const kRound: f32 = 12582912.0;     // 1.5 * 2^23
const kRoundBits: i32 = 0x4b400000; // bitcast<i32>(kRound)

// The quantize parameters of four elements in the form the small-range path uses, computed on the host
// (all exact: the dtype's range spans at most 256 values):
struct Quant4 {
  inv_scale: vec4<f32>, // fround(1 / fround(scale))
  low: vec4<f32>,       // qmin - zero_point
  high: vec4<f32>,      // qmax - zero_point
  offset: vec4<i32>,    // zero_point - kRoundBits
}

// Quant4 from (inv_scale, fround(zero_point)) and the clamp range, for tables that hold only those two.
fn quant4_of(inv_scale: vec4<f32>, zero_point: vec4<f32>, qmin: f32, qmax: f32) -> Quant4 {
  return Quant4(inv_scale, qmin - zero_point, qmax - zero_point,
    (bitcast<vec4<i32>>(zero_point + kRound) - vec4<i32>(kRoundBits)) - vec4<i32>(kRoundBits));
}

// x * inv_scale, correctly rounded also for subnormal x on hardware that flushes them (see quantize_vec4).
fn scaled_vec4(x: vec4<f32>, inv_scale: vec4<f32>) -> vec4<f32> {
  let bits = bitcast<vec4<u32>>(x);
  let magnitude = bits & vec4<u32>(0x7fffffffu);
  let mantissa = bitcast<vec4<f32>>((bits & vec4<u32>(0x007fffffu)) | vec4<u32>(0x3f800000u)) - vec4<f32>(1.0);
  let small = select(mantissa, -mantissa, (bits & vec4<u32>(0x80000000u)) != vec4<u32>(0u)) * (inv_scale * 0x1p-126f);
  return select(x * inv_scale, small, (magnitude < vec4<u32>(0x00800000u)) & (magnitude != vec4<u32>(0u)));
}

// clamp(zero_point + round(x * inv_scale), qmin, qmax) as integers, for ranges of at most 2^22 values.
// Clamping before rounding is the same: low and high are integers and round() is monotonic. NaN -> qmin
// (an integer bit test; min/max of NaN is not portable); +/-Infinity, in x or from an overflowing
// product, clamp to high / low like any large value.
// `exact_subnormals` (an override constant at the call site) rebuilds x * inv_scale for subnormal x: the
// host sets it only when some inv_scale exceeds 2^125. Below that, a subnormal x (|x| < 2^-126) has
// |x * inv_scale| < 0.5, which rounds to 0 exactly as the flushed product does.
fn quantize_small(x: vec4<f32>, p: Quant4, exact_subnormals: bool) -> vec4<i32> {
  var product = x * p.inv_scale;
  if (exact_subnormals) { product = scaled_vec4(x, p.inv_scale); }
  let nan = (bitcast<vec4<u32>>(x) & vec4<u32>(0x7fffffffu)) > vec4<u32>(kExpMask);
  let y = clamp(select(product, p.low, nan), p.low, p.high);
  return bitcast<vec4<i32>>(y + kRound) + p.offset;
}

// x * inv_scale, correctly rounded even for subnormal x (see quantize_vec4), one value at a time.
fn scaled(x: f32, inv_scale: f32) -> f32 {
  let bits = bitcast<u32>(x);
  let magnitude = bits & 0x7fffffffu;
  let mantissa = bitcast<f32>((bits & 0x007fffffu) | 0x3f800000u) - 1.0;
  let small = select(mantissa, -mantissa, (bits & 0x80000000u) != 0u) * (inv_scale * 0x1p-126f);
  return select(x * inv_scale, small, magnitude < 0x00800000u && magnitude != 0u);
}

// One value through quantize_vec4 (for kernels that work element by element).
fn quantize_value(x: f32, inv_scale: f32, zero_point: f32, qmin: f32, qmax: f32) -> f32 {
  return quantize_vec4(vec4<f32>(x), vec4<f32>(inv_scale), vec4<f32>(zero_point), qmin, qmax).x;
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
