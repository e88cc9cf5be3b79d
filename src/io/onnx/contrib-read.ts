/**
 * Reads the quantized weights back out of onnxruntime's contrib operators, as qdq-read.ts does for
 * `DequantizeLinear`: every `com.microsoft.MatMulNBits` (4 or 8 bits) and `GatherBlockQuantized` (uint8 data,
 * 4 or 8 bits) whose weight, scales and zero points are stored tensors becomes a per-group QTensor of the
 * original weight's shape, so a model written with `--onnx-ops contrib` (or transformers.js's `model_q4.onnx`)
 * can be inspected and compared with its original. The layouts are those matmul-nbits-writer.ts and
 * gather-block-writer.ts describe:
 *
 * - MatMulNBits: the weight [K, N] in groups of `block_size` along K (axis 0), from `B` [N, n_blocks, blob] and
 *   `scales` [N, n_blocks] (transposed to the [n_blocks, N] order of a group layout).
 * - GatherBlockQuantized: the table [rows, D] in groups of `block_size` along D (axis 1).
 * - The stored integers are unsigned. Without `zero_points` every zero point is the default 2^(bits-1), and the
 *   weight reads as signed (`qint4` / `qint8`, the stored value less 2^(bits-1), zero point 0); with them, as
 *   unsigned (`quint4` / `quint8`). A block stored with a negative scale (onnxruntime's symmetric quantizer, and
 *   the writers for a block whose zero point is -1) reads with the scale positive and the integers and zero
 *   point reflected (q → 2^bits - 1 - q): the same values, so a signed block gets zero point -1.
 *
 * A weight is named by its data tensor without the suffix the writers add (`_nbits`, `_gbq`; onnxruntime's
 * quantizer adds `_Q4` / `_Q8`), or by the data tensor's own name when that name is taken. Anything else
 * (zero points of the float type, `g_idx`, another data type, a scale of 0) is left as stored tensors.
 *
 * @example
 * ```ts
 * const model = await OnnxModel.load(await readFile('web/onnx/model_q4.onnx'));
 * const { quantized, parts } = await readContribWeights(model);
 * quantized.get('fc1.weight')?.qGroupSize(); // 32
 * parts.get('fc1.weight');                   // ['fc1.weight_nbits', 'fc1.weight_scales']
 * ```
 * @module
 */
import { type QDType, dtypeInfo } from '../../dtype.js';
import { FormatError } from '../../errors.js';
import { MAX_SCALE, MIN_SCALE } from '../../validate.js';
import { type QParams, QTensor, checkQParams } from '../../qtensor.js';
import { type StoredQuantizedWeight, loadStoredWeights } from '../stored-quantized.js';
import { toFloat32 } from '../float-convert.js';
import { type GraphEntry, listGraphs } from './graph-index.js';
import { unpackNBits } from './nbits-unpack.js';
import type { OnnxModel, OnnxWeightInfo } from './onnx-model.js';
import { type GraphProto, type ProtoInt, attributesOf, nodesOf, toSafeInt } from './proto.js';

const MS_DOMAIN = 'com.microsoft';

/** The weights read, and the stored tensors behind each. */
export interface ContribWeights {
  quantized: Map<string, QTensor>;
  parts: Map<string, string[]>;
}

/**
 * The quantized weights behind `model`'s MatMulNBits and GatherBlockQuantized nodes (see the module
 * documentation), by the original weight's name.
 *
 * @example
 * ```ts
 * const { quantized } = await readContribWeights(await OnnxModel.load(await readFile('model_q4.onnx')));
 * const w = await dequantize(quantized.get('fc1.weight')!); // the float weight MatMulNBits computes with, [K, N]
 * ```
 */
export async function readContribWeights(model: OnnxModel): Promise<ContribWeights> {
  const { weights, parts } = await describeContribWeights(model);
  return { quantized: await loadStoredWeights(weights), parts };
}

