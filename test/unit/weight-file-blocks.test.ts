// A float32 weight read from its file a block of rows at a time (what a CPU worker does with a large ONNX weight)
// comes out as quantizeWithFloor gives it whole: the same integers, parameters and statistics to the bit, on fresh
// random weights for each layout (per channel along the first axis, along a later axis of 2-D and 4-D weights,
// 4-bit groups along the rows with a short last group, scales rounded to float16), with signed zeros, an all-zero
// channel and rows of very different ranges. What would not come out the same (NaN, a weight below the floor,
// per tensor, one block, a searched range per channel along a later axis of one band) is left to the whole-weight
// path; a larger one is searched a band of channels at a time. compressOnnxParts on
// one thread, reading a model's weights from its file in blocks, writes the bytes and report of compressOnnx.
// openFileRange reads pieces of one range from one open file. rowParams writes a block's parameters into the
// arrays it is given (the blocks' parameters go straight into the weight's).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compressOnnx, compressOnnxParts } from '../../src/compress/compress-onnx.js';
import { concatParts, writeParts } from '../../src/io/onnx/deferred-raw-data.js';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';
import { nodeFileSource, openFileRange } from '../../src/io/safetensors/node-file-source.js';
import { mixedMlp } from '../shared/mixed-mlp.js';
import { type PolicyConsumer, decideWeight } from '../../src/compress/policy.js';
import type { CompressionPolicy, WeightDecision } from '../../src/compress/policy.js';
import { quantizeWithFloor } from '../../src/compress/quality-floor.js';
import { scaleRounder } from '../../src/compress/scale-storage.js';
import { rowParams } from '../../src/compress/row-block-task.js';
import { blockIntegerBytes, blockPacksNibbles, fileBlocking, fileIntegerBytes, sharedIntegerBytes } from '../../src/compress/file-blocking.js';
import { floorWeightInBlocks, measureWeightInBlocks } from '../../src/compress/weight-file-blocks.js';
import { meanSquare } from '../../src/compress/budget-measure.js';
import { dtypeInfo } from '../../src/dtype.js';
import { toFloat32 } from '../../src/io/float-convert.js';
import { FormatError, InvalidArgumentError } from '../../src/errors.js';
import { cpuErrorSums } from '../../src/kernels/cpu/cpu-error-stats.js';
import { quantizePerChannel } from '../../src/ops/quantize.js';
import { checkErrorStatsArguments } from '../../src/stats/arguments.js';
import { RUN_SEED, rangedWeights, rng } from './support.js';

