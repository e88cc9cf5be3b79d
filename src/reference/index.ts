/**
 * The CPU reference path: synchronous, same signatures as the GPU operations (minus options), written
 * for obviousness. Every GPU result is tested against it.
 *
 * @example
 * ```ts
 * import { reference, tensor } from 'webgpu-quant';
 * reference.quantizePerTensor(tensor([0.5, 1.5, 2.5]), 1, 0, 'qint8').intRepr(); // Int8Array [0, 2, 2]
 * ```
 * @module
 */
export { dequantize } from './dequantize.js';
export { fakeQuantizePerChannelAffine, fakeQuantizePerTensorAffine, fakeQuantizeWithParams } from './fake-quantize.js';
export { forEachParam, quantizePerChannel, quantizePerGroup, quantizePerTensor, quantizeValue, quantizeWithParams } from './quantize.js';
export { roundHalfEven } from '../round.js';
export { errorStats } from './error-stats.js';
export { MSE_BLOCK, chooseQParams, mseSearchOfLayout, percentileRangesOfLayout } from './calibration.js';
export { lsqSearchOfLayout } from './lsq-search.js';
export { type MinMaxResult, minMaxReduce } from './minmax.js';
export { FLOAT32_EPS, type QuantRange, qparamsFromMinMax } from '../calibration/qparams.js';
