// A block's 'mse', 'lsq' and 'percentile' parameters written into given arrays (src/compress/search-params.ts) are
// chooseQParams's on the CPU to the bit, on fresh random blocks of every layout the compressor searches
// (int8 per channel along either axis, uint8 affine, int4 groups along either axis, Q4_0's grid), with the
// ranges, parameters and search results in the arrays given and kept; its errors are chooseQParams's, and what
// it does not handle (another method, per tensor, arrays of another length) is left to chooseQParams.
import { describe, expect, it } from 'vitest';
import { type CompressionPolicy, type PolicyConsumer, decideWeight } from '../../src/compress/policy.js';
import { calibrationSpecOf } from '../../src/compress/quantize-weight.js';
import { searchedParamsInto } from '../../src/compress/search-params.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { chooseQParams } from '../../src/ops/choose-qparams.js';
import { RUN_SEED, normalData, rng } from './support.js';

const cpu = { backend: 'cpu' } as const;
const matmul: PolicyConsumer = { opType: 'MatMul', inputIndex: 1 };
const conv: PolicyConsumer = { opType: 'Conv', inputIndex: 1 };
const decide = (shape: number[], consumer: PolicyConsumer, policy: CompressionPolicy) =>
  decideWeight({ name: 'w', dtype: 'float32', shape, consumers: [consumer] }, { firstLayer: 'quantize', minSqnrDb: 0, ...policy });

/** Arrays for `k` outputs, filled with a marker. */
const intoOf = (k: number) => ({
  scales: new Float32Array(k).fill(7), zeroPoints: new Int32Array(k).fill(7), mins: new Float32Array(k).fill(7), maxs: new Float32Array(k).fill(7),
});
const bits = (a: ArrayLike<number>) => Array.from(a, (v) => (Object.is(v, -0) ? 'neg0' : v));

describe(`searchedParamsInto against chooseQParams (seed ${RUN_SEED})`, () => {
  const next = rng(RUN_SEED + 23);
  const cases: [string, number[], PolicyConsumer, CompressionPolicy][] = [
    ['int8 per channel along the columns', [96, 37], matmul, {}],
    ['uint8 affine per channel', [64, 50], matmul, { dtype: 'quint8', symmetric: false }],
    ['int8 per channel along axis 0', [40, 16, 3, 3], conv, {}],
    ['int4 groups of 32 along the rows', [96, 40], matmul, { dtype: 'qint4', granularity: 'group', groupSize: 32 }],
    ['uint4 groups of 16, affine', [64, 24], matmul, { dtype: 'quint4', symmetric: false, granularity: 'group', groupSize: 16 }],
    ['int4 per channel (Q4_0\'s grid under lsq)', [80, 33], matmul, { dtype: 'qint4' }],
  ];
  for (const [what, shape, consumer, policy] of cases) {
    it(`${what}: the same parameters, in the arrays given`, async () => {
      for (const calibrate of ['mse', 'lsq', 'percentile'] as const) {
        const decision = decide(shape, consumer, { ...policy, calibrate });
        expect(decision.granularity, what).toBe(policy.granularity ?? 'channel');
        const size = shape.reduce((a, b) => a * b, 1);
        // Rows of very different ranges, an outlier now and then, a zero output.
        const data = normalData(size, next, 0.05).map((v, i) => (i % 7 === 3 && next() < 0.05 ? v * 40 : v) * (1 + (i % 5)));
        data.fill(0, 0, shape.length > 2 ? 36 : 0);
        const x = { data, shape };
        const expected = await chooseQParams(x, calibrationSpecOf(decision), cpu);
        if (!('scales' in expected)) throw new Error('per tensor');
        const k = expected.scales.length;
        const into = intoOf(k);
        const got = searchedParamsInto(x, decision, into);
        expect(got?.scales, `${what} ${calibrate}`).toBe(into.scales);
        expect(got?.zeroPoints).toBe(into.zeroPoints);
        expect(bits(got!.scales), `${what} ${calibrate}: scales`).toEqual(bits(expected.scales));
        expect([...got!.zeroPoints], `${what} ${calibrate}: zero points`).toEqual([...expected.zeroPoints]);
        expect(into.mins.every((v, w) => v !== 7 && into.maxs[w] !== 7 && v <= into.maxs[w]!), 'the ranges in the scratch given').toBe(true);
        // Again into the same arrays: the search's kept arrays give the same.
        const again = searchedParamsInto(x, decision, intoOf(k));
        expect(bits(again!.scales)).toEqual(bits(expected.scales));
      }
    });
  }

  it('throws what chooseQParams throws, and leaves what it does not handle to it', async () => {
    const percentile = decide([96, 40], matmul, { calibrate: 'percentile' });
    const nan = normalData(96 * 40, next);
    nan[3000] = NaN;
    const said = await chooseQParams({ data: nan, shape: [96, 40] }, calibrationSpecOf(percentile), cpu).then(() => 'no error', (error: Error) => error.message);
    expect(said).toMatch(/NaN/);
    expect(() => searchedParamsInto({ data: nan, shape: [96, 40] }, percentile, intoOf(40)), 'percentile, NaN').toThrow(said);
    const shape = [96, 40];
    const decision = decide(shape, matmul, { calibrate: 'mse' });
    expect(decision.granularity).toBe('channel');
    const data = normalData(96 * 40, next);
    data[100] = NaN;
    expect(() => searchedParamsInto({ data, shape }, decision, intoOf(40))).toThrow(InvalidArgumentError);
    await expect(chooseQParams({ data, shape }, calibrationSpecOf(decision), cpu)).rejects.toThrow(InvalidArgumentError);
    const infinite = normalData(96 * 40, next);
    infinite[13] = -Infinity;
    const affine = decide(shape, matmul, { calibrate: 'lsq', dtype: 'quint8', symmetric: false });
    const message = await chooseQParams({ data: infinite, shape }, calibrationSpecOf(affine), cpu).then(() => 'no error', (error: Error) => error.message);
    expect(message).toMatch(/Infinity/);
    expect(() => searchedParamsInto({ data: infinite, shape }, affine, intoOf(40))).toThrow(message);
    const finite = normalData(96 * 40, next);
    expect(searchedParamsInto({ data: finite, shape }, decide(shape, matmul, {}), intoOf(40)), 'minmax').toBeUndefined();
    expect(searchedParamsInto({ data: finite, shape }, decide(shape, matmul, { calibrate: 'mse', granularity: 'tensor' }), intoOf(1)), 'per tensor').toBeUndefined();
    expect(searchedParamsInto({ data: finite, shape }, decision, intoOf(41)), 'arrays of another length').toBeUndefined();
  });
});
