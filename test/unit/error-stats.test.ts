// The CPU reference of errorStats: hand-computed cases (exact), every special case, per-channel on every axis
// and per-group (ragged last group) against an independent oracle that gathers each bucket by coordinates,
// and one test per rejected argument through the reference and the public API ({ backend: 'cpu' }).
import { describe, expect, it } from 'vitest';
import {
  type ErrorStats, type ErrorStatsSummary, type OpOptions, type QDType, QDTYPES, type Tensor, dequantize, dtypeInfo, errorStats, fromIntRepr, quantizePerChannel, quantizePerGroup, quantizePerTensor, tensor,
} from '../../src/index.js';
import { errorStats as referenceErrorStats } from '../../src/reference/error-stats.js';
import { quantizePerTensor as quantizeSync } from '../../src/reference/quantize.js';
import { indexOf } from '../../src/stats/index-map.js';
import { dequantizedValue, keepGridTable, quantGrid } from '../../src/stats/quant-grid.js';
import { RUN_SEED, expectInvalid, expectInvalidAsync, normalData, rng } from './support.js';

const cpu: OpOptions = { backend: 'cpu' };
const bad = <T>(value: unknown): T => value as T;

/** An independent round-half-even: Math.round rounds ties up, so fix the ties that land on an odd number. */
function rint(p: number): number {
  const r = Math.round(p);
  return r - p === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Independent statistics of (x, x̂, clipped) triples, straight from the definitions. */
function oracle(items: [number, number, boolean][], hasGrid: boolean): ErrorStatsSummary {
  const n = items.length;
  if (n === 0) return { mse: NaN, maxAbsError: NaN, sqnrDb: NaN, cosine: NaN, clipFraction: NaN, count: 0 };
  let se = 0;
  let sx = 0;
  let sxh = 0;
  let dot = 0;
  let max = 0;
  let clipped = 0;
  for (const [x, xh, c] of items) {
    se += (x - xh) ** 2;
    sx += x * x;
    sxh += xh * xh;
    dot += x * xh;
    max = Math.max(max, Math.abs(x - xh));
    if (c) clipped++;
  }
  const exact = max === 0;
  const cosine = exact ? 1 : sx === 0 || sxh === 0 ? 0 : Math.min(1, Math.max(-1, dot / (Math.sqrt(sx) * Math.sqrt(sxh))));
  return { mse: se / n, maxAbsError: max, sqnrDb: exact ? Infinity : 10 * Math.log10(sx / se), cosine, clipFraction: hasGrid ? clipped / n : NaN, count: n };
}

function expectSummary(actual: ErrorStatsSummary, expected: ErrorStatsSummary, what: string): void {
  for (const key of Object.keys(expected) as (keyof ErrorStatsSummary)[]) {
    expect(Object.is(actual[key], expected[key]), `${what} ${key}: ${actual[key]}, expected ${expected[key]}`).toBe(true);
  }
}

function row(stats: ErrorStats, key: 'perChannel' | 'perGroup', i: number): ErrorStatsSummary {
  const s = stats[key]!;
  return { mse: s.mse[i]!, maxAbsError: s.maxAbsError[i]!, sqnrDb: s.sqnrDb[i]!, cosine: s.cosine[i]!, clipFraction: s.clipFraction[i]!, count: s.count[i]! };
}

/** Row-major coordinates of element i. */
function coordinates(i: number, shape: number[]): number[] {
  const out = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    out[d] = i % shape[d]!;
    i = Math.floor(i / shape[d]!);
  }
  return out;
}

describe('quantGrid tables', () => {
  it('made once for parameters marked with keepGridTable, fresh for any other', () => {
    const scales = Float64Array.from({ length: 6 }, (_, i) => 0.01 * (i + 1));
    const zeroPoints = Int32Array.of(0, 1, -1, 2, -2, 3);
    const a = fromIntRepr(new Int8Array(12), [6, 2], 'qint8', { scales, zeroPoints, axis: 0 });
    const b = fromIntRepr(new Int8Array(12), [2, 6], 'qint8', { scales, zeroPoints, axis: 1 });
    expect(quantGrid(a).inverseScales).not.toBe(quantGrid(a).inverseScales);
    keepGridTable(a.params);
    const first = quantGrid(a);
    const again = quantGrid(a);
    expect(again.inverseScales).toBe(first.inverseScales);
    expect(again.scales).toBe(first.scales);
    expect(again.zeroPoints).toBe(first.zeroPoints);
    expect(Array.from(first.inverseScales)).toEqual(Array.from(scales, (s) => Math.fround(1 / Math.fround(s))));
    expect(Array.from(first.zeroPoints)).toEqual(Array.from(zeroPoints));
    expect(quantGrid(b).scales).not.toBe(first.scales); // b's parameters are its own copy, not marked
    expect(quantGrid(b).map.inner).toBe(1);
    expect(first.map.inner).toBe(2);
  });
});

