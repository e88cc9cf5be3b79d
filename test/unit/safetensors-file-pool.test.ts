// A safetensors file read from disk says where each float32 tensor lies (float32FileRange: the bytes read() gives,
// undefined for other dtypes and for sources that are not files, forwarded by a sharded reader), so a worker pool
// reads those weights from the file itself: compressToGguf (ggufWeightFile) and compressToSafetensors
// (planWeightFile) give the file and report of one thread, with a float16 weight and a NaN weight among them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compressToGguf } from '../../src/compress/compress-gguf.js';
import { compressToSafetensors } from '../../src/compress/compress-safetensors.js';
import { type CompressionPolicy, decideWeights } from '../../src/compress/policy.js';
import { floatToHalfBits } from '../../src/io/half.js';
import { bytesSource, memorySink, openSafetensors, serializeSafetensors } from '../../src/io/safetensors/index.js';
import { readFileRange } from '../../src/io/safetensors/node-file-source.js';
import { openSafetensorsFile, openShardedSafetensorsFiles } from '../../src/io/safetensors/node-open.js';
import type { WeightReader } from '../../src/io/weights.js';
import { recordingPool, useCpuWorkerPool } from '../shared/cpu-worker-pool-fixture.js';
import { RUN_SEED, expectInvalidAsync, normalData, rng } from './support.js';

const fixture = useCpuWorkerPool(2);
const dir = mkdtempSync(join(tmpdir(), 'wq-safetensors-file-pool-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** A random model: two big float32 weights (one with a NaN), a big float16 one, a small one and a bias. */
async function randomModel(seed: number): Promise<Uint8Array> {
  const next = rng(seed);
  const nan = normalData(384 * 256, next, 0.05);
  nan[Math.floor(next() * nan.length)] = NaN;
  return serializeSafetensors([
    { name: 'a.weight', dtype: 'F32', shape: [256, 512], data: normalData(256 * 512, next, 0.05) },
    { name: 'b.weight', dtype: 'F16', shape: [512, 256], data: bytesOf(Uint16Array.from(normalData(512 * 256, next, 0.05), floatToHalfBits)) },
    { name: 'c.weight', dtype: 'F32', shape: [384, 256], data: nan },
    { name: 'd.weight', dtype: 'F32', shape: [64, 64], data: normalData(64 * 64, next, 0.05) },
    { name: 'e.bias', dtype: 'F32', shape: [512], data: normalData(512, next, 0.05) },
  ]);
}

describe('float32FileRange of a safetensors file', () => {
  it('names the bytes read() gives, for float32 tensors of a file on disk only', async () => {
    const bytes = await randomModel(RUN_SEED);
    const path = join(dir, 'ranges.safetensors');
    writeFileSync(path, bytes);
    const reader = await openSafetensorsFile(path);
    try {
      for (const name of ['a.weight', 'c.weight', 'd.weight', 'e.bias']) {
        const range = (await reader.float32FileRange(name))!;
        expect(range).toEqual({ path, offset: reader.info(name).fileOffset, byteLength: reader.info(name).byteLength });
        const read = new Uint8Array(range.byteLength);
        await readFileRange(range, read);
        expect(Buffer.compare(read, await reader.read(name)), name).toBe(0);
      }
      expect(await reader.float32FileRange('b.weight')).toBeUndefined(); // float16
      await expectInvalidAsync(() => reader.float32FileRange('nope'), { argument: 'name', value: 'nope', mentions: ['no tensor'] });
    } finally {
      await reader.close();
    }
    const inMemory = await openSafetensors(bytesSource(bytes, 'model.safetensors'));
    expect(await inMemory.float32FileRange('a.weight')).toBeUndefined();
    // A sharded checkpoint: the range is in the shard's file.
    writeFileSync(join(dir, 'shard-1.safetensors'), bytes);
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: Object.fromEntries(['a.weight', 'b.weight', 'c.weight', 'd.weight', 'e.bias'].map((n) => [n, 'shard-1.safetensors'])) }));
    const sharded = await openShardedSafetensorsFiles(join(dir, 'model.safetensors.index.json'));
    try {
      expect((await sharded.float32FileRange('a.weight'))?.path).toBe(join(dir, 'shard-1.safetensors'));
      expect(await sharded.float32FileRange('b.weight')).toBeUndefined();
    } finally {
      await sharded.close();
    }
  });
});

describe('a safetensors file on a worker pool', () => {
  it('GGUF and safetensors outputs: the bytes and report of one thread, the workers reading the float32 weights from the file', { timeout: 60000 }, async () => {
    const path = join(dir, 'model.safetensors');
    writeFileSync(path, await randomModel(RUN_SEED + 1));
    const reader = await openSafetensorsFile(path);
    try {
      const run = async <R extends { seconds: number }>(write: (r: WeightReader, sink: ReturnType<typeof memorySink>) => Promise<R>) => {
        const sink = memorySink();
        const report = await write(reader, sink);
        return { bytes: sink.bytes(), report: { ...report, seconds: 0 } };
      };
      for (const dtype of ['qint8', 'qint4'] as const) {
        const policy: CompressionPolicy = { dtype, granularity: 'group', groupSize: 32 };
        const decisions = decideWeights(reader.list(), policy);
        const gguf = (pool?: ReturnType<typeof recordingPool>) => run((r, sink) => compressToGguf(r, decisions, sink, pool ? { pool } : {}));
        const alone = await gguf();
        const pool = recordingPool(fixture.pool);
        const pooled = await gguf(pool);
        expect(Buffer.compare(pooled.bytes, alone.bytes), dtype).toBe(0);
        expect(pooled.report, dtype).toEqual(alone.report);
        // a and c (c's NaN: planned there, kept as stored, written from here) after their plans: a again, written
        // as planned after c's plan differed; b (float16) through a shared slot, twice.
        expect(pool.names.filter((t) => t === 'ggufWeightFile'), dtype).toHaveLength(3);
        expect(pool.names.filter((t) => t === 'encodeGgufTensor'), dtype).toHaveLength(2);

        const safetensors = (p?: ReturnType<typeof recordingPool>) => run((r, sink) => compressToSafetensors(r, decisions, sink, { backend: 'cpu' }, undefined, p ? { pool: p } : {}));
        const st = await safetensors();
        const stPool = recordingPool(fixture.pool);
        const stPooled = await safetensors(stPool);
        expect(Buffer.compare(stPooled.bytes, st.bytes), dtype).toBe(0);
        expect(stPooled.report.tensors, dtype).toEqual(st.report.tensors);
        expect(stPool.names.filter((t) => t === 'planWeightFile'), dtype).toHaveLength(2); // a and c
        expect(stPool.names.filter((t) => t === 'planWeight'), dtype).toHaveLength(1); // b
      }
    } finally {
      await reader.close();
    }
  });
});
