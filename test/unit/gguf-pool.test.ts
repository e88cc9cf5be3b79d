// compressToGguf with a CPU worker pool: on fresh random models (big and small weights, float16 / bfloat16 /
// float64 inputs (quantized, and kept as F32), a weight with a NaN, one past float16's range, a 3-D one, rows not a multiple of 32, one
// excluded, one transposed) the file is the bytes of one thread and the report the same, for Q8_0 and Q4_0, with
// results held from planning and with every tensor encoded again while writing;
// a reader whose bytes are views of its own memory keeps them; a worker that dies fails the call with
// WorkerError and leaves no file.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type CompressToGgufOptions, type GgufCompressionReport, compressToGguf } from '../../src/compress/compress-gguf.js';
import { createCpuWorkerPool } from '../../src/compress/cpu-worker-pool.js';
import { type CompressionPolicy, type WeightDecision, decideWeights } from '../../src/compress/policy.js';
import { WorkerError } from '../../src/errors.js';
import { bytesSource, memorySink, nodeFileSink, openSafetensors, serializeSafetensors } from '../../src/io/safetensors/index.js';
import type { WeightInfo, WeightReader } from '../../src/io/weights.js';
import { workerDyingAt } from '../shared/cpu-worker-build.js';
import { countingPool, useCpuWorkerPool } from '../shared/cpu-worker-pool-fixture.js';
import { RUN_SEED, normalData, rng } from './support.js';

const fixture = useCpuWorkerPool(2);

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/**
 * A random model and how many of its tensors are big (≥ 256 KiB) and computed (blocks or a float conversion):
 * those the pool encodes.
 */
async function randomModel(seed: number): Promise<{ bytes: Uint8Array; pooled: number }> {
  const next = rng(seed);
  const rows = (n: number, cols: number) => {
    const data = normalData(n, next);
    for (let i = 0; i < n; i++) data[i] = data[i]! * (0.01 + (Math.floor(i / cols) % 7) * next()); // rows of uneven ranges
    return data;
  };
  const nan = rows(384 * 256, 256);
  nan[Math.floor(next() * nan.length)] = NaN;
  const huge = rows(256 * 256, 256).map((v) => v * 1e7); // block scales past float16's range: kept F32, passed through
  const float16 = Uint16Array.from(rows(512 * 256, 256), (v) => halfBits(v));
  const bfloat16 = Uint16Array.from(rows(512 * 512, 512), (v) => new Uint32Array(Float32Array.of(v).buffer)[0]! >>> 16);
  const bytes = await serializeSafetensors([
    { name: 'a.weight', dtype: 'F32', shape: [256, 512], data: rows(256 * 512, 512) }, // Q: pool
    { name: 'b.weight', dtype: 'F32', shape: [384, 257], data: rows(384 * 257, 257) }, // rows of 257: F16 fallback, pool
    { name: 'c.weight', dtype: 'F32', shape: [64, 64], data: rows(64 * 64, 64) }, // small: this thread
    { name: 'd.weight', dtype: 'F32', shape: [384, 256], data: nan }, // NaN: kept F32, passed through: this thread
    { name: 'e.weight', dtype: 'F32', shape: [256, 256], data: huge }, // kept F32: this thread
    { name: 'f.weight', dtype: 'F16', shape: [512, 256], data: bytesOf(float16) }, // 256 KiB of float16: pool
    { name: 'g.weight', dtype: 'BF16', shape: [512, 512], data: bytesOf(bfloat16) }, // pool
    { name: 'h.weight', dtype: 'F64', shape: [128, 256], data: bytesOf(Float64Array.from(rows(128 * 256, 256))) }, // pool
    { name: 'i.weight', dtype: 'F32', shape: [8, 64, 128], data: rows(8 * 64 * 128, 128) }, // rank 3: F16 fallback, pool
    { name: 'j.weight', dtype: 'F32', shape: [512, 256], data: rows(512 * 256, 256) }, // transposed below: pool
    { name: 'k.skip', dtype: 'F32', shape: [256, 512], data: rows(256 * 512, 512) }, // excluded: kept F32, this thread
    { name: 'l.bias', dtype: 'F32', shape: [512], data: rows(512, 512) },
    { name: 'm.skip', dtype: 'F64', shape: [128, 256], data: bytesOf(Float64Array.from(rows(128 * 256, 256))) }, // kept: F32, converted on the pool
  ]);
  return { bytes, pooled: 8 };
}