/**
 * The weights readContribWeights reads, by the same names, with their integers left in the file: the scales
 * and zero points are read and checked, and `load()` reads and unpacks the blocks.
 *
 * @example
 * ```ts
 * const { weights } = await describeContribWeights(await OnnxModel.load(await readFile('model_q4.onnx')));
 * weights.get('fc1.weight')?.groupSize;            // 32, no block read yet
 * const q = await weights.get('fc1.weight')!.load(); // the QTensor readContribWeights gives
 * ```
 */
export async function describeContribWeights(model: OnnxModel): Promise<{ weights: Map<string, StoredQuantizedWeight>; parts: Map<string, string[]> }> {
  const stored = new Map(model.list().map((w) => [`${w.graph}|${w.tensorName}`, w]));
  const lookup = (entry: GraphEntry | undefined, name: string | undefined): OnnxWeightInfo | undefined => {
    for (let g = entry; g && name; g = g.parent) {
      const found = stored.get(`${g.path}|${name}`);
      if (found) return found;
    }
    return undefined;
  };
  const taken = new Set(model.list().map((w) => w.name));
  const weights = new Map<string, StoredQuantizedWeight>();
  const parts = new Map<string, string[]>();
  for (const entry of listGraphs(model.proto.graph as GraphProto)) {
    for (const node of nodesOf(entry.graph)) {
      if (node.domain !== MS_DOMAIN || (node.opType !== 'MatMulNBits' && node.opType !== 'GatherBlockQuantized')) continue;
      const nbits = node.opType === 'MatMulNBits';
      const inputs = node.input as string[];
      // MatMulNBits(A, B, scales, zero_points?, g_idx?, bias?); GatherBlockQuantized(data, indices, scales, zero_points?).
      const [dataName, scaleName, zeroName] = nbits ? [inputs[1], inputs[2], inputs[3]] : [inputs[0], inputs[2], inputs[3]];
      if (nbits && inputs[4]) continue; // act-order (g_idx): not a plain group layout
      const data = lookup(entry, dataName);
      const scale = lookup(entry, scaleName);
      const zero = zeroName ? lookup(entry, zeroName) : undefined;
      if (!data || !scale || (zeroName && !zero) || data.dtype !== 'uint8' || (zero && zero.dtype !== 'uint8')) continue;
      if (scale.dtype !== 'float32' && scale.dtype !== 'float16' && scale.dtype !== 'bfloat16') continue;
      const attributes = new Map(attributesOf(node).map((a) => [a.name, a.i === undefined || a.i === null ? undefined : toSafeInt(a.i as ProtoInt, `${node.opType} ${a.name}`)]));
      // Read to check the scales, and again on load, which makes the parameters (a listing keeps none).
      const layoutOf = async (): Promise<BlockLayout | undefined> => {
        const scales = toFloat32(await model.read(scale.name), scale.dtype, `${model.name}: ${scale.name}`);
        const zeroBytes = zero ? await model.read(zero.name) : undefined;
        return nbits ? matMulNBitsLayout(attributes, data, scales, zeroBytes) : gatherBlockLayout(attributes, data, scales, zeroBytes);
      };
      const layout = await layoutOf();
      const w = layout && storedWeight(layout, layoutOf, async () => model.read(data.name), `${model.name}: ${node.opType} weight ${JSON.stringify(data.name)}`);
      if (!w) continue;
      const base = data.name.replace(/_(nbits|gbq|Q4|Q8)$/, '');
      const name = base !== data.name && !taken.has(base) && !weights.has(base) ? base : data.name;
      weights.set(name, w);
      parts.set(name, [data.name, scale.name, ...(zero ? [zero.name] : [])]);
    }
  }
  return { weights, parts };
}

/** A block layout read from a node's attributes and parameters: the weight's shape and groups, and how to unpack the blocks. */
interface BlockLayout {
  shape: [number, number];
  bits: number;
  hasZeroPoints: boolean;
  /** The groups' parameters, made when asked for (a listing needs none; its scales were checked in range). */
  params(): GroupParams | undefined;
  axis: number;
  groupSize: number;
  /** The stored blocks as one integer per element of the weight (row-major), written into `into` (the dtype's array). */
  unpack(bytes: Uint8Array, into: Int8Array | Uint8Array, params: GroupParams): void;
}

const intAttribute = (attributes: Map<string, number | undefined>, name: string, fallback?: number) => attributes.get(name) ?? fallback;

