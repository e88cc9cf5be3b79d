// The web app: compress a model in the browser with webgpu-quant and see its error channel by channel.
// On load it compresses the bundled Silero VAD model with the default scheme (qint8, per channel, symmetric,
// minmax). Every number shown comes from the library's report or from library functions; this file only
// arranges them. `window.__app` exposes the latest report and export bytes for the browser test.
import modelUrl from '@ricky0123/vad-web/dist/silero_vad_legacy.onnx?url';
import {
  type CompressionPolicy, OnnxModel, type QTensor, type TensorReport, type WeightDecision, type WeightReader,
  bytesSource, compressOnnx, decideWeights, getBackend, getDefaultManager, memorySink, openSafetensors, planOnnxCompression,
  quantizeWeight, readQdqWeights, tensor, toFloat32,
} from '../src/index.js';
// Documented in the README but not re-exported by src/index.ts.
import { compressToSafetensors } from '../src/index.js';
import { type AnyReport, elementCount, formatBytes, formatDb, overallSqnr, reportCsv, reportJson } from './report-view.js';
import { drawHeatmap } from './charts.js';
import { type TensorSource, type ViewState, drawTensorView } from './tensor-view.js';

interface Loaded { name: string; kind: 'onnx' | 'safetensors'; bytes: Uint8Array; reader: WeightReader }
interface Result {
  policy: CompressionPolicy;
  report: AnyReport;
  /** The compressed file. */
  output: Uint8Array;
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
    };
  }
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const app: Window['__app'] = { runs: 0, busy: false };
window.__app = app;

let loaded: Loaded | undefined;
let result: Result | undefined;
let generation = 0;
let selected: string | undefined;
const sources = new Map<string, TensorSource>();
const view: ViewState = { metric: 'sqnr', log: false, compare: '', channel: 0 };
let sort: { key: string; dir: 1 | -1 } | undefined;

function showError(error: unknown): void {
  const box = $('error');
  box.hidden = false;
  box.textContent = `Error: ${error instanceof Error ? error.message : String(error)}`;
}

function policyFromForm(): CompressionPolicy {
  const granularity = $<HTMLSelectElement>('granularity').value as CompressionPolicy['granularity'];
  return {
    dtype: $<HTMLSelectElement>('dtype').value as CompressionPolicy['dtype'],
    granularity,
    ...(granularity === 'group' ? { groupSize: Math.max(1, Math.floor(Number($<HTMLInputElement>('group-size').value) || 32)) } : {}),
    symmetric: $<HTMLInputElement>('symmetric').checked,
    calibrate: $<HTMLSelectElement>('calibrate').value as CompressionPolicy['calibrate'],
  };
}

