// The size budget on a CPU worker pool: on fresh random MLPs (fc0 with outliers, fc1 float16, fc2 with a NaN, fc3
// too small for the pool) the workers measure the big weights' options, from the model's bytes (transferred) or
// read from its file themselves, and the model, the allocation and the report are those of one thread, at two
// targets and for MatMulNBits; with an output-error probe too (the workers measure, the probed option is quantized
// again on the calling thread: the probe is given the same values); a worker that dies fails the call with WorkerError; bad input is an
// InvalidArgumentError. The task itself gives
// measureOptions' numbers on one thread, and nothing for a weight with a NaN.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { budgetOptionDecisions, measureOptions } from '../../src/compress/budget-measure.js';
import { type CompressOnnxOptions, compressOnnx, compressOnnxParts } from '../../src/compress/compress-onnx.js';
import { type CpuWorkerPool, createCpuWorkerPool } from '../../src/compress/cpu-worker-pool.js';
import { storedParametersOf } from '../../src/compress/scale-storage.js';
import { InvalidArgumentError, WorkerError } from '../../src/errors.js';
import { allocateBudget } from '../../src/compress/budget.js';
import { budgetOnPool } from '../../src/compress/budget-pool.js';
import { fileRangeOf } from '../../src/io/byte-source.js';
import { concatParts, writeParts } from '../../src/io/onnx/deferred-raw-data.js';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';
import { nodeFileSource } from '../../src/io/safetensors/node-file-source.js';
import { workerDyingAt } from '../shared/cpu-worker-build.js';
import { useCpuWorkerPool } from '../shared/cpu-worker-pool-fixture.js';
import { mixedMlp } from '../shared/mixed-mlp.js';
import { RUN_SEED, normalData, rng } from './support.js';

const cpu = { backend: 'cpu' } as const;
const fixture = useCpuWorkerPool(2);

/** `inner`, noting for each budget measurement whether the worker was sent the weight or read it from its file. */
function sourcesPool(inner: CpuWorkerPool): CpuWorkerPool & { sources: string[]; tasks: string[] } {
  const out = { ...inner, sources: [] as string[], tasks: [] as string[] };
  out.run = ((task: string, args: unknown[], transfer?: readonly ArrayBuffer[]) => {
    out.tasks.push(task);
    if (task === 'measureBudgetOptions') out.sources.push('range' in (args[0] as object) ? 'file' : 'data');
    return (inner.run as (...a: unknown[]) => unknown)(task, args, transfer);
  }) as CpuWorkerPool['run'];
  return out;
}

const withoutSeconds = <R extends { seconds: number; budget?: { probeSeconds: number } }>(report: R) => {
  const { seconds: _, ...rest } = report;
  return rest.budget ? { ...rest, budget: { ...rest.budget, probeSeconds: 0 } } : rest;
};

