/**
 * Replaces one weight of an ONNX model by its QDQ form, in place: the integer initializer `W_quantized`
 * (INT8 / UINT8, or INT4 / UINT4 packed two per byte, element 0 in the low nibble), `W_scale` (shape []
 * per tensor, [C] per channel, the block shape per group) and `W_zero_point` (the data's type, the scale's
 * shape), feeding a `DequantizeLinear` node (attribute `axis` per channel and per group, `block_size` per
 * group) whose output keeps the name `W`, so every consumer, in any subgraph, is unchanged.
 *
 * - An initializer is removed from its graph (and from the graph's inputs, where it was also listed); the
 *   new initializers go into the same graph and the DequantizeLinear node first among its nodes.
 * - A `Constant` node is replaced where it stood by the DequantizeLinear node (same node name), its new
 *   initializers added to its graph.
 * - The scale type is the weight's float type (DequantizeLinear's output has the scale's type): float32
 *   for FLOAT weights, float16 / bfloat16 scales (opset 19) for FLOAT16 / BFLOAT16 weights.
 * - `scalesCastToFloat32` (float32 weights with float16 scales): the scales are stored as a float16
 *   initializer and a `Cast` to float32 feeds DequantizeLinear (or the `Mul` below), so the output stays
 *   float32 at any opset; the values are exact (every float16 is a float32), and the file holds 2 bytes
 *   per scale. At 4 bits per weight in groups of 32, a float32 scale costs 1 bit per weight, a float16 one
 *   half a bit.
 * - A 4-bit weight whose zero points are all 0 gets no zero-point input (DequantizeLinear's default is 0):
 *   half a byte per group saved, the values unchanged.
 * - `channelScalesViaMul` (per channel, float32 scales): the form that needs only opset 10, for models
 *   below opset 13 (DequantizeLinear has `axis` from 13). The integers go through a per-tensor
 *   `DequantizeLinear` with scale 1 (zero point: the common zero point, else 0 and a `Sub` of the
 *   per-channel zero points as float32), then a `Mul` by the scales shaped to broadcast along the axis
 *   ([C, 1, 1, 1] for axis 0 of a rank-4 weight). It computes the same float32 values as a per-channel
 *   DequantizeLinear: `q - zp` is exact in float32, and `(q - zp) × scale` is the single rounding both
 *   forms make.
 *
 * @example
 * ```ts
 * writeQdq(model, 'conv.weight', {
 *   data: q.packedData(), dtype: 'qint8', scales: p.scales, zeroPoints: p.zeroPoints, paramShape: [64], axis: 0,
 * }, names);
 * ```
 * @module
 */
import type { QDType } from '../../dtype.js';
import { InvalidArgumentError } from '../../errors.js';
import { packNibbles, unpackNibbles } from '../../pack-nibbles.js';
import { toFloat32 } from '../float-convert.js';
import { floatToHalfBits } from '../half.js';
import { ONNX_BFLOAT16, ONNX_FLOAT, ONNX_FLOAT16, onnxCodeOfQDType } from './dtypes.js';
import type { NameAllocator } from './names.js';
import type { OnnxModel } from './onnx-model.js';
import { ATTRIBUTE_TYPE, type NodeProto, type TensorProto, initializersOf, nodesOf, onnx, valueInfosOf } from './proto.js';

/** The float type scales are stored in. */
export type ScaleType = 'float32' | 'float16' | 'bfloat16';

