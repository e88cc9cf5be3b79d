/**
 * Moves an ONNX model's weights into one external data file, as ONNX's own `save(..., save_as_external_data=True)`
 * does: each initializer of at least `threshold` bytes (every graph, subgraphs too) loses its inline data and
 * gets `data_location = EXTERNAL` with `external_data` `location` / `offset` / `length`, its bytes appended to the
 * data file. Initializers and Constant values that were already external (in the input's own data files) are
 * always moved, whatever their size, so the written model refers to no file but its own.
 *
 * A protobuf message cannot exceed 2 GB, so a model whose weights pass {@link PROTOBUF_LIMIT_BYTES} can only be
 * written this way. Offsets are aligned to 64 bytes (4096 for tensors of 1 MiB or more, so a runtime can map them).
 *
 * @example
 * ```ts
 * const data = await moveToExternalData(model.proto, 'big.q8.onnx.data', resolve);
 * for (const part of data.parts) await dataSink.write(part); // then write model.encode() beside it
 * ```
 * @module
 */
import { FormatError } from '../../errors.js';
import { constantTensor, listGraphs } from './graph-index.js';
import { DATA_LOCATION_EXTERNAL, type GraphProto, type ModelProto, type TensorProto, initializersOf, nodesOf, onnx } from './proto.js';
import type { ExternalDataFile } from './onnx-types.js';
import { type ExternalDataResolver, type TensorLayout, describeTensor, tensorBytes } from './tensor-data.js';

/** The most bytes one protobuf message (an ONNX file without external data) may hold: 2 GiB − 1. */
export const PROTOBUF_LIMIT_BYTES = 2 ** 31 - 1;

/**
 * A compressed model whose tensors hold more bytes than this inline is written with external data: one ONNX
 * file leaves 64 MiB of its 2 GB for the graph itself.
 */
export const EXTERNAL_DATA_ABOVE_BYTES = PROTOBUF_LIMIT_BYTES - 64 * 2 ** 20;

/** Initializers smaller than this stay inline (ONNX's default `size_threshold`). */
export const EXTERNAL_DATA_THRESHOLD_BYTES = 1024;

export type { ExternalDataFile } from './onnx-types.js';

/**
 * The bytes the model's tensors hold inline (initializers and Constant values in every graph): with the
 * graph itself, about what the encoded model will take. Compare with {@link PROTOBUF_LIMIT_BYTES}.
 *
 * @example
 * ```ts
 * inlineTensorBytes(model.proto) > PROTOBUF_LIMIT_BYTES - (64 << 20); // external data needed
 * ```
 */
export function inlineTensorBytes(model: ModelProto): number {
  let total = 0;
  for (const { graph } of listGraphs(model.graph as GraphProto)) {
    for (const tensor of tensorsOf(graph)) total += tensor.rawData.byteLength + 8 * typedLength(tensor);
  }
  return total;
}

/**
 * The bytes `model`'s tensors keep in external data files (each external tensor's length): with the model's own
 * bytes, what the model takes on disk.
 *
 * @example
 * ```ts
 * model.byteLength + externalTensorBytes(model.proto); // model.onnx and the bytes it reads from model.onnx_data
 * ```
 */
export function externalTensorBytes(model: ModelProto): number {
  let total = 0;
  for (const { graph } of listGraphs(model.graph as GraphProto)) {
    for (const tensor of tensorsOf(graph)) {
      if (tensor.dataLocation !== DATA_LOCATION_EXTERNAL) continue;
      const layout = describeTensor(tensor, `tensor ${JSON.stringify(tensor.name)}`);
      total += layout.byteLength ?? 0;
    }
  }
  return total;
}

function* tensorsOf(graph: GraphProto): Generator<TensorProto> {
  yield* initializersOf(graph);
  for (const node of nodesOf(graph)) {
    const value = constantTensor(node);
    if (value) yield value;
  }
}

function typedLength(tensor: TensorProto): number {
  return tensor.floatData.length + tensor.int32Data.length + tensor.int64Data.length + tensor.doubleData.length + tensor.uint64Data.length;
}

/**
 * Whether {@link moveToExternalData} moves a tensor laid out as `layout`: an initializer of `threshold` bytes or
 * more (as ONNX does), and any tensor already in an external file (a Constant value only then).
 *
 * @example
 * ```ts
 * movesToExternalData(describeTensor(tensor, 'w'), true); // true for a 4 KiB initializer
 * ```
 */
