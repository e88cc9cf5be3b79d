// The `pool` option of compressToSafetensors and compressToGguf: anything but a pool from createCpuWorkerPool (or
// nothing) is an InvalidArgumentError naming options.pool, and the output is aborted: no file, no temporary file.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it, expect } from 'vitest';
import { compressToGguf } from '../../src/compress/compress-gguf.js';
import { compressToSafetensors } from '../../src/compress/compress-safetensors.js';
import type { CpuWorkerPool } from '../../src/compress/cpu-worker-pool.js';
import { decideWeights } from '../../src/compress/policy.js';
import { bytesSource, nodeFileSink, openSafetensors, serializeSafetensors } from '../../src/io/safetensors/index.js';
import { RUN_SEED, expectInvalidAsync, normalData, rng } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'webgpu-quant-pool-option-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the pool option', () => {
  it('rejects what is not a pool, and writes nothing', async () => {
    const data = normalData(64 * 64, rng(RUN_SEED));
    const bytes = await serializeSafetensors([{ name: 'w', dtype: 'F32', shape: [64, 64], data: new Uint8Array(data.buffer) }]);
    const reader = await openSafetensors(bytesSource(bytes, 'model.safetensors'));
    const decisions = decideWeights(reader.list(), { dtype: 'qint8' });
    for (const pool of [2, {}, null, { size: 2, run: 'no' }, { size: 0, run: () => undefined }]) {
      const want = { argument: 'options.pool', value: pool, mentions: ['createCpuWorkerPool'] };
      const bad = pool as unknown as CpuWorkerPool;
      await expectInvalidAsync(async () => compressToSafetensors(reader, decisions, await nodeFileSink(join(dir, 'out.safetensors')),
        { backend: 'cpu' }, undefined, { pool: bad }), want);
      await expectInvalidAsync(async () => compressToGguf(reader, decisions, await nodeFileSink(join(dir, 'out.gguf')), { pool: bad }), want);
    }
    expect(readdirSync(dir)).toEqual([]);
  });
});
