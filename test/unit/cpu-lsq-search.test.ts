// The CPU path's 'lsq' search (src/kernels/cpu/cpu-lsq-search.ts) chooses what the reference chooses, bit for
// bit (scales, zero points, picks, the winner's error sum, the first candidate's), on fresh random tensors of
// every layout, 8- and 4-bit types, symmetric, affine and with Q4_0's grid, and on the cases where stopping a
// refit early could go wrong: all candidates tied, sums that overflow, subnormal values, NaN elements.
import { describe, expect, it, vi } from 'vitest';
import { type Granularity, reductionLayout } from '../../src/calibration/granularity.js';
import { type QuantRange, qparamsFromMinMax } from '../../src/calibration/qparams.js';
import { lsqClipRatios } from '../../src/calibration/spec.js';
import { dtypeInfo } from '../../src/dtype.js';
import { cpuLsqSearch } from '../../src/kernels/cpu/cpu-lsq-search.js';
import { holdFloat32, simdKernels } from '../../src/kernels/cpu/simd-module.js';
import { lsqSearchOfLayout } from '../../src/reference/lsq-search.js';
import { minMaxOfLayout } from '../../src/reference/minmax.js';
import { RUN_SEED, rng } from '../shared/random.js';

const next = rng(RUN_SEED);
const normal = () => Math.sqrt(-2 * Math.log(next() || 1e-12)) * Math.cos(2 * Math.PI * next());

function rangeOf(dtype: 'qint8' | 'quint8' | 'qint4' | 'quint4'): QuantRange {
  const { qmin, qmax } = dtypeInfo(dtype);
  return { qmin, qmax, symmetricZeroPoint: qmin < 0 ? 0 : Math.floor((qmin + qmax + 1) / 2) };
}

/** Both searches on `data`; expects the same bits in every field. */
function same(data: Float32Array, shape: number[], granularity: Granularity, range: QuantRange, symmetric: boolean, ratios: Float32Array, signedExtreme: boolean): void {
  const layout = reductionLayout(shape, granularity);
  const { mins, maxs } = minMaxOfLayout(data, layout);
  for (let w = 0; w < layout.outputs; w++) if (!(mins[w]! <= maxs[w]!)) [mins[w], maxs[w]] = [0, 0];
  const expected = lsqSearchOfLayout(data, layout, mins, maxs, range, symmetric, ratios, signedExtreme);
  const actual = cpuLsqSearch(data, layout, mins, maxs, range, symmetric, ratios, signedExtreme);
  const where = `${JSON.stringify(granularity)} [${shape.join(', ')}] ${range.qmin}..${range.qmax} ${symmetric ? 'symmetric' : 'affine'}${signedExtreme ? ' grid' : ''}`;
  const bits = (a: ArrayLike<number>) => Array.from(a, (v) => (Object.is(v, -0) ? 'neg0' : Number.isNaN(v) ? 'NaN' : v));
  for (const field of ['scales', 'zeroPoints', 'picks', 'best', 'first'] as const) expect(bits(actual[field]), `${where} ${field}`).toEqual(bits(expected[field]));
  // The same data held in the kernels' memory (a matrix's columns are then read where they lie).
  const slot = holdFloat32(data.length, 4 * data.length + 2 ** 20);
  if (!slot) return;
  try {
    slot.data.set(data);
    const held = cpuLsqSearch(slot.data, layout, mins, maxs, range, symmetric, ratios, signedExtreme);
    for (const field of ['scales', 'zeroPoints', 'picks', 'best', 'first'] as const) expect(bits(held[field]), `${where} ${field}, held`).toEqual(bits(expected[field]));
  } finally {
    slot.release();
  }
}

