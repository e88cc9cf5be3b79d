// A safetensors file read from disk says where each float32 tensor lies (float32FileRange: the bytes read() gives,
// undefined for other dtypes and for sources that are not files, forwarded by a sharded reader), so a worker pool
// reads those weights from the file itself: compressToGguf (ggufWeightFile) and compressToSafetensors
// (planWeightFile) give the file and report of one thread, with a float16 weight and a NaN weight among them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type CompressToGgufOptions, compressToGguf } from '../../src/compress/compress-gguf.js';
import { compressToSafetensors } from '../../src/compress/compress-safetensors.js';
import { type CompressionPolicy, decideWeights } from '../../src/compress/policy.js';
import { floatToHalfBits } from '../../src/io/half.js';
import { bytesSource, memorySink, openSafetensors, serializeSafetensors } from '../../src/io/safetensors/index.js';
import { readFileRange } from '../../src/io/safetensors/node-file-source.js';
import { openSafetensorsFile, openShardedSafetensorsFiles } from '../../src/io/safetensors/node-open.js';
import type { WeightReader } from '../../src/io/weights.js';
import type { CpuWorkerPool } from '../../src/compress/cpu-worker-pool.js';
import type { LentParameters } from '../../src/compress/lent-parameters.js';
import type { FloorOutcome } from '../../src/compress/quality-floor.js';
import { recordingPool, useCpuWorkerPool } from '../shared/cpu-worker-pool-fixture.js';
import { RUN_SEED, expectInvalidAsync, normalData, rng } from './support.js';

