/**
 * Replaces an embedding table by onnxruntime's `com.microsoft.GatherBlockQuantized`, in place: every `Gather`
 * node that reads weight `W` (shape [rows, D]) as its data along axis 0 becomes
 * `GatherBlockQuantized(W_gbq, indices, W_scales[, W_zero_points])` with the same name and output, and `W`
 * itself is removed. The layout is the kernel's uint8 form (the one onnxruntime's CPU kernel reads with the
 * conventions of MatMulNBits):
 *
 * - `data`: uint8 [rows, D × bits / 8]; 8-bit values one a byte, 4-bit values two a byte, the even column in
 *   the low nibble; rows end to end (D is even for 4 bits).
 * - `scales`: the weight's float type, [rows, n_blocks], n_blocks = ceil(D / block_size) (the last block of a
 *   row may be short: the kernel counts blocks, it does not pad).
 * - `zero_points`: uint8 [rows, ceil(n_blocks × bits / 8)], 4-bit ones two a byte, each row starting on a new
 *   byte; written only when some zero point differs from the default (8 for 4 bits, 128 for 8).
 * - Integers are stored unsigned (a signed q as q + 8 or q + 128, its zero point too). A signed block with zero
 *   point -1 is stored with the scale negated and the integers -(q + 1) at the default zero point, the same
 *   values, as in matmul-nbits-writer.ts.
 * - Attributes `bits`, `block_size`, `gather_axis` 0, `quantize_axis` 1.
 *
 * Per-row and per-tensor parameters are written as blocks repeating the row's (or the tensor's) scale.
 * The `com.microsoft` opset import (version 1) is added when the model has none.
 *
 * @example
 * ```ts
 * writeGatherBlockQuantized(model, 'embed.weight', { values, dtype: 'qint4', parameters: 'groups', scales, zeroPoints, blockSize: 32 }, names);
 * ```
 * @module
 */
import { InvalidArgumentError } from '../../errors.js';
import { floatToHalfBits } from '../half.js';
import { filledLater } from './deferred-raw-data.js';
import type { NameAllocator } from './names.js';
import type { OnnxModel } from './onnx-model.js';
import { listGraphs } from './graph-index.js';
import { ATTRIBUTE_TYPE, type GraphProto, type TensorProto, nodesOf, onnx } from './proto.js';
import { ONNX_FLOAT, ONNX_FLOAT16 } from './dtypes.js';
import { packGatherData } from './gather-block-data.js';
import { type BlockIntegers, blockIntegersProblem, groupParametersAgain, isPlannedIntegers } from './matmul-nbits-blocks.js';
import { type GroupParameters, MS_DOMAIN, replaceWeight } from './matmul-nbits-writer.js';

const ONNX_UINT8 = 2;

/** One quantized embedding table, ready to write as GatherBlockQuantized. */
export interface GatherBlockTensor {
  /**
   * The integers, row-major [rows, D] (signed for qint*, unsigned for quint*), one an element or, 4-bit, packed two
   * to a byte in that order (`{ nibbles }`, a QTensor's `packedNibbles`); a `filledLater` placeholder of rows × D
   * bytes (or, packed, half that) for a planned layout (the data is then a placeholder of its length).
   */
  values: BlockIntegers;
  dtype: 'qint8' | 'quint8' | 'qint4' | 'quint4';
  /** 'groups': [rows, ceil(D / blockSize)] parameters; 'rows': [rows]; 'tensor': one. */
  parameters: 'groups' | 'rows' | 'tensor';
  scales: ArrayLike<number>;
  zeroPoints: ArrayLike<number>;
  /** A power of two, 16 to 256. */
  blockSize: number;
  /** Default 'float32'; 'float16' for a float16 model. */
  scaleType?: 'float32' | 'float16';
  docString?: string;
  /**
   * What the data input holds: given its bytes and a function that packs them again from the integers (in either
   * form `values` takes), returns them or a placeholder that produces them when written. Default: the bytes. For
   * `parameters: 'groups'` it is also given the scales and zero points made again from the written ones.
   */
  storeData?: (data: Uint8Array, pack: (values: BlockIntegers) => Uint8Array, parameters?: () => GroupParameters) => Uint8Array;
  /**
   * Memory for the data, given its length (memory a compressor uses again from weight to weight once the model no
   * longer holds it); the data is laid out into it instead of a fresh array. `pack` (above) always uses fresh memory.
   */
  dataMemory?: (byteLength: number) => Uint8Array;
}

