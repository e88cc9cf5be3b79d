// Correctly rounded float32 division by integer long division, for the MSE search's candidate scales and
// zero points: WGSL's '/' may be off by 2.5 ulp, and the CPU reference divides exactly (PyTorch's observer
// formulas). Contract: a finite, b > 0 and normal. A subnormal dividend and a subnormal quotient give 0
// (keeping the sign): in the candidate formulas such a value is then either raised to eps (a scale) or
// rounded to 0 (a zero-point shift), exactly as the unflushed value would be, and GPUs may flush anyway.

fn divide_rn(a: f32, b: f32) -> f32 {
  let a_bits = bitcast<u32>(a);
  let b_bits = bitcast<u32>(b);
  let sign = a_bits & 0x80000000u;
  let a_exponent = i32((a_bits >> 23u) & 0xffu);
  let b_exponent = i32((b_bits >> 23u) & 0xffu);
  if (a_exponent == 0) { return bitcast<f32>(sign); }
  var dividend = (a_bits & 0x7fffffu) | 0x800000u;
  let divisor = (b_bits & 0x7fffffu) | 0x800000u;
  var exponent = a_exponent - b_exponent + 127;
  if (dividend < divisor) {
    dividend = dividend << 1u;
    exponent = exponent - 1;
  }
  // divisor <= dividend < 2 * divisor: the quotient is in [1, 2); 24 restoring steps give its 24 bits.
  var quotient = 0u;
  var remainder = dividend;
  for (var step = 0u; step < 24u; step++) {
    quotient = quotient << 1u;
    if (remainder >= divisor) {
      remainder = remainder - divisor;
      quotient = quotient | 1u;
    }
    remainder = remainder << 1u;
  }
  // remainder is now twice the final remainder: compare with the divisor to round half to even.
  if (remainder > divisor || (remainder == divisor && (quotient & 1u) == 1u)) { quotient = quotient + 1u; }
  if (quotient == 0x1000000u) {
    quotient = 0x800000u;
    exponent = exponent + 1;
  }
  if (exponent <= 0) { return bitcast<f32>(sign); }
  if (exponent >= 255) { return bitcast<f32>(sign | 0x7f800000u); }
  return bitcast<f32>(sign | (u32(exponent) << 23u) | (quotient & 0x7fffffu));
}