const fixture = useCpuWorkerPool(2);
const dir = mkdtempSync(join(tmpdir(), 'wq-safetensors-file-pool-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** A random model: big float32 weights (two with a NaN), big float16 and bfloat16 ones, a small one and a bias. */
async function randomModel(seed: number): Promise<Uint8Array> {
  const next = rng(seed);
  const nan = normalData(384 * 256, next, 0.05);
  nan[Math.floor(next() * nan.length)] = NaN;
  const late = normalData(2304 * 512, next, 0.05);
  late[late.length - 1 - Math.floor(next() * 512 * 200)] = NaN;
  return serializeSafetensors([
    { name: 'a.weight', dtype: 'F32', shape: [256, 512], data: normalData(256 * 512, next, 0.05) },
    { name: 'b.weight', dtype: 'F16', shape: [512, 256], data: bytesOf(Uint16Array.from(normalData(512 * 256, next, 0.05), floatToHalfBits)) },
    { name: 'c.weight', dtype: 'F32', shape: [384, 256], data: nan },
    { name: 'd.weight', dtype: 'F32', shape: [64, 64], data: normalData(64 * 64, next, 0.05) },
    { name: 'e.bias', dtype: 'F32', shape: [512], data: normalData(512, next, 0.05) },
    // Over 4 MiB: read and encoded two blocks of rows at a time; g's NaN, in its second block, sends it whole.
    { name: 'f.weight', dtype: 'F32', shape: [2304, 512], data: normalData(2304 * 512, next, 0.05) },
    { name: 'g.weight', dtype: 'F32', shape: [2304, 512], data: late },
    // bfloat16, two blocks of rows once converted to float32
    { name: 'h.weight', dtype: 'BF16', shape: [2304, 512], data: bytesOf(Uint16Array.from(normalData(2304 * 512, next, 0.05), (v) => new Uint32Array(Float32Array.of(v).buffer)[0]! >>> 16)) },
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
      for (const name of ['b.weight', 'h.weight', 'a.weight']) {
        const range = (await reader.tensorFileRange(name))!; // any dtype's stored bytes
        expect(range).toEqual({ path, offset: reader.info(name).fileOffset, byteLength: reader.info(name).byteLength });
        const read = new Uint8Array(range.byteLength);
        await readFileRange(range, read);
        expect(Buffer.compare(read, await reader.read(name)), name).toBe(0);
      }
      await expectInvalidAsync(() => reader.float32FileRange('nope'), { argument: 'name', value: 'nope', mentions: ['no tensor'] });
      await expectInvalidAsync(() => reader.tensorFileRange('nope'), { argument: 'name', value: 'nope', mentions: ['no tensor'] });
    } finally {
      await reader.close();
    }
    const inMemory = await openSafetensors(bytesSource(bytes, 'model.safetensors'));
    expect(await inMemory.float32FileRange('a.weight')).toBeUndefined();
    expect(await inMemory.tensorFileRange('b.weight')).toBeUndefined();
    // A sharded checkpoint: the range is in the shard's file.
    writeFileSync(join(dir, 'shard-1.safetensors'), bytes);
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: Object.fromEntries(inMemory.list().map((t) => [t.name, 'shard-1.safetensors'])) }));
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
        const gguf = (options: CompressToGgufOptions) => run((r, sink) => compressToGguf(r, decisions, sink, options));
        const alone = await gguf({});
        const q = dtype === 'qint8' ? 'Q8_0' : 'Q4_0';
        expect(alone.report.tensors.map((t) => t.ggmlType), dtype).toEqual([q, q, 'F32', q, 'F32', q, 'F32', q]);
        for (const options of [{}, { speculate: false }, { speculate: false, heldBytes: 0 }]) {
          const what = `${dtype} ${JSON.stringify(options)}`;
          const pool = recordingPool(fixture.pool);
          const pooled = await gguf({ ...options, pool });
          expect(Buffer.compare(pooled.bytes, alone.bytes), what).toBe(0);
          expect(pooled.report, what).toEqual(alone.report);
          // Written after planning: a, b (float16), c, f, g and h (bfloat16) read by the workers from the file (encoded
          // too where held); with nothing held, a, b, f and h (c and g are kept as stored) are read and encoded again
          // while writing. None goes through a shared slot.
          if (options.speculate === false) {
            expect(pool.names.filter((t) => t === 'ggufWeightFile'), what).toHaveLength(options.heldBytes === 0 ? 10 : 6);
          }
          expect(pool.names.filter((t) => t === 'encodeGgufTensor'), what).toHaveLength(0);
        }

        const safetensors = (p?: ReturnType<typeof recordingPool>) => run((r, sink) => compressToSafetensors(r, decisions, sink, { backend: 'cpu' }, undefined, p ? { pool: p } : {}));
        const st = await safetensors();
        const stPool = recordingPool(fixture.pool);
        const stPooled = await safetensors(stPool);
        expect(Buffer.compare(stPooled.bytes, st.bytes), dtype).toBe(0);
        expect(stPooled.report.tensors, dtype).toEqual(st.report.tensors);
        expect(stPool.names.filter((t) => t === 'planWeightFile'), dtype).toHaveLength(6); // a, b, c, f, g and h (16-bit ones too)
        expect(stPool.names.filter((t) => t === 'planWeight'), dtype).toHaveLength(0);
      }
    } finally {
      await reader.close();
    }
  });

  it('integers and parameters written go back to the workers for later weights\', and the file is the same', { timeout: 60000 }, async () => {
    const next = rng(RUN_SEED + 2);
    const path = join(dir, 'many.safetensors');
    writeFileSync(path, await serializeSafetensors(Array.from({ length: 6 }, (_, i) => (
      // 2176 × 1024 4-bit integers, packed as the blocks are read: 1.06 MiB, past LEND_FROM_BYTES; 69632 groups of
      // 32, whose parameters (16 bytes each) are too.
      { name: `w${i}.weight`, dtype: 'F32' as const, shape: [2176, 1024], data: normalData(2176 * 1024, next, 0.05) }))));
    const reader = await openSafetensorsFile(path);
    try {
      // 4-bit: packed, the parameters after the integers in one buffer; 8-bit: the parameters in arrays of their own.
      for (const dtype of ['qint4', 'qint8'] as const) {
        const decisions = decideWeights(reader.list(), { dtype, granularity: 'group', groupSize: 32 });
        const compress = async (options: { pool?: CpuWorkerPool }) => {
          const sink = memorySink();
          const report = await compressToSafetensors(reader, decisions, sink, { backend: 'cpu' }, undefined, options);
          return { bytes: sink.bytes(), tensors: report.tensors };
        };
        const alone = await compress({});
        const given: unknown[] = [];
        const parameters: LentParameters[] = [];
        const pool: CpuWorkerPool = { ...fixture.pool, run: (async (task: string, args: unknown[], transfer?: ArrayBuffer[]) => {
          if (task === 'planWeightFile') {
            given.push(args[3]);
            // A fresh buffer's size: the largest need among the weights of as many elements (here all alike).
            expect(args[6], `${dtype}: freshBytes`).toBe(dtype === 'qint4' ? 2176 * 1024 / 2 + 16 * 69632 : 2176 * 1024);
          }
          const lent = task === 'planWeightFile' ? args[5] as LentParameters | undefined : undefined;
          const outcome = await (fixture.pool.run as (...a: unknown[]) => Promise<FloorOutcome>)(task, args, transfer);
          if (task === 'planWeightFile' && outcome.kind === 'quantized') {
            const { scales, zeroPoints, q } = outcome.result;
            const params = q.params;
            expect(params.scheme === 'per_group_affine' && params.scales.length === 69632 && scales.length === 69632, dtype).toBe(true);
            if (dtype === 'qint4' && params.scheme === 'per_group_affine') {
              // After the packed integers (2176 × 1024 / 2 bytes): the float64 scales, the float32 scales, the zero points.
              const at = 2176 * 1024 / 2;
              expect([params.scales.byteOffset, scales.byteOffset, zeroPoints.byteOffset], dtype).toEqual([at, at + 8 * 69632, at + 12 * 69632]);
              expect([params.scales.buffer, scales.buffer, zeroPoints.buffer].every((b) => b === q.packedNibbles!.buffer), dtype).toBe(true);
              expect(q.packedNibbles!.buffer.byteLength, dtype).toBeGreaterThanOrEqual(at + 16 * 69632); // a spare may be larger
            }
          }
          if (lent) {
            parameters.push(lent);
            // The parameters came back in the memory sent (transferred there and back).
            expect(outcome.kind === 'quantized' && outcome.result.scales.buffer.byteLength === 4 * 69632).toBe(true);
          }
          return outcome;
        }) as CpuWorkerPool['run'] };
        const pooled = await compress({ pool });
        expect(Buffer.compare(pooled.bytes, alone.bytes), dtype).toBe(0);
        expect(pooled.tensors, dtype).toEqual(alone.tensors);
        expect(given, dtype).toHaveLength(6);
        const reused = given.filter((g) => g instanceof ArrayBuffer) as ArrayBuffer[];
        expect(reused.length, `${dtype}: written integers sent back`).toBeGreaterThanOrEqual(2);
        for (const buffer of reused) expect(buffer.byteLength, 'detached: transferred to the worker').toBe(0);
        if (dtype === 'qint4') expect(parameters, 'none apart from the integers').toEqual([]);
        else expect(parameters.length, `${dtype}: written parameters sent back`).toBeGreaterThanOrEqual(2);
        for (const lent of parameters) expect([lent.scales, lent.zeroPoints, lent.scales64].map((b) => b.byteLength), 'transferred').toEqual([0, 0, 0]);
      }
    } finally {
      await reader.close();
    }
  });
});

