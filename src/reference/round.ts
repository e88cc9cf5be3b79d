/**
 * Rounding helpers of the CPU reference: written for obviousness, every float32 step explicit.
 * @module
 */

/**
 * Rounds to the nearest integer, ties to even (IEEE-754 roundTiesToEven, `std::nearbyint`, WGSL `round`).
 * Non-finite values and values already integral are returned as they are.
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
