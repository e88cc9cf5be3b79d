// checkChannelParams: typed arrays are copied in bulk and checked from the copy, plain arrays value by value;
// both give the same float64 scales and int32 zero points, and a bad value is reported with its index either way.
import { describe, expect, it } from 'vitest';
import { dtypeInfo } from '../../src/dtype.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { checkChannelParams } from '../../src/validate.js';
import { RUN_SEED, expectExact, rng } from './support.js';

function caught(action: () => unknown): InvalidArgumentError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    return error as InvalidArgumentError;
  }
  throw new Error('expected an InvalidArgumentError');
}

describe('checkChannelParams', () => {
  it('gives the same copies for typed arrays of every kind and for plain arrays', () => {
    const next = rng(RUN_SEED + 21);
    const n = 1001;
    const scales = Array.from({ length: n }, () => Math.fround(10 ** (next() * 8 - 4)));
    const zeroPoints = Array.from({ length: n }, () => Math.floor(next() * 16));
    const info = dtypeInfo('quint8');
    const plain = checkChannelParams(scales, zeroPoints, n, info);
    for (const s of [Float64Array.from(scales), Float32Array.from(scales)]) {
      for (const z of [Int32Array, Int16Array, Int8Array, Uint16Array, Uint8Array, Uint8ClampedArray, Float64Array].map((T) => T.from(zeroPoints))) {
        const typed = checkChannelParams(s, z, n, info);
        expectExact(typed.scales, plain.scales, `${s.constructor.name} scales, seed ${RUN_SEED + 21}`);
        expectExact(typed.zeroPoints, plain.zeroPoints, `${z.constructor.name} zero points, seed ${RUN_SEED + 21}`);
        expect(typed.scales).not.toBe(s);
      }
    }
  });

  it('names the first bad value of a typed array by index, as for a plain array', () => {
    const info = dtypeInfo('qint8');
    const scales = new Float64Array(8).fill(0.5);
    scales[5] = Number.NaN;
    expect(caught(() => checkChannelParams(scales, new Int32Array(8), 8, info)).argument).toBe('scales[5]');
    expect(caught(() => checkChannelParams(Float32Array.of(0.5, 0, 0.5), new Int8Array(3), 3, info)).argument).toBe('scales[1]');
    expect(caught(() => checkChannelParams(new Float64Array(3).fill(1), Int32Array.of(0, 0, 128), 3, info)).argument).toBe('zeroPoints[2]');
    expect(caught(() => checkChannelParams(new Float64Array(2).fill(1), Uint8Array.of(0, 200), 2, info)).argument).toBe('zeroPoints[1]');
    expect(caught(() => checkChannelParams(new Float64Array(2).fill(1), Float64Array.of(0, 1.5), 2, info)).argument).toBe('zeroPoints[1]');
  });
});
