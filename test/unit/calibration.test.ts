// chooseQParams on the CPU path: 'minmax' equals the observers, the per-group layout, the percentile rule on
// hand-computed data, the 'mse' search never worse than min/max (checked independently in float64 by
// quantizing and dequantizing with the chosen parameters), measured on heavy-tailed weights, the results
// going straight into the quantize functions, and every rejected spec field.
import { describe, expect, it } from 'vitest';
import {
  type CalibrationSpec, MinMaxObserver, PerChannelMinMaxObserver, PerGroupMinMaxObserver, type QDType, type Tensor, chooseQParams, quantizePerChannel, quantizePerGroup, quantizePerTensor, reference, tensor,
} from '../../src/index.js';
import { elementIndex, outputLength, reductionLayout } from '../../src/calibration/granularity.js';
import { mseClipRatios } from '../../src/calibration/spec.js';
import { chooseQParams as referenceChooseQParams } from '../../src/reference/calibration.js';
import { expectInvalidAsync, rng } from './support.js';

const cpu = { backend: 'cpu' } as const;
const bad = <T>(value: unknown): T => value as T;

/** Student-t (4 degrees of freedom) weights, each index along `axis` with its own magnitude over two decades. */
function heavyTailed(shape: number[], axis: number, seed: number, laplace = false): Tensor {
  const next = rng(seed);
  const normal = (): number => Math.sqrt(-2 * Math.log(Math.max(next(), 1e-12))) * Math.cos(2 * Math.PI * next());
  let inner = 1;
  for (let d = axis + 1; d < shape.length; d++) inner *= shape[d]!;
  const magnitudes = Array.from({ length: shape[axis]! }, () => 10 ** (-2 * next()));
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) {
    const u = next() - 0.5;
    const value = laplace ? -Math.sign(u) * Math.log(1 - 2 * Math.abs(u))
      : normal() / Math.sqrt((normal() ** 2 + normal() ** 2 + normal() ** 2 + normal() ** 2) / 4);
    data[i] = value * magnitudes[Math.floor(i / inner) % shape[axis]!]!;
  }
  return tensor(data, shape);
}

/** Per-output MSE in float64 of quantizing `x` with `params` and dequantizing (the library's quantize path). */
function float64Mse(x: Tensor, spec: CalibrationSpec, params: { scales: ArrayLike<number>; zeroPoints: ArrayLike<number> }): Float64Array {
  const granularity = spec.granularity ?? 'per_tensor';
  const q = granularity === 'per_tensor' ? reference.quantizePerTensor(x, params.scales[0]!, params.zeroPoints[0]!, spec.dtype)
    : 'groupSize' in granularity ? reference.quantizePerGroup(x, params.scales, params.zeroPoints, granularity.axis, granularity.groupSize, spec.dtype)
      : reference.quantizePerChannel(x, params.scales, params.zeroPoints, granularity.axis, spec.dtype);
  const y = reference.dequantize(q).data;
  const layout = reductionLayout(x.shape, granularity);
  const mse = new Float64Array(layout.outputs);
  for (let w = 0; w < layout.outputs; w++) {
    let sum = 0;
    for (let j = 0; j < outputLength(layout, w); j++) {
      const i = elementIndex(layout, w, j);
      sum += (x.data[i]! - y[i]!) ** 2;
    }
    mse[w] = sum / outputLength(layout, w);
  }
  return mse;
}

function flat(p: { scale: number; zeroPoint: number } | { scales: Float32Array; zeroPoints: Int32Array }): { scales: Float32Array; zeroPoints: Int32Array } {
  return 'scale' in p ? { scales: Float32Array.of(p.scale), zeroPoints: Int32Array.of(p.zeroPoint) } : p;
}

