/**
 * Scratch memory of the passes over a weight's blocks (a block's integers before packing, its 16-bit values as
 * stored, its parameters' mins, maxes and reciprocals), used again from call to call: taken for one call and all
 * given back at its end. A worker quantizes and measures weight after weight: fresh arrays of a few MiB each call
 * would be freed into its thread's allocator arena, which keeps them resident (docs/performance.md, "Parameters and
 * scratch kept from weight to weight").
 *
 * @example
 * ```ts
 * const scratch = blockScratchTaker();
 * try {
 *   const mins = scratch.float32(1024); // zeros the first time, what the last call left after that
 * } finally {
 *   scratch.release();
 * }
 * ```
 * @module
 */
import { bufferSlots } from './buffer-slots.js';

/** This thread's scratch, shared by every call. */
const blockScratch = bufferSlots('local');

/** What {@link blockScratchTaker} returns: typed views of scratch taken for one call. */
export interface BlockScratch {
  bytes(byteLength: number): Uint8Array;
  float32(count: number): Float32Array;
  float64(count: number): Float64Array;
  int32(count: number): Int32Array;
  /** Gives back everything taken (views taken before must not be used after). */
  release(): void;
}

/**
 * Scratch for one call: each view is memory of its own until `release()`; never zeroed.
 *
 * @example
 * ```ts
 * const scratch = blockScratchTaker();
 * const sums = scratch.float64(8);
 * scratch.release();
 * ```
 */
export function blockScratchTaker(): BlockScratch {
  const taken: Uint8Array[] = [];
  const bytes = (byteLength: number): Uint8Array => {
    const view = blockScratch.take(byteLength);
    taken.push(view);
    return view;
  };
  return {
    bytes,
    float32: (count) => new Float32Array(bytes(4 * count).buffer, 0, count),
    float64: (count) => new Float64Array(bytes(8 * count).buffer, 0, count),
    int32: (count) => new Int32Array(bytes(4 * count).buffer, 0, count),
    release: () => { for (const view of taken.splice(0)) blockScratch.give(view); },
  };
}
