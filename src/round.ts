/**
 * Rounding helpers of the CPU reference: written for obviousness, every float32 step explicit.
 * @module
 */

/**
 * Rounds to the nearest integer, ties to even (IEEE-754 roundTiesToEven, like `std::nearbyint` and WGSL
 * `round`, except that results in (-1, 0) are +0 rather than -0: quantization adds the zero point next, so the
 * sign of zero never shows). Non-finite values are returned as they are.
 *
 * @example
 * ```ts
 * roundHalfEven(0.5);  // 0
 * roundHalfEven(1.5);  // 2
 * roundHalfEven(2.5);  // 2
 * roundHalfEven(-1.5); // -2
 * ```
 */
export function roundHalfEven(x: number): number {
  if (!Number.isFinite(x)) return x;
  const floor = Math.floor(x);
  const fraction = x - floor; // exact for doubles
  if (fraction < 0.5) return floor;
  if (fraction > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}
