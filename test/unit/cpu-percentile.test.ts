// Percentile clipping on the CPU path (src/kernels/cpu/cpu-percentile.ts, a selection in place of a sort) gives
// the reference's ranges bit for bit: fresh random tensors of every layout, many ties, -0 beside +0, percentiles
// from a single element to 100, symmetric and affine; and the first NaN where the reference finds it.
import { describe, expect, it } from 'vitest';
import { type Granularity, reductionLayout } from '../../src/calibration/granularity.js';
import { cpuPercentileRanges } from '../../src/kernels/cpu/cpu-percentile.js';
import { percentileRangesOfLayout } from '../../src/reference/calibration.js';
import { RUN_SEED, rng } from '../shared/random.js';

const next = rng(RUN_SEED);
const normal = () => Math.sqrt(-2 * Math.log(next() || 1e-12)) * Math.cos(2 * Math.PI * next());
/** The bits of each value (so that -0 and +0 differ). */
const bits = (a: Float32Array) => Array.from(new Int32Array(a.buffer, a.byteOffset, a.length));

describe(`cpuPercentileRanges against the reference (seed ${RUN_SEED})`, () => {
  it('gives the same ranges on fresh random tensors, every layout, ties and signed zeros', () => {
    for (let round = 0; round < 60; round++) {
      const rank = 1 + Math.floor(next() * 3);
      const shape = Array.from({ length: rank }, () => 1 + Math.floor(next() * (rank === 1 ? 5000 : rank === 2 ? 120 : 15)));
      const size = shape.reduce((a, b) => a * b, 1);
      const kind = next();
      // Smooth values, few distinct values (many ties), or zeros of both signs among them.
      const data = Float32Array.from({ length: size }, () => (kind < 0.4 ? normal()
        : kind < 0.7 ? Math.round(normal() * 3) / 2 : next() < 0.5 ? (next() < 0.5 ? -0 : 0) : normal()));
      const axis = Math.floor(next() * rank);
      const g = next();
      const granularity: Granularity = g < 0.25 ? 'per_tensor' : g < 0.6 ? { axis } : { axis, groupSize: 1 + Math.floor(next() * Math.min(shape[axis]!, 50)) };
      const layout = reductionLayout(shape, granularity);
      const percentile = [100, 99.99, 99.9, 90, 50, 0.001, 1 + next() * 98][Math.floor(next() * 7)]!;
      const symmetric = next() < 0.5;
      const expected = percentileRangesOfLayout(data, layout, percentile, symmetric);
      const actual = cpuPercentileRanges(data, layout, percentile, symmetric);
      const where = `${JSON.stringify(granularity)} [${shape.join(', ')}] p${percentile} ${symmetric ? 'symmetric' : 'affine'}`;
      expect(bits(actual.maxs), where).toEqual(bits(expected.maxs));
      expect(bits(actual.mins), where).toEqual(bits(expected.mins));
      expect(actual.firstNaN).toBe(-1);
    }
  });

  it('long outputs of one repeated value and of sorted and reversed runs (the selection\'s bad cases)', () => {
    const n = 20000;
    for (const data of [new Float32Array(n).fill(0.25), Float32Array.from({ length: n }, (_, i) => i), Float32Array.from({ length: n }, (_, i) => n - i),
      Float32Array.from({ length: n }, (_, i) => (i % 2 ? i : -i)), Float32Array.from({ length: n }, (_, i) => i % 7)]) {
      for (const percentile of [99.9, 50, 100]) {
        for (const symmetric of [true, false]) {
          const layout = reductionLayout([n], 'per_tensor');
          const [expected, actual] = [percentileRangesOfLayout(data, layout, percentile, symmetric), cpuPercentileRanges(data, layout, percentile, symmetric)];
          expect([bits(actual.mins), bits(actual.maxs)]).toEqual([bits(expected.mins), bits(expected.maxs)]);
        }
      }
    }
  });

  it('reports the first NaN in memory order, as the reference does', () => {
    const data = Float32Array.from({ length: 600 }, () => normal());
    for (const at of [599, 17, 301]) data[at] = NaN;
    for (const granularity of ['per_tensor', { axis: 0 }, { axis: 1 }, { axis: 1, groupSize: 7 }] as Granularity[]) {
      const layout = reductionLayout([20, 30], granularity);
      expect(cpuPercentileRanges(data, layout, 99, true).firstNaN).toBe(percentileRangesOfLayout(data, layout, 99, true).firstNaN);
      expect(cpuPercentileRanges(data, layout, 99, true).firstNaN).toBe(17);
    }
  });
});
