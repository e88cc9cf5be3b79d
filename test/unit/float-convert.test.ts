// toFloat32Into: float16, bfloat16, float32 and float64 bytes converted into a given array (a block of a weight,
// memory used again from block to block) give toFloat32's values bit for bit, every 16-bit pattern included
// (±Infinity, subnormals, -0; a NaN stays a NaN, its payload as the engine keeps it); a target of another length or bytes that are not whole elements are
// FormatErrors naming the tensor.
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { toFloat32, toFloat32Into } from '../../src/io/float-convert.js';
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

  it('refuses a target of another length, and bytes that are not whole elements', () => {
    expect(() => toFloat32Into(new Uint8Array(8), 'float16', new Float32Array(3), 'fc.weight')).toThrow(FormatError);
    expect(() => toFloat32Into(new Uint8Array(8), 'float16', new Float32Array(3), 'fc.weight')).toThrow(/fc\.weight: 4 float16 elements for room of 3/);
    expect(() => toFloat32Into(new Uint8Array(7), 'bfloat16', undefined, 'fc.weight')).toThrow(/7 bytes is not a whole number of bfloat16 elements/);
  });
});