describe('hand-computed cases', () => {
  const x = tensor([1, 2, 3, 4]);
  const want = { mse: 0.25, maxAbsError: 1, sqnrDb: 10 * Math.log10(30), cosine: 34 / Math.sqrt(30 * 39), count: 4 };

  it('x = [1, 2, 3, 4], x̂ = [1, 2, 3, 5]: mse 0.25, max 1, sqnr 10·log10(30), cosine 34 / sqrt(30 · 39)', async () => {
    const s = referenceErrorStats(x, tensor([1, 2, 3, 5]));
    expectSummary(s.overall, { ...want, clipFraction: NaN }, 'plain');
    expect(s.overall.sqnrDb).toBeCloseTo(14.771212547, 9);
    expect(s.overall.cosine).toBeCloseTo(0.9939991, 7);
    expect(s.backend).toBe('cpu');
    expect(s.perChannel).toBeUndefined();
    expect(await errorStats(x, tensor([1, 2, 3, 5]), undefined, cpu)).toEqual(s);
  });

  it('the same x̂ as a QTensor: clipFraction 0, and per element with axis 0', () => {
    const s = referenceErrorStats(x, fromIntRepr([1, 2, 3, 5], [4], 'qint8', { scale: 1, zeroPoint: 0 }), { axis: 0 });
    expectSummary(s.overall, { ...want, clipFraction: 0 }, 'QTensor');
    expect(Array.from(s.perChannel!.mse)).toEqual([0, 0, 0, 1]);
    expect(Array.from(s.perChannel!.sqnrDb)).toEqual([Infinity, Infinity, Infinity, 10 * Math.log10(16)]);
    expect(Array.from(s.perChannel!.cosine)).toEqual([1, 1, 1, 1]); // single elements of the same sign
    expect(s.axis).toBe(0);
  });

  it('clipping at both ends, qint8 scale 1: -200, -129.5 and 127.5, 200 clip; -128.5 and 127.4 do not', () => {
    const values = [-200, -129.5, -128.5, -128.4, 0, 127.4, 127.5, 200];
    const q = quantizeSync(tensor(values), 1, 0, 'qint8');
    expect(Array.from(q.intReprView())).toEqual([-128, -128, -128, -128, 0, 127, 127, 127]);
    const s = referenceErrorStats(tensor(values), q);
    expect(s.overall.clipFraction).toBe(4 / 8);
    expect(s.overall.maxAbsError).toBe(73);
    const e = [72, 1.5, 0.5, Math.fround(-128.4) + 128, 0, Math.fround(127.4) - 127, 0.5, 73];
    expect(s.overall.mse).toBe(e.reduce((a, v) => a + v * v, 0) / 8);
  });

  it('clipping with a zero point, quint8 scale 0.5 zp 10: x = -5 reaches 0, x = -5.5 clips; ±Infinity clip', () => {
    const q = quantizeSync(tensor([-5, -5.5, Infinity, -Infinity, 122.5, 123]), 0.5, 10, 'quint8');
    const s = referenceErrorStats(tensor([-5, -5.5, Infinity, -Infinity, 122.5, 123]), q, { axis: 0 });
    expect(Array.from(s.perChannel!.clipFraction)).toEqual([0, 1, 1, 1, 0, 1]);
    expect(s.overall.clipFraction).toBe(4 / 6);
  });

  it('qint32 clips above 2^31 − 1 although float32 has no such value: 2147483520 does not clip, 2^31 does', () => {
    const values = [2147483520, 2 ** 31, -(2 ** 31), -(2 ** 31) - 256];
    const q = quantizeSync(tensor(values), 1, 0, 'qint32');
    expect(Array.from(referenceErrorStats(tensor(values), q, { axis: 0 }).perChannel!.clipFraction)).toEqual([0, 1, 0, 1]);
  });
});

