// The 'mse' and 'lsq' searches where the engine has no WebAssembly SIMD (simdKernels() gives null): the
// JavaScript searches choose what the reference chooses, bit for bit, on fresh random tensors.
import { describe, expect, it, vi } from 'vitest';
import { type Granularity, reductionLayout } from '../../src/calibration/granularity.js';
import { lsqClipRatios, mseClipRatios } from '../../src/calibration/spec.js';
import { dtypeInfo } from '../../src/dtype.js';
import { cpuLsqSearch } from '../../src/kernels/cpu/cpu-lsq-search.js';
import { cpuMseSearch } from '../../src/kernels/cpu/cpu-mse-search.js';
import { simdKernels } from '../../src/kernels/cpu/simd-module.js';
import { mseSearchOfLayout } from '../../src/reference/calibration.js';
import { lsqSearchOfLayout } from '../../src/reference/lsq-search.js';
import { minMaxOfLayout } from '../../src/reference/minmax.js';
import { RUN_SEED, rng } from '../shared/random.js';

vi.mock('../../src/kernels/cpu/simd-module.js', async (original) => ({
  ...await original<typeof import('../../src/kernels/cpu/simd-module.js')>(),
  simdKernels: () => null,
}));

const next = rng(RUN_SEED);
const normal = () => Math.sqrt(-2 * Math.log(next() || 1e-12)) * Math.cos(2 * Math.PI * next());
const bits = (a: ArrayLike<number>) => Array.from(a, (v) => (Number.isNaN(v) ? 'NaN' : v));

describe(`the CPU searches without SIMD (seed ${RUN_SEED})`, () => {
  it('has no SIMD here', () => expect(simdKernels()).toBeNull());

  it('mse and lsq give the reference\'s results on fresh random tensors', () => {
    for (let round = 0; round < 24; round++) {
      const shape = [1 + Math.floor(next() * 20), 1 + Math.floor(next() * 300)];
      const data = Float32Array.from({ length: shape[0]! * shape[1]! }, () => normal() * 0.03 * (next() < 0.01 ? 25 : 1) + (round % 3 === 0 ? 0.05 : 0));
      const axis = Math.floor(next() * 2);
      const granularity: Granularity = round % 4 === 0 ? 'per_tensor' : round % 4 === 1 ? { axis } : { axis, groupSize: 1 + Math.floor(next() * Math.min(40, shape[axis]!)) };
      const layout = reductionLayout(shape, granularity);
      const { mins, maxs } = minMaxOfLayout(data, layout);
      const dtype = (['qint8', 'quint8', 'qint4', 'quint4'] as const)[round % 4]!;
      const { qmin, qmax } = dtypeInfo(dtype);
      const range = { qmin, qmax, symmetricZeroPoint: qmin < 0 ? 0 : Math.floor((qmin + qmax + 1) / 2) };
      const symmetric = next() < 0.5;
      const mseRatios = mseClipRatios(1 + Math.floor(next() * 100), 0.2);
      const mse = [mseSearchOfLayout(data, layout, mins, maxs, range, symmetric, mseRatios), cpuMseSearch(data, layout, mins, maxs, range, symmetric, mseRatios)];
      for (const field of ['picks', 'best', 'first'] as const) expect(bits(mse[1]![field]), `mse ${field} round ${round}`).toEqual(bits(mse[0]![field]));
      const grid = !symmetric && next() < 0.6;
      const lsqRatios = lsqClipRatios(1 + Math.floor(next() * 40), 0.5, 1.2);
      const lsq = [lsqSearchOfLayout(data, layout, mins, maxs, range, symmetric, lsqRatios, grid), cpuLsqSearch(data, layout, mins, maxs, range, symmetric, lsqRatios, grid)];
      for (const field of ['scales', 'zeroPoints', 'picks', 'best', 'first'] as const) expect(bits(lsq[1]![field]), `lsq ${field} round ${round}`).toEqual(bits(lsq[0]![field]));
    }
  });
});