/** One quantized weight, ready to write. */
export interface QdqTensor {
  /** The stored integers as bytes (`QTensor.packedData()`): 4-bit types two per byte. */
  data: Uint8Array;
  dtype: Exclude<QDType, 'qint32'>;
  /**
   * Scales (values representable in `scaleType`), row-major in `paramShape`. Float32 scales given as a
   * Float32Array become the tensor's bytes as they are (not copied), as `data` does: do not change them after.
   */
  scales: ArrayLike<number>;
  zeroPoints: ArrayLike<number>;
  /** [] per tensor, [C] per channel, the weight's shape with the axis dimension divided into groups per group. */
  paramShape: number[];
  /** The channel axis or the axis groups run along; omitted per tensor. */
  axis?: number;
  /** The group size along `axis` (per group only). */
  blockSize?: number;
  /** Default 'float32'. */
  scaleType?: ScaleType;
  /** Text for the DequantizeLinear node's doc_string (the scheme, for a reader of the file). */
  docString?: string;
  /** Per channel only: write DequantizeLinear (scale 1) → Mul by the scales (opset 10; module documentation). */
  channelScalesViaMul?: boolean;
  /** Scales stored as float16 (`scaleType` 'float16') and cast to float32 in the graph (module documentation). */
  scalesCastToFloat32?: boolean;
}

/** What {@link writeQdq} added. */
export interface QdqWritten {
  nodeName: string;
  dataName: string;
  scaleName: string;
  /** Empty where no zero point is written (4-bit, all zero points 0). */
  zeroPointName: string;
  /** Bytes of data, scales and zero points together. */
  byteLength: number;
  /**
   * The initializers added for a weight written natively (not the DequantizeLinear → Mul form): its integers, its
   * scales as stored (before any Cast) and its zero points where written.
   */
  stored?: { data: TensorProto; scale: TensorProto; zeroPoint?: TensorProto };
}

/**
 * Scales as {@link writeQdq} stores them: `type`'s bytes, little-endian (a Float32Array's own bytes for float32).
 *
 * @example
 * ```ts
 * scaleBytes(Float32Array.of(0.5), 'float16'); // Uint8Array [0x00, 0x38]
 * ```
 */
export function scaleBytes(scales: ArrayLike<number>, type: ScaleType): Uint8Array {
  // float32 from a Float32Array: its own bytes (typed arrays are little-endian here, as pack-nibbles.ts assumes).
  if (type === 'float32' && scales instanceof Float32Array) return new Uint8Array(scales.buffer, scales.byteOffset, scales.byteLength);
  const size = type === 'float32' ? 4 : 2;
  const out = new Uint8Array(scales.length * size);
  const view = new DataView(out.buffer);
  for (let i = 0; i < scales.length; i++) {
    if (type === 'float32') view.setFloat32(4 * i, scales[i]!, true);
    else if (type === 'float16') view.setUint16(2 * i, floatToHalfBits(scales[i]!), true);
    else view.setUint16(2 * i, new Uint32Array(Float32Array.of(scales[i]!).buffer)[0]! >>> 16, true);
  }
  return out;
}

/**
 * True when {@link writeQdq} stores no zero points for these: a 4-bit weight whose zero points are all 0
 * (DequantizeLinear's default).
 *
 * @example
 * ```ts
 * writesNoZeroPoints('qint4', [0, 0]); // true
 * writesNoZeroPoints('qint8', [0, 0]); // false: 8-bit weights keep theirs
 * ```
 */
export function writesNoZeroPoints(dtype: QdqTensor['dtype'], zeroPoints: ArrayLike<number>): boolean {
  if (dtype !== 'qint4' && dtype !== 'quint4') return false;
  for (let i = 0; i < zeroPoints.length; i++) if (zeroPoints[i] !== 0) return false;
  return true;
}

/**
 * Zero points as {@link writeQdq} stores them: a byte each for 8-bit types, two to a byte for 4-bit ones.
 *
 * @example
 * ```ts
 * zeroPointBytes([-1, 0, 3], 'qint4'); // Uint8Array [0x0f, 0x03]
 * ```
 */
export function zeroPointBytes(zeroPoints: ArrayLike<number>, dtype: QdqTensor['dtype']): Uint8Array {
  if (dtype === 'qint4' || dtype === 'quint4') return packNibbles(zeroPoints);
  const out = new Uint8Array(zeroPoints.length);
  for (let i = 0; i < zeroPoints.length; i++) out[i] = zeroPoints[i]! & 0xff;
  return out;
}

