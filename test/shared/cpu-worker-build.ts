// Builds the CPU worker script (src/compress/cpu-worker.ts) into one self-contained ES module, as the library
// build does for dist/cpu-worker.js, so that unit tests running src/ can start real worker threads.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = resolve(import.meta.dirname, '..', '..');

/** Bundles the worker into a fresh temporary folder; returns its file URL and the folder (delete it after). */
export async function buildCpuWorker(): Promise<{ url: URL; dir: string }> {
  const { build } = await import('vite');
  const dir = mkdtempSync(join(tmpdir(), 'wq-cpu-worker-'));
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  await build({
    configFile: false, root: ROOT, logLevel: 'warn',
    build: {
      target: 'es2022', outDir: dir, emptyOutDir: false, minify: false, write: true,
      lib: { entry: join(ROOT, 'src/compress/cpu-worker.ts'), formats: ['es'], fileName: () => 'cpu-worker.js' },
      rollupOptions: { external: [/^node:/] },
    },
  });
  return { url: pathToFileURL(join(dir, 'cpu-worker.js')), dir };
}

/**
 * A worker script written into `dir` that runs the real worker at `url` but exits with code 1 when its `task`-th
 * task arrives (before answering it): a worker that dies mid-compression, for the failure-path tests.
 */
export function workerDyingAt(dir: string, url: URL, task: number): URL {
  const script = join(dir, 'dies.mjs');
  writeFileSync(script, `import { parentPort } from 'node:worker_threads';\nawait import(${JSON.stringify(url.href)});\n`
    + `let tasks = 0;\nparentPort.on('message', () => { if (++tasks === ${task}) process.exit(1); });\n`);
  return pathToFileURL(script);
}
