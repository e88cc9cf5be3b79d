// The app's views, in headless Chromium with WebGPU: SQNR bands and the worst-first table, chart axes (1-2-5
// ticks, distinct log-scale decades, captions that follow the metric), the per-group histogram and its group
// picker, the export feedback, the model-wide scheme comparison, the layout at 1400 px and 420 px, and a
// failed load that clears what belonged to the previous model.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type ElementHandle, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxModel, compressOnnx, readQdqWeights } from '../../src/models.js';
import { CHROMIUM_ARGS, chromiumPath } from '../setup/chromium.js';
import { type Opened, type ServedApp, inkOf, open, pixelsOf, root, serveApp, text, waitForRun } from './app-support.js';

const modelBytes = new Uint8Array(readFileSync(join(root, 'node_modules/@ricky0123/vad-web/dist/silero_vad_legacy.onnx')));
let served: ServedApp;
let browser: Browser;
let opened: Opened;

beforeAll(async () => {
  served = await serveApp();
  browser = await puppeteer.launch({ executablePath: chromiumPath(), headless: true, args: CHROMIUM_ARGS });
  opened = await open(browser, served.url, 1400);
});

afterAll(async () => {
  await browser?.close();
  await served?.close();
});

/** The view state the page last drew (channel chart ticks, groups, …). */
const viewOf = (page: Page) => page.evaluate(() => window.__app.view as {
  name: string; channel: number; group: number; groups: number; yTicks: string[]; xTicks: string[]; histogramTicks: string[];
});

/** Waits until the tensor view was drawn with a state key (name|metric|compare|channel|group|log) that passes `test`. */
const waitForView = (page: Page, test: (key: string) => boolean) =>
  page.waitForFunction((source: string) => !window.__app.busy && new Function('key', `return (${source})(key)`)(document.body.dataset.view ?? ''), {}, test.toString());

/** True when every tick is a whole multiple of a 1, 2 or 5 × 10^k step. */
function onNiceSteps(ticks: number[]): boolean {
  if (ticks.length < 2) return true;
  const step = ticks[1]! - ticks[0]!;
  const mantissa = step / 10 ** Math.floor(Math.log10(step) + 1e-9);
  return [1, 2, 5].some((m) => Math.abs(mantissa - m) < 1e-6) && ticks.every((t) => Math.abs(t / step - Math.round(t / step)) < 1e-6);
}

/** Whether the page scrolls sideways, and where the tensor table's last column ends. */
const layoutOf = (page: Page) => page.evaluate(() => {
  const wrap = document.querySelector('#tensor-table')!.parentElement!;
  const last = document.querySelector('#tensor-table th:last-child')!.getBoundingClientRect();
  return {
    pageWidth: document.scrollingElement!.scrollWidth, innerWidth,
    lastRight: last.right, wrapRight: wrap.getBoundingClientRect().right, wrapScrolls: wrap.scrollWidth > wrap.clientWidth,
  };
});

