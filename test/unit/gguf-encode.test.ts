// encodeGgufTensor's transpose (ONNX MatMul weights [K, N] are stored as rows of K): every element, of 1, 2, 4 or
// 8 bytes, lands at (j, i) with its bits kept (NaN payloads included), on random shapes that are not multiples of
// the tile, from aligned and unaligned bytes; and a transposed plan encodes to the blocks of the tensor
// transposed beforehand.
import { describe, expect, it } from 'vitest';
import { encodeGgufTensor, transposeBytes } from '../../src/compress/gguf-encode.js';
import { RUN_SEED, normalData, rng } from './support.js';

/** The definition: element (i, j) of [k, n] to (j, i), byte by byte. */
function transposedByDefinition(raw: Uint8Array, k: number, n: number, size: number): Uint8Array {
  const out = new Uint8Array(raw.byteLength);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < n; j++) {
      for (let b = 0; b < size; b++) out[(j * k + i) * size + b] = raw[(i * n + j) * size + b]!;
    }
  }
  return out;
}

describe('GGUF tensor encoding', () => {
  it('transposes elements of 1, 2, 4 and 8 bytes bit for bit, aligned or not', () => {
    console.log(`seed ${RUN_SEED}`);
    const next = rng(RUN_SEED);
    for (const size of [1, 2, 4, 8]) {
      for (const [k, n] of [[1, 1], [1, 70], [70, 1], [65, 129], [16, 24], [3, 8], [2 + Math.floor(next() * 200), 2 + Math.floor(next() * 200)]] as const) {
        const backing = Uint8Array.from({ length: k * n * size + 1 }, () => Math.floor(next() * 256));
        for (const raw of [backing.subarray(0, k * n * size), backing.subarray(1)]) {
          const expected = transposedByDefinition(raw, k, n, size);
          const before = raw.slice();
          expect(Buffer.compare(transposeBytes(raw, k, n, size), expected), `${size} bytes, [${k}, ${n}], offset ${raw.byteOffset}`).toBe(0);
          expect(raw).toEqual(before); // only read
        }
      }
    }
    // NaN payloads survive (elements move as integers, never as floats).
    const nans = new Uint32Array([0x7fa00001, 0xffc00002, 0x7f800003, 0x12345678, 0x7fffffff, 0xff800001]);
    expect([...new Uint32Array(transposeBytes(new Uint8Array(nans.buffer), 2, 3, 4).buffer)])
      .toEqual([0x7fa00001, 0x12345678, 0xffc00002, 0x7fffffff, 0x7f800003, 0xff800001]);
  });

  it('a transposed plan gives the blocks and statistics of the tensor transposed beforehand', () => {
    const next = rng(RUN_SEED + 1);
    const [k, n] = [96, 40]; // rows of k = 96 (3 blocks) after the transpose
    const data = normalData(k * n, next);
    const raw = new Uint8Array(data.buffer);
    const rows = transposedByDefinition(raw, k, n, 4);
    for (const type of ['Q8_0', 'Q4_0', 'F16'] as const) {
      const viaPlan = encodeGgufTensor({ name: 'w', dtype: 'float32', shape: [k, n], type, ne: [k, n], transposed: true }, raw);
      const direct = encodeGgufTensor({ name: 'w', dtype: 'float32', shape: [n, k], type, ne: [k, n], transposed: false }, rows);
      expect(Buffer.compare(viaPlan.bytes, direct.bytes), type).toBe(0);
      expect(viaPlan.bytes.byteLength).toBe(type === 'Q8_0' ? n * 3 * 34 : type === 'Q4_0' ? n * 3 * 18 : k * n * 2);
      expect(viaPlan.stats!.sqnrDb).toBe(direct.stats!.sqnrDb);
      expect(viaPlan.stats!.sqnrDb).toBeGreaterThan(type === 'Q4_0' ? 10 : 30);
      expect(viaPlan.stats!.statsAxis).toBe(1);
    }
  });
});