describe('special cases', () => {
  it('exact quantization: mse 0, sqnr +Infinity, cosine 1', () => {
    const s = referenceErrorStats(tensor([0.5, -1, 2]), fromIntRepr([1, -2, 4], [3], 'qint8', { scale: 0.5, zeroPoint: 0 }));
    expectSummary(s.overall, { mse: 0, maxAbsError: 0, sqnrDb: Infinity, cosine: 1, clipFraction: 0, count: 3 }, 'exact');
  });

  it('all-zero original: −Infinity dB and cosine 0 against a nonzero x̂; +Infinity and cosine 1 against zeros', () => {
    const zeros = tensor([0, 0, 0]);
    expectSummary(referenceErrorStats(zeros, tensor([0, 0.5, 0])).overall,
      { mse: 0.25 / 3, maxAbsError: 0.5, sqnrDb: -Infinity, cosine: 0, clipFraction: NaN, count: 3 }, 'zero vs nonzero');
    expectSummary(referenceErrorStats(zeros, tensor([0, 0, 0])).overall,
      { mse: 0, maxAbsError: 0, sqnrDb: Infinity, cosine: 1, clipFraction: NaN, count: 3 }, 'zero vs zero');
    expect(referenceErrorStats(tensor([1, 2]), tensor([0, 0])).overall.cosine).toBe(0);
  });

  it('infinities: the bucket has mse and maxAbsError +Infinity, sqnr and cosine NaN; other buckets are finite', () => {
    const s = referenceErrorStats(tensor([Infinity, 1, 2, 3], [2, 2]), tensor([1, 1, 2, 2], [2, 2]), { axis: 0 });
    expectSummary(s.overall, { mse: Infinity, maxAbsError: Infinity, sqnrDb: NaN, cosine: NaN, clipFraction: NaN, count: 4 }, 'overall');
    expectSummary(row(s, 'perChannel', 1), oracle([[2, 2, false], [3, 2, false]], false), 'row 1');
    expect(referenceErrorStats(tensor([1]), tensor([-Infinity])).overall.mse).toBe(Infinity);
  });

  it('empty tensors and empty buckets: every statistic NaN, count 0', () => {
    const empty = referenceErrorStats(tensor([]), tensor([]));
    expectSummary(empty.overall, { mse: NaN, maxAbsError: NaN, sqnrDb: NaN, cosine: NaN, clipFraction: NaN, count: 0 }, 'empty');
    const s = referenceErrorStats(tensor([], [3, 0]), tensor([], [3, 0]), { axis: 0 });
    expect(Array.from(s.perChannel!.count)).toEqual([0, 0, 0]);
    expect(Array.from(s.perChannel!.mse).every(Number.isNaN)).toBe(true);
  });

  it('x̂ follows the dequantize contract: per tensor the int32 subtraction wraps (qint32 −2^31 − 1)', () => {
    const q = fromIntRepr([-(2 ** 31)], [1], 'qint32', { scale: 1, zeroPoint: 1 });
    expect(dequantizedValue(quantGrid(q), 0, -(2 ** 31))).toBe(2 ** 31);
    const s = referenceErrorStats(tensor([0]), q);
    expect(s.overall.maxAbsError).toBe(2 ** 31);
  });
});

