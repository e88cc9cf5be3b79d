/**
 * One planned GGUF tensor's bytes and error statistics (the per-tensor work of compressToGguf): the weight's
 * stored bytes become Q8_0 / Q4_0 blocks (ggml's reference quantizer, io/gguf/ggml-blocks.ts), a float
 * conversion (F16, F32), or pass through as they are (transposed when the plan says so); where values were
 * computed, the file's values are read back and measured against the original. The same function runs on the
 * calling thread and on a CPU worker (the `encodeGgufTensor` task), so a pool gives the same bytes.
 *
 * @example
 * ```ts
 * const plan = { name: 'w', dtype: 'float32', shape: [64, 32], type: 'Q8_0', ne: [32, 64], transposed: false } as const;
 * const { bytes, stats } = encodeGgufTensor(plan, new Uint8Array(Float32Array.from({ length: 2048 }, Math.random).buffer));
 * bytes.byteLength; // 64 rows × 1 block × 34 bytes = 2176
 * stats?.sqnrDb;    // ≈ 40 dB
 * ```
 * @module
 */
import { FormatError, InvalidArgumentError, LimitExceededError } from '../errors.js';
import { float32View } from '../io/float-convert.js';
import { quantizeRowQ4_0, quantizeRowQ8_0 } from '../io/gguf/ggml-blocks.js';
import { cpuQ4_0, cpuQ8_0, simdBlockPieces } from '../io/gguf/ggml-blocks-simd.js';
import { type GgmlType, ggmlTensorBytes, ggmlTypeInfo } from '../io/gguf/ggml-types.js';
import { ggmlToFloat32 } from '../io/gguf/reader.js';
import { floatToHalfBits } from '../io/half.js';
import type { WeightDType } from '../io/weights.js';
import { type ErrorStatsPieces, cpuErrorStats, cpuErrorStatsOfPieces, cpuErrorSumsOfPieces } from '../kernels/cpu/cpu-error-stats.js';
import { PIECE_ELEMENTS } from '../kernels/cpu/simd-module.js';
import { firstNaN } from '../kernels/cpu/cpu-scan.js';
import { checkErrorStatsArguments } from '../stats/arguments.js';
import { assembleErrorStats } from '../stats/assemble.js';
import { BucketSums } from '../stats/bucket-sums.js';
import type { ErrorStats } from '../stats/types.js';
import { reusedFloat32 } from './weight-buffers.js';

/** The ggml type whose bytes are a weight dtype's own (no conversion); float64 has none. */
export const GGML_NATIVE_TYPES: Partial<Record<WeightDType, GgmlType>> = {
  float32: 'F32', float16: 'F16', bfloat16: 'BF16', int8: 'I8', int16: 'I16', int32: 'I32', int64: 'I64',
};

/** What encoding one tensor needs to know: plain data, so that it can be sent to a worker. */
export interface GgufEncodePlan {
  name: string;
  dtype: WeightDType;
  shape: readonly number[];
  type: GgmlType;
  /** ggml dims, ne[0] the row length. */
  ne: readonly number[];
  /** Rows taken along axis 0: a 2-D [k, n] weight stored as [n, k]. */
  transposed: boolean;
}

/** The error statistics of a tensor whose values were computed (quantized or converted), as its report line holds them. */
export interface GgufTensorStats {
  sqnrDb: number;
  mse: number;
  maxAbsError: number;
  perChannelSqnrDb?: Float64Array;
  statsAxis?: number;
}

/** A tensor's bytes in the file, and its statistics when its values were computed. */
export interface GgufEncoded { bytes: Uint8Array; stats?: GgufTensorStats }

/**
 * Whether encoding `plan` computes anything: false when the file holds the stored bytes (moved at most).
 *
 * @example
 * ```ts
 * ggufEncodeComputes({ dtype: 'float32', type: 'Q8_0' }); // true
 * ggufEncodeComputes({ dtype: 'float16', type: 'F16' });  // false
 * ```
 */
export function ggufEncodeComputes(plan: Pick<GgufEncodePlan, 'dtype' | 'type'>): boolean {
  return GGML_NATIVE_TYPES[plan.dtype] !== plan.type;
}

