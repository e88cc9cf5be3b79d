// The WebAssembly SIMD CPU kernels against the reference, bit for bit: fresh random tensors of many shapes,
// every axis, per tensor / channel / group, every dtype, with NaN, ±Infinity, ±0, ties at k + 0.5, subnormals,
// values past the range, and tiny, huge and non-float32 scales.
import { describe, expect, it } from 'vitest';
import { reductionLayout } from '../../src/calibration/granularity.js';
import { QDTYPES, type QDType, dtypeInfo } from '../../src/dtype.js';
import { cpuMinMax } from '../../src/kernels/cpu/cpu-minmax.js';
import { cpuDequantize, cpuQuantize } from '../../src/kernels/cpu/cpu-quantize.js';
import { simdKernels, walkPieces } from '../../src/kernels/cpu/simd-module.js';
import { type PerChannelParams, type PerGroupParams, type PerTensorParams, QTensor, checkQParams } from '../../src/qtensor.js';
import { packNibbles } from '../../src/pack-nibbles.js';
import { cpuErrorStats } from '../../src/kernels/cpu/cpu-error-stats.js';
import { firstNaN, firstNonFinite, maxAbs, scanFinite } from '../../src/kernels/cpu/cpu-scan.js';
import { dequantize, errorStats, quantizeWithParams } from '../../src/reference/index.js';
import { checkErrorStatsArguments } from '../../src/stats/arguments.js';
import { minMaxOfLayout } from '../../src/reference/minmax.js';
import { groupParamCount } from '../../src/validate.js';
import { RUN_SEED, expectBits, expectExact, expectSameStats, rng } from './support.js';

const next = rng(RUN_SEED);
const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;

/** Random float32 data with every edge case mixed in, sized to the scale so most values land inside the grid. */
function edgyData(n: number, scale: number, qmax: number): Float32Array {
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = next();
    if (r < 0.03) data[i] = pick([NaN, Infinity, -Infinity, 0, -0, 1e-40, -1e-45, 3e38, -3e38, 2 ** -126]);
    else if (r < 0.25) data[i] = (Math.floor(next() * 2 * qmax) - qmax + 0.5) * scale; // ties at k + 0.5
    else data[i] = (next() * 2 - 1) * scale * qmax * 1.3;
  }
  return data;
}

function randomScale(): number {
  const r = next();
  if (r < 0.05) return pick([2 ** -126, 2 ** 126, 2 ** -100, 1e30]);
  if (r < 0.3) return 2 ** Math.floor(next() * 20 - 10); // powers of two: exact reciprocals, exact ties
  return Math.exp(next() * 12 - 8); // float64, not float32 values
}

function randomShape(): number[] {
  for (;;) {
    const rank = 1 + Math.floor(next() * 4);
    const shape = Array.from({ length: rank }, () => pick([1, 2, 3, 4, 5, 7, 8, 16, 17, 33]));
    if (shape.reduce((a, b) => a * b, 1) <= 20000) return shape;
  }
}

function randomParams(shape: number[], dtype: QDType): PerTensorParams | PerChannelParams | PerGroupParams {
  const info = dtypeInfo(dtype);
  const zeroPoint = (): number => (info.bits === 32 ? Math.floor(next() * 200 - 100) : info.qmin + Math.floor(next() * (info.qmax - info.qmin + 1)));
  const kind = pick(['tensor', 'channel', 'group'] as const);
  if (kind === 'tensor') return { scale: randomScale(), zeroPoint: zeroPoint() };
  const axis = Math.floor(next() * shape.length) - (next() < 0.3 ? shape.length : 0);
  const normalized = axis < 0 ? axis + shape.length : axis;
  if (kind === 'channel') {
    const channels = shape[normalized]!;
    return { scales: Array.from({ length: channels }, randomScale), zeroPoints: Array.from({ length: channels }, zeroPoint), axis };
  }
  const groupSize = pick([1, 2, 3, 4, 5, 8, 32]);
  const count = groupParamCount(shape, normalized, groupSize);
  return { scales: Array.from({ length: count }, randomScale), zeroPoints: Array.from({ length: count }, zeroPoint), axis, groupSize };
}