describe('the size budget on a CPU worker pool', () => {
  const schemes: [string, CompressOnnxOptions][] = [
    ['5 bits', { targetBits: 5 }],
    ['6.5 bits', { targetBits: 6.5 }],
    ['5 bits, MatMulNBits', { targetBits: 5, onnxOps: 'contrib' }],
  ];
  for (const [what, scheme] of schemes) {
    it(`${what}: the workers measure the big weights, from the bytes and from the file; the bytes and report of one thread`, { timeout: 60_000 }, async () => {
      const bytes = mixedMlp(RUN_SEED + what.length);
      const options: CompressOnnxOptions = { ...scheme, firstLayer: 'quantize' };
      const alone = await compressOnnx(bytes, options, cpu);
      expect(alone.report.budget!.tensors.map((t) => t.name).sort()).toEqual(['fc0.weight', 'fc1.weight', 'fc3.weight']); // fc2: its NaN
      const inMemory = sourcesPool(fixture.pool);
      const pooled = await compressOnnx(bytes, { ...options, pool: inMemory }, cpu);
      expect(Buffer.compare(pooled.model, alone.model), what).toBe(0);
      expect(withoutSeconds(pooled.report)).toEqual(withoutSeconds(alone.report));
      expect(inMemory.sources, 'fc0, fc1 (float16) and fc2 (its NaN found there); fc3 measured here').toEqual(['data', 'data', 'data']);
      const dir = mkdtempSync(join(tmpdir(), 'wq-budget-pool-'));
      writeFileSync(join(dir, 'mlp.onnx'), bytes);
      const file = await nodeFileSource(join(dir, 'mlp.onnx'));
      try {
        const fromFile = sourcesPool(fixture.pool);
        const model = await OnnxModel.loadDeferred(file, { name: 'mlp.onnx' });
        const { parts, byteLength, report } = await compressOnnxParts(model, { ...options, pool: fromFile }, cpu);
        const chunks: Uint8Array[] = [];
        await writeParts(parts, async (chunk) => { chunks.push(chunk.slice()); });
        expect(Buffer.compare(concatParts(chunks, byteLength), alone.model), `${what} from its file`).toBe(0);
        expect(withoutSeconds(report)).toEqual(withoutSeconds(alone.report));
        expect(fromFile.sources).toEqual(['file', 'file', 'file']);
      } finally {
        await file.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('with an output-error probe the workers measure too, and the probe is given the values it is given on one thread', async () => {
    const bytes = mixedMlp(RUN_SEED + 31);
    // A probe that grows with the damage (the mean square of the dequantized weight, scaled), recording what it saw.
    const probeOf = (seen: string[]) => async (name: string, values: Float32Array) => {
      const meanSquare = values.reduce((sum, v) => sum + v * v, 0) / values.length;
      seen.push(`${name} ${values.length} ${meanSquare}`);
      return meanSquare * 1e-3;
    };
    const [seenAlone, seenPooled]: string[][] = [[], []];
    const options: CompressOnnxOptions = { targetBits: 5, firstLayer: 'quantize' };
    const alone = await compressOnnx(bytes, { ...options, outputError: probeOf(seenAlone) }, cpu);
    const pool = sourcesPool(fixture.pool);
    const pooled = await compressOnnx(bytes, { ...options, outputError: probeOf(seenPooled), pool }, cpu);
    expect(Buffer.compare(pooled.model, alone.model)).toBe(0);
    expect(withoutSeconds(pooled.report)).toEqual(withoutSeconds(alone.report));
    expect(seenPooled).toEqual(seenAlone);
    expect(seenAlone.length).toBeGreaterThanOrEqual(3);
    expect(pool.tasks.filter((t) => t === 'measureBudgetOptions').length).toBeGreaterThanOrEqual(2);
    expect(pooled.report.budget!.errorSource).toBe('outputs');
  });

  it('the task gives measureOptions\' numbers on this thread, for a weight sent and one read from a file; nothing for a NaN', async () => {
    const next = rng(RUN_SEED + 32);
    const shape = [384, 200];
    const weight = { name: 'w', dtype: 'float32' as const, shape, byteLength: 4 * 384 * 200 };
    const data = normalData(384 * 200, next, 0.5 + next());
    const options = budgetOptionDecisions(weight, {}).map(([, d]) => d);
    expect(options.map((d) => `${d.dtype} ${d.granularity} ${d.groupSize ?? ''}`)).toEqual(['qint8 channel ', 'qint4 group 32', 'qint4 group 64', 'qint4 group 128']);
    const here = await measureOptions({ data, shape }, options, {}, cpu);
    const sent = await fixture.pool.run('measureBudgetOptions', [{ data: data.slice(), shape }, options, undefined]);
    expect(sent).toEqual(here!.measured);
    expect(here!.measured.relativeErrors.every((e) => e > 0 && e < 0.1)).toBe(true);
    // Asked to keep option 1 (int4 groups of 32, the probe's): its integers and parameters come back, the measurements unchanged.
    const kept = await fixture.pool.run('measureBudgetOptions', [{ data: data.slice(), shape }, options, undefined, undefined, 1]);
    const { kept: keptHere, ...measuredHere } = (await measureOptions({ data, shape }, options, {}, cpu, undefined, 1))!.measured;
    expect({ ...kept, kept: undefined }).toEqual({ ...measuredHere, kept: undefined });
    expect(kept!.kept!.index).toBe(1);
    expect([kept!.kept!.q.dtype, kept!.kept!.q.qGroupSize()]).toEqual(['qint4', 32]);
    expect(Array.from(kept!.kept!.q.intReprView())).toEqual(Array.from(here!.quantized[1]!.q.intReprView()));
    expect(Array.from(kept!.kept!.q.qPerGroupScales())).toEqual(Array.from(here!.quantized[1]!.q.qPerGroupScales()));
    expect(Array.from(keptHere!.q.intReprView())).toEqual(Array.from(here!.quantized[1]!.q.intReprView()));
    const dir = mkdtempSync(join(tmpdir(), 'wq-budget-task-'));
    try {
      const path = join(dir, 'w.bin');
      writeFileSync(path, new Uint8Array([1, 2, 3, ...new Uint8Array(data.buffer)]));
      const file = await nodeFileSource(path);
      try {
        const range = fileRangeOf(file, 3, data.byteLength)!;
        const read = await fixture.pool.run('measureBudgetOptions', [{ range, dtype: 'float32', shape }, options, undefined, 'float16']);
        const storedHere = await measureOptions({ data, shape }, options, {}, cpu, (r, d) => storedParametersOf(r, d, 'float16'));
        expect(read).toEqual(storedHere!.measured);
        expect(read!.stored.every((s) => s !== undefined), 'each option\'s storage, with scaleDtype given').toBe(true);
        expect(sent!.stored.every((s) => s === undefined), 'and none without').toBe(true);
      } finally {
        await file.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const withNaN = data.slice();
    withNaN[77] = NaN;
    expect(await fixture.pool.run('measureBudgetOptions', [{ data: withNaN, shape }, options, undefined])).toBeUndefined();
  });

  it('bad input: a pool that is not one, measurements that are not a function, a file range of the wrong length', async () => {
    const model = await OnnxModel.load(mixedMlp(RUN_SEED + 34), { name: 'mlp' });
    const weights = model.list();
    const decisions = weights.map(() => ({ action: 'keep', reason: 'test' }) as never);
    for (const pool of [undefined, 2, { run: 1 }]) {
      expect(() => budgetOnPool(pool as never, model, weights, decisions, {}, undefined, undefined), String(pool)).toThrow(InvalidArgumentError);
    }
    expect(() => budgetOnPool({ size: 2 } as never, model, weights, decisions, {}, undefined, undefined)).toThrow(/pool must be a pool from createCpuWorkerPool/);
    const error = await allocateBudget(weights, decisions, {}, 5, async () => new Float32Array(0), {}, cpu, 'onnx', undefined, undefined, 7 as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toMatch(/measuredElsewhere must be a function/);
    const dir = mkdtempSync(join(tmpdir(), 'wq-budget-range-'));
    try {
      writeFileSync(join(dir, 'w.bin'), new Uint8Array(4 * 100));
      const file = await nodeFileSource(join(dir, 'w.bin'));
      try {
        const range = fileRangeOf(file, 0, 4 * 100)!;
        const shape = [10, 20]; // 200 elements: 800 bytes, not 400
        const options = budgetOptionDecisions({ name: 'w', dtype: 'float32', shape }, {}).map(([, d]) => d);
        const wrong = await fixture.pool.run('measureBudgetOptions', [{ range, dtype: 'float32', shape }, options, undefined]).catch((e: unknown) => e);
        expect(wrong).toBeInstanceOf(InvalidArgumentError);
        expect((wrong as Error).message).toMatch(/400 bytes for a float32 weight of shape \[10, 20\] \(800 bytes\)/);
      } finally {
        await file.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a worker that dies while measuring: WorkerError', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wq-budget-kill-'));
    const dying = await createCpuWorkerPool({ workers: 1, workerUrl: workerDyingAt(dir, fixture.worker.url, 1) });
    try {
      const error = await compressOnnx(mixedMlp(RUN_SEED + 33), { targetBits: 5, pool: dying }, cpu).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WorkerError);
    } finally {
      await dying.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