/**
 * Writes weight `name` of `model` as QDQ (see the module documentation). Throws InvalidArgumentError when
 * the data or parameter sizes do not fit the weight's shape.
 *
 * @example
 * ```ts
 * const written = writeQdq(model, '1072', { data, dtype: 'qint8', scales, zeroPoints, paramShape: [256], axis: 1 }, names);
 * written.dataName; // '1072_quantized'
 * ```
 */
export function writeQdq(model: OnnxModel, name: string, q: QdqTensor, names: NameAllocator): QdqWritten {
  const { info, indexed } = model.entry(name);
  const { graph } = indexed.graph;
  const count = info.shape.reduce((a, b) => a * b, 1);
  const fourBit = q.dtype === 'qint4' || q.dtype === 'quint4';
  const paramCount = q.paramShape.reduce((a, b) => a * b, 1);
  if (q.data.byteLength !== (fourBit ? Math.ceil(count / 2) : count)) {
    throw new InvalidArgumentError('q.data', q.data.byteLength, `${name}: ${q.data.byteLength} data bytes do not fit shape [${info.shape.join(', ')}] of ${q.dtype}`);
  }
  if (q.scales.length !== paramCount || q.zeroPoints.length !== paramCount) {
    throw new InvalidArgumentError('q.scales', q.scales.length, `${name}: ${q.scales.length} scales and ${q.zeroPoints.length} zero points `
      + `do not fit parameter shape [${q.paramShape.join(', ')}]`);
  }
  const base = indexed.tensorName;
  if (q.channelScalesViaMul) {
    const castScales = q.scalesCastToFloat32 === true && q.scaleType === 'float16';
    if (q.axis === undefined || q.blockSize !== undefined || ((q.scaleType ?? 'float32') !== 'float32' && !castScales) || fourBit) {
      throw new InvalidArgumentError('q.channelScalesViaMul', true,
        `${name}: the DequantizeLinear + Mul form is for 8-bit per-channel weights with float32 scales (or float16 cast to float32); write the others natively`);
    }
    return writeViaMul(model, name, q, names);
  }
  const scaleType = q.scaleType ?? 'float32';
  const intCode = onnxCodeOfQDType(q.dtype);
  const dataName = names.fresh(`${base}_quantized`);
  const scaleName = names.fresh(`${base}_scale`);
  const omitZeroPoint = writesNoZeroPoints(q.dtype, q.zeroPoints);
  const zeroPointName = omitZeroPoint ? '' : names.fresh(`${base}_zero_point`);
  const scaleRaw = scaleBytes(q.scales, scaleType);
  const zeroRaw = omitZeroPoint ? new Uint8Array(0) : zeroPointBytes(q.zeroPoints, q.dtype);
  const cast = castScalesNode(q, scaleName, names);
  const tensors = [
    onnx.TensorProto.create({ name: dataName, dataType: intCode, dims: info.shape, rawData: q.data, docString: indexed.tensor.docString }),
    onnx.TensorProto.create({
      name: cast?.input[0] ?? scaleName, dataType: scaleType === 'float32' ? ONNX_FLOAT : scaleType === 'float16' ? ONNX_FLOAT16 : ONNX_BFLOAT16,
      dims: q.paramShape, rawData: scaleRaw,
    }),
    ...(omitZeroPoint ? [] : [onnx.TensorProto.create({ name: zeroPointName, dataType: intCode, dims: q.paramShape, rawData: zeroRaw })]),
  ];
  const attribute = [];
  if (q.axis !== undefined) attribute.push(onnx.AttributeProto.create({ name: 'axis', type: ATTRIBUTE_TYPE.INT, i: q.axis }));
  if (q.blockSize !== undefined) attribute.push(onnx.AttributeProto.create({ name: 'block_size', type: ATTRIBUTE_TYPE.INT, i: q.blockSize }));
  const nodeName = indexed.node?.name ? indexed.node.name : names.fresh(`${base}_DequantizeLinear`);
  const dequantize: NodeProto = onnx.NodeProto.create({
    name: nodeName, opType: 'DequantizeLinear', domain: '', input: [dataName, scaleName, ...(omitZeroPoint ? [] : [zeroPointName])], output: [base], attribute,
    docString: q.docString ?? '',
  });
  const nodes = cast ? [cast, dequantize] : [dequantize];
  if (indexed.source === 'initializer') {
    graph.initializer = initializersOf(graph).filter((t) => t !== indexed.tensor);
    if (indexed.graphInput) graph.input = valueInfosOf(graph.input).filter((v) => v.name !== base);
    graph.node.unshift(...nodes);
  } else {
    const at = nodesOf(graph).indexOf(indexed.node!);
    graph.node.splice(at, 1, ...nodes);
  }
  graph.initializer.push(...tensors);
  const stored = { data: tensors[0]!, scale: tensors[1]!, ...(omitZeroPoint ? {} : { zeroPoint: tensors[2]! }) };
  return { nodeName, dataName, scaleName, zeroPointName, byteLength: q.data.byteLength + scaleRaw.byteLength + zeroRaw.byteLength, stored };
}

