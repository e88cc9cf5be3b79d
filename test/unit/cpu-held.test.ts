// A weight held in the CPU kernels' memory (holdFloat32): every pass reads it in place and gives the same bits
// as on an ordinary array and as the reference; while it is held the memory never grows (the view stays
// attached), passes that would need more memory run on the reference, and only one array is held at a time.
import { afterEach, describe, expect, it } from 'vitest';
import { reductionLayout } from '../../src/calibration/granularity.js';
import { dtypeInfo } from '../../src/dtype.js';
import { cpuErrorStats } from '../../src/kernels/cpu/cpu-error-stats.js';
import { cpuMinMax } from '../../src/kernels/cpu/cpu-minmax.js';
import { cpuQuantize } from '../../src/kernels/cpu/cpu-quantize.js';
import { firstNaN, firstNonFinite, maxAbs, scanFinite } from '../../src/kernels/cpu/cpu-scan.js';
import { type HeldFloat32, holdFloat32, scratchBoundOf, simdKernels } from '../../src/kernels/cpu/simd-module.js';
import { checkQParams } from '../../src/qtensor.js';
import { quantizeWithParams } from '../../src/reference/index.js';
import { minMaxOfLayout } from '../../src/reference/minmax.js';
import { checkErrorStatsArguments } from '../../src/stats/arguments.js';
import { groupParamCount } from '../../src/validate.js';
import { RUN_SEED, expectBits, expectExact, expectSameStats, rng, tieWeights } from './support.js';

const next = rng(RUN_SEED);
let slots: HeldFloat32[] = [];
afterEach(() => {
  for (const slot of slots) slot.release();
  slots = [];
});

function hold(count: number, scratch: number): HeldFloat32 {
  const slot = holdFloat32(count, scratch);
  if (!slot) throw new Error('holdFloat32 refused');
  slots.push(slot);
  return slot;
}

const weights = (n: number, scale: number): Float32Array => tieWeights(n, scale, next);

