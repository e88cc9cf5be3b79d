// Runs the GPU test suites in Node on the `webgpu` package's adapter (Dawn: Vulkan, Metal or D3D12, a hardware GPU
// where there is one), the same tests the browser project runs in Chromium, exact comparisons included. Needs the
// bundle of scripts/node-gpu-bundle.mjs (built where npm dependencies are) and the `webgpu` package:
//   node test/node-gpu/run-suites.mjs [--bundle=.tmp/node-gpu/suites.mjs] [--filter=TEXT] [--json=FILE]
// Suites that need a page are left out: Web Workers (cpu-pool), onnxruntime-web (ort-*). Prints one line per test
// and `N passed, N failed`; exits 1 on any failure.
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { installFileFetch, installNodeWebGpu } from './node-webgpu.mjs';

const root = resolve(import.meta.dirname, '../..');
const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split(/=(.*)/s).slice(0, 2)));
const kPageOnly = /^(cpu-pool|ort-contrib|ort-gpu-buffer|ort-web) › /;

const adapter = await installNodeWebGpu();
installFileFetch(root);
const { tests } = await import(pathToFileURL(resolve(root, args.bundle ?? '.tmp/node-gpu/suites.mjs')).href);
console.log(`adapter: ${adapter}; Node ${process.version}`);
const results = [];
const started = performance.now();
for (const [name, test] of tests) {
  if (kPageOnly.test(name) || (args.filter && !name.includes(args.filter))) continue;
  const t0 = performance.now();
  let ok = true;
  let message = '';
  try {
    message = (await test()) ?? '';
  } catch (error) {
    ok = false;
    message = `${error?.name ?? 'Error'}: ${error?.message ?? String(error)}`;
  }
  const ms = performance.now() - t0;
  results.push({ name, ok, ms, message });
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name} (${ms.toFixed(0)} ms)${message ? `: ${message.split('\n').slice(0, ok ? 1 : 12).join('\n    ')}` : ''}`);
}
const failed = results.filter((r) => !r.ok).length;
const seconds = (performance.now() - started) / 1000;
if (args.json) writeFileSync(args.json, `${JSON.stringify({ date: new Date().toISOString(), adapter, node: process.version, seconds, results }, null, 2)}\n`);
console.log(`${results.length - failed} passed, ${failed} failed (${seconds.toFixed(1)} s)`);
process.exit(failed ? 1 : 0);
