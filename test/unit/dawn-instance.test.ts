// In Node the device manager makes its WebGPU from the `webgpu` package (Dawn), named here by
// globalThis.WEBGPU_QUANT_DAWN_MODULE: a stand-in module that counts its instances and has no adapter. Dawn goes on
// processing an instance's events after the last JS reference to it is gone, so an instance made per call and then
// collected crashed a busy compression: one instance is made and held for every device.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { WebGpuUnavailableError } from '../../src/errors.js';
import { GpuManager } from '../../src/gpu/device.js';

const dir = mkdtempSync(join(tmpdir(), 'webgpu-quant-dawn-'));
const module = join(dir, 'fake-dawn.mjs');
writeFileSync(module, `
globalThis.__fakeDawnInstances = [];
export const globals = { FAKE_DAWN_GLOBAL: 1 };
export function create(flags) {
  const gpu = { flags, requestAdapter: async () => null };
  globalThis.__fakeDawnInstances.push(gpu);
  return gpu;
}
`);
const scope = globalThis as { WEBGPU_QUANT_DAWN_MODULE?: string; __fakeDawnInstances?: unknown[]; FAKE_DAWN_GLOBAL?: number };
scope.WEBGPU_QUANT_DAWN_MODULE = pathToFileURL(module).href;
afterAll(() => {
  delete scope.WEBGPU_QUANT_DAWN_MODULE;
  rmSync(dir, { recursive: true, force: true });
});

describe('the Dawn instance in Node', () => {
  it('is made once and used for every device asked for, concurrent or not', async () => {
    const attempts = [GpuManager.create(), GpuManager.create(), GpuManager.create({ powerPreference: 'high-performance' })];
    for (const attempt of attempts) await expect(attempt).rejects.toThrow(WebGpuUnavailableError);
    await expect(GpuManager.create()).rejects.toThrow(/found no adapter/);
    expect(scope.__fakeDawnInstances).toHaveLength(1);
    expect(scope.FAKE_DAWN_GLOBAL).toBe(1); // its globals (GPUBufferUsage, …) installed
  });
});
