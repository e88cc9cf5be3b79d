// GGUF Q8_0 and Q4_0 blocks from the WebAssembly kernels (io/gguf/ggml-blocks-simd.ts) against the JavaScript ones
// (ggml's reference rounding, which gguf-ggml-fixture.test.ts checks against llama.cpp's own output): the same
// bytes and the same values back, on fresh random rows with ties at k + 0.5 of the block's step, all-zero blocks,
// ±0, tiny blocks whose scale is a float16 subnormal, large ones near float16's limit, blocks whose largest
// magnitude appears twice with both signs, and rows that cross the kernels' pieces; and the scales' float16
// rounding in WebAssembly against floatToHalfBits on every float16 value, its neighbours' midpoints and random bits;
// and stored blocks of random bytes (any float16 scale: subnormal, Infinity, NaN) read back as the JavaScript reads them.
import { describe, expect, it } from 'vitest';
import { dequantizeRowQ4_0, dequantizeRowQ8_0, quantizeRowQ4_0, quantizeRowQ8_0 } from '../../src/io/gguf/ggml-blocks.js';
import { cpuBlockValues, cpuQ4_0, cpuQ8_0 } from '../../src/io/gguf/ggml-blocks-simd.js';
import { halfToFloat } from '../../src/io/float-convert.js';
import { floatToHalfBits } from '../../src/io/half.js';
import { simdKernels } from '../../src/kernels/cpu/simd-module.js';
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

/**
 * Rows of 1 to 3000 random blocks (the kernels' pieces hold 1024) through the WebAssembly kernels and the
 * JavaScript reference: the same bytes, with the untouched bytes' 0xee gone, and the same values back.
 */
function expectSameAsJavaScript(
  fill: (out: Float32Array, at: number) => void,
  simd: (row: Float32Array, out: Uint8Array) => Float32Array | undefined,
  quantize: (row: Float32Array) => Uint8Array,
  dequantize: (bytes: Uint8Array, count: number) => Float32Array,
): void {
  for (const blocks of [1, 2, 7, 1023, 1024, 1025, 3000]) {
    const data = new Float32Array(32 * blocks);
    for (let b = 0; b < blocks; b++) fill(data, 32 * b);
    const expected = quantize(data);
    const bytes = new Uint8Array(expected.length).fill(0xee);
    const values = simd(data, bytes)!;
    expectExact(bytes, expected, `bytes of ${blocks} blocks`);
    expectBits(values, dequantize(expected, data.length), `values of ${blocks} blocks`);
  }
}

