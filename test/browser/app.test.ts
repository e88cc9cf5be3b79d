// The web app (demo/), tested as people get it: built with `vite build --mode demo`, served by `vite preview`
// on 127.0.0.1, driven in headless Chromium with WebGPU (SwiftShader when there is no GPU) and without it.
// Shown numbers are checked against the library run here in Node on the same model and scheme. Screenshots
// go to test-artifacts/ (the docs' pictures come from scripts/screenshot.mjs), timings to
// test-artifacts/app-timings.json. The views (bands, axes, groups, layout, comparison) are in app-views.test.ts.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type ElementHandle, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CompressionPolicy, OnnxModel, compressOnnx, readQdqWeights, serializeSafetensors } from '../../src/models.js';
import { CHROMIUM_ARGS, chromiumPath } from '../setup/chromium.js';
import { type Opened, type ServedApp, inkOf, open as openApp, root, serveApp, text, waitForRun } from './app-support.js';

const artifacts = join(root, 'test-artifacts');
const modelPath = join(root, 'node_modules/@ricky0123/vad-web/dist/silero_vad_legacy.onnx');
const modelBytes = new Uint8Array(readFileSync(modelPath));
const timings: Record<string, number> = {};

let served: ServedApp;
let baseUrl: string;
let gpuBrowser: Browser;

const open = (browser: Browser) => openApp(browser, baseUrl);

/** The library's own report for the same bytes and scheme (CPU reference, in Node). */
async function libraryReport(policy: CompressionPolicy) {
  return (await compressOnnx(modelBytes, policy, { backend: 'cpu' })).report;
}

beforeAll(async () => {
  mkdirSync(artifacts, { recursive: true });
  const started = performance.now();
  served = await serveApp();
  timings.buildMs = performance.now() - started;
  baseUrl = served.url;
  gpuBrowser = await puppeteer.launch({ executablePath: chromiumPath(), headless: true, args: CHROMIUM_ARGS });
});

afterAll(async () => {
  writeFileSync(join(artifacts, 'app-timings.json'), `${JSON.stringify(timings, null, 2)}\n`);
  console.log('app timings (ms):', JSON.stringify(timings));
  await gpuBrowser?.close();
  await served?.close();
});