/**
 * Columns `j0` to `j0 + 7` of a [k, n] row-major tensor (`from`) written as eight rows of k from `to[at]`: each
 * row of `from` gives eight neighbouring elements (one cache line read) to eight write streams.
 */
function eightColumns<T extends Uint8Array | Uint16Array | Uint32Array>(from: T, to: T, k: number, n: number, j0: number, at: number): void {
  const k2 = 2 * k;
  const k4 = 4 * k;
  for (let i = 0, r = j0, w = at; i < k; i++, r += n, w++) {
    to[w] = from[r]!;
    to[w + k] = from[r + 1]!;
    to[w + k2] = from[r + 2]!;
    to[w + k2 + k] = from[r + 3]!;
    to[w + k4] = from[r + 4]!;
    to[w + k4 + k] = from[r + 5]!;
    to[w + k4 + k2] = from[r + 6]!;
    to[w + k4 + k2 + k] = from[r + 7]!;
  }
}

/**
 * Element (i, j) of a [k, n] row-major tensor moved to (j, i), `size` bytes (1, 2, 4 or 8) per element: whole
 * elements as integers (never as floats, so every bit pattern is kept). Eight output rows at a time: each input
 * row gives eight neighbouring elements (one cache line read), written to eight output rows that advance one
 * element each (eight write streams), about twice as fast as square tiles of 64 (70 against 155 ms for
 * [4096, 4096] of 4 bytes). Into `into` when it is given with the same length (and aligned for `size`), else
 * a new array.
 *
 * @example
 * ```ts
 * transposeBytes(Uint8Array.of(1, 2, 3, 4, 5, 6), 2, 3, 1); // [1, 4, 2, 5, 3, 6]
 * ```
 */
export function transposeBytes(raw: Uint8Array, k: number, n: number, size: number, into?: Uint8Array): Uint8Array {
  const Words = size === 1 ? Uint8Array : size === 2 ? Uint16Array : Uint32Array;
  const words = size === 8 ? 2 : 1; // 32-bit words per element
  const aligned = raw.byteOffset % Words.BYTES_PER_ELEMENT === 0 ? raw : raw.slice();
  const from = new Words(aligned.buffer as ArrayBuffer, aligned.byteOffset, aligned.byteLength / Words.BYTES_PER_ELEMENT); // or shared
  const to = into?.byteLength === aligned.byteLength && into.byteOffset % Words.BYTES_PER_ELEMENT === 0
    ? new Words(into.buffer as ArrayBuffer, into.byteOffset, from.length) : new Words(from.length);
  const wide = words === 1 ? n - (n % 8) : 0; // the columns moved eight at a time
  for (let j0 = 0; j0 < wide; j0 += 8) eightColumns(from, to, k, n, j0, j0 * k);
  for (let j = wide; j < n; j++) {
    for (let i = 0; i < k; i++) {
      for (let w = 0; w < words; w++) to[words * (j * k + i) + w] = from[words * (i * n + j) + w]!;
    }
  }
  return new Uint8Array(to.buffer, to.byteOffset, to.byteLength);
}

// Arrays used again from tensor to tensor on this thread (only read within encodeGgufTensor): touching fresh
// memory for every tensor costs page faults, and leaves garbage of the tensor's size behind.
const kTransposed = reusedFloat32();
const kValues = reusedFloat32();

/** Elements of one Q8_0 / Q4_0 block. */
const kBlockElements = 32;

/** Copies the float32 bits of elements `first` to `first + into.length - 1` of a tensor's rows (in the file's layout) into `into`. */
type PieceCopier = (into: Uint32Array, first: number) => void;

/**
 * A plan's rows piece by piece, as float32 bits: slices of the stored values, or for a transposed plan ([k, n]
 * stored, rows of k in the file) gathered from the stored columns, eight rows at a time where a piece holds
 * them whole (each stored row then gives eight neighbouring elements, as in {@link transposeBytes}), so no
 * transposed copy of the tensor is made.
 */