describe(`WebAssembly Q8_0 blocks (seed ${RUN_SEED})`, () => {
  it('writes the bytes quantizeRowQ8_0 writes and gives back the values dequantizeRowQ8_0 gives', () => {
    expectSameAsJavaScript(block, cpuQ8_0, quantizeRowQ8_0, dequantizeRowQ8_0);
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

/** One Q4_0 block of a random kind: the step is max / 8, and the sign of the first element of largest magnitude matters. */
function block4(out: Float32Array, at: number): void {
  const kind = Math.floor(next() * 7);
  const magnitude = [1, 1e-6, 2 ** -17, 2.5e5, 1, 1, 1][kind]!;
  const step = magnitude / 8;
  for (let j = 0; j < 32; j++) {
    const r = next();
    out[at + j] = kind === 4 ? (r < 0.5 ? 0 : -0)
      : kind === 5 ? Math.fround((Math.floor(r * 16) - 8 + 0.5) * step) // halfway between two levels once scaled
      : Math.fround((r * 2 - 1) * magnitude);
  }
  if (kind === 4) return;
  const first = Math.floor(next() * 32);
  out[at + first] = next() < 0.5 ? magnitude : -magnitude;
  if (kind === 6) out[at + Math.floor(next() * 32)] = -out[at + first]!; // the same magnitude, the other sign
}

describe(`WebAssembly Q4_0 blocks (seed ${RUN_SEED})`, () => {
  it('writes the bytes quantizeRowQ4_0 writes and gives back the values dequantizeRowQ4_0 gives', () => {
    expectSameAsJavaScript(block4, cpuQ4_0, quantizeRowQ4_0, dequantizeRowQ4_0);
  });

  it('takes the sign of the first element of largest magnitude, and +0 for a block of zeros', () => {
    const data = new Float32Array(96);
    data[5] = 4; // then -4 at 20: d = 4 / -8 = -0.5
    data[20] = -4;
    data[32 + 3] = -4; // then 4 at 9: d = 0.5
    data[32 + 9] = 4;
    data.fill(-0, 64); // d = +0 / -8 = -0 (float16 0x8000), every nibble 8
    const bytes = new Uint8Array(54);
    const values = cpuQ4_0(data, bytes)!;
    expectExact(bytes, quantizeRowQ4_0(data), 'bytes');
    const view = new DataView(bytes.buffer);
    expect([view.getUint16(0, true), view.getUint16(18, true), view.getUint16(36, true)]).toEqual([0xb800, 0x3800, 0x8000]);
    expect([values[5], values[20], values[35], values[41]]).toEqual([4, -3.5, -4, 3.5]); // the other sign clamps to level 15
    expect([...bytes.subarray(38, 54)].every((b) => b === 0x88)).toBe(true);
  });

  it('clamps the level one past the largest to 15, as ggml does', () => {
    // max = -8 at 0 gives d = 1, id = 1: 7.6 + 8.5 truncates to 16, stored as 15 (value 7).
    const data = new Float32Array(32);
    data[0] = -8;
    data[1] = 7.6;
    data[17] = 7.4;
    const bytes = new Uint8Array(18);
    const values = cpuQ4_0(data, bytes)!;
    expectExact(bytes, quantizeRowQ4_0(data), 'bytes');
    expect([values[0], values[1], values[17]]).toEqual([-8, 7, 7]);
    expect(bytes[3]).toBe(0x0f | (0x0f << 4));
  });
});

describe('the blocks\' float16 scales (halfScales)', () => {
  /** Every float32 given, through halfScales and through floatToHalfBits / halfToFloat: the same bits both ways. */
  function expectSameRounding(bits: Uint32Array): void {
    const kernels = simdKernels()!;
    const count = bits.length;
    const [dst, scales] = kernels.reserve([2 * count, 4 * count])!;
    new Uint32Array(kernels.memory.buffer, scales, count).set(bits);
    kernels.halfScales(dst!, scales!, count, 2);
    const halves = new Uint16Array(kernels.memory.buffer, dst, count).slice();
    const back = new Uint32Array(kernels.memory.buffer, scales, count).slice();
    const value = new Float32Array(bits.buffer, bits.byteOffset, count);
    const stored = new Float32Array(1);
    const storedBits = new Uint32Array(stored.buffer);
    let mismatches = 0;
    for (let i = 0; i < count; i++) {
      const half = floatToHalfBits(value[i]!);
      stored[0] = halfToFloat(half);
      // NaN's payload is not compared through halfToFloat: the half's bits are.
      if (halves[i] !== half || (!Number.isNaN(stored[0]) && back[i] !== storedBits[0])) {
        if (mismatches++ < 5) expect([bits[i]!.toString(16), halves[i]!.toString(16), back[i]!.toString(16)]).toEqual([bits[i]!.toString(16), half.toString(16), storedBits[0]!.toString(16)]);
      }
    }
    expect(mismatches).toBe(0);
  }

  it('rounds every float16 value, the midpoints between neighbours and one ulp either side as floatToHalfBits does', () => {
    const candidates: number[] = [];
    const f = new Float32Array(1);
    const b = new Uint32Array(f.buffer);
    for (let h = 0; h < 0x7c00; h++) {
      for (const sign of [0, 0x8000]) {
        f[0] = halfToFloat(h | sign);
        const at = b[0]!;
        f[0] = (halfToFloat(h | sign) + halfToFloat((h + 1) | sign)) / 2; // the tie (exact in float32)
        const tie = b[0]!;
        candidates.push(at, at + 1, at - 1, tie, tie + 1, tie - 1);
      }
    }
    // infinities, NaNs, float32 subnormals, the float16 overflow threshold 65520 and the underflow one 2^-25
    for (const x of [Infinity, -Infinity, NaN, 1e-45, -1e-45, 1e-40, 65519.996, 65520, 65536, 1e10, 2 ** -25, 2 ** -26, -(2 ** -25)]) {
      f[0] = x;
      candidates.push(b[0]!, b[0]! + 1, b[0]! - 1);
    }
    expectSameRounding(Uint32Array.from(candidates, (x) => x >>> 0));
  });

  it('rounds fresh random float32 bit patterns as floatToHalfBits does', () => {
    expectSameRounding(Uint32Array.from({ length: 1 << 20 }, () => Math.floor(next() * 2 ** 32) >>> 0));
  });
});

describe(`WebAssembly values of stored Q8_0 and Q4_0 blocks (seed ${RUN_SEED})`, () => {
  for (const [type, blockBytes, dequantize] of [['Q8_0', 34, dequantizeRowQ8_0], ['Q4_0', 18, dequantizeRowQ4_0]] as const) {
    it(`${type}: random bytes, from an offset, across the kernels' pieces: the values ${dequantize.name} gives`, () => {
      for (const blocks of [1, 2, 1023, 1024, 1025, 3000]) {
        const offset = Math.floor(next() * 5);
        const bytes = Uint8Array.from({ length: offset + blocks * blockBytes + 3 }, () => Math.floor(next() * 256));
        // A few scales set apart: ±0, a subnormal, ±Infinity and a NaN (float16 bits, little-endian).
        [0x0000, 0x8000, 0x0001, 0x7c00, 0xfc00, 0x7e01].forEach((bits, k) => {
          if (k < blocks) bytes.set([bits & 0xff, bits >> 8], offset + k * blockBytes);
        });
        const count = 32 * blocks;
        const expected = dequantize(bytes.subarray(offset), count);
        expectBits(cpuBlockValues(type, bytes, count, offset)!, expected, `${blocks} blocks from byte ${offset}`);
        const into = new Float32Array(count).fill(7);
        expect(cpuBlockValues(type, bytes, count, offset, into)).toBe(into); // written in place
        expectBits(into, expected, `${blocks} blocks from byte ${offset}, into an array`);
        expect(cpuBlockValues(type, bytes, count, offset, new Float32Array(count + 1))).toHaveLength(count); // the wrong size: a new one
      }
    });
  }

  it('leaves what it cannot read to the JavaScript versions: no elements, a partial block, too few bytes', () => {
    const bytes = new Uint8Array(34 * 2);
    expect(cpuBlockValues('Q8_0', bytes, 0)).toBeUndefined();
    expect(cpuBlockValues('Q8_0', bytes, 48)).toBeUndefined();
    expect(cpuBlockValues('Q8_0', bytes, 96)).toBeUndefined(); // three blocks need 102 bytes
    expect(cpuBlockValues('Q8_0', bytes, 64, 1)).toBeUndefined(); // two blocks from byte 1 need 69
    expect(cpuBlockValues('Q8_0', bytes, 64)).toHaveLength(64);
  });
});
