// The size budget's int4 group options of a weight in a file, measured together from one read
// (measure-groups-in-blocks.ts), give each option's errors (mean square error, SQNR, max |e|: the first two options
// side by side in one pass where their groups run along the rows) and mean square as measureWeightInBlocks gives them
// measured alone, to the bit, and the storage of its parameters as the whole weight's give it: on fresh random
// weights with signed zeros and an all-zero column, a short last block whose last groups are short, columns of zeros
// signed differently from block to block, float32 and float16 files, scales rounded to float16 or not, groups along
// the rows (a MatMul weight) and along the last axis (a weight with no graph, a 3-D one). The channels' ranges that
// come with them are the whole weight's (signed zeros ordered as the kernels order them), and a per-channel option
// given them measures as it does when it scans the file itself. Anything the pass does not take (a NaN, an option
// of another kind, group sizes that are not multiples) gives undefined.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { reductionLayout } from '../../src/calibration/granularity.js';
import { budgetOptionDecisions } from '../../src/compress/budget-measure.js';
import { fileBlocking } from '../../src/compress/file-blocking.js';
import { groupsMeasuredTogether, measureGroupsInBlocks, storedOfBlocks } from '../../src/compress/measure-groups-in-blocks.js';
import type { StoredOf } from '../../src/compress/budget-measure.js';
import type { WeightDecision } from '../../src/compress/policy.js';
import { halfScale, scaleRounder, storedParametersOf } from '../../src/compress/scale-storage.js';
import { measureWeightInBlocks } from '../../src/compress/weight-file-blocks.js';
import { toFloat32 } from '../../src/io/float-convert.js';
import { floatToHalfBits } from '../../src/io/half.js';
import { cpuMinMax } from '../../src/kernels/cpu/cpu-minmax.js';
import { RUN_SEED, f32Bits, rangedWeights, rng } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'wq-groups-blocks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
/** `bytes` in a file after 7 bytes of something else: its range. */
function inFile(bytes: Uint8Array) {
  const path = join(dir, `w${files++}.bin`);
  writeFileSync(path, new Uint8Array([1, 2, 3, 4, 5, 6, 7, ...bytes]));
  return { path, offset: 7, byteLength: bytes.byteLength };
}

const halves = (data: Float32Array) => new Uint8Array(Uint16Array.from(data, (v) => floatToHalfBits(v)).buffer);
const matMulWeight = (shape: number[]) => ({ name: 'w', dtype: 'float32' as const, shape, consumers: [{ opType: 'MatMul', inputIndex: 1 }] });
const storedOf: StoredOf = (result, decision) => storedParametersOf(result, decision, 'float16');
/** What measureGroupsInBlocks measures of an option: its errors (not cosine or clipping). */
const errorsOf = ({ mse, sqnrDb, maxAbsError, count }: { mse: number; sqnrDb: number; maxAbsError: number; count: number }) => ({ mse, sqnrDb, maxAbsError, count });

