/**
 * The CPU reference of `chooseQParams`: min/max, the MSE clipping search and percentile clipping, written
 * for obviousness ('lsq': src/reference/lsq-search.ts). The GPU path must choose the same parameters bit for bit, so the MSE sums are defined
 * here, and the GPU repeats them: for each output and candidate, the squared errors of its elements (in
 * j order, see calibration/granularity.ts) are summed in float32 in blocks of {@link MSE_BLOCK}, each block
 * from 0, and the block sums added in block order. Each squared error is
 * `flush(fround(e * e))`, `e = fround(x - fround(fround(q - zp) * fround(scale)))`, `q` from the exact
 * quantize numerics (as a float32), `zp` as a float32, `flush` turning subnormals into 0 (GPUs may flush
 * them; now neither side depends on it).
 * The first candidate with the smallest sum wins, so ties keep min/max.
 *
 * Percentile clipping uses the nearest rank, no interpolation, so the clip value is a data value: with n
 * elements and r = clamp(ceil(p / 100 * n - 1e-9), 1, n), the upper clip is the r-th smallest value (of
 * |x| when symmetric, the range is then [-that, that]) and the lower clip the r-th largest.
 *
 * @example
 * ```ts
 * reference.chooseQParams(tensor([-1, 0.5, 2, 8]), { dtype: 'quint8', method: 'minmax' });
 * // { scale: 0.035294119…, zeroPoint: 28, backend: 'cpu' }
 * ```
 * @module
 */
import { checkRange, throwIfNaN } from '../calibration/checks.js';
import { type ReductionLayout, elementIndex, outputLength } from '../calibration/granularity.js';
import { type CalibrationResult, type OutputParams, shapeCalibration } from '../calibration/result.js';
import { type CalibrationSpec, type ResolvedCalibration, resolveCalibrationSpec } from '../calibration/spec.js';
import { InvalidArgumentError } from '../errors.js';
import { type Tensor, checkTensor } from '../tensor.js';
import { lsqSearchOfLayout, paramsFromLsq } from './lsq-search.js';
import { type MinMaxResult, minMaxOfLayout } from './minmax.js';
import { type QuantRange, qparamsFromMinMax } from '../calibration/qparams.js';
import { quantizeValue } from './quantize.js';

/** Elements per block of the MSE sums (see the module documentation). */
export const MSE_BLOCK = 1024;

const kMinNormal = 2 ** -126;

/** Per output, the winning candidate, its error sum and the error sum of candidate 0 (alpha = 1). */
export interface MseSearchResult {
  picks: Uint32Array;
  best: Float32Array;
  first: Float32Array;
}

/** The squared error of quantizing `x` with one candidate's parameters (see the module documentation). */
function squaredError(x: number, inverseScale: number, scale: number, zeroPoint32: number, range: QuantRange): number {
  // q as a float32, as the GPU holds it: qint32's qmax 2147483647 becomes 2^31.
  const q = Math.fround(quantizeValue(x, inverseScale, zeroPoint32, range.qmin, range.qmax));
  const dequantized = Math.fround(Math.fround(q - zeroPoint32) * scale);
  const error = Math.fround(x - dequantized);
  const square = Math.fround(error * error);
  return square < kMinNormal ? 0 : square;
}

/**
 * The MSE search over every output of `layout`: for each, the candidate ranges [alpha * min, alpha * max]
 * for alpha in `clipRatios`, with their error sums in the block order above.
 *
 * @example
 * ```ts
 * const layout = reductionLayout([4], 'per_tensor');
 * mseSearchOfLayout(new Float32Array([-1, 0, 0.1, 9]), layout, Float32Array.of(-1), Float32Array.of(9),
 *   { qmin: -8, qmax: 7, symmetricZeroPoint: 0 }, true, mseClipRatios(100, 0.2)).picks; // Uint32Array [0]
 * ```
 */
