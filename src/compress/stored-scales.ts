/**
 * The scales a weight is quantized with, as the output format stores them, and whether dequantizing with them stays
 * within float32: `storedScales` rounds a weight's scales (float16 or bfloat16 weights' scale types, float16 scales
 * under a size budget) and refuses a scale with no finite positive value or levels `(q - zeroPoint) × scale` past
 * float32 (`dequantizeOverflow`). Each runs once a weight, or once a block of a weight read a block of rows at a time.
 *
 * @example
 * ```ts
 * storedScales(Float32Array.of(0.1), Int32Array.of(0), decision, { roundScale: halfScale }); // Float32Array [0.0999755859375]
 * dequantizeOverflow(Float32Array.of(0.5), Int32Array.of(0), 'qint8'); // undefined: every level finite
 * ```
 * @module
 */
import type { WeightDecision } from './policy.js';
import type { QuantizeWeightOptions, UnquantizableWeight } from './quantize-weight.js';
import { roundScales } from './scale-storage.js';

const kLimits = { qint8: [-128, 127], quint8: [0, 255], qint4: [-8, 7], quint4: [0, 15] } as const;

/**
 * Why dequantizing with these parameters would leave float32 (a reason), or undefined when every level
 * `(q - zeroPoint) × scale`, q in the dtype's range, is finite in float32.
 *
 * @example
 * ```ts
 * dequantizeOverflow(Float32Array.of(3.4e38 / 127.5), Int32Array.of(0), 'qint8'); // '... -128 × scale ... overflows float32 ...'
 * ```
 */
export function dequantizeOverflow(scales: Float32Array, zeroPoints: Int32Array, dtype: WeightDecision['dtype']): string | undefined {
  const [qmin, qmax] = kLimits[dtype];
  // One pass without a branch per parameter (a weight in groups of 32 has 524,288); the loop below names the first
  // level that is not finite.
  let sum = 0;
  for (let i = 0; i < scales.length; i++) sum += levelsTerm(scales[i]!, zeroPoints[i]!, qmin, qmax);
  if (sum === 0) return undefined;
  for (let i = 0; i < scales.length; i++) {
    for (const q of [qmin, qmax]) {
      const level = Math.fround((q - zeroPoints[i]!) * scales[i]!);
      if (!Number.isFinite(level)) {
        return `dequantizing overflows float32: (${q} - ${zeroPoints[i]}) × scale ${scales[i]} is ${level} (weights near the float32 limit ±3.4e38)`;
      }
    }
  }
  return undefined;
}

/**
 * 0 when both levels `(qmin - zeroPoint) × scale` and `(qmax - zeroPoint) × scale` are finite in float32, else NaN:
 * summed over the parameters, one test for all of them without a branch each.
 */
function levelsTerm(scale: number, zeroPoint: number, qmin: number, qmax: number): number {
  return Math.fround((qmin - zeroPoint) * scale) * 0 + Math.fround((qmax - zeroPoint) * scale) * 0;
}

/**
 * The scales a weight is quantized with (each rounded by `options.roundScale`), or why it cannot be: a scale
 * with no finite positive value, or levels that overflow float32 when dequantized. Into `into` where given (of
 * the same length; `rawScales` itself may be it).
 *
 * @example
 * ```ts
 * storedScales(Float32Array.of(0.5), Int32Array.of(0), decision, {}); // Float32Array [0.5]
 * ```
 */
export function storedScales(
  rawScales: Float32Array, zeroPoints: Int32Array, decision: WeightDecision, options: QuantizeWeightOptions, into?: Float32Array,
): Float32Array | UnquantizableWeight {
  const scales = into?.length === rawScales.length ? into : new Float32Array(rawScales.length);
  const roundScale = options.roundScale;
  const unusable = (i: number): UnquantizableWeight => ({ ok: false, reason: `scale ${rawScales[i]} has no finite positive value in the output format` });
  if (roundScale) {
    // float16 roundings on the scales' bits (roundScales), any other one scale at a time.
    const failed = roundScales(rawScales, scales, roundScale);
    if (failed !== undefined && failed >= 0) return unusable(failed);
    if (failed === undefined) {
      for (let i = 0; i < scales.length; i++) {
        const scale = roundScale(rawScales[i]!);
        if (!(Number.isFinite(scale) && scale > 0)) return unusable(i);
        scales[i] = scale;
      }
    }
  } else {
    // Finite and positive, and dequantizeOverflow's levels finite, in one pass without a branch per scale; the
    // loops after it name the first scale that fails.
    const [qmin, qmax] = kLimits[decision.dtype];
    let valid = 1;
    let levels = 0;
    for (let i = 0; i < rawScales.length; i++) {
      const scale = rawScales[i]!;
      valid &= +(scale > 0) & +(scale < Infinity);
      levels += levelsTerm(scale, zeroPoints[i]!, qmin, qmax);
    }
    if (!valid) for (let i = 0; i < rawScales.length; i++) if (!(Number.isFinite(rawScales[i]!) && rawScales[i]! > 0)) return unusable(i);
    if (scales !== rawScales) scales.set(rawScales);
    if (levels === 0 && zeroPoints.length === scales.length) return scales;
  }
  const overflow = dequantizeOverflow(scales, zeroPoints, decision.dtype);
  return overflow ? { ok: false, reason: overflow } : scales;
}
