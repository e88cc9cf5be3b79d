// Where a public GPU call's time goes, end to end, on the host: for each case, `reps` pairs of the public call
// (backend 'webgpu') and the plumbing limit (bench/page-plumbing.ts), each public call followed at once by a
// plumbing call (the median of the pairs' ratios, as bench/run.mjs reports it); then, unless --no-profile, the
// same calls under the Chrome DevTools CPU profiler: self time per function and call, '(idle)' being the wait
// for the GPU. A case is op:dtype:layout (layouts as bench/harness.ts names them), or compress:BACKEND:mlp for
// compressOnnx on the bench MLP with that backend (mlpN: N layers of 1024 → 4096 → 1024 ..., 16 MiB of float32
// each; a fourth field picks the scheme, e.g. compress:webgpu:mlp:qint4g32), paired with backend 'cpu' where the
// other cases pair the plumbing.
//
// --on=deviceTables,stagedUploads turns those switches of the page's default manager on first (src/gpu/device.ts;
// a software adapter has them off in a browser), to measure those paths where the defaults do not take them.
//
//   node bench/e2e-profile.mjs [--cases=quantize:qint4:group32,dequantize:qint4:group32] [--elements=1048576]
//                              [--reps=20] [--top=25] [--no-profile] [--on=deviceTables,stagedUploads]
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';
import puppeteer from 'puppeteer-core';
import { createServer } from 'vite';
import { matrixShape } from './args.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const opts = { cases: 'quantize:qint4:group32', elements: 1048576, reps: 20, top: 25, profile: true, on: '' };
for (const arg of process.argv.slice(2)) {
  const [k, v] = arg.replace(/^--/, '').split('=');
  if (k === 'no-profile') opts.profile = false;
  else if (k in opts && k !== 'profile') opts[k] = typeof opts[k] === 'number' ? Number(v) : v;
  else throw new Error(`unknown option ${arg} (see the top of bench/e2e-profile.mjs)`);
}
const server = await createServer({
  configFile: false, root, logLevel: 'error',
  server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false },
  optimizeDeps: { noDiscovery: true, include: ['onnx-proto'] },
  resolve: { alias: [
    { find: /^webgpu-quant$/, replacement: join(root, 'src/index.ts') },
    { find: /^webgpu-quant\/models$/, replacement: join(root, 'src/models.ts') },
    { find: /^webgpu-quant\/internals$/, replacement: join(root, 'src/internals.ts') },
  ] },
});
let browser;
try {
  await server.listen();
  const { port } = server.httpServer.address();
  const { CHROMIUM_ARGS, chromiumPath } = await server.ssrLoadModule('/test/setup/chromium.ts');
  browser = await puppeteer.launch({ executablePath: chromiumPath(), headless: true, protocolTimeout: 600_000, args: [...CHROMIUM_ARGS, '--enable-webgpu-developer-features'] });
  const page = await browser.newPage();
  page.on('console', (m) => process.stderr.write(`[page] ${m.text()}\n`));
  await page.goto(`http://127.0.0.1:${port}/bench/page.html`);
  await page.waitForFunction(() => window.__bench !== undefined, { timeout: 60_000 });
  const session = await page.createCDPSession();
  await session.send('Profiler.enable');
  await session.send('Profiler.setSamplingInterval', { interval: 100 });
  for (const spec of opts.cases.split(',')) {
    const [op, dtype, layout, scheme] = spec.split(':');
    const c = { op, dtype, layout, elements: opts.elements, shape: matrixShape(opts.elements) };
    // compress:BACKEND:mlp times compressOnnx on the bench MLP with that backend, paired with backend 'cpu' in the
    // plumbing's place (the ratio is then BACKEND / cpu).
    const setup = op === 'compress' ? `
      const { compressOnnx } = await import('/src/models.ts');
      const { onnx } = await import('/src/internals.ts');
      const { mlpModel } = await import('/bench/mlp-model.mjs');
      const layers = ${JSON.stringify(layout)} === 'mlp' ? 4 : (${JSON.stringify(layout)}.startsWith('mlp') ? Number(${JSON.stringify(layout)}.slice(3)) : NaN);
      if (!(layers >= 1)) throw new Error('compress cases take the bench MLP: compress:BACKEND:mlp, or mlpN for N layers');
      const bytes = mlpModel(onnx, Array.from({ length: layers + 1 }, (_, i) => (i % 2 ? 4096 : 1024)));
      const options = ${JSON.stringify(scheme === undefined ? {} : { dtype: scheme.replace(/g\d+$/, ''), ...(/g\d+$/.test(scheme) ? { granularity: 'group', groupSize: Number(/g(\d+)$/.exec(scheme)[1]) } : {}) })};
      const call = () => compressOnnx(bytes, options, { backend: ${JSON.stringify(dtype)} });
      const plumbOnce = () => compressOnnx(bytes, options, { backend: 'cpu' });
      const plumbIn = undefined, outBytes = 0;
      await call(); await plumbOnce();
    ` : `
      const lib = await import('/src/index.ts');
      const manager = await lib.getDefaultManager();
      for (const name of ${JSON.stringify(opts.on ? opts.on.split(',') : [])}) {
        if (name !== 'deviceTables' && name !== 'stagedUploads') throw new Error('--on takes deviceTables and stagedUploads');
        manager[name] = true;
      }
      const { caseParams, inputData } = await import('/bench/harness.ts');
      const { plumbOnce } = await import('/bench/page-plumbing.ts');
      const c = ${JSON.stringify(c)};
      const size = c.elements;
      const p = caseParams(c);
      const x = lib.tensor(inputData(size), c.shape);
      const o = { backend: 'webgpu' };
      const quant = () => p.groupSize ? lib.quantizePerGroup(x, p.scales, p.zeroPoints, p.axis, p.groupSize, c.dtype, o)
        : c.layout === 'perTensor' ? lib.quantizePerTensor(x, p.scale, p.zeroPoint, c.dtype, o)
        : lib.quantizePerChannel(x, p.scales, p.zeroPoints, p.axis, c.dtype, o);
      const bits = c.dtype.endsWith('4') ? 4 : 8;
      const [inBytes, outBytes] = c.op === 'quantize' ? [size * 4, size * bits / 8] : [size * bits / 8, size * 4];
      const q = await quant();
      const call = c.op === 'quantize' ? quant : () => lib.dequantize(q, o);
      const plumbIn = new Uint8Array(inBytes);
      await call(); await plumbOnce(plumbIn, outBytes);
    `;
    await page.evaluate(`(async () => { ${setup} window.__p = { call, plumbOnce, plumbIn, outBytes }; })()`);
    const timed = async (which) => {
      await session.send('Profiler.start');
      const ms = await page.evaluate(`(async () => { const { call, plumbOnce, plumbIn, outBytes } = window.__p; const ms = [];
        for (let i = 0; i < ${opts.reps}; i++) { const t0 = performance.now(); ${which === 'call' ? 'await call()' : 'await plumbOnce(plumbIn, outBytes)'}; ms.push(performance.now() - t0); }
        return ms; })()`);
      const { profile } = await session.send('Profiler.stop');
      return { ms, profile };
    };
    // Interleaved pairs without the profiler first: the ratio.
    const ratio = await page.evaluate(`(async () => { const { call, plumbOnce, plumbIn, outBytes } = window.__p; const e = [], pl = [], r = [];
      for (let i = 0; i < ${opts.reps}; i++) { let t0 = performance.now(); await call(); const a = performance.now() - t0;
        t0 = performance.now(); await plumbOnce(plumbIn, outBytes); const b = performance.now() - t0; e.push(a); pl.push(b); r.push(a / b); }
      const med = (v) => [...v].sort((x, y) => x - y)[v.length >> 1];
      return { e2e: med(e), plumbing: med(pl), ratio: med(r) }; })()`);
    console.log(`${op} ${dtype} ${layout} ${opts.elements}: load ${loadavg()[0].toFixed(2)}; unprofiled medians: e2e ${ratio.e2e.toFixed(2)} ms, plumbing ${ratio.plumbing.toFixed(2)} ms, e2e/plumbing ${ratio.ratio.toFixed(2)}`);
    for (const which of opts.profile ? ['call', 'plumbing'] : []) {
      const { ms, profile } = await timed(which);
      const self = new Map();
      const byId = new Map(profile.nodes.map((n) => [n.id, n]));
      const dt = profile.timeDeltas;
      for (let i = 0; i < profile.samples.length; i++) {
        const n = byId.get(profile.samples[i]);
        const f = n.callFrame;
        const key = `${f.functionName || '(anon)'} ${f.url.replace(/^.*\/\/[^/]+/, '').replace(/\?.*$/, '')}:${f.lineNumber + 1}`;
        self.set(key, (self.get(key) ?? 0) + (dt[i + 1] ?? 0) / 1000);
      }
      const total = [...self.values()].reduce((a, b) => a + b, 0);
      const sorted = [...ms].sort((a, b) => a - b);
      console.log(`\n${which}: ${opts.reps} calls, median ${sorted[sorted.length >> 1].toFixed(2)} ms; profile ${total.toFixed(1)} ms, per call:`);
      for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, opts.top)) console.log(`  ${(v / opts.reps).toFixed(3).padStart(8)} ms  ${k}`);
    }
  }
} finally {
  await browser?.close();
  await server.close();
}
