/**
 * webgpu-quant: PyTorch-exact quantization and dequantization on the GPU with WebGPU.
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
export { type Backend, type OpOptions, getBackend } from './backend.js';
export { dequantize } from './dequantize.js';
export { type DTypeInfo, type IntReprArray, type QDType, QDTYPES, dtypeInfo } from './dtype.js';
export {
  DeviceLostError, FormatError, GpuExecutionError, InvalidArgumentError, LimitExceededError, WebGpuQuantError,
  WebGpuUnavailableError,
} from './errors.js';
export { type BufferPoolStats } from './gpu/buffer-pool.js';
export { type GpuFeatures, GpuManager, type GpuManagerOptions, getDefaultManager, managerForDevice } from './gpu/device.js';
export { type PerChannelParams, type PerGroupParams, type PerTensorParams, type QScheme, QTensor, fromIntRepr } from './qtensor.js';
export { quantizePerChannel, quantizePerGroup, quantizePerTensor } from './quantize.js';
export { fakeQuantizePerChannelAffine, fakeQuantizePerTensorAffine } from './fake-quantize.js';
export { packNibbles, unpackNibbles } from './pack-nibbles.js';
export * as reference from './reference/index.js';
export { type ResolvedBackend, type Tensor, tensor } from './tensor.js';
export * from './calibration/index.js';
export * from './observers/index.js';
export * from './stats/index.js';
export * from './io/safetensors/index.js';
export { type WeightDType, type WeightInfo, type WeightReader, FLOAT_WEIGHT_DTYPES } from './io/weights.js';
export { halfToFloat, toFloat32 } from './io/float-convert.js';
export * from './io/onnx/index.js';
export { type CompressOnnxOptions, type OnnxCompressionReport, ONNX_METADATA_KEY, compressOnnx } from './compress/compress-onnx.js';
export {
  type CompressDType, type CompressGranularity, type CompressionPolicy, type PolicyConsumer, type PolicyOverride, type PolicyWeight,
  type QuantizeSettings, type WeightDecision, checkPolicy, decideWeight, decideWeights,
} from './compress/policy.js';
export { type ConsumerRole, combineRoles, consumerRole } from './compress/operator-axes.js';
export { type OnnxPlan, planOnnxCompression, requiredOpsetFor } from './compress/onnx-plan.js';
export { AUTO_GPU_MIN_ELEMENTS, type QuantizeWeightOptions, type QuantizedWeight, type UnquantizableWeight, quantizeWeight } from './compress/quantize-weight.js';
export { type CompressionTotals, type TensorReport, compressionTotals, describeScheme } from './compress/compress-report.js';
export { WEBGPU_QUANT_VERSION } from './compress/version.js';
export {
  type BudgetAllocation, type BudgetOption, type BudgetOptionName, type TensorAllocation, allocateBudget, checkTargetBits, storedBits,
} from './compress/budget.js';
export { type SafetensorsCompressionReport, compressToSafetensors } from './compress/compress-safetensors.js';
