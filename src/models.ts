/**
 * webgpu-quant/models: model files and model compression. safetensors in and out (a validating,
 * random-access reader over memory, `Blob`/`File` or Node files; sharded checkpoints; a streaming writer;
 * the "webgpu-quant/1" layout for quantized tensors), ONNX in and out (`OnnxModel`, QDQ reading, opset
 * upgrade), GGUF out and in (Q8_0 / Q4_0 blocks as ggml's reference quantizer makes them, `readGguf`),
 * `compressOnnx` / `compressToSafetensors` / `compressToGguf` with their policy and reports, and `verifyModels`,
 * which runs the original and the compressed model in onnxruntime and compares their outputs.
 *
 * @example
 * ```ts
 * import { OnnxModel, compressOnnx } from 'webgpu-quant/models';
 * const bytes = new Uint8Array(await (await fetch('model.onnx')).arrayBuffer());
 * (await OnnxModel.load(bytes)).list().map((w) => [w.name, w.dtype, w.shape]);
 * const { model, report } = await compressOnnx(bytes);  // model: the QDQ ONNX file's bytes
 * ```
 * @module
 */
/// <reference types="@webgpu/types" preserve="true" />

// Weights as every reader lists them, and float conversions.
export { FLOAT_WEIGHT_DTYPES, type WeightDType, type WeightInfo, type WeightReader } from './io/weights.js';
export { halfToFloat, toFloat32 } from './io/float-convert.js';
export { floatToHalfBits } from './io/half.js';
export { type ByteSource, blobSource, bytesSource } from './io/byte-source.js';

// safetensors.
export { SAFETENSORS_DTYPES, type SafetensorsDType } from './io/safetensors/dtypes.js';
export type { SafetensorsEntry, SafetensorsMetadata } from './io/safetensors/header-encode.js';
export {
  DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_TENSORS, MAX_HEADER_BYTES, type SafetensorsHeader, type SafetensorsTensorInfo,
} from './io/safetensors/header-parse.js';
export { type OpenSafetensorsOptions, type SafetensorsReader, openSafetensors } from './io/safetensors/reader.js';
export {
  type ShardIndex, type ShardedSafetensorsReader, type ShardedTensorInfo, openShardedSafetensors, parseShardIndex,
} from './io/safetensors/sharded.js';
export { type NodeFileSink, type NodeFileSinkOptions, nodeFileSink } from './io/safetensors/node-file-sink.js';
export { type NodeFileSource, nodeFileSource, readFileRange } from './io/safetensors/node-file-source.js';
export { type FileRange, fileRangeOf } from './io/byte-source.js';
export { openSafetensorsFile, openShardedSafetensorsFiles } from './io/safetensors/node-open.js';
export { type DequantizedReader, dequantizedReader } from './io/safetensors/dequantized-reader.js';
export { type LoadQuantizedOptions, loadQuantizedSafetensors } from './io/safetensors/gpu-load.js';
export { type ByteSink, type MemorySink, memorySink, writableStreamSink } from './io/safetensors/sinks.js';
export {
  type SafetensorsTensor, type SafetensorsWriter, createSafetensorsWriter, serializeSafetensors, writeSafetensors,
} from './io/safetensors/writer.js';
export {
  QUANTIZED_FORMAT, QUANTIZED_METADATA_PREFIX, type QuantizedEntriesOptions, type QuantizedLayout,
  type QuantizedTensorMetadata, type SafetensorsTensorEntry, paramShape, quantizedEntries, quantizedFileMetadata,
  quantizedLayout, quantizedTensorBytes,
} from './io/safetensors/quantized-layout.js';
export {
  type QuantizedSource, type QuantizedTensorDescription, describeQuantized, readQuantizedSafetensors, readQuantizedTensor,
  storedQuantizedTensor,
} from './io/safetensors/quantized-read.js';

// ONNX.
export type { ByteInput } from './io/onnx/byte-source.js';
export { type OnnxLoadOptions, OnnxModel, type OnnxWeightInfo, type OpsetImport } from './io/onnx/onnx-model.js';
export type { ExternalDataResolver, OnnxConsumer } from './io/onnx/onnx-types.js';
export { type ContribWeights, describeContribWeights, readContribWeights } from './io/onnx/contrib-read.js';
export { describeQdqWeights, readQdqWeights } from './io/onnx/qdq-read.js';
export { type StoredQuantizedWeight, loadStoredWeights, packedByteLength } from './io/stored-quantized.js';

