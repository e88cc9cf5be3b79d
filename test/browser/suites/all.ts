// Every GPU test suite (./*.suite.ts) by `suite › name`: what the page harness (../harness.ts) runs in Chromium and
// what the Node bundle (scripts/node-gpu-bundle.mjs, test/node-gpu/run-suites.mjs) runs on the `webgpu` package.
import type { BrowserTest } from './support.js';

const modules = import.meta.glob<{ tests: Record<string, BrowserTest> }>('./*.suite.ts', { eager: true });

/** Every suite's tests by `suite › name`. */
export const tests = new Map<string, BrowserTest>();
for (const [path, module] of Object.entries(modules)) {
  const suite = path.replace(/^.*\//, '').replace(/\.suite\.ts$/, '');
  for (const [name, test] of Object.entries(module.tests)) tests.set(`${suite} › ${name}`, test);
}
