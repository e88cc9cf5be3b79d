// webgpu-quant's Q8_0 / Q4_0 blocks against llama.cpp's gguf-py quantizers (test/fixtures/gguf-quants.json, made by
// test/fixtures/generate_gguf_quants.py): byte for byte on edge blocks and random rows at scales from 1e-3 to 1e3.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { quantizeRowQ4_0, quantizeRowQ8_0 } from '../../src/models.js';

interface Case { bits: number[]; q8_0: string; q4_0: string }
const fixture = JSON.parse(readFileSync(new URL('../fixtures/gguf-quants.json', import.meta.url), 'utf8')) as { gguf: string; cases: Case[] };
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** The first differing block, as "block b: expected …, got …", or '' when equal. */
function firstDifference(expected: string, actual: string, blockBytes: number): string {
  for (let at = 0; at < Math.max(expected.length, actual.length); at += blockBytes * 2) {
    const e = expected.slice(at, at + blockBytes * 2);
    const a = actual.slice(at, at + blockBytes * 2);
    if (e !== a) return `block ${at / (blockBytes * 2)}: expected ${e}, got ${a}`;
  }
  return '';
}

describe(`Q8_0 / Q4_0 blocks equal gguf-py ${fixture.gguf}'s`, () => {
  it.each(fixture.cases.map((c, i) => [i, c] as const))('row %i', (_i, c) => {
    const row = new Float32Array(new Uint32Array(c.bits).buffer);
    expect(firstDifference(c.q8_0, hex(quantizeRowQ8_0(row)), 34)).toBe('');
    expect(firstDifference(c.q4_0, hex(quantizeRowQ4_0(row)), 18)).toBe('');
  });
});
