/**
 * What `chooseQParams` returns: parameters in the form the quantize functions take, plus which backend ran
 * and, for 'mse', the search's report (chosen clip ratio and mean squared error per output, and the error
 * min/max would have had).
 *
 * @example
 * ```ts
 * const p = await chooseQParams(w, { dtype: 'qint8', granularity: { axis: 0 }, symmetric: true, method: 'mse' });
 * await quantizePerChannel(w, p.scales, p.zeroPoints, p.axis, 'qint8');
 * p.search?.clipRatios; // Float32Array, 1 where min/max was best
 * ```
 * @module
 */
import type { ResolvedBackend } from '../tensor.js';
import type { ResolvedCalibration } from './spec.js';

/** The 'mse' method's per-output report. MSEs are the float32 error sums (fixed order) over the element count. */
export interface MseSearchReport {
  /** The chosen clip ratio alpha (the range is [alpha * min, alpha * max]); 1 means min/max. */
  clipRatios: Float32Array;
  /** Mean squared quantization error with the chosen parameters. */
  mse: Float64Array;
  /** Mean squared quantization error with the min/max parameters (alpha = 1): never below `mse`. */
  minmaxMse: Float64Array;
}

/** Per-tensor parameters, as `quantizePerTensor(x, scale, zeroPoint, dtype)` takes them. */
export interface PerTensorCalibration {
  scale: number;
  zeroPoint: number;
  backend: ResolvedBackend;
  search?: MseSearchReport;
}

/** Per-channel parameters, as `quantizePerChannel(x, scales, zeroPoints, axis, dtype)` takes them. */
export interface PerChannelCalibration {
  scales: Float32Array;
  zeroPoints: Int32Array;
  axis: number;
  backend: ResolvedBackend;
  search?: MseSearchReport;
}

/** Per-group parameters (ONNX `block_size` layout), as `quantizePerGroup(x, scales, zeroPoints, axis, groupSize, dtype)` takes them. */
export interface PerGroupCalibration extends PerChannelCalibration {
  groupSize: number;
}

/** Any calibration result. */
export type CalibrationResult = PerTensorCalibration | PerChannelCalibration | PerGroupCalibration;

/** Scales and zero points per output, in parameter order, before they are shaped for the granularity. */
export interface OutputParams {
  scales: Float32Array;
  zeroPoints: Int32Array;
  search?: MseSearchReport;
}

/**
 * Shapes per-output parameters for the granularity of `resolved`.
 *
 * @example
 * ```ts
 * shapeCalibration(resolveCalibrationSpec([4], { dtype: 'qint8' }), { scales: Float32Array.of(0.5), zeroPoints: Int32Array.of(0) }, 'cpu');
 * // { scale: 0.5, zeroPoint: 0, backend: 'cpu' }
 * ```
 */
export function shapeCalibration(resolved: ResolvedCalibration, params: OutputParams, backend: ResolvedBackend): CalibrationResult {
  const { layout } = resolved;
  const search = params.search ? { search: params.search } : {};
  if (layout.axis === undefined) {
    return { scale: params.scales[0]!, zeroPoint: params.zeroPoints[0]!, backend, ...search };
  }
  const channel = { scales: params.scales, zeroPoints: params.zeroPoints, axis: layout.axis, backend, ...search };
  return layout.family === 'group' ? { ...channel, groupSize: layout.groupSize } : channel;
}
