/**
 * `chooseQParams`: scales and zero points calibrated from data, per tensor, per channel or per group, by
 * min/max, by an MSE search over clipping ranges, by percentile clipping, or by a least-squares refit of
 * candidate scales ('lsq'). 'minmax', 'mse' and 'lsq' run on the GPU when the options select it (min/max
 * reductions, then kernels evaluating every candidate of every output); 'percentile' selects on the CPU. Results equal the CPU reference (`reference.chooseQParams`)
 * bit for bit. See src/reference/calibration.ts for the exact rules.
 *
 * @example
 * ```ts
 * import { chooseQParams, quantizePerGroup } from 'webgpu-quant';
 * const p = await chooseQParams(w, { dtype: 'qint4', granularity: { axis: 1, groupSize: 32 }, symmetric: true, method: 'mse' });
 * const q = await quantizePerGroup(w, p.scales, p.zeroPoints, p.axis, p.groupSize, 'qint4');
 * ```
 * @module
 */
import { type OpOptions, selectManager } from './backend.js';
import { lsqSearchKernel } from '../kernels/calibration/lsq-kernel.js';
import { mseSearchKernel } from '../kernels/calibration/mse-kernel.js';
import { minMaxKernel } from '../kernels/calibration/minmax-kernel.js';
import { cpuMinMax } from '../kernels/cpu/cpu-minmax.js';
import { checkNotEmpty, paramsFromRanges, paramsFromSearch } from '../reference/calibration.js';
import { cpuLsqSearch } from '../kernels/cpu/cpu-lsq-search.js';
import { cpuMseSearch } from '../kernels/cpu/cpu-mse-search.js';
import { cpuPercentileRanges } from '../kernels/cpu/cpu-percentile.js';
import { paramsFromLsq } from '../reference/lsq-search.js';
import { type Tensor, checkTensor } from '../tensor.js';
import { throwIfNaN } from '../calibration/checks.js';
import {
  type CalibrationResult, type OutputParams, type PerChannelCalibration, type PerGroupCalibration, type PerTensorCalibration,
  shapeCalibration,
} from '../calibration/result.js';
import { type CalibrationSpec, resolveCalibrationSpec } from '../calibration/spec.js';

/**
 * Chooses quantization parameters for `x` (see the module documentation). The result has the form the
 * quantize functions take: `{ scale, zeroPoint }` per tensor, `{ scales, zeroPoints, axis }` per channel,
 * `{ scales, zeroPoints, axis, groupSize }` per group (ONNX `block_size` layout), plus `backend` and, for
 * 'mse', `search` (chosen clip ratios and MSEs). NaN, ±Infinity or an empty `x` are InvalidArgumentErrors.
 *
 * - 'minmax': PyTorch's MinMaxObserver / PerChannelMinMaxObserver formulas on each output's range.
 * - 'mse': ranges [alpha * min, alpha * max] for alpha = 1 down to `mseMinRatio` (default 100 steps to 0.2);
 *   the one with the smallest squared quantization error wins, ties to the larger alpha, so never worse
 *   than 'minmax'.
 * - 'percentile': clips at the `percentile` (default 99.99) of |x| (symmetric) or of x at both tails
 *   (affine), nearest rank.
 * - 'lsq' (8-bit and 4-bit dtypes): for 40 candidate ranges [alpha * min, alpha * max], alpha = 1 then 1.2
 *   down to 0.5, the observer parameters and a least-squares refit of the scale (affine: and of the zero
 *   point, plus Q4_0's signed-extreme parameters as one more candidate); the pair with the smallest squared
 *   error wins, so never worse than 'minmax'. `signedExtreme: true` (affine) also searches Q4_0's grid and
 *   keeps a shifted zero point only where it clearly pays: never worse than Q4_0, and what compression uses
 *   for int4 groups, 25-38 % below Q4_0's weight MSE on real models (docs/calibration.md).
 *
 * @example
 * ```ts
 * const p = await chooseQParams(tensor([-1, 0.5, 2, 8]), { dtype: 'quint8' });
 * p.scale; p.zeroPoint; // 0.035294119…, 28
 * const c = await chooseQParams(w, { dtype: 'qint8', granularity: { axis: 0 }, symmetric: true, method: 'mse' });
 * const g = await chooseQParams(w, { dtype: 'qint4', granularity: { axis: 1, groupSize: 32 }, method: 'lsq', signedExtreme: true });
 * await quantizePerChannel(w, c.scales, c.zeroPoints, c.axis, 'qint8');
 * ```
 */
export function chooseQParams(x: Tensor, spec: CalibrationSpec & { granularity?: 'per_tensor' }, options?: OpOptions): Promise<PerTensorCalibration>;
export function chooseQParams(
  x: Tensor, spec: CalibrationSpec & { granularity: { axis: number; groupSize: number } }, options?: OpOptions): Promise<PerGroupCalibration>;
export function chooseQParams(x: Tensor, spec: CalibrationSpec & { granularity: { axis: number } }, options?: OpOptions): Promise<PerChannelCalibration>;
export function chooseQParams(x: Tensor, spec: CalibrationSpec, options?: OpOptions): Promise<CalibrationResult>;
export async function chooseQParams(x: Tensor, spec: CalibrationSpec, options?: OpOptions): Promise<CalibrationResult> {
  checkTensor(x, 'x');
  const resolved = resolveCalibrationSpec(x.shape, spec);
  checkNotEmpty(x, 'x');
  const manager = await selectManager(options);
  if (resolved.method === 'percentile') {
    const clip = cpuPercentileRanges(x.data, resolved.layout, resolved.percentile, resolved.symmetric);
    throwIfNaN(clip.firstNaN, 'x');
    return shapeCalibration(resolved, paramsFromRanges(clip.mins, clip.maxs, resolved, 'x'), 'cpu');
  }
  const { layout } = resolved;
  const { mins, maxs, firstNaN } = manager ? await minMaxKernel(manager, x.data, layout, options ?? {}) : cpuMinMax(x.data, layout);
  throwIfNaN(firstNaN, 'x');
  let params: OutputParams = paramsFromRanges(mins, maxs, resolved, 'x');
  if (resolved.method === 'mse') {
    const search = manager
      ? await mseSearchKernel(manager, x.data, layout, mins, maxs, resolved, options ?? {})
      : cpuMseSearch(x.data, layout, mins, maxs, resolved.range, resolved.symmetric, resolved.clipRatios);
    params = paramsFromSearch(mins, maxs, resolved, search, 'x');
  } else if (resolved.method === 'lsq') {
    params = paramsFromLsq(resolved, manager
      ? await lsqSearchKernel(manager, x.data, layout, mins, maxs, resolved, options ?? {})
      : cpuLsqSearch(x.data, layout, mins, maxs, resolved.range, resolved.symmetric, resolved.clipRatios, resolved.signedExtreme));
  }
  return shapeCalibration(resolved, params, manager ? 'webgpu' : 'cpu');
}
