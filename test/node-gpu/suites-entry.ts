// The GPU test suites (test/browser/suites/*.suite.ts) collected for Node, where the `webgpu` package (Dawn) is
// the WebGPU: scripts/node-gpu-bundle.mjs bundles this file, test/node-gpu/run-suites.mjs runs what it exports.
// The suites are the ones the browser tests run, unchanged; the ones that need a page (Web Workers, onnxruntime-web)
// are left out by the runner.
import type { BrowserTest } from '../browser/suites/support.js';

const modules = import.meta.glob<{ tests: Record<string, BrowserTest> }>('../browser/suites/*.suite.ts', { eager: true });

/** Every suite's tests by `suite › name`, as the browser harness names them. */
export const tests = new Map<string, BrowserTest>();
for (const [path, module] of Object.entries(modules)) {
  const suite = path.replace(/^.*\//, '').replace(/\.suite\.ts$/, '');
  for (const [name, test] of Object.entries(module.tests)) tests.set(`${suite} › ${name}`, test);
}