describe(`cpuLsqSearch against the reference (seed ${RUN_SEED})`, () => {
  it('gives the same parameters and sums on fresh random tensors, every layout, symmetric, affine and Q4_0\'s grid', () => {
    const dtypes = ['qint8', 'quint8', 'qint4', 'quint4'] as const;
    for (let round = 0; round < 40; round++) {
      const rank = 1 + Math.floor(next() * 3);
      const shape = Array.from({ length: rank }, () => 1 + Math.floor(next() * (rank === 1 ? 2000 : rank === 2 ? 60 : 10)));
      const size = shape.reduce((a, b) => a * b, 1);
      const scale = 10 ** (next() * 8 - 6);
      const outliers = next() < 0.5;
      const shift = next() < 0.3 ? scale * 2 : 0; // one-sided ranges for the affine searches
      const data = Float32Array.from({ length: size }, () => normal() * scale * (outliers && next() < 0.01 ? 30 : 1) + shift);
      const axis = Math.floor(next() * rank);
      const kind = next();
      const granularity: Granularity = kind < 0.2 ? 'per_tensor' : kind < 0.5 ? { axis }
        : { axis, groupSize: 1 + Math.floor(next() * Math.min(shape[axis]!, 40)) };
      const symmetric = next() < 0.5;
      same(data, shape, granularity, rangeOf(dtypes[Math.floor(next() * dtypes.length)]!), symmetric,
        lsqClipRatios(1 + Math.floor(next() * 50), 0.3 + next() * 0.5, 1 + next() * 0.5), !symmetric && next() < 0.6);
    }
  });

  it('outputs longer than one copied chunk (65536 elements), each pass going on from the last chunk\'s sums', () => {
    const data = Float32Array.from({ length: 70001 }, () => normal() * 0.02 + (next() < 0.001 ? 0.3 : 0));
    same(data, [70001], 'per_tensor', rangeOf('qint8'), true, lsqClipRatios(12, 0.5, 1.2), false);
    same(data, [70001], 'per_tensor', rangeOf('quint4'), false, lsqClipRatios(10, 0.5, 1.2), true);
  });

  it('channels four at a time: nine columns of 3000 gathered (three lanes to spare)', () => {
    const data = Float32Array.from({ length: 3000 * 9 }, () => normal() * 0.05 + (next() < 0.002 ? 0.4 : 0));
    same(data, [3000, 9], { axis: 1 }, rangeOf('qint8'), true, lsqClipRatios(), false);
    same(data, [3000, 9], { axis: 1 }, rangeOf('quint8'), false, lsqClipRatios(), false);
    same(data, [3000, 9], { axis: 1 }, rangeOf('quint4'), false, lsqClipRatios(), true);
  });

  it('a held matrix\'s columns read where they lie: batches of whole fours, the last columns short of four laid out', () => {
    const kernels = simdKernels()!;
    // 1201 columns of 150: held, batches of 256 columns read in place (the 1200 of whole fours), then one laid out.
    const data = Float32Array.from({ length: 150 * 1201 }, () => normal() * 0.05 + (next() < 0.003 ? 0.3 : 0));
    const calls = vi.spyOn(kernels, 'lsqLanes');
    try {
      same(data, [150, 1201], { axis: 1 }, rangeOf('quint4'), false, lsqClipRatios(20, 0.5, 1.2), true);
      // In place: the held matrix starts at 0, each batch 4 bytes a column on.
      const held = calls.mock.calls.slice(-6).map(([src, n, count]) => [src, n, count]);
      expect(held.slice(0, 5)).toEqual([[0, 150, 256], [1024, 150, 256], [2048, 150, 256], [3072, 150, 256], [4096, 150, 176]]);
      expect(held[5]![0]).toBeGreaterThanOrEqual(4 * data.length); // the last column, laid out above the matrix
      expect(held[5]![2]).toBe(4);
    } finally {
      calls.mockRestore();
    }
  });

  it('beside a held weight that leaves little room: four outputs a call, the same results', () => {
    const kernels = simdKernels()!;
    const data = Float32Array.from({ length: 3000 * 9 }, () => normal() * 0.05);
    // Room for a call of four outputs of 3000 (about 100 KB), not for the nine at once (about 200 KB).
    const room = 150_000;
    const size = kernels.memory.buffer.byteLength;
    const slot = holdFloat32(Math.floor((size - room) / 16) * 4, room)!;
    const calls = vi.spyOn(kernels, 'lsqLanes');
    try {
      same(data, [3000, 9], { axis: 1 }, rangeOf('quint8'), false, lsqClipRatios(), false);
      expect(calls.mock.calls.map((args) => args[2])).toEqual([4, 4, 4]);
    } finally {
      calls.mockRestore();
      slot.release();
    }
  });

  it('an affine refit whose moved zero point wins (rare: these rows were found by a search over random ones)', () => {
    // 2-bit, the ratios 1 and 0.3: in each row below the winner is a refit whose zero point moved off its raw one.
    const range = { qmin: 0, qmax: 3, symmetricZeroPoint: 2 };
    const ratios = Float32Array.of(1, 0.3);
    const five = [2.7687509059906006, 2.8221852779388428, -1.2205259799957275, -2.9306702613830566, 1.1356348991394043];
    const sixteen = [6.3539628982543945, -6.930240631103516, 3.833796977996826, 5.1294708251953125, 5.722445011138916, 5.252215385437012,
      6.845843315124512, 1.3642759323120117, 0.4872007369995117, 0.5818052291870117, 0.20277690887451172, -2.4076967239379883,
      -2.9467575550079346, -0.8727447986602783, -1.1133532524108887, -1.6561715602874756];
    for (const row of [five, sixteen]) {
      const n = row.length;
      // The row among random ones, in every lane of a batch of four.
      const data = Float32Array.from({ length: 6 * n }, (_, i) => (Math.floor(i / n) % 2 === 0 ? row[i % n]! : normal() * 3));
      same(data, [6, n], { axis: 1, groupSize: n }, range, false, ratios, false);
      const layout = reductionLayout([6, n], { axis: 1, groupSize: n });
      const { mins, maxs } = minMaxOfLayout(data, layout);
      const found = cpuLsqSearch(data, layout, mins, maxs, range, false, ratios, false);
      for (const w of [0, 2, 4]) {
        const raw = qparamsFromMinMax(Math.fround(ratios[found.picks[w]!]! * mins[w]!), Math.fround(ratios[found.picks[w]!]! * maxs[w]!), range, false);
        expect(found.zeroPoints[w], `row ${w} of ${n}`).not.toBe(raw.zeroPoint);
      }
    }
  });

  it('all candidates tied (zeros, a constant), sums that overflow to Infinity, subnormal values, NaN elements', () => {
    const rows = [
      Array.from({ length: 300 }, () => normal() * 0.1),
      new Array(300).fill(0),
      new Array(300).fill(-0.375),
      Array.from({ length: 300 }, () => normal() * 3e37),
      Array.from({ length: 300 }, () => normal() * 1e-40),
      Array.from({ length: 300 }, () => normal() * 1e-20), // squared errors subnormal: flushed to 0
      Array.from({ length: 300 }, (_, i) => (i % 50 === 0 ? NaN : normal())),
    ];
    const data = Float32Array.from(rows.flat());
    for (const dtype of ['qint8', 'quint4'] as const) {
      for (const [symmetric, grid] of [[true, false], [false, false], [false, true]] as const) {
        same(data, [7, 300], { axis: 0 }, rangeOf(dtype), symmetric, lsqClipRatios(40, 0.5, 1.2), grid);
        same(data, [7, 300], { axis: 1, groupSize: 32 }, rangeOf(dtype), symmetric, lsqClipRatios(40, 0.5, 1.2), grid);
      }
    }
  });
});
