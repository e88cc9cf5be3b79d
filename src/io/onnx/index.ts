/**
 * ONNX in and out: `OnnxModel` (decode with onnx-proto; weights from initializers, typed fields, Constant
 * nodes, external data and subgraphs, each with its consumers), the QDQ writer, and the opset upgrade
 * that checks the rest of the graph keeps its meaning.
 *
 * @example
 * ```ts
 * import { OnnxModel } from 'webgpu-quant';
 * const model = await OnnxModel.load(fileFromPicker, { externalData: (location) => otherFiles.get(location) });
 * model.list().filter((w) => w.dtype === 'float32').map((w) => [w.name, w.shape, w.consumers[0]?.opType]);
 * ```
 * @module
 */
export { type ByteInput, MAX_PROTOBUF_BYTES, readAllBytes, readByteRange } from './byte-source.js';
export { type OnnxDTypeInfo, onnxDTypeInfo } from './dtypes.js';
export type { OnnxConsumer } from './graph-index.js';
export { NameAllocator } from './names.js';
export { type OnnxLoadOptions, OnnxModel, type OnnxWeightInfo, type OpsetImport } from './onnx-model.js';
export {
  BREAKING_CHANGES, type BreakingChange, MIN_UPGRADABLE_OPSET, checkOpsetUpgrade, irVersionForOpset, upgradeOpset,
} from './opset-upgrade.js';
export { type QdqTensor, type QdqWritten, type ScaleType, writeQdq } from './qdq-writer.js';
export type { ExternalDataResolver, ExternalRef } from './tensor-data.js';
export { type ContribWeights, describeContribWeights, readContribWeights } from './contrib-read.js';
export { describeQdqWeights, readQdqWeights } from './qdq-read.js';
