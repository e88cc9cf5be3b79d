import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';
import { createServer } from 'vite';
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const server = await createServer({ configFile: false, root, logLevel: 'error', server: { host: '127.0.0.1', port: 0, hmr: false },
  optimizeDeps: { noDiscovery: true, include: ['onnx-proto'] },
  resolve: { alias: [{ find: /^webgpu-quant$/, replacement: join(root, 'src/index.ts') }, { find: /^webgpu-quant\/models$/, replacement: join(root, 'src/models.ts') }, { find: /^webgpu-quant\/internals$/, replacement: join(root, 'src/internals.ts') }] } });
await server.listen();
const { port } = server.httpServer.address();
const { CHROMIUM_ARGS, chromiumPath } = await server.ssrLoadModule('/test/setup/chromium.ts');
const browser = await puppeteer.launch({ executablePath: chromiumPath(), headless: true, args: CHROMIUM_ARGS });
try {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${port}/bench/page.html`);
  await page.waitForFunction(() => window.__bench !== undefined, { timeout: 60_000 });
  const out = await page.evaluate(`(async () => {
    const lib = await import('/src/index.ts');
    const models = await import('/src/models.ts');
    const res = [];
    for (const mag of [1, 2 ** -20, 2 ** -40, 2 ** -60, 2 ** -100]) {
      const n = 4096; const d = new Float32Array(n); for (let i = 0; i < n; i++) d[i] = Math.fround(Math.sin(i * 1.7) * mag);
      const x = lib.tensor(d, [64, 64]);
      for (const backend of ['cpu', 'webgpu']) {
        const p = await lib.chooseQParams(x, { dtype: 'qint8' }, { backend });
        const q = await lib.quantizePerTensor(x, p.scale, p.zeroPoint, 'qint8', { backend });
        const s = await lib.errorStats(x, q, undefined, { backend });
        const w = await models.quantizeWeight(x, { action: 'quantize', dtype: 'qint8', granularity: 'tensor', symmetric: true, range: 'narrow', method: 'minmax', reason: '' }, {}, { backend });
        res.push([mag, backend, s.overall.sqnrDb, w.ok ? w.stats.overall.sqnrDb : w.reason]);
      }
    }
    return res;
  })()`);
  for (const r of out) console.log(JSON.stringify(r));
} finally { await browser.close(); await server.close(); }