// GGUF (ggml's format: llama.cpp and the tools built on it).
export {
  GGML_BLOCK_SIZE, Q4_0_BLOCK_BYTES, Q8_0_BLOCK_BYTES, dequantizeRowQ4_0, dequantizeRowQ8_0, quantizeRowQ4_0, quantizeRowQ8_0,
} from './io/gguf/ggml-blocks.js';
export { type GgmlType, type GgmlTypeInfo, ggmlTensorBytes, ggmlTypeInfo } from './io/gguf/ggml-types.js';
export { type GgufFile, type GgufTensorInfo, type GgufValue, ggmlToFloat32, ggufTensorFloat32, readGguf } from './io/gguf/reader.js';
export { GGUF_MAX_HEADER_BYTES, type GgufSourceFile, openGguf } from './io/gguf/open-gguf.js';
export { type GgufMetadataEntry, type GgufTensorPlan, type GgufWriter, createGgufWriter, encodeGgufHeader } from './io/gguf/writer.js';

// Compression.
export { type CompressOnnxOptions, type OnnxCompressionReport, ONNX_METADATA_KEY, compressOnnx } from './compress/compress-onnx.js';
export { type CompressSafetensorsOptions, type SafetensorsCompressionReport, compressToSafetensors } from './compress/compress-safetensors.js';
export { type CpuWorkerPool, type CpuWorkerPoolOptions, createCpuWorkerPool } from './compress/cpu-worker-pool.js';
export type { CpuTaskArgs, CpuTaskName, CpuTaskResults, PlannedWeight } from './compress/cpu-worker-tasks.js';
export {
  type CompressToGgufOptions, type GgufCompressionReport, type GgufTensorReport, compressToGguf,
} from './compress/compress-gguf.js';
export { GGUF_SCHEMES, ggufSchemeProblem } from './compress/gguf-scheme.js';
export {
  type CompressDType, type CompressGranularity, type CompressionPolicy, type PolicyConsumer, type PolicyOverride, type PolicyWeight,
  type QuantizeSettings, type ResolvedRange, type WeightDecision, type WeightRange, DEFAULT_MIN_SQNR_DB, checkPolicy, decideWeight,
  decideWeights, floorOf, resolveRange,
} from './compress/policy.js';
export {
  type EscalationStep, type FloorOutcome, type SchemeMeasurement, escalationOf, measureScheme, quantizeWithFloor, shortScheme,
} from './compress/quality-floor.js';
export { type ConsumerRole, combineRoles, consumerRole } from './compress/operator-axes.js';
export { type OnnxPlan, planOnnxCompression, requiredOpsetFor } from './compress/onnx-plan.js';
export { type MatMulNBitsLayout, type OnnxOps, columnBlockSize, matMulNBitsLayout } from './compress/matmul-nbits-plan.js';
export { type GatherBlockLayout, gatherBlockLayout } from './compress/gather-block-plan.js';
export { type ContribLayout, contribLayout } from './compress/contrib-layout.js';
export {
  TRANSFORMERS_JS_Q4_BLOCK, TRANSFORMERS_JS_SUFFIX, type TransformersJsDtype, type TransformersJsVariant, transformersJsFileName, transformersJsVariants,
} from './compress/transformers-js.js';
export { AUTO_GPU_MIN_ELEMENTS, type QuantizeWeightOptions, type QuantizedWeight, type UnquantizableWeight, autoCrossover, quantizeWeight } from './compress/quantize-weight.js';
export { type CompressionTotals, type TensorReport, compressionTotals, describeScheme } from './compress/compress-report.js';
export { WEBGPU_QUANT_VERSION } from './compress/version.js';
export {
  type BudgetAllocation, type BudgetFormat, type BudgetOption, type BudgetOptionName, type OutputErrorProbe, type TensorAllocation, allocateBudget,
  checkTargetBits, storedBits,
} from './compress/budget.js';
export { type MeasuredOptions, budgetOptionDecisions, measureOptions } from './compress/budget-measure.js';
export { budgetOnPool } from './compress/budget-pool.js';

// Verification in onnxruntime (the caller passes onnxruntime-web or onnxruntime-node).
export { DEFAULT_MIN_ARGMAX_AGREEMENT, DEFAULT_MIN_COSINE, MIN_ARGMAX_ROWS, type VerifyOptions, type VerifyReport, verifyModels } from './verify/verify-models.js';
export { OutputAccumulator, type OutputComparison } from './verify/output-metrics.js';
export {
  type DeclaredDim, type ModelSignature, type ValueSignature, describeValue, readModelSignature, signatureDifferences,
} from './verify/model-signature.js';
export { DEFAULT_DYNAMIC_SIZE, DEFAULT_SEEDS, type GenerateOptions, generateSamples, resolveInputDims } from './verify/input-samples.js';
export { checkSample, parseInputSamples } from './verify/input-files.js';
export { parseNpy } from './verify/npy.js';
export { type OutputErrorProbeOptions, type ProbeOutputs, outputErrorProbe } from './verify/output-error-probe.js';
export {
  type OnnxRuntimeLike, type RuntimeSession, type RuntimeTensor, type Sample, type SampleData, type SampleDType, type SampleTensor,
} from './verify/runtime.js';
export { MissingDependencyError, WorkerError } from './errors.js';