/**
 * With `scalesCastToFloat32` (and float16 scales): the Cast node that turns the stored float16 scales
 * (`<scaleName>_float16`, its input) into the float32 tensor `scaleName`; otherwise undefined.
 */
function castScalesNode(q: QdqTensor, scaleName: string, names: NameAllocator): NodeProto | undefined {
  if (!q.scalesCastToFloat32) return undefined;
  if (q.scaleType !== 'float16') {
    throw new InvalidArgumentError('q.scalesCastToFloat32', true, `scalesCastToFloat32 needs scaleType 'float16', not ${JSON.stringify(q.scaleType ?? 'float32')}`);
  }
  return onnx.NodeProto.create({
    name: names.fresh(`${scaleName}_Cast`), opType: 'Cast', domain: '', input: [names.fresh(`${scaleName}_float16`)], output: [scaleName],
    attribute: [onnx.AttributeProto.create({ name: 'to', type: ATTRIBUTE_TYPE.INT, i: ONNX_FLOAT })],
  });
}

/** A float32 initializer of `dims` holding `values`. */
function floatTensor(name: string, dims: number[], values: ArrayLike<number>) {
  return onnx.TensorProto.create({ name, dataType: ONNX_FLOAT, dims, rawData: scaleBytes(values, 'float32') });
}

