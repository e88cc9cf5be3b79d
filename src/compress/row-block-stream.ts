/**
 * Streams a weight quantized per channel along axis 0 (each row its own parameters: the default scheme of 2-D
 * Linear weights) through a CPU worker pool in blocks of whole rows, for the safetensors compressor: each
 * block is read from the file straight into a slot of a small ring of SharedArrayBuffers (shared with the
 * worker, not copied), several blocks are in flight, and their results are taken in row order, so memory
 * stays at the ring whatever the weight's size.
 *
 * Planning ({@link planRowBlocks}) gives what the whole weight would: every row's parameters, and error
 * statistics equal to the bit (the per-row sums are each row's own; the overall sums run in element order
 * across the blocks, see row-block-task.ts), with the quality floor applied to them. A weight with NaN or
 * ±Infinity is reported as such; one that misses the floor or cannot be quantized as decided is left to the
 * whole-weight path (undefined), which escalates or keeps it. Writing ({@link writeRowBlocks}) quantizes the
 * blocks again with the planned parameters and hands their integers over in order, for `writeChunk`.
 *
 * @example
 * ```ts
 * const blocking = rowBlocking(info, decision, ROW_BLOCK_BYTES);
 * if (blocking) {
 *   const plan = await planRowBlocks({ reader, pool, ring }, info, decision, blocking, false);
 *   if (plan && plan !== 'nonFinite') {
 *     const blocks = writeRowBlocks({ reader, pool, ring }, info, decision, blocking, plan);
 *     for (let b = 0; b < blocking.count; b++) await writer.writeChunk(name, await blocks.take(b)!);
 *   }
 * }
 * ```
 * @module
 */
import { dtypeInfo } from '../dtype.js';
import { WorkerError } from '../errors.js';
import { FILE_WEIGHT_BYTES, type WeightInfo, type WeightReader, isFileWeightDType } from '../io/weights.js';
import { assembleErrorStats } from '../stats/assemble.js';
import { BucketSums } from '../stats/bucket-sums.js';
import type { ErrorStats } from '../stats/types.js';
import type { CpuWorkerPool } from './cpu-worker-pool.js';
import { pageAlignedBuffer } from './buffer-slots.js';
import { type Lookahead, lookahead } from './lookahead.js';
import type { WeightDecision } from './policy.js';
import { belowFloorOf } from './quality-floor.js';
import { type RowBlockArgs, type RowBlockResult, abandonTurns } from './row-block-task.js';

/** The float32 bytes of one block of rows (the last block of a weight may be smaller). */
export const ROW_BLOCK_BYTES = 8 * 2 ** 20;

/** A reader that reads a range of a tensor's bytes into a given buffer (SafetensorsReader.readRangeInto). */
export interface RangeReader { readRangeInto(name: string, byteOffset: number, target: Uint8Array): Promise<Uint8Array> }

/**
 * The reader as a {@link RangeReader}, or undefined when it cannot read ranges or this engine has no
 * SharedArrayBuffer (a page that is not cross-origin isolated).
 *
 * @example
 * ```ts
 * rangeReaderOf(await openSafetensorsFile('model.safetensors')); // the reader itself
 * ```
 */
export function rangeReaderOf(reader: WeightReader): RangeReader | undefined {
  const range = reader as Partial<RangeReader>;
  return typeof range.readRangeInto === 'function' && typeof SharedArrayBuffer === 'function' ? (range as RangeReader) : undefined;
}

/** How a weight is cut into blocks of whole rows. */
export interface RowBlocking {
  rows: number;
  rowsPerBlock: number;
  /** The number of blocks. */
  count: number;
  /** Stored bytes per row. */
  rowBytes: number;
  /** The weight's dimensions after the first. */
  rest: number[];
}

/**
 * How `info` is cut into blocks of about `blockBytes` of float32, or undefined when it is not streamed so:
 * its decision is not per channel along axis 0 with statistics along axis 0 and min/max calibration, it is not
 * float32, float16 or bfloat16, one row is larger than a block, or it makes fewer than 2 blocks. 4-bit blocks
 * hold an even number of elements, so each block's packed bytes are whole.
 *
 * @example
 * ```ts
 * rowBlocking({ dtype: 'float32', shape: [4096, 8192], ... }, decision, 8 * 2 ** 20); // { rowsPerBlock: 256, count: 16, ... }
 * ```
 */
