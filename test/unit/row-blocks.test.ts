// Row blocks: weights quantized per channel along axis 0 stream through the CPU worker pool in blocks of whole
// rows, and the file and the report are those of one thread, to the byte and to the bit (SQNR, MSE, max
// |error|, per-row SQNR), on fresh random models: rows that are not a multiple of the block, one-row and rank-4
// weights, NaN, a weight below the quality floor, 4-bit weights that escalate, float16 and bfloat16 inputs,
// quint8 asymmetric. A worker that dies mid-stream fails the call with WorkerError and leaves no file.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type CompressSafetensorsOptions, compressToSafetensors } from '../../src/compress/compress-safetensors.js';
import { createCpuWorkerPool } from '../../src/compress/cpu-worker-pool.js';
import { type CompressionPolicy, decideWeights } from '../../src/compress/policy.js';
import { WorkerError } from '../../src/errors.js';
import { bytesSource, memorySink, nodeFileSink, openSafetensors, serializeSafetensors } from '../../src/io/safetensors/index.js';
import { checkErrorStatsArguments } from '../../src/stats/arguments.js';
import { cpuErrorStats, cpuErrorSums } from '../../src/kernels/cpu/cpu-error-stats.js';
import { quantizePerChannel } from '../../src/ops/quantize.js';
import { useCpuWorkerPool } from '../shared/cpu-worker-pool-fixture.js';
import { RUN_SEED, rng } from '../shared/random.js';

const fixture = useCpuWorkerPool(2);

/** Blocks of 64 KiB of float32: a few rows each on these weights. */
const kBlockBytes = 64 * 1024;

function float16Bits(x: number): number {
  const u = new Uint32Array(new Float32Array([x]).buffer)[0]!;
  const exponent = ((u >>> 23) & 0xff) - 127 + 15;
  return ((u >>> 16) & 0x8000) | (exponent <= 0 ? 0 : exponent >= 31 ? 0x7c00 : (exponent << 10) | ((u >>> 13) & 0x3ff));
}

/** A random model whose big weights (256 KiB and more: the pool's) have uneven shapes, rows of different ranges, a NaN, and 16-bit dtypes. */
async function randomModel(seed: number): Promise<Uint8Array> {
  const next = rng(seed);
  const values = (shape: number[]) => {
    const cols = shape.slice(1).reduce((a, b) => a * b, 1);
    const rowScale = Array.from({ length: shape[0]! }, (_, r) => 0.01 + (r % 7) * (1 + next()) + (next() < 0.05 ? 50 : 0));
    return Float32Array.from({ length: shape[0]! * cols }, (_, i) => (next() * 2 - 1) ** 3 * rowScale[Math.floor(i / cols)]!);
  };
  const nan = values([260, 256]);
  nan[Math.floor(next() * nan.length)] = NaN;
  const bf16 = new Uint32Array(values([513, 260]).buffer);
  return serializeSafetensors([
    { name: 'a.weight', dtype: 'F32', shape: [300, 257], data: values([300, 257]) },
    { name: 'b.weight', dtype: 'F32', shape: [1, 70000], data: values([1, 70000]) },
    { name: 'c.weight', dtype: 'F32', shape: [260, 256], data: nan },
    { name: 'd.weight', dtype: 'F32', shape: [256, 300], data: values([256, 300]) },
    { name: 'e.weight', dtype: 'F16', shape: [520, 257], data: new Uint8Array(Uint16Array.from(values([520, 257]), float16Bits).buffer) },
    { name: 'f.weight', dtype: 'BF16', shape: [513, 260], data: new Uint8Array(Uint16Array.from(bf16, (u) => u >>> 16).buffer) },
    { name: 'g.weight', dtype: 'F32', shape: [5, 4, 30, 121], data: values([5, 4, 30, 121]) },
    { name: 'h.bias', dtype: 'F32', shape: [512], data: values([512]) },
  ]);
}

async function compress(model: Uint8Array, policy: CompressionPolicy, options: CompressSafetensorsOptions) {
  const reader = await openSafetensors(bytesSource(model, 'model.safetensors'));
  const sink = memorySink();
  const report = await compressToSafetensors(reader, decideWeights(reader.list(), policy), sink, { backend: 'cpu' }, undefined, options);
  return { bytes: sink.bytes(), tensors: report.tensors, totals: report.totals };
}

