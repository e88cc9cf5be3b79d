/**
 * Replaces a MatMul weight by onnxruntime's `com.microsoft.MatMulNBits`, in place: every `MatMul` node that
 * reads weight `W` (shape [K, N]) as its input B becomes `MatMulNBits(A, W_nbits, W_scales[, W_zero_points])`
 * with the same name and output, and `W` itself is removed. The layout is onnxruntime's:
 *
 * - `B`: uint8 [N, n_blocks, blob_size], n_blocks = ceil(K / block_size), blob_size = block_size × bits / 8.
 *   Column n of the weight, blocked along K; 4-bit values two per byte, the lower k in the low nibble. The
 *   padding past K (when K is not a multiple of the block size) holds the block's zero point, so it
 *   dequantizes to 0 (onnxruntime's own quantizer pads the float weight with zeros).
 * - `scales`: the weight's float type (float32, or float16 for a float16 model; MatMulNBits takes them in A's
 *   type), [N, n_blocks], block b of column n at n × n_blocks + b.
 * - `zero_points`: uint8, [N, ceil(n_blocks × bits / 8)]: 4-bit ones two per byte, each column starting on a
 *   new byte. Written only when some zero point differs from onnxruntime's default (2^(bits-1): 8 or 128).
 * - The stored integers are unsigned: a signed integer q is stored as q + 2^(bits-1), its zero point too,
 *   so `(q - zero_point) × scale` is unchanged. A signed block whose zero point is -1 (int4's Q4_0 range
 *   puts it there when the block's extreme is positive) is written as onnxruntime's own symmetric quantizer
 *   writes it: the scale negated, the integers -(q + 1), the default zero point; the values are the same
 *   bits. So symmetric int4 / int8 weights have every zero point at the default and are written without
 *   `zero_points`.
 * - Attributes `K`, `N`, `bits`, `block_size`, and `accuracy_level` when given.
 *
 * Per-channel and per-tensor parameters are written as blocks that repeat their column's (or the tensor's)
 * scale and zero point: the same values as the QDQ form, at (4 + 1) bytes per block_size weights extra.
 * The `com.microsoft` opset import (version 1) is added when the model has none.
 *
 * @example
 * ```ts
 * writeMatMulNBits(model, 'fc1.weight', {
 *   values: q.intReprView(), dtype: 'qint4', scales, zeroPoints, blocksAlongK: 'groups', blockSize: 32,
 * }, names);
 * ```
 * @module
 */
import { InvalidArgumentError } from '../../errors.js';
import { floatToHalfBits } from '../half.js';
import { filledLater } from './deferred-raw-data.js';
import { type IndexedWeight, listGraphs } from './graph-index.js';
import type { NameAllocator } from './names.js';
import type { OnnxModel } from './onnx-model.js';
import { ATTRIBUTE_TYPE, type GraphProto, type NodeProto, type TensorProto, initializersOf, nodesOf, onnx, valueInfosOf } from './proto.js';
import { ONNX_FLOAT, ONNX_FLOAT16 } from './dtypes.js';
import {
  type BlockIntegers, blockIntegersProblem, blockParameters, groupParametersAgain, isPlannedIntegers, packBlocks, transposeScales, zeroPointBytes,
  zeroPointKinds,
} from './matmul-nbits-blocks.js';

/** The operator domain of onnxruntime's contrib operators. */
export const MS_DOMAIN = 'com.microsoft';
const ONNX_UINT8 = 2;

/** One quantized MatMul weight, ready to write as MatMulNBits. */
export interface MatMulNBitsTensor {
  /**
   * The integers, row-major [K, N] (signed for qint*, unsigned for quint*), one an element or, 4-bit, packed two to a
   * byte in that order (`{ nibbles }`, a QTensor's `packedNibbles`); a `filledLater` placeholder of K × N bytes for a
   * planned layout (B is then a placeholder of its length).
   */
  values: BlockIntegers;
  dtype: 'qint8' | 'quint8' | 'qint4' | 'quint4';
  /**
   * 'groups': `scales` / `zeroPoints` are [ceil(K / blockSize), N] (groups of `blockSize` along K);
   * 'columns': [N] (per channel); 'tensor': one value.
   */
  parameters: 'groups' | 'columns' | 'tensor';
  scales: ArrayLike<number>;
  zeroPoints: ArrayLike<number>;
  /** A power of two, 16 to 256. */
  blockSize: number;
  /** Default 'float32'; 'float16' for a float16 model. */
  scaleType?: 'float32' | 'float16';
  /** onnxruntime's `accuracy_level` (0-4); omitted when undefined. */
  accuracyLevel?: number;
  /** Text for each MatMulNBits node's doc_string. */
  docString?: string;
  /**
   * What B holds: given its bytes and a function that packs them again from the integers (in either form `values`
   * takes), returns them or a placeholder that produces them when written (a compressor that does not hold every
   * weight's blocks). Default: the bytes.
   */
  storeData?: (data: Uint8Array, pack: (values: BlockIntegers) => Uint8Array, parameters?: () => GroupParameters) => Uint8Array;
  /**
   * Memory for B, given its length (memory a compressor uses again from weight to weight once the model no longer
   * holds it); B is laid out into it instead of a fresh array. `pack` (above) always lays out into fresh memory.
   */
  dataMemory?: (byteLength: number) => Uint8Array;
  /** Memory for the scales as float32, given their byte length, as `dataMemory` is for B (float32 scales are stored from it). */
  scaleMemory?: (byteLength: number) => Uint8Array;
  /**
   * Memory for what the layout computes and keeps nowhere (each block's stored zero point and whether its scale is
   * negated), given its length, valid only during the call: for a caller whose `storeData` keeps neither function
   * it is given (a weight written as planned). Default: fresh arrays, which those functions may keep.
   */
  scratch?: (byteLength: number) => Uint8Array;
}

