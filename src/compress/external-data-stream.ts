/**
 * An ONNX output's external data file written while the model is compressed: each weight's new tensors (its
 * integers, and scales or zero points of 1 KiB or more) go to the data file as soon as the weight is written
 * into the model, instead of waiting in memory for the whole model. The compressed bytes are then held for one
 * weight at a time, and the disk writes overlap the next weights' compute. The tensors are placed as
 * `moveToExternalData` places them (the same alignment and references); a weight kept float goes there when
 * its turn comes too, and whatever is left at the end (initializers that are not weights, Constant values from
 * the input's data files) follows them in the same file. `externalDataCertain` tells from the plan
 * whether a model will need external data at all, so that the file can be streamed from the first weight.
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
import { dtypeInfo } from '../dtype.js';
import { deferredRange, writeParts } from '../io/onnx/deferred-raw-data.js';
import { EXTERNAL_DATA_ABOVE_BYTES, EXTERNAL_DATA_THRESHOLD_BYTES, appendExternalTensor } from '../io/onnx/external-data-write.js';
import type { OnnxModel, OnnxWeightInfo } from '../io/onnx/onnx-model.js';
import type { ExternalDataFile } from '../io/onnx/onnx-types.js';
import { DATA_LOCATION_EXTERNAL, type GraphProto, type TensorProto, initializersOf } from '../io/onnx/proto.js';
import { describeTensor } from '../io/onnx/tensor-data.js';
import type { WeightDecision } from './policy.js';

/** A weight, its graph and the initializers the graph held before the weight was written. */
export interface ExternalDataMark {
  readonly name: string;
  readonly tensor: TensorProto;
  readonly source: 'initializer' | 'constant';
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
      const { indexed } = model.entry(name);
      const { graph } = indexed.graph;
      return { name, tensor: indexed.tensor, source: indexed.source, graph, before: new Set(initializersOf(graph)) };
    },
    async flush({ name, tensor: weight, source, graph, before }) {
      const initializers = initializersOf(graph);
      for (const tensor of initializers) {
        if (before.has(tensor) || tensor.dataLocation === DATA_LOCATION_EXTERNAL || !(tensor.rawData instanceof Uint8Array)
          || tensor.rawData.byteLength < EXTERNAL_DATA_THRESHOLD_BYTES) continue;
        for (const part of appendExternalTensor(file, tensor, tensor.rawData)) await write(part);
      }
      // A weight kept float (still an initializer of its graph) goes too, as moveToExternalData would move it at
      // the end: read now (from the input file where it still is) and not held afterwards.
      if (source !== 'initializer' || !initializers.includes(weight)) return;
      const layout = describeTensor(weight, `initializer ${JSON.stringify(weight.name)}`);
      if (layout.storage !== 'external' && (layout.storage === 'empty' || layout.byteLength === undefined || layout.byteLength < EXTERNAL_DATA_THRESHOLD_BYTES)) return;
      // Still in the input file (OnnxModel.loadDeferred): copied from there through a small buffer.
      const bytes = layout.storage === 'raw' && deferredRange(weight.rawData) ? weight.rawData : await model.read(name);
      if (bytes.byteLength !== layout.byteLength) return; // left to moveToExternalData, which reports it
      await writeParts(appendExternalTensor(file, weight, bytes), write);
    },
  };
}

/**
 * Whether compressing `weights` as `decisions` plan will write external data whatever the quality floor does:
 * the integers of the weights planned for quantization alone pass what one ONNX file holds inline
 * (`EXTERNAL_DATA_ABOVE_BYTES`), and an escalation only adds bytes (more bits, or the float weight kept). With
 * `writeExternalData: 'auto'` such a model ends with external data anyway; known before the work, its data
 * file can be written as it goes. Not for budgets (`targetBits`), which choose the bits after the plan.
 *
 * @example
 * ```ts
 * const decisions = planOnnxCompression(model, policy).decisions;
 * if (externalDataCertain(model.list(), decisions)) options = { ...options, writeExternalData: 'always', externalDataSink };
 * ```
 */
export function externalDataCertain(weights: readonly OnnxWeightInfo[], decisions: readonly WeightDecision[]): boolean {
  let bytes = 0;
  for (const [i, decision] of decisions.entries()) {
    if (decision.action !== 'quantize') continue;
    const elements = weights[i]!.shape.reduce((a, b) => a * b, 1);
    bytes += Math.ceil((elements * dtypeInfo(decision.dtype!).bits) / 8);
  }
  return bytes > EXTERNAL_DATA_ABOVE_BYTES;
}
