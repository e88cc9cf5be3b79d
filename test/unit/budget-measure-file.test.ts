// The size budget's measurements of a weight in a file, a block of rows at a time (budget-measure-file.ts), are
// measureOptions' on the whole weight to the bit: each option's relative error and parameter storage, and the kept
// option's integers, for a MatMul weight (int8 per channel along its columns, int4 groups along its rows) stored
// as float32 and as float16, with scales rounded, and options below the quality floor, the group options measured
// together (those whose blocks differ alone); the mean square is the whole array's. A NaN, or an option that does not go in blocks, leaves the weight to be measured whole. On one
// thread, a model's big weights measured so from its file give the model, allocation and report of the same model
// measured from its bytes in memory.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, describe, expect, it } from 'vitest';
import { budgetOptionDecisions, meanSquare, measureOptions } from '../../src/compress/budget-measure.js';
import { budgetFromFiles, meanSquareOfFile, measureFileInBlocks, measuringMemoryBytes, releaseMeasuringMemory } from '../../src/compress/budget-measure-file.js';
import { compressOnnx, compressOnnxParts } from '../../src/compress/compress-onnx.js';
import { planOnnxCompression } from '../../src/compress/onnx-plan.js';
import { concatParts, writeParts } from '../../src/io/onnx/deferred-raw-data.js';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';
import { nodeFileSource } from '../../src/io/safetensors/node-file-source.js';
import { buildMlp } from '../shared/mlp-onnx.js';
import { scaleRounder, storedParametersOf } from '../../src/compress/scale-storage.js';
import { fileBlocking } from '../../src/compress/file-blocking.js';
import { toFloat32 } from '../../src/io/float-convert.js';
import { RUN_SEED, normalData, rng } from './support.js';