describe('row blocks on the CPU worker pool', () => {
  it('the error sums of consecutive row blocks, carried, are the whole weight\'s to the bit', async () => {
    const next = rng(RUN_SEED);
    const [rows, cols] = [37, 301];
    const data = Float32Array.from({ length: rows * cols }, () => (next() * 2 - 1) * 3);
    const scales = Float32Array.from({ length: rows }, () => 3 / 127 * (0.5 + next()));
    const zeroPoints = new Int32Array(rows);
    const whole = cpuErrorStats(checkErrorStatsArguments({ data, shape: [rows, cols] }, await quantizePerChannel({ data, shape: [rows, cols] }, scales, zeroPoints, 0, 'qint8', { backend: 'cpu' }), { axis: 0 }));
    const carry = new Float64Array(8);
    for (let first = 0; first < rows; first += 5) {
      const n = Math.min(5, rows - first);
      const x = { data: data.slice(first * cols, (first + n) * cols), shape: [n, cols] };
      const q = await quantizePerChannel(x, scales.slice(first, first + n), zeroPoints.slice(first, first + n), 0, 'qint8', { backend: 'cpu' });
      const { perChannel } = cpuErrorSums(checkErrorStatsArguments(x, q, { axis: 0 }), carry);
      expect(perChannel!.count[0]).toBe(cols);
    }
    const sums = cpuErrorSums(checkErrorStatsArguments({ data, shape: [rows, cols] }, await quantizePerChannel({ data, shape: [rows, cols] }, scales, zeroPoints, 0, 'qint8', { backend: 'cpu' }), { axis: 0 }));
    expect([...carry.subarray(0, 4)]).toEqual([sums.overall.sumSquaredError[0], sums.overall.sumSquaredOriginal[0], sums.overall.sumSquaredDequantized[0], sums.overall.sumProduct[0]]);
    expect(carry[4]).toBe(whole.overall.maxAbsError);
    expect(carry[0]).toBeGreaterThan(0);
  });

  it('gives the bytes and the report of one thread, on fresh random models and several policies', { timeout: 120_000 }, async () => {
    console.log(`seed ${RUN_SEED}`);
    const model = await randomModel(RUN_SEED);
    const floorOnD = { pattern: /^d\./, minSqnrDb: 60 }; // below the floor as qint8 per channel: kept float
    const policies: [CompressionPolicy, number][] = [
      [{ dtype: 'qint8', overrides: [floorOnD] }, 4], // a, e, f, g in blocks; b one row (per tensor); c NaN; d below the floor
      [{ dtype: 'quint8' }, 5], // asymmetric
      [{ dtype: 'qint8', range: 'torch', maxRelError: 0.004 }, -1], // some weights fail the relative error bound
      [{ dtype: 'qint4', granularity: 'channel' }, -1], // 4-bit: odd rows of 257 make even blocks; some escalate to 8 bits
      [{ dtype: 'quint4', granularity: 'channel' }, -1], // 4-bit affine
    ];
    for (const [policy, blocked] of policies) {
      const label = JSON.stringify(policy);
      const alone = await compress(model, policy, { speculate: false });
      const counts = { planned: 0, rewritten: 0 };
      const streamed = await compress(model, policy, { pool: fixture.pool, rowBlockBytes: kBlockBytes, rowBlockCounts: counts, speculate: false });
      expect(Buffer.compare(streamed.bytes, alone.bytes), label).toBe(0);
      expect(streamed.tensors, label).toEqual(alone.tensors);
      expect(streamed.totals, label).toEqual(alone.totals);
      if (blocked >= 0) expect(counts.planned, label).toBe(blocked);
      else expect(counts.planned, label).toBeGreaterThan(0);
      expect(counts.rewritten, label).toBe(0); // all held
      // Written as planned: c.weight (NaN) is kept, not quantized as the header said, so the sink starts again
      // and a.weight, written before it, is quantized again (and again at each later plan that differs, up to
      // two restarts; after that the file is written once everything is planned).
      const ahead = { planned: 0, rewritten: 0, restarts: 0 };
      const speculated = await compress(model, policy, { pool: fixture.pool, rowBlockBytes: kBlockBytes, rowBlockCounts: ahead });
      expect(Buffer.compare(speculated.bytes, alone.bytes), `${label}, written as planned`).toBe(0);
      expect(speculated.tensors, `${label}, written as planned`).toEqual(alone.tensors);
      expect(ahead.restarts, label).toBeGreaterThanOrEqual(1);
      expect(ahead.rewritten, label).toBeGreaterThanOrEqual(1);
      // Nothing held: the blocks are read and quantized again for writing.
      const again = { planned: 0, rewritten: 0 };
      const rewritten = await compress(model, policy, { pool: fixture.pool, rowBlockBytes: kBlockBytes, rowBlockCounts: again, heldBytes: 0, speculate: false });
      expect(Buffer.compare(rewritten.bytes, alone.bytes), `${label}, none held`).toBe(0);
      expect(rewritten.tensors, `${label}, none held`).toEqual(alone.tensors);
      expect(again.rewritten).toBe(again.planned);
    }
    const kept = (await compress(model, { dtype: 'qint8', overrides: [floorOnD] }, { pool: fixture.pool, rowBlockBytes: kBlockBytes })).tensors;
    expect(kept.find((t) => t.name === 'c.weight')).toMatchObject({ action: 'keep', reason: expect.stringMatching(/non-finite/) });
    expect(kept.find((t) => t.name === 'd.weight')).toMatchObject({ action: 'keep', escalations: [expect.objectContaining({ to: 'float (kept)' })] });
    expect(kept.find((t) => t.name === 'a.weight')).toMatchObject({ action: 'quantize', statsAxis: 0, backend: 'cpu' });
  });

  it('written as planned: one pass over the input when every plan is as decided, the bytes of two passes', async () => {
    const model = await randomModel(RUN_SEED + 2);
    const reader = await openSafetensors(bytesSource(model, 'model.safetensors'));
    const clean = await serializeSafetensors(await Promise.all(reader.list().filter((w) => w.name !== 'c.weight') // c holds a NaN
      .map(async (w) => ({ name: w.name, dtype: w.dtype === 'float32' ? 'F32' as const : w.dtype === 'float16' ? 'F16' as const : 'BF16' as const, shape: w.shape, data: await reader.read(w.name) }))));
    for (const policy of [{ dtype: 'qint8' }, { dtype: 'quint4', granularity: 'channel' }] as CompressionPolicy[]) {
      const twice = await compress(clean, policy, { speculate: false });
      for (const pool of [undefined, fixture.pool]) {
        const counts = { planned: 0, rewritten: 0, restarts: 0 };
        const once = await compress(clean, policy, { ...(pool ? { pool } : {}), rowBlockBytes: kBlockBytes, rowBlockCounts: counts });
        expect(Buffer.compare(once.bytes, twice.bytes), JSON.stringify(policy)).toBe(0);
        expect(once.tensors).toEqual(twice.tensors);
        expect(counts.restarts).toBe(0);
        expect(counts.rewritten).toBe(0);
        if (pool) expect(counts.planned).toBeGreaterThan(0);
      }
    }
    // A NaN in four weights: two restarts, then the file is written once everything is planned; the same bytes.
    const tensors = await Promise.all(reader.list().filter((w) => w.name !== 'c.weight').map(async (w) => {
      const data = (await reader.read(w.name)).slice();
      if (['a.weight', 'd.weight', 'g.weight', 'h.bias'].includes(w.name) && w.dtype === 'float32') new Float32Array(data.buffer)[7] = NaN;
      return { name: w.name, dtype: w.dtype === 'float32' ? 'F32' as const : w.dtype === 'float16' ? 'F16' as const : 'BF16' as const, shape: w.shape, data };
    }));
    const nan = await serializeSafetensors(tensors);
    const twice = await compress(nan, { dtype: 'qint8' }, { speculate: false });
    const counts = { planned: 0, rewritten: 0, restarts: 0 };
    const once = await compress(nan, { dtype: 'qint8' }, { pool: fixture.pool, rowBlockBytes: kBlockBytes, rowBlockCounts: counts });
    expect(Buffer.compare(once.bytes, twice.bytes)).toBe(0);
    expect(once.tensors).toEqual(twice.tensors);
    expect(counts.restarts).toBe(3);
    expect(once.tensors.filter((t) => t.action === 'keep').map((t) => t.name)).toEqual(['a.weight', 'd.weight', 'g.weight', 'h.bias']);
  });

  it('default block size: small weights are pooled whole, not in blocks', async () => {
    const counts = { planned: 0, rewritten: 0 };
    const model = await randomModel(RUN_SEED + 1);
    const alone = await compress(model, { dtype: 'qint8' }, {});
    const pooled = await compress(model, { dtype: 'qint8' }, { pool: fixture.pool, rowBlockCounts: counts });
    expect(Buffer.compare(pooled.bytes, alone.bytes)).toBe(0);
    expect(counts.planned).toBe(0);
  });

  for (const [when, dieAt, held] of [['planning', 4, undefined], ['writing', 30, 0]] as const) {
    it(`a worker that dies while ${when}: WorkerError, and no output file or temporary file`, { timeout: 60_000 }, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'wq-rows-kill-'));
      // The real worker, except that it exits on its task number dieAt: whichever of the two gets there first (how
      // the tasks split between them depends on timing; one alone might never get that far).
      const script = join(dir, 'dies.mjs');
      writeFileSync(script, `import { parentPort } from 'node:worker_threads';\nawait import(${JSON.stringify(fixture.worker.url.href)});\n`
        + `let tasks = 0;\nparentPort.on('message', () => { if (++tasks === ${dieAt}) process.exit(1); });\n`);
      const dying = await createCpuWorkerPool({ workers: 2, workerUrl: pathToFileURL(script) });
      try {
        const reader = await openSafetensors(bytesSource(await randomModel(RUN_SEED + 2), 'model.safetensors'));
        const path = join(dir, 'out', 'model.safetensors');
        mkdirSync(join(dir, 'out'));
        const counts = { planned: 0, rewritten: 0 };
        const error = await compressToSafetensors(reader, decideWeights(reader.list(), { dtype: 'qint8' }), await nodeFileSink(path), { backend: 'cpu' },
          undefined, { pool: dying, rowBlockBytes: kBlockBytes, rowBlockCounts: counts, ...(held === undefined ? {} : { heldBytes: held }) }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(WorkerError);
        expect((error as Error).message).toMatch(/CPU worker \d of 2 stopped \(exit code 1\)/);
        if (when === 'writing') expect(counts.rewritten).toBeGreaterThan(0);
        else expect(counts.planned).toBeLessThan(4); // of the 4 weights in blocks
        expect(readdirSync(join(dir, 'out'))).toEqual([]); // no output, no temporary file
      } finally {
        await dying.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
