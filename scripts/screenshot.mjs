// Screenshots a page in headless Chromium with WebGPU on: node scripts/screenshot.mjs <url> <out.png> [--no-webgpu]
// Waits for document.body.dataset.ready; prints console errors. Used for the README's picture and by hand.
import puppeteer from 'puppeteer-core';

const [url, out] = process.argv.slice(2);
const webgpu = !process.argv.includes('--no-webgpu');
const args = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-dev-shm-usage'];
if (webgpu) args.push('--enable-unsafe-webgpu');
const browser = await puppeteer.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', headless: true, args });
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1200, height: 900 });
  page.on('console', (m) => { if (m.type() === 'error') console.error(`console error: ${m.text()}`); });
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.ready === 'true', { timeout: 120_000 });
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
}
