// The Node bundle of the GPU suites (scripts/node-gpu-bundle.mjs), which a GPU machine without npm runs with the
// `webgpu` package (test/node-gpu/run-suites.mjs): it builds, loads, and holds every test of every suite the browser
// project runs; its fetch of the page's root-relative paths reads the repository. Needs dist/ (`npm test` builds it).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error a plain ES module without types
import { installFileFetch } from '../node-gpu/node-webgpu.mjs';

const root = resolve(import.meta.dirname, '../..');
const out = mkdtempSync(join(tmpdir(), 'webgpu-quant-node-gpu-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('the GPU suites bundled for Node', () => {
  it('builds, loads without a GPU, and has every suite of test/browser/suites and their tests', async () => {
    const build = spawnSync(process.execPath, [join(root, 'scripts/node-gpu-bundle.mjs'), `--out=${out}`], { encoding: 'utf8' });
    expect(build.status, build.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['bench-page.mjs', 'cli-big-model.mjs', 'node-gpu-profile.mjs', 'suites.mjs']);
    // The WebGPU constants the library reads at load time (Dawn's globals on a GPU machine).
    const scope = globalThis as Record<string, unknown>;
    scope.GPUBufferUsage ??= { MAP_READ: 1, MAP_WRITE: 2, COPY_SRC: 4, COPY_DST: 8, INDEX: 16, VERTEX: 32, UNIFORM: 64, STORAGE: 128, INDIRECT: 256, QUERY_RESOLVE: 512 };
    scope.GPUMapMode ??= { READ: 1, WRITE: 2 };
    scope.GPUShaderStage ??= { VERTEX: 1, FRAGMENT: 2, COMPUTE: 4 };
    const { tests } = await import(pathToFileURL(join(out, 'suites.mjs')).href) as { tests: Map<string, () => Promise<unknown>> };
    const suites = readdirSync(join(root, 'test/browser/suites')).filter((f) => f.endsWith('.suite.ts')).map((f) => f.replace(/\.suite\.ts$/, ''));
    expect(new Set([...tests.keys()].map((name) => name.split(' › ')[0]))).toEqual(new Set(suites));
    expect(tests.size).toBeGreaterThan(80);
    for (const test of tests.values()) expect(typeof test).toBe('function');
  }, 120_000);

  it("reads the page's root-relative fetches from the repository, 404 for a missing file", async () => {
    const real = globalThis.fetch;
    try {
      installFileFetch(root);
      const fixtures = await (await fetch('/test/fixtures/torch-quantize.json')).json() as unknown;
      expect(typeof fixtures).toBe('object');
      const shader = await fetch('/shaders/error-stats/error_stats.wgsl?raw');
      expect(await shader.text()).toContain('struct ErrorStatsParams');
      expect((await fetch(`/test/fixtures/missing-${Date.now()}.json`)).status).toBe(404);
    } finally {
      globalThis.fetch = real;
    }
  });
});
