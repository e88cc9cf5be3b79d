// Host-side sizing and indexing: dispatch grids, buffer buckets, the [outer, channels, inner] view, chunk
// starts and the per-channel parameter table.
import { describe, expect, it } from 'vitest';
import { LimitExceededError } from '../../src/index.js';
import { bucketSize } from '../../src/gpu/buffer-pool.js';
import { dispatchSize } from '../../src/gpu/dispatch.js';
import { paramTable } from '../../src/kernels/elementwise/scheme-params.js';
import { channelLayout, paramLayout } from '../../src/layout.js';
import { expectExact } from './support.js';

describe('dispatchSize', () => {
  it('stays 1-D under the limit', () => {
    expect(dispatchSize(1000, 256, 65535)).toEqual({ x: 4, y: 1, threadCount: 1024 });
    expect(dispatchSize(1, 64, 65535)).toEqual({ x: 1, y: 1, threadCount: 64 });
  });

  it('launches one workgroup for zero threads', () => {
    expect(dispatchSize(0, 256, 65535)).toEqual({ x: 1, y: 1, threadCount: 256 });
  });

  it('uses exactly threads / workgroupSize groups for an exact multiple', () => {
    expect(dispatchSize(1024, 256, 65535)).toEqual({ x: 4, y: 1, threadCount: 1024 });
    expect(dispatchSize(65535 * 256, 256, 65535)).toEqual({ x: 65535, y: 1, threadCount: 65535 * 256 });
  });

  it('folds into 2-D past 65535 workgroups', () => {
    expect(dispatchSize(65536 * 256, 256, 65535)).toEqual({ x: 65535, y: 2, threadCount: 65535 * 2 * 256 });
    expect(dispatchSize(100_000_000, 256, 65535)).toEqual({ x: 65535, y: 6, threadCount: 100_661_760 });
  });

  it('folds with a small limit (3)', () => {
    expect(dispatchSize(3 * 8, 8, 3)).toEqual({ x: 3, y: 1, threadCount: 24 });
    expect(dispatchSize(3 * 8 + 1, 8, 3)).toEqual({ x: 3, y: 2, threadCount: 48 });
    expect(dispatchSize(9 * 8, 8, 3)).toEqual({ x: 3, y: 3, threadCount: 72 });
  });

  it('covers every thread with x, y within the limit and less than one row of waste', () => {
    // Limits whose limit^2 * wg stays inside 32 bits, so only the grid limit matters here.
    for (const limit of [1, 2, 3, 7, 1000]) {
      for (const wg of [1, 4, 64, 256]) {
        for (const threads of [0, 1, wg - 1, wg, wg + 1, 3 * wg, limit * wg, limit * wg + 1, (limit * limit - 1) * wg + 1,
          limit * limit * wg, limit * limit * wg + 1]) {
          if (Math.ceil(threads / wg) > limit * limit) {
            expect(() => dispatchSize(threads, wg, limit), `threads ${threads}, wg ${wg}, limit ${limit}`).toThrow(LimitExceededError);
            continue;
          }
          const { x, y, threadCount } = dispatchSize(threads, wg, limit);
          const what = `threads ${threads}, wg ${wg}, limit ${limit}`;
          expect(Number.isInteger(x) && Number.isInteger(y), what).toBe(true);
          expect(x >= 1 && x <= limit && y >= 1 && y <= limit, `${what}: x ${x}, y ${y}`).toBe(true);
          expect(threadCount, what).toBe(x * y * wg);
          expect(threadCount, what).toBeGreaterThanOrEqual(threads);
          expect((x * (y - 1)) * wg, `${what}: a whole row of workgroups is idle`).toBeLessThan(Math.max(threads, 1));
        }
      }
    }
  });

  it('throws LimitExceededError past limit^2 workgroups', () => {
    expect(() => dispatchSize(9 * 8 + 1, 8, 3)).toThrow(LimitExceededError);
    expect(() => dispatchSize(65535 * 65535 * 256 + 1, 256, 65535)).toThrow(LimitExceededError);
    expect(() => dispatchSize(65536 * 65536, 1, 65535)).toThrow(/smaller chunks/);
  });

  it('throws LimitExceededError when the invocation count passes 2^32 - 1', () => {
    // 65535^2 groups fit the grid, but 65535^2 * 256 invocations do not fit a u32 index.
    expect(() => dispatchSize(65535 * 65535 * 256, 256, 65535)).toThrow(/32-bit/);
  });
});

describe('bucketSize', () => {
  const max = 2 ** 30;
  it('rounds up to a power of two, at least 256', () => {
    expect([0, 1, 4, 255, 256].map((n) => bucketSize(n, max))).toEqual([256, 256, 256, 256, 256]);
    expect([257, 511, 512, 513, 1000, 4096, 4097].map((n) => bucketSize(n, max))).toEqual([512, 512, 512, 1024, 1024, 4096, 8192]);
    expect(bucketSize(max, max)).toBe(max);
    for (let n = 0; n < 70000; n += 37) {
      const bucket = bucketSize(n, max);
      expect(bucket >= n && bucket >= 256 && bucket % 4 === 0 && Number.isInteger(Math.log2(bucket)), `size ${n} -> ${bucket}`).toBe(true);
      expect(bucket === 256 || bucket / 2 < n, `size ${n} -> ${bucket} is not the smallest power`).toBe(true);
    }
  });

  it('past maxBufferSize returns the size itself, rounded up to a multiple of 4', () => {
    expect(bucketSize(1000, 1000)).toBe(1000);
    expect(bucketSize(600, 1000)).toBe(600); // 1024 would exceed the limit
    expect(bucketSize(601, 1000)).toBe(604);
    expect(bucketSize(max + 4, max)).toBe(max + 4);
    expect(bucketSize(max + 1, max)).toBe(max + 4);
  });
});