describe('a safetensors file on one thread', () => {
  it('plans a float32 weight a block of rows at a time from the file where its layout allows: the file of whole reads', { timeout: 60000 }, async () => {
    const next = rng(RUN_SEED + 3);
    const path = join(dir, 'blocks.safetensors');
    const nan = normalData(2304 * 512, next, 0.05);
    nan[nan.length - 1 - Math.floor(next() * 512 * 100)] = NaN; // in its second block
    writeFileSync(path, await serializeSafetensors([
      // First, so that its plan (kept), other than the layout assumed, starts the file again before anything is written.
      { name: 'b.weight', dtype: 'F32', shape: [2304, 512], data: nan },
      { name: 'a.weight', dtype: 'F32', shape: [2304, 512], data: normalData(2304 * 512, next, 0.05) }, // 4.5 MiB: two blocks
      { name: 'c.weight', dtype: 'F32', shape: [256, 512], data: normalData(256 * 512, next, 0.05) }, // one block: whole
      // bfloat16: two blocks of rows once converted to float32
      { name: 'd.weight', dtype: 'BF16', shape: [2304, 512], data: bytesOf(Uint16Array.from(normalData(2304 * 512, next, 0.05), (v) => new Uint32Array(Float32Array.of(v).buffer)[0]! >>> 16)) },
    ]));
    const reader = await openSafetensorsFile(path);
    try {
      const wholeReads: string[] = [];
      const counting = {
        list: () => reader.list(),
        read: (name: string) => { wholeReads.push(name); return reader.read(name); },
        float32FileRange: (name: string) => reader.float32FileRange(name),
        tensorFileRange: (name: string) => reader.tensorFileRange(name),
      };
      const plain: WeightReader = { list: () => reader.list(), read: (name) => reader.read(name) };
      for (const policy of [{}, { dtype: 'qint4', granularity: 'group', groupSize: 32 }] as CompressionPolicy[]) {
        const decisions = decideWeights(reader.list(), policy);
        const compress = async (r: WeightReader) => {
          const sink = memorySink();
          const report = await compressToSafetensors(r, decisions, sink, { backend: 'cpu' });
          return { bytes: sink.bytes(), tensors: report.tensors };
        };
        const whole = await compress(plain);
        wholeReads.length = 0;
        const blocks = await compress(counting);
        expect(Buffer.compare(blocks.bytes, whole.bytes), JSON.stringify(policy)).toBe(0);
        expect(blocks.tensors, JSON.stringify(policy)).toEqual(whole.tensors);
        expect(blocks.tensors.map((t) => t.action)).toEqual(['keep', 'quantize', 'quantize', 'quantize']);
        // a and d in blocks; b whole after its second block showed the NaN (and again, kept, to be written); c whole.
        expect(wholeReads.filter((name) => name === 'a.weight' || name === 'd.weight'), JSON.stringify(policy)).toEqual([]);
        expect(wholeReads.filter((name) => name === 'b.weight').length, JSON.stringify(policy)).toBeGreaterThan(0);
      }
    } finally {
      await reader.close();
    }
  });
});