export function rowBlocking(info: WeightInfo, decision: WeightDecision, blockBytes: number): RowBlocking | undefined {
  const stored = isFileWeightDType(info.dtype) ? FILE_WEIGHT_BYTES[info.dtype] : undefined;
  if (stored === undefined || decision.action !== 'quantize' || decision.granularity !== 'channel' || decision.axis !== 0
    || (decision.outputAxis ?? 0) !== 0 || decision.method !== 'minmax' || info.shape.length < 2) return undefined;
  const [rows, ...rest] = info.shape as number[];
  const rowElements = rest.reduce((a, b) => a * b, 1);
  if (!(rows! >= 2) || rowElements === 0 || 4 * rowElements > blockBytes) return undefined; // a row longer than a block: whole
  let rowsPerBlock = Math.max(1, Math.floor(blockBytes / (4 * rowElements)));
  if (dtypeInfo(decision.dtype).bits === 4 && rowElements % 2 === 1 && rowsPerBlock % 2 === 1) rowsPerBlock++;
  const count = Math.ceil(rows! / rowsPerBlock);
  return count >= 2 ? { rows: rows!, rowsPerBlock, count, rowBytes: stored * rowElements, rest } : undefined;
}

/**
 * Slots of shared memory for blocks, handed out first come, first served, so that every block of every
 * weight being streamed waits its turn and memory stays at the ring.
 */
export class SlotRing {
  readonly #free: Uint8Array[];
  readonly #waiting: ((slot: Uint8Array) => void)[] = [];

  constructor(readonly count: number, readonly slotBytes: number) {
    this.#free = Array.from({ length: count }, () => new Uint8Array(pageAlignedBuffer(slotBytes, true), 0, slotBytes)); // see buffer-slots.ts
  }