export function mseSearchOfLayout(
  data: Float32Array, layout: ReductionLayout, mins: Float32Array, maxs: Float32Array, range: QuantRange,
  symmetric: boolean, clipRatios: Float32Array,
): MseSearchResult {
  const picks = new Uint32Array(layout.outputs);
  const best = new Float32Array(layout.outputs);
  const first = new Float32Array(layout.outputs);
  for (let w = 0; w < layout.outputs; w++) {
    const length = outputLength(layout, w);
    for (let c = 0; c < clipRatios.length; c++) {
      const alpha = clipRatios[c]!;
      const { scale, zeroPoint } = qparamsFromMinMax(Math.fround(alpha * mins[w]!), Math.fround(alpha * maxs[w]!), range, symmetric);
      const inverseScale = Math.fround(1 / scale);
      const zeroPoint32 = Math.fround(zeroPoint);
      let total = 0;
      let block = 0;
      for (let j = 0; j < length; j++) {
        if (j > 0 && j % MSE_BLOCK === 0) {
          total = Math.fround(total + block);
          block = 0;
        }
        block = Math.fround(block + squaredError(data[elementIndex(layout, w, j)]!, inverseScale, scale, zeroPoint32, range));
      }
      total = Math.fround(total + block);
      if (c === 0) {
        first[w] = total;
        best[w] = total;
      } else if (total < best[w]!) {
        best[w] = total;
        picks[w] = c;
      }
    }
  }
  return { picks, best, first };
}

/**
 * Per output, the clipping range of the percentile rule above (and the first NaN, which stops it).
 *
 * @example
 * ```ts
 * percentileRangesOfLayout(new Float32Array([1, 2, 3, 100]), reductionLayout([4], 'per_tensor'), 75, false);
 * // { mins: Float32Array [2], maxs: Float32Array [3], firstNaN: -1 }
 * ```
 */
export function percentileRangesOfLayout(data: Float32Array, layout: ReductionLayout, percentile: number, symmetric: boolean): MinMaxResult {
  const mins = new Float32Array(layout.outputs);
  const maxs = new Float32Array(layout.outputs);
  let firstNaN = -1;
  for (let w = 0; w < layout.outputs; w++) {
    const length = outputLength(layout, w);
    const values = new Float32Array(length);
    for (let j = 0; j < length; j++) {
      const index = elementIndex(layout, w, j);
      const x = data[index]!;
      if (Number.isNaN(x) && (firstNaN < 0 || index < firstNaN)) firstNaN = index;
      values[j] = symmetric ? Math.abs(x) : x;
    }
    values.sort();
    const rank = Math.min(length, Math.max(1, Math.ceil((percentile / 100) * length - 1e-9)));
    maxs[w] = values[rank - 1]!;
    mins[w] = symmetric ? -values[rank - 1]! : values[length - rank]!;
  }
  return { mins, maxs, firstNaN };
}

/**
 * Scales and zero points from per-output ranges, each range optionally narrowed by a clip ratio; checks
 * every range is finite and its scale representable. Into `into`'s arrays where given (one value per output).
 *
 * @example
 * ```ts
 * paramsFromRanges(Float32Array.of(-1), Float32Array.of(3), resolveCalibrationSpec([2], { dtype: 'quint8' }), 'x');
 * // { scales: Float32Array [0.015686275], zeroPoints: Int32Array [64] }
 * ```
 */
export function paramsFromRanges(
  mins: Float32Array, maxs: Float32Array, resolved: ResolvedCalibration, argument: string, ratios?: Float32Array,
  into?: { scales: Float32Array; zeroPoints: Int32Array },
): OutputParams {
  const { layout, range, symmetric } = resolved;
  const scales = into?.scales ?? new Float32Array(layout.outputs);
  const zeroPoints = into?.zeroPoints ?? new Int32Array(layout.outputs);
  for (let w = 0; w < layout.outputs; w++) {
    const alpha = ratios ? ratios[w]! : 1;
    const params = qparamsFromMinMax(Math.fround(alpha * mins[w]!), Math.fround(alpha * maxs[w]!), range, symmetric);
    checkRange(mins[w]!, maxs[w]!, params.scale, layout, w, argument);
    scales[w] = params.scale;
    zeroPoints[w] = params.zeroPoint;
  }
  return { scales, zeroPoints };
}