describe('the web app with WebGPU', () => {
  let opened: Opened;
  beforeAll(async () => { opened = await open(gpuBrowser); timings.webgpuLoadAndCompressMs = opened.readyMs; });
  afterAll(async () => { await opened?.page.close(); });

  it('compresses the bundled model on load and shows the library\'s numbers', async () => {
    const { page } = opened;
    const report = await libraryReport({ dtype: 'qint8', granularity: 'channel', symmetric: true, calibrate: 'minmax' });
    const shown = await page.evaluate(() => ({
      backend: window.__app.report!.backend, seconds: window.__app.report!.seconds,
      ratio: (window.__app.report as { totals: { compressionRatio: number } }).totals.compressionRatio,
      where: (window.__app.report!.tensors as { action: string; backend?: string }[]).filter((t) => t.action === 'quantize').map((t) => t.backend),
    }));
    console.log(`app: backend ${shown.backend}, adapter ${await text(page, '#sum-adapter')}, compressOnnx ${shown.seconds.toFixed(3)} s, `
      + `page load to first result ${opened.readyMs.toFixed(0)} ms`);
    timings.webgpuCompressOnnxMs = shown.seconds * 1000;
    // 'auto' (the app's choice) runs the weights below its measured crossover on the CPU (on a software
    // adapter, every weight): the summary names where they ran, with counts when both.
    const onGpu = shown.where.filter((b) => b === 'webgpu').length;
    expect(shown.backend).toBe(onGpu > 0 ? 'webgpu' : 'cpu');
    expect(await text(page, '#sum-backend')).toBe(onGpu === shown.where.length ? 'webgpu'
      : onGpu === 0 ? 'cpu (measured faster than this adapter for every weight)'
        : `webgpu for ${onGpu} of ${shown.where.length} weights, cpu for ${shown.where.length - onGpu} (below the measured crossover)`);
    expect(await text(page, '#backend')).toMatch(/^WebGPU: /); // the worker has the GPU either way
    const t = report.totals;
    expect(await text(page, '#sum-ratio')).toBe(`${(t.modelBytesBefore / t.modelBytesAfter).toFixed(2)}×`);
    expect(await text(page, '#sum-weight-ratio')).toMatch(new RegExp(`^${t.compressionRatio.toFixed(2)}×`));
    expect(shown.ratio).toBe(t.compressionRatio);
    expect(await text(page, '#sum-quantized')).toBe(`${t.tensorsQuantized} of ${report.tensors.length} (${t.tensorsKept} kept float)`);
    const params = report.tensors.reduce((sum, r) => sum + r.shape.reduce((a, b) => a * b, 1), 0);
    expect(await text(page, '#sum-params')).toBe(params.toLocaleString('en-US'));
    // Each row's SQNR equals the report's (WebGPU in the page, the CPU reference here: equal to 0.01 dB).
    const rows = await page.$$eval('#tensor-table tbody tr', (trs) => trs.map((tr) => ({
      name: (tr as HTMLElement).dataset.name!, sqnr: tr.children[5]!.textContent!, after: tr.children[4]!.textContent!,
    })));
    const quantized = new Map(report.tensors.filter((r) => r.action === 'quantize').map((r) => [r.name, r]));
    expect(rows.map((r) => r.name).sort()).toEqual([...quantized.keys()].sort());
    for (const row of rows) {
      expect(row.sqnr).toBe(`${quantized.get(row.name)!.sqnrDb!.toFixed(2)} dB`);
      expect(row.after).toBe(quantized.get(row.name)!.bytesAfter.toLocaleString('en-US'));
    }
    // Worst first: the table opens sorted by ascending SQNR.
    const shownDb = rows.map((r) => Number.parseFloat(r.sqnr));
    expect(shownDb).toEqual([...shownDb].sort((a, b) => a - b));
    expect(await page.$eval('#webgpu-notice', (e) => (e as HTMLElement).hidden)).toBe(true);
  });

  it('shows the largest tensor\'s per-channel chart, scales, histogram and heatmap', async () => {
    const { page } = opened;
    // The largest quantized weight: an LSTM W (the STFT bases are the first layer and stay float).
    expect(await text(page, '#tensor-title')).toBe('Tensor 1072');
    expect(await text(page, '#channel-caption')).toMatch(/^256 channels along axis 1/);
    for (const id of ['channel-chart', 'scale-chart', 'histogram', 'heatmap']) expect(await inkOf(page, id), id).toBeGreaterThan(1000);
    await page.screenshot({ path: join(artifacts, 'app-main.png'), fullPage: true });
    await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'dark' }]);
    await page.waitForFunction((v) => document.body.dataset.view === v && !window.__app.busy, {}, await page.evaluate(() => document.body.dataset.view!));
    await new Promise((done) => setTimeout(done, 400)); // the redraw after a theme change is debounced by 150 ms
    await page.screenshot({ path: join(artifacts, 'app-dark.png'), fullPage: true });
    await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'light' }]);
    await new Promise((done) => setTimeout(done, 400));
    const heatmapMs = await page.evaluate(() => window.__app.benchHeatmap!(512));
    timings.heatmap512Ms = heatmapMs;
    expect(heatmapMs).toBeLessThan(1000);
  });

  it('sorts the table from the keyboard and selects a tensor', async () => {
    const { page } = opened;
    await page.focus('#tensor-table th button[data-sort="sqnrDb"]');
    await page.keyboard.press('Enter');
    const sqnrs = await page.$$eval('#tensor-table tbody tr td:nth-child(6)', (tds) => tds.map((td) => Number.parseFloat(td.textContent!)));
    expect(sqnrs).toEqual([...sqnrs].sort((a, b) => b - a));
    expect(await page.$eval('#tensor-table th:nth-child(6)', (th) => th.getAttribute('aria-sort'))).toBe('descending');
    await page.click('#tensor-table tr[data-name="model.encoder.11.0.proj.weight"] button');
    await page.waitForFunction(() => document.body.dataset.view?.startsWith('model.encoder.11.0.proj.weight|'));
    expect(await text(page, '#channel-caption')).toMatch(/^64 channels/);
    expect(await page.$eval('tr[data-name="model.encoder.11.0.proj.weight"]', (tr) => tr.getAttribute('aria-selected'))).toBe('true');
  });

  it('compares two schemes channel by channel and plots MSE on a log scale', async () => {
    const { page } = opened;
    await page.select('#compare', 'tensor');
    await page.waitForFunction(() => document.body.dataset.view?.includes('|sqnr|tensor|0|'));
    const compare = await page.evaluate(() => (window.__app.view as { compareSqnr?: number[] }).compareSqnr);
    expect(compare).toHaveLength(64);
    expect(await text(page, '#channel-caption')).toMatch(/with int8 per tensor: /);
    await page.select('#metric', 'mse');
    await page.click('#log-scale');
    await page.waitForFunction(() => document.body.dataset.view?.includes('|mse|'));
    expect(await inkOf(page, 'channel-chart')).toBeGreaterThan(1000);
    await (await page.$('#tensor-view'))!.screenshot({ path: join(artifacts, 'app-tensor-compare.png') });
  });

  it('re-runs when the scheme changes (int4, per group of 32) and shows the new numbers', async () => {
    const { page } = opened;
    const runs = await page.evaluate(() => window.__app.runs);
    await page.select('#dtype', 'qint4');
    await page.select('#granularity', 'group');
    await waitForRun(page, { dtype: 'qint4', granularity: 'group', groupSize: 32 }, runs);
    const report = await libraryReport({ dtype: 'qint4', granularity: 'group', groupSize: 32, symmetric: true, calibrate: 'minmax' });
    const t = report.totals;
    expect(await text(page, '#sum-ratio')).toBe(`${(t.modelBytesBefore / t.modelBytesAfter).toFixed(2)}×`);
    const first = await page.$eval('#tensor-table tbody tr td:nth-child(3)', (td) => td.textContent);
    expect(first).toMatch(/^qint4 per group \(axis \d, groupSize 32\)/);
    expect(await page.$eval('#progress', (p) => (p as HTMLProgressElement).value)).toBe(report.tensors.length);
    await page.screenshot({ path: join(artifacts, 'app-int4-g32.png'), fullPage: true });
  });

  it('exports the compressed ONNX, the JSON and CSV reports, and safetensors', async () => {
    const { page } = opened;
    const downloads = mkdtempSync(join(tmpdir(), 'webgpu-quant-app-'));
    const session = await page.createCDPSession();
    await session.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
    const exported = async (id: string) => {
      await page.click(`#${id}`);
      await page.waitForFunction((want: string) => window.__app.lastExport?.name.endsWith(want), {},
        id === 'export-onnx' ? '.onnx' : id === 'export-json' ? '.json' : id === 'export-csv' ? '.csv' : '.safetensors');
      const { name, base64 } = await page.evaluate(() => {
        const e = window.__app.lastExport!;
        let binary = '';
        for (let i = 0; i < e.bytes.length; i += 0x8000) binary += String.fromCharCode(...e.bytes.subarray(i, i + 0x8000));
        return { name: e.name, base64: btoa(binary) };
      });
      return { name, bytes: new Uint8Array(Buffer.from(base64, 'base64')) };
    };
    const onnxFile = await exported('export-onnx');
    expect(onnxFile.name).toBe('silero_vad_legacy.qint4-group32.onnx');
    const model = await OnnxModel.load(onnxFile.bytes);
    const weights = await readQdqWeights(model);
    expect(weights.get('1072')?.qscheme()).toBe('per_group_affine');
    const json = JSON.parse(new TextDecoder().decode((await exported('export-json')).bytes));
    expect(json.policy).toMatchObject({ dtype: 'qint4', granularity: 'group', groupSize: 32 });
    expect(json.report.tensors).toHaveLength(259);
    const csv = new TextDecoder().decode((await exported('export-csv')).bytes).trim().split('\n');
    expect(csv[0]).toMatch(/^name,shape,/);
    expect(csv).toHaveLength(260);
    // Where the File System Access API exists the worker streams safetensors into the picked file: a stand-in
    // picker here collects what is written (headless Chromium's real picker would wait for a person).
    await page.evaluate(() => {
      const saved = { chunks: [] as Uint8Array[], closed: false };
      (window as unknown as { __saved: typeof saved }).__saved = saved;
      window.showSaveFilePicker = async (options) => ({
        name: options.suggestedName,
        createWritable: async () => ({
          write: async (chunk: Uint8Array) => { saved.chunks.push(new Uint8Array(chunk)); },
          close: async () => { saved.closed = true; },
          abort: async () => {},
        }),
      }) as unknown as FileSystemFileHandle;
    });
    await page.click('#export-safetensors');
    await page.waitForFunction(() => window.__app.lastExportStreamed !== undefined, { timeout: 60_000 });
    expect(await page.evaluate(() => window.__app.lastExportStreamed)).toBe('silero_vad_legacy.qint4-group32.safetensors');
    const streamed = await page.evaluate(() => {
      const saved = (window as unknown as { __saved: { chunks: Uint8Array[]; closed: boolean } }).__saved;
      let binary = '';
      for (const chunk of saved.chunks) for (let i = 0; i < chunk.length; i += 0x8000) binary += String.fromCharCode(...chunk.subarray(i, i + 0x8000));
      return { closed: saved.closed, chunks: saved.chunks.length, base64: btoa(binary) };
    });
    expect(streamed.closed).toBe(true);
    const safetensors = new Uint8Array(Buffer.from(streamed.base64, 'base64'));
    const headerLength = Number(new DataView(safetensors.buffer).getBigUint64(0, true));
    expect(Object.keys(JSON.parse(new TextDecoder().decode(safetensors.subarray(8, 8 + headerLength)))).length).toBeGreaterThan(259);
    await page.evaluate(() => { delete window.showSaveFilePicker; });
    // The browser's own download of the ONNX file landed too, byte for byte.
    await new Promise((done) => setTimeout(done, 500));
    const landed = readdirSync(downloads);
    expect(landed).toContain('silero_vad_legacy.qint4-group32.onnx');
    expect(new Uint8Array(readFileSync(join(downloads, 'silero_vad_legacy.qint4-group32.onnx')))).toEqual(onnxFile.bytes);
  });

  it('offers each format with its size: ONNX QDQ, ONNX contrib ops, GGUF, safetensors; the sizes are the files\' sizes', async () => {
    const { page } = opened;
    await page.waitForFunction(() => window.__app.formatSizes !== undefined, { timeout: 60_000 });
    const policy: CompressionPolicy = { dtype: 'qint4', granularity: 'group', groupSize: 32, symmetric: true, calibrate: 'minmax' };
    const sizes = Object.fromEntries((await page.evaluate(() => window.__app.formatSizes!)).map((s) => [s.format, s]));
    const label = (id: string) => text(page, `#${id}`);
    const kib = (n: number) => (n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(2)} MiB`);
    // The library in Node writes the same files (the CPU path gives the GPU path's bits): the same sizes.
    const qdq = await compressOnnx(modelBytes, policy, { backend: 'cpu' });
    const contrib = await compressOnnx(modelBytes, { ...policy, onnxOps: 'contrib' }, { backend: 'cpu' });
    expect(await label('export-onnx')).toBe(`ONNX, QDQ · ${kib(qdq.model.length)}`);
    expect(sizes['onnx-contrib']!.bytes).toBe(contrib.model.length);
    expect(await label('export-contrib')).toBe(`ONNX, onnxruntime contrib ops · ${kib(contrib.model.length)}`);
    expect(sizes.gguf!.bytes).toBeGreaterThan(0);
    expect(await label('export-gguf')).toBe(`GGUF (llama.cpp) · ${kib(sizes.gguf!.bytes!)}`);
    expect(await label('export-safetensors')).toBe(`safetensors · ${kib(sizes.safetensors!.bytes!)}`);
    for (const id of ['export-contrib', 'export-gguf']) expect(await page.$eval(`#${id}`, (b) => (b as HTMLButtonElement).disabled), id).toBe(false);
    const exported = async (id: string, ending: string) => {
      await page.click(`#${id}`);
      await page.waitForFunction((want: string) => window.__app.lastExport?.name.endsWith(want), { timeout: 60_000 }, ending);
      return page.evaluate(() => ({ name: window.__app.lastExport!.name, length: window.__app.lastExport!.bytes.length,
        head: Array.from(window.__app.lastExport!.bytes.subarray(0, 4)) }));
    };
    const gguf = await exported('export-gguf', '.gguf');
    expect(gguf).toEqual({ name: 'silero_vad_legacy.qint4-group32.gguf', length: sizes.gguf!.bytes, head: [0x47, 0x47, 0x55, 0x46] }); // 'GGUF'
    const onnx = await exported('export-contrib', '.contrib.onnx');
    expect(onnx.name).toBe('silero_vad_legacy.qint4-group32.contrib.onnx');
    expect(onnx.length).toBe(contrib.model.length);
    // The default scheme (int8 per channel) has no GGUF form: the button says why instead of a size.
    const runs = await page.evaluate(() => window.__app.runs);
    await page.select('#dtype', 'qint8');
    await page.select('#granularity', 'channel');
    await waitForRun(page, { dtype: 'qint8', granularity: 'channel' }, runs);
    await page.waitForFunction(() => window.__app.formatSizes !== undefined, { timeout: 60_000 });
    expect(await label('export-gguf')).toBe('GGUF (llama.cpp) · n/a');
    expect(await page.$eval('#export-gguf', (b) => [(b as HTMLButtonElement).disabled, b.getAttribute('title')])).toEqual([true, expect.stringMatching(/group/)]);
    await page.select('#dtype', 'qint4');
    await page.select('#granularity', 'group');
    await waitForRun(page, { dtype: 'qint4', granularity: 'group', groupSize: 32 }, await page.evaluate(() => window.__app.runs));
  });

  it('loads a model through the file input (ONNX, then safetensors)', async () => {
    const { page } = opened;
    let runs = await page.evaluate(() => window.__app.runs);
    const input = (await page.$('input#file-input')) as ElementHandle<HTMLInputElement>;
    await input.uploadFile(modelPath);
    await waitForRun(page, {}, runs);
    expect(await text(page, '#model-name')).toMatch(/^silero_vad_legacy\.onnx: 1\.72 MiB, 259 weights/);
    // A small float safetensors file made here from three of the model's weights.
    const onnx = await OnnxModel.load(modelBytes);
    const names = ['model.first_layer.0.proj.weight', 'model.encoder.11.0.proj.weight', 'model.encoder.11.0.proj.bias'];
    const tensors = await Promise.all(names.map(async (name) => ({
      name, dtype: 'F32' as const, shape: onnx.list().find((w) => w.name === name)!.shape, data: await onnx.readFloat32(name),
    })));
    const dir = mkdtempSync(join(tmpdir(), 'webgpu-quant-app-'));
    writeFileSync(join(dir, 'three.safetensors'), await serializeSafetensors(tensors));
    runs = await page.evaluate(() => window.__app.runs);
    await input.uploadFile(join(dir, 'three.safetensors'));
    await waitForRun(page, {}, runs);
    expect(await text(page, '#model-name')).toMatch(/^three\.safetensors: .*3 weights \(safetensors\)/);
    expect(await page.evaluate(() => window.__app.report!.format)).toBe('safetensors');
    expect(await text(page, '#sum-quantized')).toBe('2 of 3 (1 kept float)');
    expect(await inkOf(page, 'channel-chart')).toBeGreaterThan(1000);
  });

  it('keeps the page responsive while the worker compresses a larger model, and Cancel stops a run', async () => {
    const { page } = opened;
    // 48 float32 tensors of 256×1024 (48 MiB), made here.
    const dir = mkdtempSync(join(tmpdir(), 'webgpu-quant-app-'));
    let seed = 1;
    const random = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 - 0.5; };
    const tensors = Array.from({ length: 48 }, (_, i) => ({
      name: `layers.${i}.weight`, dtype: 'F32' as const, shape: [256, 1024], data: Float32Array.from({ length: 256 * 1024 }, random),
    }));
    writeFileSync(join(dir, 'large.safetensors'), await serializeSafetensors(tensors));
    await page.evaluate(() => {
      const w = window as unknown as { __frames: number };
      w.__frames = 0;
      const tick = () => { if (window.__app.busy) w.__frames++; requestAnimationFrame(tick); };
      requestAnimationFrame(tick);
    });
    let runs = await page.evaluate(() => window.__app.runs);
    const input = (await page.$('input#file-input')) as ElementHandle<HTMLInputElement>;
    const started = performance.now();
    await input.uploadFile(join(dir, 'large.safetensors'));
    await page.waitForFunction(() => window.__app.busy, { timeout: 60_000 });
    // While the worker runs, the page answers at once and keeps drawing frames.
    const roundTrips: number[] = [];
    while (await page.evaluate(() => window.__app.busy)) {
      const t = performance.now();
      await page.evaluate(() => 1);
      roundTrips.push(performance.now() - t);
      await new Promise((done) => setTimeout(done, 20));
    }
    await waitForRun(page, {}, runs);
    timings.largeSafetensorsRunMs = performance.now() - started;
    timings.largeSafetensorsMaxRoundTripMs = Math.max(...roundTrips);
    const frames = await page.evaluate(() => (window as unknown as { __frames: number }).__frames);
    console.log(`app: 48 MiB safetensors compressed in ${timings.largeSafetensorsRunMs.toFixed(0)} ms; ${roundTrips.length} round trips while busy, `
      + `longest ${timings.largeSafetensorsMaxRoundTripMs.toFixed(1)} ms; ${frames} frames drawn meanwhile`);
    expect(await text(page, '#model-name')).toMatch(/^large\.safetensors: 48\.00 MiB, 48 weights/);
    expect(await text(page, '#sum-quantized')).toBe('48 of 48 (0 kept float)');
    expect(roundTrips.length).toBeGreaterThan(3);
    expect(Math.max(...roundTrips)).toBeLessThan(250);
    expect(frames).toBeGreaterThan(3);

    // Cancel: a slower scheme (MSE search), stopped part way; its worker is terminated and nothing more arrives.
    runs = await page.evaluate(() => window.__app.runs);
    const workers = await page.evaluate(() => window.__app.workers);
    await page.select('#calibrate', 'mse');
    await page.waitForFunction(() => window.__app.busy && (document.querySelector('#progress') as HTMLProgressElement).value >= 1, { timeout: 60_000 });
    await page.click('#cancel');
    expect(await page.evaluate(() => window.__app.busy)).toBe(false);
    const stopped = await text(page, '#progress-text');
    expect(stopped).toMatch(/^Cancelled/);
    await new Promise((done) => setTimeout(done, 1000));
    expect(await text(page, '#progress-text')).toBe(stopped);
    expect(await page.evaluate(() => window.__app.runs)).toBe(runs);
    expect(await page.evaluate(() => window.__app.policy!.calibrate)).toBe('minmax');
    // The next run gets a fresh worker.
    await page.select('#calibrate', 'minmax');
    await waitForRun(page, { calibrate: 'minmax' }, runs);
    expect(await page.evaluate(() => window.__app.workers)).toBe(workers + 1);
  });

  it('loads a sharded set (two shards and the index, picked together), with a chosen axis, and exports it', async () => {
    const { page } = opened;
    const onnx = await OnnxModel.load(modelBytes);
    const weight = async (name: string) => ({
      name, dtype: 'F32' as const, shape: onnx.list().find((w) => w.name === name)!.shape, data: await onnx.readFloat32(name),
    });
    const first = ['model.first_layer.0.proj.weight', 'model.encoder.11.0.proj.weight'];
    const second = ['model.encoder.11.0.proj.bias', 'model.feature_extractor.forward_basis_buffer'];
    const dir = mkdtempSync(join(tmpdir(), 'webgpu-quant-app-'));
    const shardNames = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
    writeFileSync(join(dir, shardNames[0]!), await serializeSafetensors(await Promise.all(first.map(weight))));
    writeFileSync(join(dir, shardNames[1]!), await serializeSafetensors(await Promise.all(second.map(weight))));
    const weightMap = Object.fromEntries([...first.map((n) => [n, shardNames[0]]), ...second.map((n) => [n, shardNames[1]])]);
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const before = await page.evaluate(() => window.__app.runs);
    await page.select('#dtype', 'qint8');
    await page.select('#granularity', 'channel');
    await page.select('#axis', '1');
    await waitForRun(page, { dtype: 'qint8', granularity: 'channel', axis: 1 }, before);
    const runs = await page.evaluate(() => window.__app.runs);
    const input = (await page.$('input#file-input')) as ElementHandle<HTMLInputElement>;
    // The shards without their index: the page says what is missing.
    await input.uploadFile(...shardNames.map((f) => join(dir, f)));
    await page.waitForFunction(() => !(document.querySelector('#error') as HTMLElement).hidden);
    expect(await text(page, '#error')).toMatch(/without a model\.safetensors\.index\.json/);
    await input.uploadFile(...[...shardNames, 'model.safetensors.index.json'].map((f) => join(dir, f)));
    await waitForRun(page, { axis: 1 }, runs);
    expect(await text(page, '#model-name')).toMatch(/^model\.safetensors: .*4 weights \(safetensors, 2 shard files\)/);
    expect(await text(page, '#sum-quantized')).toBe('3 of 4 (1 kept float)');
    const schemes = Object.fromEntries(await page.$$eval('#tensor-table tbody tr', (trs) => trs.map((tr) => [(tr as HTMLElement).dataset.name, tr.children[2]!.textContent])));
    expect(schemes['model.first_layer.0.proj.weight']).toMatch(/^qint8 per channel \(axis 1\)/);
    expect(schemes['model.encoder.11.0.proj.weight']).toMatch(/^qint8 per channel \(axis 1\)/);
    // [258, 1, 256]: a channel axis of size 1 is per tensor (the library's rule).
    expect(schemes['model.feature_extractor.forward_basis_buffer']).toMatch(/^qint8 per tensor/);
    expect(await inkOf(page, 'channel-chart')).toBeGreaterThan(1000);
    // Without the File System Access API the export is collected by the worker and downloaded.
    await page.click('#export-onnx');
    await page.waitForFunction(() => window.__app.lastExport?.name === 'model.qint8-channel-axis1.safetensors', { timeout: 60_000 });
    const header = await page.evaluate(() => {
      const bytes = window.__app.lastExport!.bytes;
      const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
      return JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length))) as Record<string, unknown>;
    });
    expect(Object.keys(header)).toContain('model.encoder.11.0.proj.bias');
    expect(Object.keys(header).length).toBeGreaterThan(4);
    const exported = await page.evaluate(() => window.__app.runs);
    await page.select('#axis', '');
    await waitForRun(page, {}, exported);
  });

  it('still runs the seed notebook\'s examples as a secondary view', async () => {
    const { page } = opened;
    // Clicked when no run is finishing: a result drawn between finding the summary and clicking it moves the
    // page under the pointer, and the click would land elsewhere.
    await page.waitForFunction(() => !window.__app.busy);
    await page.click('#seed summary');
    await page.waitForFunction(() => (document.querySelector('#seed') as HTMLDetailsElement).open, { timeout: 5_000 });
    await page.waitForFunction(() => /mismatches/.test(document.querySelector('#seed-status')!.textContent!));
    expect(await text(page, '#seed-status')).toMatch(/: 0 mismatches\.$/);
  });

  it('left no console errors or unhandled rejections', () => {
    expect(opened.errors).toEqual([]);
  });
});