/** The DequantizeLinear (scale 1) → [Sub] → Mul form of a per-channel weight (module documentation). */
function writeViaMul(model: OnnxModel, name: string, q: QdqTensor, names: NameAllocator): QdqWritten {
  const { info, indexed } = model.entry(name);
  const { graph } = indexed.graph;
  const base = indexed.tensorName;
  const axis = q.axis!;
  const channels = q.scales.length;
  const broadcast = info.shape.map((_, i) => (i === axis ? channels : 1));
  const common = Array.from(q.zeroPoints).every((z) => z === q.zeroPoints[0]);
  const intCode = onnxCodeOfQDType(q.dtype);
  const dataName = names.fresh(`${base}_quantized`);
  const unitName = names.fresh(`${base}_unit_scale`);
  const zeroPointName = names.fresh(`${base}_zero_point`);
  const scaleName = names.fresh(`${base}_scale`);
  const integersName = names.fresh(`${base}_integers`);
  const zeroRaw = Uint8Array.of(common ? q.zeroPoints[0]! & 0xff : 0);
  const cast = castScalesNode(q, scaleName, names);
  const tensors = [
    onnx.TensorProto.create({ name: dataName, dataType: intCode, dims: info.shape, rawData: q.data, docString: indexed.tensor.docString }),
    floatTensor(unitName, [], [1]),
    onnx.TensorProto.create({ name: zeroPointName, dataType: intCode, dims: [], rawData: zeroRaw }),
    cast ? onnx.TensorProto.create({ name: cast.input[0]!, dataType: ONNX_FLOAT16, dims: broadcast, rawData: scaleBytes(q.scales, 'float16') })
      : floatTensor(scaleName, broadcast, q.scales),
  ];
  const nodeName = indexed.node?.name ? indexed.node.name : names.fresh(`${base}_DequantizeLinear`);
  const nodes: NodeProto[] = [...(cast ? [cast] : []), onnx.NodeProto.create({
    name: nodeName, opType: 'DequantizeLinear', domain: '', input: [dataName, unitName, zeroPointName], output: [integersName],
    docString: q.docString ?? '',
  })];
  let scaled = integersName;
  let zeroBytes = zeroRaw.byteLength;
  if (!common) {
    const centered = names.fresh(`${base}_centered`);
    const channelZeroName = names.fresh(`${base}_channel_zero_point`);
    tensors.push(floatTensor(channelZeroName, broadcast, q.zeroPoints));
    nodes.push(onnx.NodeProto.create({ name: names.fresh(`${base}_Sub`), opType: 'Sub', domain: '', input: [integersName, channelZeroName], output: [centered] }));
    scaled = centered;
    zeroBytes += 4 * channels;
  }
  nodes.push(onnx.NodeProto.create({ name: names.fresh(`${base}_Mul`), opType: 'Mul', domain: '', input: [scaled, scaleName], output: [base] }));
  if (indexed.source === 'initializer') {
    graph.initializer = initializersOf(graph).filter((t) => t !== indexed.tensor);
    if (indexed.graphInput) graph.input = valueInfosOf(graph.input).filter((v) => v.name !== base);
    graph.node.unshift(...nodes);
  } else {
    const at = nodesOf(graph).indexOf(indexed.node!);
    graph.node.splice(at, 1, ...nodes);
  }
  graph.initializer.push(...tensors);
  return { nodeName, dataName, scaleName, zeroPointName, byteLength: q.data.byteLength + 4 + (cast ? 2 : 4) * channels + zeroBytes };
}

/**
 * A function reading a natively written weight's scales and zero points back from the bytes {@link writeQdq}
 * stored (`written.stored`), for a caller that would otherwise keep its own copy: the bytes arrays are kept (the
 * model holds them anyway), the values made when called. Zero points not written read as 0.
 *
 * @example
 * ```ts
 * const written = writeQdq(model, 'fc1.weight', { data, dtype: 'qint4', scales, zeroPoints, paramShape, axis: 0, blockSize: 32, scaleType: 'float16' }, names);
 * const again = storedParameters(written.stored!, 'float16', 'qint4');
 * again().scales; // the scales as float16 made them: equal to `scales` where those were float16 values
 * ```
 */
export function storedParameters(
  stored: NonNullable<QdqWritten['stored']>, scaleType: ScaleType, dtype: QdqTensor['dtype'],
): () => { scales: Float32Array; zeroPoints: ArrayLike<number> } {
  const scaleBytes = stored.scale.rawData;
  const zeroBytes = stored.zeroPoint?.rawData;
  return () => {
    const scales = toFloat32(scaleBytes, scaleType, 'scales');
    const count = scales.length;
    if (!zeroBytes) return { scales, zeroPoints: new Int8Array(count) };
    if (dtype === 'qint4' || dtype === 'quint4') return { scales, zeroPoints: unpackNibbles(zeroBytes, count, dtype === 'qint4') };
    return { scales, zeroPoints: dtype === 'qint8' ? new Int8Array(zeroBytes.buffer, zeroBytes.byteOffset, count) : zeroBytes.subarray(0, count) };
  };
}
