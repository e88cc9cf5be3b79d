/**
 * A one-line progress bar on stderr when it is a terminal, silent otherwise (and with --json).
 *
 * @example
 * ```ts
 * const bar = progressBar(process.stderr, 69);
 * bar.update(10, 'model.first_layer.0.dw_conv.0.weight');
 * bar.done();
 * ```
 * @module
 */

/** What the compress command reports progress to. */
export interface Progress {
  update(done: number, label: string): void;
  done(): void;
}

/** The least time between two redraws of the bar. */
const kRedrawMs = 100;

/** A bar for `total` steps on `stream` (redrawn at most every 100 ms), or a no-op when the stream is not a TTY. */
export function progressBar(stream: NodeJS.WriteStream, total: number): Progress {
  if (!stream.isTTY || total === 0) return { update: () => {}, done: () => {} };
  const width = 30;
  let shownAt = -Infinity;
  return {
    update(done, label) {
      // At most ~10 redraws a second (and always the last step): 200k tiny tensors are not 200k terminal writes.
      const now = performance.now();
      if (done < total && now - shownAt < kRedrawMs) return;
      shownAt = now;
      const filled = Math.round((done / total) * width);
      const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${label}`;
      stream.write(`\r${line.slice(0, (stream.columns ?? 100) - 1).padEnd((stream.columns ?? 100) - 1)}`);
    },
    done() { stream.write('\n'); },
  };
}