/**
 * Turns an MSE search into parameters and the report (MSE = error sum / element count).
 *
 * @example
 * ```ts
 * const search = mseSearchOfLayout(x.data, resolved.layout, mins, maxs, resolved.range, resolved.symmetric, resolved.clipRatios);
 * paramsFromSearch(mins, maxs, resolved, search, 'x').search?.clipRatios;
 * ```
 */
export function paramsFromSearch(
  mins: Float32Array, maxs: Float32Array, resolved: ResolvedCalibration, search: MseSearchResult, argument: string,
): OutputParams {
  const { layout, clipRatios } = resolved;
  const chosen = new Float32Array(layout.outputs);
  const mse = new Float64Array(layout.outputs);
  const minmaxMse = new Float64Array(layout.outputs);
  for (let w = 0; w < layout.outputs; w++) {
    const length = outputLength(layout, w);
    chosen[w] = clipRatios[search.picks[w]!]!;
    mse[w] = search.best[w]! / length;
    minmaxMse[w] = search.first[w]! / length;
  }
  return { ...paramsFromRanges(mins, maxs, resolved, argument, chosen), search: { clipRatios: chosen, mse, minmaxMse } };
}

/**
 * The whole CPU calibration of `data` for `resolved`.
 *
 * @example
 * ```ts
 * calibrateOfLayout(x.data, resolveCalibrationSpec(x.shape, { dtype: 'qint8', method: 'mse' }), 'x');
 * ```
 */
export function calibrateOfLayout(data: Float32Array, resolved: ResolvedCalibration, argument: string): OutputParams {
  const { layout, method } = resolved;
  if (method === 'percentile') {
    const clip = percentileRangesOfLayout(data, layout, resolved.percentile, resolved.symmetric);
    throwIfNaN(clip.firstNaN, argument);
    return paramsFromRanges(clip.mins, clip.maxs, resolved, argument);
  }
  const { mins, maxs, firstNaN } = minMaxOfLayout(data, layout);
  throwIfNaN(firstNaN, argument);
  if (method === 'minmax') return paramsFromRanges(mins, maxs, resolved, argument);
  paramsFromRanges(mins, maxs, resolved, argument); // the range checks, before the search
  if (method === 'lsq') {
    return paramsFromLsq(resolved, lsqSearchOfLayout(data, layout, mins, maxs, resolved.range, resolved.symmetric, resolved.clipRatios, resolved.signedExtreme));
  }
  const search = mseSearchOfLayout(data, layout, mins, maxs, resolved.range, resolved.symmetric, resolved.clipRatios);
  return paramsFromSearch(mins, maxs, resolved, search, argument);
}

/**
 * Rejects an empty tensor: there is nothing to calibrate from.
 *
 * @example
 * ```ts
 * checkNotEmpty(tensor([], [0, 3]), 'x'); // throws InvalidArgumentError: x is empty ...
 * ```
 */
export function checkNotEmpty(x: Tensor, argument: string): void {
  if (x.data.length === 0) {
    throw new InvalidArgumentError(argument, x, `${argument} is empty (shape [${x.shape.join(', ')}]); calibrate on data with elements`);
  }
}

/**
 * CPU reference of `chooseQParams`: same arguments (minus options), synchronous, `backend: 'cpu'`.
 *
 * @example
 * ```ts
 * const p = reference.chooseQParams(w, { dtype: 'qint8', granularity: { axis: 0 }, symmetric: true, method: 'mse' });
 * p.scales; p.zeroPoints; p.search?.clipRatios;
 * ```
 */
export function chooseQParams(x: Tensor, spec: CalibrationSpec): CalibrationResult {
  checkTensor(x, 'x');
  const resolved = resolveCalibrationSpec(x.shape, spec);
  checkNotEmpty(x, 'x');
  return shapeCalibration(resolved, calibrateOfLayout(x.data, resolved, 'x'), 'cpu');
}