/** MatMulNBits' B [N, n_blocks, blob] and scales [N, n_blocks] as the weight [K, N] in groups along K. */
function matMulNBitsLayout(
  attributes: Map<string, number | undefined>, data: OnnxWeightInfo, scales: Float32Array, zeroBytes: Uint8Array | undefined,
): BlockLayout | undefined {
  const k = intAttribute(attributes, 'K');
  const n = intAttribute(attributes, 'N');
  const bits = intAttribute(attributes, 'bits', 4)!;
  const blockSize = intAttribute(attributes, 'block_size');
  if (k === undefined || n === undefined || blockSize === undefined || (bits !== 4 && bits !== 8) || k <= 0 || n <= 0 || blockSize <= 0) return undefined;
  const blocks = Math.ceil(k / blockSize);
  const blob = (blockSize * bits) / 8;
  if (!Number.isInteger(blob) || data.byteLength !== n * blocks * blob || scales.length !== n * blocks) return undefined;
  const zeroRow = Math.ceil((blocks * bits) / 8);
  if (zeroBytes && zeroBytes.byteLength !== n * zeroRow) return undefined;
  if (!scalesInRange(scales)) return undefined;
  // Group (b, col) of the [n_blocks, N] group layout is block b of column col.
  const params = () => groupParams(bits, blocks, n, true, scales, zeroBytes, zeroRow);
  const unpack = (bytes: Uint8Array, ints: Int8Array | Uint8Array, { masks, offset }: GroupParams): void =>
    unpackNBits(bytes, ints, masks, { k, n, blockSize, bits: bits as 4 | 8, offset });
  return { shape: [k, n], bits, hasZeroPoints: zeroBytes !== undefined, params, axis: 0, groupSize: blockSize, unpack };
}

/** GatherBlockQuantized's uint8 data [rows, D × bits / 8] and scales [rows, n_blocks] as the table [rows, D] in groups along D. */
function gatherBlockLayout(
  attributes: Map<string, number | undefined>, data: OnnxWeightInfo, scales: Float32Array, zeroBytes: Uint8Array | undefined,
): BlockLayout | undefined {
  const bits = intAttribute(attributes, 'bits', 4)!;
  const blockSize = intAttribute(attributes, 'block_size', 128)!;
  const gatherAxis = intAttribute(attributes, 'gather_axis', 0);
  const quantizeAxis = intAttribute(attributes, 'quantize_axis', 1);
  if (data.shape.length !== 2 || gatherAxis !== 0 || (quantizeAxis !== 1 && quantizeAxis !== -1) || (bits !== 4 && bits !== 8) || blockSize <= 0) return undefined;
  const [rows, stored] = data.shape as [number, number];
  const d = (stored * 8) / bits;
  const blocks = Math.ceil(d / blockSize);
  if (scales.length !== rows * blocks) return undefined;
  const zeroRow = Math.ceil((blocks * bits) / 8);
  if (zeroBytes && zeroBytes.byteLength !== rows * zeroRow) return undefined;
  if (!scalesInRange(scales)) return undefined;
  // Group (r, b) of the [rows, n_blocks] group layout is block b of row r.
  const params = () => groupParams(bits, rows, blocks, false, scales, zeroBytes, zeroRow);
  const unpack = (bytes: Uint8Array, ints: Int8Array | Uint8Array, { masks, offset }: GroupParams): void => {
    for (let r = 0, i = 0; r < rows; r++) {
      for (let j = 0; j < d; j++, i++) ints[i] = (unsignedAt(bytes, 0, i, bits) ^ masks[r * blocks + Math.floor(j / blockSize)]!) - offset;
    }
  };
  return { shape: [rows, d], bits, hasZeroPoints: zeroBytes !== undefined, params, axis: 1, groupSize: blockSize, unpack };
}

/**
 * Whether every stored scale, made positive, is one a QTensor takes: checkScale's range (a float32 normal number with
 * a normal reciprocal), so 0, NaN and ±Infinity are not. The zero points, a stored nibble or byte reflected and
 * offset, always lie in the dtype's range.
 */
