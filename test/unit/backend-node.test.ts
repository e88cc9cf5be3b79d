// Backend selection in plain Node, where the optional `webgpu` package is not installed: 'auto' runs on the
// CPU and says so, 'webgpu' fails with a typed error that says what to do.
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  InvalidArgumentError, WebGpuQuantError, WebGpuUnavailableError, dequantize, getBackend, quantizePerChannel, quantizePerTensor, tensor,
} from '../../src/index.js';
import { runningInNode } from '../../src/gpu/device.js';
import { expectExact } from './support.js';

const x = tensor([-1.52, 0.01, 1.501, 3.0001]);

describe('backend selection in Node without the webgpu package', () => {
  afterEach(() => { vi.unstubAllGlobals(); });

  it('precondition: the optional webgpu package is not installed and there is no navigator.gpu', async () => {
    const name = ['web', 'gpu'].join(''); // not a literal, so Vite leaves the import alone
    await expect(import(/* @vite-ignore */ name)).rejects.toThrow();
    expect((globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu).toBeUndefined();
    expect(runningInNode()).toBe(true);
  });

  it('getBackend() resolves to "cpu" by default, for "auto" and for "cpu"', async () => {
    expect(await getBackend()).toBe('cpu');
    expect(await getBackend({})).toBe('cpu');
    expect(await getBackend({ backend: 'auto' })).toBe('cpu');
    expect(await getBackend({ backend: 'cpu' })).toBe('cpu');
  });

  it('runs the default operations on the CPU and marks the results', async () => {
    const q = await quantizePerTensor(x, 0.5, 0, 'qint8');
    expect(q.backend).toBe('cpu');
    expectExact(q.intRepr(), [-3, 0, 3, 6], 'quantizePerTensor');
    const deq = await dequantize(q);
    expect(deq.backend).toBe('cpu');
    expectExact(deq.data, [-1.5, 0, 1.5, 3], 'dequantize');
    const qc = await quantizePerChannel(tensor([-0.1, 0, 0.1, 0.2, -100, -50, 0, 50], [2, 4]), [0.002, 0.5], [0, 0], 0, 'qint8');
    expect(qc.backend).toBe('cpu');
    expectExact(qc.intRepr(), [-50, 0, 50, 100, -128, -100, 0, 100], 'quantizePerChannel');
    expect((await dequantize(qc, { backend: 'auto' })).backend).toBe('cpu');
  });

  it('{ backend: "webgpu" } rejects with WebGpuUnavailableError saying what to do, from every operation', async () => {
    const q = await quantizePerTensor(x, 0.5, 0, 'qint8');
    const operations: [string, () => Promise<unknown>][] = [
      ['getBackend', () => getBackend({ backend: 'webgpu' })],
      ['quantizePerTensor', () => quantizePerTensor(x, 0.5, 0, 'qint8', { backend: 'webgpu' })],
      ['quantizePerChannel', () => quantizePerChannel(x, [1, 1, 1, 1], [0, 0, 0, 0], 0, 'quint8', { backend: 'webgpu' })],
      ['dequantize', () => dequantize(q, { backend: 'webgpu' })],
    ];
    for (const [name, run] of operations) {
      let error: unknown;
      try { await run(); } catch (e) { error = e; }
      expect(error, name).toBeInstanceOf(WebGpuUnavailableError);
      expect(error, name).toBeInstanceOf(WebGpuQuantError);
      const { message, name: errorName } = error as Error;
      expect(errorName).toBe('WebGpuUnavailableError');
      expect(message, name).toMatch(/"webgpu" package/); // why: nothing to run WebGPU with in Node
      expect(message, name).toMatch(/backend "cpu"/); // what to do instead
    }
  });

  it('validates arguments before looking for a GPU: a bad scale with backend "webgpu" is an InvalidArgumentError', async () => {
    await expect(quantizePerTensor(x, 0, 0, 'qint8', { backend: 'webgpu' })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('a "device" option that is not a GPUDevice is rejected, unless backend is "cpu"', async () => {
    const device = {} as GPUDevice;
    let error: unknown;
    try { await quantizePerTensor(x, 0.5, 0, 'qint8', { device }); } catch (e) { error = e; }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).argument).toBe('device');
    expect((error as InvalidArgumentError).value).toBe(device);
    const q = await quantizePerTensor(x, 0.5, 0, 'qint8', { device, backend: 'cpu' });
    expect(q.backend).toBe('cpu');
  });

  it('an unloadable WEBGPU_QUANT_DAWN_MODULE also falls back to the CPU', async () => {
    vi.stubGlobal('WEBGPU_QUANT_DAWN_MODULE', './no-such-dawn-module.js');
    expect(await getBackend()).toBe('cpu');
    await expect(getBackend({ backend: 'webgpu' })).rejects.toBeInstanceOf(WebGpuUnavailableError);
  });

  // Node >= 21 defines a global `navigator` (userAgent 'Node.js/22'): runningInNode() must still say Node.
  it('runningInNode() is true in Node >= 21, which defines a global navigator', () => {
    vi.stubGlobal('navigator', { userAgent: 'Node.js/22', language: 'en-US', hardwareConcurrency: 16 });
    expect(runningInNode()).toBe(true);
  });
});
