/**
 * How the ONNX writer stores a float32 weight's scales and zero points, and what that costs.
 *
 * - **float16 scales** (`scaleDtype: 'float16'`): each scale is rounded to the nearest float16 before the
 *   weight is quantized, so the integers are computed with the scale the file holds, and the file stores 2
 *   bytes per scale with a `Cast` to float32 in the graph (qdq-writer.ts). A scale that float16 cannot hold
 *   (it would round to 0, or above 65504) keeps its float32 value, and a weight with any such scale is
 *   written with float32 scales. Scales below 2^-14 ≈ 6.1e-5 become float16 subnormals, with fewer
 *   significant bits: they belong to groups of values below 5e-4, whose error is that small in absolute
 *   terms whatever the scale's last bits (PaddleOCR v4 rec: 18 of its 41 weights have such a group). The
 *   weight's error statistics are computed with the rounded scales, so they show any cost.
 *   At 4 bits per weight in groups of 32 a float32 scale is 1 bit per weight and a float16 one half a bit;
 *   above 2^-14 the weight's error grows by at most a relative 2^-11 of each scale.
 * - **zero points**: a 4-bit weight whose zero points are all 0 (symmetric) is written without them.
 *
 * @example
 * ```ts
 * const roundScale = halfScale;                       // quantizeWeight(x, decision, { roundScale })
 * storesHalfScales(result.scales);                    // true: write them as float16
 * storedParametersOf(result, decision, 'float16');    // { scaleBits: 16, zeroPoints: false } for symmetric int4
 * ```
 * @module
 */
import { floatToHalfBits } from '../io/half.js';
import { halfTable } from '../io/float-convert.js';
import { writesNoZeroPoints } from '../io/onnx/qdq-writer.js';
import type { StoredParameters } from './budget-measure.js';
import type { WeightDecision } from './policy.js';
import type { QuantizedWeight } from './quantize-weight.js';

/** The float type scales of float32 weights are stored in. */
export type ScaleDType = 'float32' | 'float16';

/** float16's largest finite value. */
const kHalfMax = 65504;

/**
 * `scale` rounded to the nearest float16 where that is positive and finite (subnormals included);
 * otherwise `scale` unchanged.
 *
 * @example
 * ```ts
 * halfScale(0.1);   // 0.0999755859375
 * halfScale(1e-6);  // 1.0132789611816406e-6 (a float16 subnormal)
 * halfScale(1e-9);  // 1e-9 (rounds to 0 in float16: kept)
 * ```
 */
export function halfScale(scale: number): number {
  const rounded = toHalf(scale);
  return rounded > 0 && rounded <= kHalfMax ? rounded : scale;
}

/**
 * The float16 value nearest `fround(x)` (ties to even), as a number: halfToFloat(floatToHalfBits(x)), by one load
 * from the table of every float16's value (a weight in groups of 32 has half a million scales to round).
 */
function toHalf(x: number): number {
  return halfTable()[floatToHalfBits(x)]!;
}

/**
 * `round` (halfScale, or toHalf where `keep` is false) of every scale of `raw` into `out` (the same length; `raw`
 * itself may be it), a scale at a time on its bits: a positive scale in float16's normal range (2^-14 to 65504)
 * is rounded by integer operations on the float32 bits, with no call per scale (half a million scales a weight in
 * groups of 32, a budget measuring three group sizes; `round` took about 24 ns a scale); any other goes through
 * `round` itself. The same bits as `round` for every float32 (checked over all 2^32 patterns once). Gives the first
 * index whose result is not finite and positive, or -1.
 */
function roundScalesInto(raw: Float32Array, out: Float32Array, keep: boolean, round: (scale: number) => number): number {
  const rawBits = new Uint32Array(raw.buffer, raw.byteOffset, raw.length);
  const outBits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < rawBits.length; i++) {
    const bits = rawBits[i]!;
    const exponent = bits >>> 23; // the sign bit 0: a positive scale
    if (((exponent - 113) >>> 0) < 30) {
      // floatToHalfBits' normal path, then the float16's float32 bits; a carry to 0x7c00 is Infinity. Written out:
      // the same arithmetic as a shared function called per scale took 12.5 ms per 524,288 scales against 2.7 here.
      const mantissa = bits & 0x7fffff;
      let half = ((exponent - 112) << 10) | (mantissa >>> 13);
      half += ((mantissa & 0x1fff) + (half & 1) + 0xfff) >>> 13;
      if (half < 0x7c00) {
        outBits[i] = (((half >>> 10) + 112) << 23) | ((half & 0x3ff) << 13);
        continue;
      }
      if (keep) {
        outBits[i] = bits; // past 65504 in float16: halfScale keeps the scale
        continue;
      }
      return i;
    }
    const scale = round(raw[i]!);
    if (!(Number.isFinite(scale) && scale > 0)) return i;
    out[i] = scale;
  }
  return -1;
}