const cpu = { backend: 'cpu' } as const;
const dir = mkdtempSync(join(tmpdir(), 'wq-file-blocks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
/** `data` in a file after a few bytes of something else: its range. */
function inFile(data: Float32Array | Uint8Array): { path: string; offset: number; byteLength: number } {
  const path = join(dir, `w${files++}.bin`);
  const offset = 12;
  const bytes = new Uint8Array(offset + data.byteLength);
  bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offset);
  writeFileSync(path, bytes);
  return { path, offset, byteLength: data.byteLength };
}

const decide = (shape: number[], consumer: PolicyConsumer, policy: CompressionPolicy): WeightDecision =>
  decideWeight({ name: 'w', dtype: 'float32', shape, consumers: [consumer] }, { firstLayer: 'quantize', ...policy });

/** Blocks against the whole weight: the same outcome, to the bit. */
async function expectSameAsWhole(shape: number[], decision: WeightDecision, blockBytes: number, mode: 'rows' | 'columns', rounding?: 'float16') {
  const next = rng(RUN_SEED + shape.reduce((a, b) => a * 31 + b, 7));
  const data = rangedWeights(shape, next);
  const blocking = fileBlocking(shape, decision, blockBytes);
  const what = `${JSON.stringify(shape)} ${decision.dtype} ${decision.granularity} axis ${decision.axis} (seed ${RUN_SEED})`;
  expect(blocking?.mode, what).toBe(mode);
  expect(blocking!.count, what).toBeGreaterThanOrEqual(3);
  const roundScale = scaleRounder(rounding);
  const integers = new ArrayBuffer(data.length + 5);
  const got = await floorWeightInBlocks(inFile(data), shape, decision, roundScale ? { roundScale } : {}, integers, blocking!);
  const expected = await quantizeWithFloor({ data, shape }, decision, roundScale ? { roundScale } : {}, cpu);
  expect(expected.kind, what).toBe('quantized');
  expect(got?.kind, what).toBe('quantized');
  if (got?.kind !== 'quantized' || expected.kind !== 'quantized') return;
  expect(got.decision).toEqual(expected.decision);
  expect(got.steps).toEqual([]);
  const a = got.result;
  const b = expected.result;
  expect(a.q.intReprView().buffer, 'the integers in the memory given').toBe(integers);
  expect(Buffer.from(a.q.intRepr().buffer).equals(Buffer.from(b.q.intRepr().buffer)), `${what}: integers`).toBe(true);
  expect(a.q.dtype).toBe(b.q.dtype);
  expect(a.q.shape).toEqual(b.q.shape);
  expect(a.q.params).toEqual(b.q.params);
  expect([...a.scales].map((s) => Object.is(s, -0) ? '-0' : s)).toEqual([...b.scales]);
  expect(a.zeroPoints).toEqual(b.zeroPoints);
  expect(a.paramShape).toEqual(b.paramShape);
  expect(a.stats, `${what}: statistics`).toEqual(b.stats);
  // Each block of rows read while the one before is worked on (two blocks' memory): the same outcome.
  const early = new ArrayBuffer(data.length);
  const ahead = await floorWeightInBlocks(inFile(data), shape, decision, { ...(roundScale ? { roundScale } : {}), readAhead: true }, early, blocking!);
  if (ahead?.kind !== 'quantized') throw new Error(`${what}: read ahead, ${ahead?.kind}`);
  expect(Buffer.from(ahead.result.q.intRepr().buffer).equals(Buffer.from(b.q.intRepr().buffer)), `${what}: integers, read ahead`).toBe(true);
  expect(ahead.result.stats, `${what}: statistics, read ahead`).toEqual(b.stats);
  expect(ahead.result.q.params, `${what}: parameters, read ahead`).toEqual(b.q.params);
  // Measured only (no integers kept, a block's at a time): the same statistics and parameters, read ahead or not.
  for (const readAhead of [false, true]) {
    const measured = await measureWeightInBlocks(inFile(data), shape, decision, { ...(roundScale ? { roundScale } : {}), readAhead }, blocking!);
    expect(measured?.overall, `${what}: overall statistics, measured only, read ahead ${readAhead}`).toEqual(b.stats.overall);
    expect(measured?.meanSquare, `${what}: mean square, measured only`).toBe(meanSquare(data));
    expect(measured?.scales, `${what}: scales, measured only`).toEqual(a.scales);
    expect(measured?.zeroPoints, `${what}: zero points, measured only`).toEqual(b.zeroPoints);
  }
  if (dtypeInfo(decision.dtype).bits !== 4) return;
  // Packed two to a byte as the blocks are measured: half the memory, the same bytes packedData() gives.
  expect(blockPacksNibbles(decision, blocking!), what).toBe(true);
  const bytes = blockIntegerBytes(decision, blocking!, true);
  expect(bytes, what).toBe(Math.ceil(data.length / 2));
  expect(blockIntegerBytes(decision, blocking!, false), what).toBe(data.length);
  const half = new ArrayBuffer(bytes + 3);
  new Uint8Array(half).fill(0xa5);
  expect(await floorWeightInBlocks(inFile(data), shape, decision, { ...(roundScale ? { roundScale } : {}), packNibbles: true }, new ArrayBuffer(bytes - 1), blocking!),
    `${what}: packed integers too small`).toBeUndefined();
  const packed = await floorWeightInBlocks(inFile(data), shape, decision, { ...(roundScale ? { roundScale } : {}), packNibbles: true }, half, blocking!);
  expect(packed?.kind, what).toBe('quantized');
  if (packed?.kind !== 'quantized') return;
  const nibbles = packed.result.q.packedNibbles;
  expect(nibbles?.buffer, `${what}: packed in the memory given`).toBe(half);
  expect(Buffer.from(nibbles!).equals(Buffer.from(b.q.packedData())), `${what}: packed integers`).toBe(true);
  expect([...new Uint8Array(half, bytes)], 'nothing past them').toEqual([0xa5, 0xa5, 0xa5]);
  expect(Buffer.from(packed.result.q.intRepr().buffer).equals(Buffer.from(b.q.intRepr().buffer)), `${what}: unpacked`).toBe(true);
  expect(packed.result.q.params).toEqual(b.q.params);
  expect(packed.result.zeroPoints).toEqual(b.zeroPoints);
  expect(packed.result.stats, `${what}: statistics, packed`).toEqual(b.stats);
}

describe('cpuErrorSums: per-channel sums carried from block to block', () => {
  // qint8 runs the WebAssembly kernel, qint32 (integers of four bytes) the JavaScript loop.
  it.each(['qint8', 'qint32'] as const)('%s: blocks of rows, each going on from the one before, end with the whole tensor\'s per-column sums, in place', async (dtype) => {
    const next = rng(RUN_SEED);
    const [rows, cols] = [41, 67];
    const data = rangedWeights([rows, cols], next);
    const scales = Float32Array.from({ length: cols }, () => 0.02 * (0.5 + next()));
    const zeroPoints = Int32Array.from({ length: cols }, () => Math.floor(next() * 9) - 4);
    const q = await quantizePerChannel({ data, shape: [rows, cols] }, scales, zeroPoints, 1, dtype, cpu);
    const whole = cpuErrorSums(checkErrorStatsArguments({ data, shape: [rows, cols] }, q, { axis: 1 }));
    const carry = new Float64Array(8);
    let channels;
    for (let first = 0; first < rows; first += 6) {
      const n = Math.min(6, rows - first);
      const x = { data: data.slice(first * cols, (first + n) * cols), shape: [n, cols] };
      const part = await quantizePerChannel(x, scales, zeroPoints, 1, dtype, cpu);
      const from = channels;
      channels = cpuErrorSums(checkErrorStatsArguments(x, part, { axis: 1 }), carry, channels).perChannel;
      if (from) expect(channels).toBe(from); // updated in place
      expect([...channels!.count]).toEqual(new Array(cols).fill(n)); // this block's counts
    }
    for (const k of ['sumSquaredError', 'sumSquaredOriginal', 'sumSquaredDequantized', 'sumProduct', 'maxAbsError', 'clipped', 'nonFinite'] as const) {
      expect([...channels![k]], k).toEqual([...whole.perChannel![k]]);
    }
    expect(carry[0]).toBe(whole.overall.sumSquaredError[0]);
    // Without the carry, the last block's sums are its own: the test above can fail.
    expect([...channels!.sumSquaredOriginal]).not.toEqual([...cpuErrorSums(checkErrorStatsArguments({ data: data.slice(36 * cols), shape: [5, cols] },
      await quantizePerChannel({ data: data.slice(36 * cols), shape: [5, cols] }, scales, zeroPoints, 1, dtype, cpu), { axis: 1 })).perChannel!.sumSquaredOriginal]);
  });

  it('refuses sums of another channel count', async () => {
    const x = { data: new Float32Array(12).fill(1), shape: [3, 4] };
    const q = await quantizePerChannel(x, new Float32Array(4).fill(0.1), new Int32Array(4), 1, 'qint8', cpu);
    const three = cpuErrorSums(checkErrorStatsArguments({ data: new Float32Array(6), shape: [2, 3] },
      await quantizePerChannel({ data: new Float32Array(6), shape: [2, 3] }, new Float32Array(3).fill(0.1), new Int32Array(3), 1, 'qint8', cpu), { axis: 1 })).perChannel;
    expect(() => cpuErrorSums(checkErrorStatsArguments(x, q, { axis: 1 }), undefined, three)).toThrow(InvalidArgumentError);
  });
});

describe('rowParams into given arrays', () => {
  it('the extreme rule writes a block\'s parameters into the arrays given, the values it makes without them', async () => {
    const next = rng(RUN_SEED + 11);
    const shape = [64, 24];
    const x = { data: rangedWeights(shape, next), shape };
    const decision = decide(shape, { opType: 'MatMul', inputIndex: 1 }, { dtype: 'qint4', granularity: 'group', groupSize: 32 });
    expect(decision.range).toBe('extreme');
    const roundScale = scaleRounder('halfScale');
    const own = await rowParams(x, decision, { roundScale });
    const k = own!.scales.length; // 2 groups along 64 rows, 24 columns
    expect(k).toBe(48);
    const wide = { scales: new Float32Array(k + 6).fill(7), zeroPoints: new Int32Array(k + 6).fill(7) };
    const into = { scales: wide.scales.subarray(3, 3 + k), zeroPoints: wide.zeroPoints.subarray(3, 3 + k), mins: new Float32Array(k), maxs: new Float32Array(k) };
    const got = await rowParams(x, decision, { roundScale }, into);
    expect(got!.scales).toBe(into.scales);
    expect(got!.zeroPoints).toBe(into.zeroPoints);
    expect([...got!.scales]).toEqual([...own!.scales]);
    expect([...got!.zeroPoints]).toEqual([...own!.zeroPoints]);
    expect([...wide.scales.subarray(0, 3), ...wide.scales.subarray(3 + k)]).toEqual(new Array(6).fill(7)); // nothing outside
    // Arrays of another length are not used.
    const short = { ...into, scales: into.scales.subarray(1) };
    const other = await rowParams(x, decision, { roundScale }, short);
    expect(other!.scales).not.toBe(short.scales);
    expect([...other!.scales]).toEqual([...own!.scales]);
  });
});

describe('floorWeightInBlocks', () => {
  const matmul: PolicyConsumer = { opType: 'MatMul', inputIndex: 1 };
  const conv: PolicyConsumer = { opType: 'Conv', inputIndex: 1 };
  const convTranspose: PolicyConsumer = { opType: 'ConvTranspose', inputIndex: 1 };

  it('per channel along a later axis (MatMul): the whole weight\'s outcome, qint8 symmetric and quint8 asymmetric', async () => {
    for (const [policy, shape] of [[{}, [203, 97]], [{ dtype: 'quint8', symmetric: false }, [150, 64]]] as [CompressionPolicy, number[]][]) {
      await expectSameAsWhole(shape, decide(shape, matmul, policy), 4 * 97 * 20, 'columns');
    }
  });

  it('4-bit per channel along a later axis: the signed extremes (ties to the negative one) from each channel\'s range', async () => {
    const shape = [160, 72];
    const decision = decide(shape, matmul, { dtype: 'qint4', minSqnrDb: 0 });
    expect([decision.granularity, decision.axis, decision.range]).toEqual(['channel', 1, 'extreme']);
    await expectSameAsWhole(shape, decision, 4 * 72 * 24, 'columns');
    // Ties: every column's extremes equal and opposite (±v), in either order down the column.
    const next = rng(RUN_SEED + 11);
    const data = new Float32Array(160 * 72);
    const peaks = Array.from({ length: 72 }, () => 0.5 + next());
    for (let r = 0; r < 160; r++) for (let c = 0; c < 72; c++) data[r * 72 + c] = (next() * 2 - 1) * peaks[c]! * 0.9;
    for (let c = 0; c < 72; c++) {
      const [first, second] = next() < 0.5 ? [1, -1] : [-1, 1];
      data[Math.floor(next() * 80) * 72 + c] = first * peaks[c]!;
      data[(80 + Math.floor(next() * 80)) * 72 + c] = second * peaks[c]!;
    }
    const blocking = fileBlocking(shape, decision, 4 * 72 * 24)!;
    const got = await floorWeightInBlocks(inFile(data), shape, decision, {}, new ArrayBuffer(data.length), blocking);
    const expected = await quantizeWithFloor({ data, shape }, decision, {}, cpu);
    expect(got?.kind === 'quantized' && expected.kind === 'quantized').toBe(true);
    if (got?.kind === 'quantized' && expected.kind === 'quantized') {
      expect(got.result.scales).toEqual(expected.result.scales);
      expect(got.result.zeroPoints).toEqual(expected.result.zeroPoints);
      expect(Buffer.from(got.result.q.intRepr().buffer).equals(Buffer.from(expected.result.q.intRepr().buffer))).toBe(true);
      expect(got.result.stats).toEqual(expected.result.stats);
    }
  });

  it('per channel along axis 1 of a 4-D weight (ConvTranspose), and with float16 scales', async () => {
    const shape = [37, 6, 3, 3];
    await expectSameAsWhole(shape, decide(shape, convTranspose, {}), 4 * 54 * 5, 'columns');
    await expectSameAsWhole([129, 80], decide([129, 80], matmul, {}), 4 * 80 * 16, 'columns', 'float16');
  });

  it('per channel along axis 0 (Conv): each block\'s rows their own parameters', async () => {
    const shape = [45, 5, 3, 3];
    await expectSameAsWhole(shape, decide(shape, conv, {}), 4 * 45 * 7, 'rows');
  });

  it('4-bit groups along the rows, in blocks of whole groups, the last group short', async () => {
    const shape = [200, 48];
    const decision = decide(shape, matmul, { dtype: 'qint4', granularity: 'group', groupSize: 32, minSqnrDb: 0 });
    expect([decision.axis, decision.outputAxis, decision.range]).toEqual([0, 1, 'extreme']);
    // 40 rows' worth of bytes: blocks of 32 rows (one group each).
    await expectSameAsWhole(shape, decision, 4 * 48 * 40, 'rows');
    const unsigned = decide(shape, matmul, { dtype: 'quint4', symmetric: false, granularity: 'group', groupSize: 16, minSqnrDb: 0 });
    await expectSameAsWhole(shape, unsigned, 4 * 48 * 40, 'rows');
  });

  it('the searches (\'mse\', \'lsq\', \'percentile\') by rows and groups of rows: each block searches its own outputs as the whole does', async () => {
    for (const calibrate of ['mse', 'lsq', 'percentile'] as const) {
      const groups = [200, 48];
      await expectSameAsWhole(groups, decide(groups, matmul, { dtype: 'qint4', granularity: 'group', groupSize: 32, calibrate, minSqnrDb: 0 }), 4 * 48 * 40, 'rows');
      const conv4 = [45, 5, 3, 3];
      await expectSameAsWhole(conv4, decide(conv4, conv, { calibrate, minSqnrDb: 0 }), 4 * 45 * 7, 'rows');
    }
  });

  it('the searches per channel along a later axis, a band of channels at a time: the whole weight\'s outcome', { timeout: 30000 }, async () => {
    for (const calibrate of ['mse', 'lsq', 'percentile'] as const) {
      // 20 rows a block: three bands of 33, 33 and 31 columns (each band at least four blocks' bytes).
      const matmulShape = [203, 97];
      const signed = decide(matmulShape, matmul, { calibrate });
      expect(fileBlocking(matmulShape, signed, 4 * 97 * 20)!.bands, calibrate).toEqual({ channels: 33, count: 3, outer: 203, inner: 1 });
      await expectSameAsWhole(matmulShape, signed, 4 * 97 * 20, 'columns');
      await expectSameAsWhole([150, 64], decide([150, 64], matmul, { calibrate, dtype: 'quint8', symmetric: false }), 4 * 64 * 12, 'columns');
      // 4-bit: 'lsq' searches Q4_0's grid and the zero point; float16 scales.
      await expectSameAsWhole([160, 72], decide([160, 72], matmul, { calibrate, dtype: 'qint4', minSqnrDb: 0 }), 4 * 72 * 24, 'columns', 'float16');
      // The last axis of a 3-D MatMul weight (a batch of six matrices, a block each): two bands [6 × 40, 17 and 16].
      const batched = [6, 40, 33];
      const perColumn = decide(batched, matmul, { calibrate });
      expect(perColumn.axis, calibrate).toBe(2);
      expect(fileBlocking(batched, perColumn, 4 * 40 * 33)!.bands, calibrate).toEqual({ channels: 17, count: 2, outer: 240, inner: 1 });
      await expectSameAsWhole(batched, perColumn, 4 * 40 * 33, 'columns');
      // Axis 1 of a 4-D weight: each band [37, width, 9], its channels' values copied a run of width × 9 at a time.
      const convShape = [37, 6, 3, 3];
      const transposed = decide(convShape, convTranspose, { calibrate });
      expect(fileBlocking(convShape, transposed, 4 * 54 * 3)!.bands, calibrate).toEqual({ channels: 2, count: 3, outer: 37, inner: 9 });
      await expectSameAsWhole(convShape, transposed, 4 * 54 * 3, 'columns');
    }
  });

  it('a float16 or bfloat16 weight searched in bands: each slice converted as it is copied out, the whole weight\'s outcome', async () => {
    const shape = [203, 97];
    const next = rng(RUN_SEED + 19);
    for (const [dtype, calibrate] of [['float16', 'mse'], ['bfloat16', 'lsq'], ['float16', 'percentile']] as const) {
      const decision = decide(shape, matmul, { calibrate });
      const blocking = fileBlocking(shape, decision, 4 * 97 * 20)!;
      expect(blocking.bands?.count).toBe(3);
      // Finite 16-bit patterns of both signs over a range of exponents, and zeros of both signs.
      const halves = Uint16Array.from({ length: 203 * 97 }, () => {
        const sign = next() < 0.5 ? 0x8000 : 0;
        if (next() < 0.02) return sign;
        return dtype === 'float16' ? sign | ((4 + Math.floor(next() * 14)) << 10) | Math.floor(next() * 1024)
          : sign | ((110 + Math.floor(next() * 20)) << 7) | Math.floor(next() * 128);
      });
      const bytes = new Uint8Array(halves.buffer);
      const integers = new ArrayBuffer(halves.length);
      const got = await floorWeightInBlocks(inFile(bytes), shape, decision, {}, integers, blocking, dtype);
      const expected = await quantizeWithFloor({ data: toFloat32(bytes, dtype), shape }, decision, {}, cpu);
      expect(got?.kind === 'quantized' && expected.kind === 'quantized', dtype).toBe(true);
      if (got?.kind !== 'quantized' || expected.kind !== 'quantized') return;
      expect(got.result.scales, dtype).toEqual(expected.result.scales);
      expect(got.result.zeroPoints).toEqual(expected.result.zeroPoints);
      expect(Buffer.from(got.result.q.intRepr().buffer).equals(Buffer.from(expected.result.q.intRepr().buffer)), dtype).toBe(true);
      expect(got.result.stats, dtype).toEqual(expected.result.stats);
    }
  });

  it('a searched weight\'s bands: at least four blocks\' bytes each, at most eight, and none for a weight of one band', () => {
    const mse = (shape: number[]) => decide(shape, matmul, { calibrate: 'mse' });
    const mib = 2 ** 20;
    expect(fileBlocking([4096, 4096], mse([4096, 4096]), 4 * mib)!.bands).toEqual({ channels: 1024, count: 4, outer: 4096, inner: 1 });
    expect(fileBlocking([4096, 32000], mse([4096, 32000]), 4 * mib)!.bands).toEqual({ channels: 4000, count: 8, outer: 4096, inner: 1 });
    expect(fileBlocking([4096, 1536], mse([4096, 1536]), 4 * mib)!.bands, '24 MiB: two bands of 12').toEqual({ channels: 768, count: 2, outer: 4096, inner: 1 });
    expect(fileBlocking([1024, 4096], mse([1024, 4096]), 4 * mib), '16 MiB: one band, read whole').toBeUndefined();
    expect(fileBlocking([4096, 4096], decide([4096, 4096], matmul, {}), 4 * mib)!.bands, 'min/max: no bands').toBeUndefined();
  });

  it('a searched weight with a NaN in its last band, or whose search fails, is left to the whole weight', async () => {
    const shape = [203, 97];
    const decision = decide(shape, matmul, { calibrate: 'mse' });
    const blocking = fileBlocking(shape, decision, 4 * 97 * 20)!;
    const data = rangedWeights(shape, rng(RUN_SEED + 17));
    const nan = data.slice();
    nan[150 * 97 + 96] = NaN;
    expect(await floorWeightInBlocks(inFile(nan), shape, decision, {}, new ArrayBuffer(data.length), blocking), 'NaN').toBeUndefined();
    const infinite = data.slice();
    infinite[202 * 97] = -Infinity;
    expect(await floorWeightInBlocks(inFile(infinite), shape, decision, {}, new ArrayBuffer(data.length), blocking), '-Infinity in the first band').toBeUndefined();
    expect(await floorWeightInBlocks(inFile(data), shape, { ...decision, minSqnrDb: 200 }, {}, new ArrayBuffer(data.length), blocking), 'below the floor').toBeUndefined();
    // Max |error| / max |x| just above the limit: the largest |x| comes from the bands.
    const whole = await quantizeWithFloor({ data, shape }, decision, {}, cpu);
    expect(whole.kind).toBe('quantized');
    const relError = whole.kind === 'quantized' ? whole.result.stats.overall.maxAbsError / data.reduce((m, v) => Math.max(m, Math.abs(v)), 0) : NaN;
    const strict = { ...decision, minSqnrDb: 0, maxRelError: relError * 0.999 };
    const escalated = await quantizeWithFloor({ data, shape }, strict, {}, cpu);
    expect(escalated.kind === 'quantized' ? escalated.decision : escalated.kind, 'escalated whole').not.toEqual(strict);
    expect(await floorWeightInBlocks(inFile(data), shape, strict, {}, new ArrayBuffer(data.length), blocking), 'above the relative error limit').toBeUndefined();
    expect((await floorWeightInBlocks(inFile(data), shape, { ...strict, maxRelError: relError * 1.001 }, {}, new ArrayBuffer(data.length), blocking))?.kind).toBe('quantized');
    expect((await floorWeightInBlocks(inFile(data), shape, decision, {}, new ArrayBuffer(data.length), blocking))?.kind, 'the same weight, finite').toBe('quantized');
  });

  it('parameters into memory given again (reuse): views of it, the same values, and a new array where it is too short', async () => {
    const shape = [200, 48];
    const decision = decide(shape, matmul, { dtype: 'qint4', granularity: 'group', groupSize: 32, minSqnrDb: 0 });
    const data = rangedWeights(shape, rng(RUN_SEED + 29));
    const blocking = fileBlocking(shape, decision, 4 * 48 * 40)!;
    const count = 7 * 48; // seven groups of rows (the last short), 48 columns
    const reuse = { scales: new Float32Array(count + 3).fill(9), zeroPoints: new Int32Array(count + 3).fill(9), scales64: new Float64Array(count + 3).fill(9) };
    const plain = await floorWeightInBlocks(inFile(data), shape, decision, {}, new ArrayBuffer(data.length), blocking);
    const reused = await floorWeightInBlocks(inFile(data), shape, decision, { reuse }, new ArrayBuffer(data.length), blocking);
    expect(plain?.kind === 'quantized' && reused?.kind === 'quantized').toBe(true);
    if (plain?.kind !== 'quantized' || reused?.kind !== 'quantized') return;
    expect(reused.result.scales.buffer).toBe(reuse.scales.buffer);
    expect(reused.result.zeroPoints.buffer).toBe(reuse.zeroPoints.buffer);
    expect(Array.from(reuse.scales64.subarray(0, count)), 'the QTensor\'s float64 scales in the memory given').toEqual(Array.from(plain.result.scales));
    expect([...reused.result.scales]).toEqual([...plain.result.scales]);
    expect([...reused.result.zeroPoints]).toEqual([...plain.result.zeroPoints]);
    expect(reused.result.stats).toEqual(plain.result.stats);
    expect([reuse.scales[count], reuse.scales64[count]], 'nothing past the weight\'s').toEqual([9, 9]);
    const short = { scales: new Float32Array(count - 1), zeroPoints: new Int32Array(count - 1), scales64: new Float64Array(count - 1) };
    const fresh = await floorWeightInBlocks(inFile(data), shape, decision, { reuse: short }, new ArrayBuffer(data.length), blocking);
    expect(fresh?.kind === 'quantized' && fresh.result.scales.buffer !== short.scales.buffer && [...fresh.result.scales].join() === [...plain.result.scales].join()).toBe(true);
  });

  it('scratch memory used again from call to call: each call the whole weight\'s outcome, and an earlier outcome left as it was', async () => {
    // Packed 4-bit groups of float16 weights (every scratch array: the stored 16-bit values, a block's integers before
    // packing, the parameters' mins, maxes and reciprocals), then a larger float32 weight, then a smaller float16 one.
    const next = rng(RUN_SEED + 37);
    const halvesOf = (n: number) => new Uint8Array(Uint16Array.from({ length: n }, () => (next() < 0.5 ? 0x8000 : 0) | ((6 + Math.floor(next() * 12)) << 10) | Math.floor(next() * 1024)).buffer);
    const cases: [number[], 'float16' | 'float32', number][] = [[[256, 96], 'float16', 64], [[320, 128], 'float32', 96], [[192, 64], 'float16', 32]];
    const outcomes: { got: NonNullable<Awaited<ReturnType<typeof floorWeightInBlocks>>>; copy: { nibbles: Uint8Array; scales: number[]; zeroPoints: number[]; sqnr: number } }[] = [];
    for (const [shape, dtype, rows] of cases) {
      const decision = decide(shape, matmul, { dtype: 'qint4', granularity: 'group', groupSize: 32, minSqnrDb: 0 });
      const blocking = fileBlocking(shape, decision, 4 * shape[1]! * rows)!;
      expect(blocking.count).toBeGreaterThanOrEqual(3);
      const n = shape[0]! * shape[1]!;
      const bytes = dtype === 'float16' ? halvesOf(n) : new Uint8Array(rangedWeights(shape, next).buffer);
      const integers = new ArrayBuffer(blockIntegerBytes(decision, blocking, true));
      const got = await floorWeightInBlocks(inFile(bytes), shape, decision, { packNibbles: true }, integers, blocking, dtype);
      const data = dtype === 'float16' ? toFloat32(bytes, dtype) : new Float32Array(bytes.buffer);
      const expected = await quantizeWithFloor({ data, shape }, decision, {}, cpu);
      expect(got?.kind === 'quantized' && expected.kind === 'quantized').toBe(true);
      if (got?.kind !== 'quantized' || expected.kind !== 'quantized') return;
      expect(got.result.q.packedNibbles?.buffer).toBe(integers);
      expect(Buffer.from(got.result.q.packedData()).equals(Buffer.from(expected.result.q.packedData())), `${shape}`).toBe(true);
      expect(got.result.scales).toEqual(expected.result.scales);
      expect(got.result.stats).toEqual(expected.result.stats);
      const { result } = got;
      outcomes.push({ got, copy: { nibbles: result.q.packedData().slice(), scales: [...result.scales], zeroPoints: [...result.zeroPoints], sqnr: result.stats.overall.sqnrDb } });
    }
    for (const { got, copy } of outcomes) {
      if (got.kind !== 'quantized') continue;
      expect(Buffer.from(got.result.q.packedData()).equals(Buffer.from(copy.nibbles))).toBe(true);
      expect([...got.result.scales]).toEqual(copy.scales);
      expect([...got.result.zeroPoints]).toEqual(copy.zeroPoints);
      expect(got.result.stats.overall.sqnrDb).toBe(copy.sqnr);
    }
  });

  it('4-bit blocks of an odd number of elements: not packed (a block would start inside a byte), a byte an element', async () => {
    const shape = [150, 63];
    const decision = decide(shape, matmul, { dtype: 'qint4', minSqnrDb: 0 });
    const blocking = fileBlocking(shape, decision, 4 * 63 * 5)!; // blocks of 5 rows of 63
    expect([blocking.mode, blocking.rowsPerBlock]).toEqual(['columns', 5]);
    expect(blockPacksNibbles(decision, blocking)).toBe(false);
    expect(blockIntegerBytes(decision, blocking, true)).toBe(150 * 63);
    expect(fileIntegerBytes(shape, decision, 4 * 63 * 5, true)).toBe(150 * 63);
    const even = decide([150, 64], matmul, { dtype: 'qint4', minSqnrDb: 0 });
    expect(fileIntegerBytes([150, 64], even, 4 * 64 * 5, true), 'blocks of 320 elements: packed, the parameters after them').toBe(75 * 64 + 16 * 64);
    expect(fileIntegerBytes([150, 64], even, 4 * 64 * 5, false)).toBe(150 * 64);
    expect(fileIntegerBytes([150, 64], even, 4 * 64 * 200, true), 'one block: read whole, a byte an element').toBe(150 * 64);
    const data = rangedWeights(shape, rng(RUN_SEED + 13));
    const integers = new ArrayBuffer(150 * 63);
    const got = await floorWeightInBlocks(inFile(data), shape, decision, { packNibbles: true }, integers, blocking);
    const expected = await quantizeWithFloor({ data, shape }, decision, {}, cpu);
    expect(got?.kind === 'quantized' && expected.kind === 'quantized').toBe(true);
    if (got?.kind !== 'quantized' || expected.kind !== 'quantized') return;
    expect(got.result.q.packedNibbles).toBeUndefined();
    expect(got.result.q.intReprView().buffer).toBe(integers);
    expect(Buffer.from(got.result.q.packedData()).equals(Buffer.from(expected.result.q.packedData()))).toBe(true);
    expect(got.result.stats).toEqual(expected.result.stats);
  });

  it('sharedIntegerBytes: the largest need among the weights of as many elements, 0 for a kept one', () => {
    const big = [128, 64];
    const int8 = decide(big, matmul, {});
    const groups32 = decide(big, matmul, { dtype: 'qint4', granularity: 'group', groupSize: 32, minSqnrDb: 0 });
    const groups64 = decide(big, matmul, { dtype: 'qint4', granularity: 'group', groupSize: 64, minSqnrDb: 0 });
    const blockBytes = 4 * 64 * 64; // blocks of 64 rows: whole groups of 32 and of 64
    // int8: a byte an element; int4 packed, then 16 bytes a parameter (2 or 1 groups of rows, 64 columns each).
    const needs = [int8, groups32, groups64].map((d) => fileIntegerBytes(big, d, blockBytes, true));
    expect(needs).toEqual([8192, 4096 + 16 * 4 * 64, 4096 + 16 * 2 * 64]);
    const small = decide([64, 64], matmul, {});
    const kept = { ...int8, action: 'keep' as const };
    const weights = [{ shape: big }, { shape: big }, { shape: [64, 128] }, { shape: [64, 64] }, { shape: big }];
    expect(sharedIntegerBytes(weights, [groups64, groups32, groups64, small, kept], blockBytes, true), 'groups of 64 beside 32: 8192')
      .toEqual([8192, 8192, 8192, 4096, 0]);
    expect(sharedIntegerBytes(weights.slice(0, 1), [groups64], blockBytes, true), 'alone: its own').toEqual([6144]);
    expect(sharedIntegerBytes(weights.slice(0, 2), [groups64, int8], blockBytes, false), 'not packed: a byte an element').toEqual([8192, 8192]);
  });

  it('leaves to the whole weight what would not come out the same', async () => {
    const shape = [96, 32];
    const base = decide(shape, matmul, {});
    expect(fileBlocking(shape, base, 4 * 32 * 200), 'one block').toBeUndefined();
    expect(fileBlocking(shape, decide(shape, matmul, { granularity: 'tensor' }), 4 * 32 * 8), 'per tensor').toBeUndefined();
    expect(fileBlocking(shape, decide(shape, matmul, { calibrate: 'mse' }), 4 * 32 * 24), 'a searched range of one band').toBeUndefined();
    expect(fileBlocking(shape, decide(shape, matmul, { dtype: 'qint4', granularity: 'group', groupSize: 32 }), 4 * 32 * 31), 'a group larger than a block').toBeUndefined();
    const next = rng(RUN_SEED + 5);
    const data = rangedWeights(shape, next);
    const blocking = fileBlocking(shape, base, 4 * 32 * 8)!;
    const nan = data.slice();
    nan[70 * 32 + 5] = NaN;
    expect(await floorWeightInBlocks(inFile(nan), shape, base, {}, new ArrayBuffer(data.length), blocking), 'NaN').toBeUndefined();
    // Below the floor: the whole-weight path escalates (or keeps) it.
    const strict = { ...base, minSqnrDb: 200 };
    expect((await quantizeWithFloor({ data, shape }, strict, {}, cpu)).kind).toBe('keep');
    expect(await floorWeightInBlocks(inFile(data), shape, strict, {}, new ArrayBuffer(data.length), blocking), 'below the floor').toBeUndefined();
    expect(await measureWeightInBlocks(inFile(nan), shape, base, {}, blocking), 'NaN, measured only').toBeUndefined();
    expect(await measureWeightInBlocks(inFile(data), shape, strict, {}, blocking), 'below the floor, measured only').toBeUndefined();
    expect((await measureWeightInBlocks(inFile(data), shape, base, {}, blocking))?.overall.sqnrDb, 'the same weight, measured only').toBeGreaterThan(20);
    expect(await floorWeightInBlocks(inFile(data), shape, base, {}, new ArrayBuffer(data.length - 1), blocking), 'integers too small').toBeUndefined();
    expect(await floorWeightInBlocks(inFile(data), shape, base, {}, new ArrayBuffer(data.length), blocking), 'the same weight, finite').toBeDefined();
  });

  it('rejects with the file\'s error when the file is shorter than the weight', async () => {
    const shape = [64, 16];
    const decision = decide(shape, matmul, {});
    const range = inFile(rangedWeights(shape, rng(RUN_SEED + 9)).subarray(0, 60 * 16));
    await expect(floorWeightInBlocks({ ...range, byteLength: 4 * 64 * 16 }, shape, decision, {}, new ArrayBuffer(64 * 16), fileBlocking(shape, decision, 4 * 16 * 8)!))
      .rejects.toThrow(/64|bytes|end/);
    // Reading ahead: the read of the block past the end fails when its turn comes (not unobserved before), and a
    // NaN found in an earlier block leaves the block read ahead settled before the call returns.
    await expect(floorWeightInBlocks({ ...range, byteLength: 4 * 64 * 16 }, shape, decision, { readAhead: true }, new ArrayBuffer(64 * 16), fileBlocking(shape, decision, 4 * 16 * 8)!))
      .rejects.toThrow(/64|bytes|end/);
    const nan = rangedWeights(shape, rng(RUN_SEED + 10));
    nan[3 * 16 + 5] = NaN;
    expect(await floorWeightInBlocks(inFile(nan), shape, decision, { readAhead: true }, new ArrayBuffer(64 * 16), fileBlocking(shape, decision, 4 * 16 * 8)!),
      'a NaN in the first block: the whole weight decides').toBeUndefined();
  });
});

describe('openFileRange', () => {
  it('reads pieces of a range from one open file, and refuses a piece outside it or a file that is gone', async () => {
    const data = Float32Array.from({ length: 64 }, (_, i) => i - 20.5);
    const range = inFile(data);
    const file = await openFileRange({ ...range, byteLength: 4 * 48 }); // the first 48 values
    try {
      const piece = new Float32Array(16);
      await file.read(4 * 32, new Uint8Array(piece.buffer));
      expect([...piece]).toEqual([...data.subarray(32, 48)]);
      await file.read(0, new Uint8Array(piece.buffer));
      expect([...piece]).toEqual([...data.subarray(0, 16)]);
      await expect(file.read(4 * 40, new Uint8Array(piece.buffer))).rejects.toThrow(InvalidArgumentError);
      await expect(file.read(-4, new Uint8Array(4))).rejects.toThrow(InvalidArgumentError);
    } finally {
      await file.close();
    }
    await expect(openFileRange({ ...range, path: join(dir, 'missing.bin') })).rejects.toThrow(FormatError);
  });
});

describe('compressOnnxParts on one thread, weights read from the file a block of rows at a time', () => {
  it('writes the bytes and report of the whole weights, for int8 per channel, int4 groups and an escalation', { timeout: 60000 }, async () => {
    const bytes = mixedMlp(RUN_SEED + 3); // fc0 with outliers, fc1 float16, fc2 with a NaN
    const path = join(dir, 'mixed.onnx');
    writeFileSync(path, bytes);
    const policies = [
      { firstLayer: 'quantize' },
      { dtype: 'qint4', granularity: 'group', groupSize: 32, minSqnrDb: 0, firstLayer: 'quantize' },
      { dtype: 'qint4', granularity: 'group', groupSize: 32, minSqnrDb: 26, firstLayer: 'quantize' }, // some escalate
    ] as const;
    for (const policy of policies) {
      const expected = await compressOnnx(bytes, policy, cpu);
      const source = await nodeFileSource(path);
      try {
        const model = await OnnxModel.loadDeferred(source, { name: 'mixed.onnx' });
        const { parts, byteLength, report } = await compressOnnxParts(model, policy, cpu, { fileBlockBytes: 16384 });
        const chunks: Uint8Array[] = [];
        await writeParts(parts, async (chunk) => { chunks.push(chunk.slice()); });
        expect(Buffer.compare(concatParts(chunks, byteLength), expected.model), JSON.stringify(policy)).toBe(0);
        expect(report.tensors).toEqual(expected.report.tensors);
      } finally {
        await source.close();
      }
    }
  });
});
