// WebGPU in Node for the GPU suites and the benchmark: the `webgpu` package (Dawn) made the page's
// `navigator.gpu`, and `fetch` of the page's root-relative paths ('/test/fixtures/…', '/node_modules/…') read
// from the repository. Used by test/node-gpu/run-suites.mjs and `node bench/run.mjs --node`.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Installs Dawn's globals (GPUBufferUsage, …) and `navigator.gpu`; resolves with the adapter's description.
 * `flags` go to Dawn's `create` (the benchmark turns timestamp quantization off, as Chrome's developer features do);
 * `module` names the binding: the `webgpu` package unless given.
 */
export async function installNodeWebGpu(flags = [], module = process.env.WEBGPU_QUANT_DAWN_MODULE ?? 'webgpu') {
  const dawn = await import(module);
  Object.assign(globalThis, dawn.globals);
  // Held on globalThis for the life of the process: Dawn frees an instance the garbage collector takes.
  const gpu = dawn.create(flags);
  Object.defineProperty(globalThis, 'navigator', {
    value: { gpu, userAgent: `Node ${process.version}; webgpu (Dawn)`, hardwareConcurrency: (await import('node:os')).availableParallelism() },
    configurable: true, writable: true,
  });
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new Error('the webgpu package found no adapter (no Vulkan driver?)');
  const info = adapter.info;
  return [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' / ');
}

/** `fetch` of a path starting with '/' reads `root` + path; anything else goes to the real fetch. */
export function installFileFetch(root) {
  const real = globalThis.fetch;
  globalThis.fetch = async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!url.startsWith('/')) return real(input, init);
    try {
      const bytes = await readFile(join(root, decodeURIComponent(url.split('?')[0])));
      return new Response(bytes, { status: 200 });
    } catch {
      return new Response('not found', { status: 404 });
    }
  };
}
