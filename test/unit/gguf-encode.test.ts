// encodeGgufTensor's transpose (ONNX MatMul weights [K, N] are stored as rows of K): every element, of 1, 2, 4 or
// 8 bytes, lands at (j, i) with its bits kept (NaN payloads included), on random shapes that are not multiples of
// the tile, from aligned and unaligned bytes; and a transposed plan encodes to the blocks of the tensor
// transposed beforehand.
import { describe, expect, it } from 'vitest';
import { encodeGgufTensor, ggufRowBlockEncoder, transposeBytes } from '../../src/compress/gguf-encode.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { dequantizeRowQ4_0, dequantizeRowQ8_0, quantizeRowQ4_0, quantizeRowQ8_0 } from '../../src/io/gguf/ggml-blocks.js';
import { errorStats } from '../../src/reference/error-stats.js';
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
    // Rows of k = 96 (3 blocks) after the transpose; rows of 2080 that straddle the 32768-element pieces (the
    // blocks' rows are gathered piece by piece, eight at a time where a piece holds them whole); a random one.
    for (const [k, n] of [[96, 40], [2080, 41], [32 * (1 + Math.floor(next() * 80)), 1 + Math.floor(next() * 60)]] as const) {
      const data = normalData(k * n, next);
      const raw = new Uint8Array(data.buffer);
      const rows = transposedByDefinition(raw, k, n, 4);
      for (const type of ['Q8_0', 'Q4_0', 'F16'] as const) {
        const viaPlan = encodeGgufTensor({ name: 'w', dtype: 'float32', shape: [k, n], type, ne: [k, n], transposed: true }, raw);
        const direct = encodeGgufTensor({ name: 'w', dtype: 'float32', shape: [n, k], type, ne: [k, n], transposed: false }, rows);
        expect(Buffer.compare(viaPlan.bytes, direct.bytes), type).toBe(0);
        expect(viaPlan.bytes.byteLength).toBe(type === 'Q8_0' ? n * (k / 32) * 34 : type === 'Q4_0' ? n * (k / 32) * 18 : k * n * 2);
        expect(viaPlan.stats!.sqnrDb).toBe(direct.stats!.sqnrDb);
        expect(viaPlan.stats!.sqnrDb).toBeGreaterThan(type === 'Q4_0' ? 10 : 30);
        expect(viaPlan.stats!.statsAxis).toBe(1);
        expect(viaPlan.stats!.perChannelSqnrDb).toEqual(direct.stats!.perChannelSqnrDb);
      }
    }
  });

  it('blocks and their statistics in one pass: the JavaScript blocks, and the reference statistics to the bit', () => {
    const next = rng(RUN_SEED + 2);
    const kinds = [
      { type: 'Q8_0', quantize: quantizeRowQ8_0, dequantize: dequantizeRowQ8_0 },
      { type: 'Q4_0', quantize: quantizeRowQ4_0, dequantize: dequantizeRowQ4_0 },
    ] as const;
    // One piece; rows that straddle the 32768-element pieces; a 1-D tensor of several pieces; a random 2-D one.
    const shapes = [[3, 96], [40, 2080], [65568], [1 + Math.floor(next() * 60), 32 * (1 + Math.floor(next() * 100))]];
    for (const { type, quantize, dequantize } of kinds) {
      for (const shape of shapes) {
        const size = shape.reduce((a, b) => a * b, 1);
        const data = normalData(size, next);
        data[Math.floor(next() * size)] = 0; // a zero, and a block of zeros (d = 0)
        data.fill(0, 32, 64);
        const raw = new Uint8Array(data.buffer);
        const { bytes, stats } = encodeGgufTensor({ name: 'w', dtype: 'float32', shape, type, ne: [...shape].reverse(), transposed: false }, raw);
        const label = `${type} [${shape.join(', ')}]`;
        expect(Buffer.compare(bytes, quantize(data)), label).toBe(0);
        const expected = errorStats({ data, shape }, { data: dequantize(bytes, size), shape }, shape.length >= 2 ? { axis: 0 } : {});
        expect(Object.is(stats!.sqnrDb, expected.overall.sqnrDb) && Object.is(stats!.mse, expected.overall.mse), label).toBe(true);
        expect(stats!.maxAbsError, label).toBe(expected.overall.maxAbsError);
        expect(stats!.perChannelSqnrDb, label).toEqual(expected.perChannel?.sqnrDb);
        expect(stats!.statsAxis, label).toBe(shape.length >= 2 ? 0 : undefined);
        expect(stats!.sqnrDb, label).toBeGreaterThan(type === 'Q8_0' ? 30 : 10);
      }
    }
  });

  it('a NaN in the rows fails with the statistics\' error, naming its index', () => {
    const data = normalData(40 * 2080, rng(RUN_SEED + 3));
    data[70001] = NaN;
    for (const type of ['Q8_0', 'Q4_0'] as const) {
      const call = () => encodeGgufTensor({ name: 'w', dtype: 'float32', shape: [40, 2080], type, ne: [2080, 40], transposed: false }, new Uint8Array(data.buffer));
      expect(call).toThrow(InvalidArgumentError);
      expect(call).toThrow('original.data[70001] is NaN');
    }
  });

  it('rows given a block at a time: the bytes and statistics of the whole tensor, to the bit', () => {
    const next = rng(RUN_SEED + 4);
    // Blocks of one row, of rows that straddle the 32768-element pieces, uneven random ones, and the whole.
    for (const [n, k] of [[7, 96], [40, 2080], [1 + Math.floor(next() * 90), 32 * (1 + Math.floor(next() * 200))]] as const) {
      const data = normalData(n * k, next);
      for (let i = 0; i < data.length; i++) data[i] = data[i]! * (0.01 + (Math.floor(i / k) % 5)); // rows of uneven ranges
      data.fill(0, 0, 32); // a block of zeros (d = 0)
      for (const type of ['Q8_0', 'Q4_0'] as const) {
        const plan = { name: 'w', dtype: 'float32', shape: [n, k], type, ne: [k, n], transposed: false } as const;
        const whole = encodeGgufTensor(plan, new Uint8Array(data.buffer));
        const splits = [Array(n).fill(1), [Math.min(n, 17), n - Math.min(n, 17)], [n]];
        const random: number[] = [];
        for (let left = n; left > 0;) left -= random[random.length] = Math.min(left, 1 + Math.floor(next() * 12));
        for (const split of [...splits, random]) {
          const encoder = ggufRowBlockEncoder(plan)!;
          let row = 0;
          for (const count of split.filter((c) => c > 0)) {
            encoder.add(data.slice(row * k, (row + count) * k)); // a buffer of its own, as a block read from a file
            row += count;
          }
          const label = `${type} [${n}, ${k}] in ${split.length} blocks`;
          const { bytes, stats } = encoder.finish();
          expect(Buffer.compare(bytes, whole.bytes), label).toBe(0);
          expect(stats, label).toEqual(whole.stats);
        }
      }
    }
    const plan = { name: 'w', dtype: 'float32', shape: [4, 64], type: 'Q8_0', ne: [64, 4], transposed: false } as const;
    expect(ggufRowBlockEncoder({ ...plan, transposed: true, ne: [4, 64] })).toBeUndefined();
    expect(ggufRowBlockEncoder({ ...plan, type: 'F16' })).toBeUndefined();
    const encoder = ggufRowBlockEncoder(plan)!;
    expect(() => encoder.add(new Float32Array(65))).toThrow(InvalidArgumentError); // not whole rows
    encoder.add(new Float32Array(128));
    expect(() => encoder.finish()).toThrow(/2 of 4 rows were given/);
  });
});
