// GGUF Q8_0 blocks from the WebAssembly kernel (io/gguf/q8-0-simd.ts) against the JavaScript ones (ggml's reference rounding, which
// gguf-ggml-fixture.test.ts checks against llama.cpp's own output): the same bytes and the same values back,
// on fresh random rows with ties at k + 0.5 of the block's step, all-zero blocks, ±0, tiny blocks whose scale is
// a float16 subnormal, large ones near float16's limit, and rows that cross the kernel's pieces.
import { describe, expect, it } from 'vitest';
import { dequantizeRowQ8_0, quantizeRowQ8_0 } from '../../src/io/gguf/ggml-blocks.js';
import { cpuQ8_0 } from '../../src/io/gguf/q8-0-simd.js';
import { RUN_SEED, expectBits, expectExact, rng } from './support.js';

const next = rng(RUN_SEED);

/** One block of 32 of a random kind. */
function block(out: Float32Array, at: number): void {
  const kind = Math.floor(next() * 6);
  const magnitude = [1, 1e-6, 2 ** -20, 5e5, 1, 1][kind]!;
  const step = magnitude / 127;
  for (let j = 0; j < 32; j++) {
    const r = next();
    out[at + j] = kind === 4 ? (r < 0.5 ? 0 : -0)
      : kind === 5 ? Math.fround((Math.floor(r * 255) - 127 + 0.5) * step) // ties once scaled
      : Math.fround((r * 2 - 1) * magnitude);
  }
  if (kind !== 4) out[at + Math.floor(next() * 32)] = next() < 0.5 ? magnitude : -magnitude; // the block's amax
}

function row(blocks: number): Float32Array {
  const out = new Float32Array(32 * blocks);
  for (let b = 0; b < blocks; b++) block(out, 32 * b);
  return out;
}

describe(`WebAssembly Q8_0 blocks (seed ${RUN_SEED})`, () => {
  it('writes the bytes quantizeRowQ8_0 writes and gives back the values dequantizeRowQ8_0 gives', () => {
    for (const blocks of [1, 2, 7, 1023, 1024, 1025, 3000]) {
      const data = row(blocks);
      const expected = quantizeRowQ8_0(data);
      const bytes = new Uint8Array(expected.length).fill(0xee);
      const values = cpuQ8_0(data, bytes)!;
      expectExact(bytes, expected, `bytes of ${blocks} blocks`);
      expectBits(values, dequantizeRowQ8_0(expected, data.length), `values of ${blocks} blocks`);
    }
  });

  it('rounds halves away from zero, as roundf, on both signs', () => {
    // amax 127 makes d = 1 and id = 1: the values are their own x · id.
    const data = Float32Array.from({ length: 32 }, (_, j) => (j === 0 ? 127 : (j % 2 ? -1 : 1) * (j / 2 + 0.5)));
    const bytes = new Uint8Array(34);
    cpuQ8_0(data, bytes);
    const q = new Int8Array(bytes.buffer, 2, 32);
    for (let j = 1; j < 32; j++) expect(q[j], `element ${j}: ${data[j]}`).toBe(Math.sign(data[j]!) * Math.floor(Math.abs(data[j]!) + 0.5));
    expect(q[0]).toBe(127);
  });
});
