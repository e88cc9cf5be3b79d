/**
 * The buffers CPU workers encode tensors' bytes into, sent back to the workers once written, so that no fresh
 * memory is touched for each tensor's bytes and no more buffers are alive than the work needs: one a task in
 * flight.
 *
 * A task sent while no written buffer is at hand makes its worker take fresh memory (17 MiB for a [4096, 4096]
 * Q8_0 weight), and that buffer then stays in circulation to the end: with two workers, three such buffers where
 * two do. So a task waits instead for the buffer of a result that has come and is written in its turn
 * (`take`: claimed, handed over once written), and only then goes to its worker; what it waits is the write of
 * one tensor's bytes. A claim is only ever on a tensor before the claimer's, whose result is in hand, and tensors
 * are written in order, so none waits forever while writes go on. When they stop (the file is written after
 * planning, or the call failed), `stop()` gives every claim `undefined` (its worker takes fresh memory), and
 * results that come are not claimed until writes start again (`writing()`).
 *
 * @example
 * ```ts
 * const outputs = writtenOutputs(2);
 * outputs.writing();
 * const out = await outputs.take(i); // a written buffer, or undefined: the worker makes one
 * const answer = await pool.run('ggufWeightFile', [range, info, decision, true, out], out ? [out] : []);
 * outputs.arrived(i, answer.encoded!.bytes.buffer);
 * // … tensor i written in order …
 * outputs.written(i, answer.encoded!.bytes.buffer);
 * ```
 * @module
 */

/** What {@link writtenOutputs} returns. */
export interface WrittenOutputs {
  /**
   * A written buffer for tensor `index`'s bytes: one at hand; else, while writes go on in order, the buffer of the
   * earliest result before `index` that has come and is not claimed, once it is written (undefined if writes stop
   * first); else undefined.
   */
  take(index: number): ArrayBuffer | undefined | Promise<ArrayBuffer | undefined>;
  /** Tensor `index`'s bytes came from a worker in `buffer`; while writes go on, a task may claim it. */
  arrived(index: number, buffer: ArrayBufferLike): void;
  /** Tensor `index`'s bytes, in `buffer`, are written (the sink is done with them): to its claim, else kept. */
  written(index: number, buffer: ArrayBufferLike): void;
  /** Tensors are written in order from now on, each as soon as its turn comes: results that come may be claimed. */
  writing(): void;
  /** Writes stop (the file is written after planning, or the call failed): every claim gets undefined. */
  stop(): void;
}

interface Arrival { buffer: ArrayBuffer; claim?: (buffer: ArrayBuffer | undefined) => void }

/**
 * The circulation of written buffers (see the module documentation), keeping at most `keep` at hand.
 *
 * @example
 * ```ts
 * const outputs = writtenOutputs(2);
 * outputs.take(0); // undefined: nothing written yet, no result to wait for
 * ```
 */
export function writtenOutputs(keep: number): WrittenOutputs {
  const free: ArrayBuffer[] = [];
  const arrivals = new Map<number, Arrival>();
  let inOrder = false;
  const settleAll = () => {
    for (const arrival of arrivals.values()) arrival.claim?.(undefined);
    arrivals.clear();
  };
  return {
    take(before) {
      const atHand = free.pop();
      if (atHand || !inOrder) return atHand;
      let earliest: Arrival | undefined;
      let first = before;
      for (const [index, arrival] of arrivals) {
        if (!arrival.claim && index < first) [earliest, first] = [arrival, index];
      }
      if (!earliest) return undefined;
      const claimed = earliest;
      return new Promise((resolve) => {
        claimed.claim = resolve;
      });
    },
    arrived(index, buffer) {
      if (inOrder && buffer instanceof ArrayBuffer) arrivals.set(index, { buffer });
    },
    written(index, buffer) {
      const arrival = arrivals.get(index);
      arrivals.delete(index);
      if (!(buffer instanceof ArrayBuffer)) return;
      if (arrival?.claim && arrival.buffer === buffer) arrival.claim(buffer);
      else {
        arrival?.claim?.(undefined);
        if (free.length < keep) free.push(buffer);
      }
    },
    writing() {
      inOrder = true;
    },
    stop() {
      inOrder = false;
      settleAll();
    },
  };
}