describe('per channel and per group against coordinates', () => {
  const shape = [3, 4, 5];
  const next = rng(RUN_SEED);
  const x = tensor(normalData(60, next, 2), shape);
  const dtypes: QDType[] = ['qint8', 'quint8', 'qint32'];

  for (const dtype of dtypes) {
    it(`${dtype}, per-channel QTensor on axis 1: stats on every axis (seed ${RUN_SEED})`, async () => {
      const scales = [0.01, 0.02, 0.05, 0.1].map(Math.fround); // float32 scales: dequantize() gives the same x̂
      const zeroPoints = dtype === 'quint8' ? [128, 120, 130, 127] : [0, 1, -1, 2];
      const q = await quantizePerChannel(x, scales, zeroPoints, 1, dtype, cpu);
      const xh = (await dequantize(q, cpu)).data; // float32 scales: the same x̂ errorStats uses
      const grid = quantGrid(q);
      for (const axis of [0, 1, 2, -1]) {
        const s = referenceErrorStats(x, q, { axis });
        const a = axis < 0 ? axis + 3 : axis;
        for (let c = 0; c < shape[a]!; c++) {
          const items: [number, number, boolean][] = [];
          for (let i = 0; i < 60; i++) {
            if (coordinates(i, shape)[a] !== c) continue;
            const ch = coordinates(i, shape)[1]!;
            const pre = Math.fround(zeroPoints[ch]! + rint(Math.fround(x.data[i]! * grid.inverseScales[ch]!)));
            items.push([x.data[i]!, xh[i]!, pre < grid.qmin || pre > grid.qmax]);
          }
          expectSummary(row(s, 'perChannel', c), oracle(items, true), `axis ${axis} channel ${c}`);
        }
      }
    });
  }

  for (const [axis, groupSize] of [[0, 2], [1, 3], [2, 2], [2, 1], [1, 4], [2, 7]] as const) {
    it(`groups of ${groupSize} along axis ${axis} (ragged last group where it does not divide)`, () => {
      const xh = tensor(x.data.map((v) => Math.fround(v + 0.01 * Math.sin(v * 7))), shape);
      const s = referenceErrorStats(x, xh, { axis, groupSize });
      const groupShape = [...shape];
      groupShape[axis] = Math.ceil(shape[axis]! / groupSize);
      expect(s.perGroup!.shape).toEqual(groupShape);
      expect(s.groupSize).toBe(groupSize);
      const buckets = new Map<number, [number, number, boolean][]>();
      for (let i = 0; i < 60; i++) {
        const at = coordinates(i, shape);
        at[axis] = Math.floor(at[axis]! / groupSize);
        const index = at.reduce((acc, v, d) => acc * groupShape[d]! + v, 0);
        buckets.set(index, [...(buckets.get(index) ?? []), [x.data[i]!, xh.data[i]!, false]]);
      }
      expect(s.perGroup!.mse.length).toBe(buckets.size);
      for (const [index, items] of buckets) expectSummary(row(s, 'perGroup', index), oracle(items, false), `group ${index}`);
      expect(Array.from(s.perGroup!.count).reduce((a, b) => a + b, 0)).toBe(60);
    });
  }

  it('a per-group QTensor: x̂ from each element\'s group parameters', () => {
    // [2, 3] in groups of 2 along axis 1: parameter (o * 2 + floor(a / 2)).
    const q = fromIntRepr([1, 2, 3, 4, 5, 6], [2, 3], 'qint8', { scales: [0.5, 0.25, 1, 2], zeroPoints: [0, 1, -1, 3], axis: 1, groupSize: 2 });
    const expected = [0.5, 1, 0.5, 5, 6, 6]; // (q - zp) * scale with parameters 0, 0, 1 / 2, 2, 3
    const s = referenceErrorStats(tensor(expected, [2, 3]), q, { axis: 0 });
    expect(s.overall.maxAbsError).toBe(0);
    expect(Array.from(referenceErrorStats(tensor([0.5, 1, 0.5, 5, 7, 7], [2, 3]), q, { axis: 1, groupSize: 2 }).perGroup!.mse)).toEqual([0, 0, 0.5, 1]);
  });

  it('x̂ equals dequantize() for float32 scales: every scheme and dtype', async () => {
    const w = tensor(normalData(4 * 6, rng(RUN_SEED + 1), 3), [4, 6]);
    for (const dtype of QDTYPES) {
      const { qmin, qmax } = dtypeInfo(dtype);
      const zp = Math.max(qmin, Math.min(qmax, 3));
      const qs = [
        await quantizePerTensor(w, Math.fround(0.07), zp, dtype, cpu),
        await quantizePerChannel(w, [0.1, 0.2, 0.3, 0.4].map(Math.fround), [zp, zp, 0 + Math.max(qmin, 0), zp], 0, dtype, cpu),
        await quantizePerGroup(w, Array.from({ length: 8 }, (_, p) => Math.fround(0.05 * (p + 1))), new Array(8).fill(zp), 1, 4, dtype, cpu),
      ];
      for (const q of qs) {
        const grid = quantGrid(q);
        const dq = (await dequantize(q, cpu)).data;
        const ints = q.intReprView();
        for (let i = 0; i < 24; i++) expect(dequantizedValue(grid, indexOf(grid.map, i), ints[i]!), `${dtype} ${q.qscheme()} [${i}]`).toBe(dq[i]);
      }
    }
  });
});