describe('the web app without WebGPU', () => {
  it('says so plainly and still compresses on the CPU, on Web Workers with ?workers=2', async () => {
    const browser = await puppeteer.launch({
      executablePath: chromiumPath(), headless: true, args: CHROMIUM_ARGS.filter((a) => a !== '--enable-unsafe-webgpu'),
    });
    try {
      const { page, errors, readyMs } = await open(browser);
      timings.cpuLoadAndCompressMs = readyMs;
      timings.cpuCompressOnnxMs = await page.evaluate(() => window.__app.report!.seconds * 1000);
      expect(await page.$eval('#webgpu-notice', (e) => (e as HTMLElement).hidden)).toBe(false);
      expect(await text(page, '#webgpu-notice')).toMatch(/^WebGPU is not available here .* runs on the CPU/);
      expect(await text(page, '#sum-backend')).toBe('cpu');
      const report = await libraryReport({});
      const t = report.totals;
      expect(await text(page, '#sum-ratio')).toBe(`${(t.modelBytesBefore / t.modelBytesAfter).toFixed(2)}×`);
      expect(await text(page, '#sum-sqnr')).not.toBe('—');
      expect(await inkOf(page, 'channel-chart')).toBeGreaterThan(1000);
      await page.screenshot({ path: join(artifacts, 'app-no-webgpu.png'), fullPage: true });
      expect(errors).toEqual([]);
      // ?workers=2: the big weights go to two Web Workers of the page's worker; the same report.
      const pooled = await openApp(browser, `${baseUrl}?workers=2`);
      const shown = (p: Page) => p.evaluate(() => ({ report: JSON.stringify({ ...window.__app.report, seconds: 0 }), threads: window.__app.threads }));
      const [withWorkers, without] = [await shown(pooled.page), await shown(page)];
      expect(without.threads).toBe(0); // by default only from 256 MiB: the bundled model stays on one thread
      expect(withWorkers.threads).toBe(2);
      expect(withWorkers.report).toBe(without.report);
      expect(await text(pooled.page, '#sum-backend')).toBe('cpu, on 2 Web Workers');
      // A safetensors file: its two weights of 512 KiB go to the workers too.
      const dir = mkdtempSync(join(tmpdir(), 'webgpu-quant-app-'));
      let seed = 7;
      const random = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 - 0.5; };
      writeFileSync(join(dir, 'two.safetensors'), await serializeSafetensors([
        ...[0, 1].map((i) => ({ name: `layers.${i}.weight`, dtype: 'F32' as const, shape: [256, 512], data: Float32Array.from({ length: 256 * 512 }, random) })),
        { name: 'norm.bias', dtype: 'F32' as const, shape: [512], data: Float32Array.from({ length: 512 }, random) },
      ]));
      for (const p of [page, pooled.page]) {
        await p.bringToFront(); // a background tab gets no animation frames, and the app renders in them
        const runs = await p.evaluate(() => window.__app.runs);
        await ((await p.$('input#file-input')) as ElementHandle<HTMLInputElement>).uploadFile(join(dir, 'two.safetensors'));
        await waitForRun(p, {}, runs);
      }
      const [stWith, stWithout] = [await shown(pooled.page), await shown(page)];
      expect([stWith.threads, stWithout.threads]).toEqual([2, 0]);
      expect(JSON.parse(stWith.report).format).toBe('safetensors');
      expect(stWith.report).toBe(stWithout.report);
      expect(pooled.errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
