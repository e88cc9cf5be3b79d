/**
 * The ONNX input of `compress`: where nothing needs the model's bytes in memory (no --verify, no budget
 * inputs), the file is opened and its models are decoded with the tensor data left in the file
 * (`OnnxModel.loadDeferred`), to be read straight into the compressor's working memory and copied from the file
 * to the output; otherwise, or for a file the deferred reader does not take or one past protobuf's 2 GiB
 * limit, it is read whole.
 *
 * @example
 * ```ts
 * const onnxInput = await openOnnxInput('model.onnx', 'model.onnx', resolve, true);
 * try {
 *   const model = await onnxInput.load(); // checks
 *   const result = await compressOnnxParts(await onnxInput.load(), options, backend);
 *   await writeParts(result.parts, (chunk) => sink.write(chunk));
 * } finally { await onnxInput.close(); }
 * ```
 * @module
 */
import { MAX_PROTOBUF_BYTES } from '../io/onnx/byte-source.js';
import { NotDeferrable } from '../io/onnx/deferred-raw-data.js';
import { OnnxModel } from '../io/onnx/onnx-model.js';
import type { ExternalDataResolver } from '../io/onnx/onnx-types.js';
import { type NodeFileSource, nodeFileSource } from '../io/safetensors/node-file-source.js';
import { checkInputFile, fileError, readInputFile } from './files.js';

/** An opened ONNX input. */
export interface OnnxInput {
  /** The file's bytes when it was read whole, else undefined (its tensor data stays in the file). */
  bytes: Uint8Array | undefined;
  /** A freshly decoded model (each call a new one: the compressor changes its model in place). */
  load(): Promise<OnnxModel>;
  /** Closes the file; after the output is written. */
  close(): Promise<void>;
}

/**
 * Opens `path`: deferred where `deferred` is true and the file is one the deferred reader takes, else read
 * whole (see the module documentation). `argument` names the file in errors ('input', 'file', 'original').
 *
 * @example
 * ```ts
 * (await openOnnxInput('model.onnx', 'model.onnx', undefined, false)).bytes; // Uint8Array: read whole
 * ```
 */
export async function openOnnxInput(path: string, name: string, externalData: ExternalDataResolver | undefined, deferred: boolean,
  argument = 'input'): Promise<OnnxInput> {
  const options = { name, ...(externalData ? { externalData } : {}) };
  // A file past protobuf's 2 GiB limit is read whole, which refuses it with the reason.
  if (deferred && (await checkInputFile(path, argument)).size <= MAX_PROTOBUF_BYTES) {
    let source: NodeFileSource;
    try {
      source = await nodeFileSource(path);
    } catch (error) {
      throw fileError(error, path, argument);
    }
    try {
      let first: OnnxModel | undefined = await OnnxModel.loadDeferred(source, options);
      const load = async () => {
        const model = first ?? await OnnxModel.loadDeferred(source, options);
        first = undefined;
        return model;
      };
      return { bytes: undefined, load, close: () => source.close() };
    } catch (error) {
      await source.close();
      if (!(error instanceof NotDeferrable)) throw error;
    }
  }
  const bytes = await readInputFile(path, argument);
  return { bytes, load: () => OnnxModel.load(bytes, options), close: async () => {} };
}
