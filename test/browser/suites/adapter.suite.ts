// Runs first (alphabetically): prints the adapter and fails loudly when WebGPU is missing, so a run
// without a GPU can never pass by skipping.
import { getBackend, getDefaultManager } from 'webgpu-quant';
import type { BrowserTest } from './support.js';

export const tests: Record<string, BrowserTest> = {
  async 'a WebGPU adapter is present and auto selects it'() {
    if (!navigator.gpu) throw new Error('navigator.gpu is undefined: Chromium needs --enable-unsafe-webgpu and a localhost page');
    const backend = await getBackend();
    if (backend !== 'webgpu') throw new Error(`auto selected ${backend}, expected webgpu`);
    const manager = await getDefaultManager();
    const info = manager.adapterInfo;
    const limits = manager.device.limits;
    return `adapter: ${info?.vendor} ${info?.architecture} ${info?.description}; maxStorageBufferBindingSize ${limits.maxStorageBufferBindingSize}; `
      + `packed4x8 ${manager.features.packed4x8}, timestamp-query ${manager.features.timestampQuery}, subgroups ${manager.features.subgroups}`;
  },
};
