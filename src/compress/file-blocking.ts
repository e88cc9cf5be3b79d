/**
 * How a weight in a file is read a block of whole rows at a time (weight-file-blocks.ts reads and quantizes it):
 * the blocks' size and count, whether a block's parameters are its own (`'rows'`) or the whole weight's columns'
 * (`'columns'`, two reads, in bands for a searched range), and the bytes its integers take.
 *
 * @example
 * ```ts
 * const blocking = fileBlocking([4096, 4096], decision, FILE_BLOCK_BYTES);
 * blocking && blockIntegerBytes(decision, blocking, true); // 8 MiB for a qint4 weight, packed
 * ```
 * @module
 */
import { dtypeInfo } from '../dtype.js';
import type { WeightDecision } from './policy.js';
import { paramShapeOf } from './quantize-weight.js';
import type { ParamsMemory } from './weight-file-blocks.js';
import { type ColumnBands, columnBands } from './column-bands.js';
/** The float32 bytes of one block (the last block of a weight may be smaller). */
export const FILE_BLOCK_BYTES = 4 * 2 ** 20;

/** How a weight is read in blocks of whole rows, and where its parameters come from (module documentation). */
export interface FileBlocking {
  mode: 'rows' | 'columns';
  rows: number;
  rowsPerBlock: number;
  /** The number of blocks. */
  count: number;
  /** The weight's dimensions after the first. */
  rest: number[];
  /** Elements per row. */
  rowElements: number;
  /** A searched range (`'columns'` only): the bands its channels are searched in. */
  bands?: ColumnBands;
}

/**
 * How a weight of `shape` with `decision` is read in blocks of about `blockBytes`, or undefined when it is read
 * whole: not quantized per channel or per group, per tensor, rank below 2, a row (or, for groups along axis 0, a
 * group of rows) larger than a block, fewer than two blocks, or a searched range per channel along a later axis
 * that makes fewer than two bands (each row or group of rows has its own outputs, so blocks of them search
 * alike; a column's search needs the column whole, which bands give).
 *
 * @example
 * ```ts
 * fileBlocking([4096, 4096], { action: 'quantize', granularity: 'channel', axis: 1, method: 'minmax', ... }, 4 * 2 ** 20);
 * // { mode: 'columns', rows: 4096, rowsPerBlock: 256, count: 16, rest: [4096], rowElements: 4096 }
 * fileBlocking([4096, 4096], { ..., method: 'mse' }, 4 * 2 ** 20).bands;
 * // { channels: 1024, count: 4, outer: 4096, inner: 1 }: four bands of 16 MiB
 * ```
 */
export function fileBlocking(shape: readonly number[], decision: WeightDecision, blockBytes: number): FileBlocking | undefined {
  if (decision.action !== 'quantize' || shape.length < 2 || decision.axis === undefined) return undefined;
  const [rows, ...rest] = shape as number[];
  const rowElements = rest.reduce((a, b) => a * b, 1);
  if (!(rows! >= 2) || rowElements === 0) return undefined;
  let rowsPerBlock = Math.floor(blockBytes / (4 * rowElements));
  let mode: FileBlocking['mode'] = 'rows';
  let bands: ColumnBands | undefined;
  if (decision.granularity === 'group' && decision.axis === 0) {
    const groupSize = decision.groupSize ?? 32;
    rowsPerBlock -= rowsPerBlock % groupSize; // blocks of whole groups
  } else if (decision.granularity === 'channel' && decision.axis !== 0) {
    // Min/max parameters (the signed extremes' too: signedExtremeOfRanges) follow from each channel's range; a
    // search ('mse', 'lsq', 'percentile') needs all of a column's values at once: a band of them at a time.
    mode = 'columns';
    if (decision.method !== 'minmax') {
      bands = columnBands(shape, decision.axis, blockBytes);
      if (!bands) return undefined;
    }
  } else if (decision.granularity !== 'channel' && decision.granularity !== 'group') {
    return undefined;
  }
  if (rowsPerBlock < 1) return undefined;
  const count = Math.ceil(rows! / rowsPerBlock);
  return count >= 2 ? { mode, rows: rows!, rowsPerBlock, count, rest, rowElements, ...(bands ? { bands } : {}) } : undefined;
}

/**
 * Whether `floorWeightInBlocks` (weight-file-blocks.ts) with `packNibbles` packs a weight's integers two to a byte: a 4-bit dtype
 * whose every block starts on a whole byte (an even number of elements a block).
 *
 * @example
 * ```ts
 * blockPacksNibbles({ dtype: 'qint4' }, fileBlocking([4096, 4096], decision, 4 * 2 ** 20)!); // true
 * ```
 */
export function blockPacksNibbles(decision: Pick<WeightDecision, 'dtype'>, blocking: FileBlocking): boolean {
  return dtypeInfo(decision.dtype).bits === 4 && (blocking.rowsPerBlock * blocking.rowElements) % 2 === 0;
}

/**
 * The bytes `floorWeightInBlocks` (weight-file-blocks.ts) needs for a weight's integers: one an element, or half as many (rounded up)
 * where it packs them (`packNibbles` and {@link blockPacksNibbles}).
 *
 * @example
 * ```ts
 * blockIntegerBytes(decision, blocking, true); // 8 MiB for a [4096, 4096] qint4 weight, 16 MiB for qint8
 * ```
 */
