// The CPU worker pool: compressing with worker threads gives the bytes of the one-thread path on fresh random
// models (planning on the workers, and quantizing again on them when a result is not held), typed errors
// cross the thread boundary, and a worker that dies fails the call with WorkerError and leaves no file.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compressToSafetensors } from '../../src/compress/compress-safetensors.js';
import { createCpuWorkerPool } from '../../src/compress/cpu-worker-pool.js';
import { type CompressionPolicy, decideWeights } from '../../src/compress/policy.js';
import { InvalidArgumentError, WorkerError } from '../../src/errors.js';
import { bytesSource, memorySink, nodeFileSink, openSafetensors, serializeSafetensors } from '../../src/io/safetensors/index.js';
import { chooseQParams } from '../../src/ops/choose-qparams.js';
import { quantizePerChannel, quantizePerGroup, quantizePerTensor } from '../../src/ops/quantize.js';
import { useCpuWorkerPool } from '../shared/cpu-worker-pool-fixture.js';
import { workerDyingAt } from '../shared/cpu-worker-build.js';
import { RUN_SEED, rng } from '../shared/random.js';

const fixture = useCpuWorkerPool(2);

/** Float16 bits of a float32 value (round to nearest even is not needed here: any half value will do). */
function halfBits(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0]!;
  const exponent = ((u >>> 23) & 0xff) - 127 + 15;
  return ((u >>> 16) & 0x8000) | (exponent <= 0 ? 0 : exponent >= 31 ? 0x7c00 : (exponent << 10) | ((u >>> 13) & 0x3ff));
}

/** A random model: big and small float32 weights of uneven shapes, a float16 weight, a bias, a big weight with a NaN. */
async function randomModel(seed: number): Promise<Uint8Array> {
  const next = rng(seed);
  const normal = (n: number, rowScale: (row: number) => number, cols: number) =>
    Float32Array.from({ length: n }, (_, i) => (next() * 2 - 1) * rowScale(Math.floor(i / cols)));
  const shapes: [string, number[]][] = [['a.weight', [256, 512]], ['b.weight', [300, 257]], ['c.weight', [64, 64]], ['d.weight', [513, 129]]];
  const tensors = shapes.map(([name, shape]) => ({
    name, dtype: 'F32' as const, shape, data: normal(shape[0]! * shape[1]!, (row) => 0.01 + (row % 7) * (1 + next()), shape[1]!),
  }));
  const nan = normal(384 * 256, () => 1, 256);
  nan[Math.floor(next() * nan.length)] = NaN;
  tensors.push({ name: 'e.weight', dtype: 'F32', shape: [384, 256], data: nan });
  tensors.push({ name: 'f.bias', dtype: 'F32', shape: [512], data: normal(512, () => 1, 512) });
  const half = Uint16Array.from(normal(512 * 256, () => 0.5, 256), halfBits);
  return serializeSafetensors([
    ...tensors,
    { name: 'g.weight', dtype: 'F16', shape: [512, 256], data: new Uint8Array(half.buffer) },
  ]);
}

async function compressBytes(model: Uint8Array, policy: CompressionPolicy, options: Parameters<typeof compressToSafetensors>[5]): Promise<Uint8Array> {
  const reader = await openSafetensors(bytesSource(model, 'model.safetensors'));
  const sink = memorySink();
  await compressToSafetensors(reader, decideWeights(reader.list(), policy), sink, { backend: 'cpu' }, undefined, options);
  return sink.bytes();
}

