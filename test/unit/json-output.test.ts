// The command line's JSON writer gives the text one JSON.stringify would (Infinity and NaN as strings, typed arrays
// as arrays, undefined fields left out), its tensors written in pieces, on fresh random reports of every size
// around a piece's edge.
import { expect, it } from 'vitest';
import { jsonNumber, writeJsonObject } from '../../src/cli/json-output.js';
import { RUN_SEED, rng } from '../shared/random.js';

/** What writeJsonObject writes, collected. */
function written(value: Record<string, unknown>): { text: string; writes: number } {
  const parts: string[] = [];
  writeJsonObject({ write: (s: string) => { parts.push(s); return true; } } as unknown as NodeJS.WritableStream, value);
  return { text: parts.join(''), writes: parts.length };
}

/** The plain form: one stringify, with the same replacements done by hand. */
function plain(value: Record<string, unknown>): string {
  return `${JSON.stringify(value, (_k, v: unknown) => (v instanceof Float64Array || v instanceof Float32Array
    ? Array.from(v, (x) => (Number.isFinite(x) ? x : String(x))) : typeof v === 'number' && !Number.isFinite(v) ? String(v) : v))}\n`;
}

it('jsonNumber writes Infinity and NaN as strings and leaves other values alone', () => {
  expect([Infinity, -Infinity, NaN, 0, -2.5, 'x', undefined].map(jsonNumber)).toEqual(['Infinity', '-Infinity', 'NaN', 0, -2.5, 'x', undefined]);
});

it('writeJsonObject equals one JSON.stringify, tensors in pieces of 1024', () => {
  const next = rng(RUN_SEED);
  const value = (): number => { const r = next(); return r < 0.05 ? Infinity : r < 0.1 ? NaN : Math.round(next() * 1e4) / 100; };
  for (const n of [0, 1, 1023, 1024, 1025, 2048, 2049 + Math.floor(next() * 3000)]) {
    const report: Record<string, unknown> = {
      input: 'in.onnx', skipped: undefined, totals: { ratio: value(), kept: n },
      tensors: Array.from({ length: n }, (_, i) => ({ name: `t${i}`, sqnrDb: value(), missing: undefined,
        scales: next() < 0.3 ? Float32Array.from([value(), value()]) : new Float64Array([value()]) })),
      seconds: value(),
    };
    const { text, writes } = written(report);
    expect(text).toBe(plain(report));
    expect(() => JSON.parse(text)).not.toThrow();
    // '{', input, totals (skipped: undefined), the tensors' '[', one write per piece, their ']', seconds, '}\n'.
    expect(writes).toBe(7 + Math.ceil(n / 1024));
  }
});
