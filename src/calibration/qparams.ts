/**
 * Scale and zero point from a min/max range: PyTorch's observer formulas
 * (`UniformQuantizationObserverBase._calculate_qparams`), every step in float32, as measured on PyTorch 1.13
 * (test/fixtures/generate_torch_observer_fixtures.py checks them on every observer case and 400 random
 * ranges):
 *
 * ```
 * minNeg = min(min, 0), maxPos = max(max, 0), eps = 2^-23 (torch.finfo(torch.float32).eps)
 * affine:    scale = max(f32(maxPos - minNeg) / f32(qmax - qmin), eps)
 *            zeroPoint = clamp(qmin - roundHalfEven(minNeg / scale), qmin, qmax)
 * symmetric: scale = max(max(-minNeg, maxPos) / f32((qmax - qmin) / 2), eps), zeroPoint = the range's
 * ```
 *
 * Both divisions are true float32 divisions: a reciprocal multiply changes results (min -4.588221,
 * max 2.8877935, quint8 affine: zero point 157, a reciprocal multiply gives 156).
 *
 * @example
 * ```ts
 * qparamsFromMinMax(-4.588221, 2.8877935, { qmin: 0, qmax: 255, symmetricZeroPoint: 128 }, false);
 * // { scale: 0.029317705…, zeroPoint: 157 }
 * ```
 * @module
 */
import { roundHalfEven } from '../round.js';

/** torch.finfo(torch.float32).eps: the smallest scale an observer returns. */
export const FLOAT32_EPS = 2 ** -23;

/** The integer range an observer or calibration quantizes to, and its symmetric zero point. */
export interface QuantRange {
  readonly qmin: number;
  readonly qmax: number;
  /** The zero point of symmetric schemes: 0 for signed types, 128 for quint8, floor((qmin + qmax) / 2) otherwise. */
  readonly symmetricZeroPoint: number;
}

/** A per-tensor scale (a float32 value) and zero point. */
export interface ScaleZeroPoint { scale: number; zeroPoint: number }

/**
 * Float32 division. `a` and `b` are float32 values, so the double quotient rounded once more to float32 is
 * the correctly rounded float32 quotient: double rounding is innocuous for division when the wider format
 * has at least 2p + 2 bits (53 >= 2 * 24 + 2).
 *
 * @example
 * ```ts
 * float32Divide(1, 3); // 0.3333333432674408 (the float32 nearest 1/3)
 * ```
 */
export function float32Divide(a: number, b: number): number {
  return Math.fround(a / b);
}

/**
 * Scale and zero point for the range [min, max] (float32 values; min <= max, both finite). See the module
 * documentation for the formulas. The zero point is computed without int32 wrap-around (PyTorch's qint32
 * path wraps; this clamps).
 *
 * @example
 * ```ts
 * qparamsFromMinMax(0, 0, { qmin: -128, qmax: 127, symmetricZeroPoint: 0 }, true); // { scale: 2^-23, zeroPoint: 0 }
 * ```
 */
export function qparamsFromMinMax(min: number, max: number, range: QuantRange, symmetric: boolean): ScaleZeroPoint {
  const { qmin, qmax } = range;
  const minNeg = Math.min(Math.fround(min), 0);
  const maxPos = Math.max(Math.fround(max), 0);
  if (symmetric) {
    const amax = Math.max(-minNeg, maxPos);
    const scale = Math.max(float32Divide(amax, Math.fround((qmax - qmin) / 2)), FLOAT32_EPS);
    return { scale, zeroPoint: range.symmetricZeroPoint };
  }
  const scale = Math.max(float32Divide(Math.fround(maxPos - minNeg), Math.fround(qmax - qmin)), FLOAT32_EPS);
  const shift = roundHalfEven(float32Divide(minNeg, scale));
  const zeroPoint = Math.min(Math.max(qmin - shift, qmin), qmax);
  return { scale, zeroPoint: zeroPoint + 0 }; // + 0: never -0
}

/**
 * The signed-extreme candidate of an affine 'lsq' search: llama.cpp Q4_0's rule (scale = |extreme| / 8,
 * the extreme exact) for any integer range. With `h = floor((qmax - qmin + 1) / 2)`: when `-min >= max` the
 * extreme is the minimum, which maps to qmin (zero point `qmin + h`, scale `fround(-min / h)`); otherwise the
 * maximum maps to qmax (zero point `qmax - h`, scale `fround(max / h)`). Scales below 2^-23 are raised to it.
 * For qint4 that is zero point 0 or -1 and scale |extreme| / 8; for quint8, 128 or 127 and |extreme| / 128.
 *
 * @example
 * ```ts
 * signedExtremeCandidate(-2, 1, { qmin: -8, qmax: 7, symmetricZeroPoint: 0 });  // { scale: 0.25, zeroPoint: 0 }
 * signedExtremeCandidate(-1, 4, { qmin: -8, qmax: 7, symmetricZeroPoint: 0 });  // { scale: 0.5, zeroPoint: -1 }
 * ```
 */
export function signedExtremeCandidate(min: number, max: number, range: QuantRange): { scale: number; zeroPoint: number } {
  const half = Math.floor((range.qmax - range.qmin + 1) / 2);
  const negative = -min >= max; // ties go to the minimum, as the policy's 'extreme' rule does
  const magnitude = Math.max(negative ? -min : max, 0);
  const scale = Math.max(float32Divide(magnitude, half), FLOAT32_EPS);
  return { scale, zeroPoint: negative ? range.qmin + half : range.qmax - half };
}
