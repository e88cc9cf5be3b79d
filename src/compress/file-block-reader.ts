/**
 * A weight in a file read a block of whole rows at a time (file-blocking.ts' blocks), each block as float32 in one
 * place in the CPU kernels' memory (held there, so the passes over it read it in place), float16 and bfloat16
 * converted a block at a time as toFloat32 does. With `readAhead` (float32 only), two places: the next block is
 * read into one while the block before is worked on in the other. What weight-file-blocks.ts quantizes and
 * measures block by block, and what measure-groups-in-blocks.ts measures the size budget's group options from.
 *
 * @example
 * ```ts
 * const reader = await openFileBlocks(range, blocking, 'float32', (shape) => holdWeight(shape, decision), { scratch });
 * try {
 *   for (let b = 0; b < blocking.count; b++) {
 *     const { first, x } = await reader.read(b); // x.data: rows first .. first + x.shape[0] of the weight
 *   }
 * } finally {
 *   await reader.close();
 * }
 * ```
 * @module
 */
import type { FileRange } from '../io/byte-source.js';
import { toFloat32Into } from '../io/float-convert.js';
import { openFileRange } from '../io/safetensors/node-file-source.js';
import { FILE_WEIGHT_BYTES, type FileWeightDType } from '../io/weights.js';
import type { HeldFloat32 } from '../kernels/cpu/simd-module.js';
import type { FileBlocking } from './file-blocking.js';

/** One block's rows as float32: `x` holds rows `first` to `first + x.shape[0]` of the weight. */
export interface FileBlock { first: number; x: { data: Float32Array; shape: number[] } }

/** What {@link openFileBlocks} returns. */
export interface FileBlockReader {
  /** Block `b` as float32 in its place (a view valid until the block after the next is read; the next with one place). */
  read(b: number): Promise<FileBlock>;
  /** Block `b`'s rows as stored, read into the front of `into` (its first bytes, returned). */
  readStored(b: number, into: Uint8Array): Promise<Uint8Array>;
  /** Settles a block read ahead, lets go of the places and closes the file. */
  close(): Promise<void>;
}

/** Options of {@link openFileBlocks}. */
export interface FileBlockOptions {
  /** Reads the next float32 block while one is worked on (BlockWeightOptions.readAhead). */
  readAhead?: boolean;
  /** Scratch of `byteLength` bytes for 16-bit rows as stored, given back by the caller after {@link FileBlockReader.close}. */
  scratch: (byteLength: number) => Uint8Array;
}

/**
 * Opens the weight at `range` (stored as `dtype`) to be read in `blocking`'s blocks; `hold(shape)` holds the blocks'
 * places (one block's rows, or two with a read ahead) in the kernels' memory (holdWeight), the first time a block is
 * read, or gives undefined (then an array of their own). Rejects with the file's errors.
 *
 * @example
 * ```ts
 * const reader = await openFileBlocks(range, blocking, 'float16', () => undefined, { scratch: (n) => new Uint8Array(n) });
 * const stored = await reader.readStored(0, new Uint8Array(2 * blocking.rowsPerBlock * blocking.rowElements));
 * await reader.close();
 * ```
 */
export async function openFileBlocks(
  range: FileRange, blocking: FileBlocking, dtype: FileWeightDType, hold: (shape: number[]) => HeldFloat32 | undefined, options: FileBlockOptions,
): Promise<FileBlockReader> {
  const stored = FILE_WEIGHT_BYTES[dtype];
  const { rows, rowsPerBlock, count, rest, rowElements } = blocking;
  const places = options.readAhead === true && stored === 4 && count > 1 ? 2 : 1;
  let slot: HeldFloat32 | undefined;
  let whole: Float32Array | undefined;
  /** Block b's place: held the first time it is asked for. */
  const blockPlace = (b: number): Float32Array => {
    if (!whole) {
      slot = hold([places * rowsPerBlock, ...rest]);
      whole = slot?.data ?? new Float32Array(places * rowsPerBlock * rowElements);
    }
    return whole.subarray((b % places) * rowsPerBlock * rowElements, ((b % places) + 1) * rowsPerBlock * rowElements);
  };
  const file = await openFileRange(range);
  const readStored = async (b: number, into: Uint8Array) => {
    const first = b * rowsPerBlock;
    const bytes = into.subarray(0, stored * Math.min(rowsPerBlock, rows - first) * rowElements);
    await file.read(stored * first * rowElements, bytes);
    return bytes;
  };
  // 16-bit values are read as stored, then converted into the block's place.
  const raw = stored === 4 ? undefined : options.scratch(stored * rowsPerBlock * rowElements);
  const readBlock = async (b: number): Promise<FileBlock> => {
    const place = blockPlace(b);
    const first = b * rowsPerBlock;
    const blockRows = Math.min(rowsPerBlock, rows - first);
    const data = place.subarray(0, blockRows * rowElements);
    const bytes = await readStored(b, raw ?? new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    if (raw) toFloat32Into(bytes, dtype, data, range.path);
    return { first, x: { data, shape: [blockRows, ...rest] } };
  };
  // The next block, read ahead: settled before the places are let go.
  let early: { b: number; block: Promise<FileBlock> } | undefined;
  return {
    read(b) {
      const now = early?.b === b ? early.block : readBlock(b);
      early = undefined;
      if (places === 2 && b + 1 < count) {
        early = { b: b + 1, block: readBlock(b + 1) };
        early.block.catch(() => undefined); // met when block b + 1 is read, or settled before the places go
      }
      return now;
    },
    readStored,
    async close() {
      try {
        await early?.block.catch(() => undefined);
      } finally {
        early = undefined;
        slot?.release();
        slot = undefined;
        await file.close();
      }
    },
  };
}
