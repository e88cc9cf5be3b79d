/**
 * Reads the quantized weights back out of a QDQ model: every `DequantizeLinear` node of the main graph
 * whose inputs are all stored tensors becomes a QTensor named by the node's output (the original weight's
 * name), so a compressed model can be inspected and compared with its original. The opset-10 form of a
 * per-channel weight (DequantizeLinear with scale 1 → [Sub of per-channel zero points] → Mul by per-channel
 * scales, see qdq-writer.ts) is read back as one per-channel QTensor named by the Mul's output. Scales
 * stored as float16 and cast to float32 (a `Cast` node between the initializer and the node) are read
 * through the Cast.
 *
 * @example
 * ```ts
 * const model = await OnnxModel.load(await readFile('vad.q8.onnx'));
 * const weights = await readQdqWeights(model);     // Map<name, QTensor>
 * weights.get('model.first_layer.0.dw_conv.0.weight')?.qscheme(); // 'per_channel_affine'
 * ```
 * @module
 */
import type { QDType } from '../../dtype.js';
import { FormatError } from '../../errors.js';
import { unpackNibbles } from '../../pack-nibbles.js';
import { QTensor, checkQParams, fromIntRepr } from '../../qtensor.js';
import { type StoredQuantizedWeight, loadStoredWeights } from '../stored-quantized.js';
import { toFloat32 } from '../float-convert.js';
import type { WeightDType } from '../weights.js';
import { type GraphEntry, listGraphs } from './graph-index.js';
import type { OnnxModel, OnnxWeightInfo } from './onnx-model.js';
import { type GraphProto, type NodeProto, type ProtoInt, attributesOf, nodesOf, toSafeInt } from './proto.js';

const kQDType: Partial<Record<WeightDType, QDType>> = { int8: 'qint8', uint8: 'quint8', int32: 'qint32', int4: 'qint4', uint4: 'quint4' };

/** One value per element from the stored integer bytes. */
function integers(bytes: Uint8Array, dtype: QDType, count: number): ArrayLike<number> {
  if (dtype === 'qint4' || dtype === 'quint4') return unpackNibbles(bytes, count, dtype === 'qint4');
  if (dtype === 'qint8') return new Int8Array(bytes.buffer, bytes.byteOffset, count);
  if (dtype === 'quint8') return bytes.subarray(0, count);
  return new Int32Array(bytes.slice(0, 4 * count).buffer);
}

/**
 * The QTensors behind the DequantizeLinear nodes of `model` (every graph, subgraphs included), by output
 * name: the original weight's name, with `@<graph path>` added when several graphs use the same name (the
 * naming OnnxModel uses for weights).
 */
export async function readQdqWeights(model: OnnxModel): Promise<Map<string, QTensor>> {
  return loadStoredWeights(await describeQdqWeights(model));
}

/**
 * The weights readQdqWeights reads, by the same names, with their integers left in the file: each one's
 * parameters are read and checked (a FormatError names a DequantizeLinear whose tensors do not form a weight),
 * and `load()` reads its integers.
 *
 * @example
 * ```ts
 * const stored = await describeQdqWeights(await OnnxModel.load(await readFile('vad.q8.onnx')));
 * const w = stored.get('model.first_layer.0.dw_conv.0.weight')!;
 * w.qscheme;                 // 'per_channel_affine', nothing but the scales and zero points read
 * const q = await w.load();  // the QTensor readQdqWeights gives
 * ```
 */