async function showBackend(): Promise<void> {
  const backend = await getBackend();
  const status = $('backend');
  if (backend === 'webgpu') {
    const info = (await getDefaultManager()).adapterInfo;
    const adapter = [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ') || 'unnamed adapter';
    status.textContent = `WebGPU: ${adapter}`;
    $('sum-adapter').textContent = adapter;
  } else {
    status.textContent = 'CPU (no WebGPU)';
    const notice = $('webgpu-notice');
    notice.hidden = false;
    notice.textContent = 'WebGPU is not available here (another browser, or it is blocked), so everything runs on the CPU: '
      + 'the same results, computed more slowly.';
    $('sum-adapter').textContent = 'none (CPU reference)';
  }
}

async function loadBytes(name: string, bytes: Uint8Array): Promise<void> {
  const kind = name.toLowerCase().endsWith('.safetensors') ? 'safetensors' : 'onnx';
  const reader = kind === 'onnx' ? await OnnxModel.load(bytes, { name }) : await openSafetensors(bytesSource(bytes, name));
  loaded = { name, kind, bytes, reader };
  selected = undefined;
  $('model-name').textContent = `${name}: ${formatBytes(bytes.byteLength)}, ${reader.list().length} weights (${kind === 'onnx' ? 'ONNX' : 'safetensors'})`;
  await run();
}

async function loadFile(file: File): Promise<void> {
  try {
    $('error').hidden = true;
    $('model-name').textContent = `Reading ${file.name}…`;
    await loadBytes(file.name, new Uint8Array(await file.arrayBuffer()));
  } catch (error) { showError(error); }
}

async function loadDefault(): Promise<void> {
  $('model-name').textContent = 'Loading the bundled model (Silero VAD)…';
  const response = await fetch(modelUrl);
  if (!response.ok) throw new Error(`could not fetch the bundled model (${response.status})`);
  await loadBytes('silero_vad_legacy.onnx', new Uint8Array(await response.arrayBuffer()));
}

function setBusy(busy: boolean): void {
  app.busy = busy;
  $('cancel').hidden = !busy;
  document.body.dataset.busy = String(busy);
}

/** Compresses the loaded model with the form's scheme; a newer run (or Cancel) makes this one's result stale. */
async function run(): Promise<void> {
  if (!loaded) return;
  const mine = ++generation;
  const current = loaded;
  const policy = policyFromForm();
  const started = performance.now();
  const progress = $<HTMLProgressElement>('progress');
  const onProgress = ({ done, total, name }: { done: number; total: number; name: string }) => {
    if (mine !== generation) return;
    progress.max = total;
    progress.value = done;
    $('progress-text').textContent = `${done} / ${total}: ${name}`;
  };
  setBusy(true);
  $('error').hidden = true;
  try {
    let next: Result;
    if (current.kind === 'onnx') {
      const { model, report } = await compressOnnx(current.bytes, { ...policy, name: current.name, onProgress }, { backend: 'auto' });
      if (mine !== generation) return;
      const qWeights = await readQdqWeights(await OnnxModel.load(model));
      next = {
        policy, report, output: model, quantized: async (name) => qWeights.get(name),
        decisions: (p) => planOnnxCompression(current.reader as OnnxModel, p).decisions, totalMs: performance.now() - started,
      };
    } else {
      const decisions = (p: CompressionPolicy) => decideWeights(current.reader.list(), p);
      const sink = memorySink();
      const report = await compressToSafetensors(current.reader, decisions(policy), sink, { backend: 'auto' }, onProgress);
      if (mine !== generation) return;
      next = {
        policy, report, output: sink.bytes(), decisions, totalMs: performance.now() - started,
        quantized: async (name) => {
          // The safetensors path writes the same quantizeWeight result; redo it for the one tensor shown.
          const i = current.reader.list().findIndex((w) => w.name === name);
          const info = current.reader.list()[i]!;
          const data = toFloat32(await current.reader.read(name), info.dtype, name);
          const q = await quantizeWeight(tensor(data, [...info.shape]), decisions(policy)[i]!, {}, { backend: 'auto' });
          return q.ok ? q.q : undefined;
        },
      };
    }
    result = next;
    sources.clear();
    app.report = next.report;
    app.policy = policy;
    app.runs++;
    $('progress-text').textContent = `Done in ${(next.totalMs / 1000).toFixed(2)} s`;
    renderSummary(next);
    renderTable();
    const quantized = next.report.tensors.filter((t) => t.action === 'quantize');
    if (!selected || !quantized.some((t) => t.name === selected)) {
      selected = quantized.slice().sort((a, b) => elementCount(b.shape) - elementCount(a.shape))[0]?.name;
    }
    await renderTensor();
    document.body.dataset.ready = 'true';
    document.body.dataset.runs = String(app.runs);
  } catch (error) {
    if (mine === generation) showError(error);
  } finally {
    if (mine === generation) setBusy(false);
  }
}

function renderSummary(r: Result): void {
  const report = r.report;
  const totals = report.totals;
  const params = report.tensors.reduce((sum, t) => sum + elementCount(t.shape), 0);
  const sqnr = overallSqnr(report.tensors);
  const before = report.format === 'onnx' ? report.totals.modelBytesBefore : loaded!.bytes.byteLength;
  const after = report.format === 'onnx' ? report.totals.modelBytesAfter : report.totals.fileBytesAfter;
  $('sum-params').textContent = params.toLocaleString('en-US');
  $('sum-quantized').textContent = `${totals.tensorsQuantized} of ${report.tensors.length} (${totals.tensorsKept} kept float)`;
  $('sum-size').textContent = `${formatBytes(before)} → ${formatBytes(after)}`;
  $('sum-ratio').textContent = `${(before / after).toFixed(2)}×`;
  $('sum-weight-ratio').textContent = `${totals.compressionRatio.toFixed(2)}× (${formatBytes(totals.bytesBefore)} → ${formatBytes(totals.bytesAfter)})`;
  $('sum-sqnr').textContent = formatDb(sqnr.pooledDb);
  const worst = $('sum-worst');
  const worstName = document.createElement('small');
  worstName.textContent = sqnr.worstName;
  worst.replaceChildren(`${formatDb(sqnr.worstDb)} `, worstName);
  $('sum-backend').textContent = report.backend ?? 'nothing quantized';
  $('sum-time').textContent = `${report.seconds.toFixed(2)} s · ${(r.totalMs / 1000).toFixed(2)} s`;
  for (const id of ['export-onnx', 'export-safetensors', 'export-json', 'export-csv']) $<HTMLButtonElement>(id).disabled = false;
  $('export-onnx').textContent = report.format === 'onnx' ? 'Download compressed ONNX' : 'Download compressed safetensors';
  $('export-safetensors').hidden = report.format !== 'onnx';
}

function sortValue(t: TensorReport, key: string): number | string {
  if (key === 'elements') return elementCount(t.shape);
  const v = (t as unknown as Record<string, unknown>)[key];
  return typeof v === 'number' || typeof v === 'string' ? v : -Infinity;
}

function renderTable(): void {
  if (!result) return;
  const showKept = $<HTMLInputElement>('show-kept').checked;
  let rows = result.report.tensors.filter((t) => showKept || t.action === 'quantize');
  if (sort) {
    const { key, dir } = sort;
    rows = rows.slice().sort((a, b) => {
      const x = sortValue(a, key);
      const y = sortValue(b, key);
      return (typeof x === 'string' ? x.localeCompare(String(y)) : x - (y as number)) * dir;
    });
  }
  for (const th of document.querySelectorAll<HTMLElement>('#tensor-table th')) {
    const key = th.querySelector('button')!.dataset.sort;
    th.setAttribute('aria-sort', sort && sort.key === key ? (sort.dir === 1 ? 'ascending' : 'descending') : 'none');
  }
  const body = document.querySelector('#tensor-table tbody')!;
  body.replaceChildren(...rows.map((t) => {
    const tr = document.createElement('tr');
    tr.dataset.name = t.name;
    tr.setAttribute('aria-selected', String(t.name === selected));
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'link';
    button.textContent = t.name;
    button.disabled = t.action !== 'quantize';
    button.addEventListener('click', () => { selected = t.name; view.channel = 0; renderTable(); void renderTensor(); });
    const cells = [`[${t.shape.join('×')}]`, t.scheme, t.bytesBefore.toLocaleString('en-US'), t.bytesAfter.toLocaleString('en-US'),
      formatDb(t.sqnrDb), t.maxAbsError === undefined ? '—' : t.maxAbsError.toExponential(2)];
    const nameCell = document.createElement('td');
    nameCell.append(button);
    tr.append(nameCell, ...cells.map((text, i) => {
      const td = document.createElement('td');
      td.textContent = text;
      if (i >= 2) td.className = 'num';
      return td;
    }));
    return tr;
  }));
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
    app.heatmapMs = drawn.heatmapMs;
    app.view = { name: selected, ...view, channels: drawn.channels, compareSqnr: drawn.compareSqnr ? Array.from(drawn.compareSqnr) : undefined };
    document.body.dataset.view = `${selected}|${view.metric}|${view.compare}|${view.channel}`;
  } catch (error) { showError(error); }
}

