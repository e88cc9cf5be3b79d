/**
 * float64 weights are quantized through float32 (the quantizers' type). Values outside float32's normal
 * range lose everything on the way: near 1e-300 they become 0 (and the quantized weight then "matches"
 * the zeros with an infinite SQNR), beyond ±3.4e38 they become ±Infinity. This check compares the float32
 * copy with the original float64 values, so such a weight is kept as it is, with the reason, instead of
 * being measured against the wrong reference.
 *
 * @example
 * ```ts
 * const bytes = new Uint8Array(Float64Array.of(1e-300, -2e-300).buffer);
 * float64Loss(bytes); // 'float64 values below float32's range: 2 of 2 nonzero elements become 0 or lose precision (smallest |x| 1e-300); kept float64'
 * ```
 * @module
 */

/** The smallest positive normal float32: below it, float32 keeps fewer than 24 significant bits. */
const kFloat32MinNormal = 2 ** -126;
const kFloat32Max = 3.4028234663852886e38;

/**
 * Why quantizing these float64 bytes through float32 would misrepresent them, or undefined when every
 * nonzero value is inside float32's normal range.
 *
 * @example
 * ```ts
 * float64Loss(new Uint8Array(Float64Array.of(0.5, -1).buffer)); // undefined
 * ```
 */
export function float64Loss(bytes: Uint8Array): string | undefined {
  const count = Math.floor(bytes.byteLength / 8);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let tiny = 0;
  let huge = 0;
  let nonzero = 0;
  let smallest = Infinity;
  let largest = 0;
  for (let i = 0; i < count; i++) {
    const x = Math.abs(view.getFloat64(8 * i, true));
    if (x === 0 || Number.isNaN(x)) continue;
    nonzero++;
    if (x < kFloat32MinNormal) { tiny++; smallest = Math.min(smallest, x); }
    if (x > kFloat32Max) { huge++; largest = Math.max(largest, x); }
  }
  if (huge) return `float64 values beyond float32's range: ${huge} of ${nonzero} nonzero elements (largest |x| ${largest.toPrecision(3)}) would become ±Infinity; kept float64`;
  if (tiny) {
    return `float64 values below float32's range: ${tiny} of ${nonzero} nonzero elements become 0 or lose precision in float32 `
      + `(smallest |x| ${smallest.toPrecision(3)}); kept float64`;
  }
  return undefined;
}