export async function describeQdqWeights(model: OnnxModel): Promise<Map<string, StoredQuantizedWeight>> {
  const stored = new Map(model.list().map((w) => [`${w.graph}|${w.tensorName}`, w]));
  const graphs = listGraphs(model.proto.graph as GraphProto);
  // Names resolve in the node's graph first, then in the graphs around it (ONNX lexical scoping).
  const lookup = (entry: GraphEntry | undefined, name: string | undefined): OnnxWeightInfo | undefined => {
    for (let g = entry; g && name; g = g.parent) {
      const found = stored.get(`${g.path}|${name}`);
      if (found) return found;
    }
    return undefined;
  };
  // A scale may come through a Cast of a stored tensor (float16 scales of a float32 weight).
  const scaleLookup = (entry: GraphEntry | undefined, name: string | undefined): OnnxWeightInfo | undefined => {
    const direct = lookup(entry, name);
    if (direct || !name) return direct;
    for (let g = entry; g; g = g.parent) {
      const cast = nodesOf(g.graph).find((n) => n.opType === 'Cast' && n.output[0] === name);
      if (cast) return lookup(g, cast.input[0] as string);
    }
    return undefined;
  };
  const dequantizers = graphs.flatMap((entry) => nodesOf(entry.graph)
    .filter((node) => node.opType === 'DequantizeLinear' && node.input.length >= 2).map((node) => ({ entry, node })));
  const outputCounts = new Map<string, number>();
  for (const { entry, node } of dequantizers) {
    const mul = nodesOf(entry.graph).find((n) => n.opType === 'Mul' && n.output[0] && mulChain(entry.graph, node.output[0] as string, n));
    if (mul) outputCounts.set(mul.output[0] as string, (outputCounts.get(mul.output[0] as string) ?? 0) + 1);
  }
  for (const { node } of dequantizers) outputCounts.set(node.output[0] as string, (outputCounts.get(node.output[0] as string) ?? 0) + 1);
  const out = new Map<string, StoredQuantizedWeight>();
  for (const { entry, node } of dequantizers) {
    const [dataName, scaleName, zeroName] = node.input as string[];
    const data = lookup(entry, dataName);
    const scale = scaleLookup(entry, scaleName);
    const zero = zeroName ? lookup(entry, zeroName) : undefined;
    const dtype = data ? kQDType[data.dtype] : undefined;
    if (!data || !scale || !dtype || (zeroName && !zero)) continue; // dequantizes an activation, not a weight
    const what = `${model.name}: DequantizeLinear ${JSON.stringify(node.name || node.output[0])}`;
    const count = data.shape.reduce((a, b) => a * b, 1);
    const attributes = new Map(attributesOf(node).map((a) => [a.name, toSafeInt(a.i as ProtoInt, `${what} ${a.name}`)]));
    const rank = data.shape.length;
    const rawAxis = attributes.get('axis') ?? 1;
    const axis = rawAxis < 0 ? rawAxis + rank : rawAxis;
    const blockSize = attributes.get('block_size') ?? 0;
    const shape = [...data.shape];
    const invalid = (error: unknown) => new FormatError(`${what}: its tensors do not form a valid quantized weight (${(error as Error).message})`, { cause: error });
    // Read and checked now, and again on load: a listing keeps no parameter arrays.
    const paramsOf = async () => {
      // Typed arrays, which checkQParams copies and checks in bulk (a plain array goes value by value).
      const scales = toFloat32(await model.read(scale.name), scale.dtype, `${what} scale`);
      const scaleCount = scales.length;
      const zeroCount = zero ? zero.shape.reduce((a, b) => a * b, 1) : scaleCount;
      if (zeroCount !== scaleCount) throw invalid(new Error(`its zero point has ${zeroCount} values and its scale ${scaleCount}`));
      const zeroPoints = zero ? integers(await model.read(zero.name), dtype, scaleCount) : new Int32Array(scaleCount);
      // ONNX: a scalar (or one-element) scale is per tensor unless it is the single channel of a size-1 axis.
      const perTensor = blockSize === 0 && scaleCount === 1 && (scale.shape.length === 0 || rank === 0 || data.shape[axis] !== 1);
      const viaMul = perTensor && scales[0] === 1 ? await channelScalesViaMul(model, entry, node.output[0] as string, rank, lookup, scaleLookup) : undefined;
      const params = viaMul ? { scales: viaMul.scales, zeroPoints: viaMul.zeroPoints ?? new Array<number>(viaMul.scales.length).fill(zeroPoints[0]!), axis: viaMul.axis }
        : perTensor ? { scale: scales[0]!, zeroPoint: zeroPoints[0]! }
          : blockSize > 0 ? { scales, zeroPoints, axis, groupSize: blockSize } : { scales, zeroPoints, axis };
      try {
        return { params, checked: checkQParams(shape, dtype, params), output: viaMul ? viaMul.output : node.output[0] as string };
      } catch (error) {
        throw invalid(error);
      }
    };
    const { checked, output } = await paramsOf();
    const fourBits = dtype === 'qint4' || dtype === 'quint4';
    out.set(outputCounts.get(output) === 1 ? output : `${output}@${entry.path}`, {
      dtype, shape, qscheme: checked.scheme,
      ...(checked.scheme === 'per_tensor_affine' ? {} : { axis: checked.axis }),
      ...(checked.scheme === 'per_group_affine' ? { groupSize: checked.groupSize } : {}),
      load: async () => {
        const again = await paramsOf();
        // ONNX int4 / uint4 data is packed as packedData() lays it out (element 0 in the low nibble): held packed,
        // every nibble a value of the dtype, nothing to check; read into an array of its own (the model's bytes
        // untouched: the tensor clears an odd count's padding nibble).
        if (fourBits && data.byteLength === Math.ceil(count / 2)) {
          return new QTensor({ nibbles: await model.readInto(data.name, new Uint8Array(data.byteLength)) }, shape, dtype, again.checked, 'cpu');
        }
        const values = integers(await model.read(data.name), dtype, count);
        try {
          return fromIntRepr(values, shape, dtype, again.params);
        } catch (error) {
          throw invalid(error);
        }
      },
    });
  }
  return out;
}

