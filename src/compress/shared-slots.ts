/**
 * Buffers for weights sent to CPU workers, used again from weight to weight: `SharedArrayBuffer`s, which a
 * worker reads where they lie (structured clone shares them), so neither a copy nor fresh memory is paid per
 * weight (touching fresh pages costs more than the arithmetic on a large weight, docs/performance.md). Where
 * there is no `SharedArrayBuffer` (a page that is not cross-origin isolated), each weight gets a fresh
 * `ArrayBuffer`, to be transferred.
 *
 * @example
 * ```ts
 * const slots = sharedSlots();
 * const raw = slots.take(info.byteLength); // at least that many bytes; use raw.subarray(0, n)
 * try { await pool.run('encodeGgufTensor', [plan, raw], slots.transfer(raw)); } finally { slots.give(raw); }
 * ```
 * @module
 */

/** What {@link sharedSlots} returns. */
export interface SharedSlots {
  /** A buffer of exactly `bytes` bytes, free until given back. */
  take(bytes: number): Uint8Array;
  /** What to transfer when sending `view` to a worker: nothing for shared memory, its buffer otherwise. */
  transfer(view: Uint8Array): ArrayBuffer[];
  /** Returns `view`'s memory for the next take (once the worker is done with it). */
  give(view: Uint8Array): void;
}

/**
 * A free list of shared buffers (see the module documentation). As many are alive as were taken at once;
 * a take that no free one fits allocates a new one and lets the largest too-small free one go.
 *
 * @example
 * ```ts
 * const slots = sharedSlots();
 * const a = slots.take(1024);
 * slots.give(a);
 * slots.take(512).buffer === a.buffer; // true where SharedArrayBuffer exists
 * ```
 */
export function sharedSlots(): SharedSlots {
  const shared = typeof SharedArrayBuffer === 'function';
  const free: SharedArrayBuffer[] = [];
  return {
    take(bytes) {
      if (!shared) return new Uint8Array(bytes);
      let best = -1;
      for (let i = 0; i < free.length; i++) {
        if (free[i]!.byteLength >= bytes && (best < 0 || free[i]!.byteLength < free[best]!.byteLength)) best = i;
      }
      if (best < 0) {
        free.sort((a, b) => a.byteLength - b.byteLength).pop(); // too small: let the largest go, a bigger one replaces it
        return new Uint8Array(new SharedArrayBuffer(bytes));
      }
      return new Uint8Array(free.splice(best, 1)[0]!, 0, bytes);
    },
    transfer: (view) => (view.buffer instanceof ArrayBuffer ? [view.buffer] : []),
    give(view) {
      if (shared && view.buffer instanceof SharedArrayBuffer) free.push(view.buffer);
    },
  };
}