describe("chooseQParams 'minmax'", () => {
  it('equals MinMaxObserver, PerChannelMinMaxObserver and PerGroupMinMaxObserver on the same data', async () => {
    const x = heavyTailed([6, 10, 7], 1, 3);
    for (const [dtype, symmetric] of [['qint8', true], ['quint8', false], ['qint8', false], ['qint4', true], ['quint4', false]] as [QDType, boolean][]) {
      const tensorObserver = new MinMaxObserver({ dtype, qscheme: symmetric ? 'per_tensor_symmetric' : 'per_tensor_affine' });
      await tensorObserver.observe(x, cpu);
      const p = await chooseQParams(x, { dtype, symmetric }, cpu);
      expect({ scale: p.scale, zeroPoint: p.zeroPoint }).toEqual(tensorObserver.calculateQParams());
      expect(p.backend).toBe('cpu');
      for (const axis of [0, 1, 2]) {
        const channelObserver = new PerChannelMinMaxObserver({ chAxis: axis, dtype, qscheme: symmetric ? 'per_channel_symmetric' : 'per_channel_affine' });
        await channelObserver.observe(x, cpu);
        const c = await chooseQParams(x, { dtype, symmetric, granularity: { axis } }, cpu);
        expect({ scales: c.scales, zeroPoints: c.zeroPoints, axis: c.axis }).toEqual(channelObserver.calculateQParams());
        const groupObserver = new PerGroupMinMaxObserver({ axis, groupSize: 3, dtype, qscheme: symmetric ? 'per_group_symmetric' : 'per_group_affine' });
        await groupObserver.observe(x, cpu);
        const g = await chooseQParams(x, { dtype, symmetric, granularity: { axis, groupSize: 3 } }, cpu);
        expect({ scales: g.scales, zeroPoints: g.zeroPoints, axis: g.axis, groupSize: g.groupSize }).toEqual(groupObserver.calculateQParams());
      }
    }
  });

  it('per group: ONNX block_size layout, (o * G + floor(a / groupSize)) * inner + k, with a short last group', async () => {
    // [2, 5, 2], axis 1, groups of 2 (G = 3): parameter (o, g, k) covers a = 2g, 2g + 1.
    const data = Array.from({ length: 20 }, (_, i) => i * (i % 3 === 0 ? -1 : 1));
    const p = await chooseQParams(tensor(data, [2, 5, 2]), { dtype: 'qint8', symmetric: true, granularity: { axis: 1, groupSize: 2 } }, cpu);
    expect(p.scales.length).toBe(12);
    const layout = reductionLayout([2, 5, 2], { axis: 1, groupSize: 2 });
    for (let i = 0; i < 20; i++) {
      const o = Math.floor(i / 10);
      const a = Math.floor(i / 2) % 5;
      const k = i % 2;
      const w = (o * 3 + Math.floor(a / 2)) * 2 + k;
      expect(Array.from({ length: outputLength(layout, w) }, (_, j) => elementIndex(layout, w, j))).toContain(i);
      expect(p.scales[w]! * 127.5).toBeGreaterThanOrEqual(Math.abs(data[i]!) * (1 - 1e-6));
    }
    expect(outputLength(layout, 4)).toBe(1); // (o 0, g 2, k 0): only a = 4
  });

  it('results go straight into quantizePerTensor, quantizePerChannel and quantizePerGroup (4-bit too)', async () => {
    const x = heavyTailed([8, 40], 0, 9);
    const t = await chooseQParams(x, { dtype: 'quint8' }, cpu);
    expect((await quantizePerTensor(x, t.scale, t.zeroPoint, 'quint8', cpu)).size).toBe(320);
    const c = await chooseQParams(x, { dtype: 'qint8', granularity: { axis: 0 }, symmetric: true, method: 'mse' }, cpu);
    expect((await quantizePerChannel(x, c.scales, c.zeroPoints, c.axis, 'qint8', cpu)).qPerChannelAxis()).toBe(0);
    const g = await chooseQParams(x, { dtype: 'qint4', granularity: { axis: 1, groupSize: 16 }, symmetric: true, method: 'mse' }, cpu);
    const q = await quantizePerGroup(x, g.scales, g.zeroPoints, g.axis, g.groupSize, 'qint4', cpu);
    expect(q.qscheme()).toBe('per_group_affine');
    const u = await chooseQParams(x, { dtype: 'quint4', granularity: { axis: 1, groupSize: 16 }, method: 'percentile', percentile: 99 }, cpu);
    expect((await quantizePerGroup(x, u.scales, u.zeroPoints, u.axis, u.groupSize, 'quint4', cpu)).dtype).toBe('quint4');
  });
});