/** True when `mul` multiplies `integers` (directly, or after one Sub) by a second input. */
function mulChain(graph: GraphProto, integers: string, mul: NodeProto): boolean {
  const [a] = mul.input as string[];
  if (a === integers) return true;
  const sub = nodesOf(graph).find((n) => n.opType === 'Sub' && n.output[0] === a);
  return sub !== undefined && sub.input[0] === integers;
}

/** One size > 1 dimension: the axis it is on; undefined for any other shape. */
function broadcastAxis(shape: readonly number[], rank: number): number | undefined {
  if (shape.length !== rank) return undefined;
  const axes = shape.flatMap((d, i) => (d > 1 ? [i] : []));
  return axes.length === 1 ? axes[0] : undefined;
}

/** The per-channel scales (and zero points, when a Sub carries them) of the DequantizeLinear → [Sub] → Mul form. */
async function channelScalesViaMul(
  model: OnnxModel, entry: GraphEntry, integers: string, rank: number, lookup: (entry: GraphEntry | undefined, name: string | undefined) => OnnxWeightInfo | undefined,
  scaleLookup: typeof lookup,
): Promise<{ output: string; scales: number[]; zeroPoints: number[] | undefined; axis: number } | undefined> {
  const graph = entry.graph;
  const consumers = nodesOf(graph).filter((n) => n.input.includes(integers));
  if (consumers.length !== 1) return undefined;
  let [next] = consumers as [NodeProto];
  let zeroPoints: number[] | undefined;
  if (next.opType === 'Sub' && next.input[0] === integers) {
    const zero = lookup(entry, next.input[1]);
    const after = nodesOf(graph).filter((n) => n.input.includes(next.output[0] as string));
    if (!zero || after.length !== 1) return undefined;
    zeroPoints = Array.from(toFloat32(await model.read(zero.name), zero.dtype, 'zero points'));
    next = after[0]!;
  }
  if (next.opType !== 'Mul' || !next.output[0]) return undefined;
  const scale = scaleLookup(entry, next.input[1]);
  if (!scale || (scale.dtype !== 'float32' && scale.dtype !== 'float16')) return undefined;
  const axis = broadcastAxis(scale.shape, rank);
  if (axis === undefined) return undefined;
  const scales = Array.from(toFloat32(await model.read(scale.name), scale.dtype, 'scales'));
  if (zeroPoints && zeroPoints.length !== scales.length) return undefined;
  return { output: next.output[0] as string, scales, zeroPoints, axis };
}
