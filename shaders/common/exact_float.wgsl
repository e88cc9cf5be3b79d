// Correctly rounded float32 arithmetic on bit patterns, with integer operations only, for the parameter
// kernel (minmax_to_params.wgsl): its scales must be the host's bits for every input. WGSL's '/' may be off by
// 2.5 ulp, a GPU may flush subnormal operands or results to zero, and WGSL lets an implementation assume no
// overflow to Infinity; none of that can reach a u32. Every value here is a float32 bit pattern (u32) and
// every result is the IEEE-754 round-to-nearest-even result as bits, subnormals and overflow included.

const kSignBit: u32 = 0x80000000u;
const kMagnitudeBits: u32 = 0x7fffffffu;
const kInfinityBits: u32 = 0x7f800000u;

// A finite nonzero magnitude as (significand with its leading 1 at bit 23, unbiased exponent + 127): a
// subnormal is normalised, so its exponent may be below 1.
struct Unpacked {
  significand: u32,
  exponent: i32,
}

fn unpack_magnitude(bits: u32) -> Unpacked {
  let field = (bits >> 23u) & 0xffu;
  let fraction = bits & 0x7fffffu;
  if (field != 0u) { return Unpacked(fraction | 0x800000u, i32(field)); }
  // Subnormal: shift the leading 1 up to bit 23 (fraction != 0 here; countLeadingZeros is >= 9).
  let shift = countLeadingZeros(fraction) - 8u;
  return Unpacked(fraction << shift, 1 - i32(shift));
}

// The float32 quotient a / b rounded to nearest even, as bits. a and b are float32 bits; b != ±0. An
// infinite or NaN a gives ±Infinity, an infinite or NaN b gives ±0 (the kernel only meets those on data
// the host then refuses).
fn divide_bits(a: u32, b: u32) -> u32 {
  let sign = (a ^ b) & kSignBit;
  if ((a & kInfinityBits) == kInfinityBits) { return sign | kInfinityBits; }
  if ((b & kInfinityBits) == kInfinityBits || (a & kMagnitudeBits) == 0u) { return sign; }
  let n = unpack_magnitude(a & kMagnitudeBits);
  let d = unpack_magnitude(b & kMagnitudeBits);
  var dividend = n.significand;
  var exponent = n.exponent - d.exponent + 127;
  if (dividend < d.significand) {
    dividend = dividend << 1u;
    exponent = exponent - 1;
  }
  // d <= dividend < 2d: the quotient is in [1, 2). 26 restoring steps give floor(quotient * 2^25): the 24
  // bits of a normal result, a guard bit and one more; the remainder decides the rest (sticky).
  var quotient = 0u;
  var remainder = dividend;
  for (var step = 0u; step < 26u; step++) {
    quotient = quotient << 1u;
    if (remainder >= d.significand) {
      remainder = remainder - d.significand;
      quotient = quotient | 1u;
    }
    remainder = remainder << 1u;
  }
  // A result below 2^-126 keeps 23 - (1 - exponent) bits: drop `shift` more bits (more than 24 leave
  // less than half of the smallest subnormal, which rounds to 0).
  let shift = u32(max(1 - exponent, 0));
  if (shift > 24u) { return sign; }
  let dropped = 2u + shift;
  var kept = quotient >> dropped;
  let half = 1u << (dropped - 1u);
  let rest = quotient & ((half << 1u) - 1u);
  // Exactly half only when nothing is left in the remainder either; then to even.
  if (rest > half || (rest == half && (remainder != 0u || (kept & 1u) == 1u))) { kept = kept + 1u; }
  // As bits: (biased exponent - 1) * 2^23 + significand (leading 1 included) is the encoding of a normal
  // result, and of a subnormal one (exponent field 0, no leading 1); a carry out of the significand moves
  // into the exponent by itself.
  let field = max(exponent, 1);
  let encoded = (u32(field - 1) << 23u) + kept;
  if (encoded >= kInfinityBits) { return sign | kInfinityBits; }
  return sign | encoded;
}

