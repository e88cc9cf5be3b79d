/**
 * What onnxruntime-node is handed for a big model file: onnxruntime loads tensor data far faster from external
 * data than from a model's own protobuf (a 1.07 GB MLP with its weights inline: 12–15 s to create a session on a
 * 2-core host, 5–7 s with the same bytes as external data), so a file of at least {@link inlineAsExternal}'s
 * `minBytes` goes as its graph alone, each large initializer of the main graph pointing into the file itself
 * (location: the file's name, its offset and length there; `extra.session.model_external_initializers_file_folder_path`
 * its folder). The same tensors, read by onnxruntime from the same bytes; nothing is written. A file that cannot be
 * read that way, or session options that name that folder already, go as the path.
 *
 * @example
 * ```ts
 * const { model, options } = await sessionModel('big.onnx', { logSeverityLevel: 3 });
 * const session = await ort.InferenceSession.create(model, options); // the graph's bytes, its data from big.onnx
 * ```
 * @module
 */
import type { ByteSource } from '../io/byte-source.js';
import { concatParts, deferredRange, isPlaceholder, writeParts } from '../io/onnx/deferred-raw-data.js';
import { OnnxModel } from '../io/onnx/onnx-model.js';
import { type GraphProto, MIN_PASSED_THROUGH_BYTES, type ModelProto, type TensorProto, encodeModelParts } from '../io/onnx/proto.js';
import { nodeFileSource } from '../io/safetensors/node-file-source.js';

/** From what file size a model goes to onnxruntime as its graph with external references. Not part of the API (tests lower it). */
export const inlineAsExternal = { minBytes: 64 * 2 ** 20 };

const kFolderKey = 'model_external_initializers_file_folder_path';

/**
 * The model and session options to create `model`'s session with (see the module documentation): a path of a
 * large ONNX file as its graph's bytes with external references into it, and `options` with the folder added;
 * anything else as given.
 *
 * @example
 * ```ts
 * await sessionModel(bytes, undefined); // { model: bytes, options: undefined }: bytes go as they are
 * ```
 */
export async function sessionModel(model: Uint8Array | string, options: object | undefined): Promise<{ model: Uint8Array | string; options: object | undefined }> {
  const unchanged = { model, options };
  const extra = (options as { extra?: { session?: Record<string, unknown> } } | undefined)?.extra;
  if (typeof model !== 'string' || extra?.session?.[kFolderKey] !== undefined) return unchanged;
  const source = await nodeFileSource(model).catch(() => undefined);
  if (!source) return unchanged;
  // The file's folder and name (this module is also in the library's browser build: no node:path).
  const cut = Math.max(model.lastIndexOf('/'), model.lastIndexOf('\\'));
  const [folder, name] = [cut < 0 ? '.' : model.slice(0, cut) || model.slice(0, 1), model.slice(cut + 1)];
  try {
    if (source.size < inlineAsExternal.minBytes) return unchanged;
    const onnx = await OnnxModel.loadDeferred(source, { name: model }).catch(() => undefined);
    const graph = onnx?.proto.graph as GraphProto | null | undefined;
    if (!onnx || !graph) return unchanged;
    let moved = 0;
    const initializer = (graph.initializer ?? []).map((tensor) => {
      const external = externalReference(tensor as TensorProto, source, name);
      if (external) moved++;
      return external ?? tensor;
    });
    if (moved === 0) return unchanged;
    // The rest (the graph, small tensors) encoded as the file holds it, small tensor data read from it.
    const parts = encodeModelParts({ ...onnx.proto, graph: { ...graph, initializer } } as ModelProto, MIN_PASSED_THROUGH_BYTES, isPlaceholder);
    const chunks: Uint8Array[] = [];
    await writeParts(parts, async (chunk) => { chunks.push(chunk.slice()); });
    const bytes = concatParts(chunks, chunks.reduce((sum, c) => sum + c.byteLength, 0));
    return { model: bytes, options: { ...options, extra: { ...extra, session: { ...extra?.session, [kFolderKey]: folder } } } };
  } finally {
    await source.close();
  }
}

/** `tensor` as an external reference into the file (`location` its name), where its data lies there and is large; else undefined. */
function externalReference(tensor: TensorProto, source: ByteSource, location: string): TensorProto | undefined {
  const raw = tensor.rawData;
  const range = raw && raw.byteLength >= MIN_PASSED_THROUGH_BYTES ? deferredRange(raw) : undefined;
  if (!range || range.source !== source) return undefined;
  return {
    name: tensor.name, dims: tensor.dims, dataType: tensor.dataType, dataLocation: 1,
    externalData: [{ key: 'location', value: location }, { key: 'offset', value: String(range.offset) }, { key: 'length', value: String(raw!.byteLength) }],
  } as TensorProto;
}
