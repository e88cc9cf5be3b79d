// toFloat32Into: float16, bfloat16, float32 and float64 bytes converted into a given array (a block of a weight,
// memory used again from block to block) give toFloat32's values bit for bit, every 16-bit pattern included
// (±Infinity, subnormals, -0; a NaN stays a NaN, its payload as the engine keeps it); a target of another length or bytes that are not whole elements are
// FormatErrors naming the tensor.
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { halfTable, halfToFloat, toFloat32, toFloat32Into } from '../../src/io/float-convert.js';
import { RUN_SEED, rng } from './support.js';

const bitsOf = (a: Float32Array): number[] => [...new Uint32Array(a.buffer, a.byteOffset, a.length)];
/** The bits of each value, NaN for any NaN (JavaScript engines may quiet a signalling NaN as they copy it). */
const valuesOf = (a: Float32Array): number[] => bitsOf(a).map((b, i) => (Number.isNaN(a[i]) ? NaN : b));

describe('toFloat32Into', () => {
  it('gives toFloat32\'s bits, into the array given (a view of a larger buffer too)', () => {
    const every16 = new Uint8Array(Uint16Array.from({ length: 65536 }, (_, i) => i).buffer);
    const next = rng(RUN_SEED);
    const random32 = new Uint8Array(Uint32Array.from({ length: 4096 }, () => Math.floor(next() * 2 ** 32)).buffer);
    const random64 = new Uint8Array(Float64Array.from({ length: 512 }, () => (next() - 0.5) * 10 ** Math.floor(next() * 80 - 40)).buffer);
    for (const [dtype, bytes] of [['float16', every16], ['bfloat16', every16], ['float32', random32], ['float64', random64]] as const) {
      const size = dtype === 'float64' ? 8 : dtype === 'float32' ? 4 : 2;
      const count = bytes.byteLength / size;
      const backing = new Float32Array(count + 8).fill(7);
      const into = backing.subarray(3, 3 + count);
      expect(toFloat32Into(bytes, dtype, into, 'w')).toBe(into);
      expect(valuesOf(into), dtype).toEqual(valuesOf(toFloat32(bytes, dtype)));
      expect([...backing.subarray(0, 3), ...backing.subarray(3 + count)], 'nothing outside it').toEqual(Array(8).fill(7));
    }
    expect(bitsOf(toFloat32Into(Uint8Array.of(0x00, 0x3c, 0x00, 0xc0), 'float16'))).toEqual(bitsOf(Float32Array.of(1, -2)));
  });

  it('converts every float16 and bfloat16 pattern exactly, from bytes at an even and at an odd offset', () => {
    // The oracle: halfToFloat's arithmetic for float16, the bits shifted up for bfloat16, element by element.
    const next = rng(RUN_SEED + 1);
    const patterns = Uint16Array.from({ length: 65536 + 999 }, (_, i) => (i < 65536 ? i : Math.floor(next() * 65536)));
    const expected16 = Float32Array.from(patterns, halfToFloat);
    const expectedB16 = new Float32Array(new Uint32Array(Array.from(patterns, (h) => h * 65536)).buffer);
    for (const shift of [0, 1, 2, 3]) {
      const backing = new Uint8Array(2 * patterns.length + shift);
      backing.set(new Uint8Array(patterns.buffer), shift);
      const bytes = backing.subarray(shift);
      expect(valuesOf(toFloat32Into(bytes, 'float16')), `float16 at offset ${shift}`).toEqual(valuesOf(expected16));
      expect(valuesOf(toFloat32Into(bytes, 'bfloat16')), `bfloat16 at offset ${shift}`).toEqual(valuesOf(expectedB16));
    }
    expect(bitsOf(toFloat32Into(Uint8Array.of(0x00, 0x80, 0x01, 0x00, 0xff, 0x7b), 'float16'))).toEqual(bitsOf(Float32Array.of(-0, 2 ** -24, 65504)));
    expect(Number.isNaN(toFloat32Into(Uint8Array.of(0x01, 0x7c), 'float16')[0])).toBe(true);
    expect([halfTable()[0x3c00], halfTable()[0xfc00], halfTable().length]).toEqual([1, -Infinity, 65536]);
  });

  it('refuses a target of another length, and bytes that are not whole elements', () => {
    expect(() => toFloat32Into(new Uint8Array(8), 'float16', new Float32Array(3), 'fc.weight')).toThrow(FormatError);
    expect(() => toFloat32Into(new Uint8Array(8), 'float16', new Float32Array(3), 'fc.weight')).toThrow(/fc\.weight: 4 float16 elements for room of 3/);
    expect(() => toFloat32Into(new Uint8Array(7), 'bfloat16', undefined, 'fc.weight')).toThrow(/7 bytes is not a whole number of bfloat16 elements/);
  });
});