function scalesInRange(scales: Float32Array): boolean {
  for (let i = 0; i < scales.length; i++) {
    const scale = Math.abs(scales[i]!);
    if (!(scale >= MIN_SCALE && scale <= MAX_SCALE)) return false;
  }
  return true;
}

/** Per group: the scale made positive, the zero point (reflected where the scale was negative), the integers' reflection mask. */
interface GroupParams {
  scales: Float64Array;
  zeroPoints: Int32Array;
  /** 2^bits - 1 where the group's integers are reflected (q XOR mask = 2^bits - 1 - q), else 0. */
  masks: Uint8Array;
  /** Subtracted from the stored unsigned integers: 2^(bits-1) for the signed reading, else 0. */
  offset: number;
}

/**
 * The parameters of the [outer, inner] groups of a group layout from their stored scales and unsigned zero points
 * (the default 2^(bits-1) without zero points: then the signed reading), stored [outer, inner] or, `transposed`,
 * [inner, outer] (zero points `zeroRow` bytes a stored row). Undefined when a scale is 0 or not finite.
 */
function groupParams(
  bits: number, outer: number, inner: number, transposed: boolean, stored: Float32Array, zeroBytes: Uint8Array | undefined, zeroRow: number,
): GroupParams | undefined {
  const count = outer * inner;
  const max = (1 << bits) - 1;
  const offset = zeroBytes ? 0 : 1 << (bits - 1);
  const scales = new Float64Array(count);
  const zeroPoints = new Int32Array(count);
  const masks = new Uint8Array(count);
  const storedRow = transposed ? outer : inner;
  for (let a = 0, g = 0; a < outer; a++) {
    for (let c = 0; c < inner; c++, g++) {
      const row = transposed ? c : a;
      const column = transposed ? a : c;
      const s = stored[row * storedRow + column]!;
      if (!(Number.isFinite(s) && s !== 0)) return undefined;
      const z = zeroBytes ? unsignedAt(zeroBytes, row * zeroRow, column, bits) : offset;
      masks[g] = s < 0 ? max : 0;
      scales[g] = Math.abs(s);
      zeroPoints[g] = (s < 0 ? max - z : z) - offset;
    }
  }
  return { scales, zeroPoints, masks, offset };
}

/** The i-th unsigned integer of `bits` bits from byte `start` (4-bit ones two a byte, the low nibble first). */
function unsignedAt(bytes: Uint8Array, start: number, i: number, bits: number): number {
  return bits === 8 ? bytes[start + i]! : (bytes[start + (i >> 1)]! >> ((i & 1) * 4)) & 0xf;
}

/**
 * The weight of `layout`, its parameters made again by `layoutOf` and its blocks read by `read` on load; undefined
 * when its parameters do not form a quantized weight (left as stored tensors).
 */
function storedWeight(
  layout: BlockLayout, layoutOf: () => Promise<BlockLayout | undefined>, read: () => Promise<Uint8Array>, what: string,
): StoredQuantizedWeight {
  const { shape, bits, hasZeroPoints, axis, groupSize } = layout;
  const dtype: QDType = bits === 4 ? (hasZeroPoints ? 'quint4' : 'qint4') : (hasZeroPoints ? 'quint8' : 'qint8');
  // The parameters are made (and checked as a QTensor's) on load: the layout checked its scales in range, so a
  // listing makes none.
  const load = async (): Promise<QTensor> => {
    const again = await layoutOf();
    const params = again?.params();
    if (!again || !params) throw new FormatError(`${what}: its scales or zero points changed after it was described; open the model again`);
    const checked: QParams = checkQParams(shape, dtype, { scales: params.scales, zeroPoints: params.zeroPoints, axis, groupSize });
    const ints = dtypeInfo(dtype).makeArray(shape[0] * shape[1]) as Int8Array | Uint8Array;
    again.unpack(await read(), ints, params);
    // Every unpacked value lies in the dtype's range (a masked nibble or byte, less the offset): adopted as it is.
    return new QTensor(ints, shape, dtype, checked, 'cpu');
  };
  return { dtype, shape: [...shape], qscheme: 'per_group_affine', axis, groupSize, load };
}
