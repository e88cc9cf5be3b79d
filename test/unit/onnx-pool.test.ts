// compressOnnx with a CPU worker pool: on fresh random MLPs (big float32 and float16 weights in memory and read from
// the file by the workers, one with a NaN, one with outliers that escalates, small weights left on the calling thread)
// the model is the bytes of one thread and the report the same, for int8 per channel, int8 per tensor, int4
// groups with float16 scales and MatMulNBits; big weights go to the pool and small ones do not; 4-bit weights read
// in blocks come back packed for QDQ, MatMulNBits and GatherBlockQuantized; a worker that
// dies fails the call with WorkerError; a bad pool is an InvalidArgumentError.
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { type CompressOnnxOptions, compressOnnx, compressOnnxParts } from '../../src/compress/compress-onnx.js';
import { POOL_MIN_BYTES, createCpuWorkerPool } from '../../src/compress/cpu-worker-pool.js';
import { fileIntegerBytes } from '../../src/compress/file-blocking.js';
import { decideWeight } from '../../src/compress/policy.js';
import { quantizeWithFloor } from '../../src/compress/quality-floor.js';
import { FormatError, InvalidArgumentError, WorkerError } from '../../src/errors.js';
import { bytesSource, fileRangeOf } from '../../src/io/byte-source.js';
import { type NodeFileSource, nodeFileSource, readFileRange } from '../../src/io/safetensors/node-file-source.js';
import { concatParts, writeParts } from '../../src/io/onnx/deferred-raw-data.js';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';
import { decodeModel, encodeModel } from '../../src/io/onnx/proto.js';
import type { QTensor } from '../../src/qtensor.js';
import { workerDyingAt } from '../shared/cpu-worker-build.js';
import { countingPool, recordingPool, useCpuWorkerPool } from '../shared/cpu-worker-pool-fixture.js';
import { buildEmbeddingModel } from '../shared/embedding-onnx.js';
import { mixedMlp } from '../shared/mixed-mlp.js';
import { RUN_SEED } from './support.js';

const cpu = { backend: 'cpu' } as const;
const fixture = useCpuWorkerPool(2);

/**
 * A random MLP 256 → 512 → 384 → 300 → 64 (weights of 512, 768 and 450 KiB of float32 go to the pool, the last,
 * 75 KiB, stays): fc1 stored as float16, fc2 with a NaN, fc0 with outliers in a few rows.
 */
const randomModel = mixedMlp;

/** `bytes` with the named initializers' raw data moved to one external data file (64-byte aligned), and that file. */
function withExternalWeights(bytes: Uint8Array, names: string[], location: string): { model: Uint8Array; data: Uint8Array } {
  const proto = decodeModel(bytes, 'mlp');
  const pieces: Uint8Array[] = [];
  let length = 0;
  for (const tensor of proto.graph!.initializer!) {
    if (!names.includes(tensor.name!)) continue;
    const raw = tensor.rawData!;
    length = Math.ceil(length / 64) * 64;
    pieces.push(Object.assign(raw.slice(), { at: length }));
    tensor.externalData = [{ key: 'location', value: location }, { key: 'offset', value: String(length) }, { key: 'length', value: String(raw.byteLength) }];
    tensor.dataLocation = 1;
    tensor.rawData = new Uint8Array(0);
    length += raw.byteLength;
  }
  const data = new Uint8Array(length);
  for (const piece of pieces) data.set(piece, (piece as Uint8Array & { at: number }).at);
  return { model: encodeModel(proto), data };
}


const withoutSeconds = <R extends { seconds: number }>(report: R): Omit<R, 'seconds'> => {
  const { seconds: _, ...rest } = report;
  return rest;
};

const schemes: [string, CompressOnnxOptions][] = [
  ['int8 per channel', {}],
  ['int8 per tensor (fc0 escalates)', { dtype: 'qint8', granularity: 'tensor' }],
  ['int4 groups of 32, float16 scales', { dtype: 'qint4', granularity: 'group', groupSize: 32, scaleDtype: 'float16' }],
  ['MatMulNBits, int4 groups of 32', { onnxOps: 'contrib', dtype: 'quint4', granularity: 'group', groupSize: 32 }],
];

