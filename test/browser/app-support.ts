// What the app's browser tests share: the app built into a folder of the test's own (so test files running
// side by side never rebuild under each other's server) and served by `vite preview` on 127.0.0.1, a page
// opened on it, and small readers of what the page shows.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import { type PreviewServer, build, preview } from 'vite';
import type { CompressionPolicy } from '../../src/models.js';

export const root = resolve(import.meta.dirname, '../..');

export interface ServedApp { url: string; close: () => Promise<void> }

/** Builds the app (`vite build --mode demo`) into a temporary folder and serves it. */
export async function serveApp(): Promise<ServedApp> {
  const outDir = mkdtempSync(join(tmpdir(), 'webgpu-quant-app-build-'));
  const configFile = join(root, 'vite.config.ts');
  await build({ configFile, mode: 'demo', logLevel: 'error', build: { outDir, emptyOutDir: true } });
  const server: PreviewServer = await preview({
    root, configFile, mode: 'demo', logLevel: 'error', build: { outDir }, preview: { host: '127.0.0.1', port: 0, strictPort: false },
  });
  const address = server.httpServer.address();
  if (!address || typeof address === 'string') throw new Error('vite preview did not report its port');
  return {
    url: `http://127.0.0.1:${address.port}/`,
    close: async () => {
      await new Promise<void>((done) => server.httpServer.close(() => done()));
      rmSync(outDir, { recursive: true, force: true });
    },
  };
}

export interface Opened { page: Page; errors: string[]; readyMs: number }

/** Opens the app, waits for the first compression, and collects console errors and uncaught errors. */
export async function open(browser: Browser, url: string, width = 1280): Promise<Opened> {
  const page = await browser.newPage();
  await page.setViewport({ width, height: 900 });
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(`page error: ${(e as Error).message}`));
  const started = performance.now();
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.ready === 'true', { timeout: 120_000 });
  return { page, errors, readyMs: performance.now() - started };
}

export const text = (page: Page, selector: string) => page.$eval(selector, (e) => e.textContent ?? '');

/** Waits until the app has finished a run with a policy matching `policy`. */
export async function waitForRun(page: Page, policy: Partial<CompressionPolicy>, after: number): Promise<void> {
  await page.waitForFunction((p: Record<string, unknown>, runs: number) => {
    const app = window.__app;
    return !app.busy && app.runs > runs && Object.entries(p).every(([k, v]) => (app.policy as Record<string, unknown>)[k] === v);
  }, { timeout: 120_000 }, policy as Record<string, unknown>, after);
}

/** The number of non-transparent pixels of a canvas (a drawn chart has many). */
export const inkOf = (page: Page, id: string) => page.$eval(`#${id}`, (c) => {
  const canvas = c as HTMLCanvasElement;
  const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
  let ink = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) ink++;
  return ink;
});

/** A cheap fingerprint of a canvas's pixels (to tell that a redraw changed the picture). */
export const pixelsOf = (page: Page, id: string) => page.$eval(`#${id}`, (c) => {
  const canvas = c as HTMLCanvasElement;
  const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
  let hash = 0;
  for (let i = 0; i < data.length; i++) hash = (Math.imul(hash, 31) + data[i]!) | 0;
  return hash;
});