/**
 * For `parameters: 'groups'`, what `storeData` is also given: the scales and zero points in the given order
 * ([blocks, N]), made again from the written ones (the same values), so the caller need not keep its own.
 */
export interface GroupParameters {
  scales: Float32Array;
  zeroPoints: Int16Array;
}

/** What {@link writeMatMulNBits} added. */
export interface MatMulNBitsWritten {
  nodeNames: string[];
  dataName: string;
  scaleName: string;
  /** Undefined when the zero points are onnxruntime's default and not written. */
  zeroPointName: string | undefined;
  /** Bytes of B, scales and zero points together. */
  byteLength: number;
  /** The initializers added: B, the scales and the zero points where written. */
  stored: { data: TensorProto; scale: TensorProto; zeroPoint?: TensorProto };
}

/**
 * The MatMul nodes that read `tensorName` as input B, in every graph that consumes it.
 *
 * @example
 * ```ts
 * matMulConsumers(model.proto.graph, 'fc1.weight', ['graph']).length; // 1
 * ```
 */
export function matMulConsumers(root: GraphProto, tensorName: string, graphPaths: readonly string[]): NodeProto[] {
  const wanted = new Set(graphPaths);
  return listGraphs(root).filter((g) => wanted.has(g.path))
    .flatMap((g) => nodesOf(g.graph).filter((n) => n.opType === 'MatMul' && (n.domain ?? '') === '' && n.input[1] === tensorName));
}

function packScales(scales: Float32Array, type: 'float32' | 'float16'): Uint8Array {
  // float32: the array's own bytes (typed arrays are little-endian here, as pack-nibbles.ts also assumes).
  if (type === 'float32') return new Uint8Array(scales.buffer, scales.byteOffset, scales.byteLength);
  const out = new Uint8Array(scales.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < scales.length; i++) view.setUint16(2 * i, floatToHalfBits(scales[i]!), true);
  return out;
}

/**
 * Writes weight `name` of `model` as MatMulNBits (see the module documentation). Throws
 * InvalidArgumentError when the weight is not 2-D, a parameter count does not fit, the block size is not a
 * power of two in 16..256, or the weight has a consumer other than MatMul input B.
 *
 * @example
 * ```ts
 * const written = writeMatMulNBits(model, 'fc1.weight', { values, dtype: 'qint8', parameters: 'columns', scales, zeroPoints, blockSize: 128 }, names);
 * written.zeroPointName; // undefined: symmetric int8 uses onnxruntime's default 128
 * ```
 */
