// cpuQuantizeErrorSums: a quantization measured and not kept, in one pass, gives cpuErrorSums' overall sums of
// cpuQuantize's integers to the bit (Σe², Σx², Σx̂², Σx·x̂, max |e|, clipped, nonFinite), on fresh random weights
// with ties at k + 0.5 of the scale, ±0, values past the grid, zero points, per channel and per group along every
// axis, 8 and 4 bits, held in the kernels' memory or not, going on from a carry block after block; an x̂ that
// overflows float32 is counted as the error kernel counts it. Per tensor, 32 bits and an empty tensor are not its.
import { afterEach, describe, expect, it } from 'vitest';
import { dtypeInfo } from '../../src/dtype.js';
import { cpuErrorSums } from '../../src/kernels/cpu/cpu-error-stats.js';
import { cpuQuantizeErrorSums, cpuQuantizeErrorsPair } from '../../src/kernels/cpu/cpu-quantize-measure.js';
import { cpuQuantize } from '../../src/kernels/cpu/cpu-quantize.js';
import { type HeldFloat32, holdFloat32, scratchBoundOf } from '../../src/kernels/cpu/simd-module.js';
import { type QParams, checkQParams } from '../../src/qtensor.js';
import { checkErrorStatsArguments } from '../../src/stats/arguments.js';
import { groupParamCount } from '../../src/validate.js';
import { RUN_SEED, rng, tieWeights } from './support.js';

const next = rng(RUN_SEED + 71);
let slot: HeldFloat32 | undefined;
afterEach(() => {
  slot?.release();
  slot = undefined;
});

const weights = (n: number, scale: number): Float32Array => tieWeights(n, scale, next);

/** The carry cpuErrorSums leaves for cpuQuantize's integers of each block in turn. */
function twoPasses(blocks: { x: Float32Array; shape: number[]; first?: number }[], params: (shape: number[], first: number) => QParams, dtype: Parameters<typeof dtypeInfo>[0]): Float64Array {
  const carry = new Float64Array(8);
  for (const { x, shape, first } of blocks) {
    const q = cpuQuantize({ data: x, shape }, params(shape, first ?? 0), dtypeInfo(dtype));
    cpuErrorSums(checkErrorStatsArguments({ data: x, shape }, q, {}), carry);
  }
  return carry;
}

const bitsOf = (a: Float64Array) => Array.from(new BigUint64Array(a.buffer, a.byteOffset, a.length), (b) => b.toString(16));

