/**
 * The output-error probe's fast path: the model with its main graph's float weights of rank 2 or more as graph
 * inputs, their data gone from the model and fed on every run. A weight is then replaced by feeding other values,
 * one session from a model of a few kilobytes per probe, where the model was re-encoded whole with the weight
 * replaced and onnxruntime created its session from all of it (on a 1.07 GB MLP, 13.6 s and 2 GB a weight).
 *
 * - Weights in subgraphs (an `If` branch's initializers) stay as they are: a subgraph's own weights cannot be
 *   fed; the probe re-encodes the model for those.
 * - The fed tensors are views of the model's bytes where their data is 4-aligned there, copies where not; from a
 *   model opened with `OnnxModel.loadDeferred`, each weight read from its file into an array of its own (and the
 *   other tensors still in the file read into the fed model).
 * - Weights in external data are read through the model's resolver and fed like the others, the main graph's
 *   other tensors there (biases) read into the model, so that it runs from memory.
 * - bfloat16 weights (which onnxruntime's JavaScript tensors cannot hold) and weights of rank 0 or 1 (biases,
 *   scales, shapes; the size budget never quantizes them) stay in the model.
 *
 * @example
 * ```ts
 * const fed = await fedWeights(OnnxModel.decode(bytes), ort);
 * const session = await ort.InferenceSession.create(fed!.bytes);
 * await session.run({ ...sample, ...fed!.feeds }); // the original's outputs
 * ```
 * @module
 */
import { isPlaceholder, materialized } from '../io/onnx/deferred-raw-data.js';
import type { OnnxModel } from '../io/onnx/onnx-model.js';
import { DATA_LOCATION_EXTERNAL, type GraphProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto, encodeModel } from '../io/onnx/proto.js';
import type { OnnxRuntimeLike, RuntimeTensor } from './runtime.js';

/** The model with weights as inputs, what to feed them with, and which weights they are. */
export interface FedWeights {
  /** The model's bytes, each fed weight a graph input and its data gone. */
  bytes: Uint8Array;
  /** Weight name (as the model's `list()` names it) → the graph input that takes it. */
  inputOf: Map<string, string>;
  /** Graph input → the original's tensor, for every fed weight. */
  feeds: Record<string, RuntimeTensor>;
}

/** The typed arrays onnxruntime takes each fed dtype in (float16 as its bits). */
const kFedArrays = { float32: Float32Array, float16: Uint16Array, float64: Float64Array } as const;
/** The weight dtypes fed as inputs. */
export type FedDType = keyof typeof kFedArrays;

/**
 * `bytes` as the typed array onnxruntime takes `dtype` in: a view where aligned, else a copy.
 *
 * @example
 * ```ts
 * fedArray(new Uint8Array(8), 'float32');            // Float32Array(2), a view of the same bytes
 * fedArray(new Uint8Array(9).subarray(1), 'float32'); // Float32Array(2) of a copy (offset 1 is not 4-aligned)
 * ```
 */
export function fedArray(bytes: Uint8Array, dtype: FedDType): Float32Array | Uint16Array | Float64Array {
  const Type = kFedArrays[dtype];
  const aligned = bytes.byteOffset % Type.BYTES_PER_ELEMENT === 0 ? bytes : new Uint8Array(bytes); // (a Buffer's slice() is a view)
  return new Type(aligned.buffer as ArrayBuffer, aligned.byteOffset, aligned.byteLength / Type.BYTES_PER_ELEMENT);
}

/**
 * Builds {@link FedWeights} for `model` (see the module documentation); undefined when no weight can be fed.
 *
 * @example
 * ```ts
 * const fed = await fedWeights(model, ort);
 * fed?.inputOf.get('fc1.weight'); // 'fc1.weight'
 * ```
 */
export async function fedWeights(model: OnnxModel, runtime: OnnxRuntimeLike): Promise<FedWeights | undefined> {
  const proto = model.proto as ModelProto;
  const graph = proto.graph as GraphProto;
  const Tensor = runtime.Tensor as unknown as new (type: string, data: unknown, dims: readonly number[]) => RuntimeTensor;
  const inputOf = new Map<string, string>();
  const feeds: Record<string, RuntimeTensor> = {};
  const removed = new Set<TensorProto | NodeProto>();
  const inputs: ValueInfoProto[] = [];
  const listed = new Map<TensorProto, string>(); // the main graph's initializers the model lists, by tensor
  for (const info of model.list()) {
    const { indexed } = model.entry(info.name);
    if (indexed.graph.parent !== undefined) continue;
    if (indexed.source === 'initializer') listed.set(indexed.tensor, info.name);
    if (info.shape.length < 2 || !Object.hasOwn(kFedArrays, info.dtype)) continue;
    const dtype = info.dtype as FedDType;
    const input = indexed.tensorName;
    feeds[input] = new Tensor(dtype, fedArray(await model.read(info.name), dtype), info.shape);
    inputOf.set(info.name, input);
    removed.add(indexed.source === 'constant' ? indexed.node! : indexed.tensor);
    // An initializer listed as a graph input already (IR < 4) keeps that entry.
    if (!indexed.graphInput) {
      inputs.push({ name: input, type: { tensorType: { elemType: indexed.tensor.dataType, shape: { dim: info.shape.map((d) => ({ dimValue: d })) } } } } as ValueInfoProto);
    }
  }
  if (inputOf.size === 0) return undefined;
  const initializer: TensorProto[] = [];
  for (const t of (graph.initializer ?? []) as TensorProto[]) {
    if (removed.has(t)) continue;
    // Bytes not in memory (in external data, or still in the model's file: loadDeferred) read into the fed model.
    const external = t.dataLocation === DATA_LOCATION_EXTERNAL;
    if (!external && !(t.rawData && isPlaceholder(t.rawData))) {
      initializer.push(t);
      continue;
    }
    const name = listed.get(t);
    if (external && name === undefined) return undefined; // not a tensor the model reads: it could not run from memory
    const rawData = name !== undefined ? await model.read(name) : await materialized(t.rawData!);
    initializer.push({ name: t.name, dims: t.dims, dataType: t.dataType, rawData } as TensorProto);
  }
  const fedGraph = {
    ...graph,
    initializer,
    node: (graph.node ?? []).filter((n) => !removed.has(n as NodeProto)),
    input: [...(graph.input ?? []), ...inputs],
  } as unknown as GraphProto;
  return { bytes: encodeModel({ ...proto, graph: fedGraph } as unknown as ModelProto), inputOf, feeds };
}
