// The web app: compress a model in the browser with webgpu-quant and see its error channel by channel.
// On load it compresses the bundled Silero VAD model with the default scheme (qint8, per channel, symmetric,
// minmax). The whole-model work (compressOnnx, compressToSafetensors, the safetensors export) runs in
// compress-worker.ts, so the page stays responsive and Cancel can stop it; the one tensor on show is worked
// on here. Every number shown comes from the library's report or from library functions; this file only
// arranges them. `window.__app` exposes the latest report and export bytes for the browser test.
import modelUrl from '@ricky0123/vad-web/dist/silero_vad_legacy.onnx?url';
import { type QTensor, tensor } from '../src/index.js';
import {
  type CompressionPolicy, OnnxModel, type StoredQuantizedWeight, type WeightDecision, type WeightReader, decideWeights, describeContribWeights,
  describeQdqWeights, planOnnxCompression, quantizeWeight, toFloat32,
} from '../src/models.js';
import { type AnyReport, elementCount, formatBytes, reportCsv, reportJson } from './report-view.js';
import { drawHeatmap } from './charts.js';
import { WORST_FIRST, clearSummary, showSummary, sortTensors, tensorRows } from './model-view.js';
import { bandLegend } from './quality.js';
import { ComparisonPanel } from './scheme-compare.js';
import { downloadBytes, exportName } from './exports.js';
import { exportStatus, writeSafetensors } from './safetensors-export.js';
import { FormatExports, type ShownResult } from './format-exports.js';
import { policyFromForm, showBackendInfo } from './scheme-form.js';
import { type TensorSource, type ViewState, drawTensorView, pageBackend } from './tensor-view.js';
import type { AnyWeightSource } from './worker-protocol.js';
import { openReader, sourceFromFiles } from './model-source.js';
import { CancelledError, callWorker, cancelWorker, onWorkerStarted } from './worker-client.js';
import { VerifyPanel, type VerifyShown } from './verify-panel.js';

/** A loaded model: the files the worker reads, and a reader here for the one tensor the view shows. */
interface Loaded { name: string; kind: 'onnx' | 'safetensors'; source: AnyWeightSource; byteLength: number; reader: WeightReader; what?: string }
interface Result {
  /** The model it was made from (the export writes the same model with the same policy). */
  source: AnyWeightSource;
  policy: CompressionPolicy;
  report: AnyReport;
  /** The compressed ONNX file (ONNX input); safetensors output is written by the export. */
  output?: Uint8Array;
  /** The quantized weights as the compressed file holds them (ONNX), or as quantizeWeight makes them (safetensors). */
  quantized: (name: string) => Promise<QTensor | undefined>;
  decisions: (policy: CompressionPolicy) => WeightDecision[];
  totalMs: number;
}