/** What {@link writeGatherBlockQuantized} added. */
export interface GatherBlockWritten {
  nodeNames: string[];
  /** Bytes of data, scales and zero points together. */
  byteLength: number;
  /** The initializers added: the data, the scales and the zero points where written. */
  stored: { data: TensorProto; scale: TensorProto; zeroPoint?: TensorProto };
}

/**
 * Writes weight `name` of `model` as GatherBlockQuantized (see the module documentation). Throws
 * InvalidArgumentError when the weight is not 2-D, a count does not fit, the block size is not a power of two
 * in 16..256, a 4-bit row is odd, or a consumer is not a Gather along axis 0 reading it as data.
 *
 * @example
 * ```ts
 * writeGatherBlockQuantized(model, 'embed.weight', { values, dtype: 'qint8', parameters: 'rows', scales, zeroPoints, blockSize: 128 }, names).byteLength;
 * ```
 */
export function writeGatherBlockQuantized(model: OnnxModel, name: string, q: GatherBlockTensor, names: NameAllocator): GatherBlockWritten {
  const { info, indexed } = model.entry(name);
  const fail = (field: string, value: unknown, message: string): never => {
    throw new InvalidArgumentError(field, value, `${name}: ${message}`);
  };
  if (info.shape.length !== 2) fail('shape', info.shape, `GatherBlockQuantized is written for a 2-D [rows, D] table, not [${info.shape.join(', ')}]`);
  const [rows, D] = info.shape as [number, number];
  const bits = q.dtype === 'qint4' || q.dtype === 'quint4' ? 4 : 8;
  const { blockSize } = q;
  if (!(Number.isInteger(blockSize) && blockSize >= 16 && blockSize <= 256 && (blockSize & (blockSize - 1)) === 0)) {
    fail('blockSize', blockSize, 'block_size must be a power of two from 16 to 256');
  }
  if (bits === 4 && D % 2 !== 0) fail('shape', info.shape, `4-bit rows are packed two values a byte; row length ${D} is odd`);
  const problem = blockIntegersProblem(q.values, bits, q.dtype, rows, D);
  if (problem) fail('values', problem.value, problem.message);
  const blocks = Math.ceil(D / blockSize);
  const paramCount = q.parameters === 'groups' ? rows * blocks : q.parameters === 'rows' ? rows : 1;
  if (q.scales.length !== paramCount || q.zeroPoints.length !== paramCount) {
    fail('scales', q.scales.length, `${q.scales.length} scales and ${q.zeroPoints.length} zero points; ${q.parameters} of [${rows}, ${D}] need ${paramCount}`);
  }
  if (info.consumers.length === 0 || info.consumers.some((c) => c.opType !== 'Gather' || c.domain !== '' || c.inputIndex !== 0
    || ![0, -2].includes(Number(c.attributes.axis ?? 0)))) {
    fail('consumers', info.consumers.map((c) => c.opType), 'GatherBlockQuantized replaces Gather nodes reading the weight as data along axis 0, and nothing else reads it');
  }
  const wanted = new Set(info.consumers.map((c) => c.graph));
  const nodes = listGraphs(model.proto.graph as GraphProto).filter((g) => wanted.has(g.path))
    .flatMap((g) => nodesOf(g.graph).filter((n) => n.opType === 'Gather' && (n.domain ?? '') === '' && n.input[0] === indexed.tensorName));

  const { data, scaleRaw, zeroRaw, zeroBytesPerRow } = gbqLayout(q, rows, D);
  const scaleType = q.scaleType ?? 'float32';
  const base = indexed.tensorName;
  const dataName = names.fresh(`${base}_gbq`);
  const scaleName = names.fresh(`${base}_scales`);
  const zeroPointName = zeroRaw ? names.fresh(`${base}_zero_points`) : undefined;
  const tensors = [
    onnx.TensorProto.create({ name: dataName, dataType: ONNX_UINT8, dims: [rows, (D * bits) / 8], rawData: data, docString: indexed.tensor.docString }),
    onnx.TensorProto.create({ name: scaleName, dataType: scaleType === 'float32' ? ONNX_FLOAT : ONNX_FLOAT16, dims: [rows, blocks], rawData: scaleRaw }),
  ];
  if (zeroRaw) tensors.push(onnx.TensorProto.create({ name: zeroPointName!, dataType: ONNX_UINT8, dims: [rows, zeroBytesPerRow], rawData: zeroRaw }));
  const int = (attribute: string, i: number) => onnx.AttributeProto.create({ name: attribute, type: ATTRIBUTE_TYPE.INT, i });
  for (const node of nodes) {
    node.opType = 'GatherBlockQuantized';
    node.domain = MS_DOMAIN;
    node.input = [dataName, node.input[1]!, scaleName, ...(zeroPointName ? [zeroPointName] : [])];
    node.attribute = [int('bits', bits), int('block_size', blockSize), int('gather_axis', 0), int('quantize_axis', 1)];
    if (q.docString) node.docString = q.docString;
  }
  return {
    nodeNames: nodes.map((n) => n.name), byteLength: data.byteLength + scaleRaw.byteLength + (zeroRaw?.byteLength ?? 0),
    stored: replaceWeight(model, indexed, tensors),
  };
}

