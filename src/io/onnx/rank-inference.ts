/**
 * Rank inference: the number of dimensions of each value of an ONNX model, where the graph decides it
 * without knowing the dimensions themselves (ranks, not shapes). It is what an opset upgrade needs to tell
 * whether an old Softmax / LogSoftmax / Hardmax `axis` is the last axis (then the opset-13 meaning is the
 * same) or not.
 *
 * Sources: graph inputs and value_info with a shape, initializers and Constant nodes (their dims). Rules:
 * elementwise and broadcasting operators (the largest input rank), operators that keep the rank of input 0
 * (activations, normalisations, pooling, Conv by its weight's rank, Slice, Concat, Softmax, Resize, …),
 * Transpose (`perm` length), MatMul, Gemm / Flatten (2), Shape / Size (1 / 0), Squeeze / Unsqueeze with
 * known axes (attribute, or a constant input), Reduce* (`keepdims`, `axes`), Gather, and Reshape whose
 * shape input has a known length (a constant, or a Concat / Cast of pieces of known length). Everything
 * else is unknown: callers must treat an unknown rank as "cannot tell".
 *
 * @example
 * ```ts
 * const ranks = inferRanks(model.graph!);
 * ranks.get('p2o.MatMul.3'); // 4
 * ```
 * @module
 */
import { listGraphs } from './graph-index.js';
import { type GraphProto, type NodeProto, type ProtoInt, type TensorProto, attributesOf, initializersOf, nodesOf, toSafeInt, valueInfosOf } from './proto.js';

const kSameRank = new Set([
  'Abs', 'Acos', 'Acosh', 'Asin', 'Asinh', 'Atan', 'Atanh', 'AveragePool', 'BatchNormalization', 'Cast', 'CastLike', 'Ceil', 'Celu', 'Clip',
  'Concat', 'Conv', 'ConvTranspose', 'Cos', 'Cosh', 'CumSum', 'DepthToSpace', 'Dropout', 'Elu', 'Erf', 'Exp', 'Floor', 'Gelu',
  'GlobalAveragePool', 'GlobalLpPool', 'GlobalMaxPool', 'HardSigmoid', 'HardSwish', 'Hardmax', 'Identity', 'InstanceNormalization',
  'IsInf', 'IsNaN', 'LayerNormalization', 'LeakyRelu', 'Log', 'LogSoftmax', 'LpNormalization', 'LpPool', 'LRN', 'MaxPool', 'Mish', 'Neg',
  'Not', 'Pad', 'QuantizeLinear', 'DequantizeLinear', 'Reciprocal', 'Relu', 'Resize', 'Round', 'Selu', 'Shrink', 'Sigmoid', 'Sign', 'Sin',
  'Sinh', 'Slice', 'Softmax', 'Softplus', 'Softsign', 'SpaceToDepth', 'Split', 'Sqrt', 'Tan', 'Tanh', 'ThresholdedRelu', 'Tile', 'TopK',
  'Upsample', 'GroupNormalization', 'ReverseSequence', 'Trilu', 'ScatterElements', 'ScatterND', 'Scatter',
]);
const kBroadcast = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean', 'Equal', 'Less', 'LessOrEqual', 'Greater',
  'GreaterOrEqual', 'And', 'Or', 'Xor', 'Where', 'PRelu', 'Mod', 'BitShift', 'Expand']);

const attribute = (node: NodeProto, name: string) => attributesOf(node).find((a) => a.name === name);
const intsOf = (node: NodeProto, name: string) => attribute(node, name)?.ints.map((v) => toSafeInt(v as ProtoInt, name));
const intOf = (node: NodeProto, name: string, fallback: number) => {
  const found = attribute(node, name);
  return found ? toSafeInt(found.i as ProtoInt, name) : fallback;
};

/** Ranks of values, plus the lengths of rank-1 values where known. */
export interface RankTable {
  ranks: Map<string, number>;
  /** Element count of 1-D values where it is known (shape vectors feeding Reshape). */
  lengths: Map<string, number>;
}

function tensorDims(tensor: TensorProto): number[] {
  return tensor.dims.map((d, i) => toSafeInt(d as ProtoInt, `dims[${i}]`));
}

/**
 * Infers the rank of every value it can, over the main graph and every subgraph (module documentation).
 *
 * @example
 * ```ts
 * inferRanks(graph).ranks.get('softmax_input'); // 3, or undefined when the graph does not decide it
 * ```
 */
