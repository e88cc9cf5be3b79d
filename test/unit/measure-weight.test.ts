// measureFiniteWeight: a weight measured and not kept gives quantizeFiniteWeight's parameters and overall statistics
// to the bit, with no integers, on fresh random weights under the size budget's options and others (signed and
// unsigned, symmetric and not, the extreme range, the searches, scales rounded to float16, MatMul weights whose
// statistics run along another axis); unquantizable where quantizeFiniteWeight is; undefined per tensor. Its mean
// square is meanSquare's to the bit. measureOptions with measureOnly gives measureOptions' numbers.
// sharedGroupRanges gives each group size's ranges as the min/max kernel finds them alone (signed zeros too, short
// last groups, groups along the rows and the last axis), merged from the smallest's, and measureFiniteWeight given
// them measures as it does finding them itself. measureFinitePair gives two group options' parameters and errors as
// measureFiniteWeight gives each, from one pass.
import { describe, expect, it } from 'vitest';
import { budgetOptionDecisions, meanSquare, measureOptions } from '../../src/compress/budget-measure.js';
import { measureFinitePair, measureFiniteWeight } from '../../src/compress/measure-weight.js';
import { sharedGroupRanges } from '../../src/compress/group-ranges.js';
import { reductionLayout } from '../../src/calibration/granularity.js';
import { cpuMinMax } from '../../src/kernels/cpu/cpu-minmax.js';
import { type CompressionPolicy, decideWeight } from '../../src/compress/policy.js';
import { calibrationGranularity, quantizeFiniteWeight } from '../../src/compress/quantize-weight.js';
import { halfToFloat } from '../../src/io/float-convert.js';
import { floatToHalfBits } from '../../src/io/half.js';
import { RUN_SEED, f32Bits, normalData, rangedWeights, rng } from './support.js';

const next = rng(RUN_SEED + 91);
const cpu = { backend: 'cpu' } as const;
const toHalf = (s: number) => halfToFloat(floatToHalfBits(s));
const bitsOf = (v: number) => new BigUint64Array(Float64Array.of(v).buffer)[0]!.toString(16);

describe(`measureFiniteWeight (seed ${RUN_SEED})`, () => {
  it('gives quantizeFiniteWeight\'s parameters and overall statistics to the bit', async () => {
    const policies: CompressionPolicy[] = [
      { dtype: 'qint8', granularity: 'channel' }, { dtype: 'quint8', granularity: 'channel' }, { dtype: 'qint4', granularity: 'group', groupSize: 32 },
      { dtype: 'quint4', granularity: 'group', groupSize: 64 }, { dtype: 'qint4', granularity: 'group', groupSize: 32, symmetric: false },
      { dtype: 'qint8', granularity: 'channel', calibrate: 'mse' }, { dtype: 'qint4', granularity: 'group', groupSize: 32, calibrate: 'lsq' },
      { dtype: 'qint8', granularity: 'group', groupSize: 128, calibrate: 'percentile' }, { dtype: 'qint4', granularity: 'channel', range: 'narrow' },
    ];
    for (const shape of [[384, 200], [200, 96], [64, 3, 3, 5]]) {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = normalData(n, next, 0.2 + next());
      for (let k = 0; k < 5; k++) data[Math.floor(next() * n)] = (next() < 0.5 ? -1 : 1) * 8; // outliers: clipping under the searches
      const weight = { name: 'w', dtype: 'float32' as const, shape };
      const decisions = [...budgetOptionDecisions(weight, {}).map(([, d]) => d), ...policies.map((p) => decideWeight(weight, { ...p, minElements: 0 }))]
        .filter((d) => d.action === 'quantize');
      expect(decisions.length).toBeGreaterThanOrEqual(10);
      for (const decision of decisions) {
        for (const roundScale of [undefined, toHalf]) {
          const what = `${JSON.stringify(shape)} ${decision.dtype} ${decision.granularity} ${decision.groupSize ?? ''} ${decision.method} ${decision.range} ${roundScale ? 'float16 scales' : ''}`;
          const options = roundScale ? { roundScale } : {};
          const full = await quantizeFiniteWeight({ data, shape }, decision, options, cpu);
          const alone = await measureFiniteWeight({ data, shape }, decision, options);
          if (!full.ok) {
            expect(alone, what).toEqual(full);
            continue;
          }
          if (!alone?.ok) throw new Error(`${what}: ${JSON.stringify(alone)}`);
          expect(Array.from(alone.scales), what).toEqual(Array.from(full.scales));
          expect(Array.from(alone.zeroPoints), what).toEqual(Array.from(full.zeroPoints));
          expect(alone.paramShape, what).toEqual(full.paramShape);
          expect(bitsOf(alone.meanSquare), `${what} mean square`).toBe(bitsOf(meanSquare(data)));
          for (const [key, value] of Object.entries(full.stats.overall)) {
            expect(bitsOf(alone.overall[key as keyof typeof alone.overall]), `${what} ${key}`).toBe(bitsOf(value));
          }
        }
      }
    }
  });

  it('unquantizable where quantizeFiniteWeight is; undefined per tensor', async () => {
    const shape = [16, 8];
    const huge = Float32Array.from({ length: 128 }, (_, i) => (i % 2 ? 3.4e38 : -3.4e38));
    const decision = decideWeight({ name: 'w', dtype: 'float32', shape }, { dtype: 'quint8', granularity: 'channel', minElements: 0 });
    const full = await quantizeFiniteWeight({ data: huge, shape }, decision, {}, cpu);
    expect(full.ok).toBe(false);
    expect(await measureFiniteWeight({ data: huge, shape }, decision, {})).toEqual(full);
    const data = normalData(128, next);
    expect(await measureFiniteWeight({ data, shape }, decideWeight({ name: 'w', dtype: 'float32', shape }, { dtype: 'qint8', granularity: 'tensor', minElements: 0 }), {})).toBeUndefined();
  });

  it('measureOptions with measureOnly: the same numbers, a result only for the option kept', async () => {
    const shape = [256, 160];
    const data = normalData(256 * 160, next, 0.3);
    const options = budgetOptionDecisions({ name: 'w', dtype: 'float32', shape }, {}).map(([, d]) => d);
    const full = (await measureOptions({ data, shape }, options, {}, cpu, undefined, 2))!;
    const alone = (await measureOptions({ data, shape }, options, {}, cpu, undefined, 2, true))!;
    expect(alone.measured.relativeErrors.map(bitsOf)).toEqual(full.measured.relativeErrors.map(bitsOf));
    // None kept: the three group options from one min/max pass (sharedGroupRanges), the same numbers.
    const none = (await measureOptions({ data, shape }, options, {}, cpu, undefined, undefined, true))!;
    expect(none.measured.relativeErrors.map(bitsOf)).toEqual(full.measured.relativeErrors.map(bitsOf));
    expect(alone.quantized.map((r) => r !== undefined)).toEqual([false, false, true, false]);
    expect(Array.from(alone.measured.kept!.q.intReprView())).toEqual(Array.from(full.measured.kept!.q.intReprView()));
    const nan = data.slice();
    nan[77] = NaN;
    expect(await measureOptions({ data: nan, shape }, options, {}, cpu, undefined, undefined, true)).toBeUndefined();
  });
});