describe("chooseQParams 'percentile' (nearest rank, no interpolation)", () => {
  const values = Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? 1 : -1) * (i + 1)); // +-1 .. +-100
  it('affine clips both tails at the nearest rank: p 95 of 100 values keeps the 95th smallest and largest', async () => {
    const p = await chooseQParams(tensor(values), { dtype: 'quint8', method: 'percentile', percentile: 95 }, cpu);
    // Sorted ascending: -100, -98, ..., -2, 1, 3, ..., 99. Rank 95: the 95th smallest is 89, the 95th largest -90.
    expect(p).toEqual(referenceChooseQParams(tensor([-90, 89]), { dtype: 'quint8' }));
  });
  it('symmetric clips |x| at the nearest rank', async () => {
    const p = await chooseQParams(tensor(values), { dtype: 'qint8', symmetric: true, method: 'percentile', percentile: 90.5 }, cpu);
    expect(p.scale).toBe(Math.fround(91 / 127.5)); // rank ceil(90.5) = 91 of |x| = 1..100
  });
  it('percentile 100 is min/max', async () => {
    const x = heavyTailed([5, 30], 0, 4);
    const spec: CalibrationSpec = { dtype: 'qint8', granularity: { axis: 0 } };
    expect(await chooseQParams(x, { ...spec, method: 'percentile', percentile: 100 }, cpu)).toEqual(await chooseQParams(x, spec, cpu));
  });
});

describe("chooseQParams 'mse'", () => {
  it('the candidate clip ratios: 100 from 1 down to 0.2, float32, the first exactly 1', () => {
    const ratios = mseClipRatios(100, 0.2);
    expect(ratios.length).toBe(100);
    expect([ratios[0], ratios[99]]).toEqual([1, Math.fround(0.2)]);
    expect(mseClipRatios(1, 0.2)).toEqual(Float32Array.of(1));
  });

  it('with one step it is min/max', async () => {
    const x = heavyTailed([4, 50], 0, 5);
    const mse = await chooseQParams(x, { dtype: 'qint8', granularity: { axis: 0 }, method: 'mse', mseSteps: 1 }, cpu);
    const minmax = await chooseQParams(x, { dtype: 'qint8', granularity: { axis: 0 } }, cpu);
    expect([mse.scales, mse.zeroPoints]).toEqual([minmax.scales, minmax.zeroPoints]);
    expect(mse.search!.clipRatios).toEqual(new Float32Array(4).fill(1));
  });

  it('clips a lone outlier: one value 10x the rest, per tensor, qint4 symmetric', async () => {
    // Min/max: step 1 / 7.5, noise about 1.5e-3 per element. Clipping near 0.4 costs the outlier
    // (0.6)^2 / 1000 = 3.6e-4 and cuts the noise of the other 999 to about 2.4e-4.
    const data = Array.from({ length: 999 }, (_, i) => Math.sin(i) * 0.1);
    data.push(1);
    const p = await chooseQParams(tensor(data), { dtype: 'qint4', symmetric: true, method: 'mse' }, cpu);
    expect(p.search!.clipRatios[0]!).toBeLessThan(1);
    expect(p.search!.mse[0]!).toBeLessThan(p.search!.minmaxMse[0]!);
  });

  // The last field: the smallest mean per-output reduction we expect (8-bit gains little, 4-bit much more).
  const measured: [string, number[], CalibrationSpec, boolean, number][] = [
    ['[64, 1024] Student-t, per channel (axis 0), qint8 symmetric', [64, 1024], { dtype: 'qint8', symmetric: true, granularity: { axis: 0 } }, false, 0.002],
    ['[64, 1024] Student-t, per channel (axis 0), quint8 affine', [64, 1024], { dtype: 'quint8', granularity: { axis: 0 } }, false, 0.002],
    ['[64, 1024] Laplace, per channel (axis 0), qint8 symmetric', [64, 1024], { dtype: 'qint8', symmetric: true, granularity: { axis: 0 } }, true, 0.002],
    ['[64, 1024] Student-t, groups of 32 (axis 1), qint4 symmetric', [64, 1024], { dtype: 'qint4', symmetric: true, granularity: { axis: 1, groupSize: 32 } }, false, 0.05],
    ['[64, 1024] Student-t, groups of 128 (axis 1), quint4 affine', [64, 1024], { dtype: 'quint4', granularity: { axis: 1, groupSize: 128 } }, false, 0.05],
  ];
  for (const [name, shape, spec, laplace, least] of measured) {
    it(`${name}: never raises any output's MSE (float64 check), and lowers it on heavy tails`, async () => {
      const x = heavyTailed(shape, 0, 2024, laplace);
      const minmax = flat(await chooseQParams(x, spec, cpu));
      const chosen = await chooseQParams(x, { ...spec, method: 'mse' }, cpu);
      const report = chosen.search!;
      const before = float64Mse(x, spec, minmax);
      const after = float64Mse(x, spec, flat(chosen));
      const reductions: number[] = [];
      for (let w = 0; w < before.length; w++) {
        // The search compares float32 sums (relative rounding error < 1e-5 at these sizes), so a float64
        // recount may differ by that much; it never differs by more.
        expect(after[w]!).toBeLessThanOrEqual(before[w]! * (1 + 1e-5));
        expect(Math.abs(report.mse[w]! - after[w]!)).toBeLessThanOrEqual(after[w]! * 1e-4);
        expect(Math.abs(report.minmaxMse[w]! - before[w]!)).toBeLessThanOrEqual(before[w]! * 1e-4);
        expect(report.mse[w]!).toBeLessThanOrEqual(report.minmaxMse[w]!);
        reductions.push(1 - after[w]! / before[w]!);
      }
      reductions.sort((a, b) => a - b);
      const mean = reductions.reduce((a, b) => a + b, 0) / reductions.length;
      expect(mean).toBeGreaterThan(least);
      console.log(`${name}: per-output MSE reduction vs min/max: mean ${(100 * mean).toFixed(1)}%, `
        + `median ${(100 * reductions[reductions.length >> 1]!).toFixed(1)}%, max ${(100 * reductions.at(-1)!).toFixed(1)}%, `
        + `${reductions.filter((r) => r > 0).length}/${reductions.length} outputs improved`);
    });
  }
});