/**
 * The bytes a GatherBlockQuantized table stores: its data, the scales and, where written, the zero points, as
 * {@link writeGatherBlockQuantized} lays them out for `q` (a [rows, D] table), without a model. What a writer that
 * let go of them computes them again with.
 *
 * @example
 * ```ts
 * const [data, scales] = gatherBlockBytes({ values, dtype: 'qint4', parameters: 'groups', scales: s, zeroPoints: z, blockSize: 32 }, rows, D);
 * ```
 */
export function gatherBlockBytes(q: Omit<GatherBlockTensor, 'storeData'>, rows: number, D: number): Uint8Array[] {
  const { data, scaleRaw, zeroRaw } = gbqLayout(q, rows, D);
  return [data, scaleRaw, ...(zeroRaw ? [zeroRaw] : [])];
}

/** The data (through `q.storeData` where given), scale and zero-point bytes of a [rows, D] table's layout. */
function gbqLayout(q: GatherBlockTensor, rows: number, D: number) {
  const bits = q.dtype === 'qint4' || q.dtype === 'quint4' ? 4 : 8;
  const { blockSize } = q;
  const blocks = Math.ceil(D / blockSize);
  const offset = q.dtype === 'qint4' ? 8 : q.dtype === 'qint8' ? 128 : 0;
  const paramIndex = (row: number, block: number) => (q.parameters === 'groups' ? row * blocks + block : q.parameters === 'rows' ? row : 0);
  const scales = new Float32Array(rows * blocks);
  const zeros = new Uint8Array(rows * blocks);
  const negated = new Uint8Array(rows * blocks);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < blocks; b++) {
      const p = paramIndex(r, b);
      const flip = offset !== 0 && q.zeroPoints[p] === -1 ? 1 : 0;
      negated[r * blocks + b] = flip;
      scales[r * blocks + b] = flip ? -q.scales[p]! : q.scales[p]!;
      zeros[r * blocks + b] = (flip ? 0 : q.zeroPoints[p]!) + offset;
    }
  }
  // A planned layout's integers (a filledLater placeholder, packed or not) give a placeholder of the data's length.
  const planned = isPlannedIntegers(q.values);
  const pack = (values: BlockIntegers) => packGatherData(values, rows, D, blockSize, bits, offset, negated);
  // Groups are stored in their own [rows, blocks] order (one "column" of rows × blocks blocks: no transpose).
  const again = q.parameters === 'groups' ? () => groupParametersAgain(scales, zeros, negated, 1, rows * blocks, offset) : undefined;
  const first = planned ? filledLater((rows * D * bits) / 8)
    : packGatherData(q.values, rows, D, blockSize, bits, offset, negated, q.dataMemory?.((rows * D * bits) / 8));
  const data = !planned && q.storeData ? q.storeData(first, pack, again) : first;
  const defaultZero = 1 << (bits - 1);
  const zeroBytesPerRow = Math.ceil((blocks * bits) / 8);
  let zeroRaw: Uint8Array | undefined;
  if (zeros.some((z) => z !== defaultZero)) {
    zeroRaw = new Uint8Array(rows * zeroBytesPerRow);
    for (let r = 0; r < rows; r++) {
      for (let b = 0; b < blocks; b++) {
        const z = zeros[r * blocks + b]!;
        if (bits === 8) zeroRaw[r * zeroBytesPerRow + b] = z;
        else zeroRaw[r * zeroBytesPerRow + (b >> 1)]! |= (z & 0xf) << ((b & 1) * 4);
      }
    }
  }
  const scaleType = q.scaleType ?? 'float32';
  // float32: the array's own bytes (typed arrays are little-endian here, as in matmul-nbits-writer.ts), kept once.
  let scaleRaw = new Uint8Array(scales.buffer, scales.byteOffset, scales.byteLength);
  if (scaleType === 'float16') {
    scaleRaw = new Uint8Array(scales.length * 2);
    const view = new DataView(scaleRaw.buffer);
    for (let i = 0; i < scales.length; i++) view.setUint16(2 * i, floatToHalfBits(scales[i]!), true);
  }
  return { data, scaleRaw, zeroRaw, zeroBytesPerRow };
}
