/**
 * What a model takes and gives: the graph's inputs (initializers excluded, as older exporters list them too)
 * and outputs, each with its element type and its dimensions (numbers, symbolic names, or unknown), read from
 * the ONNX file itself so two models can be compared before either is run.
 *
 * @example
 * ```ts
 * const signature = readModelSignature(bytes, 'vad.onnx');
 * signature.inputs.map((v) => `${v.name}: ${v.dtype} [${v.dims.join(', ')}]`);
 * // ['input: float32 [batch, sequence]', 'sr: int64 []', 'h: float32 [2, batch, 64]', 'c: float32 [2, batch, 64]']
 * ```
 * @module
 */
import { onnxDTypeInfo } from '../io/onnx/dtypes.js';
import type onnxProto from 'onnx-proto';
import { type GraphProto, type ProtoInt, decodeModel, toSafeInt } from '../io/onnx/proto.js';
import type { WeightDType } from '../io/weights.js';

/** One dimension as declared: a size, a symbolic name (`'batch'`), or `undefined` when the file says nothing. */
export type DeclaredDim = number | string | undefined;

/** One graph input or output as declared. */
export interface ValueSignature {
  name: string;
  /** The element type; `'other'` for types verification cannot generate or compare (strings, sequences). */
  dtype: WeightDType;
  /** The dimensions; `undefined` when the rank itself is not declared. */
  dims: DeclaredDim[] | undefined;
}

/** A model's declared inputs and outputs, in graph order. */
export interface ModelSignature {
  inputs: ValueSignature[];
  outputs: ValueSignature[];
}

function valueSignature(value: onnxProto.onnx.IValueInfoProto, what: string): ValueSignature {
  const tensorType = value.type?.tensorType;
  const dtype = tensorType?.elemType ? onnxDTypeInfo(tensorType.elemType).dtype : 'other';
  const dims = tensorType?.shape ? (tensorType.shape.dim ?? []).map((d): DeclaredDim => {
    if (d.dimParam) return d.dimParam;
    // protobufjs sets a field on the instance only when the file holds it; the prototype's 0 means "not declared".
    if (!Object.hasOwn(d, 'dimValue') || d.dimValue === null || d.dimValue === undefined) return undefined;
    return toSafeInt(d.dimValue as ProtoInt, `${what}: ${value.name} dimension`);
  }) : undefined;
  return { name: value.name ?? '', dtype, dims };
}

/**
 * Reads the declared inputs and outputs of the ONNX model in `bytes`. Malformed bytes give a
 * {@link FormatError} naming `name`.
 *
 * @example
 * ```ts
 * readModelSignature(bytes, 'rec.onnx').outputs[0]; // { name: 'softmax_11.tmp_0', dtype: 'float32', dims: ['p2o.DynamicDimension.2', 'p2o.DynamicDimension.3', 6625] }
 * ```
 */
export function readModelSignature(bytes: Uint8Array, name = 'model'): ModelSignature {
  return graphSignature(decodeModel(bytes, name).graph as GraphProto | null | undefined, name);
}

/**
 * {@link readModelSignature} of a decoded model's main graph (e.g. `OnnxModel.proto.graph`, from a file opened
 * with `OnnxModel.loadDeferred`, whose tensor data is never read for this).
 *
 * @example
 * ```ts
 * const model = await OnnxModel.loadDeferred(await nodeFileSource('big.onnx'));
 * graphSignature(model.proto.graph, 'big.onnx').inputs.map((v) => v.name); // ['input_ids', ...]
 * ```
 * @internal
 */
export function graphSignature(graph: GraphProto | null | undefined, name = 'model'): ModelSignature {
  if (!graph) return { inputs: [], outputs: [] };
  const initializers = new Set(graph.initializer.map((t) => t.name));
  return {
    inputs: graph.input.filter((v) => !initializers.has(v.name)).map((v) => valueSignature(v, name)),
    outputs: graph.output.map((v) => valueSignature(v, name)),
  };
}

/**
 * One line for a declared value: its element type and dimensions (`?` where a size is not declared).
 *
 * @example
 * ```ts
 * describeValue({ name: 'x', dtype: 'float32', dims: ['batch', 3, 48, undefined] }); // 'float32 [batch, 3, 48, ?]'
 * ```
 */
export function describeValue(value: ValueSignature): string {
  const dims = value.dims === undefined ? '(rank unknown)' : `[${value.dims.map((d) => d ?? '?').join(', ')}]`;
  return `${value.dtype} ${dims}`;
}

function sameDims(a: DeclaredDim[] | undefined, b: DeclaredDim[] | undefined): boolean {
  if (a === undefined || b === undefined) return true; // nothing declared on one side: nothing to contradict
  // Symbolic names may be renamed by a tool; only fixed sizes and the rank must agree.
  return a.length === b.length && a.every((d, i) => typeof d !== 'number' || typeof b[i] !== 'number' || d === b[i]);
}

/**
 * Where two signatures differ, one sentence each (empty when they match): a missing or extra input or
 * output, a different element type, rank or fixed size. Symbolic dimension names may differ.
 *
 * @example
 * ```ts
 * signatureDifferences(readModelSignature(a), readModelSignature(b), ['a.onnx', 'b.onnx']);
 * // ["input 'x' is float32 [1, 3, 48, ?] in a.onnx but float16 [1, 3, 48, ?] in b.onnx"]
 * ```
 */
export function signatureDifferences(a: ModelSignature, b: ModelSignature, names: [string, string] = ['the original', 'the compressed model']): string[] {
  const out: string[] = [];
  for (const kind of ['input', 'output'] as const) {
    const left = kind === 'input' ? a.inputs : a.outputs;
    const right = new Map((kind === 'input' ? b.inputs : b.outputs).map((v) => [v.name, v]));
    for (const value of left) {
      const other = right.get(value.name);
      if (!other) out.push(`${kind} '${value.name}' is in ${names[0]} but not in ${names[1]}`);
      else if (other.dtype !== value.dtype || !sameDims(value.dims, other.dims)) {
        out.push(`${kind} '${value.name}' is ${describeValue(value)} in ${names[0]} but ${describeValue(other)} in ${names[1]}`);
      }
      right.delete(value.name);
    }
    for (const name of right.keys()) out.push(`${kind} '${name}' is in ${names[1]} but not in ${names[0]}`);
  }
  return out;
}