export function blockIntegerBytes(decision: Pick<WeightDecision, 'dtype'>, blocking: FileBlocking, packNibbles: boolean): number {
  const elements = blocking.rows * blocking.rowElements;
  return packNibbles && blockPacksNibbles(decision, blocking) ? Math.ceil(elements / 2) : elements;
}

/**
 * Where a worker puts the parameters of a 4-bit weight it packs (`packNibbles` and {@link blockPacksNibbles}): in
 * the buffer of its integers, after them. From `at` (the packed bytes rounded up to 8) come the float64 scales a
 * QTensor holds, then the float32 scales and the int32 zero points, 16 bytes a parameter: `bytes` in all.
 * Undefined where the integers are not packed.
 *
 * One buffer a weight, not three: a [4096, 4096] weight in int4 groups of 32 takes 8 MiB of packed integers and 8
 * MiB of parameters, 16 MiB, what int8 integers take, so that the buffers the calling thread sends back to the
 * workers fit a weight of either (a size budget mixes the two: with the parameters apart, each kind kept buffers
 * of its own, 30 MiB more at the peak).
 *
 * @example
 * ```ts
 * packedWithParameters(qint4Groups32, fileBlocking([4096, 4096], qint4Groups32, FILE_BLOCK_BYTES)!, 524288);
 * // { at: 8388608, bytes: 16777216 }
 * ```
 */
export function packedWithParameters(decision: Pick<WeightDecision, 'dtype'>, blocking: FileBlocking, paramCount: number): { at: number; bytes: number } | undefined {
  if (!blockPacksNibbles(decision, blocking)) return undefined;
  const at = Math.ceil(blockIntegerBytes(decision, blocking, true) / 8) * 8;
  return { at, bytes: at + 16 * paramCount };
}

/**
 * The memory for `count` parameters in `buffer` from byte `at`, as {@link packedWithParameters} lays it out
 * after a packed weight's integers: the float64 scales, the float32 scales, the int32 zero points.
 *
 * @example
 * ```ts
 * const tail = packedWithParameters(decision, blocking, count)!;
 * const buffer = new ArrayBuffer(tail.bytes);
 * await floorWeightInBlocks(range, shape, decision, { packNibbles: true, reuse: parametersAfter(buffer, tail.at, count) }, buffer, blocking);
 * ```
 */
export function parametersAfter(buffer: ArrayBuffer, at: number, count: number): ParamsMemory {
  return { scales64: new Float64Array(buffer, at, count), scales: new Float32Array(buffer, at + 8 * count, count), zeroPoints: new Int32Array(buffer, at + 12 * count, count) };
}

/**
 * The bytes a worker needs for a weight of `shape` it reads from its file (`floorWeightFile`, `planWeightFile`):
 * its integers ({@link blockIntegerBytes}) where it goes in blocks of about `blockBytes`, and with `packNibbles`,
 * where it packs them, its parameters after them ({@link packedWithParameters}); else one byte an element.
 *
 * @example
 * ```ts
 * fileIntegerBytes([4096, 4096], qint4GroupDecision, FILE_BLOCK_BYTES, true); // 16 MiB: 8 of integers, 8 of parameters
 * fileIntegerBytes([4096, 4096], qint8ChannelDecision, FILE_BLOCK_BYTES, true); // 16 MiB
 * ```
 */
export function fileIntegerBytes(shape: readonly number[], decision: WeightDecision, blockBytes: number, packNibbles: boolean): number {
  const blocking = fileBlocking(shape, decision, blockBytes);
  if (!blocking) return shape.reduce((a, b) => a * b, 1);
  const tail = packNibbles ? packedWithParameters(decision, blocking, paramShapeOf(shape, decision).reduce((a, b) => a * b, 1)) : undefined;
  return tail?.bytes ?? blockIntegerBytes(decision, blocking, packNibbles);
}

/**
 * For each of `weights`, the most bytes {@link fileIntegerBytes} gives a weight to quantize (`decisions`) of as
 * many elements among them, or 0 for one kept: the size a worker makes a fresh buffer for the weight, so that the
 * buffers sent back fit whichever of those weights comes next. A size budget mixes schemes on weights of one size
 * (int8 per channel, int4 groups of 32 and of 64: 16, 16 and 12 MiB for [4096, 4096] packed with their parameters),
 * and buffers of each need would otherwise be kept side by side.
 *
 * @example
 * ```ts
 * sharedIntegerBytes([{ shape: [4096, 4096] }, { shape: [4096, 4096] }], [int4Groups64, int8Channel], FILE_BLOCK_BYTES, true);
 * // [16777216, 16777216]
 * ```
 */
export function sharedIntegerBytes(
  weights: readonly { shape: readonly number[] }[], decisions: readonly WeightDecision[], blockBytes: number, packNibbles: boolean,
): number[] {
  const elementsOf = (i: number) => weights[i]!.shape.reduce((a, b) => a * b, 1);
  const needs = decisions.map((d, i) => (d.action === 'quantize' ? fileIntegerBytes(weights[i]!.shape, d, blockBytes, packNibbles) : 0));
  const largest = new Map<number, number>();
  needs.forEach((bytes, i) => largest.set(elementsOf(i), Math.max(largest.get(elementsOf(i)) ?? 0, bytes)));
  return needs.map((bytes, i) => (bytes ? largest.get(elementsOf(i))! : 0));
}