/**
 * `roundScale(raw[i])` of every scale into `out` where `roundScale` is {@link halfScale} or a float16 weight's
 * rounding ({@link scaleRounder}'s functions), on the scales' bits ({@link roundScalesInto}): the first index whose
 * result is not finite and positive, or -1; undefined for any other function (round the scales one at a time).
 *
 * @example
 * ```ts
 * const out = new Float32Array(2);
 * roundScales(Float32Array.of(0.1, 0.5), out, scaleRounder('halfScale')!); // -1; out: 0.0999755859375, 0.5
 * ```
 */
export function roundScales(raw: Float32Array, out: Float32Array, roundScale: (scale: number) => number): number | undefined {
  if (roundScale === halfScale) return roundScalesInto(raw, out, true, halfScale);
  if (roundScale === toHalf) return roundScalesInto(raw, out, false, toHalf);
  return undefined;
}

/** One float32 and its bits, for roundBfloat16 (no arrays made per scale). */
const kFloat = new Float32Array(1);
const kBits = new Uint32Array(kFloat.buffer);

/** The nearest bfloat16 value (round to nearest even on the float32 bits). */
function roundBfloat16(x: number): number {
  kFloat[0] = x;
  const bits = kBits[0]!;
  kBits[0] = ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) << 16;
  return kFloat[0]!;
}

/**
 * How a weight's scales are rounded before it is quantized, by name (a name crosses to a worker thread, a
 * function does not): 'float16' and 'bfloat16' to the nearest value of a float16 / bfloat16 weight's scale
 * type, 'halfScale' by {@link halfScale} (float16 scales of a float32 weight).
 */
export type ScaleRounding = 'float16' | 'bfloat16' | 'halfScale';

/**
 * The `roundScale` function of a {@link ScaleRounding}, or undefined for none.
 *
 * @example
 * ```ts
 * scaleRounder('bfloat16')!(0.1); // 0.10009765625
 * scaleRounder(undefined);        // undefined: scales as computed
 * ```
 */
export function scaleRounder(rounding: ScaleRounding | undefined): ((scale: number) => number) | undefined {
  if (rounding === 'float16') return toHalf;
  if (rounding === 'bfloat16') return roundBfloat16;
  if (rounding === 'halfScale') return halfScale;
  return undefined;
}

/**
 * True when every scale is a positive float16 value (what {@link halfScale} gives where it can).
 *
 * @example
 * ```ts
 * storesHalfScales(Float32Array.of(0.0999755859375, 0.5)); // true
 * storesHalfScales(Float32Array.of(0.1));                  // false (not a float16 value)
 * ```
 */
export function storesHalfScales(scales: ArrayLike<number>): boolean {
  // A float32 array on its bits: a positive float16 normal (2^-14 to 65504) has the float32 exponent 113 to 142 and
  // its last 13 mantissa bits 0; any other scale by the rule itself.
  const bits = scales instanceof Float32Array ? new Uint32Array(scales.buffer, scales.byteOffset, scales.length) : undefined;
  for (let i = 0; i < scales.length; i++) {
    if (bits && ((bits[i]! >>> 23) - 113) >>> 0 < 30 && (bits[i]! & 0x1fff) === 0) continue;
    const s = scales[i]!;
    if (!(s > 0 && s <= kHalfMax) || toHalf(s) !== s) return false;
  }
  return true;
}

/**
 * True when `decision` is 4-bit and every zero point is 0: the QDQ writer stores no zero points (its rule,
 * `writesNoZeroPoints`).
 *
 * @example
 * ```ts
 * omitsZeroPoints(Int32Array.of(0, 0), { dtype: 'qint4' } as WeightDecision); // true
 * ```
 */
export function omitsZeroPoints(zeroPoints: ArrayLike<number>, decision: Pick<WeightDecision, 'dtype'>): boolean {
  return writesNoZeroPoints(decision.dtype, zeroPoints);
}

/**
 * How a float32 weight quantized as `decision` is stored, for the size budget's count ({@link StoredParameters}).
 *
 * @example
 * ```ts
 * storedParametersOf(result, decision, 'float16'); // { scaleBits: 16, zeroPoints: true } for int8 per channel
 * ```
 */
export function storedParametersOf(result: Pick<QuantizedWeight, 'scales' | 'zeroPoints'>, decision: Pick<WeightDecision, 'dtype'>, scaleDtype: ScaleDType): StoredParameters {
  return {
    ...(scaleDtype === 'float16' && storesHalfScales(result.scales) ? { scaleBits: 16 } : {}),
    zeroPoints: !omitsZeroPoints(result.zeroPoints, decision),
  };
}