// 1 / x rounded to nearest even, as bits, for x the bits of a float32 in [2^-126, 2^126] (a validated scale:
// normal, with a normal reciprocal). Much cheaper than divide_bits: WGSL's '/' on the significand alone gives a
// guess within a few ulp, and one integer division corrects it exactly (reciprocal_from_guess).
fn reciprocal_bits(x: u32) -> u32 {
  let significand = bitcast<f32>(0x3f800000u | (x & 0x7fffffu)); // in [1, 2): no subnormal, no overflow
  return reciprocal_from_guess(x, u32((1.0 / significand) * 16777216.0)); // times 2^24: exact; u32() truncates
}

// The correctly rounded reciprocal of x (as reciprocal_bits) from `guess`, any integer within 31 of
// 2^47 / m, m the significand of x with its leading 1 (2^23 < m < 2^24 unless x is a power of two). The
// remainder r = 2^47 - guess * m is exact in 32 bits (|r| < 2^29, and the low 32 bits of 2^47 are zero), and
// round(2^47 / m) = guess + floor((2r + m) / 2m): never a tie, as 2^48 / m is an integer only for m a power of two.
fn reciprocal_from_guess(x: u32, guess: u32) -> u32 {
  let field = (x >> 23u) & 0xffu;
  let fraction = x & 0x7fffffu;
  if (fraction == 0u) { return (254u - field) << 23u; }
  let m = fraction | 0x800000u;
  let remainder = bitcast<i32>(0u - guess * m);
  let twice = 2 * remainder + i32(m);
  let d = 2 * i32(m);
  let correction = select(-((d - 1 - twice) / d), twice / d, twice >= 0); // floor(twice / d)
  // The significand of 1 / x with its leading 1: in (2^23, 2^24), so the exponent field is 253 - field.
  let q = u32(i32(guess) + correction);
  return ((253u - field) << 23u) + q - 0x800000u;
}

// The float32 sum of two nonnegative float32 values a and b, rounded to nearest even, as bits (Infinity on
// overflow). An infinite or NaN operand gives +Infinity.
fn add_magnitudes_bits(a: u32, b: u32) -> u32 {
  if ((a & kInfinityBits) == kInfinityBits || (b & kInfinityBits) == kInfinityBits) { return kInfinityBits; }
  let larger = max(a, b);
  let smaller = min(a, b);
  // Exponent field 0 (zero or subnormal) weighs as 1 without the leading 1.
  let large_field = max((larger >> 23u) & 0xffu, 1u);
  let small_field = max((smaller >> 23u) & 0xffu, 1u);
  let large = select(larger & 0x7fffffu, (larger & 0x7fffffu) | 0x800000u, (larger >> 23u) != 0u);
  let small = select(smaller & 0x7fffffu, (smaller & 0x7fffffu) | 0x800000u, (smaller >> 23u) != 0u);
  // Three extra bits (guard, round, sticky) below the significand.
  let distance = large_field - small_field;
  var aligned = 0u;
  if (distance < 27u) {
    let wide = small << 3u;
    aligned = wide >> distance;
    if ((aligned << distance) != wide) { aligned = aligned | 1u; }
  } else if (small != 0u) {
    aligned = 1u;
  }
  var sum = (large << 3u) + aligned;
  var field = large_field;
  if (sum >= 0x8000000u) {
    sum = (sum >> 1u) | (sum & 1u);
    field = field + 1u;
  }
  var kept = sum >> 3u;
  let rest = sum & 7u;
  if (rest > 4u || (rest == 4u && (kept & 1u) == 1u)) { kept = kept + 1u; }
  // The encoding rule of divide_bits; a sum of subnormals (field 1, no leading 1) stays subnormal or
  // carries into the smallest normal.
  let encoded = ((field - 1u) << 23u) + kept;
  return min(encoded, kInfinityBits);
}

// round-half-even of a nonnegative float32 value, as an integer saturated at 2^30.
fn round_half_even_magnitude(bits: u32) -> u32 {
  let field = (bits >> 23u) & 0xffu;
  if (field < 126u) { return 0u; } // below 0.5
  if (field >= 157u) { return 0x40000000u; } // at least 2^30 (Infinity too)
  let significand = (bits & 0x7fffffu) | 0x800000u;
  if (field >= 150u) { return significand << (field - 150u); }
  let dropped = 150u - field; // 1 ..= 24
  let kept = significand >> dropped;
  let half = 1u << (dropped - 1u);
  let rest = significand & ((half << 1u) - 1u);
  return select(kept, kept + 1u, rest > half || (rest == half && (kept & 1u) == 1u));
}