export function writeMatMulNBits(model: OnnxModel, name: string, q: MatMulNBitsTensor, names: NameAllocator): MatMulNBitsWritten {
  const { info, indexed } = model.entry(name);
  const fail = (field: string, value: unknown, message: string): never => {
    throw new InvalidArgumentError(field, value, `${name}: ${message}`);
  };
  if (info.shape.length !== 2) fail('shape', info.shape, `MatMulNBits takes a 2-D [K, N] weight, not [${info.shape.join(', ')}]`);
  const [K, N] = info.shape as [number, number];
  const bits = q.dtype === 'qint4' || q.dtype === 'quint4' ? 4 : 8;
  const { blockSize } = q;
  if (!(Number.isInteger(blockSize) && blockSize >= 16 && blockSize <= 256 && (blockSize & (blockSize - 1)) === 0)) {
    fail('blockSize', blockSize, 'block_size must be a power of two from 16 to 256');
  }
  const problem = blockIntegersProblem(q.values, bits, q.dtype, K, N);
  if (problem) fail('values', problem.value, problem.message);
  const blocks = Math.ceil(K / blockSize);
  const paramCount = q.parameters === 'groups' ? blocks * N : q.parameters === 'columns' ? N : 1;
  if (q.scales.length !== paramCount || q.zeroPoints.length !== paramCount) {
    fail('scales', q.scales.length, `${q.scales.length} scales and ${q.zeroPoints.length} zero points; ${q.parameters} of [${K}, ${N}] need ${paramCount}`);
  }
  if (q.accuracyLevel !== undefined && !(Number.isInteger(q.accuracyLevel) && q.accuracyLevel >= 0 && q.accuracyLevel <= 4)) {
    fail('accuracyLevel', q.accuracyLevel, 'accuracy_level must be an integer from 0 to 4');
  }
  const consumers = new Set(info.consumers.map((c) => c.graph));
  if (info.consumers.length === 0 || info.consumers.some((c) => c.opType !== 'MatMul' || c.domain !== '' || c.inputIndex !== 1)) {
    fail('consumers', info.consumers.map((c) => c.opType), 'MatMulNBits replaces MatMul nodes reading the weight as input B, and nothing else reads it');
  }
  const nodes = matMulConsumers(model.proto.graph as GraphProto, indexed.tensorName, [...consumers]);

  const { data, scaleRaw, zeroRaw, blob, zeroBytesPerColumn } = nbitsLayout(q, K, N);

  const base = indexed.tensorName;
  const scaleType = q.scaleType ?? 'float32';
  const dataName = names.fresh(`${base}_nbits`);
  const scaleName = names.fresh(`${base}_scales`);
  const zeroPointName = zeroRaw ? names.fresh(`${base}_zero_points`) : undefined;
  const tensors = [
    onnx.TensorProto.create({ name: dataName, dataType: ONNX_UINT8, dims: [N, blocks, blob], rawData: data, docString: indexed.tensor.docString }),
    onnx.TensorProto.create({ name: scaleName, dataType: scaleType === 'float32' ? ONNX_FLOAT : ONNX_FLOAT16, dims: [N, blocks], rawData: scaleRaw }),
  ];
  if (zeroRaw) tensors.push(onnx.TensorProto.create({ name: zeroPointName!, dataType: ONNX_UINT8, dims: [N, zeroBytesPerColumn], rawData: zeroRaw }));
  const int = (attribute: string, i: number) => onnx.AttributeProto.create({ name: attribute, type: ATTRIBUTE_TYPE.INT, i });
  const attributes = [int('K', K), int('N', N), int('bits', bits), int('block_size', blockSize)];
  if (q.accuracyLevel !== undefined) attributes.push(int('accuracy_level', q.accuracyLevel));
  for (const node of nodes) {
    node.opType = 'MatMulNBits';
    node.domain = MS_DOMAIN;
    node.input = [node.input[0]!, dataName, scaleName, ...(zeroPointName ? [zeroPointName] : [])];
    node.attribute = attributes.map((a) => onnx.AttributeProto.create(a));
    if (q.docString) node.docString = q.docString;
  }
  const stored = replaceWeight(model, indexed, tensors);
  return {
    nodeNames: nodes.map((n) => n.name), dataName, scaleName, zeroPointName,
    byteLength: data.byteLength + scaleRaw.byteLength + (zeroRaw?.byteLength ?? 0), stored,
  };
}

/**
 * Takes weight `indexed` out of its graph (its initializer, and graph input, or its Constant node) and adds
 * `tensors` (data, scales, zero points where written) as initializers there, with the com.microsoft domain declared
 * where the model has not yet; gives the tensors by role. For the contrib writers, whose nodes already read them.
 *
 * @example
 * ```ts
 * const stored = replaceWeight(model, model.entry('fc1.weight').indexed, [data, scales]); // stored.scale === scales
 * ```
 */
export function replaceWeight(
  model: OnnxModel, indexed: IndexedWeight, tensors: readonly TensorProto[],
): { data: TensorProto; scale: TensorProto; zeroPoint?: TensorProto } {
  const { graph } = indexed.graph;
  if (indexed.source === 'initializer') {
    graph.initializer = initializersOf(graph).filter((t) => t !== indexed.tensor);
    if (indexed.graphInput) graph.input = valueInfosOf(graph.input).filter((v) => v.name !== indexed.tensorName);
  } else {
    graph.node = nodesOf(graph).filter((n) => n !== indexed.node);
  }
  graph.initializer.push(...tensors);
  if (!model.proto.opsetImport.some((o) => o.domain === MS_DOMAIN)) {
    model.proto.opsetImport.push(onnx.OperatorSetIdProto.create({ domain: MS_DOMAIN, version: 1 }));
  }
  return { data: tensors[0]!, scale: tensors[1]!, ...(tensors[2] ? { zeroPoint: tensors[2] } : {}) };
}