function download(name: string, bytes: Uint8Array, type: string): void {
  app.lastExport = { name, bytes };
  const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function baseName(): string {
  return (loaded?.name ?? 'model').replace(/\.(onnx|safetensors)$/i, '');
}

function suffix(policy: CompressionPolicy): string {
  return `${policy.dtype}-${policy.granularity}${policy.granularity === 'group' ? policy.groupSize : ''}`;
}

async function exportSafetensors(): Promise<void> {
  if (!result || !loaded || loaded.kind !== 'onnx') return;
  const button = $<HTMLButtonElement>('export-safetensors');
  button.disabled = true;
  try {
    const sink = memorySink();
    await compressToSafetensors(loaded.reader, planOnnxCompression(loaded.reader as OnnxModel, result.policy).decisions, sink, { backend: 'auto' });
    download(`${baseName()}.${suffix(result.policy)}.safetensors`, sink.bytes(), 'application/octet-stream');
  } catch (error) { showError(error); } finally { button.disabled = false; }
}

function wire(): void {
  const form = $<HTMLFormElement>('scheme');
  form.addEventListener('submit', (event) => event.preventDefault());
  form.addEventListener('change', (event) => {
    const target = event.target as HTMLElement;
    if (target.id === 'dtype') $<HTMLInputElement>('symmetric').checked = !$<HTMLSelectElement>('dtype').value.startsWith('qu');
    $<HTMLInputElement>('group-size').disabled = $<HTMLSelectElement>('granularity').value !== 'group';
    void run();
  });
  $('cancel').addEventListener('click', () => {
    generation++;
    setBusy(false);
    $('progress-text').textContent = 'Cancelled: the last finished result stays shown.';
  });
  $<HTMLInputElement>('file-input').addEventListener('change', (event) => {
    const input = event.target as HTMLInputElement;
    const file = input.files?.[0];
    // Cleared afterwards so choosing the same file again reloads it.
    if (file) void loadFile(file).finally(() => { input.value = ''; });
  });
  $('load-default').addEventListener('click', () => { loadDefault().catch(showError); });
  const overlay = $('drop-overlay');
  window.addEventListener('dragover', (event) => { event.preventDefault(); overlay.hidden = false; });
  window.addEventListener('dragleave', (event) => { if (!event.relatedTarget) overlay.hidden = true; });
  window.addEventListener('drop', (event) => {
    event.preventDefault();
    overlay.hidden = true;
    const file = event.dataTransfer?.files[0];
    if (file) void loadFile(file);
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
  $('channel').addEventListener('change', () => { view.channel = Math.max(0, Math.floor(Number($<HTMLInputElement>('channel').value) || 0)); void renderTensor(); });
  $('channel-chart').addEventListener('keydown', (event) => {
    if (event.key !== 'ArrowLeft' && event.key !== 'ArrowRight') return;
    event.preventDefault();
    view.channel = Math.max(0, view.channel + (event.key === 'ArrowRight' ? 1 : -1));
    void renderTensor();
  });
  $('export-onnx').addEventListener('click', () => {
    if (!result) return;
    download(`${baseName()}.${suffix(result.policy)}.${result.report.format}`, result.output, 'application/octet-stream');
  });
  $('export-safetensors').addEventListener('click', () => { void exportSafetensors(); });
  $('export-json').addEventListener('click', () => {
    if (!result) return;
    download(`${baseName()}.report.json`, new TextEncoder().encode(reportJson(result.report, { model: loaded?.name, policy: result.policy })), 'application/json');
  });
  $('export-csv').addEventListener('click', () => {
    if (!result) return;
    download(`${baseName()}.report.csv`, new TextEncoder().encode(reportCsv(result.report)), 'text/csv');
  });
  $('seed').addEventListener('toggle', () => {
    if (!($('seed') as HTMLDetailsElement).open || $('seed').dataset.ran) return;
    $('seed').dataset.ran = 'true';
    import('./seed.js').then(({ runSeedExamples }) => runSeedExamples($('seed-status'))).catch(showError);
  });
  let resizeTimer: ReturnType<typeof setTimeout> | undefined;
  const redraw = () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(() => void renderTensor(), 150); };
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

wire();
showBackend().catch(showError).then(loadDefault).catch(showError);
