// mergeGroupRanges: small groups' ranges merged into larger groups' are the min/max kernel's ranges of the larger
// groups to the bit (signed zeros, a short last group, groups along the first, a middle and the last axis), on fresh
// random values, by the kernel over the ranges (cpuMergeRanges) and by the loop where that does not apply (a NaN
// among the ranges: NaN stays, as Math.min / Math.max keep it). cpuMergeRanges declines into arrays of other lengths.
import { describe, expect, it } from 'vitest';
import { reductionLayout } from '../../src/calibration/granularity.js';
import { groupLayoutOf, mergeGroupRanges } from '../../src/compress/group-ranges.js';
import { cpuMergeRanges, cpuMinMax } from '../../src/kernels/cpu/cpu-minmax.js';
import { RUN_SEED, rng } from './support.js';

const next = rng(RUN_SEED + 31);
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length), (b) => b.toString(16));

/** Random values with signed zeros: whole groups of zeros of either sign, and zeros among other values. */
function values(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => {
    const r = next();
    if (Math.floor(i / 7) % 11 === 3) return next() < 0.5 ? 0 : -0;
    return r < 0.05 ? -0 : r < 0.1 ? 0 : (next() * 2 - 1) * (1 + 100 * next() ** 4);
  });
}

describe(`mergeGroupRanges (seed ${RUN_SEED})`, () => {
  it('gives the kernel\'s ranges of the larger groups, to the bit, on every axis and with a short last group', () => {
    const cases: [number[], number, number, number][] = [
      [[250, 96], 0, 8, 2], [[250, 96], 0, 8, 4], [[250, 96], 0, 8, 16], [[96, 250], 1, 8, 4], [[6, 100, 5], 1, 4, 3], [[1000, 1], 0, 32, 2],
    ];
    for (const [shape, axis, small, merge] of cases) {
      const x = values(shape.reduce((a, b) => a * b, 1));
      const found = cpuMinMax(x, reductionLayout(shape, { axis, groupSize: small }));
      const groupShape = [...shape];
      groupShape[axis] = Math.ceil(shape[axis]! / small);
      const want = cpuMinMax(x, reductionLayout(shape, { axis, groupSize: small * merge }));
      const into = { mins: new Float32Array(want.mins.length + 5).fill(7), maxs: new Float32Array(want.maxs.length + 5).fill(7) };
      mergeGroupRanges(found.mins, found.maxs, groupLayoutOf(groupShape, axis), merge, into);
      const what = `${JSON.stringify(shape)} axis ${axis}, ${small} × ${merge}`;
      expect(bits(into.mins.subarray(0, want.mins.length)), what).toEqual(bits(want.mins));
      expect(bits(into.maxs.subarray(0, want.maxs.length)), what).toEqual(bits(want.maxs));
      expect(Array.from(into.mins.subarray(want.mins.length)), `${what}: nothing past the merged ranges`).toEqual([7, 7, 7, 7, 7]);
    }
  });

  it('a NaN among the ranges stays NaN, the other groups merged as before', () => {
    const mins = Float32Array.of(-1, -3, NaN, -2, 0, -0);
    const maxs = Float32Array.of(1, 2, 4, NaN, -0, 0);
    const into = { mins: new Float32Array(3), maxs: new Float32Array(3) };
    mergeGroupRanges(mins, maxs, { outer: 1, groups: 6, inner: 1 }, 2, into);
    expect(Array.from(into.mins)).toEqual([-3, NaN, -0]);
    expect(Array.from(into.maxs)).toEqual([2, NaN, 0]);
    expect(Object.is(into.maxs[2], 0)).toBe(true); // +0 above -0
    expect(cpuMergeRanges(mins, maxs, reductionLayout([6], { axis: 0, groupSize: 2 }), { mins: new Float32Array(3), maxs: new Float32Array(3) })).toBe(false);
  });

  it('cpuMergeRanges takes into arrays of the outputs\' length only', () => {
    const layout = reductionLayout([4], { axis: 0, groupSize: 2 });
    const mins = Float32Array.of(-1, -3, 0, -2);
    const maxs = Float32Array.of(1, 2, 4, 3);
    expect(cpuMergeRanges(mins, maxs, layout, { mins: new Float32Array(3), maxs: new Float32Array(2) })).toBe(false);
    const into = { mins: new Float32Array(2), maxs: new Float32Array(2) };
    expect(cpuMergeRanges(mins, maxs, layout, into)).toBe(true);
    expect([Array.from(into.mins), Array.from(into.maxs)]).toEqual([[-3, -2], [2, 4]]);
  });
});
