/**
 * Reads weights one ahead of an in-order consumer on the calling thread: while weight i is worked on, the next
 * wanted weight is read (the file read runs while the kernels run), into two buffers used again from weight to
 * weight (`bufferSlots('local')`: no fresh memory per weight, no garbage of a weight's size left behind). The
 * consumer takes each weight's bytes in order and releases them once it no longer uses them (a buffer may be
 * written while it is still held: release it after the write).
 *
 * @example
 * ```ts
 * const ahead = readAhead(reader, weights, (i) => decisions[i].action === 'quantize');
 * for (let i = 0; i < weights.length; i++) {
 *   const early = ahead.take(i); // undefined for a weight not wanted
 *   try { await work(early ? await early : await reader.read(weights[i].name)); } finally { await ahead.release(i); }
 * }
 * ```
 * @module
 */
import { type WeightInfo, type WeightReader, readWeightInto } from '../io/weights.js';
import { type BufferSlots, bufferSlots } from './buffer-slots.js';
import { lookahead } from './lookahead.js';

/** What {@link readAhead} returns. */
export interface ReadAhead {
  /** Weight i's stored bytes (its read started now if it was not already), or undefined when it is not wanted. Call with increasing i. */
  take(i: number): Promise<Uint8Array> | undefined;
  /** Gives weight i's buffer back for the next reads, once its bytes are no longer used; nothing for a weight not taken. */
  release(i: number): Promise<void>;
}

/**
 * One weight read ahead of the consumer, into reused buffers (see the module documentation); `slots` are the
 * buffers to use (default: two of its own), so that passes one after the other share theirs. A failed read
 * gives its buffer back and rejects the take.
 *
 * @example
 * ```ts
 * const ahead = readAhead(reader, reader.list(), () => true);
 * const bytes = await ahead.take(0); // the first weight's bytes, the second one's read started
 * ```
 */
export function readAhead(
  reader: WeightReader, weights: readonly WeightInfo[], wanted: (i: number) => boolean, slots: BufferSlots = bufferSlots('local'),
): ReadAhead {
  const reads = new Map<number, Promise<{ slot: Uint8Array; bytes: Uint8Array }>>();
  const start = (i: number): Promise<{ slot: Uint8Array; bytes: Uint8Array }> | undefined => {
    if (!wanted(i)) return undefined;
    const slot = slots.take(weights[i]!.byteLength);
    const read = readWeightInto(reader, weights[i]!, slot).then((bytes) => ({ slot, bytes }), (error: unknown) => {
      slots.give(slot);
      throw error;
    });
    reads.set(i, read);
    return read;
  };
  const ahead = lookahead(weights.length, start, (i) => weights[i]!.byteLength, 1, Infinity);
  return {
    take(i) {
      return ahead.take(i)?.then(({ bytes }) => bytes);
    },
    async release(i) {
      const read = reads.get(i);
      reads.delete(i);
      const done = await read?.catch(() => undefined); // a failed read gave its buffer back already
      if (done) slots.give(done.slot);
    },
  };
}