describe('compressOnnx with a CPU worker pool', () => {
  for (const [what, scheme] of schemes) {
    it(`${what}: the bytes and report of one thread, big weights on the pool`, async () => {
      const bytes = randomModel(RUN_SEED + what.length);
      const options: CompressOnnxOptions = { ...scheme, firstLayer: 'quantize' }; // fc0 too
      const alone = await compressOnnx(bytes, options, cpu);
      const before = bytes.slice();
      const counted = countingPool(fixture.pool);
      const pooled = await compressOnnx(bytes, { ...options, pool: counted }, cpu);
      expect(Buffer.compare(pooled.model, alone.model)).toBe(0);
      expect(Buffer.compare(bytes, before), 'the caller\'s bytes are never transferred').toBe(0);
      expect(withoutSeconds(pooled.report)).toEqual(withoutSeconds(alone.report));
      // fc0, fc1 and fc2 are at least POOL_MIN_BYTES of float32; fc3 and the biases are not.
      expect(300 * 64 * 4).toBeLessThan(POOL_MIN_BYTES);
      expect(counted.tasks).toBe(3);
      const tensors = new Map(alone.report.tensors.map((t) => [t.name, t]));
      expect(tensors.get('fc2.weight')!.action).toBe('keep'); // the NaN
      expect(tensors.get('fc1.weight')!.action).toBe('quantize'); // float16 in, float16 scales
      if (options.granularity === 'tensor') expect(tensors.get('fc0.weight')!.escalations?.length).toBeGreaterThan(0);
    });
  }

  it('a model whose weights are still in its file: read into arrays of its own and transferred, the same bytes', async () => {
    const bytes = randomModel(RUN_SEED + 99);
    const alone = await compressOnnx(bytes, {}, cpu);
    const deferred = await OnnxModel.loadDeferred(bytesSource(bytes), { name: 'mlp' });
    const { parts, byteLength, report } = await compressOnnxParts(deferred, { pool: fixture.pool }, cpu);
    const chunks: Uint8Array[] = [];
    await writeParts(parts, async (chunk) => { chunks.push(chunk.slice()); });
    expect(Buffer.compare(concatParts(chunks, byteLength), alone.model)).toBe(0);
    expect(withoutSeconds(report)).toEqual(withoutSeconds(alone.report));
  });

  it('weights in a file on disk, in the model and in an external data file: float32 and float16 ones read by the workers themselves, the same bytes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wq-onnx-pool-file-'));
    const opened: NodeFileSource[] = [];
    const open = async (path: string) => { const source = await nodeFileSource(path); opened.push(source); return source; };
    try {
      const bytes = randomModel(RUN_SEED + 41);
      const options: CompressOnnxOptions = { firstLayer: 'quantize' }; // fc0 too
      const alone = await compressOnnx(bytes, options, cpu);
      writeFileSync(join(dir, 'inline.onnx'), bytes);
      const external = withExternalWeights(bytes, ['fc0.weight', 'fc1.weight', 'fc2.weight'], 'inline.data');
      writeFileSync(join(dir, 'external.onnx'), external.model);
      writeFileSync(join(dir, 'inline.data'), external.data);
      const externalAlone = await compressOnnx(external.model, { ...options, externalData: () => external.data }, cpu);
      for (const [file, expected] of [['inline.onnx', alone], ['external.onnx', externalAlone]] as const) {
        // Whole, and a block of rows at a time (16 KiB: 8 and 13 rows of fc0 and fc2; fc2's NaN sends it back to whole).
        for (const fileBlockBytes of [undefined, 16384]) {
          const model = await OnnxModel.loadDeferred(await open(join(dir, file)), { name: file, externalData: (location) => open(join(dir, location)) });
          expect(await model.float32FileRange('fc0.weight')).toMatchObject({ byteLength: 256 * 512 * 4 });
          expect(await model.float32FileRange('fc1.weight')).toBeUndefined(); // float16: not float32 bytes ...
          expect(await model.tensorFileRange('fc1.weight')).toMatchObject({ byteLength: 512 * 384 * 2 }); // ... but its stored bytes are in the file
          const recorded = recordingPool(fixture.pool);
          const { parts, byteLength, report } = await compressOnnxParts(model, { ...options, pool: recorded }, cpu, fileBlockBytes ? { fileBlockBytes } : {});
          const chunks: Uint8Array[] = [];
          await writeParts(parts, async (chunk) => { chunks.push(chunk.slice()); });
          expect(Buffer.compare(concatParts(chunks, byteLength), expected.model), `${file}, blocks of ${fileBlockBytes}`).toBe(0);
          expect(withoutSeconds(report)).toEqual(withoutSeconds(expected.report));
          // fc0, fc1 (float16, converted by the worker as it reads, whole or in blocks) and fc2 (its NaN found there).
          expect(recorded.names, file).toEqual(['floorWeightFile', 'floorWeightFile', 'floorWeightFile']);
        }
      }
    } finally {
      for (const source of opened) await source.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('4-bit weights the workers read in blocks come back packed two to a byte, for QDQ, MatMulNBits and GatherBlockQuantized; the same bytes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wq-onnx-pool-nibbles-'));
    try {
      const mlp = randomModel(RUN_SEED + 43);
      // An embedding table of [1000, 128] (500 KiB of float32: on the pool) beside a projection.
      const embedding = buildEmbeddingModel(onnxProto.onnx, 128, RUN_SEED + 44);
      const cases: [string, CompressOnnxOptions, Uint8Array, number][] = [
        ['QDQ int4 groups', { dtype: 'qint4', granularity: 'group', groupSize: 32, minSqnrDb: 0 }, mlp, 256 * 512],
        ['QDQ uint4 groups, asymmetric', { dtype: 'quint4', symmetric: false, granularity: 'group', groupSize: 32, minSqnrDb: 0 }, mlp, 256 * 512],
        ['MatMulNBits', { onnxOps: 'contrib', dtype: 'quint4', granularity: 'group', groupSize: 32, minSqnrDb: 0 }, mlp, 256 * 512],
        // Blocks whose zero point is -1 are stored negated: the flip of packed nibbles.
        ['MatMulNBits int4, extreme range', { onnxOps: 'contrib', dtype: 'qint4', granularity: 'group', groupSize: 32, range: 'extreme', minSqnrDb: 0 }, mlp, 256 * 512],
        ['GatherBlockQuantized int4, extreme range', { onnxOps: 'contrib', dtype: 'qint4', granularity: 'group', groupSize: 32, range: 'extreme', minSqnrDb: 0 }, embedding, 1000 * 128],
        ['GatherBlockQuantized uint4, asymmetric', { onnxOps: 'contrib', dtype: 'quint4', symmetric: false, granularity: 'group', groupSize: 32, minSqnrDb: 0 }, embedding, 1000 * 128],
      ];
      for (const [what, scheme, bytes, elements] of cases) {
        writeFileSync(join(dir, 'mlp.onnx'), bytes);
        const options: CompressOnnxOptions = { ...scheme, firstLayer: 'quantize' };
        const alone = await compressOnnx(bytes, options, cpu);
        const seen: { packNibbles: unknown; packed: boolean; elements: number }[] = [];
        const pool = { ...fixture.pool, run: (async (task: string, args: unknown[], transfer?: ArrayBuffer[]) => {
          const result = await (fixture.pool.run as (...a: unknown[]) => Promise<unknown>)(task, args, transfer);
          const outcome = result as { kind: string; result?: { q: QTensor } };
          if (task === 'floorWeightFile' && outcome.kind === 'quantized') {
            const q = outcome.result!.q;
            seen.push({ packNibbles: args[6], packed: q.packedNibbles !== undefined, elements: q.size });
          }
          return result;
        }) as typeof fixture.pool.run };
        const source = await nodeFileSource(join(dir, 'mlp.onnx'));
        try {
          const model = await OnnxModel.loadDeferred(source, { name: 'mlp.onnx' });
          // Blocks of 64 KiB: 32 rows of fc0 [256, 512], 128 rows of the table [1000, 128].
          const { parts, byteLength, report } = await compressOnnxParts(model, { ...options, pool }, cpu, { fileBlockBytes: 65536 });
          const chunks: Uint8Array[] = [];
          await writeParts(parts, async (chunk) => { chunks.push(chunk.slice()); });
          expect(Buffer.compare(concatParts(chunks, byteLength), alone.model), what).toBe(0);
          expect(withoutSeconds(report), what).toEqual(withoutSeconds(alone.report));
        } finally {
          await source.close();
        }
        const weight = seen.find((s) => s.elements === elements);
        expect(weight, what).toMatchObject({ packNibbles: true, packed: true });
        if (what.startsWith('GatherBlockQuantized')) expect(alone.report.tensors.some((t) => t.onnxOp === 'GatherBlockQuantized'), what).toBe(true);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a file cut short after it was opened: a worker\'s read (or this thread\'s) fails the call with a FormatError naming the file, none left unobserved', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wq-onnx-pool-cut-'));
    const path = join(dir, 'm.onnx');
    const bytes = randomModel(RUN_SEED + 42);
    const sources: NodeFileSource[] = [];
    try {
      for (const fileBlockBytes of [undefined, 16384]) { // whole, and a block of rows at a time
        writeFileSync(path, bytes);
        const source = await nodeFileSource(path);
        sources.push(source);
        const model = await OnnxModel.loadDeferred(source, { name: 'm.onnx' });
        truncateSync(path, Math.floor(bytes.byteLength / 2));
        const error = await compressOnnxParts(model, { pool: fixture.pool, firstLayer: 'quantize' }, cpu, fileBlockBytes ? { fileBlockBytes } : {}).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(FormatError);
        expect((error as Error).message).toMatch(/m\.onnx: (a tensor needs bytes \d+\.\.\d+, but the file has only \d+ bytes; the file is truncated|the file ended at byte \d+ .*truncated or changed while open)/);
      }
    } finally {
      for (const source of sources) await source.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('file ranges name only files opened by nodeFileSource, and only inside them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wq-file-range-'));
    const path = join(dir, 'f.bin');
    writeFileSync(path, Uint8Array.from({ length: 64 }, (_, i) => i));
    const source = await nodeFileSource(path);
    try {
      expect(fileRangeOf(source, 8, 16)).toEqual({ path, offset: 8, byteLength: 16 });
      expect(fileRangeOf(source, 60, 8)).toBeUndefined(); // past the end
      expect(fileRangeOf(source, -1, 8)).toBeUndefined();
      expect(fileRangeOf(bytesSource(new Uint8Array(64)), 0, 8)).toBeUndefined();
      expect(fileRangeOf({ ...source }, 0, 8)).toBeUndefined(); // a copy is not the file source
      const target = new Uint8Array(16);
      await readFileRange({ path, offset: 8, byteLength: 16 }, target);
      expect([...target]).toEqual(Array.from({ length: 16 }, (_, i) => i + 8));
      await expect(readFileRange({ path, offset: 8, byteLength: 16 }, new Uint8Array(15))).rejects.toThrow(InvalidArgumentError);
      await expect(readFileRange({ path, offset: 56, byteLength: 16 }, target)).rejects.toThrow(FormatError);
      await expect(readFileRange({ path: join(dir, 'gone.bin'), offset: 0, byteLength: 16 }, target)).rejects.toThrow(FormatError);
      await expect(readFileRange({ path: join(dir, 'gone.bin'), offset: 0, byteLength: 16 }, target)).rejects.toThrow(/gone\.bin: cannot be opened to read a tensor/);
    } finally {
      await source.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a worker that dies: WorkerError', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wq-onnx-pool-kill-'));
    const dying = await createCpuWorkerPool({ workers: 1, workerUrl: workerDyingAt(dir, fixture.worker.url, 2) });
    try {
      const error = await compressOnnx(randomModel(RUN_SEED + 7), { pool: dying }, cpu).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WorkerError);
      expect((error as Error).message).toMatch(/CPU worker 1 of 1 stopped \(exit code 1\)/);
    } finally {
      await dying.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a packed weight\'s parameters after its integers, in a fresh buffer of freshBytes where no spare fits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wq-onnx-pool-fresh-'));
    // A pool of its own: no spare buffers left by other tests.
    const pool = await createCpuWorkerPool({ workers: 1, workerUrl: fixture.worker.url });
    try {
      const shape = [128, 64];
      const data = Float32Array.from({ length: 128 * 64 }, (_, i) => Math.sin(i * 0.37 + RUN_SEED % 100) * (1 + (i % 7)));
      const path = join(dir, 'w.bin');
      writeFileSync(path, new Uint8Array(data.buffer));
      const range = { path, offset: 0, byteLength: data.byteLength };
      const decision = decideWeight({ name: 'w', dtype: 'float32', shape, consumers: [{ opType: 'MatMul', inputIndex: 1 }] },
        { dtype: 'qint4', granularity: 'group', groupSize: 32, minSqnrDb: 0, firstLayer: 'quantize' });
      const blockBytes = 4 * 64 * 64; // two blocks of 64 rows
      const need = fileIntegerBytes(shape, decision, blockBytes, true);
      expect(need, 'packed integers, then 16 bytes a parameter').toBe(128 * 64 / 2 + 16 * (128 / 32) * 64);
      const fresh = need + 4096;
      const outcome = await pool.run('floorWeightFile', [range, shape, decision, undefined, undefined, blockBytes, true, 'float32', undefined, fresh]);
      const alone = await quantizeWithFloor({ data, shape }, decision, {}, cpu);
      expect(outcome.kind === 'quantized' && alone.kind === 'quantized').toBe(true);
      if (outcome.kind !== 'quantized' || alone.kind !== 'quantized') return;
      const { q, scales, zeroPoints } = outcome.result;
      expect(q.packedNibbles!.buffer.byteLength, 'a fresh buffer of freshBytes').toBe(fresh);
      expect(scales.buffer === q.packedNibbles!.buffer && zeroPoints.buffer === q.packedNibbles!.buffer).toBe(true);
      expect(Buffer.from(q.packedNibbles!).equals(Buffer.from(alone.result.q.packedData()))).toBe(true);
      expect(Array.from(scales)).toEqual(Array.from(alone.result.scales));
      expect(Array.from(zeroPoints)).toEqual(Array.from(alone.result.zeroPoints));
      expect(outcome.result.stats).toEqual(alone.result.stats);
    } finally {
      await pool.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a pool that is not one: InvalidArgumentError naming options.pool, before any work', async () => {
    const error = await compressOnnx(randomModel(RUN_SEED + 8), { pool: 2 as never }, cpu).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toMatch(/options\.pool must be a pool from createCpuWorkerPool/);
  });
});