describe(`sharedGroupRanges (seed ${RUN_SEED})`, () => {
  // Groups along the rows of a MatMul weight and along the last axis of a weight with no graph, every last group short.
  for (const [shape, matMul] of [[[300, 40], true], [[24, 200], false], [[6, 5, 200], false]] as const) {
    it(`${JSON.stringify(shape)}${matMul ? ' MatMul' : ''}: each group size's ranges as found alone, and its measurements`, async () => {
      const data = rangedWeights([...shape], next);
      const x = { data, shape: [...shape] };
      const weight = { name: 'w', dtype: 'float32' as const, shape: [...shape], ...(matMul ? { consumers: [{ opType: 'MatMul', inputIndex: 1 }] } : {}) };
      const options = budgetOptionDecisions(weight, {}).map(([, d]) => d);
      if (shape.length === 3) options.push(...[32, 64].map((groupSize) => ({ ...options[1]!, axis: options[1]!.axis === 2 ? 1 : 2, groupSize }))); // along another axis: their own
      const ranges = sharedGroupRanges(x, options);
      expect(ranges(0), 'int8 per channel').toBeUndefined();
      for (const k of [1, 2, 3]) {
        const decision = options[k]!;
        const alone = cpuMinMax(data, reductionLayout(shape, calibrationGranularity(decision)));
        const merged = ranges(k)!;
        expect(Array.from(merged.mins, f32Bits), `groups of ${decision.groupSize}`).toEqual(Array.from(alone.mins, f32Bits));
        expect(Array.from(merged.maxs, f32Bits), `groups of ${decision.groupSize}`).toEqual(Array.from(alone.maxs, f32Bits));
        for (const roundScale of [undefined, toHalf]) {
          const options2 = roundScale ? { roundScale } : {};
          const given = await measureFiniteWeight(x, decision, options2, merged);
          const found = await measureFiniteWeight(x, decision, options2);
          if (!given?.ok || !found?.ok) throw new Error('not measured');
          expect(Array.from(given.scales)).toEqual(Array.from(found.scales));
          expect(Object.values(given.overall).map(bitsOf)).toEqual(Object.values(found.overall).map(bitsOf));
          expect(bitsOf(given.meanSquare)).toBe(bitsOf(meanSquare(data)));
        }
        // Ranges given are used, not found again: wider ones give other scales.
        const plain = await measureFiniteWeight(x, decision, {});
        const wider = await measureFiniteWeight(x, decision, {}, { mins: merged.mins.map((v) => -2 * Math.abs(v) - 1), maxs: merged.maxs.map((v) => 2 * Math.abs(v) + 1) });
        if (!plain?.ok || !wider?.ok) throw new Error('not measured');
        expect(wider.scales.every((v, i) => v > plain.scales[i]!)).toBe(true);
      }
      for (const k of options.keys()) if (k > 3) expect(ranges(k), 'groups along another axis than the smallest\'s').toBeUndefined();
      // The one skipped (kept) shares nothing; one option alone has nothing to share.
      expect(sharedGroupRanges(x, options, 2)(2)).toBeUndefined();
      expect(sharedGroupRanges(x, options, 2)(3)).toBeDefined();
      expect(sharedGroupRanges(x, [options[0]!, options[3]!])(1)).toBeUndefined();
    });
  }
});

