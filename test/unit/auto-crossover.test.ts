// backend 'auto' and its measured crossover. The fit (where two `fixed + elements × per element` lines meet) is
// checked on made-up timings; in Node without a hardware GPU the crossover is Infinity (nothing to measure) and
// every weight is computed on the CPU. The crossover on a GPU is measured in the browser suites (ort-web,
// concurrency).
import { describe, expect, it } from 'vitest';
import { AUTO_GPU_MIN_ELEMENTS, autoComputesOnCpu, autoCrossover, crossoverOf } from '../../src/compress/auto-crossover.js';
import { decideWeight } from '../../src/compress/policy.js';
import { quantizeWeight } from '../../src/compress/quantize-weight.js';
import { getBackend } from '../../src/ops/backend.js';
import { RUN_SEED, normalData, rng } from './support.js';

/** Milliseconds at 2^14 and 2^18 elements of a backend costing `fixed + elements × perElement`. */
const timesOf = (fixed: number, perElement: number) => [fixed + perElement * 2 ** 14, fixed + perElement * 2 ** 18];

describe("'auto' crossover", () => {
  it('is where the two fitted lines meet, for random costs', () => {
    const next = rng(RUN_SEED);
    for (let trial = 0; trial < 50; trial++) {
      const cpuPerElement = 1e-6 * (1 + 9 * next());
      const gpuPerElement = cpuPerElement * (0.05 + 0.9 * next());
      const gpuFixed = 0.5 + 5 * next();
      const cpuFixed = 0.05 * next();
      const meet = (gpuFixed - cpuFixed) / (cpuPerElement - gpuPerElement);
      const found = crossoverOf({ gpu: timesOf(gpuFixed, gpuPerElement), cpu: timesOf(cpuFixed, cpuPerElement) });
      expect(found).toBe(Math.max(AUTO_GPU_MIN_ELEMENTS, Math.ceil(meet)));
      // At the crossover the GPU is no slower; one element below it (above the floor) it is slower.
      expect(gpuFixed + gpuPerElement * found).toBeLessThanOrEqual(cpuFixed + cpuPerElement * found + 1e-9);
      if (found > AUTO_GPU_MIN_ELEMENTS) expect(gpuFixed + gpuPerElement * (found - 1)).toBeGreaterThan(cpuFixed + cpuPerElement * (found - 1) - 1e-9);
    }
  });

  it('is 950,272 elements for a GPU taking 2 and 3 ms at 2^14 and 2^18 elements against a CPU taking 0.1 and 1.6 ms', () => {
    expect(crossoverOf({ gpu: [2, 3], cpu: [0.1, 1.6] })).toBe(950272);
  });

  it('is Infinity when the GPU is not faster per element, and never below the floor', () => {
    expect(crossoverOf({ gpu: [2, 10], cpu: [0.1, 1.6] })).toBe(Infinity); // slower per element (SwiftShader)
    expect(crossoverOf({ gpu: [2, 3.5], cpu: [0.5, 2] })).toBe(Infinity); // the same per element
    expect(crossoverOf({ gpu: [Number.NaN, 3], cpu: [0.1, 1.6] })).toBe(Infinity); // a timing that failed
    expect(crossoverOf({ gpu: [0.05, 0.3], cpu: [0.1, 1.6] })).toBe(AUTO_GPU_MIN_ELEMENTS); // faster at every size
  });

  it('is Infinity where auto finds no GPU, and every weight then runs on the CPU', async () => {
    if (await getBackend() !== 'cpu') return; // a hardware GPU in Node: measured instead (browser suites)
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

  it('computes on the CPU with a worker pool whatever the size, deciding without a GPU; without one by the floor and the crossover', async () => {
    const pool = { size: 2, run: async () => { throw new Error('not run'); } };
    const sizes = [1, AUTO_GPU_MIN_ELEMENTS - 1, AUTO_GPU_MIN_ELEMENTS, 2 ** 24, 2 ** 31];
    for (const elements of sizes) expect(await autoComputesOnCpu({ backend: 'auto' }, elements, pool)).toBe(true);
    // With a pool no device is acquired (a device no GPU call would accept is never used), but the options are checked.
    expect(await autoComputesOnCpu({ backend: 'auto', device: {} as GPUDevice }, 2 ** 24, pool)).toBe(true);
    await expect(autoComputesOnCpu({ backend: 'tpu' as never }, 2 ** 24, pool)).rejects.toThrow(/options\.backend/);
    await expect(autoComputesOnCpu({ maxChunkElements: 2 }, 2 ** 24, pool)).rejects.toThrow(/options\.maxChunkElements/);
    await expect(autoComputesOnCpu({ backend: 'auto', device: {} as GPUDevice }, 2 ** 24)).rejects.toThrow();
    // Without a pool: below the floor without a GPU; above it as the crossover says (Infinity here without a GPU).
    expect(await autoComputesOnCpu({ backend: 'auto', device: {} as GPUDevice }, AUTO_GPU_MIN_ELEMENTS - 1)).toBe(true);
    if (await getBackend() === 'cpu') expect(await autoComputesOnCpu({ backend: 'auto' }, 2 ** 24)).toBe(true);
  });
});
