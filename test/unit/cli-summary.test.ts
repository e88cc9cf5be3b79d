// The compress summary's worst tensors are picked in one pass (no sort of every tensor), and agree with a
// full sort on fresh random SQNRs, ties and NaN included; the progress bar redraws at a bounded rate.
import { expect, it } from 'vitest';
import type { TensorReport } from '../../src/compress/compress-report.js';
import { worstBySqnr } from '../../src/cli/compress-summary.js';
import { progressBar } from '../../src/cli/progress.js';
import { RUN_SEED, rng } from '../shared/random.js';

function report(name: string, sqnrDb: number | undefined): TensorReport {
  return { name, shape: [1], dtypeIn: 'float32', dtypeOut: 'qint8', action: 'quantize', reason: '', scheme: '', bytesBefore: 4, bytesAfter: 1,
    ...(sqnrDb === undefined ? {} : { sqnrDb }) } as TensorReport;
}

it('worstBySqnr gives the lowest SQNRs, lowest first, as a stable sort does (NaN first, undefined skipped)', () => {
  const next = rng(RUN_SEED);
  for (let round = 0; round < 50; round++) {
    const n = Math.floor(next() * 40);
    const tensors = Array.from({ length: n }, (_, i) => {
      const r = next();
      return report(`t${i}`, r < 0.1 ? undefined : r < 0.15 ? Number.NaN : Math.round(next() * 10)); // many ties
    });
    const key = (t: TensorReport) => (Number.isNaN(t.sqnrDb) ? -Infinity : t.sqnrDb!);
    const expected = tensors.filter((t) => t.sqnrDb !== undefined).sort((a, b) => key(a) - key(b)).slice(0, 5);
    expect(worstBySqnr(tensors, 5).map((t) => t.name)).toEqual(expected.map((t) => t.name));
  }
  expect(worstBySqnr([report('a', 1)], 0)).toEqual([]);
});

it('the progress bar draws the first and last of 100,000 steps and few in between', () => {
  let writes = 0;
  const stream = { isTTY: true, columns: 80, write: () => { writes++; return true; } } as unknown as NodeJS.WriteStream;
  const bar = progressBar(stream, 100_000);
  const started = performance.now();
  for (let i = 1; i <= 100_000; i++) bar.update(i, `w${i}`);
  const elapsed = performance.now() - started;
  expect(writes).toBeGreaterThanOrEqual(2); // the first step and the last
  expect(writes).toBeLessThanOrEqual(2 + Math.ceil(elapsed / 100));
});