/**
 * The bytes a MatMulNBits weight stores: B, the scales and, where written, the zero points, as {@link writeMatMulNBits}
 * lays them out for `q` (a [K, N] weight), without a model. What a writer that let go of them computes them again with.
 *
 * @example
 * ```ts
 * const [b, scales, zeroPoints] = matMulNBitsBytes({ values, dtype: 'qint4', parameters: 'groups', scales: s, zeroPoints: z, blockSize: 32 }, K, N);
 * ```
 */
export function matMulNBitsBytes(q: Omit<MatMulNBitsTensor, 'storeData'>, K: number, N: number): Uint8Array[] {
  const { data, scaleRaw, zeroRaw } = nbitsLayout(q, K, N);
  return [data, scaleRaw, ...(zeroRaw ? [zeroRaw] : [])];
}

/** B (through `q.storeData` where given), the scale and zero-point bytes, and the sizes of a [K, N] weight's layout. */
function nbitsLayout(q: Omit<MatMulNBitsTensor, 'storeData'> & Pick<MatMulNBitsTensor, 'storeData'>, K: number, N: number) {
  const bits = q.dtype === 'qint4' || q.dtype === 'quint4' ? 4 : 8;
  const { blockSize } = q;
  const blocks = Math.ceil(K / blockSize);
  const paramCount = q.parameters === 'groups' ? blocks * N : q.parameters === 'columns' ? N : 1;
  const offset = q.dtype === 'qint4' ? 8 : q.dtype === 'qint8' ? 128 : 0;
  // Scales and stored (unsigned) zero points per (column, block), onnxruntime's order. A signed block with
  // zero point -1 (Q4_0's range, its extreme positive) is stored as zero point 0 with the scale and the
  // integers negated, -(q + 1): the same values exactly, in onnxruntime's own symmetric form (a negative
  // scale, the default zero point), so symmetric weights need no zero_points input.
  const count = N * blocks;
  const defaultZero = 1 << (bits - 1);
  const { anyNegated, needZeros } = zeroPointKinds(q.zeroPoints, paramCount, offset, defaultZero);
  // A planned layout's integers (a filledLater placeholder, packed or not): every tensor is a placeholder of its
  // length, so only their lengths and which tensors there are matter.
  const planned = isPlannedIntegers(q.values);
  // A weight written as planned lays its scales and scratch out in memory used again from weight to weight: fresh
  // arrays of megabytes a weight, freed into the allocator's arena, kept the calling thread's peak about 10 MiB higher
  // under `--preset transformers.js` on the 1.07 GB MLP.
  const scaleBytes = !planned ? q.scaleMemory?.(4 * count) : undefined;
  const scales = scaleBytes ? new Float32Array(scaleBytes.buffer, scaleBytes.byteOffset, count) : new Float32Array(count);
  const scratch = !planned ? q.scratch?.(2 * count).fill(0) : undefined;
  const zeros = scratch ? scratch.subarray(0, count) : new Uint8Array(count);
  const negated = scratch ? scratch.subarray(count, 2 * count) : new Uint8Array(count);
  // Parameter p of (block b, column n) is b * blockStep + n * columnStep.
  const blockStep = q.parameters === 'groups' ? N : 0;
  const columnStep = q.parameters === 'tensor' ? 0 : 1;
  if (!planned && !anyNegated && !needZeros) {
    zeros.fill(defaultZero);
    transposeScales(q.scales, N, blocks, blockStep, columnStep, scales);
  } else if (!planned) {
    blockParameters(q.scales, q.zeroPoints, N, blocks, blockStep, columnStep, offset, scales, zeros, negated);
  }
  const blob = (blockSize * bits) / 8;
  const pack = (values: BlockIntegers) => packBlocks(values, K, N, blockSize, bits, offset, negated, zeros);
  const again = q.parameters === 'groups' ? () => groupParametersAgain(scales, zeros, negated, N, blocks, offset) : undefined;
  const first = planned ? filledLater(N * blocks * blob)
    : packBlocks(q.values, K, N, blockSize, bits, offset, negated, zeros, q.dataMemory?.(N * blocks * blob));
  const data = !planned && q.storeData ? q.storeData(first, pack, again) : first;
  const zeroBytesPerColumn = Math.ceil((blocks * bits) / 8);
  const zeroRaw = !needZeros ? undefined
    : planned ? filledLater(N * zeroBytesPerColumn) : zeroPointBytes(zeros, N, blocks, bits, zeroBytesPerColumn);

  const scaleType = q.scaleType ?? 'float32';
  const scaleRaw = planned ? filledLater(count * (scaleType === 'float32' ? 4 : 2)) : packScales(scales, scaleType);
  return { data, scaleRaw, zeroRaw, blocks, blob, zeroBytesPerColumn };
}
