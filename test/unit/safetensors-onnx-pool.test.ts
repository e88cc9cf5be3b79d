// compressToSafetensors from an ONNX model read from its file, on a worker pool: each float32 or float16 weight the
// pool takes is read by its worker from the file (planWeightFile, float16 converted there; the calling thread holds
// no copy), and the file and report are those of one thread, for int8 per channel, int4 groups and an escalation,
// with a NaN weight kept. A file cut short after it was opened is a
// FormatError naming it.
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compressToSafetensors } from '../../src/compress/compress-safetensors.js';
import type { CpuWorkerPool } from '../../src/compress/cpu-worker-pool.js';
import { planOnnxCompression } from '../../src/compress/onnx-plan.js';
import type { CompressionPolicy } from '../../src/compress/policy.js';
import { FormatError } from '../../src/errors.js';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';
import { nodeFileSource } from '../../src/io/safetensors/node-file-source.js';
import { memorySink } from '../../src/io/safetensors/sinks.js';
import { recordingPool, useCpuWorkerPool } from '../shared/cpu-worker-pool-fixture.js';
import { mixedMlp } from '../shared/mixed-mlp.js';
import { RUN_SEED } from './support.js';

const cpu = { backend: 'cpu' } as const;
const fixture = useCpuWorkerPool(2);
const dir = mkdtempSync(join(tmpdir(), 'wq-safetensors-onnx-pool-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The model at `path` compressed to safetensors, read from its file, on `pool` or on this thread. */
async function compress(path: string, policy: CompressionPolicy, pool?: CpuWorkerPool, truncateTo?: number) {
  const source = await nodeFileSource(path);
  try {
    const model = await OnnxModel.loadDeferred(source, { name: 'mixed.onnx' });
    if (truncateTo !== undefined) truncateSync(path, truncateTo);
    const sink = memorySink();
    const report = await compressToSafetensors(model, planOnnxCompression(model, policy).decisions, sink, cpu, undefined, pool ? { pool } : {});
    return { bytes: sink.bytes(), report };
  } finally {
    await source.close();
  }
}

describe('compressToSafetensors from an ONNX file on a worker pool', () => {
  it('writes the bytes and report of one thread, the workers reading the float32 weights from the file', { timeout: 60000 }, async () => {
    const bytes = mixedMlp(RUN_SEED + 7); // fc0 with outliers, fc1 float16, fc2 with a NaN, fc3 below the pool's size
    const path = join(dir, 'mixed.onnx');
    writeFileSync(path, bytes);
    const policies: CompressionPolicy[] = [
      { firstLayer: 'quantize' },
      { dtype: 'qint4', granularity: 'group', groupSize: 32, minSqnrDb: 0, firstLayer: 'quantize' },
      { dtype: 'qint4', granularity: 'group', groupSize: 32, minSqnrDb: 26, firstLayer: 'quantize' }, // some escalate
    ];
    for (const policy of policies) {
      const what = JSON.stringify(policy);
      const alone = await compress(path, policy);
      const pool = recordingPool(fixture.pool);
      const pooled = await compress(path, policy, pool);
      expect(Buffer.compare(pooled.bytes, alone.bytes), what).toBe(0);
      expect(pooled.report.tensors, what).toEqual(alone.report.tensors);
      // fc0 and fc2 (float32, 512 and 450 KiB) and fc1 (float16, 384 KiB) read by the workers.
      expect(pool.names.filter((task) => task === 'planWeightFile'), what).toHaveLength(3);
      expect(pool.names.filter((task) => task === 'planWeight'), what).toHaveLength(0);
      const nan = pooled.report.tensors.find((t) => t.name === 'fc2.weight');
      expect(nan?.action, what).toBe('keep');
    }
  });

  it('a file cut short after it was opened fails the call with a FormatError naming it', async () => {
    const bytes = mixedMlp(RUN_SEED + 8);
    const path = join(dir, 'cut.onnx');
    writeFileSync(path, bytes);
    const error = await compress(path, { firstLayer: 'quantize' }, fixture.pool, Math.floor(bytes.byteLength / 2)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FormatError);
    expect((error as Error).message).toMatch(/cut\.onnx|mixed\.onnx/);
  });
});
