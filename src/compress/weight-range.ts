/**
 * The integer range a weight is quantized to, as the policy resolved it (policy.ts, rule 8), turned into
 * calibration parameters:
 *
 * - 'torch': the dtype's full range, PyTorch's observer formulas (absmax / 127.5 for symmetric qint8, whose
 *   largest positive weight then rounds to 128 and is clipped to 127: half a step of error on the weight
 *   that matters most).
 * - 'narrow': a symmetric range without the extra negative level: [-127, 127] for qint8 (scale =
 *   absmax / 127), [-7, 7] for qint4, [1, 255] around 128 for quint8, [1, 15] around 8 for quint4.
 * - 'extreme': llama.cpp Q4_0's rule, exact in our integer grid. Per output, the signed extreme e (the
 *   element of largest magnitude) maps to the end of the range: scale = |e| / 2^(b-1); a negative e takes
 *   the symmetric zero point (e → qmin), a positive e the zero point one lower (e → qmax), so all 2^b
 *   levels are used and e is exact. The parameters are computed on the CPU from per-output minima and
 *   maxima (min/max are exact, so where they come from changes no bit).
 * - 'custom': `quantMin` / `quantMax` as given.
 *
 * @example
 * ```ts
 * rangeOptions({ dtype: 'qint8', symmetric: true, range: 'narrow' });   // { quantMin: -127, quantMax: 127 }
 * signedExtremeParams(Float32Array.of(0.5, -0.25, 1, 0.1), [2, 2], { axis: 0 }, 'qint4');
 * // { scales: [0.0625, 0.125], zeroPoints: [-1, -1] }
 * ```
 * @module
 */
import { type Granularity, reductionLayout } from '../calibration/granularity.js';
import { FLOAT32_EPS, signedExtremeCandidate } from '../calibration/qparams.js';
import { cpuMinMax } from '../kernels/cpu/cpu-minmax.js';
import type { CompressDType, WeightDecision } from './policy.js';

const kLimits: Record<CompressDType, [number, number]> = { qint8: [-128, 127], quint8: [0, 255], qint4: [-8, 7], quint4: [0, 15] };

/**
 * The `quantMin` / `quantMax` options of `chooseQParams` for a decision ({} for 'torch' and 'extreme').
 *
 * @example
 * ```ts
 * rangeOptions({ dtype: 'quint4', symmetric: true, range: 'narrow' }); // { quantMin: 1, quantMax: 15 }
 * rangeOptions({ dtype: 'qint8', symmetric: true, range: 'torch' });   // {}
 * ```
 */
export function rangeOptions(decision: Pick<WeightDecision, 'dtype' | 'symmetric' | 'range' | 'quantMin' | 'quantMax'>): { quantMin?: number; quantMax?: number } {
  if (decision.range === 'custom') return { quantMin: decision.quantMin!, quantMax: decision.quantMax! };
  if (decision.range !== 'narrow' || !decision.symmetric) return {};
  const [qmin, qmax] = kLimits[decision.dtype];
  return { quantMin: qmin + 1, quantMax: qmax };
}

/**
 * Scales and zero points by the 'extreme' rule (module documentation), per output of `granularity`, in the
 * order `quantizePerTensor` / `PerChannel` / `PerGroup` take them. The data must be finite.
 *
 * @example
 * ```ts
 * signedExtremeParams(Float32Array.of(-2, 1), [2], 'per_tensor', 'qint4'); // { scales: [0.25], zeroPoints: [0] }
 * ```
 */
export function signedExtremeParams(
  data: Float32Array, shape: readonly number[], granularity: Granularity, dtype: CompressDType, into?: ParamsInto,
): { scales: Float32Array; zeroPoints: Int32Array } {
  const { mins, maxs } = cpuMinMax(data, reductionLayout(shape, granularity), into);
  return signedExtremeOfRanges(mins, maxs, dtype, into);
}

/**
 * Arrays to write parameters into instead of new ones (one value per output each): the scales and zero points,
 * and scratch for the mins and maxs they come from.
 */
export interface ParamsInto { scales: Float32Array; zeroPoints: Int32Array; mins: Float32Array; maxs: Float32Array }

/**
 * {@link signedExtremeParams} from each output's minimum and maximum, wherever they were reduced; into `into`'s
 * scales and zero points where given (of the same length).
 *
 * @example
 * ```ts
 * signedExtremeOfRanges(Float32Array.of(-2), Float32Array.of(1), 'qint4'); // { scales: [0.25], zeroPoints: [0] }
 * ```
 */
export function signedExtremeOfRanges(
  mins: Float32Array, maxs: Float32Array, dtype: CompressDType, into?: Pick<ParamsInto, 'scales' | 'zeroPoints'>,
): { scales: Float32Array; zeroPoints: Int32Array } {
  const [qmin, qmax] = kLimits[dtype];
  const fits = into?.scales.length === mins.length && into.zeroPoints.length === mins.length; // may be mins and maxs' memory
  const scales = fits ? into.scales : new Float32Array(mins.length);
  const zeroPoints = fits ? into.zeroPoints : new Int32Array(mins.length);
  const half = Math.floor((qmax - qmin + 1) / 2);
  const negativeZeroPoint = qmin + half;
  const positiveZeroPoint = qmax - half;
  // signedExtremeCandidate's formula (calibration/qparams.ts) without a branch on which extreme wins: that branch
  // goes either way from one group to the next (the loop took 6.0 ms for a weight's 524,288 groups of 32 with it,
  // 2.7 ms without it, measured alone). -min and max are compared by their float32 bits turned into order keys,
  // and the larger one's bits picked with a mask. Keys order -0 below +0, and NaN somewhere: an output with both
  // extremes zero, or a NaN, takes signedExtremeCandidate itself (a branch seldom taken). Each output is read before it is
  // written, so `into` may be `mins` and a view of `maxs`. The tests hold both to the same bits.
  const minBits = new Int32Array(mins.buffer, mins.byteOffset, mins.length);
  const maxBits = new Int32Array(maxs.buffer, maxs.byteOffset, maxs.length);
  const cell = new Int32Array(1);
  const cellFloat = new Float32Array(cell.buffer);
  const zeroPointFlip = negativeZeroPoint ^ positiveZeroPoint;
  const range = { qmin, qmax, symmetricZeroPoint: 0 }; // the zero point comes from the rule, not the range
  for (let w = 0; w < mins.length; w++) {
    const a = minBits[w]! ^ 0x80000000; // the bits of -min
    const b = maxBits[w]!;
    const magnitudeA = a & 0x7fffffff;
    const magnitudeB = b & 0x7fffffff;
    if ((magnitudeA | magnitudeB) === 0 || magnitudeA > 0x7f800000 || magnitudeB > 0x7f800000) {
      const candidate = signedExtremeCandidate(mins[w]!, maxs[w]!, range);
      scales[w] = candidate.scale;
      zeroPoints[w] = candidate.zeroPoint;
      continue;
    }
    const negative = -((a ^ ((a >> 31) & 0x7fffffff)) >= (b ^ ((b >> 31) & 0x7fffffff)) as unknown as number); // 0 or -1
    const picked = b ^ ((a ^ b) & negative);
    cell[0] = picked & ~(picked >> 31); // a negative extreme counts as +0
    scales[w] = Math.max(Math.fround(cellFloat[0]! / half), FLOAT32_EPS);
    zeroPoints[w] = positiveZeroPoint ^ (zeroPointFlip & negative);
  }
  return { scales, zeroPoints };
}