declare global {
  interface Window {
    __app: {
      report?: AnyReport; policy?: CompressionPolicy; runs: number; lastExport?: { name: string; bytes: Uint8Array }; busy: boolean;
      heatmapMs?: number; view?: unknown; benchHeatmap?: (size: number) => number;
      /** Workers started so far (Cancel terminates one; the next run starts another). */
      workers: number; backend?: string; lastExportStreamed?: string;
      /** Web Workers that quantized the last result on the CPU path (the page's `?workers=N` asks for N). */
      threads?: number;
      /** The last verification in onnxruntime-web shown (cleared when another result comes). */
      verify?: VerifyShown;
      /** The export formats' sizes for the result on show (once the worker has measured them). */
      formatSizes?: { format: string; bytes?: number; problem?: string }[];
    };
    showSaveFilePicker?: (options: { suggestedName: string; types?: { description: string; accept: Record<string, string[]> }[] }) => Promise<FileSystemFileHandle>;
  }
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const app: Window['__app'] = { runs: 0, busy: false, workers: 0 };
window.__app = app;
onWorkerStarted(() => { app.workers++; });

let loaded: Loaded | undefined;
let result: Result | undefined;
let generation = 0;
let selected: string | undefined;
const sources = new Map<string, TensorSource>();
const view: ViewState = { metric: 'sqnr', log: false, compare: '', channel: 0, group: 0 };
let sort: { key: string; dir: 1 | -1 } = { ...WORST_FIRST };
/** The scheme comparison of the loaded model (emptied when another model loads). */
const comparison = new ComparisonPanel((row) => applyScheme(row.policy));
/** The verification of the result on show in onnxruntime-web. */
const verifier = new VerifyPanel();
/** The export buttons, one per format with its size. */
const formats = new FormatExports();
verifier.onResult = (shown) => { app.verify = shown; };

function showError(error: unknown): void {
  const box = $('error');
  box.hidden = false;
  box.textContent = `Error: ${error instanceof Error ? error.message : String(error)}`;
}

async function showBackend(): Promise<void> {
  const { backend, adapter } = await callWorker<'backend'>({ type: 'backend' });
  app.backend = backend;
  showBackendInfo(backend, adapter);
}

/**
 * After a failed load or run: the results shown belong to another model or scheme, so they go (summary,
 * table, tensor view, comparison) and `message` says why.
 */
function clearResults(message: string): void {
  result = undefined;
  selected = undefined;
  sources.clear();
  app.report = undefined;
  clearSummary();
  document.querySelector('#tensor-table tbody')!.replaceChildren();
  $('tensors-empty').hidden = false;
  $('tensors-empty').textContent = message;
  $('tensor-view').hidden = true;
  $('export-status').textContent = '';
  $('progress-text').textContent = '';
  verifier.enable(undefined, 'Nothing to verify: no compressed model is on show.');
  formats.clear();
  app.formatSizes = undefined;
  document.body.dataset.state = 'failed';
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

async function loadSource(name: string, source: AnyWeightSource): Promise<void> {
  let opened: Awaited<ReturnType<typeof openReader>>;
  try {
    opened = await openReader(source);
  } catch (error) {
    // Nothing of the model shown before stays under the new name.
    if (app.busy) cancelWorker();
    generation++;
    setBusy(false);
    await (loaded?.reader as { close?: () => Promise<void> } | undefined)?.close?.();
    loaded = undefined;
    comparison.reset();
    clearResults(`No results: ${name} could not be read.`);
    $('model-name').textContent = `${name} could not be read: ${errorText(error)}`;
    throw error;
  }
  const { reader, byteLength, shardCount } = opened;
  await (loaded?.reader as { close?: () => Promise<void> } | undefined)?.close?.();
  loaded = { name, kind: source.kind === 'onnx' ? 'onnx' : 'safetensors', source, byteLength, reader };
  selected = undefined;
  comparison.reset();
  loaded.what = source.kind === 'onnx' ? 'ONNX' : source.kind === 'safetensors' ? 'safetensors' : `safetensors, ${shardCount} shard files`;
  $('model-name').textContent = describeLoaded(loaded);
  await run();
}

const describeLoaded = (l: Loaded) => `${l.name}: ${formatBytes(l.byteLength)}, ${l.reader.list().length} weights (${l.what})`;

/** One model from the files picked or dropped: an .onnx, a .safetensors, or a sharded set with its index. */
async function loadFiles(files: File[]): Promise<void> {
  try {
    $('error').hidden = true;
    const model = await sourceFromFiles(files);
    if (!model) return;
    $('model-name').textContent = `Reading ${model.name}…`;
    await loadSource(model.name, model.source);
  } catch (error) {
    showError(error);
    // A failure before the model was read (files that make no model) leaves the old model as it was.
    if ($('model-name').textContent!.startsWith('Reading ')) $('model-name').textContent = loaded ? describeLoaded(loaded) : 'No model loaded.';
  }
}

async function loadDefault(): Promise<void> {
  $('model-name').textContent = 'Loading the bundled model (Silero VAD)…';
  const name = 'silero_vad_legacy.onnx';
  const response = await fetch(modelUrl).catch((error: unknown) => ({ ok: false, status: errorText(error) }) as const);
  if (!response.ok) {
    $('model-name').textContent = loaded ? describeLoaded(loaded) : `The bundled model could not be fetched (${response.status}).`;
    throw new Error(`could not fetch the bundled model (${response.status})`);
  }
  await loadSource(name, { kind: 'onnx', file: new File([await response.blob()], name) });
}

/** Whether an export is being written (Cancel stops it too). */
let exporting = false;

function setBusy(busy: boolean): void {
  app.busy = busy;
  $('cancel').hidden = !busy && !exporting;
  document.body.dataset.busy = String(busy);
}

function showProgress(mine: number) {
  const progress = $<HTMLProgressElement>('progress');
  return ({ done, total, name }: { done: number; total: number; name: string }) => {
    if (mine !== generation) return;
    progress.max = total;
    progress.value = done;
    $('progress-text').textContent = `${done} / ${total}: ${name}`;
  };
}

/** Compresses the loaded model with the form's scheme in the worker; a newer run makes this one's result stale. */
async function run(): Promise<void> {
  if (!loaded) return;
  // A run still going is superseded: stop it rather than let it finish for nothing.
  if (app.busy) cancelWorker();
  const mine = ++generation;
  const current = loaded;
  const policy = policyFromForm();
  const started = performance.now();
  setBusy(true);
  $('error').hidden = true;
  try {
    const reply = await callWorker<'compress'>({ type: 'compress', source: current.source, policy, ...workersAsked() }, showProgress(mine));
    if (mine !== generation) return;
    app.backend = reply.backend;
    app.threads = reply.threads ?? 0;
    showBackendInfo(reply.backend, reply.adapter);
    let next: Result;
    if (current.kind === 'onnx') {
      const output = reply.output!;
      let stored: Promise<Map<string, StoredQuantizedWeight>> | undefined;
      next = {
        source: current.source, policy, report: reply.report, output,
        // Read back from the compressed file when a tensor is shown: its scales and zero points described once, the
        // shown weight's integers read (DequantizeLinear, MatMulNBits and GatherBlockQuantized weights).
        quantized: async (name) => (await (stored ??= OnnxModel.load(output).then(async (model) =>
          new Map([...await describeQdqWeights(model), ...(await describeContribWeights(model)).weights])))).get(name)?.load(),
        decisions: (p) => planOnnxCompression(current.reader as OnnxModel, p).decisions, totalMs: performance.now() - started,
      };
    } else {
      // The decisions the output holds: the size budget's allocation from the worker, else the policy's, made once.
      let own: WeightDecision[] | undefined;
      const decisions = (p: CompressionPolicy) => (p === policy ? reply.decisions ?? (own ??= decideWeights(current.reader.list(), p))
        : decideWeights(current.reader.list(), p));
      next = {
        source: current.source, policy, report: reply.report, decisions, totalMs: performance.now() - started,
        quantized: async (name) => {
          // The safetensors path writes the same quantizeWeight result; redo it for the one tensor shown.
          const i = current.reader.list().findIndex((w) => w.name === name);
          const info = current.reader.list()[i]!;
          const data = toFloat32(await current.reader.read(name), info.dtype, name);
          const q = await quantizeWeight(tensor(data, [...info.shape]), decisions(policy)[i]!, {}, await pageBackend());
          return q.ok ? q.q : undefined;
        },
      };
    }
    result = next;
    sources.clear();
    delete document.body.dataset.state;
    $('tensors-empty').hidden = true;
    $('tensor-view').hidden = false;
    $('export-status').textContent = '';
    comparison.render(policy);
    const file = current.source.kind === 'onnx' ? current.source.file : undefined;
    verifier.enable(file && next.output
      ? { name: current.name, original: async () => new Uint8Array(await file.arrayBuffer()), compressed: next.output }
      : undefined, 'Verify runs ONNX models in onnxruntime-web; this model is safetensors.');
    app.report = next.report;
    app.policy = policy;
    app.runs++;
    $('progress-text').textContent = `Done in ${(next.totalMs / 1000).toFixed(2)} s`;
    renderSummary(next);
    app.formatSizes = undefined;
    void formats.refresh(shownOf(next)).then((sizes) => { if (sizes && result === next) app.formatSizes = sizes; });
    renderTable();
    const quantized = next.report.tensors.filter((t) => t.action === 'quantize');
    if (!selected || !quantized.some((t) => t.name === selected)) {
      selected = quantized.slice().sort((a, b) => elementCount(b.shape) - elementCount(a.shape))[0]?.name;
    }
    await renderTensor();
    document.body.dataset.ready = 'true';
    document.body.dataset.runs = String(app.runs);
  } catch (error) {
    if (mine === generation && !(error instanceof CancelledError)) {
      showError(error);
      clearResults(`No results: compressing ${current.name} with this scheme failed.`);
    }
  } finally {
    if (mine === generation) setBusy(false);
  }
}


/** What the export buttons need of a result. */
function shownOf(r: Result): ShownResult {
  return {
    source: r.source, policy: r.policy, ownFormat: r.output ? 'onnx' : 'safetensors',
    ownBytes: r.output ? r.output.length : r.report.format === 'safetensors' ? r.report.totals.fileBytesAfter : 0,
  };
}

function renderSummary(r: Result): void {
  showSummary(r.report, r.report.format === 'onnx' ? r.report.totals.modelBytesBefore : loaded!.byteLength, r.totalMs, r.policy.minSqnrDb,
    app.backend === 'webgpu');
  if (app.threads) $('sum-backend').append(`, on ${app.threads} Web Worker${app.threads === 1 ? '' : 's'}`);
}

/** The page's `?workers=N` (an integer from 0): the Web Workers a model's big weights run on, by default chosen by size. */
function workersAsked(): { workers?: number } {
  const asked = new URLSearchParams(location.search).get('workers');
  const workers = asked === null ? NaN : Number(asked);
  return Number.isInteger(workers) && workers >= 0 && workers <= 64 ? { workers } : {};
}

function renderTable(): void {
  if (!result) return;
  const showKept = $<HTMLInputElement>('show-kept').checked;
  // Weights the quality floor kept float stay listed: they are what the floor did.
  const rows = sortTensors(result.report.tensors.filter((t) => showKept || t.action === 'quantize' || t.escalations?.length), sort);
  for (const th of document.querySelectorAll<HTMLElement>('#tensor-table th')) {
    const key = th.querySelector('button')!.dataset.sort;
    th.setAttribute('aria-sort', sort.key === key ? (sort.dir === 1 ? 'ascending' : 'descending') : 'none');
  }
  document.querySelector('#tensor-table tbody')!.replaceChildren(...tensorRows(rows, selected, (name) => {
    selected = name;
    view.channel = 0;
    view.group = 0;
    renderTable();
    void renderTensor();
  }, result.report));
}

async function sourceFor(name: string): Promise<TensorSource | undefined> {
  if (!result || !loaded) return undefined;
  const cached = sources.get(name);
  if (cached) return cached;
  const report = result.report.tensors.find((t) => t.name === name);
  const q = await result.quantized(name);
  if (!report || !q) return undefined;
  const info = loaded.reader.list().find((w) => w.name === name)!;
  const original = toFloat32(await loaded.reader.read(name), info.dtype, name);
  const r = result;
  const index = loaded.reader.list().indexOf(info);
  const source: TensorSource = { report, q, original, decide: (policy) => r.decisions(policy)[index] };
  sources.set(name, source);
  return source;
}

async function renderTensor(): Promise<void> {
  if (!selected) return;
  try {
    const source = await sourceFor(selected);
    if (!source) return;
    const drawn = await drawTensorView(source, view, (channel) => { view.channel = channel; void renderTensor(); });
    view.channel = Math.min(view.channel, drawn.channels - 1);
    view.group = drawn.group;
    app.heatmapMs = drawn.heatmapMs;
    app.view = {
      name: selected, ...view, channels: drawn.channels, groups: drawn.groups, yTicks: drawn.yTicks, xTicks: drawn.xTicks,
      histogramTicks: drawn.histogramTicks, compareSqnr: drawn.compareSqnr ? Array.from(drawn.compareSqnr) : undefined,
    };
    document.body.dataset.view = `${selected}|${view.metric}|${view.compare}|${view.channel}|${view.group}|${view.log}`;
  } catch (error) { showError(error); }
}

function download(name: string, bytes: Uint8Array, type: string): void {
  app.lastExport = { name, bytes };
  downloadBytes(name, bytes, type);
  exportStatus(`Saved ${name}, ${formatBytes(bytes.length)} (to the browser's downloads).`);
}

/** The safetensors export of the result on show (the worker writes it; see safetensors-export.ts). */
function exportSafetensors(button: HTMLButtonElement): Promise<void> {
  if (!result) return Promise.resolve();
  return writeSafetensors({
    source: result.source, policy: result.policy, name: exportName(loaded?.name, 'safetensors', result.policy), button,
    compressing: () => app.busy,
    setExporting: (on) => { exporting = on; setBusy(app.busy); },
    download: (name, bytes) => download(name, bytes, 'application/octet-stream'),
    streamed: (name) => { app.lastExportStreamed = name; },
    showError,
  });
}

function wire(): void {
  const form = $<HTMLFormElement>('scheme');
  form.addEventListener('submit', (event) => event.preventDefault());
  form.addEventListener('change', (event) => {
    const target = event.target as HTMLElement;
    if (target.id === 'dtype') $<HTMLInputElement>('symmetric').checked = !$<HTMLSelectElement>('dtype').value.startsWith('qu');
    $<HTMLInputElement>('group-size').disabled = $<HTMLSelectElement>('granularity').value !== 'group';
    $<HTMLSelectElement>('axis').disabled = $<HTMLSelectElement>('granularity').value === 'tensor';
    // With a size budget the allocator chooses each weight's data type and granularity.
    const budgetOn = $<HTMLInputElement>('budget-on').checked;
    $<HTMLInputElement>('target-bits').disabled = !budgetOn;
    for (const id of ['dtype', 'granularity']) $<HTMLSelectElement>(id).disabled = budgetOn;
    if (budgetOn) $<HTMLInputElement>('group-size').disabled = true;
    void run();
  });
  $('cancel').addEventListener('click', () => {
    generation++;
    cancelWorker();
    exporting = false;
    setBusy(false);
    $('progress-text').textContent = 'Cancelled: the last finished result stays shown.';
  });
  $<HTMLInputElement>('file-input').addEventListener('change', (event) => {
    const input = event.target as HTMLInputElement;
    const files = [...input.files ?? []];
    // Cleared afterwards so choosing the same files again reloads them.
    if (files.length) void loadFiles(files).finally(() => { input.value = ''; });
  });
  $('load-default').addEventListener('click', () => { loadDefault().catch(showError); });
  const overlay = $('drop-overlay');
  window.addEventListener('dragover', (event) => { event.preventDefault(); overlay.hidden = false; });
  window.addEventListener('dragleave', (event) => { if (!event.relatedTarget) overlay.hidden = true; });
  window.addEventListener('drop', (event) => {
    event.preventDefault();
    overlay.hidden = true;
    const files = [...event.dataTransfer?.files ?? []];
    if (files.length) void loadFiles(files);
  });
  $('show-kept').addEventListener('change', renderTable);
  for (const button of document.querySelectorAll<HTMLButtonElement>('#tensor-table th button')) {
    button.addEventListener('click', () => {
      const key = button.dataset.sort!;
      sort = sort?.key === key ? { key, dir: sort.dir === 1 ? -1 : 1 } : { key, dir: key === 'name' || key === 'scheme' ? 1 : -1 };
      renderTable();
    });
  }
  $('metric').addEventListener('change', () => {
    view.metric = $<HTMLSelectElement>('metric').value as ViewState['metric'];
    $<HTMLInputElement>('log-scale').disabled = view.metric !== 'mse';
    void renderTensor();
  });
  $('log-scale').addEventListener('change', () => { view.log = $<HTMLInputElement>('log-scale').checked; void renderTensor(); });
  $('compare').addEventListener('change', () => { view.compare = $<HTMLSelectElement>('compare').value; void renderTensor(); });
  $('channel').addEventListener('change', () => {
    view.channel = Math.max(0, Math.floor(Number($<HTMLInputElement>('channel').value) || 0));
    view.group = 0;
    void renderTensor();
  });
  $('group').addEventListener('change', () => { view.group = Math.max(0, Math.floor(Number($<HTMLInputElement>('group').value) || 0)); void renderTensor(); });
  $('compare-schemes').addEventListener('click', () => {
    if (loaded) void comparison.run(loaded.source, policyFromForm(), loaded.byteLength, () => result?.policy);
  });
  $('channel-chart').addEventListener('keydown', (event) => {
    if (event.key !== 'ArrowLeft' && event.key !== 'ArrowRight') return;
    event.preventDefault();
    view.channel = Math.max(0, view.channel + (event.key === 'ArrowRight' ? 1 : -1));
    view.group = 0;
    void renderTensor();
  });
  $('export-onnx').addEventListener('click', () => {
    if (!result) return;
    if (result.output) download(exportName(loaded?.name, 'onnx', result.policy), result.output, 'application/octet-stream');
    else void exportSafetensors($('export-onnx'));
  });
  $('export-safetensors').addEventListener('click', () => { void exportSafetensors($('export-safetensors')); });
  for (const [id, format] of [['export-contrib', 'onnx-contrib'], ['export-gguf', 'gguf']] as const) {
    $(id).addEventListener('click', () => {
      if (result) void formats.export(format, shownOf(result), (ext) => exportName(loaded?.name, ext, result?.policy), (name, bytes) => download(name, bytes, 'application/octet-stream'), exportStatus);
    });
  }
  $('export-json').addEventListener('click', () => {
    if (!result) return;
    download(exportName(loaded?.name, 'report.json'), new TextEncoder().encode(reportJson(result.report, { model: loaded?.name, policy: result.policy })), 'application/json');
  });
  $('verify').addEventListener('click', () => { void verifier.run(); });
  $('export-csv').addEventListener('click', () => {
    if (!result) return;
    download(exportName(loaded?.name, 'report.csv'), new TextEncoder().encode(reportCsv(result.report)), 'text/csv');
  });
  $('seed').addEventListener('toggle', () => {
    if (!($('seed') as HTMLDetailsElement).open || $('seed').dataset.ran) return;
    $('seed').dataset.ran = 'true';
    import('./seed.js').then(({ runSeedExamples }) => runSeedExamples($('seed-status'))).catch(showError);
  });
  let resizeTimer: ReturnType<typeof setTimeout> | undefined;
  const redraw = () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { void renderTensor(); comparison.render(result?.policy); }, 150);
  };
  window.addEventListener('resize', redraw);
  // The charts read the theme's colours when they draw.
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', redraw);
}

app.benchHeatmap = (size: number) => {
  // For the test: a size×size heatmap on a scratch canvas, timed by drawHeatmap itself.
  const values = new Float32Array(size * size).map((_, i) => Math.abs(Math.sin(i)));
  const canvas = document.createElement('canvas');
  canvas.style.width = '800px';
  document.body.append(canvas);
  try { return drawHeatmap(canvas, values, size, size).ms; } finally { canvas.remove(); }
};

/** Puts a compared scheme into the form, which starts a run with it. */
function applyScheme(policy: CompressionPolicy): void {
  $<HTMLSelectElement>('dtype').value = policy.dtype!;
  $<HTMLSelectElement>('granularity').value = policy.granularity!;
  if (policy.groupSize) $<HTMLInputElement>('group-size').value = String(policy.groupSize);
  $('scheme').dispatchEvent(new Event('change', { bubbles: true }));
}

$('tensors-legend').replaceWith(bandLegend());
wire();
showBackend().catch(showError).then(loadDefault).catch(showError);
