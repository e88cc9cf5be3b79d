// The observers (CPU path) against real PyTorch (test/fixtures/torch-observers.json, made by
// test/fixtures/generate_torch_observer_fixtures.py): the running min/max after every batch and the final
// scales bit for bit, zero points exactly, for every observer class, qscheme, dtype and reduce_range.
import type { FixtureFloat, ObserverCase } from '../shared/fixture-types.js';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  MinMaxObserver, MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver, PerChannelMinMaxObserver, tensor,
} from '../../src/index.js';
import { qparamsFromMinMax } from '../../src/calibration/qparams.js';
import { decodeFloat, decodeFloat32s, mismatches } from './support.js';


interface SweepEntry {
  dtype: 'qint8' | 'quint8'; qscheme: string; reduce_range: boolean; min: FixtureFloat; max: FixtureFloat; scale: FixtureFloat; zero_point: number;
}

/** The observer fixture file. */
interface ObserverFixture { generator: string; torch: string; observers: ObserverCase[]; qparams_sweep: SweepEntry[] }

/** Reads test/fixtures/torch-observers.json. */
function loadObserverFixture(): ObserverFixture {
  return JSON.parse(readFileSync(new URL('../fixtures/torch-observers.json', import.meta.url), 'utf8')) as ObserverFixture;
}

type AnyObserver = MinMaxObserver | PerChannelMinMaxObserver;

/** Builds the observer a fixture case describes. */
function makeObserver(c: ObserverCase): AnyObserver {
  const range = c.quant_min_arg === null ? {} : { quantMin: c.quant_min_arg, quantMax: c.quant_max_arg! };
  const base = { dtype: c.dtype, reduceRange: c.reduce_range, ...range };
  switch (c.observer) {
    case 'MinMaxObserver':
      return new MinMaxObserver({ ...base, qscheme: c.qscheme as 'per_tensor_affine' });
    case 'MovingAverageMinMaxObserver':
      return new MovingAverageMinMaxObserver({ ...base, qscheme: c.qscheme as 'per_tensor_affine', averagingConstant: c.averaging_constant! });
    case 'PerChannelMinMaxObserver':
      return new PerChannelMinMaxObserver({ ...base, qscheme: c.qscheme as 'per_channel_affine', chAxis: c.ch_axis! });
    case 'MovingAveragePerChannelMinMaxObserver':
      return new MovingAveragePerChannelMinMaxObserver({
        ...base, qscheme: c.qscheme as 'per_channel_affine', chAxis: c.ch_axis!, averagingConstant: c.averaging_constant!,
      });
  }
}

/** The observer's state and parameters as flat arrays, whatever its class. */
function stateOf(observer: AnyObserver): { mins: Float32Array; maxs: Float32Array } {
  if (observer instanceof MinMaxObserver) return { mins: Float32Array.of(observer.minVal), maxs: Float32Array.of(observer.maxVal) };
  return { mins: observer.minVals, maxs: observer.maxVals };
}

/** Scales and zero points as flat arrays. */
function paramsOf(observer: AnyObserver): { scales: Float32Array; zeroPoints: Int32Array } {
  if (observer instanceof MinMaxObserver) {
    const { scale, zeroPoint } = observer.calculateQParams();
    return { scales: Float32Array.of(scale), zeroPoints: Int32Array.of(zeroPoint) };
  }
  return observer.calculateQParams();
}

/** Runs one case on the CPU and returns every problem as text ('' when it matches). */
async function runCase(c: ObserverCase): Promise<string> {
  const observer = makeObserver(c);
  const problems: string[] = [];
  if (observer.quantMin !== c.quant_min || observer.quantMax !== c.quant_max) {
    problems.push(`quant range ${observer.quantMin}..${observer.quantMax}, torch ${c.quant_min}..${c.quant_max}`);
  }
  for (const [b, batch] of c.batches.entries()) {
    const x = tensor(decodeFloat32s(batch.input, 'input'), batch.shape);
    expect(await observer.observe(x, { backend: 'cpu' })).toBe(x);
    const { mins, maxs } = stateOf(observer);
    problems.push(mismatches(mins, decodeFloat32s(c.states[b]!.min_val, 'min_val'), `batch ${b} min_val`, true));
    problems.push(mismatches(maxs, decodeFloat32s(c.states[b]!.max_val, 'max_val'), `batch ${b} max_val`, true));
  }
  const { scales, zeroPoints } = paramsOf(observer);
  const wantScales = c.scales ? decodeFloat32s(c.scales, 'scales') : Float32Array.of(decodeFloat(c.scale!));
  problems.push(mismatches(scales, wantScales, 'scales', true));
  problems.push(mismatches(zeroPoints, c.zero_points ?? [c.zero_point!], 'zero points'));
  return problems.filter((p) => p).join('\n');
}