function pieceCopier(plan: GgufEncodePlan, raw: Uint8Array): PieceCopier {
  const data = float32View(raw, plan.dtype, plan.name); // only read
  const from = new Uint32Array(data.buffer, data.byteOffset, data.length);
  if (!plan.transposed) return (into, first) => into.set(from.subarray(first, first + into.length));
  const [k, n] = plan.shape as [number, number];
  return columnCopier(from, k, n);
}

/** The rows of k that the n columns of a [k, n] row-major array of float32 bits (`from`) are, piece by piece (see {@link pieceCopier}). */
function columnCopier(from: Uint32Array, k: number, n: number): PieceCopier {
  return (into, first) => {
    const end = first + into.length;
    for (let e = first, o = 0; e < end;) {
      const r = Math.floor(e / k); // the file's row: the stored column
      const i0 = e - r * k;
      if (i0 === 0 && e + 8 * k <= end) {
        eightColumns(from, into, k, n, r, o);
        e += 8 * k;
        o += 8 * k;
      } else {
        const len = Math.min(k - i0, end - e);
        for (let i = i0, at = i0 * n + r; i < i0 + len; i++, at += n) into[o++] = from[at]!;
        e += len;
      }
    }
  };
}

/** A plan's values as float32, in the file's row-major layout (transposed when the plan says so); float32 bytes are read where they lie. */
function rowsOf(plan: GgufEncodePlan, raw: Uint8Array): Float32Array {
  const data = float32View(raw, plan.dtype, plan.name); // only read, also for the transpose
  if (!plan.transposed) return data;
  const rows = kTransposed(data.length);
  transposeBytes(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), plan.shape[0]!, plan.shape[1]!, 4,
    new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength));
  return rows;
}

/**
 * The tensor's bytes in the file (`raw` itself when they pass through unchanged) and, where values were
 * computed, their error statistics against the original (per output channel for 2-D and more). `raw` is the
 * weight's stored bytes (little-endian, row-major in `plan.shape`); it is only read. Computed bytes go into
 * `out(byteLength)` when given (a buffer the caller uses again from tensor to tensor; it must not change until
 * the bytes are written), else into a new array. Throws FormatError for bytes that are not a whole number of
 * elements or a conversion GGUF lacks.
 *
 * @example
 * ```ts
 * const { bytes } = encodeGgufTensor({ name: 'b', dtype: 'float32', shape: [4], type: 'F32', ne: [4], transposed: false }, raw);
 * bytes === raw; // true: float32 kept as F32 passes through
 * ```
 */
export function encodeGgufTensor(plan: GgufEncodePlan, raw: Uint8Array, out?: (byteLength: number) => Uint8Array<ArrayBuffer>): GgufEncoded {
  if (!ggufEncodeComputes(plan)) {
    const [k, n] = plan.shape as [number, number];
    return { bytes: plan.transposed ? transposeBytes(raw, k, n, ggmlTypeInfo(plan.type).blockBytes) : raw };
  }
  const byteLength = ggmlTensorBytes(plan.type, [...plan.ne]);
  const bytes = out?.(byteLength) ?? new Uint8Array(byteLength); // every byte is written below
  const shape = [...plan.ne].reverse();
  const statsAxis = shape.length >= 2 ? (plan.transposed ? 1 : 0) : undefined;
  if (plan.type === 'Q8_0' || plan.type === 'Q4_0') {
    const measured = blocksWithStats(plan.type, pieceCopier(plan, raw), bytes, shape);
    if (measured) return { bytes, stats: reportStats(measured, statsAxis) };
  }
  const rows = rowsOf(plan, raw);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let back: Float32Array | undefined; // the values the blocks give back, where computed with them
  switch (plan.type) {
    case 'Q8_0': // in WebAssembly where it runs (the same bytes, and the values in the same pass); else JavaScript
      back = cpuQ8_0(rows, bytes, kValues(rows.length));
      if (!back) quantizeRowQ8_0(rows, bytes);
      break;
    case 'Q4_0':
      back = cpuQ4_0(rows, bytes, kValues(rows.length));
      if (!back) quantizeRowQ4_0(rows, bytes);
      break;
    case 'F16': rows.forEach((v, i) => view.setUint16(i * 2, floatToHalfBits(v), true)); break;
    case 'F32': rows.forEach((v, i) => view.setFloat32(i * 4, v, true)); break;
    default: throw new FormatError(`${plan.name}: cannot convert ${plan.dtype} to ${plan.type}`);
  }
  back ??= ggmlToFloat32(plan.type, bytes, rows.length, plan.name);
  // The reference's statistics, bit for bit, from the WebAssembly kernel (x̂ given as floats, rows as runs).
  const stats = cpuErrorStats(checkErrorStatsArguments({ data: rows, shape }, { data: back, shape }, shape.length >= 2 ? { axis: 0 } : {}, firstNaN));
  return { bytes, stats: reportStats(stats, statsAxis) };
}