describe(`CPU kernels on a held weight (seed ${RUN_SEED})`, () => {
  it('every pass gives the bits of an ordinary array: quantize (4 and 8 bits, per tensor / channel / group), min/max, scans, statistics', () => {
    for (const [shape, axis, groupSize] of [[[300, 257], 0, undefined], [[257, 300], 1, undefined], [[257, 300], 1, 32], [[2, 40001], 1, 16],
      [[40000, 2], undefined, undefined], [[3, 2000, 7], 1, 5], [[1000, 33], 0, 32]] as const) {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = weights(n, 0.01);
      const slot = hold(n, scratchBoundOf(n, axis === undefined ? 1 : groupSize === undefined ? shape[axis]! : groupParamCount(shape, axis, groupSize), Math.max(...shape)));
      slot.data.set(data);
      expect(simdKernels()!.heldOffset(slot.data)).toBe(slot.data.byteOffset);
      expect(simdKernels()!.heldOffset(data)).toBeUndefined();
      const bytesBefore = simdKernels()!.memory.buffer.byteLength;
      for (const dtype of ['qint8', 'quint8', 'qint4', 'quint4'] as const) {
        const info = dtypeInfo(dtype);
        const count = axis === undefined ? 1 : groupSize === undefined ? shape[axis]! : groupParamCount(shape, axis, groupSize);
        const scales = Float32Array.from({ length: count }, () => 0.01 * 2 ** Math.floor(next() * 4));
        const zeroPoints = Array.from({ length: count }, () => (info.signed ? 0 : info.qmin + Math.floor(next() * (info.qmax - info.qmin + 1))));
        const params = checkQParams([...shape], dtype, axis === undefined ? { scale: scales[0]!, zeroPoint: zeroPoints[0]! }
          : groupSize === undefined ? { scales, zeroPoints, axis } : { scales, zeroPoints, axis, groupSize });
        const what = `${dtype} [${shape}] axis ${axis} group ${groupSize}`;
        const plain = { data, shape: [...shape], backend: 'cpu' as const };
        const held = { data: slot.data, shape: [...shape], backend: 'cpu' as const };
        const expected = quantizeWithParams(plain, params, info);
        const q = cpuQuantize(held, params, info);
        expectExact(q.intReprView(), expected.intReprView(), `quantize ${what}`);
        expectExact(q.intReprView(), cpuQuantize(plain, params, info).intReprView(), `quantize ${what}, ordinary array`);
        for (const opts of [{}, { axis: axis ?? 0 }, { axis: axis ?? 0, groupSize: groupSize ?? 3 }]) {
          expectSameStats(cpuErrorStats(checkErrorStatsArguments(held, q, opts)), cpuErrorStats(checkErrorStatsArguments(plain, expected, opts)),
            `stats ${what} ${JSON.stringify(opts)}`);
        }
      }
      for (const granularity of ['per_tensor', { axis: axis ?? 0 }, { axis: axis ?? 0, groupSize: groupSize ?? 7 }] as const) {
        const layout = reductionLayout([...shape], granularity);
        const actual = cpuMinMax(slot.data, layout);
        const expected = minMaxOfLayout(data, layout);
        expectBits(actual.mins, expected.mins, `mins [${shape}] ${JSON.stringify(granularity)}`);
        expectBits(actual.maxs, expected.maxs, `maxs [${shape}] ${JSON.stringify(granularity)}`);
      }
      expect(scanFinite(slot.data)).toStrictEqual(scanFinite(data));
      expect(maxAbs(slot.data)).toBe(maxAbs(data));
      expect(simdKernels()!.memory.buffer.byteLength, 'the memory did not grow while held').toBe(bytesBefore);
      expect(slot.data.length, 'the held view is still attached').toBe(n);
      expectBits(slot.data, data, `held data [${shape}] unchanged by the passes`);
      slot.release();
    }
  });

  it('scans find the first NaN and ±Infinity in a held array, and a part of it is read in place too', () => {
    const n = 70001;
    const data = weights(n, 0.5);
    const slot = hold(n, scratchBoundOf(n, 1, n));
    slot.data.set(data);
    expect(firstNonFinite(slot.data)).toBe(-1);
    slot.data[50000] = Infinity;
    slot.data[60000] = NaN;
    expect(firstNonFinite(slot.data)).toBe(50000);
    expect(firstNaN(slot.data)).toBe(60000);
    expect(scanFinite(slot.data)).toStrictEqual({ firstNonFinite: 50000, maxAbs: NaN });
    const part = slot.data.subarray(100, 40000);
    expect(simdKernels()!.heldOffset(part)).toBe(part.byteOffset);
    expect(maxAbs(part)).toBe(maxAbs(data.subarray(100, 40000)));
  });

  it('with too little scratch the passes run on the reference, the memory does not grow, and the bits are the same', () => {
    const shape = [64, 300];
    const n = 64 * 300;
    hold(n, 0).release();
    // The whole memory held: no room for any scratch above it.
    const slot = hold(Math.floor(simdKernels()!.memory.buffer.byteLength / 4), 0);
    const bytes = simdKernels()!.memory.buffer.byteLength;
    const data = weights(n, 0.02);
    const heldData = slot.data.subarray(0, n);
    heldData.set(data);
    expect(simdKernels()!.reserve([16]), 'no scratch left').toBeUndefined();
    const held = { data: heldData, shape, backend: 'cpu' as const };
    const plain = { data, shape, backend: 'cpu' as const };
    for (const groupSize of [1, 32]) {
      const count = groupParamCount(shape, 1, groupSize);
      const params = checkQParams(shape, 'qint8', { scales: new Float32Array(count).fill(0.02), zeroPoints: new Array(count).fill(0), axis: 1, groupSize });
      const q = cpuQuantize(held, params, dtypeInfo('qint8'));
      expectExact(q.intReprView(), quantizeWithParams(plain, params, dtypeInfo('qint8')).intReprView(), `group ${groupSize}`);
      expectSameStats(cpuErrorStats(checkErrorStatsArguments(held, q, { axis: 1, groupSize })), cpuErrorStats(checkErrorStatsArguments(plain, q, { axis: 1, groupSize })), `stats group ${groupSize}`);
      const layout = reductionLayout(shape, { axis: 1, groupSize });
      expectBits(cpuMinMax(heldData, layout).maxs, minMaxOfLayout(data, layout).maxs, `maxs group ${groupSize}`);
    }
    expect(scanFinite(heldData)).toStrictEqual(scanFinite(data));
    expect(simdKernels()!.memory.buffer.byteLength).toBe(bytes);
    expect(heldData.length).toBe(n);
  });

  it('holds one array at a time; release frees the place, and twice is harmless', () => {
    const first = hold(1000, 0);
    expect(holdFloat32(10, 0)).toBeUndefined();
    expect(holdFloat32(0, 0)).toBeUndefined();
    first.release();
    first.release();
    const second = hold(10, 0);
    expect(simdKernels()!.heldOffset(first.data), 'a released view is no longer held').toBeUndefined();
    expect(second.data.length).toBe(10);
    expect(holdFloat32(2 ** 30, 0), 'past the memory limit').toBeUndefined();
  });
});
