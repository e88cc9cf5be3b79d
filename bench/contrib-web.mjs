// Inference time of an MLP as float32, QDQ and MatMulNBits in onnxruntime-web, WebGPU EP and wasm EP, in
// headless Chromium (SwiftShader where there is no GPU: its WebGPU times are a CPU emulation's), plus where
// onnxruntime placed each node, from its verbose session log. Serves the repository with Vite (the library
// from source, no dist/ needed) and drives bench/contrib-web.html:
//   node bench/contrib-web.mjs [--widths 1024,4096,1024,4096,1024] [--batch 1] [--reps 10] [--variants float32,int4 g32 QDQ,...]
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import puppeteer from 'puppeteer-core';
import { createServer } from 'vite';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: {
  widths: { type: 'string', default: '1024,4096,1024,4096,1024' }, batch: { type: 'string', default: '1' }, reps: { type: 'string', default: '10' },
  variants: { type: 'string', default: 'float32,int4 g32 QDQ,int4 g32 MatMulNBits,int8 per channel QDQ,int8 per channel MatMulNBits' },
} });

const server = await createServer({
  configFile: false, root, logLevel: 'error',
  server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false },
  optimizeDeps: { noDiscovery: true, include: ['onnx-proto'] },
  resolve: { alias: [{ find: /^webgpu-quant\/models$/, replacement: join(root, 'src/models.ts') }] },
});
let browser;
try {
  await server.listen();
  const { port } = server.httpServer.address();
  const { CHROMIUM_ARGS, chromiumPath } = await server.ssrLoadModule('/test/setup/chromium.ts');
  browser = await puppeteer.launch({ executablePath: chromiumPath(), headless: true, protocolTimeout: 600_000, args: CHROMIUM_ARGS });
  const page = await browser.newPage();
  const log = [];
  page.on('console', (message) => log.push(message.text()));
  page.on('pageerror', (error) => log.push(`page error: ${error.message}`));
  await page.goto(`http://127.0.0.1:${port}/bench/contrib-web.html`);
  await page.waitForFunction(() => window.__contrib !== undefined, { timeout: 120_000 });
  const adapter = await page.evaluate(async () => {
    const a = await navigator.gpu?.requestAdapter();
    return a ? [a.info.vendor, a.info.architecture, a.info.description].filter(Boolean).join(' / ') : 'no WebGPU adapter';
  });
  const widths = values.widths.split(',').map(Number);
  const { version, rows } = await page.evaluate((w, b, r, v) => window.__contrib.run(w, b, r, v), widths, Number(values.batch), Number(values.reps), values.variants.split(','));
  console.log(`MLP ${widths.join(' → ')}, batch ${values.batch}, onnxruntime-web ${version} in ${await browser.version()}, adapter: ${adapter}; median of ${values.reps} runs (output read back)`);
  console.log('| model | EP | MiB | ms per run | max |Δy| / max |y| vs float32 (wasm) | vs the same model on wasm |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const row of rows) {
    if (row.error) console.log(`| ${row.model} | ${row.ep} | ${(row.bytes / 2 ** 20).toFixed(2)} | fails: ${row.error.replace(/\|/g, '/')} | | |`);
    else console.log(`| ${row.model} | ${row.ep} | ${(row.bytes / 2 ** 20).toFixed(2)} | ${row.ms.toFixed(2)} | ${row.relativeToFloat32.toFixed(4)} | ${row.ep === 'wasm' ? '—' : row.relativeToWasm.toExponential(1)} |`);
  }
  // Node placement, from onnxruntime's verbose log of each session (per variant, wasm session first, then WebGPU).
  console.log('\nnode placement (onnxruntime verbose log):');
  let current = '';
  for (const line of log) {
    const start = /^=== (.*): sessions start/.exec(line);
    if (start) { current = start[1]; continue; }
    if (/placed on/i.test(line)) console.log(`  [${current}] ${line.replace(/^.*VerifyEachNodeIsAssignedToAnEp\] /, '')}`);
  }
  const errors = log.filter((l) => l.startsWith('page error'));
  if (errors.length) { console.error(errors.join('\n')); process.exitCode = 1; }
} finally {
  await browser?.close();
  await server.close();
}