export function inferRanks(root: GraphProto): RankTable {
  const ranks = new Map<string, number>();
  const lengths = new Map<string, number>();
  const setTensor = (name: string, dims: number[]) => {
    ranks.set(name, dims.length);
    if (dims.length === 1) lengths.set(name, dims[0]!);
  };
  for (const { graph } of listGraphs(root)) {
    for (const v of [...valueInfosOf(graph.input), ...valueInfosOf(graph.valueInfo), ...valueInfosOf(graph.output)]) {
      const shape = v.type?.tensorType?.shape;
      if (shape) ranks.set(v.name, shape.dim?.length ?? 0);
    }
    for (const t of initializersOf(graph)) setTensor(t.name, tensorDims(t));
  }
  for (const { graph } of listGraphs(root)) {
    for (const node of nodesOf(graph)) inferNode(node, ranks, lengths, setTensor);
  }
  return { ranks, lengths };
}

function inferNode(node: NodeProto, ranks: Map<string, number>, lengths: Map<string, number>, setTensor: (name: string, dims: number[]) => void): void {
  const out = node.output[0];
  if (!out) return;
  const r = (i: number) => (node.input[i] ? ranks.get(node.input[i]!) : undefined);
  const set = (rank: number | undefined) => {
    if (rank === undefined || rank < 0) return;
    for (const name of node.opType === 'Split' ? node.output : [out]) if (name) ranks.set(name, rank);
  };
  const op = node.domain === '' || node.domain === 'ai.onnx' ? node.opType : '';
  if (op === 'Constant') {
    const value = attribute(node, 'value');
    if (value?.t) setTensor(out, tensorDims(value.t as TensorProto));
    else if (attribute(node, 'value_ints')) setTensor(out, [attribute(node, 'value_ints')!.ints.length]);
    else if (attribute(node, 'value_int') || attribute(node, 'value_float')) set(0);
    return;
  }
  if (op === 'Conv' || op === 'ConvTranspose') return set(r(1) ?? r(0));
  if (kSameRank.has(op)) {
    set(r(0));
    if ((op === 'Cast' || op === 'Identity') && lengths.has(node.input[0]!)) lengths.set(out, lengths.get(node.input[0]!)!);
    if (op === 'Concat' && r(0) === 1) {
      const parts = node.input.map((name) => lengths.get(name));
      if (parts.every((n) => n !== undefined)) lengths.set(out, parts.reduce((a, b) => a! + b!, 0)!);
    }
    return;
  }
  if (kBroadcast.has(op)) {
    const all = node.input.filter((name) => name).map((name) => ranks.get(name));
    if (all.every((x) => x !== undefined)) set(Math.max(...(all as number[])));
    return;
  }
  const axesCount = (): number | undefined => {
    const fromAttribute = intsOf(node, 'axes');
    if (fromAttribute) return fromAttribute.length;
    return node.input[1] ? lengths.get(node.input[1]) : undefined;
  };
  switch (op) {
    case 'Transpose': return set(intsOf(node, 'perm')?.length ?? r(0));
    case 'MatMul': case 'MatMulInteger': {
      const [a, b] = [r(0), r(1)];
      if (a === undefined || b === undefined) return;
      return set(a === 1 && b === 1 ? 0 : a === 1 ? b - 1 : b === 1 ? a - 1 : Math.max(a, b));
    }
    case 'Gemm': case 'Flatten': return set(2);
    case 'Shape': {
      set(1);
      if (r(0) !== undefined && !attribute(node, 'start') && !attribute(node, 'end')) lengths.set(out, r(0)!);
      return;
    }
    case 'Size': return set(0);
    case 'Squeeze': { const n = axesCount(); return set(n !== undefined && r(0) !== undefined ? r(0)! - n : undefined); }
    case 'Unsqueeze': {
      const n = axesCount();
      set(n !== undefined && r(0) !== undefined ? r(0)! + n : undefined);
      if (r(0) === 0 && n === 1) lengths.set(out, 1);
      return;
    }
    case 'Reshape': {
      const length = lengths.get(node.input[1]!);
      return set(length);
    }
    case 'Gather': return set(r(0) !== undefined && r(1) !== undefined ? r(0)! + r(1)! - 1 : undefined);
    case 'GatherElements': return set(r(1));
    default:
      if (op.startsWith('Reduce') || op === 'ArgMax' || op === 'ArgMin') {
        const keep = intOf(node, 'keepdims', 1) === 1;
        if (keep) return set(r(0));
        if (op === 'ArgMax' || op === 'ArgMin') return set(r(0) === undefined ? undefined : r(0)! - 1);
        const n = axesCount();
        const noop = intOf(node, 'noop_with_empty_axes', 0) === 1;
        if (r(0) === undefined) return;
        if (n === undefined) return set(node.input[1] || attribute(node, 'axes') ? undefined : noop ? r(0) : 0);
        return set(r(0)! - n);
      }
  }
}
