// Bundles the GPU test suites (test/browser/suites/all.ts) and the benchmark page (bench/page.ts) for Node, so
// that a machine with a GPU and no npm install can run them with Node and the `webgpu` package alone:
//   node scripts/node-gpu-bundle.mjs [--out=.tmp/node-gpu]
//   node test/node-gpu/run-suites.mjs [--bundle=.tmp/node-gpu/suites.mjs]
//   node bench/run.mjs --node[=.tmp/node-gpu/bench-page.mjs] --no-ort
//   node .tmp/node-gpu/cli-big-model.mjs --backends=cpu,webgpu (bench/cli-big-model.mjs with onnx-proto inlined)
//   node .tmp/node-gpu/node-gpu-profile.mjs (bench/node-gpu-profile.mjs: where whole-model time goes on the GPU)
// The suites import the library as built (dist/, as the browser tests do), the page from source (as bench/run.mjs
// serves it). Everything else is inlined; `webgpu` and Node's own modules stay imports.
import { resolve } from 'node:path';
import { build } from 'vite';

const root = resolve(import.meta.dirname, '..');
const outArg = process.argv.slice(2).find((a) => a.startsWith('--out='));
const outDir = resolve(root, outArg ? outArg.slice('--out='.length) : '.tmp/node-gpu');

/** One Vite SSR build of `input` into outDir/`name`.mjs, with the library from `from` ('dist' or 'src'). */
async function bundle(name, input, from) {
  const library = (entry) => resolve(root, from === 'dist' ? `dist/${entry}.js` : `src/${entry}.ts`);
  await build({
    configFile: false, root, logLevel: 'warn',
    resolve: {
      alias: [
        { find: /^webgpu-quant$/, replacement: library('index') },
        { find: /^webgpu-quant\/models$/, replacement: library('models') },
        { find: /^webgpu-quant\/internals$/, replacement: resolve(root, 'src/internals.ts') },
      ],
    },
    ssr: { noExternal: true, target: 'node' },
    build: {
      ssr: true, outDir, emptyOutDir: false, target: 'node20', minify: false, sourcemap: false, copyPublicDir: false,
      rollupOptions: { input: { [name]: resolve(root, input) }, external: [/^node:/, 'webgpu'], output: { format: 'es', entryFileNames: '[name].mjs' } },
    },
  });
  console.log(`wrote ${resolve(outDir, `${name}.mjs`)}`);
}

await bundle('suites', 'test/browser/suites/all.ts', 'dist');
await bundle('bench-page', 'bench/page.ts', 'src');
await bundle('cli-big-model', 'bench/cli-big-model.mjs', 'src');
await bundle('node-gpu-profile', 'bench/node-gpu-profile.mjs', 'src');