/** A report line's statistics from the full ones. */
function reportStats(stats: ErrorStats, statsAxis: number | undefined): GgufTensorStats {
  return {
    sqnrDb: stats.overall.sqnrDb, mse: stats.overall.mse, maxAbsError: stats.overall.maxAbsError,
    perChannelSqnrDb: stats.perChannel?.sqnrDb, statsAxis,
  };
}

/**
 * `rows`' Q8_0 or Q4_0 blocks into `bytes`, and their error statistics (per row for 2-D and more), in one pass
 * over pieces of the rows in the WebAssembly kernels' memory: each piece is copied in once, and its blocks,
 * their values and its statistics are made while it is there (the values never leave the kernels' memory).
 * The same bytes as `cpuQ8_0` / `cpuQ4_0` and the same statistics as `cpuErrorStats` of the rows and those
 * values. Undefined (bytes untouched) where the kernels do not run.
 */
function blocksWithStats(type: 'Q8_0' | 'Q4_0', copy: PieceCopier, bytes: Uint8Array, shape: readonly number[]): ErrorStats | undefined {
  const pieces = blockPieces(type, copy, bytes, shape);
  return pieces && cpuErrorStatsOfPieces(shape, shape.length >= 2 ? 0 : undefined, pieces);
}

/** The pieces of {@link blocksWithStats}: each piece's blocks into `bytes`, its values beside its originals. */
function blockPieces(type: 'Q8_0' | 'Q4_0', copy: PieceCopier, bytes: Uint8Array, shape: readonly number[]): ErrorStatsPieces | undefined {
  const size = shape.reduce((a, b) => a * b, 1);
  const block = size === 0 ? undefined : simdBlockPieces(type);
  if (!block) return undefined;
  const { blockBytes } = block;
  const pieceBlocks = Math.min(size, PIECE_ELEMENTS) / kBlockElements;
  return {
    extraSizes: [blockBytes * pieceBlocks, 4 * pieceBlocks],
    copied: [0],
    fill(memory, first, count, original, values, [dst, scales]) {
      copy(new Uint32Array(memory, original, count), first);
      const blocks = count / kBlockElements;
      block.encode(original, dst!, scales!, values, blocks);
      bytes.set(new Uint8Array(memory, dst!, blockBytes * blocks), (first / kBlockElements) * blockBytes);
    },
  };
}

/** Encodes a tensor's rows a block of whole rows at a time (see {@link ggufRowBlockEncoder}). */
export interface GgufRowBlockEncoder {
  /** Encodes and measures the next rows (float32 values, whole rows, in order) of a plan not transposed. */
  add(rows: Float32Array): void;
  /**
   * Encodes and measures the next rows of a transposed plan ([k, n] stored, rows of k in the file): `columns` of
   * them, given as the stored columns they are, a [k, columns] row-major float32 array (`band`).
   */
  addColumns(band: Float32Array, columns: number): void;
  /** The tensor's bytes and statistics, once every row is in: encodeGgufTensor's for the whole tensor. */
  finish(): GgufEncoded;
}