describe('the app\'s views', () => {
  it('colours SQNR by band, shows the legend, and lists the worst tensor first', async () => {
    const { page } = opened;
    const rows = await page.$$eval('#tensor-table tbody tr', (trs) => trs.map((tr) => ({
      band: (tr as HTMLElement).dataset.band, db: Number.parseFloat(tr.children[5]!.textContent!), cell: tr.children[5]!.className,
    })));
    expect(rows.length).toBe(34); // Silero VAD's quantized weights (its first layers stay float by default)
    expect(rows.map((r) => r.db)).toEqual(rows.map((r) => r.db).sort((a, b) => a - b));
    for (const r of rows) {
      const band = r.db < 20 ? 'bad' : r.db < 30 ? 'weak' : 'good';
      expect(r.band).toBe(band);
      expect(r.cell).toContain(`band-${band}`);
    }
    expect(await page.$$eval('.legend li', (lis) => lis.map((li) => li.textContent))).toEqual([
      'below 20 dB: likely to hurt accuracy', '20–30 dB: check the model on its task', '30 dB or more: usually safe',
    ]);
    expect(await page.$eval('#tensor-table th:nth-child(6)', (th) => th.getAttribute('aria-sort'))).toBe('ascending');
  });

  it('puts axis ticks on 1-2-5 steps and labels each log-scale decade once, with a caption that follows the metric', async () => {
    const { page } = opened;
    let view = await viewOf(page);
    expect(view.yTicks.length).toBeGreaterThan(2);
    expect(onNiceSteps(view.yTicks.map(Number))).toBe(true);
    expect(onNiceSteps(view.xTicks.map(Number))).toBe(true);
    expect(onNiceSteps(view.histogramTicks.map(Number))).toBe(true);
    await page.select('#metric', 'mse');
    await page.click('#log-scale');
    await waitForView(page, (key) => key.endsWith('|mse||0|0|true'));
    view = await viewOf(page);
    expect(view.yTicks.length).toBeGreaterThan(1);
    expect(new Set(view.yTicks).size).toBe(view.yTicks.length);
    for (const t of view.yTicks) expect(t).toMatch(/^1e-?\d+$/);
    const caption = await text(page, '#channel-caption');
    expect(caption).toMatch(/Channel 0: MSE \d\.\d{3}e-\d+ \(SQNR /);
    expect(caption).not.toMatch(/Bars coloured by SQNR/);
    await page.click('#log-scale');
    await page.select('#metric', 'sqnr');
    await waitForView(page, (key) => key.endsWith('|sqnr||0|0|false'));
  });

  it('says on the page what an export saved', async () => {
    const { page } = opened;
    await page.click('#export-json');
    await page.waitForFunction(() => /^Saved /.test(document.querySelector('#export-status')!.textContent!));
    const size = await page.evaluate(() => window.__app.lastExport!.bytes.length);
    expect(await text(page, '#export-status')).toBe(`Saved silero_vad_legacy.report.json, ${(size / 1024).toFixed(1)} KiB (to the browser's downloads).`);
    await page.click('#export-onnx');
    await page.waitForFunction(() => /\.onnx, /.test(document.querySelector('#export-status')!.textContent!));
    expect(await text(page, '#export-status')).toMatch(/^Saved silero_vad_legacy\.qint8-channel\.onnx, 912\.\d KiB/);
  });

  it('compares every scheme over the whole model: size against pooled SQNR, and applies one', async () => {
    const { page } = opened;
    const pooled = await text(page, '#sum-sqnr');
    await page.click('#compare-schemes');
    await page.waitForFunction(() => document.querySelectorAll('#compare-table tbody tr').length === 6
      && !(document.querySelector('#compare-schemes') as HTMLButtonElement).disabled, { timeout: 300_000 });
    const rows = await page.$$eval('#compare-table tbody tr', (trs) => trs.map((tr) => ({
      scheme: (tr as HTMLElement).dataset.scheme!, current: tr.getAttribute('aria-current') === 'true',
      cells: [...tr.children].map((td) => td.textContent!),
    })));
    expect(rows.map((r) => r.scheme)).toEqual(['int8 per tensor', 'int8 per channel', 'int8 per group 32', 'int4 per tensor', 'int4 per channel', 'int4 per group 32']);
    // The scheme on show (int8 per channel) is marked, and its row repeats the summary's numbers.
    const current = rows.find((r) => r.current)!;
    expect(current.scheme).toBe('int8 per channel');
    expect(current.cells[3]).toBe(pooled);
    expect(current.cells[2]).toBe(await text(page, '#sum-ratio'));
    const db = (scheme: string) => Number.parseFloat(rows.find((r) => r.scheme === scheme)!.cells[3]!);
    const ratio = (scheme: string) => Number.parseFloat(rows.find((r) => r.scheme === scheme)!.cells[2]!);
    expect(db('int8 per channel')).toBeGreaterThan(db('int4 per channel') + 15);
    // (int4 per tensor is not below int4 per group here: the 4-bit quality floor escalates its weakest weights to int8.)
    expect(db('int8 per channel')).toBeGreaterThan(db('int4 per group 32'));
    expect(ratio('int4 per channel')).toBeGreaterThan(ratio('int8 per channel'));
    // The same numbers as a plot: one point per scheme, size against pooled SQNR.
    expect(await inkOf(page, 'compare-chart')).toBeGreaterThan(1000);
    const runs = await page.evaluate(() => window.__app.runs);
    await page.click('#compare-table tr[data-scheme="int4 per group 32"] button');
    await waitForRun(page, { dtype: 'qint4', granularity: 'group', groupSize: 32 }, runs);
    expect(await text(page, '#sum-sqnr')).toBe(rows.find((r) => r.scheme === 'int4 per group 32')!.cells[3]);
    expect(await page.$eval('#compare-table tr[aria-current=true]', (tr) => (tr as HTMLElement).dataset.scheme)).toBe('int4 per group 32');
  });

  it('draws the picked group of a channel with that group\'s own grid', async () => {
    const { page } = opened;
    // int4 per group of 32 (the previous test applied it): the [258, 1, 256] basis has 8 groups per channel.
    await waitForView(page, (key) => key.startsWith('model.feature_extractor.forward_basis_buffer|'));
    let view = await viewOf(page);
    expect(view.groups).toBe(8);
    expect(await page.$eval('#group-field', (e) => (e as HTMLElement).hidden)).toBe(false);
    await page.$eval('#channel', (e) => { (e as HTMLInputElement).value = '5'; e.dispatchEvent(new Event('change')); });
    await waitForView(page, (key) => key.endsWith('|5|0|false'));
    const first = { pixels: await pixelsOf(page, 'histogram'), caption: await text(page, '#histogram-caption'), scale: await text(page, '#scale-caption') };
    expect(first.caption).toMatch(/^Channel 5, group 0 of 8: 32 weights; red lines: the 16 levels of qint4/);
    const group = (await page.$('#group')) as ElementHandle<HTMLInputElement>;
    await group.evaluate((e) => { e.value = '3'; e.dispatchEvent(new Event('change')); });
    await waitForView(page, (key) => key.endsWith('|5|3|false'));
    view = await viewOf(page);
    expect(view.group).toBe(3);
    const caption = await text(page, '#histogram-caption');
    expect(caption).toMatch(/^Channel 5, group 3 of 8: 32 weights/);
    expect(await text(page, '#scale-caption')).toMatch(/group 3 of the channel: elements 96–127 along axis 2\)\.$/);
    expect(await pixelsOf(page, 'histogram')).not.toBe(first.pixels);
    // The group's own scale, as the library makes it here in Node: parameters [258, 1, 8], so channel 5's group 3 is entry 43.
    const { model } = await compressOnnx(modelBytes, { dtype: 'qint4', granularity: 'group', groupSize: 32 }, { backend: 'cpu' });
    const q = (await readQdqWeights(await OnnxModel.load(model))).get('model.feature_extractor.forward_basis_buffer')!;
    const scale = q.qPerGroupScales()[5 * 8 + 3]!;
    expect(q.qPerGroupScales()[5 * 8]).not.toBe(scale);
    expect(await text(page, '#scale-caption')).toContain(`Channel 5, group 3: scale ${scale.toPrecision(6)}, zero point 0 (`);
    expect(caption).toContain(`at scale ${scale.toPrecision(4)}, zero point 0`);
  });

  it('keeps the table\'s last column in view at 1400 px and never scrolls sideways at 420 px', async () => {
    const { page } = opened;
    // int4 per group: the longest scheme text the table shows.
    let layout = await layoutOf(page);
    expect(layout.pageWidth).toBeLessThanOrEqual(layout.innerWidth);
    expect(layout.lastRight).toBeLessThanOrEqual(layout.wrapRight);
    expect(layout.lastRight).toBeLessThanOrEqual(layout.innerWidth);
    expect(layout.wrapScrolls).toBe(false);
    await page.setViewport({ width: 420, height: 900 });
    await new Promise((done) => setTimeout(done, 500)); // the charts redraw 150 ms after a resize
    layout = await layoutOf(page);
    expect(layout.pageWidth).toBeLessThanOrEqual(420);
    expect(layout.wrapRight).toBeLessThanOrEqual(420);
    await page.setViewport({ width: 1400, height: 900 });
  });

  it('after a failed load shows the error in the Model panel and clears the previous model\'s results', async () => {
    const { page } = opened;
    const dir = mkdtempSync(join(tmpdir(), 'webgpu-quant-app-'));
    writeFileSync(join(dir, 'corrupt.onnx'), Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 251));
    const input = (await page.$('input#file-input')) as ElementHandle<HTMLInputElement>;
    await input.uploadFile(join(dir, 'corrupt.onnx'));
    await page.waitForFunction(() => document.body.dataset.state === 'failed');
    expect(await text(page, '#model-name')).toMatch(/^corrupt\.onnx could not be read: ./);
    expect(await text(page, '#model-name')).not.toMatch(/Reading/);
    expect(await page.$eval('#error', (e) => (e as HTMLElement).hidden)).toBe(false);
    for (const id of ['sum-params', 'sum-quantized', 'sum-size', 'sum-ratio', 'sum-sqnr', 'sum-worst']) expect(await text(page, `#${id}`), id).toBe('—');
    expect(await page.$$eval('#tensor-table tbody tr', (trs) => trs.length)).toBe(0);
    expect(await text(page, '#tensors-empty')).toBe('No results: corrupt.onnx could not be read.');
    expect(await page.$eval('#tensor-view', (e) => (e as HTMLElement).hidden)).toBe(true);
    expect(await page.$eval('#compare-wrap', (e) => (e as HTMLElement).hidden)).toBe(true);
    for (const id of ['export-onnx', 'export-json', 'export-csv']) expect(await page.$eval(`#${id}`, (b) => (b as HTMLButtonElement).disabled), id).toBe(true);
    expect(await page.evaluate(() => window.__app.report)).toBeUndefined();
    // The bundled model loads again afterwards, and everything comes back.
    const runs = await page.evaluate(() => window.__app.runs);
    await page.click('#load-default');
    await waitForRun(page, {}, runs);
    expect(await text(page, '#model-name')).toMatch(/^silero_vad_legacy\.onnx: /);
    expect(await page.$$eval('#tensor-table tbody tr', (trs) => trs.length)).toBe(34);
    expect(await page.$eval('#tensor-view', (e) => (e as HTMLElement).hidden)).toBe(false);
    expect(await page.evaluate(() => document.body.dataset.state)).toBeUndefined();
  });

  it('left no console errors or unhandled rejections', () => {
    expect(opened.errors).toEqual([]);
  });
});
