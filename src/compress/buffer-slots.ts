/**
 * Buffers for weights, used again from weight to weight, so that neither a copy nor fresh memory is paid per weight
 * (touching fresh pages costs more than the arithmetic on a large weight, docs/performance.md):
 *
 * - `'shared'`: for weights sent to CPU workers. `SharedArrayBuffer`s, which a worker reads where they lie
 *   (structured clone shares them). Where there is no `SharedArrayBuffer` (a page that is not cross-origin
 *   isolated), each weight gets a fresh `ArrayBuffer`, to be transferred.
 * - `'local'`: for weights that stay on this thread (the GPU path converts several at once): `ArrayBuffer`s.
 *
 * @example
 * ```ts
 * const slots = bufferSlots('shared');
 * const raw = slots.take(info.byteLength); // exactly that many bytes, over a buffer at least as large
 * try { await pool.run('encodeGgufTensor', [plan, raw], slots.transfer(raw)); } finally { slots.give(raw); }
 * ```
 * @module
 */

/** What {@link bufferSlots} returns. */
export interface BufferSlots {
  /** A buffer of exactly `bytes` bytes, free until given back. */
  take(bytes: number): Uint8Array;
  /** What to transfer when sending `view` to a worker: nothing for reused memory, its buffer otherwise ('local' buffers are not for workers). */
  transfer(view: Uint8Array): ArrayBuffer[];
  /** Returns `view`'s memory for the next take (once the worker is done with it). */
  give(view: Uint8Array): void;
}

/**
 * A free list of buffers of `memory` (see the module documentation). As many are alive as were taken at once; a
 * take that no free one fits allocates a new one and lets the largest too-small free one go.
 *
 * @example
 * ```ts
 * const slots = bufferSlots('shared');
 * const a = slots.take(1024);
 * slots.give(a);
 * slots.take(512).buffer === a.buffer; // true where SharedArrayBuffer exists, and always for 'local'
 * ```
 */
export function bufferSlots(memory: 'shared' | 'local'): BufferSlots {
  const shared = memory === 'shared' && typeof SharedArrayBuffer === 'function';
  const reused = shared || memory === 'local';
  const free: ArrayBufferLike[] = [];
  return {
    take(bytes) {
      if (!reused) return new Uint8Array(bytes);
      let best = -1;
      for (let i = 0; i < free.length; i++) {
        if (free[i]!.byteLength >= bytes && (best < 0 || free[i]!.byteLength < free[best]!.byteLength)) best = i;
      }
      if (best < 0) {
        free.sort((a, b) => a.byteLength - b.byteLength).pop(); // too small: let the largest go, a bigger one replaces it
        return new Uint8Array(shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
      }
      return new Uint8Array(free.splice(best, 1)[0]!, 0, bytes);
    },
    transfer: (view) => (reused ? [] : [view.buffer as ArrayBuffer]),
    give(view) {
      if (reused) free.push(view.buffer);
    },
  };
}