/**
 * An encoder of a Q8_0 / Q4_0 plan of a 2-D float32, float16 or bfloat16 weight that takes its rows as float32
 * (16-bit values converted as toFloat32 does) a block of whole rows at a time, so the whole tensor is never in
 * memory: rows that are the stored rows (`add`), or for a transposed plan the stored columns they are
 * (`addColumns`, a band of columns read from the stored rows). Each block's blocks and statistics are made as it
 * comes, the statistics going on from the rows before (cpuErrorSumsOfPieces' carry), so the bytes and the
 * statistics are encodeGgufTensor's to the bit. The rows must hold no NaN (the statistics refuse it; such a
 * tensor's plan is not Q8_0 / Q4_0). Undefined for another plan, or where the WebAssembly kernels do not run.
 * Bytes go into `out(byteLength)` when given, else a new array.
 *
 * @example
 * ```ts
 * const encoder = ggufRowBlockEncoder({ name: 'w', dtype: 'float32', shape: [4096, 4096], type: 'Q8_0', ne: [4096, 4096], transposed: false });
 * for (const rows of blocksOfRows) encoder?.add(rows);
 * const { bytes, stats } = encoder!.finish();
 * ```
 */
export function ggufRowBlockEncoder(plan: GgufEncodePlan, out?: (byteLength: number) => Uint8Array<ArrayBuffer>): GgufRowBlockEncoder | undefined {
  const { type } = plan;
  if ((type !== 'Q8_0' && type !== 'Q4_0') || plan.dtype === 'float64' || plan.shape.length !== 2 || !simdBlockPieces(type)) return undefined;
  const [n, k] = (plan.transposed ? [plan.shape[1], plan.shape[0]] : plan.shape) as [number, number]; // n rows of k in the file
  if (n === 0 || k === 0 || k % kBlockElements !== 0) return undefined;
  const byteLength = ggmlTensorBytes(type, [...plan.ne]);
  const bytes = out?.(byteLength) ?? new Uint8Array(byteLength);
  const rowBytes = byteLength / n;
  const carry = new Float64Array(8);
  const perRow = new BucketSums(n);
  let row = 0;
  /** The next `count` rows, copied in piece by piece by `copy`. */
  const encode = (count: number, copy: PieceCopier) => {
    const pieces = blockPieces(type, copy, bytes.subarray(row * rowBytes, (row + count) * rowBytes), [count, k]);
    const sums = pieces && cpuErrorSumsOfPieces([count, k], 0, pieces, carry);
    if (!sums) throw new LimitExceededError(`${plan.name}: the WebAssembly kernels could not have memory for a block of ${count} rows; encode the whole tensor with encodeGgufTensor`);
    perRow.setSums(sums.perChannel!, row);
    row += count;
  };
  /** Refuses a block that is not whole rows within the rows left, or of the other layout. */
  const check = (length: number, count: number, transposed: boolean, what: string) => {
    if (transposed !== plan.transposed) {
      throw new InvalidArgumentError(what, length, `${plan.name}: ${transposed ? 'addColumns is for a transposed plan; use add' : 'add is for rows as stored; use addColumns for a transposed plan'}`);
    }
    if (!Number.isInteger(count) || count < 1 || row + count > n || length !== count * k) {
      throw new InvalidArgumentError(what, length, `${plan.name}: ${length} values are not ${Number.isInteger(count) ? count : 'whole'} rows of ${k} within the ${n - row} rows left`);
    }
  };
  return {
    add(rows) {
      const count = rows.length / k;
      check(rows.length, count, false, 'rows');
      const from = new Uint32Array(rows.buffer, rows.byteOffset, rows.length);
      encode(count, (into, first) => into.set(from.subarray(first, first + into.length)));
    },
    addColumns(band, columns) {
      check(band.length, columns, true, 'band');
      encode(columns, columnCopier(new Uint32Array(band.buffer, band.byteOffset, band.length), k, columns));
    },
    finish() {
      if (row !== n) throw new InvalidArgumentError('rows', row, `${plan.name}: ${row} of ${n} rows were given`);
      const overall = new BucketSums(1);
      overall.setBucket(0, carry);
      overall.count[0] = n * k;
      perRow.count.fill(k);
      const stats = assembleErrorStats({ shape: [n, k], axis: 0, quantized: { kind: 'values' } }, overall, perRow, undefined, 'cpu');
      return { bytes, stats: reportStats(stats, plan.transposed ? 1 : 0) }; // per output channel: the stored columns where transposed
    },
  };
}