describe(`cpuQuantizeErrorSums (seed ${RUN_SEED})`, () => {
  it('gives the error kernel\'s overall sums of the quantize kernel\'s integers, to the bit, block after block', () => {
    const cases: [number[], number, number | undefined][] = [
      [[300, 257], 0, undefined], [[257, 300], 1, undefined], [[256, 300], 0, 32], [[257, 300], 1, 32], [[2, 40001], 1, 16],
      [[3, 2000, 7], 1, 5], [[1000, 33], 0, 32], [[64, 4096], 0, 128], [[128, 1024], 1, undefined], [[40, 7], 0, 8],
    ];
    for (const [shape, axis, groupSize] of cases) {
      for (const dtype of ['qint8', 'quint8', 'qint4', 'quint4'] as const) {
        const info = dtypeInfo(dtype);
        const count = groupSize === undefined ? shape[axis]! : groupParamCount(shape, axis, groupSize);
        const scales = Float32Array.from({ length: count }, () => 0.01 * 2 ** Math.floor(next() * 4) * (1 + next()));
        const zeroPoints = Array.from({ length: count }, () => (info.signed && next() < 0.5 ? 0 : info.qmin + Math.floor(next() * (info.qmax - info.qmin + 1))));
        const whole = checkQParams(shape, dtype, groupSize === undefined ? { scales, zeroPoints, axis } : { scales, zeroPoints, axis, groupSize });
        const n = shape.reduce((a, b) => a * b, 1);
        const data = weights(n, 0.01);
        const what = `${dtype} ${JSON.stringify(shape)} axis ${axis} group ${groupSize}`;
        // Whole, from a plain array and from one held in the kernels' memory.
        const expected = twoPasses([{ x: data, shape }], () => whole, dtype);
        expect(expected[5], `${what}: some values clip`).toBeGreaterThan(0);
        const carry = new Float64Array(8);
        expect(cpuQuantizeErrorSums({ data, shape }, whole, info, carry), what).toBe(true);
        expect(bitsOf(carry), what).toEqual(bitsOf(expected));
        slot = holdFloat32(n, scratchBoundOf(n, count, Math.max(...shape)));
        slot!.data.set(data);
        const heldCarry = new Float64Array(8);
        expect(cpuQuantizeErrorSums({ data: slot!.data, shape }, whole, info, heldCarry), `${what} held`).toBe(true);
        expect(bitsOf(heldCarry), `${what} held`).toEqual(bitsOf(expected));
        slot!.release();
        slot = undefined;
        // Blocks of rows along a first axis that is not the parameters' (each block the whole parameter table)
        // or is (each block its own rows of it), going on from the carry.
        if (axis !== 0 && shape[0]! >= 3) {
          const rows = Math.ceil(shape[0]! / 3);
          const rowElements = n / shape[0]!;
          // Groups: a row of the first axis has its own parameters (the table is [shape[0], ...]); channels share them.
          const perRow = groupSize === undefined ? 0 : count / shape[0]!;
          const blocks = [0, rows, 2 * rows].filter((r) => r < shape[0]!).map((r) => {
            const blockShape = [Math.min(rows, shape[0]! - r), ...shape.slice(1)];
            return { x: data.subarray(r * rowElements, (r + blockShape[0]!) * rowElements), shape: blockShape, first: r };
          });
          const paramsOf = (blockShape: number[], first: number) => {
            const [s, z] = perRow ? [scales.subarray(first * perRow, (first + blockShape[0]!) * perRow), zeroPoints.slice(first * perRow, (first + blockShape[0]!) * perRow)] : [scales, zeroPoints];
            return checkQParams(blockShape, dtype, groupSize === undefined ? { scales: s, zeroPoints: z, axis } : { scales: s, zeroPoints: z, axis, groupSize });
          };
          const inBlocks = new Float64Array(8);
          for (const block of blocks) expect(cpuQuantizeErrorSums({ data: block.x, shape: block.shape }, paramsOf(block.shape, block.first), info, inBlocks)).toBe(true);
          expect(bitsOf(inBlocks), `${what} in blocks`).toEqual(bitsOf(twoPasses(blocks, paramsOf, dtype)));
          expect(bitsOf(inBlocks), `${what} in blocks, as whole`).toEqual(bitsOf(expected));
        }
      }
    }
  });

  it('an x̂ past float32 is counted as not finite and left out of the sums, as the error kernel does', () => {
    const shape = [8, 20];
    const data = Float32Array.from({ length: 160 }, (_, i) => (i % 7 === 3 ? 3.4028234663852886e38 : (i % 5 === 1 ? -3.3e38 : (next() - 0.5) * 1e37)));
    const scales = Float32Array.from({ length: 20 }, (_, c) => (c % 2 ? 2.6e36 : 1e35));
    const params = checkQParams(shape, 'quint8', { scales, zeroPoints: new Array(20).fill(0), axis: 1 });
    const expected = twoPasses([{ x: data, shape }], () => params, 'quint8');
    expect(expected[6], 'some x̂ overflow').toBeGreaterThan(0);
    const carry = new Float64Array(8);
    expect(cpuQuantizeErrorSums({ data, shape }, params, dtypeInfo('quint8'), carry)).toBe(true);
    expect(bitsOf(carry)).toEqual(bitsOf(expected));
  });

  it('leaves per tensor, 32 bits and empty tensors to the two passes, the carry untouched', () => {
    const carry = Float64Array.of(1, 2, 3, 4, 5, 6, 7, 8);
    const data = weights(64, 0.01);
    expect(cpuQuantizeErrorSums({ data, shape: [8, 8] }, checkQParams([8, 8], 'qint8', { scale: 0.01, zeroPoint: 0 }), dtypeInfo('qint8'), carry)).toBe(false);
    expect(cpuQuantizeErrorSums({ data, shape: [8, 8] }, checkQParams([8, 8], 'qint32', { scales: new Array(8).fill(0.01), zeroPoints: new Array(8).fill(0), axis: 0 }), dtypeInfo('qint32'), carry)).toBe(false);
    expect(cpuQuantizeErrorSums({ data: new Float32Array(0), shape: [0, 8] }, checkQParams([0, 8], 'qint8', { scales: new Array(8).fill(0.01), zeroPoints: new Array(8).fill(0), axis: 1 }), dtypeInfo('qint8'), carry)).toBe(false);
    expect(Array.from(carry)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });
});

describe(`cpuQuantizeErrorsPair (seed ${RUN_SEED})`, () => {
  /** Per-group parameters along the rows of `shape`, some zero points off zero and some scales small enough to clip. */
  const groupParams = (shape: number[], groupSize: number, dtype: 'qint4' | 'quint4' | 'qint8') => {
    const info = dtypeInfo(dtype);
    const count = groupParamCount(shape, 0, groupSize);
    const scales = Float32Array.from({ length: count }, () => 0.01 * 2 ** Math.floor(next() * 4) * (1 + next()));
    const zeroPoints = Array.from({ length: count }, () => (info.signed && next() < 0.5 ? 0 : info.qmin + Math.floor(next() * (info.qmax - info.qmin + 1))));
    return checkQParams(shape, dtype, { scales, zeroPoints, axis: 0, groupSize });
  };
  const picked = (carry: Float64Array) => bitsOf(Float64Array.of(carry[0]!, carry[1]!, carry[4]!));

  it('gives each option\'s Σe², the values\' Σx² and each max |e| as measured alone, to the bit, held or not, block after block', () => {
    const cases: [number[], number, number, 'qint4' | 'quint4' | 'qint8'][] = [
      [[500, 40], 32, 64, 'qint4'], [[1024, 72], 32, 128, 'qint4'], [[257, 8], 16, 32, 'quint4'], [[130, 4], 64, 32, 'qint8'], [[3, 4096], 2, 1, 'qint4'],
    ];
    for (const [shape, groupA, groupB, dtype] of cases) {
      const info = dtypeInfo(dtype);
      const n = shape[0]! * shape[1]!;
      const data = weights(n, 0.01);
      const [a, b] = [groupParams(shape, groupA, dtype), groupParams(shape, groupB, dtype)];
      const what = `${dtype} ${JSON.stringify(shape)} groups of ${groupA} and ${groupB}`;
      const [aloneA, aloneB] = [new Float64Array(8), new Float64Array(8)];
      expect(cpuQuantizeErrorSums({ data, shape }, a, info, aloneA)).toBe(true);
      expect(cpuQuantizeErrorSums({ data, shape }, b, info, aloneB)).toBe(true);
      expect(aloneA[5], `${what}: some values clip`).toBeGreaterThan(0);
      const carries: [Float64Array, Float64Array] = [Float64Array.of(0, 0, 7, 7, 0, 7, 7, 7), Float64Array.of(0, 0, 9, 9, 0, 9, 9, 9)];
      expect(cpuQuantizeErrorsPair({ data, shape }, a, b, info, carries), what).toBe(true);
      expect(picked(carries[0]), `${what}: the first`).toEqual(picked(aloneA));
      expect(picked(carries[1]), `${what}: the second`).toEqual(picked(aloneB));
      expect([carries[0][2], carries[0][5], carries[1][3], carries[1][6]], `${what}: the other sums left`).toEqual([7, 7, 9, 9]);
      // Held in the kernels' memory, read in place.
      const paramCount = (p: QParams) => (p as Extract<QParams, { scheme: 'per_group_affine' }>).scales.length;
      slot = holdFloat32(n, scratchBoundOf(n, paramCount(a) + paramCount(b), Math.max(...shape)));
      slot!.data.set(data);
      const held: [Float64Array, Float64Array] = [new Float64Array(8), new Float64Array(8)];
      expect(cpuQuantizeErrorsPair({ data: slot!.data, shape }, a, b, info, held), `${what} held`).toBe(true);
      expect([picked(held[0]), picked(held[1])], `${what} held`).toEqual([picked(aloneA), picked(aloneB)]);
      slot!.release();
      slot = undefined;
      // Blocks of whole groups of both, going on from the carries.
      const rows = Math.max(groupA, groupB) * Math.max(1, Math.floor(shape[0]! / (3 * Math.max(groupA, groupB))));
      if (rows < shape[0]!) {
        const inBlocks: [Float64Array, Float64Array] = [new Float64Array(8), new Float64Array(8)];
        for (let r = 0; r < shape[0]!; r += rows) {
          const blockShape = [Math.min(rows, shape[0]! - r), shape[1]!];
          const slice = (p: QParams, g: number) => {
            const q = p as Extract<QParams, { scheme: 'per_group_affine' }>;
            const [from, to] = [(r / g) * shape[1]!, Math.ceil((r + blockShape[0]!) / g) * shape[1]!];
            return checkQParams(blockShape, dtype, { scales: q.scales.subarray(from, to), zeroPoints: Array.from(q.zeroPoints.subarray(from, to)), axis: 0, groupSize: g });
          };
          expect(cpuQuantizeErrorsPair({ data: data.subarray(r * shape[1]!, (r + blockShape[0]!) * shape[1]!), shape: blockShape }, slice(a, groupA), slice(b, groupB), info, inBlocks)).toBe(true);
        }
        expect([picked(inBlocks[0]), picked(inBlocks[1])], `${what} in blocks`).toEqual([picked(aloneA), picked(aloneB)]);
      }
    }
  });

  it('leaves other layouts to the passes alone, the carries untouched: rows not a multiple of 4, groups along the last axis, per channel', () => {
    const carries: [Float64Array, Float64Array] = [Float64Array.of(1, 2, 3, 4, 5, 6, 7, 8), Float64Array.of(1, 2, 3, 4, 5, 6, 7, 8)];
    const info = dtypeInfo('qint4');
    const data = weights(64 * 6, 0.01);
    const odd = { data, shape: [64, 6] };
    expect(cpuQuantizeErrorsPair(odd, groupParams([64, 6], 32, 'qint4'), groupParams([64, 6], 64, 'qint4'), info, carries)).toBe(false);
    const wide = { data, shape: [6, 64] };
    const lastAxis = checkQParams([6, 64], 'qint4', { scales: new Array(12).fill(0.01), zeroPoints: new Array(12).fill(0), axis: 1, groupSize: 32 });
    expect(cpuQuantizeErrorsPair(wide, lastAxis, groupParams([6, 64], 2, 'qint4'), info, carries)).toBe(false);
    const perChannel = checkQParams([6, 64], 'qint4', { scales: new Array(64).fill(0.01), zeroPoints: new Array(64).fill(0), axis: 1 });
    expect(cpuQuantizeErrorsPair(wide, groupParams([6, 64], 2, 'qint4'), perChannel, info, carries)).toBe(false);
    expect(carries.map((c) => Array.from(c))).toEqual([[1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4, 5, 6, 7, 8]]);
  });
});
