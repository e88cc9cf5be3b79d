/**
 * End-task verification of a compressed ONNX model in onnxruntime: both models on the same inputs (the
 * caller's, or generated), every output compared, a pass criterion. The runtime is passed in, so the same
 * code runs with `onnxruntime-web` in the browser and `onnxruntime-node` in Node.
 *
 * @example
 * ```ts
 * import * as ort from 'onnxruntime-web';
 * import { verifyModels } from 'webgpu-quant';
 * const report = await verifyModels(originalBytes, compressedBytes, { runtime: ort, minCosine: 0.995 });
 * ```
 * @module
 */
export { DEFAULT_DYNAMIC_SIZE, DEFAULT_SEEDS, type GenerateOptions, generateSamples, resolveInputDims } from './input-samples.js';
export { checkSample, parseInputSamples } from './input-files.js';
export {
  type DeclaredDim, type ModelSignature, type ValueSignature, describeValue, readModelSignature, signatureDifferences,
} from './model-signature.js';
export { parseNpy } from './npy.js';
export { OutputAccumulator, type OutputComparison } from './output-metrics.js';
export {
  type OnnxRuntimeLike, type RuntimeSession, type RuntimeTensor, type Sample, type SampleData, type SampleDType, type SampleTensor,
} from './runtime.js';
export { DEFAULT_MIN_COSINE, type VerifyOptions, type VerifyReport, verifyModels } from './verify-models.js';
