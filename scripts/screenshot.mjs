// Screenshots of the app in headless Chromium with WebGPU on.
//   node scripts/screenshot.mjs                   the docs' pictures: serves the built app (demo-dist/, from
//                                                 `npx vite build --mode demo`) and writes docs/app.png at
//                                                 1400 px and docs/app-narrow.png at 420 px, with the
//                                                 scheme comparison filled in
//   node scripts/screenshot.mjs <url> <out.png> [--width N] [--no-webgpu]   one page, by hand
// Waits for document.body.dataset.ready, prints console errors, and fails if the page scrolls sideways.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import puppeteer from 'puppeteer-core';

const root = resolve(import.meta.dirname, '..');
const argv = process.argv.slice(2);
const option = (name) => { const i = argv.indexOf(name); return i >= 0 ? argv.splice(i, 2)[1] : undefined; };
const width = Number(option('--width') ?? 1400);
const webgpu = !argv.includes('--no-webgpu');
const [url, out] = argv.filter((a) => !a.startsWith('--'));

// Chromium starts as the tests start it (test/setup/chromium.ts), less WebGPU with --no-webgpu.
const { runnerImport } = await import('vite');
const { module: { CHROMIUM_ARGS, chromiumPath } } = await runnerImport(resolve(root, 'test/setup/chromium.ts'));
const args = webgpu ? CHROMIUM_ARGS : CHROMIUM_ARGS.filter((a) => a !== '--enable-unsafe-webgpu');

async function shoot(browser, pageUrl, path, viewportWidth, compare = false) {
  const page = await browser.newPage();
  await page.setViewport({ width: viewportWidth, height: 900 });
  page.on('console', (m) => { if (m.type() === 'error') console.error(`console error: ${m.text()}`); });
  await page.goto(pageUrl);
  await page.waitForFunction(() => document.body.dataset.ready === 'true', { timeout: 120_000 });
  if (compare) {
    await page.click('#compare-schemes');
    await page.waitForFunction(() => document.querySelectorAll('#compare-table tbody tr').length >= 6
      && !document.querySelector('#compare-schemes').disabled, { timeout: 300_000 });
  }
  await new Promise((done) => setTimeout(done, 300)); // the charts' resize redraw is debounced
  const { scrollWidth, innerWidth } = await page.evaluate(() => ({ scrollWidth: document.scrollingElement.scrollWidth, innerWidth }));
  await page.screenshot({ path, fullPage: true });
  await page.close();
  console.log(`wrote ${path} (${viewportWidth} px wide)`);
  if (scrollWidth > innerWidth) throw new Error(`at ${viewportWidth} px the page is ${scrollWidth} px wide: it scrolls sideways`);
}

const browser = await puppeteer.launch({ executablePath: chromiumPath(), headless: true, args });
let server;
try {
  if (url) {
    await shoot(browser, url, out, width);
  } else {
    if (!existsSync(resolve(root, 'demo-dist/index.html'))) throw new Error('build the app first: npx vite build --mode demo');
    const { preview } = await import('vite');
    server = await preview({ root, configFile: resolve(root, 'vite.config.ts'), mode: 'demo', logLevel: 'error', preview: { host: '127.0.0.1', port: 0 } });
    const base = `http://127.0.0.1:${server.httpServer.address().port}/`;
    await shoot(browser, base, resolve(root, 'docs/app.png'), 1400, true);
    await shoot(browser, base, resolve(root, 'docs/app-narrow.png'), 420, true);
  }
} finally {
  await browser.close();
  await new Promise((done) => (server ? server.httpServer.close(done) : done()));
}