const fixture = loadObserverFixture();

describe(`observers against PyTorch ${fixture.torch} (${fixture.generator})`, () => {
  it('the fixture holds every observer class, qscheme, dtype and reduce_range', () => {
    const classes = new Set(fixture.observers.map((c) => c.observer));
    expect([...classes].sort()).toEqual(['MinMaxObserver', 'MovingAverageMinMaxObserver', 'MovingAveragePerChannelMinMaxObserver', 'PerChannelMinMaxObserver']);
    const combos = new Set(fixture.observers.map((c) => `${c.dtype}|${c.qscheme}|${c.reduce_range}`));
    for (const dtype of ['qint8', 'quint8']) {
      for (const qscheme of ['per_tensor_affine', 'per_tensor_symmetric', 'per_channel_affine', 'per_channel_symmetric']) {
        expect(combos.has(`${dtype}|${qscheme}|false`), `${dtype} ${qscheme}`).toBe(true);
        if (!(dtype === 'quint8' && qscheme.endsWith('symmetric'))) expect(combos.has(`${dtype}|${qscheme}|true`)).toBe(true);
      }
    }
    expect(fixture.observers.length).toBe(139);
    expect(fixture.qparams_sweep.length).toBe(400);
  });

  for (const observerClass of ['MinMaxObserver', 'PerChannelMinMaxObserver', 'MovingAverageMinMaxObserver', 'MovingAveragePerChannelMinMaxObserver']) {
    const cases = fixture.observers.filter((c) => c.observer === observerClass);
    it(`${observerClass}: ${cases.length} cases, states and parameters bit for bit`, async () => {
      expect(cases.length).toBeGreaterThan(5);
      const problems: string[] = [];
      for (const c of cases) {
        const text = await runCase(c);
        if (text) problems.push(`${c.name}:\n${text}`);
      }
      expect(problems.join('\n'), problems.join('\n')).toBe('');
    });
  }

  it('the zero-point pin: min -4.588221, max 2.8877935, quint8 affine gives 157 (a reciprocal multiply gives 156)', async () => {
    const pin = fixture.observers.find((c) => c.name === 'pin_zero_point_157')!;
    expect(pin.zero_point).toBe(157);
    const observer = new MinMaxObserver();
    await observer.observe(tensor([-4.588221, 2.8877935]), { backend: 'cpu' });
    expect(observer.calculateQParams()).toEqual({ scale: decodeFloat(pin.scale!), zeroPoint: 157 });
    const scale = Math.fround(Math.fround(2.8877935 + 4.588221) / 255);
    const viaReciprocal = -Math.round(Math.fround(Math.fround(-4.588221) * Math.fround(1 / scale)));
    expect(viaReciprocal).toBe(156);
  });

  it('all-zero data and all-zero channels give scale 2^-23 (torch.finfo(float32).eps)', () => {
    const zeroCases = fixture.observers.filter((c) => c.name.includes('all_zero'));
    expect(zeroCases.length).toBeGreaterThan(3);
    for (const c of zeroCases) expect(decodeFloat(c.scale!)).toBe(2 ** -23);
    const channel = fixture.observers.find((c) => c.name === 'per_channel_qint8_per_channel_affine_6x10_axis0')!;
    expect(decodeFloat(channel.scales!.at(-1)!)).toBe(2 ** -23);
  });

  it(`qparams sweep: ${fixture.qparams_sweep.length} random ranges through the formulas, bit for bit`, () => {
    const problems: string[] = [];
    let reciprocalDiffers = 0;
    for (const e of fixture.qparams_sweep) {
      const qmin = e.dtype === 'qint8' ? (e.reduce_range ? -64 : -128) : 0;
      const qmax = e.dtype === 'qint8' ? (e.reduce_range ? 63 : 127) : (e.reduce_range ? 127 : 255);
      const min = decodeFloat(e.min);
      const max = decodeFloat(e.max);
      const symmetric = e.qscheme.endsWith('symmetric');
      const got = qparamsFromMinMax(min, max, { qmin, qmax, symmetricZeroPoint: e.dtype === 'quint8' ? 128 : 0 }, symmetric);
      if (!Object.is(got.scale, decodeFloat(e.scale)) || got.zeroPoint !== e.zero_point) {
        problems.push(`${JSON.stringify(e)}: got ${got.scale} / ${got.zeroPoint}`);
      }
      const span = Math.fround(Math.max(max, 0) - Math.min(min, 0));
      if (!symmetric && Math.fround(span * Math.fround(1 / (qmax - qmin))) !== Math.fround(span / (qmax - qmin))) reciprocalDiffers++;
    }
    expect(problems.join('\n'), problems.slice(0, 10).join('\n')).toBe('');
    // The sweep does tell division from a reciprocal multiply.
    expect(reciprocalDiffers).toBeGreaterThan(20);
  });
});
