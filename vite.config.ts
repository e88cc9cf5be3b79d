import { resolve } from 'node:path';
import { defineConfig } from 'vite';

// One config for the library build (`vite build` -> dist/), the demo (`vite build --mode demo`) and the
// dev server the browser tests use. Shaders are imported with ?raw, so the build inlines them.
export default defineConfig(({ mode }) => {
  if (mode === 'demo') {
    return {
      root: resolve(import.meta.dirname, 'demo'),
      base: './',
      build: { outDir: resolve(import.meta.dirname, 'demo-dist'), emptyOutDir: true, target: 'es2022' },
      // Module workers, as the app starts them: the CPU worker script (a pool's Web Workers) awaits its imports.
      worker: { format: 'es' as const },
    };
  }
  return {
    build: {
      target: 'es2022',
      outDir: 'dist',
      emptyOutDir: true,
      sourcemap: true,
      minify: false,
      // index.js: the library (browser and Node); models.js: model files and compression ('webgpu-quant/models');
      // cli.js: the Node command line (bin/webgpu-quant.mjs); cpu-worker.js: the script of each CPU worker thread
      // (createCpuWorkerPool finds it beside the library's files).
      lib: {
        entry: {
          index: resolve(import.meta.dirname, 'src/index.ts'),
          models: resolve(import.meta.dirname, 'src/models.ts'),
          cli: resolve(import.meta.dirname, 'src/cli/main.ts'),
          'cpu-worker': resolve(import.meta.dirname, 'src/compress/cpu-worker.ts'),
        },
        formats: ['es'],
        fileName: (_format, name) => `${name}.js`,
      },
      rollupOptions: { external: ['webgpu', 'onnxruntime-node', /^node:/] },
    },
    server: { host: '127.0.0.1' },
  };
});