  acquire(): Promise<Uint8Array> {
    const slot = this.#free.pop();
    return slot ? Promise.resolve(slot) : new Promise((resolve) => this.#waiting.push(resolve));
  }

  release(slot: Uint8Array): void {
    const next = this.#waiting.shift();
    if (next) next(slot);
    else this.#free.push(slot);
  }
}

/** What streaming needs: the reader, the pool, the ring. */
export interface RowBlockContext { reader: RangeReader; pool: CpuWorkerPool; ring: SlotRing }

/** A weight planned in row blocks: what the whole-weight path would give, less the integers unless kept. */
export interface RowBlockPlan {
  stats: ErrorStats;
  scales: Float32Array;
  zeroPoints: Int32Array;
  /** The blocks' integers as stored, kept from planning for writing. */
  data?: Uint8Array[];
}

/**
 * Starts the blocks of one weight in order, each read into a ring slot and run on the pool as `args(b, first,
 * rows)` says, at most the ring's slot count ahead of the consumer. Blocks reach the pool in block order
 * (a block's turn never waits on one sent after it).
 */
function startBlocks(
  context: RowBlockContext, info: WeightInfo, blocking: RowBlocking, args: (b: number, bytes: Uint8Array, first: number, rows: number) => RowBlockArgs,
): Lookahead<RowBlockResult> {
  let sent: Promise<void> = Promise.resolve();
  const launch = (b: number): Promise<RowBlockResult> => {
    const previous = sent;
    let markSent!: () => void;
    sent = new Promise((resolve) => { markSent = resolve; });
    return (async () => {
      const slot = await context.ring.acquire();
      try {
        const first = b * blocking.rowsPerBlock;
        const rows = Math.min(blocking.rowsPerBlock, blocking.rows - first);
        const bytes = slot.subarray(0, rows * blocking.rowBytes);
        await context.reader.readRangeInto(info.name, first * blocking.rowBytes, bytes);
        await previous;
        const task = context.pool.run('rowBlock', [args(b, bytes, first, rows)]);
        markSent();
        return await task;
      } finally {
        markSent();
        context.ring.release(slot);
      }
    })();
  };
  return lookahead(blocking.count, launch, () => 1, context.ring.count, context.ring.count);
}

/** Sets bucket sums from a block's per-row sums (7 arrays of `rows`, see RowBlockResult) at row `first`. */
function setRowSums(sums: BucketSums, rowSums: Float64Array, first: number, rows: number): void {
  BucketSums.SUMS.forEach((k, i) => sums[k].set(rowSums.subarray(i * rows, (i + 1) * rows), first));
}

/**
 * Plans `info` in row blocks (module documentation): the plan, 'nonFinite' for a weight with NaN or
 * ±Infinity, or undefined when the whole-weight path must decide (below the floor, not quantizable as
 * decided). `keep` keeps the integers for writing. Rejects with the pool's or the reader's error.
 *
 * @example
 * ```ts
 * const plan = await planRowBlocks(context, info, decision, blocking, true);
 * plan.stats.overall.sqnrDb; // the whole weight's, to the bit
 * ```
 */
export async function planRowBlocks(
  context: RowBlockContext, info: WeightInfo, decision: WeightDecision, blocking: RowBlocking, keep: boolean,
): Promise<RowBlockPlan | 'nonFinite' | undefined> {
  const control = new Int32Array(new SharedArrayBuffer(8));
  const carry = new Float64Array(new SharedArrayBuffer(64));
  const blocks = startBlocks(context, info, blocking, (index, bytes, _first, rows) => ({
    bytes, dtype: info.dtype, shape: [rows, ...blocking.rest], decision, chain: { control, carry, index }, keep,
  }));
  const { rows, rowsPerBlock } = blocking;
  const scales = new Float32Array(rows);
  const zeroPoints = new Int32Array(rows);
  const perChannel = new BucketSums(rows);
  const data: Uint8Array[] = [];
  let peak = 0;
  try {
    for (let b = 0; b < blocking.count; b++) {
      const done = await blocks.take(b)!;
      if (done.kind !== 'planned') {
        abandonTurns(control);
        return done.kind === 'nonFinite' ? 'nonFinite' : undefined;
      }
      const first = b * rowsPerBlock;
      scales.set(done.scales, first);
      zeroPoints.set(done.zeroPoints, first);
      setRowSums(perChannel, done.rowSums, first, done.scales.length);
      peak = Math.max(peak, done.peak);
      if (done.data) data.push(done.data);
    }
  } catch (error) {
    abandonTurns(control);
    throw error;
  }
  const elements = rows * blocking.rest.reduce((a, b) => a * b, 1);
  perChannel.count.fill(elements / rows);
  const overall = new BucketSums(1);
  setRowSums(overall, carry, 0, 1);
  overall.count[0] = elements;
  const stats = assembleErrorStats({ shape: info.shape, axis: 0, quantized: { kind: 'grid' } }, overall, perChannel, undefined, 'cpu');
  const { sqnrDb, maxAbsError } = stats.overall;
  // As quantizeWeight and the quality floor judge the whole weight: the whole-weight path decides the rest.
  if (Number.isNaN(sqnrDb) || !Number.isFinite(maxAbsError)) return undefined;
  if (belowFloorOf(decision, sqnrDb, peak > 0 ? maxAbsError / peak : 0) !== undefined) return undefined;
  return { stats, scales, zeroPoints, ...(keep ? { data } : {}) };
}

/**
 * Starts quantizing `info`'s blocks again with `plan`'s parameters; `take(b)` gives block b's integers as
 * stored (call it for b = 0, 1, … in order).
 *
 * @example
 * ```ts
 * const blocks = writeRowBlocks(context, info, decision, blocking, plan);
 * await writer.writeChunk(dataName, await blocks.take(0)!);
 * ```
 */
export function writeRowBlocks(
  context: RowBlockContext, info: WeightInfo, decision: WeightDecision, blocking: RowBlocking, plan: RowBlockPlan,
): { take(b: number): Promise<Uint8Array> } {
  const blocks = startBlocks(context, info, blocking, (_b, bytes, first, rows) => ({
    bytes, dtype: info.dtype, shape: [rows, ...blocking.rest], decision, keep: true,
    params: { scales: plan.scales.slice(first, first + rows), zeroPoints: plan.zeroPoints.slice(first, first + rows) },
  }));
  return {
    async take(b) {
      const done = await blocks.take(b)!;
      if (done.kind !== 'written') throw new WorkerError(`a CPU worker answered row block ${b} of ${info.name} with ${done.kind}, not its integers`);
      return done.data;
    },
  };
}