describe(`CPU SIMD kernels against the reference (seed ${RUN_SEED})`, () => {
  it('loads in Node', () => {
    expect(simdKernels()).toBeDefined();
  });

  it('quantize and dequantize agree bit for bit on random layouts, dtypes and edge values', () => {
    const reused = new Float32Array(1 << 16).fill(Number.NaN);
    for (let trial = 0; trial < 200; trial++) {
      const shape = randomShape();
      const dtype = pick(QDTYPES);
      const info = dtypeInfo(dtype);
      const params = checkQParams(shape, dtype, randomParams(shape, dtype));
      const typical = params.scheme === 'per_tensor_affine' ? params.scale : params.scales[0]!;
      const data = edgyData(shape.reduce((a, b) => a * b, 1), typical, Math.min(info.qmax, 1000));
      const input = { data, shape, backend: 'cpu' as const };
      const what = `${dtype} ${params.scheme} shape [${shape}] ${'axis' in params ? `axis ${params.axis}` : ''} ${'groupSize' in params ? `group ${params.groupSize}` : ''}`;
      const expected = quantizeWithParams(input, params, info);
      const actual = cpuQuantize(input, params, info);
      expectExact(actual.intReprView(), expected.intReprView(), `quantize ${what}`);
      expect(actual.intReprView().constructor).toBe(expected.intReprView().constructor);
      expectBits(cpuDequantize(actual).data, dequantize(expected).data, `dequantize ${what}`);
      // Into a caller's array used again (dirty from the trial before): its start, the same bits.
      const into = cpuDequantize(actual, reused);
      expectBits(into.data, dequantize(expected).data, `dequantize into ${what}`);
      // (The SIMD kernel's results: per channel, scales that are not float32 values go to the reference.)
      const simd = actual.size > 0 && dtype !== 'qint32' && !(params.scheme === 'per_channel_affine' && params.scales.some((v) => Math.fround(v) !== v));
      if (simd) expect(into.data.buffer).toBe(reused.buffer);
    }
  });

  it('quantize agrees on long runs and columns (the vector loops and their tails)', () => {
    for (const [shape, axis, groupSize] of [[[3, 1000], 0, undefined], [[1000, 37], 1, undefined], [[5, 999], 1, 32], [[70, 33], 0, 16], [[4, 3, 257], 1, undefined],
      // more elements than one piece of the walk (walkPieces): split across rows, channels and groups
      [[300, 257], 0, undefined], [[257, 300], 1, undefined], [[257, 300], 1, 32], [[2, 40001], 1, 16], [[40000, 2], 0, undefined], [[3, 20000, 2], 1, 5]] as const) {
      for (const dtype of shape.reduce((a, b) => a * b, 1) > 20000 ? ['qint8', 'quint4'] as const : ['qint8', 'quint8', 'qint4', 'quint4'] as const) {
        const info = dtypeInfo(dtype);
        const count = groupSize === undefined ? shape[axis]! : groupParamCount(shape, axis, groupSize);
        const scales = Array.from({ length: count }, randomScale);
        const zeroPoints = Array.from({ length: count }, () => info.qmin + Math.floor(next() * (info.qmax - info.qmin + 1)));
        const params = checkQParams(shape, dtype, groupSize === undefined ? { scales, zeroPoints, axis } : { scales, zeroPoints, axis, groupSize });
        const input = { data: edgyData(shape.reduce((a, b) => a * b, 1), scales[0]!, info.qmax), shape: [...shape], backend: 'cpu' as const };
        const q = cpuQuantize(input, params, info);
        expectExact(q.intReprView(), quantizeWithParams(input, params, info).intReprView(), `${dtype} [${shape}] axis ${axis}`);
        const floatScales = checkQParams(shape, dtype, groupSize === undefined
          ? { scales: Float32Array.from(scales), zeroPoints, axis } : { scales: Float32Array.from(scales), zeroPoints, axis, groupSize });
        const q32 = cpuQuantize(input, floatScales, info);
        expectBits(cpuDequantize(q32).data, dequantize(q32).data, `dequantize ${dtype} [${shape}] axis ${axis}`);
      }
    }
  });

  it('min/max agree bit for bit per tensor, channel and group, and report the first NaN', () => {
    for (let trial = 0; trial < 300; trial++) {
      const shape = randomShape();
      const size = shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(size);
      for (let i = 0; i < size; i++) data[i] = next() < 0.05 ? pick([0, -0, Infinity, -Infinity, 1e-45, -1e-40]) : (next() * 2 - 1) * 100;
      if (trial % 5 === 0) data[Math.floor(next() * size)] = NaN;
      const axis = Math.floor(next() * shape.length);
      const granularity = pick(['per_tensor', { axis }, { axis, groupSize: pick([1, 2, 3, 4, 32]) }] as const);
      const layout = reductionLayout(shape, granularity);
      const expected = minMaxOfLayout(data, layout);
      const actual = cpuMinMax(data, layout);
      const what = `[${shape}] ${JSON.stringify(granularity)}`;
      expectBits(actual.mins, expected.mins, `mins ${what}`);
      expectBits(actual.maxs, expected.maxs, `maxs ${what}`);
      expect(actual.firstNaN, what).toBe(expected.firstNaN);
    }
  });

  it('per tensor over many pieces: quantize, dequantize and min/max', () => {
    expect(walkPieces({ outer: 1, channels: 100003, inner: 1, groupSize: 100003, strideOuter: 0, strideGroup: 0, strideInner: 0 }).length).toBe(4);
    for (const dtype of ['qint8', 'quint4'] as const) {
      const info = dtypeInfo(dtype);
      const params = checkQParams([100003], dtype, { scale: 0.01, zeroPoint: info.qmin + 3 });
      const input = { data: edgyData(100003, 0.01, info.qmax).map((v) => (Number.isNaN(v) ? 1 : v)), shape: [100003], backend: 'cpu' as const };
      const q = cpuQuantize(input, params, info);
      expectExact(q.intReprView(), quantizeWithParams(input, params, info).intReprView(), `${dtype} per tensor`);
      expectBits(cpuDequantize(q).data, dequantize(q).data, `dequantize ${dtype} per tensor`);
      for (const granularity of ['per_tensor', { axis: 0 }, { axis: 0, groupSize: 7 }] as const) {
        const layout = reductionLayout(input.shape, granularity);
        const actual = cpuMinMax(input.data, layout);
        const expected = minMaxOfLayout(input.data, layout);
        expectBits(actual.mins, expected.mins, `mins ${JSON.stringify(granularity)}`);
        expectBits(actual.maxs, expected.maxs, `maxs ${JSON.stringify(granularity)}`);
      }
    }
  });

  it('empty tensors and qint32 take the reference and still agree', () => {
    const empty = { data: new Float32Array(0), shape: [0, 4], backend: 'cpu' as const };
    const params = checkQParams(empty.shape, 'qint8', { scales: [1, 1, 1, 1], zeroPoints: [0, 0, 0, 0], axis: 1 });
    expect(cpuQuantize(empty, params, dtypeInfo('qint8')).size).toBe(0);
    const input = { data: Float32Array.of(1.5, -2.5, 3e9, NaN), shape: [4], backend: 'cpu' as const };
    const p32 = checkQParams(input.shape, 'qint32', { scale: 0.5, zeroPoint: 3 });
    expectExact(cpuQuantize(input, p32, dtypeInfo('qint32')).intReprView(), quantizeWithParams(input, p32, dtypeInfo('qint32')).intReprView(), 'qint32');
  });

  it('error statistics agree bit for bit with the reference (overall, per channel on any axis, per group)', () => {
    for (let trial = 0; trial < 80; trial++) {
      const shape = randomShape();
      const dtype = pick(['qint8', 'quint8', 'qint4', 'quint4'] as const);
      const info = dtypeInfo(dtype);
      const params = checkQParams(shape, dtype, randomParams(shape, dtype));
      const typical = params.scheme === 'per_tensor_affine' ? params.scale : params.scales[0]!;
      const data = edgyData(shape.reduce((a, b) => a * b, 1), typical, info.qmax).map((v) => (Number.isNaN(v) ? 0 : v));
      const input = { data, shape, backend: 'cpu' as const };
      const q = cpuQuantize(input, params, info);
      const axis = Math.floor(next() * shape.length);
      const opts = pick([{}, { axis }, { axis, groupSize: pick([1, 2, 3, 32]) }]);
      const other = pick([q, { data: dequantize(q).data, shape, backend: 'cpu' as const }]);
      const expected = errorStats(input, other, opts);
      const actual = cpuErrorStats(checkErrorStatsArguments(input, other, opts));
      expect(actual, `${JSON.stringify(opts)} [${shape}] ${params.scheme}`).toStrictEqual(expected);
    }
  });

  it('error statistics agree bit for bit over many pieces (the cursors carry across pieces, runs of one row, of one group and of columns cross them), with per-group buckets in a pass of their own, and on the fallback', () => {
    for (const [shape, qAxis, groupSize, statsAxis, statsGroup] of [[[300, 257], 0, undefined, 1, undefined], [[257, 300], 1, undefined, 0, 7],
      [[2, 40001], 1, 16, 1, 16], [[40000, 2], undefined, undefined, 1, 3], [[3, 20000, 2], 1, 5, 2, undefined], [[100003], undefined, undefined, undefined, undefined],
      [[300, 257], 0, undefined, 0, undefined], [[300, 257], undefined, undefined, 0, undefined], [[300, 257], 0, undefined, undefined, undefined],
      [[257, 300], 1, undefined, 1, undefined], [[130, 3, 101], 2, undefined, 2, undefined], [[300, 257], undefined, undefined, 1, undefined],
      [[101, 320], 1, 32, 0, undefined], [[101, 320], 1, 16, undefined, undefined], [[101, 330], 1, 33, 0, undefined],
      // Per-group buckets that are runs (whole groups of 16 or more on the last axis): a second pass of their own.
      [[101, 320], 1, 32, 1, 32], [[4, 40000], 1, 32, 1, 16], [[3, 40000], 0, undefined, 1, 40], [[5, 8192], undefined, undefined, 1, 64],
      // A parameter row per element and one channel bucket (or none) along each run: groups along the first axis
      // (MatMulNBits' layout), per channel on the last axis with statistics along the first; runs crossing pieces.
      [[96, 1001], 0, 32, 0, undefined], [[96, 1001], 0, 32, undefined, undefined], [[70, 40001], 0, 16, 0, undefined],
      [[33, 4096], 0, 32, 0, undefined]] as const) {
      for (const dtype of shape[0] === 300 ? ['qint8', 'quint4', 'qint4', 'qint32'] as const : ['qint8', 'quint4', 'qint4'] as const) {
        const info = dtypeInfo(dtype);
        const zeroPoint = () => info.qmin + Math.floor(next() * Math.min(info.qmax - info.qmin + 1, 200));
        const count = qAxis === undefined ? 1 : groupSize === undefined ? shape[qAxis]! : groupParamCount(shape, qAxis, groupSize);
        const scales = Float32Array.from({ length: count }, randomScale);
        const zeroPoints = Array.from({ length: count }, zeroPoint);
        const params = checkQParams(shape, dtype, qAxis === undefined ? { scale: scales[0]!, zeroPoint: zeroPoints[0]! }
          : groupSize === undefined ? { scales, zeroPoints, axis: qAxis } : { scales, zeroPoints, axis: qAxis, groupSize });
        const data = edgyData(shape.reduce((a, b) => a * b, 1), scales[0]!, Math.min(info.qmax, 1000)).map((v) => (Number.isNaN(v) ? -0 : v));
        const input = { data, shape: [...shape], backend: 'cpu' as const };
        const q = cpuQuantize(input, params, info);
        // 4-bit integers held packed (as a reader loads them): the statistics unpack them a piece at a time.
        const packed = info.bits === 4 ? new QTensor({ nibbles: packNibbles(q.intReprView()) }, [...shape], dtype, params, 'cpu') : undefined;
        const opts = statsAxis === undefined ? {} : statsGroup === undefined ? { axis: statsAxis } : { axis: statsAxis, groupSize: statsGroup };
        for (const other of [q, ...(packed ? [packed] : []), { data: dequantize(q).data, shape: [...shape], backend: 'cpu' as const }]) {
          const what = `${dtype} [${shape}] ${JSON.stringify(opts)} ${other === q ? 'grid' : other === packed ? 'packed grid' : 'values'}`;
          const actual = cpuErrorStats(checkErrorStatsArguments(input, other, opts));
          if (other === packed) expect(packed.packedNibbles, `${what}: still packed after the statistics`).toBeDefined();
          expectSameStats(actual, errorStats(input, other, opts), what);
        }
      }
    }
  });

  it('scans find the first non-finite value and the first NaN, and max |x|, as plain loops do', () => {
    for (let trial = 0; trial < 120; trial++) {
      const n = pick([1, 3, 4, 5, 16, 17, 64, 1000, 32768, 32771, 70001]);
      const data = Float32Array.from({ length: n }, () => (next() < 0.01 ? pick([0, -0, 1e-45, -3e38, 2 ** -126]) : (next() * 2 - 1) * 10));
      const specials = Math.floor(next() * 3);
      for (let k = 0; k < specials; k++) data[Math.floor(next() * n)] = pick([NaN, Infinity, -Infinity]);
      let nonFinite = -1;
      let nan = -1;
      let peak = 0;
      for (let i = 0; i < n; i++) {
        if (nonFinite < 0 && !Number.isFinite(data[i]!)) nonFinite = i;
        if (nan < 0 && Number.isNaN(data[i]!)) nan = i;
        peak = Math.max(peak, Math.abs(data[i]!));
      }
      expect(firstNonFinite(data), `firstNonFinite n ${n}`).toBe(nonFinite);
      expect(firstNaN(data), `firstNaN n ${n}`).toBe(nan);
      expect(Object.is(maxAbs(data), peak), `maxAbs n ${n}: ${maxAbs(data)} vs ${peak}`).toBe(true);
      expect(scanFinite(data), `scanFinite n ${n}`).toStrictEqual({ firstNonFinite: nonFinite, maxAbs: nonFinite < 0 ? peak : NaN });
    }
    expect([firstNonFinite(new Float32Array(0)), firstNaN(new Float32Array(0)), maxAbs(new Float32Array(0))]).toEqual([-1, -1, 0]);
  });
});
