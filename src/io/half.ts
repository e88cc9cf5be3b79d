/**
 * float32 to float16 bits, rounding to nearest even (what `torch.Tensor.half()` and numpy do), for
 * writing scales as F16 on request. The reverse is `halfToFloat` in `io/float-convert.ts`.
 *
 * @example
 * ```ts
 * floatToHalfBits(1);       // 0x3c00
 * floatToHalfBits(0.1);     // 0x2e66
 * floatToHalfBits(65520);   // 0x7c00 (Infinity: past the largest half, 65504)
 * ```
 * @module
 */

const kFloat = new Float32Array(1);
const kBits = new Uint32Array(kFloat.buffer);

/**
 * The float16 bit pattern nearest to `fround(x)`; ties to even; NaN stays NaN, overflow gives ±Infinity.
 *
 * @example
 * ```ts
 * floatToHalfBits(-2);        // 0xc000
 * floatToHalfBits(2 ** -24);  // 0x0001 (the smallest subnormal)
 * ```
 */
export function floatToHalfBits(x: number): number {
  kFloat[0] = x;
  const bits = kBits[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  // A float16 normal (exponents 113 to 142), the common case, without a branch on the rounding: the 13 bits dropped
  // plus the kept bit's parity plus 0xfff carry into bit 13 just when they round up (above half, or half and odd);
  // a carry into the exponent is still right, up to Infinity. The same bits as the general path below for every
  // float32 (checked over all 2^32 patterns).
  if (((exponent - 113) >>> 0) < 30) {
    const half = ((exponent - 112) << 10) | (mantissa >>> 13);
    return sign | (half + (((mantissa & 0x1fff) + (half & 1) + 0xfff) >>> 13));
  }
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal: rounds to zero
    mantissa |= 0x800000;
    const shift = 14 - e;
    let half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1))) half++; // a carry into the exponent is still right
  return sign | half;
}