describe('CPU worker pool', () => {
  it('compresses to the same bytes as one thread, on fresh random models and several schemes', async () => {
    console.log(`seed ${RUN_SEED}`);
    const model = await randomModel(RUN_SEED);
    const policies: CompressionPolicy[] = [{ dtype: 'qint8' }, { dtype: 'qint4', granularity: 'group', groupSize: 32 }, { dtype: 'quint8', granularity: 'tensor' }];
    for (const policy of policies) {
      const alone = await compressBytes(model, policy, {});
      expect(alone.byteLength).toBeGreaterThan(1000);
      expect(Buffer.compare(await compressBytes(model, policy, { pool: fixture.pool }), alone), JSON.stringify(policy)).toBe(0);
      // Nothing held from planning: every weight is quantized again for writing, on the pool.
      expect(Buffer.compare(await compressBytes(model, policy, { pool: fixture.pool, heldBytes: 0 }), alone), `${JSON.stringify(policy)}, none held`).toBe(0);
    }
  });

  it('runs a task on a worker with the results of this thread, and rethrows its typed errors', async () => {
    const next = rng(RUN_SEED + 1);
    const data = Float32Array.from({ length: 96 * 40 }, () => next() * 8 - 4);
    const scales = Float32Array.from({ length: 40 }, () => 0.01 + next() * 0.05);
    const zeroPoints = Int32Array.from({ length: 40 }, () => Math.floor(next() * 20) - 10);
    const here = await quantizePerChannel({ data, shape: [96, 40] }, scales, zeroPoints, 1, 'qint8', { backend: 'cpu' });
    const there = await fixture.pool.run('quantizePerChannel', [{ data, shape: [96, 40] }, scales, zeroPoints, 1, 'qint8']);
    expect(there.intRepr()).toEqual(here.intRepr());
    expect(there.qPerChannelScales()).toEqual(here.qPerChannelScales());
    for (const spec of [{ dtype: 'qint8', granularity: { axis: 0 }, symmetric: true }, { dtype: 'quint4', granularity: { axis: 1, groupSize: 32 } },
      { dtype: 'quint8' }] as const) {
      const params = await chooseQParams({ data, shape: [96, 40] }, spec, { backend: 'cpu' });
      const both = await fixture.pool.run('calibrateAndQuantize', [{ data, shape: [96, 40] }, spec]);
      expect(both.params).toEqual(params);
      const q = 'groupSize' in params ? await quantizePerGroup({ data, shape: [96, 40] }, params.scales, params.zeroPoints, params.axis, params.groupSize, spec.dtype, { backend: 'cpu' })
        : 'scales' in params ? await quantizePerChannel({ data, shape: [96, 40] }, params.scales, params.zeroPoints, params.axis, spec.dtype, { backend: 'cpu' })
          : await quantizePerTensor({ data, shape: [96, 40] }, params.scale, params.zeroPoint, spec.dtype, { backend: 'cpu' });
      expect(both.q.intRepr(), JSON.stringify(spec)).toEqual(q.intRepr());
      expect(both.q.qscheme()).toBe(q.qscheme());
    }
    const error = await fixture.pool.run('quantizePerChannel', [{ data, shape: [96, 40] }, scales, zeroPoints, 5, 'qint8']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).argument).toBe('axis');
    // Arguments that cannot be sent: a typed error, and the pool still works.
    const detached = new Float32Array(8);
    structuredClone(detached.buffer, { transfer: [detached.buffer] });
    await expect(fixture.pool.run('quantizePerChannel', [{ data: detached, shape: [8] }, [1], [0], 0, 'qint8'])).rejects.toThrow(/cannot be sent to a worker/);
    expect((await fixture.pool.run('quantizePerChannel', [{ data, shape: [96, 40] }, scales, zeroPoints, 1, 'qint8'])).intRepr()).toEqual(here.intRepr());
  });

  it('a worker that dies while the file is being written: WorkerError, and no output file or temporary file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wq-pool-kill-'));
    // The real worker, except that it exits on its eighth task. Five weights are planned on the pool; nothing is
    // held from planning, so the four quantized ones are quantized again for writing, two at a time on one
    // worker: the eighth task is sent once the first weight's result is back, so it dies mid-write.
    const dying = await createCpuWorkerPool({ workers: 1, workerUrl: workerDyingAt(dir, fixture.worker.url, 8) });
    try {
      const reader = await openSafetensors(bytesSource(await randomModel(RUN_SEED + 2), 'model.safetensors'));
      const path = join(dir, 'out', 'model.safetensors');
      mkdirSync(join(dir, 'out'));
      let written = 0;
      const error = await compressToSafetensors(reader, decideWeights(reader.list(), { dtype: 'qint8' }), await nodeFileSink(path), { backend: 'cpu' },
        (progress) => { written = progress.done; }, { pool: dying, heldBytes: 0 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WorkerError);
      expect((error as Error).message).toMatch(/CPU worker 1 of 1 stopped \(exit code 1\); the calls waiting on the pool failed \(a compression aborts its output: nothing was written\)/);
      expect(written).toBeGreaterThan(0); // it died mid-write
      expect(readdirSync(join(dir, 'out'))).toEqual([]); // no output, no temporary file
      // The pool takes no more work.
      await expect(dying.run('chooseQParams', [{ data: Float32Array.of(1, 2), shape: [2] }, { dtype: 'qint8' }])).rejects.toBeInstanceOf(WorkerError);
    } finally {
      await dying.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a worker terminated before the call: WorkerError, and no output file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wq-pool-kill-'));
    const killed = await createCpuWorkerPool({ workers: 2, workerUrl: fixture.worker.url });
    try {
      await killed.killWorker(0);
      const reader = await openSafetensors(bytesSource(await randomModel(RUN_SEED + 3), 'model.safetensors'));
      const path = join(dir, 'model.safetensors');
      await expect(compressToSafetensors(reader, decideWeights(reader.list(), { dtype: 'qint8' }), await nodeFileSink(path), { backend: 'cpu' },
        undefined, { pool: killed })).rejects.toThrow(/CPU worker 1 of 2 stopped/);
      expect(existsSync(path)).toBe(false);
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      await killed.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a worker that exits by itself, or whose script is missing: WorkerError', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wq-pool-exit-'));
    try {
      const script = join(dir, 'exits.mjs');
      writeFileSync(script, "import { parentPort } from 'node:worker_threads';\nparentPort.on('message', () => process.exit(3));\n");
      const exits = await createCpuWorkerPool({ workers: 1, workerUrl: pathToFileURL(script) });
      await expect(exits.run('chooseQParams', [{ data: Float32Array.of(1, 2), shape: [2] }, { dtype: 'qint8' }])).rejects.toThrow(/exit code 3/);
      await exits.close();
      const missing = await createCpuWorkerPool({ workers: 1, workerUrl: pathToFileURL(join(dir, 'missing.js')) });
      await expect(missing.run('chooseQParams', [{ data: Float32Array.of(1, 2), shape: [2] }, { dtype: 'qint8' }])).rejects.toBeInstanceOf(WorkerError);
      await missing.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('starts each worker with a young generation of 4 MB (its typed arrays collected sooner)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wq-pool-limits-'));
    try {
      // The real worker behind a check: a worker started without the limit exits with code 7 on its first task.
      const script = join(dir, 'limits.mjs');
      writeFileSync(script, "import { parentPort, resourceLimits } from 'node:worker_threads';\n"
        + "if (resourceLimits.maxYoungGenerationSizeMb !== 4) parentPort.on('message', () => process.exit(7));\n"
        + `else await import(${JSON.stringify(fixture.worker.url.href)});\n`);
      const limited = await createCpuWorkerPool({ workers: 1, workerUrl: pathToFileURL(script) });
      try {
        const got = await limited.run('chooseQParams', [{ data: Float32Array.of(-1, 2), shape: [2] }, { dtype: 'qint8', symmetric: true }]);
        expect(got).toMatchObject({ scale: Math.fround(2 / 127.5), zeroPoint: 0 });
      } finally {
        await limited.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a worker count that is not a positive integer', async () => {
    await expect(createCpuWorkerPool({ workers: 0 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(createCpuWorkerPool({ workers: 1.5 })).rejects.toThrow(/workers is 1.5; use an integer from 1 to 256/);
    await expect(createCpuWorkerPool({ workers: 1, workerUrl: './cpu-worker.js' })).rejects.toThrow(/workerUrl .* is not an absolute URL/);
  });
});