describe(`measureFinitePair (seed ${RUN_SEED})`, () => {
  it('gives each option\'s parameters, errors and the mean square as measureFiniteWeight does, to the bit', async () => {
    const mse = { dtype: 'qint4', granularity: 'group', groupSize: 32, calibrate: 'mse' } as const;
    for (const [shape, policies] of [
      [[384, 200], [{ groupSize: 32 }, { groupSize: 64 }]], [[256, 96], [{ groupSize: 64 }, { groupSize: 128 }]], [[300, 40], [mse, { groupSize: 32, symmetric: false }]],
      [[128, 64], [{ dtype: 'qint8', groupSize: 32 }, { dtype: 'qint8', groupSize: 128 }]],
    ] as [number[], Partial<CompressionPolicy>[]][]) {
      const data = rangedWeights(shape, next);
      const weight = { name: 'w', dtype: 'float32' as const, shape, consumers: [{ opType: 'MatMul', inputIndex: 1 }] };
      const [first, second] = policies.map((p) => decideWeight(weight, { dtype: 'qint4', granularity: 'group', ...p, minElements: 0 } as CompressionPolicy));
      expect([first!.axis, second!.axis], 'groups along the rows').toEqual([0, 0]);
      for (const roundScale of [undefined, toHalf]) {
        const options = roundScale ? { roundScale } : {};
        const both = await measureFinitePair({ data, shape }, first!, second!, options);
        const what = `${JSON.stringify(shape)} ${JSON.stringify(policies)} ${roundScale ? 'float16 scales' : ''}`;
        expect(both, what).toBeDefined();
        for (const [k, decision] of [first!, second!].entries()) {
          const alone = await measureFiniteWeight({ data, shape }, decision, options);
          if (!alone?.ok) throw new Error(`${what}: ${JSON.stringify(alone)}`);
          const got = both![k]!;
          expect(Array.from(got.scales), what).toEqual(Array.from(alone.scales));
          expect(Array.from(got.zeroPoints), what).toEqual(Array.from(alone.zeroPoints));
          expect(bitsOf(got.meanSquare), `${what} mean square`).toBe(bitsOf(alone.meanSquare));
          for (const key of ['mse', 'sqnrDb', 'maxAbsError', 'count'] as const) expect(bitsOf(got.overall[key]), `${what} ${k} ${key}`).toBe(bitsOf(alone.overall[key]));
        }
      }
    }
  });

  it('undefined where one pass does not take them: rows not a multiple of 4, per channel, groups along the last axis, other dtypes', async () => {
    const data = rangedWeights([256, 6], next);
    const weight = (shape: number[]) => ({ name: 'w', dtype: 'float32' as const, shape, consumers: [{ opType: 'MatMul', inputIndex: 1 }] });
    const g = (shape: number[], p: Partial<CompressionPolicy>) => decideWeight(weight(shape), { dtype: 'qint4', granularity: 'group', groupSize: 32, ...p, minElements: 0 } as CompressionPolicy);
    expect(await measureFinitePair({ data, shape: [256, 6] }, g([256, 6], {}), g([256, 6], { groupSize: 64 }), {})).toBeUndefined();
    const wide = { data: data.subarray(0, 64 * 24), shape: [64, 24] };
    const perChannel = decideWeight(weight([64, 24]), { dtype: 'qint4', granularity: 'channel', minElements: 0 });
    expect(await measureFinitePair(wide, g([64, 24], {}), perChannel, {})).toBeUndefined();
    const noGraph = decideWeight({ name: 'w', dtype: 'float32', shape: [64, 24] }, { dtype: 'qint4', granularity: 'group', groupSize: 8, minElements: 0 });
    expect(noGraph.axis, 'groups along the last axis').toBe(1);
    expect(await measureFinitePair(wide, noGraph, g([64, 24], {}), {})).toBeUndefined();
    expect(await measureFinitePair(wide, g([64, 24], {}), g([64, 24], { dtype: 'qint8' }), {})).toBeUndefined();
  });
});