/** Float16 bits of a value within float16's range (truncated: any half value will do). */
function halfBits(x: number): number {
  const u = new Uint32Array(Float32Array.of(x).buffer)[0]!;
  const exponent = ((u >>> 23) & 0xff) - 127 + 15;
  return ((u >>> 16) & 0x8000) | (exponent <= 0 ? 0 : (exponent << 10) | ((u >>> 13) & 0x3ff));
}

/** The policy's decisions, with j.weight grouped along axis 0 (stored transposed, as an ONNX MatMul weight is). */
function decisionsOf(list: WeightInfo[], policy: CompressionPolicy): WeightDecision[] {
  return decideWeights(list, { ...policy, exclude: /skip/ }).map((d) => (d.name === 'j.weight' ? { ...d, axis: 0 } : d));
}

async function compress(reader: WeightReader, policy: CompressionPolicy, options: CompressToGgufOptions): Promise<{ bytes: Uint8Array; report: GgufCompressionReport }> {
  const sink = memorySink();
  const report = await compressToGguf(reader, decisionsOf(reader.list(), policy), sink, options);
  return { bytes: sink.bytes(), report: { ...report, seconds: 0 } };
}

describe('compressToGguf on the CPU worker pool', () => {
  it('writes the bytes and the report of one thread, on fresh random models, for Q8_0 and Q4_0', async () => {
    console.log(`seed ${RUN_SEED}`);
    const model = await randomModel(RUN_SEED);
    const reader = await openSafetensors(bytesSource(model.bytes, 'model.safetensors'));
    for (const dtype of ['qint8', 'qint4'] as const) {
      const policy: CompressionPolicy = { dtype, granularity: 'group' };
      const alone = await compress(reader, policy, {});
      const types = Object.fromEntries(alone.report.tensors.map((t) => [t.name, t.ggmlType]));
      const block = dtype === 'qint8' ? 'Q8_0' : 'Q4_0';
      expect(types).toEqual({
        'a.weight': block, 'b.weight': 'F16', 'c.weight': block, 'd.weight': 'F32', 'e.weight': 'F32', 'f.weight': block,
        'g.weight': block, 'h.weight': block, 'i.weight': 'F16', 'j.weight': block, 'k.skip': 'F32', 'l.bias': 'F32', 'm.skip': 'F32',
      });
      expect(alone.report.tensors.find((t) => t.name === 'd.weight')!.reason).toMatch(/non-finite values; kept/);
      expect(alone.report.tensors.find((t) => t.name === 'm.skip')!.sqnrDb).toBeGreaterThan(100); // float64 rounded to float32
      expect(alone.report.tensors.find((t) => t.name === 'j.weight')!.transposed).toBe(true);
      expect(alone.report.tensors.find((t) => t.name === 'a.weight')!.sqnrDb).toBeGreaterThan(dtype === 'qint8' ? 30 : 10);
      // Encoded while planning and held for writing; then with nothing held: read and encoded again while writing.
      // Written only after planning, and written as planned (the sink can restart): d.weight's NaN, the fourth
      // plan, differs from the assumed Q8_0 / Q4_0, so a.weight and b.weight, written by then, are encoded again.
      for (const speculate of [false, true]) {
        for (const heldBytes of [undefined, 0]) {
          const counted = countingPool(fixture.pool);
          const pooled = await compress(reader, policy, { pool: counted, speculate, ...(heldBytes === undefined ? {} : { heldBytes }) });
          expect(counted.tasks, 'the big computed tensors went to the pool').toBe(model.pooled + (speculate ? 2 : 0));
          expect(Buffer.compare(pooled.bytes, alone.bytes), `${dtype}, held ${heldBytes}, speculate ${speculate}`).toBe(0);
          expect(pooled.report).toEqual(alone.report);
        }
      }
      const once = await compress(reader, policy, { speculate: false });
      expect(Buffer.compare(once.bytes, alone.bytes)).toBe(0);
      expect(once.report).toEqual(alone.report);
    }
  });

  it('a reader whose bytes are views of its own memory keeps them (the pool gets copies)', async () => {
    const next = rng(RUN_SEED + 1);
    const memory = normalData(2 * 128 * 1024, next); // two weights [128, 1024] in one buffer
    const list: WeightInfo[] = [0, 1].map((i) => ({ name: `w${i}`, dtype: 'float32', shape: [128, 1024], byteLength: 128 * 1024 * 4 }));
    const reader: WeightReader = {
      list: () => list.map((w) => ({ ...w, shape: [...w.shape] })),
      read: async (name) => bytesOf(memory.subarray(Number(name[1]) * 128 * 1024, (Number(name[1]) + 1) * 128 * 1024)),
    };
    const before = memory.slice();
    const alone = await compress(reader, { dtype: 'qint4', granularity: 'group' }, {});
    const pooled = await compress(reader, { dtype: 'qint4', granularity: 'group' }, { pool: fixture.pool });
    expect(memory.buffer.byteLength, 'not detached').toBe(before.byteLength);
    expect(memory).toEqual(before);
    expect(Buffer.compare(pooled.bytes, alone.bytes)).toBe(0);
    expect(pooled.report).toEqual(alone.report);
  });

  it('a worker that dies while the file is being written: WorkerError, and no output file or temporary file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wq-gguf-pool-kill-'));
    // The real worker, except that it exits on its third task. Nothing is held from planning, so every tensor is
    // encoded while the file is written: one worker takes two tasks at once, and the third is sent once the first
    // tensor is written, so it dies mid-write.
    const dying = await createCpuWorkerPool({ workers: 1, workerUrl: workerDyingAt(dir, fixture.worker.url, 3) });
    try {
      const reader = await openSafetensors(bytesSource((await randomModel(RUN_SEED + 2)).bytes, 'model.safetensors'));
      const path = join(dir, 'out', 'model.gguf');
      mkdirSync(join(dir, 'out'));
      let written = 0;
      const error = await compressToGguf(reader, decisionsOf(reader.list(), { dtype: 'qint8', granularity: 'group' }), await nodeFileSink(path),
        { pool: dying, heldBytes: 0, onProgress: (progress) => { written = progress.done; } }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WorkerError);
      expect((error as Error).message).toMatch(/CPU worker 1 of 1 stopped \(exit code 1\); the calls waiting on the pool failed \(a compression aborts its output: nothing was written\)/);
      expect(written).toBeGreaterThan(0); // it died mid-write
      expect(readdirSync(join(dir, 'out'))).toEqual([]); // no output, no temporary file
    } finally {
      await dying.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a worker terminated before the call: WorkerError, and no output file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wq-gguf-pool-kill-'));
    const killed = await createCpuWorkerPool({ workers: 2, workerUrl: fixture.worker.url });
    try {
      await killed.killWorker(1);
      const reader = await openSafetensors(bytesSource((await randomModel(RUN_SEED + 3)).bytes, 'model.safetensors'));
      const path = join(dir, 'model.gguf');
      const error = await compressToGguf(reader, decisionsOf(reader.list(), { dtype: 'qint4', granularity: 'group' }), await nodeFileSink(path),
        { pool: killed }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WorkerError);
      expect((error as Error).message).toMatch(/CPU worker 2 of 2 stopped/);
      expect(existsSync(path)).toBe(false);
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      await killed.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
