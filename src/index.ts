/**
 * webgpu-quant: PyTorch-exact quantization and dequantization on the GPU with WebGPU, with a CPU reference
 * path that gives the same bits. Model files (safetensors, ONNX) and model compression are in
 * `webgpu-quant/models`.
 *
 * @example
 * ```ts
 * import { tensor, quantizePerTensor, dequantize } from 'webgpu-quant';
 * const q = await quantizePerTensor(tensor([-1.52, 0.01, 1.501, 3.0001]), 0.5, 0, 'qint8');
 * q.intRepr();                 // Int8Array [-3, 0, 3, 6]
 * (await dequantize(q)).data;  // Float32Array [-1.5, 0, 1.5, 3]
 * ```
 * @module
 */
/// <reference types="@webgpu/types" preserve="true" />

// Tensors and dtypes.
export {
  type GpuFloatDType, type GpuTensor, type GpuTensorOptions, type ResolvedBackend, type Tensor, gpuTensor, isGpuTensor, tensor,
} from './tensor.js';
export { type DTypeInfo, type IntReprArray, type QDType, QDTYPES, dtypeInfo } from './dtype.js';
export { type PerChannelParams, type PerGroupParams, type PerTensorParams, type QScheme, QTensor, fromIntRepr } from './qtensor.js';
export { packNibbles, unpackNibbles } from './pack-nibbles.js';

// Operations.
export { type Backend, type OpOptions, getBackend } from './ops/backend.js';
export { type QuantizeOptions, quantizePerChannel, quantizePerGroup, quantizePerTensor } from './ops/quantize.js';
export { type DequantizeToGpuOptions, dequantize } from './ops/dequantize.js';
export { fakeQuantizePerChannelAffine, fakeQuantizePerTensorAffine } from './ops/fake-quantize.js';
export { chooseQParams } from './ops/choose-qparams.js';
export { errorStats } from './ops/error-stats.js';

// Calibration and error statistics: the types of their arguments and results.
export type { Granularity } from './calibration/granularity.js';
export type { QuantRangeOptions } from './calibration/quant-range.js';
export type {
  CalibrationResult, MseSearchReport, PerChannelCalibration, PerGroupCalibration, PerTensorCalibration,
} from './calibration/result.js';
export { type CalibrationMethod, type CalibrationSpec, lsqClipRatios, mseClipRatios } from './calibration/spec.js';
export type { ErrorStats, ErrorStatsOptions, ErrorStatsPerGroup, ErrorStatsPerIndex, ErrorStatsSummary } from './stats/types.js';

// PyTorch's observers.
export { type MinMaxObserverOptions, MinMaxObserver, type PerTensorQScheme } from './observers/min-max-observer.js';
export { MovingAverageMinMaxObserver, type MovingAverageMinMaxObserverOptions } from './observers/moving-average-min-max-observer.js';
export {
  MovingAveragePerChannelMinMaxObserver, type MovingAveragePerChannelMinMaxObserverOptions,
} from './observers/moving-average-per-channel-min-max-observer.js';
export type { BaseObserverOptions } from './observers/observer-options.js';
export {
  PerChannelMinMaxObserver, type PerChannelMinMaxObserverOptions, type PerChannelQScheme,
} from './observers/per-channel-min-max-observer.js';
export { PerGroupMinMaxObserver, type PerGroupMinMaxObserverOptions, type PerGroupQScheme } from './observers/per-group-min-max-observer.js';

// The CPU reference path, as a namespace: `reference.quantizePerTensor(...)`.
export * as reference from './reference/index.js';

// Devices and errors.
export { type BufferPoolStats } from './gpu/buffer-pool.js';
export { type GpuFeatures, GpuManager, type GpuManagerOptions, getDefaultManager, managerForDevice } from './gpu/device.js';
export {
  DataOnGpuError, DeviceLostError, FormatError, GpuExecutionError, InvalidArgumentError, LimitExceededError, WebGpuQuantError,
  WebGpuUnavailableError,
} from './errors.js';
