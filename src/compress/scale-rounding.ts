/**
 * How a weight's scales are rounded before quantizing, by name, so the choice can cross a thread boundary
 * (a worker rebuilds the function from the name): the scales a file stores must be the scales the integers
 * were computed with.
 *
 * - `'float32'`: none (the float32 scales are stored as they are);
 * - `'float16'`: to float16 (a float16 weight's scales are float16 in the model);
 * - `'bfloat16'`: to bfloat16, round to nearest even;
 * - `'float16-stored'`: to float16 where float16 holds the scale ({@link halfScale}: float16 scale storage).
 *
 * @example
 * ```ts
 * scaleRounder('bfloat16')!(0.1); // 0.10009765625
 * scaleRounder('float32');        // undefined: no rounding
 * ```
 * @module
 */
import { halfToFloat } from '../io/float-convert.js';
import { floatToHalfBits } from '../io/half.js';
import { halfScale } from './scale-storage.js';

/** The names of the scale roundings; see the module documentation. */
export type ScaleRounding = 'float32' | 'float16' | 'bfloat16' | 'float16-stored';

/**
 * The nearest bfloat16 value (round to nearest even on the float32 bits).
 *
 * @example
 * ```ts
 * roundBfloat16(1 / 3); // 0.333984375
 * ```
 */
export function roundBfloat16(x: number): number {
  const bits = new Uint32Array(Float32Array.of(x).buffer)[0]!;
  const rounded = ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) << 16;
  return new Float32Array(Uint32Array.of(rounded >>> 0).buffer)[0]!;
}

/**
 * The function a rounding names, or undefined for `'float32'` (none).
 *
 * @example
 * ```ts
 * scaleRounder('float16')!(0.1); // 0.0999755859375
 * ```
 */
export function scaleRounder(rounding: ScaleRounding): ((scale: number) => number) | undefined {
  switch (rounding) {
    case 'float32': return undefined;
    case 'float16': return (s) => halfToFloat(floatToHalfBits(s));
    case 'bfloat16': return roundBfloat16;
    case 'float16-stored': return halfScale;
  }
}