describe('channelLayout', () => {
  it('splits [2, 3, 4, 5] around every axis', () => {
    const shape = [2, 3, 4, 5];
    expect([0, 1, 2, 3].map((axis) => channelLayout(shape, axis))).toEqual([
      { outer: 1, channels: 2, inner: 60 },
      { outer: 2, channels: 3, inner: 20 },
      { outer: 6, channels: 4, inner: 5 },
      { outer: 24, channels: 5, inner: 1 },
    ]);
  });

  it('agrees with row-major indexing: element i is in channel floor(i / inner) % channels', () => {
    const shape = [2, 3, 4, 5];
    for (let axis = 0; axis < 4; axis++) {
      const { outer, channels, inner } = channelLayout(shape, axis);
      expect(outer * channels * inner).toBe(120);
      let i = 0;
      for (const a of [0, 1]) for (const b of [0, 1, 2]) for (const c of [0, 1, 2, 3]) for (const d of [0, 1, 2, 3, 4]) {
        expect(Math.floor(i / inner) % channels, `axis ${axis}, element ${i}`).toBe([a, b, c, d][axis]);
        i++;
      }
    }
  });

  it('handles rank 1 and zero-size dimensions', () => {
    expect(channelLayout([7], 0)).toEqual({ outer: 1, channels: 7, inner: 1 });
    expect(channelLayout([3, 0, 2], 2)).toEqual({ outer: 0, channels: 2, inner: 1 });
    expect(channelLayout([3, 0, 2], 1)).toEqual({ outer: 3, channels: 0, inner: 2 });
  });
});

describe('paramLayout', () => {
  it('per channel: the row is the position along the axis, for every axis of [2, 3, 4, 5]', () => {
    for (let axis = 0; axis < 4; axis++) {
      const layout = paramLayout([2, 3, 4, 5], { axis });
      const { channels, inner } = channelLayout([2, 3, 4, 5], axis);
      expect(layout).toMatchObject({ channels, inner, groupSize: 1, groups: channels, strideOuter: 0, strideGroup: 1, strideInner: 0 });
    }
  });

  it('per group: ONNX block layout, ragged last group', () => {
    expect(paramLayout([4, 10], { axis: 1, groupSize: 4 })).toEqual(
      { outer: 4, channels: 10, inner: 1, groupSize: 4, groups: 3, strideOuter: 3, strideGroup: 1, strideInner: 1 });
    expect(paramLayout([10, 4], { axis: 0, groupSize: 3 })).toEqual(
      { outer: 1, channels: 10, inner: 4, groupSize: 3, groups: 4, strideOuter: 16, strideGroup: 4, strideInner: 1 });
  });

  it('per group: the row of element (o, a, k) is its index in the [outer, groups, inner] parameter tensor', () => {
    const shape = [2, 7, 3];
    const layout = paramLayout(shape, { axis: 1, groupSize: 3 });
    for (let o = 0; o < 2; o++) for (let a = 0; a < 7; a++) for (let k = 0; k < 3; k++) {
      const row = o * layout.strideOuter + Math.floor(a / 3) * layout.strideGroup + k * layout.strideInner;
      expect(row).toBe((o * 3 + Math.floor(a / 3)) * 3 + k);
    }
  });

  it('per tensor: every stride is 0', () => {
    expect(paramLayout([3, 4], undefined)).toMatchObject({ strideOuter: 0, strideGroup: 0, strideInner: 0, groups: 1 });
  });
});

describe('paramTable', () => {
  it('holds inv scale, fround(zero point) and fround(scale) in blocks of four rows, structure of arrays', () => {
    const scales = Float64Array.of(0.5, 0.1, 1 / 3, 1 / 30, 0.00214854861, 1e-30, 1e30);
    const zeroPoints = Int32Array.of(3, -128, 255, 16777217, -2147483648, 0, 2147483647);
    const table = paramTable(scales, zeroPoints);
    expect(table).toBeInstanceOf(Float32Array);
    expect(table).toHaveLength(24); // two blocks of 3 vec4s
    const expected = new Array(24).fill(0);
    scales.forEach((s, r) => {
      const base = 12 * Math.floor(r / 4) + (r % 4);
      expected[base] = Math.fround(1 / Math.fround(s));
      expected[base + 4] = Math.fround(zeroPoints[r]!);
      expected[base + 8] = Math.fround(s);
    });
    expectExact(table, expected, 'parameter table');
    expectExact(paramTable(Float64Array.of(0.5), Int32Array.of(3)), [2, 0, 0, 0, 3, 0, 0, 0, 0.5, 0, 0, 0], 'documented example');
    // Spot values that differ from the naive float64 ones.
    expect(table[1]).toBe(Math.fround(10)); // fround(1 / fround(0.1)) is exactly 10 in float32
    expect(table[4 + 3]).toBe(16777216); // 16777217 rounds to even in float32
    expect(table[8 + 2]).toBe(Math.fround(1 / 3));
    expect(table[8 + 2]).not.toBe(1 / 3);
  });

  it('is empty for no rows', () => {
    expect(paramTable(new Float64Array(0), new Int32Array(0))).toHaveLength(0);
  });
});