describe(`measureGroupsInBlocks (seed ${RUN_SEED})`, () => {
  // [500, 40] in blocks of 128 rows: a last block of 116 rows, whose last groups of 32, 64 and 128 are short.
  // A weight with no ONNX consumer (a safetensors tensor) has its groups along the last axis: [300, 200] in blocks of
  // 64 rows, groups of 32, 64 and 128 along rows of 200 (every last group short), and no channels to scan (int8 per
  // channel along the rows).
  const cases = [
    { shape: [500, 40], blockRows: 128, dtype: 'float32' as const, rounding: undefined, matMul: true },
    { shape: [500, 40], blockRows: 128, dtype: 'float16' as const, rounding: 'float16' as const, matMul: true },
    { shape: [1024, 72], blockRows: 256, dtype: 'float32' as const, rounding: 'float16' as const, matMul: true },
    { shape: [300, 200], blockRows: 64, dtype: 'float32' as const, rounding: undefined, matMul: false },
    { shape: [300, 200], blockRows: 64, dtype: 'float16' as const, rounding: 'float16' as const, matMul: false },
  ];
  for (const { shape, blockRows, dtype, rounding, matMul } of cases) {
    const what = `${JSON.stringify(shape)}${matMul ? ' MatMul' : ''} ${dtype}${rounding ? ', float16 scales' : ''}`;
    it(`${what}: each option as measured alone, to the bit, and the channels' ranges`, async () => {
      const next = rng(RUN_SEED + shape[0]! + shape[1]! + (rounding ? 1 : 0));
      const written = rangedWeights(shape, next);
      // Column 5 +0 in the first blocks and -0 in the later ones, column 6 the other way round: merged across blocks,
      // its range is [-0, +0] either way.
      for (let row = 0; row < shape[0]!; row++) {
        written[row * shape[1]! + 5] = row < 300 ? 0 : -0;
        written[row * shape[1]! + 6] = row < 300 ? -0 : 0;
      }
      const bytes = dtype === 'float32' ? new Uint8Array(written.buffer) : halves(written);
      const data = toFloat32(bytes, dtype); // the values as read back
      const range = inFile(bytes);
      const blockBytes = 4 * shape[1]! * blockRows;
      const [int8, ...groups] = budgetOptionDecisions(matMul ? matMulWeight(shape) : { name: 'w', dtype: 'float32', shape }, {}).map(([, d]) => d);
      expect(groups.map((d) => `${d.groupSize} along ${d.axis}`)).toEqual([32, 64, 128].map((g) => `${g} along ${matMul ? 0 : 1}`));
      const blocking = fileBlocking(shape, groups[0]!, blockBytes)!;
      expect(blocking.count).toBeGreaterThanOrEqual(3);
      expect(groups.every((d) => groupsMeasuredTogether(d, blocking))).toBe(true);
      const roundScale = scaleRounder(rounding);
      const options = roundScale ? { roundScale } : {};
      const got = await measureGroupsInBlocks(range, shape, groups, options, blocking, dtype, storedOf, matMul ? 1 : undefined);
      expect(got, what).toBeDefined();
      for (const [k, decision] of groups.entries()) {
        const alone = await measureWeightInBlocks(range, shape, decision, options, fileBlocking(shape, decision, blockBytes)!, dtype);
        const measured = got!.measured[k]!;
        expect(measured.overall, `${what}, groups of ${decision.groupSize}`).toStrictEqual(errorsOf(alone!.overall));
        expect(measured.overall.mse).toBeGreaterThan(0);
        expect(measured.meanSquare).toBe(alone!.meanSquare);
        // How the whole weight's parameters would be stored, from its blocks'.
        expect(measured.stored, `${what}, groups of ${decision.groupSize}`).toEqual(storedOf(alone!, decision));
      }
      if (!matMul) {
        expect(got!.channels).toBeUndefined();
        expect(fileBlocking(shape, int8!, blockBytes)!.mode, 'int8 per channel along the rows: one read of its own').toBe('rows');
        return;
      }
      // The channels along axis 1: the whole weight's ranges, -0 below +0 (column 2 holds both zeros), and max |x|.
      const whole = cpuMinMax(data, reductionLayout(shape, { axis: 1 }));
      const channels = got!.channels!;
      expect(channels.axis).toBe(1);
      expect(Array.from(channels.mins, f32Bits)).toEqual(Array.from(whole.mins, f32Bits));
      expect(Array.from(channels.maxs, f32Bits)).toEqual(Array.from(whole.maxs, f32Bits));
      for (const c of [2, 5, 6]) {
        expect(f32Bits(channels.mins[c]!), `column ${c}`).toBe(f32Bits(-0));
        expect(f32Bits(channels.maxs[c]!), `column ${c}`).toBe(f32Bits(0));
      }
      expect(channels.peak).toBe(data.reduce((m, v) => Math.max(m, Math.abs(v)), 0));
      // The per-channel option given them: what it measures scanning the file itself.
      const int8Blocking = fileBlocking(shape, int8!, blockBytes)!;
      expect(int8Blocking.mode).toBe('columns');
      const scanned = await measureWeightInBlocks(range, shape, int8!, options, int8Blocking, dtype);
      const given = await measureWeightInBlocks(range, shape, int8!, { ...options, channelRanges: channels }, int8Blocking, dtype);
      expect(given!.overall).toStrictEqual(scanned!.overall);
      expect(Array.from(given!.scales)).toEqual(Array.from(scanned!.scales));
      // Ranges that are not the weight's change the per-channel option's numbers: they are used, not found again.
      const wider = { ...channels, maxs: channels.maxs.map((v) => 2 * Math.abs(v) + 1) };
      const used = await measureWeightInBlocks(range, shape, int8!, { ...options, channelRanges: wider }, int8Blocking, dtype);
      expect(used!.overall.mse).toBeGreaterThan(scanned!.overall.mse);
    });
  }

  it('groups along the last axis of a 3-D weight, with the channels along the middle one', async () => {
    const shape = [96, 5, 200];
    const data = rangedWeights(shape, rng(RUN_SEED + 4));
    const range = inFile(new Uint8Array(data.buffer));
    const [, g32] = budgetOptionDecisions(matMulWeight([96, 1000]), {}).map(([, d]) => d);
    const groups = [32, 64, 128].map((groupSize) => ({ ...g32!, axis: 2, groupSize }));
    const blockBytes = 4 * 1000 * 40; // 40 rows a block: 3 blocks
    const blocking = fileBlocking(shape, groups[0]!, blockBytes)!;
    expect([blocking.mode, blocking.count]).toEqual(['rows', 3]);
    const got = await measureGroupsInBlocks(range, shape, groups, {}, blocking, 'float32', undefined, 1);
    for (const [k, decision] of groups.entries()) {
      const alone = await measureWeightInBlocks(range, shape, decision, {}, fileBlocking(shape, decision, blockBytes)!);
      expect(got!.measured[k]!.overall, `groups of ${decision.groupSize}`).toStrictEqual(errorsOf(alone!.overall));
      expect(got!.measured[k]!.stored, 'no storage asked for').toBeUndefined();
    }
    const whole = cpuMinMax(data, reductionLayout(shape, { axis: 1 }));
    expect(Array.from(got!.channels!.mins, f32Bits)).toEqual(Array.from(whole.mins, f32Bits));
    expect(Array.from(got!.channels!.maxs, f32Bits)).toEqual(Array.from(whole.maxs, f32Bits));
    // Channels along the groups' own axis are not the groups' ranges.
    expect(await measureGroupsInBlocks(range, shape, groups, {}, blocking, 'float32', undefined, 2)).toBeUndefined();
  });

  it('a pair or a single option; without channels unless asked', async () => {
    const shape = [512, 24];
    const data = rangedWeights(shape, rng(RUN_SEED + 5));
    const range = inFile(new Uint8Array(data.buffer));
    const [, g32, g64, g128] = budgetOptionDecisions(matMulWeight(shape), {}).map(([, d]) => d);
    const blocking = fileBlocking(shape, g32!, 4 * 24 * 128)!;
    const all = await measureGroupsInBlocks(range, shape, [g32!, g64!, g128!], {}, blocking, 'float32');
    const pair = await measureGroupsInBlocks(range, shape, [g64!, g128!], {}, blocking, 'float32');
    const one = await measureGroupsInBlocks(range, shape, [g128!], {}, blocking, 'float32');
    expect(all!.channels).toBeUndefined();
    expect(pair!.measured.map((m) => m.overall)).toStrictEqual(all!.measured.slice(1).map((m) => m.overall));
    expect(one!.measured[0]!.overall).toStrictEqual(all!.measured[2]!.overall);
    // Every extreme negative (zero points 0, none stored) but one group's in the last block: its blocks' storage says
    // so, as the whole weight's does.
    const negative = data.map((v) => -Math.abs(v) - 1e-3);
    const [noneStored, lastStored] = [negative, negative.slice()];
    lastStored[500 * 24 + 5] = 50;
    for (const [values, stored] of [[noneStored, false], [lastStored, true]] as const) {
      const got = await measureGroupsInBlocks(inFile(new Uint8Array(values.buffer)), shape, [g32!, g64!], {}, blocking, 'float32', storedOf);
      expect(got!.measured.map((m) => m.stored!.zeroPoints)).toEqual([stored, stored]);
    }
  });

  it('storedOfBlocks: float16 scales where every block has them, zero points where any block stores them', () => {
    expect(storedOfBlocks(undefined, { scaleBits: 16, zeroPoints: false })).toEqual({ scaleBits: 16, zeroPoints: false });
    expect(storedOfBlocks({ scaleBits: 16, zeroPoints: false }, { scaleBits: 16, zeroPoints: false })).toEqual({ scaleBits: 16, zeroPoints: false });
    expect(storedOfBlocks({ scaleBits: 16, zeroPoints: false }, { zeroPoints: false })).toEqual({ zeroPoints: false });
    expect(storedOfBlocks({ zeroPoints: false }, { scaleBits: 16, zeroPoints: true })).toEqual({ zeroPoints: true });
    expect(storedOfBlocks({ scaleBits: 16 }, { scaleBits: 16, zeroPoints: false })).toEqual({ scaleBits: 16, zeroPoints: true }); // unsaid: stored
    // Against storedParametersOf of the whole arrays, split anywhere, on scales that are float16 values or not.
    const next = rng(RUN_SEED + 8);
    for (let trial = 0; trial < 200; trial++) {
      const n = 2 + Math.floor(next() * 40);
      const scales = Float32Array.from({ length: n }, () => (next() < 0.97 ? halfScale(next()) : next()));
      const zeroPoints = Int32Array.from({ length: n }, () => (next() < 0.97 ? 0 : -1));
      const decision = { dtype: next() < 0.5 ? 'qint4' : 'qint8' } as WeightDecision;
      const cut = 1 + Math.floor(next() * (n - 1));
      const parts = [[0, cut], [cut, n]].map(([a, b]) => storedOf({ scales: scales.subarray(a, b), zeroPoints: zeroPoints.subarray(a, b) }, decision));
      expect(storedOfBlocks(storedOfBlocks(undefined, parts[0]!), parts[1]!)).toEqual(storedOf({ scales, zeroPoints }, decision));
    }
  });

  it('undefined: a NaN, an option of another kind, group sizes that are not multiples, channels along the rows', async () => {
    const shape = [512, 24];
    const data = rangedWeights(shape, rng(RUN_SEED + 6));
    const range = inFile(new Uint8Array(data.buffer));
    const [int8, g32, g64] = budgetOptionDecisions(matMulWeight(shape), {}).map(([, d]) => d);
    const blocking = fileBlocking(shape, g32!, 4 * 24 * 128)!;
    expect(await measureGroupsInBlocks(range, shape, [g32!, g64!], {}, blocking, 'float32', undefined, 1)).toBeDefined();
    const nan = data.slice();
    nan[500 * 24 + 3] = NaN; // in the last block
    expect(await measureGroupsInBlocks(inFile(new Uint8Array(nan.buffer)), shape, [g32!, g64!], {}, blocking, 'float32')).toBeUndefined();
    expect(groupsMeasuredTogether(int8!, fileBlocking(shape, int8!, 4 * 24 * 128))).toBe(false);
    const searched = { ...g64!, method: 'mse' as const };
    const asymmetric = { ...g64!, symmetric: false };
    const narrow = { ...g64!, range: 'narrow' as const };
    for (const other of [searched, asymmetric, narrow]) {
      expect(groupsMeasuredTogether(other, blocking)).toBe(false);
      expect(await measureGroupsInBlocks(range, shape, [g32!, other], {}, blocking, 'float32')).toBeUndefined();
    }
    expect(await measureGroupsInBlocks(range, shape, [g32!, { ...g64!, axis: 1 }], {}, blocking, 'float32'), 'along another axis').toBeUndefined();
    const g48 = { ...g64!, groupSize: 48 };
    expect(await measureGroupsInBlocks(range, shape, [g32!, g48], {}, fileBlocking(shape, g32!, 4 * 24 * 96)!, 'float32'), 'not a multiple of 32').toBeUndefined();
    expect(await measureGroupsInBlocks(range, shape, [g64!, g32!], {}, blocking, 'float32'), 'the smallest first').toBeUndefined();
    expect(await measureGroupsInBlocks(range, shape, [g32!], {}, blocking, 'float32', undefined, 0)).toBeUndefined();
  });
});