export function movesToExternalData(layout: TensorLayout, initializer: boolean, threshold = EXTERNAL_DATA_THRESHOLD_BYTES): boolean {
  return layout.storage === 'external'
    || (initializer && layout.storage !== 'empty' && layout.byteLength !== undefined && layout.byteLength >= threshold);
}

/** The tensors each data file holds, so that finishing a file begun tensor by tensor moves none twice. */
const appended = new WeakMap<ExternalDataFile, WeakSet<TensorProto>>();

/**
 * Moves the tensors of `model` (in place) into one external data file named `location` (see the module
 * documentation) and returns its bytes. `resolve` reads the input's own external data files. With `into`, a
 * file already begun (by {@link appendExternalTensor}): the tensors follow its bytes and their parts are added
 * to its `parts`. Throws FormatError for a tensor whose data cannot be read.
 *
 * @example
 * ```ts
 * const data = await moveToExternalData(model.proto, 'm.onnx.data', files.resolve);
 * data.byteLength; // the data file's size
 * ```
 */
export async function moveToExternalData(
  model: ModelProto, location: string, resolve?: ExternalDataResolver, threshold = EXTERNAL_DATA_THRESHOLD_BYTES,
  into: ExternalDataFile = { location, parts: [], byteLength: 0, tensors: 0 },
): Promise<ExternalDataFile> {
  for (const { graph, path } of listGraphs(model.graph as GraphProto)) {
    const initializers = new Set(initializersOf(graph));
    for (const tensor of tensorsOf(graph)) {
      const what = `${initializers.has(tensor) ? 'initializer' : 'Constant value'} ${JSON.stringify(tensor.name)} in ${path}`;
      const layout = describeTensor(tensor, what);
      if (!movesToExternalData(layout, initializers.has(tensor), threshold)) continue;
      if (appended.get(into)?.has(tensor)) continue; // in the file already
      const bytes = await tensorBytes(tensor, layout, what, resolve);
      if (bytes.byteLength !== layout.byteLength) throw new FormatError(`${what}: read ${bytes.byteLength} bytes, expected ${layout.byteLength}`);
      into.parts.push(...appendExternalTensor(into, tensor, bytes));
    }
  }
  return into;
}

/**
 * Moves one tensor whose bytes are `bytes` to the end of the data file `file`: the tensor (changed in place)
 * then refers to them by location, offset and length, and `file`'s size and count grow. Returns what to write
 * after the file's bytes so far: padding to the tensor's alignment (64 bytes, 4096 from 1 MiB), then `bytes`.
 * `file.parts` is left alone, for a caller that writes the file as it goes.
 *
 * @example
 * ```ts
 * const file = { location: 'm.onnx.data', parts: [], byteLength: 0, tensors: 0 };
 * for (const part of appendExternalTensor(file, tensor, tensor.rawData)) await sink.write(part);
 * ```
 */
export function appendExternalTensor(file: ExternalDataFile, tensor: TensorProto, bytes: Uint8Array): Uint8Array[] {
  let tensors = appended.get(file);
  if (!tensors) appended.set(file, tensors = new WeakSet());
  tensors.add(tensor);
  const alignment = bytes.byteLength >= 1 << 20 ? 4096 : 64;
  const padding = (alignment - (file.byteLength % alignment)) % alignment;
  const offset = file.byteLength + padding;
  file.byteLength = offset + bytes.byteLength;
  file.tensors++;
  tensor.rawData = new Uint8Array(0);
  tensor.floatData = [];
  tensor.int32Data = [];
  tensor.int64Data = [];
  tensor.doubleData = [];
  tensor.uint64Data = [];
  tensor.dataLocation = DATA_LOCATION_EXTERNAL;
  tensor.externalData = [
    onnx.StringStringEntryProto.create({ key: 'location', value: file.location }),
    onnx.StringStringEntryProto.create({ key: 'offset', value: String(offset) }),
    onnx.StringStringEntryProto.create({ key: 'length', value: String(bytes.byteLength) }),
  ];
  return padding ? [new Uint8Array(padding), bytes] : [bytes];
}