describe('chooseQParams rejects bad input', () => {
  const x = tensor([1, 2, 3, 4], [2, 2]);
  const cases: [string, Tensor, CalibrationSpec, { argument: string; value: unknown; mentions: string[] }][] = [
    ['unknown dtype', x, { dtype: bad('int4') }, { argument: 'spec.dtype', value: 'int4', mentions: ['"int4"'] }],
    ['unknown method', x, { dtype: 'qint8', method: bad('kl') }, { argument: 'spec.method', value: 'kl', mentions: ['"kl"', 'mse'] }],
    ['bad granularity', x, { dtype: 'qint8', granularity: bad('per_channel') }, { argument: 'spec.granularity', value: 'per_channel', mentions: ['{ axis }'] }],
    ['axis out of range', x, { dtype: 'qint8', granularity: { axis: 2 } }, { argument: 'spec.granularity.axis', value: 2, mentions: ['rank-2'] }],
    ['group size 0', x, { dtype: 'qint8', granularity: { axis: 1, groupSize: 0 } }, { argument: 'spec.granularity.groupSize', value: 0, mentions: ['positive'] }],
    ['percentile 50', x, { dtype: 'qint8', method: 'percentile', percentile: 50 }, { argument: 'spec.percentile', value: 50, mentions: ['(50, 100]'] }],
    ['mseSteps 0', x, { dtype: 'qint8', method: 'mse', mseSteps: 0 }, { argument: 'spec.mseSteps', value: 0, mentions: ['[1, 1000]'] }],
    ['mseMinRatio 0', x, { dtype: 'qint8', method: 'mse', mseMinRatio: 0 }, { argument: 'spec.mseMinRatio', value: 0, mentions: ['(0, 1]'] }],
    ['misspelt field', x, bad({ dtype: 'qint8', group_size: 32 }), { argument: 'spec.group_size', value: 32, mentions: ['granularity'] }],
    ['custom range without 0', x, { dtype: 'qint8', quantMin: 2, quantMax: 7 }, { argument: 'spec.quantMin', value: 2, mentions: ['contain 0'] }],
    ['symmetric quint8 reduceRange', x, { dtype: 'quint8', symmetric: true, reduceRange: true }, { argument: 'spec.reduceRange', value: true, mentions: ['quint8'] }],
    ['empty tensor', tensor([], [0, 2]), { dtype: 'qint8' }, { argument: 'x', value: tensor([], [0, 2]), mentions: ['empty'] }],
    ['NaN', tensor([1, NaN, 3]), { dtype: 'qint8', method: 'mse' }, { argument: 'x.data[1]', value: NaN, mentions: ['NaN'] }],
    ['Infinity', tensor([1, Infinity, 3]), { dtype: 'qint8', granularity: { axis: 0 } }, { argument: 'x', value: Infinity, mentions: ['channel 1'] }],
  ];
  for (const [name, input, spec, want] of cases) {
    it(name, async () => {
      await expectInvalidAsync(() => chooseQParams(input, spec, cpu), want);
      await expectInvalidAsync(async () => referenceChooseQParams(input, spec), want);
    });
  }
});