const cpu = { backend: 'cpu' } as const;
const dir = mkdtempSync(join(tmpdir(), 'wq-budget-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
/** `bytes` in a file after 5 bytes of something else: its range. */
function inFile(bytes: Uint8Array) {
  const path = join(dir, `w${files++}.bin`);
  writeFileSync(path, new Uint8Array([9, 9, 9, 9, 9, ...bytes]));
  return { path, offset: 5, byteLength: bytes.byteLength };
}

/** Float16 bits of finite values (truncated: any half value will do). */
function halves(data: Float32Array): Uint8Array {
  const out = new Uint16Array(data.length);
  const bits = new Uint32Array(new Float32Array(data).buffer);
  for (let i = 0; i < data.length; i++) {
    const u = bits[i]!;
    const e = ((u >>> 23) & 0xff) - 127 + 15;
    out[i] = ((u >>> 16) & 0x8000) | (e <= 0 ? 0 : e >= 31 ? 0x7bff : (e << 10) | ((u >>> 13) & 0x3ff));
  }
  return new Uint8Array(out.buffer);
}

describe(`measureFileInBlocks (seed ${RUN_SEED})`, () => {
  const next = rng(RUN_SEED + 41);
  const shape = [512, 200];
  const weight = { name: 'w', dtype: 'float32' as const, shape, consumers: [{ opType: 'MatMul', inputIndex: 1 }] };
  const options = budgetOptionDecisions(weight, {}).map(([, d]) => d);
  const blockBytes = 4 * 200 * 128; // 128 rows a block: four blocks for every option
  // Rows and columns of different ranges, a few outliers.
  const data = normalData(512 * 200, next, 0.05).map((v, i) => v * (1 + (i % 7)) * (1 + Math.floor(i / 200) % 3) * (next() < 0.001 ? 20 : 1));

  it('every option in blocks: int8 per channel along the columns, int4 groups of 32, 64 and 128 along the rows', () => {
    expect(options.map((d) => `${d.dtype} ${d.granularity} ${d.axis} ${d.groupSize ?? ''}`)).toEqual(['qint8 channel 1 ', 'qint4 group 0 32', 'qint4 group 0 64', 'qint4 group 0 128']);
    expect(options.map((d) => fileBlocking(shape, d, blockBytes)?.count)).toEqual([4, 4, 4, 4]);
  });

  for (const dtype of ['float32', 'float16'] as const) {
    it(`${dtype}: measureOptions' errors, storage and kept integers, to the bit`, async () => {
      const bytes = dtype === 'float32' ? new Uint8Array(data.buffer) : halves(data);
      const values = toFloat32(bytes, dtype);
      const range = inFile(bytes);
      expect(await meanSquareOfFile(range, dtype, values.length)).toBe(meanSquare(values));
      const roundScale = scaleRounder('halfScale');
      const storedOf = (r: Parameters<typeof storedParametersOf>[0], d: Parameters<typeof storedParametersOf>[1]) => storedParametersOf(r, d, 'float16');
      const whole = await measureOptions({ data: values, shape }, options, roundScale ? { roundScale } : {}, cpu, storedOf, 1);
      const got = await measureFileInBlocks(range, dtype, shape, options, roundScale ? { roundScale } : {}, storedOf, 1, blockBytes);
      expect(got, dtype).toBeDefined();
      expect(got!.relativeErrors, dtype).toEqual(whole!.measured.relativeErrors);
      expect(got!.relativeErrors.every((e) => e > 0 && e < 0.2)).toBe(true);
      expect(got!.stored).toEqual(whole!.measured.stored);
      expect(got!.stored.every((s) => s !== undefined)).toBe(true);
      const [kept, keptWhole] = [got!.kept!, whole!.measured.kept!];
      expect(kept.index).toBe(1);
      expect(kept.q.intReprView().buffer.byteLength, 'the kept integers in memory of their own').toBe(shape[0]! * shape[1]!);
      expect(Array.from(kept.q.intReprView())).toEqual(Array.from(keptWhole.q.intReprView()));
      expect(Array.from(kept.q.qPerGroupScales())).toEqual(Array.from(keptWhole.q.qPerGroupScales()));
      // Without storage or a kept option: the same errors.
      const plain = await measureFileInBlocks(range, dtype, shape, options, roundScale ? { roundScale } : {}, undefined, undefined, blockBytes);
      expect(plain!.relativeErrors).toEqual(whole!.measured.relativeErrors);
      expect(plain!.stored.every((s) => s === undefined) && plain!.kept === undefined).toBe(true);
    });
  }

  it('the measuring memory is let go on request, and measuring again gives the same errors', async () => {
    const range = inFile(new Uint8Array(data.buffer));
    releaseMeasuringMemory();
    const first = await measureFileInBlocks(range, 'float32', shape, options, {}, undefined, undefined, blockBytes);
    // Held for the next weight: int8's parameters per channel (16 bytes each, with the float64 scales); the three
    // group options, measured together, keep none of theirs past a block (and where each was measured alone, the
    // groups of 32's, 16 bytes each, were held: 51,200 bytes more).
    expect(measuringMemoryBytes()).toBe(16 * 200);
    releaseMeasuringMemory();
    expect(measuringMemoryBytes()).toBe(0);
    const again = await measureFileInBlocks(range, 'float32', shape, options, {}, undefined, undefined, blockBytes);
    expect(again!.relativeErrors).toEqual(first!.relativeErrors);
    expect(first!.relativeErrors.every((e) => e > 0)).toBe(true);
  });

  it('group options in blocks of other sizes: those in the smallest\'s blocks together, the rest alone, the same numbers', async () => {
    // Blocks of 200 rows: groups of 32 and 64 go in blocks of 192 rows, groups of 128 in blocks of 128.
    const blocks = 4 * 200 * 200;
    expect(options.map((d) => fileBlocking(shape, d, blocks)?.rowsPerBlock)).toEqual([200, 192, 192, 128]);
    const range = inFile(new Uint8Array(data.buffer));
    const storedOf = (r: Parameters<typeof storedParametersOf>[0], d: Parameters<typeof storedParametersOf>[1]) => storedParametersOf(r, d, 'float16');
    const whole = await measureOptions({ data, shape }, options, {}, cpu, storedOf);
    const got = await measureFileInBlocks(range, 'float32', shape, options, {}, storedOf, undefined, blocks);
    expect(got!.relativeErrors).toEqual(whole!.measured.relativeErrors);
    expect(got!.stored).toEqual(whole!.measured.stored);
  });

  it('options below the quality floor are measured all the same (the allocator judges them)', async () => {
    const strict = budgetOptionDecisions(weight, { minSqnrDb: 60 }).map(([, d]) => d);
    expect(strict.every((d) => d.minSqnrDb === 60)).toBe(true);
    const whole = await measureOptions({ data, shape }, strict, {}, cpu);
    const got = await measureFileInBlocks(inFile(new Uint8Array(data.buffer)), 'float32', shape, strict, {}, undefined, undefined, blockBytes);
    expect(got?.relativeErrors).toEqual(whole!.measured.relativeErrors);
  });

  it('a NaN, or an option that does not go in blocks: undefined (measured whole)', async () => {
    const nan = data.slice();
    nan[400 * 200 + 7] = NaN;
    expect(await measureFileInBlocks(inFile(new Uint8Array(nan.buffer)), 'float32', shape, options, {}, undefined, undefined, blockBytes)).toBeUndefined();
    // Blocks of 100 rows: groups of 128 rows do not fit one.
    const range = inFile(new Uint8Array(data.buffer));
    expect(fileBlocking(shape, options[3]!, 4 * 200 * 100)).toBeUndefined();
    expect(await measureFileInBlocks(range, 'float32', shape, options, {}, undefined, undefined, 4 * 200 * 100)).toBeUndefined();
    expect(await measureFileInBlocks(range, 'float32', shape, options.slice(0, 3), {}, undefined, undefined, 4 * 200 * 100)).toBeDefined();
    expect(await measureFileInBlocks(range, 'float32', shape, [], {})).toBeUndefined();
  });
});

describe('budgetFromFiles: the size budget on one thread, a weight in a file a block of rows at a time', () => {
  it('measures what the allocator measures, leaves small weights to it, and writes the same model as from memory', { timeout: 60000 }, async () => {
    // fc1 [1024, 2048] is 8 MiB of float32: two blocks of 512 rows for every option; fc0 and fc2 are one block.
    const bytes = buildMlp(onnxProto.onnx, [256, 1024, 2048, 64], RUN_SEED + 43).model;
    const path = join(dir, 'mlp.onnx');
    writeFileSync(path, bytes);
    const source = await nodeFileSource(path);
    try {
      const model = await OnnxModel.loadDeferred(source, { name: 'mlp.onnx' });
      const weights = model.list();
      const decisions = planOnnxCompression(model, { targetBits: 5 }).decisions;
      const read = (i: number) => model.readFloat32(weights[i]!.name);
      const measured = budgetFromFiles(model, weights, decisions, {}, read, {});
      const fc1 = weights.findIndex((w) => w.name === 'fc1.weight');
      const fc0 = weights.findIndex((w) => w.name === 'fc0.weight');
      expect(measured(fc0), 'one block: the allocator measures it').toBeUndefined();
      const got = await measured(fc1)!;
      const options = budgetOptionDecisions(weights[fc1]!, {}).map(([, d]) => d);
      const whole = await measureOptions({ data: await read(fc1), shape: [...weights[fc1]!.shape] }, options, {}, cpu);
      expect(got).toEqual(whole!.measured);
      // The whole compression under a budget: from the file (fc1 measured in blocks) and from the bytes.
      const expected = await compressOnnx(bytes, { targetBits: 5 }, cpu);
      const { parts, byteLength, report } = await compressOnnxParts(model, { targetBits: 5 }, cpu);
      const chunks: Uint8Array[] = [];
      await writeParts(parts, async (chunk) => { chunks.push(chunk.slice()); });
      expect(Buffer.compare(concatParts(chunks, byteLength), expected.model)).toBe(0);
      expect(report.budget?.bits).toBe(expected.report.budget?.bits);
      expect(report.tensors).toEqual(expected.report.tensors);
    } finally {
      await source.close();
    }
  });
});
