// backend 'auto' in Node without a hardware GPU: the measured crossover is Infinity (nothing to measure), and
// every weight is computed on the CPU. The crossover on a GPU is measured in the browser suite (ort-web).
import { describe, expect, it } from 'vitest';
import { AUTO_GPU_MIN_ELEMENTS, autoCrossover } from '../../src/compress/auto-crossover.js';
import { decideWeight } from '../../src/compress/policy.js';
import { quantizeWeight } from '../../src/compress/quantize-weight.js';
import { getBackend } from '../../src/ops/backend.js';
import { RUN_SEED, normalData, rng } from './support.js';

describe("'auto' crossover", () => {
  it('is Infinity where auto finds no GPU, and every weight then runs on the CPU', async () => {
    if (await getBackend() !== 'cpu') return; // a hardware GPU in Node: measured instead (browser suite)
    expect(await autoCrossover()).toBe(Infinity);
    expect(await autoCrossover({ backend: 'cpu' })).toBe(Infinity);
    const data = normalData(4 * AUTO_GPU_MIN_ELEMENTS, rng(RUN_SEED));
    const shape = [256, data.length / 256];
    const decision = decideWeight({ name: 'w', shape, dtype: 'float32', consumers: [{ opType: 'MatMul', input: 1 }] } as never, {});
    const result = await quantizeWeight({ data, shape }, decision);
    expect(result.ok && result.q.backend).toBe('cpu');
  });

  it('rejects a bad backend option as every operation does', async () => {
    await expect(autoCrossover({ backend: 'tpu' as never })).rejects.toThrow(/options\.backend/);
  });
});
