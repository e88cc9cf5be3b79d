// compressOnnx with a CPU worker pool: big weights quantized on worker threads give the model bytes of the
// one-thread path, on fresh random models (float32 and float16 weights, a weight with a NaN, several schemes,
// float16 scale storage), and a worker that dies fails the call with WorkerError.
import { rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CompressOnnxOptions, compressOnnx } from '../../src/compress/compress-onnx.js';
import { type CpuWorkerPool, createCpuWorkerPool } from '../../src/compress/cpu-worker-pool.js';
import { InvalidArgumentError, WorkerError } from '../../src/errors.js';
import { floatToHalfBits } from '../../src/io/half.js';
import { buildCpuWorker } from '../shared/cpu-worker-build.js';
import { buildMlp } from '../shared/mlp-onnx.js';
import { RUN_SEED, rng } from '../shared/random.js';

const { onnx } = onnxProto;
let worker: { url: URL; dir: string };
let pool: CpuWorkerPool;

beforeAll(async () => {
  worker = await buildCpuWorker();
  pool = await createCpuWorkerPool({ workers: 2, workerUrl: worker.url });
});

afterAll(async () => {
  await pool?.close();
  if (worker) rmSync(worker.dir, { recursive: true, force: true });
});

/**
 * An MLP whose weights are over the pool's 256 KiB threshold but one, with rows of uneven ranges, one weight
 * holding a NaN, and one weight stored as float16.
 */
function randomModel(seed: number): Uint8Array {
  const next = rng(seed);
  const mlp = buildMlp(onnx, [256, 512, 384, 320, 256, 64], seed);
  const model = onnx.ModelProto.decode(mlp.model);
  const initializers = model.graph!.initializer!;
  for (const init of initializers) {
    if (!init.name!.endsWith('.weight')) continue;
    const raw = init.rawData!;
    const w = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    const cols = Number(init.dims![1]);
    for (let i = 0; i < w.length; i++) w[i]! *= 0.05 + ((i % cols) % 11) * next(); // uneven channels (axis 1 for MatMul)
    if (init.name === 'fc2.weight') w[Math.floor(next() * w.length)] = NaN;
    if (init.name === 'fc3.weight') {
      init.dataType = onnx.TensorProto.DataType.FLOAT16;
      init.rawData = new Uint8Array(Uint16Array.from(w, (v) => floatToHalfBits(v)).buffer);
    } else {
      init.rawData = new Uint8Array(w.buffer);
    }
  }
  return onnx.ModelProto.encode(model).finish();
}

describe('compressOnnx on a CPU worker pool', () => {
  it('writes the bytes of one thread, on fresh random models and several schemes', async () => {
    console.log(`seed ${RUN_SEED}`);
    const model = randomModel(RUN_SEED);
    const policies: CompressOnnxOptions[] = [
      {}, { dtype: 'qint4', granularity: 'group', groupSize: 32 }, { dtype: 'quint8', granularity: 'tensor' },
      { dtype: 'qint8', scaleDtype: 'float16' }, { dtype: 'qint4', granularity: 'group', groupSize: 32, onnxOps: 'contrib' },
    ];
    for (const policy of policies) {
      const alone = await compressOnnx(model, policy, { backend: 'cpu' });
      let runs = 0;
      const counted = { ...pool, size: pool.size, // counts the weights sent to the workers
         run: ((...args: Parameters<CpuWorkerPool['run']>) => { runs++; return pool.run(...args); }) as CpuWorkerPool['run'] };
      const pooled = await compressOnnx(model, { ...policy, pool: counted }, { backend: 'cpu' });
      expect(runs, 'weights quantized on the pool').toBeGreaterThanOrEqual(3);
      expect(alone.model.byteLength).toBeGreaterThan(1000);
      expect(Buffer.compare(pooled.model, alone.model), JSON.stringify(policy)).toBe(0);
      expect(pooled.report.tensors.map((t) => [t.name, t.action, t.sqnrDb])).toEqual(alone.report.tensors.map((t) => [t.name, t.action, t.sqnrDb]));
      // The NaN weight is kept with its reason, on the pool as on this thread.
      expect(pooled.report.tensors.find((t) => t.name === 'fc2.weight')).toMatchObject({ action: 'keep', reason: expect.stringMatching(/NaN/) });
    }
  });

  it('a worker that dies: WorkerError, and no model', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wq-onnx-pool-kill-'));
    const script = join(dir, 'dies.mjs');
    writeFileSync(script, `import { parentPort } from 'node:worker_threads';\nawait import(${JSON.stringify(worker.url.href)});\n`
      + `let tasks = 0;\nparentPort.on('message', () => { if (++tasks === 2) process.exit(1); });\n`);
    const dying = await createCpuWorkerPool({ workers: 1, workerUrl: pathToFileURL(script) });
    try {
      const error = await compressOnnx(randomModel(RUN_SEED + 1), { pool: dying }, { backend: 'cpu' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WorkerError);
      expect((error as Error).message).toMatch(/CPU worker 1 of 1 stopped \(exit code 1\)/);
    } finally {
      await dying.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a pool that is not one', async () => {
    await expect(compressOnnx(randomModel(RUN_SEED + 2), { pool: {} as CpuWorkerPool }, { backend: 'cpu' })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(compressOnnx(randomModel(RUN_SEED + 2), { pool: 2 as unknown as CpuWorkerPool })).rejects.toThrow(/options.pool must be a pool from createCpuWorkerPool\(\)/);
  });
});
