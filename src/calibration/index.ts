/**
 * Re-exports of src/calibration/: `chooseQParams` (min/max, MSE search or percentile clipping, per tensor,
 * per channel or per group) and its types.
 *
 * @example
 * ```ts
 * import { chooseQParams } from 'webgpu-quant';
 * const p = await chooseQParams(w, { dtype: 'qint8', granularity: { axis: 0 }, symmetric: true, method: 'mse' });
 * ```
 * @module
 */
export { chooseQParams } from './choose-qparams.js';
export type { Granularity } from './granularity.js';
export type {
  CalibrationResult, MseSearchReport, PerChannelCalibration, PerGroupCalibration, PerTensorCalibration,
} from './result.js';
export { type CalibrationMethod, type CalibrationSpec, lsqClipRatios, mseClipRatios } from './spec.js';
