/**
 * Runs work ahead of an in-order consumer: while item i is being committed, items after it are already being
 * computed (on worker threads, say), at most `maxItems` of them and `maxBytes` of their inputs at once. The
 * consumer takes results strictly in order, so what it writes never depends on which worker finished first.
 *
 * @example
 * ```ts
 * const ahead = lookahead(weights.length, (i) => pool.run('quantizeWeight', args(i)), (i) => weights[i].byteLength, 3, 256 * 2 ** 20);
 * for (let i = 0; i < weights.length; i++) {
 *   const result = await (ahead.take(i) ?? computeHere(i)); // undefined: start() declined item i
 * }
 * ```
 * @module
 */

/** What {@link lookahead} returns. */
export interface Lookahead<T> {
  /**
   * Item `i`'s started work, or undefined when `start` declined it (the consumer does it itself). Call with
   * increasing `i`; each call starts what the limits allow after it.
   */
  take(i: number): Promise<T> | undefined;
}

/**
 * Starts `start(i)` for items in order ahead of the consumer (see the module documentation). `start` returns
 * undefined for an item it leaves to the consumer; such items take no room. One item is always started,
 * whatever its size. A started item's rejection is handed to the consumer through `take`, never left
 * unhandled.
 *
 * @example
 * ```ts
 * const ahead = lookahead(3, async (i) => i * 2, () => 1, 2, 10);
 * await ahead.take(0); // 0
 * ```
 */
export function lookahead<T>(
  count: number, start: (i: number) => Promise<T> | undefined, bytesOf: (i: number) => number, maxItems: number, maxBytes: number,
): Lookahead<T> {
  const started = new Map<number, { promise: Promise<T>; bytes: number }>();
  let next = 0;
  let bytes = 0;
  const fill = (from: number): void => {
    next = Math.max(next, from);
    while (next < count && started.size < maxItems) {
      const size = bytesOf(next);
      if (started.size > 0 && bytes + size > maxBytes) break;
      const index = next++;
      const promise = start(index);
      if (!promise) continue;
      promise.catch(() => undefined); // the consumer sees the rejection through take()
      started.set(index, { promise, bytes: size });
      bytes += size;
    }
  };
  return {
    take(i) {
      fill(i);
      const item = started.get(i);
      if (!item) return undefined;
      return item.promise.finally(() => {
        started.delete(i);
        bytes -= item.bytes;
        fill(i + 1);
      });
    },
  };
}