describe('rejected arguments', () => {
  const x = tensor([1, 2, 3, 4], [2, 2]);
  const both = (name: string, call: (options: { backend: 'cpu' }) => Promise<unknown>, sync: () => unknown,
    want: { argument: string; value: unknown; mentions: string[] }) => {
    it(name, async () => {
      expectInvalid(sync, want);
      await expectInvalidAsync(() => call({ backend: 'cpu' }), want);
    });
  };
  const xNaN = tensor([1, 2, NaN, NaN], [2, 2]);
  both('NaN in original, naming the first index', (o) => errorStats(xNaN, x, undefined, o), () => referenceErrorStats(xNaN, x),
    { argument: 'original.data[2]', value: NaN, mentions: ['NaN'] });
  both('NaN in a plain quantized tensor', (o) => errorStats(x, tensor([NaN, 0, 0, 0], [2, 2]), undefined, o),
    () => referenceErrorStats(x, tensor([NaN, 0, 0, 0], [2, 2])), { argument: 'quantized.data[0]', value: NaN, mentions: ['NaN'] });
  both('shape mismatch', (o) => errorStats(x, tensor([1, 2, 3, 4]), undefined, o), () => referenceErrorStats(x, tensor([1, 2, 3, 4])),
    { argument: 'quantized.shape', value: [4], mentions: ['[4]', '[2, 2]'] });
  both('axis out of range', (o) => errorStats(x, x, { axis: 2 }, o), () => referenceErrorStats(x, x, { axis: 2 }),
    { argument: 'opts.axis', value: 2, mentions: ['2', '[-2, 1]'] });
  both('axis not an integer', (o) => errorStats(x, x, { axis: 0.5 }, o), () => referenceErrorStats(x, x, { axis: 0.5 }),
    { argument: 'opts.axis', value: 0.5, mentions: ['0.5'] });
  for (const groupSize of [0, -2, 1.5, NaN]) {
    both(`groupSize ${groupSize}`, (o) => errorStats(x, x, { axis: 0, groupSize }, o), () => referenceErrorStats(x, x, { axis: 0, groupSize }),
      { argument: 'opts.groupSize', value: groupSize, mentions: [String(groupSize), 'positive integer'] });
  }
  both('groupSize as a string', (o) => errorStats(x, x, { axis: 0, groupSize: bad('4') }, o),
    () => referenceErrorStats(x, x, { axis: 0, groupSize: bad('4') }), { argument: 'opts.groupSize', value: '4', mentions: ['4'] });
  both('groupSize without axis', (o) => errorStats(x, x, { groupSize: 2 }, o), () => referenceErrorStats(x, x, { groupSize: 2 }),
    { argument: 'opts.groupSize', value: 2, mentions: ['opts.axis'] });
  both('original not a Tensor', (o) => errorStats(bad<Tensor>([1, 2]), x, undefined, o), () => referenceErrorStats(bad<Tensor>([1, 2]), x),
    { argument: 'original', value: [1, 2], mentions: ['Tensor'] });
  both('quantized not a Tensor or QTensor', (o) => errorStats(x, bad<Tensor>(null), undefined, o), () => referenceErrorStats(x, bad<Tensor>(null)),
    { argument: 'quantized', value: null, mentions: ['null', 'QTensor'] });
  both('quantized data and shape disagree', (o) => errorStats(x, bad<Tensor>({ data: new Float32Array(3), shape: [2, 2] }), undefined, o),
    () => referenceErrorStats(x, bad<Tensor>({ data: new Float32Array(3), shape: [2, 2] })), { argument: 'quantized.shape', value: [2, 2], mentions: ['3'] });
  both('opts not an object', (o) => errorStats(x, x, bad(3), o), () => referenceErrorStats(x, x, bad(3)),
    { argument: 'opts', value: 3, mentions: ['3'] });

  it('rank 0: no axis to take', () => {
    const scalar = tensor([2], []);
    expect(referenceErrorStats(scalar, tensor([2.5], [])).overall.mse).toBe(0.25);
    expectInvalid(() => referenceErrorStats(scalar, scalar, { axis: 0 }), { argument: 'opts.axis', value: 0, mentions: ['rank-0'] });
  });

  it('a QTensor of another shape', async () => {
    const q = await quantizePerTensor(tensor([1, 2, 3, 4]), 1, 0, 'qint8', cpu);
    expectInvalid(() => referenceErrorStats(x, q), { argument: 'quantized.shape', value: [4], mentions: ['[4]'] });
  });
});
