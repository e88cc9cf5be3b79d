/**
 * safetensors in and out: a validating, random-access reader over any byte source (memory, `Blob`/`File`,
 * Node files), sharded checkpoints, a streaming writer with memory / `WritableStream` / Node file sinks
 * (temporary file renamed on success), and the "webgpu-quant/1" layout for quantized tensors.
 *
 * @example
 * ```ts
 * import { openSafetensorsFile, createSafetensorsWriter, nodeFileSink, quantizedLayout } from 'webgpu-quant';
 * const reader = await openSafetensorsFile('model.safetensors');
 * const writer = await createSafetensorsWriter(await nodeFileSink('model.int8.safetensors'), entries, metadata);
 * ```
 * @module
 */
export { type ByteSource, blobSource, bytesSource } from '../byte-source.js';
export { SAFETENSORS_DTYPES, type SafetensorsDType, type SafetensorsDTypeInfo, safetensorsDTypeInfo, toSafetensorsDType } from './dtypes.js';
export { type EncodedHeader, type PlacedEntry, type SafetensorsEntry, type SafetensorsMetadata, encodeSafetensorsHeader } from './header-encode.js';
export { DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_TENSORS, MAX_HEADER_BYTES, type SafetensorsHeader, type SafetensorsTensorInfo, parseHeaderLength, parseSafetensorsHeader } from './header-parse.js';
export { type NodeFileSink, type NodeFileSinkOptions, nodeFileSink } from './node-file-sink.js';
export { type NodeFileSource, nodeFileSource } from './node-file-source.js';
export { type DequantizedReader, dequantizedReader } from './dequantized-reader.js';
export { openSafetensorsFile, openShardedSafetensorsFiles } from './node-open.js';
export {
  QUANTIZED_FORMAT, QUANTIZED_METADATA_PREFIX, type QuantizedEntriesOptions, type QuantizedLayout, type QuantizedPlan,
  type QuantizedTensorMetadata, type SafetensorsTensorEntry, describePlan, paramShape, planOf, quantizedEntries,
  quantizedFileMetadata, quantizedLayout, quantizedTensorBytes,
} from './quantized-layout.js';
export {
  type QuantizedSource, type QuantizedTensorDescription, describeQuantized, readQuantizedSafetensors, readQuantizedTensor,
  storedQuantizedTensor,
} from './quantized-read.js';
export { type OpenSafetensorsOptions, type SafetensorsReader, openSafetensors } from './reader.js';
export {
  type ShardIndex, type ShardedSafetensorsReader, type ShardedTensorInfo, openShardedSafetensors, parseShardIndex,
} from './sharded.js';
export { type ByteSink, type MemorySink, memorySink, writableStreamSink } from './sinks.js';
export {
  type SafetensorsTensor, type SafetensorsWriter, createSafetensorsWriter, serializeSafetensors, writeSafetensors,
} from './writer.js';
export { floatToHalfBits } from '../half.js';
