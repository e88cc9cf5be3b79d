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
import { FormatError } from '../errors.js';
import { deferredRange, writeParts } from '../io/onnx/deferred-raw-data.js';
import { EXTERNAL_DATA_ABOVE_BYTES, appendExternalTensor, movesToExternalData } from '../io/onnx/external-data-write.js';
import type { OnnxModel, OnnxWeightInfo } from '../io/onnx/onnx-model.js';
import type { ExternalDataFile } from '../io/onnx/onnx-types.js';
import { type GraphProto, type TensorProto, initializersOf } from '../io/onnx/proto.js';
import { describeTensor, tensorBytes } from '../io/onnx/tensor-data.js';
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
      // The weight's new tensors, and the weight itself where it was kept float (still an initializer of its
      // graph), chosen by moveToExternalData's rule, which would move them at the end.
      const added = initializers.filter((t) => !before.has(t));
      const kept = source === 'initializer' && initializers.includes(weight);
      for (const tensor of kept ? [...added, weight] : added) {
        const what = `initializer ${JSON.stringify(tensor.name)}`;
        const layout = describeTensor(tensor, what);
        if (!movesToExternalData(layout, true)) continue;
        // A kept weight still in the input file (OnnxModel.loadDeferred) is copied from there through a small
        // buffer, and is not held afterwards.
        const bytes = tensor !== weight ? await tensorBytes(tensor, layout, what)
          : layout.storage === 'raw' && deferredRange(weight.rawData) ? weight.rawData : await model.read(name);
        if (bytes.byteLength !== layout.byteLength) throw new FormatError(`${what}: read ${bytes.byteLength} bytes, expected ${layout.byteLength}`);
        await writeParts(appendExternalTensor(file, tensor, bytes), write);
      }
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
