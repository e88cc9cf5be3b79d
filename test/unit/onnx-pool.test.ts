// compressOnnx with a CPU worker pool: on fresh random MLPs (big float32 weights in memory and read from the file,
// a float16 weight, one with a NaN, one with outliers that escalates, small weights left on the calling thread)
// the model is the bytes of one thread and the report the same, for int8 per channel, int8 per tensor, int4
// groups with float16 scales and MatMulNBits; big weights go to the pool and small ones do not; a worker that
// dies fails the call with WorkerError; a bad pool is an InvalidArgumentError.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { type CompressOnnxOptions, compressOnnx, compressOnnxParts } from '../../src/compress/compress-onnx.js';
import { POOL_MIN_BYTES, createCpuWorkerPool } from '../../src/compress/cpu-worker-pool.js';
import { InvalidArgumentError, WorkerError } from '../../src/errors.js';
import { bytesSource } from '../../src/io/byte-source.js';
import { concatParts, writeParts } from '../../src/io/onnx/deferred-raw-data.js';
import { floatToHalfBits } from '../../src/io/half.js';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';
import { decodeModel, encodeModel } from '../../src/io/onnx/proto.js';
import { workerDyingAt } from '../shared/cpu-worker-build.js';
import { countingPool, useCpuWorkerPool } from '../shared/cpu-worker-pool-fixture.js';
import { buildMlp } from '../shared/mlp-onnx.js';
import { RUN_SEED, rng } from './support.js';

const cpu = { backend: 'cpu' } as const;
const fixture = useCpuWorkerPool(2);

/**
 * A random MLP 256 → 512 → 384 → 300 → 64 (weights of 512, 768 and 450 KiB of float32 go to the pool, the last,
 * 75 KiB, stays): fc1 stored as float16, fc2 with a NaN, fc0 with outliers in a few rows.
 */
function randomModel(seed: number): Uint8Array {
  const next = rng(seed);
  const mlp = buildMlp(onnxProto.onnx, [256, 512, 384, 300, 64], seed);
  const proto = decodeModel(mlp.model, 'mlp');
  const raw = (name: string) => proto.graph!.initializer!.find((t) => t.name === name)!;
  const [fc0, fc1, fc2] = mlp.weights.map((w) => w.slice());
  for (let k = 0; k < 6; k++) fc0![Math.floor(next() * fc0!.length)] = (next() < 0.5 ? -1 : 1) * (20 + 40 * next());
  raw('fc0.weight').rawData = new Uint8Array(fc0!.buffer);
  raw('fc1.weight').dataType = 10; // float16
  raw('fc1.weight').rawData = new Uint8Array(Uint16Array.from(fc1!, (v) => floatToHalfBits(v)).buffer);
  fc2![Math.floor(next() * fc2!.length)] = NaN;
  raw('fc2.weight').rawData = new Uint8Array(fc2!.buffer);
  return encodeModel(proto);
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

  it('a pool that is not one: InvalidArgumentError naming options.pool, before any work', async () => {
    const error = await compressOnnx(randomModel(RUN_SEED + 8), { pool: 2 as never }, cpu).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toMatch(/options\.pool must be a pool from createCpuWorkerPool/);
  });
});
