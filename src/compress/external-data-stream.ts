/**
 * An ONNX output's external data file written while the model is compressed: each weight's new tensors (its
 * integers, and scales or zero points of 1 KiB or more) go to the data file as soon as the weight is written
 * into the model, instead of waiting in memory for the whole model. The compressed bytes are then held for one
 * weight at a time, and the disk writes overlap the next weights' compute. The tensors are placed as
 * `moveToExternalData` places them (the same alignment and references); the ones left at the end (kept
 * weights, subgraphs' tensors) follow them in the same file.
 *
 * @example
 * ```ts
 * const stream = externalDataStream(model, 'm.q8.onnx.data', (chunk) => dataSink.write(chunk));
 * const mark = stream.mark(weight.name);
 * writeQdq(model, weight.name, q, names);
 * await stream.flush(mark); // the weight's integers are in the data file now
 * ```
 * @module
 */
import { appendExternalTensor, EXTERNAL_DATA_THRESHOLD_BYTES } from '../io/onnx/external-data-write.js';
import type { OnnxModel } from '../io/onnx/onnx-model.js';
import type { ExternalDataFile } from '../io/onnx/onnx-types.js';
import { DATA_LOCATION_EXTERNAL, type GraphProto, type TensorProto, initializersOf } from '../io/onnx/proto.js';

/** A weight's graph and the initializers it held before the weight was written. */
export interface ExternalDataMark {
  readonly graph: GraphProto;
  readonly before: ReadonlySet<TensorProto>;
}

/** See the module documentation. `file` is the data file so far (its `parts` stay empty: they are written). */
export interface ExternalDataStream {
  readonly file: ExternalDataFile;
  /** Call before weight `name` is written into the model. */
  mark(name: string): ExternalDataMark;
  /** Writes the tensors added since `mark` (in place: they then refer to the data file) to the data file. */
  flush(mark: ExternalDataMark): Promise<void>;
}

/**
 * A data file named `location` whose bytes go to `write`, in order (see the module documentation).
 *
 * @example
 * ```ts
 * const stream = externalDataStream(model, 'm.onnx.data', async (chunk) => { chunks.push(chunk); });
 * ```
 */
export function externalDataStream(model: OnnxModel, location: string, write: (chunk: Uint8Array) => Promise<void>): ExternalDataStream {
  const file: ExternalDataFile = { location, parts: [], byteLength: 0, tensors: 0 };
  return {
    file,
    mark(name) {
      const { graph } = model.entry(name).indexed.graph;
      return { graph, before: new Set(initializersOf(graph)) };
    },
    async flush({ graph, before }) {
      for (const tensor of initializersOf(graph)) {
        if (before.has(tensor) || tensor.dataLocation === DATA_LOCATION_EXTERNAL || !(tensor.rawData instanceof Uint8Array)
          || tensor.rawData.byteLength < EXTERNAL_DATA_THRESHOLD_BYTES) continue;
        for (const part of appendExternalTensor(file, tensor, tensor.rawData)) await write(part);
      }
    },
  };
}
