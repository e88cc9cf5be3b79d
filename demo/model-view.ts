// The whole-model part of the page: the summary figures and the rows of the tensor table, drawn from a
// compression report (the library's own numbers; nothing is recomputed here but sums over its tensors).
import type { TensorReport } from '../src/models.js';
import { allocationNote, budgetOf, budgetSummary } from './budget-view.js';
import { escalationDetails, floorSummary, rowFlags } from './escalations.js';
import { sqnrBand } from './quality.js';
import { type AnyReport, elementCount, formatBytes, formatDb, overallSqnr } from './report-view.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/**
 * Fills the summary panel. `fileBytesBefore` is the input file's size; `totalMs` the whole run's time;
 * `minSqnrDb` the floor the run asked for (undefined: the default, -Infinity: off).
 */
export function showSummary(report: AnyReport, fileBytesBefore: number, totalMs: number, minSqnrDb?: number, gpuAvailable = false): void {
  const totals = report.totals;
  const params = report.tensors.reduce((sum, t) => sum + elementCount(t.shape), 0);
  const sqnr = overallSqnr(report.tensors);
  const after = report.format === 'onnx' ? report.totals.modelBytesAfter : report.totals.fileBytesAfter;
  $('sum-params').textContent = params.toLocaleString('en-US');
  $('sum-quantized').textContent = `${totals.tensorsQuantized} of ${report.tensors.length} (${totals.tensorsKept} kept float)`;
  $('sum-size').textContent = `${formatBytes(fileBytesBefore)} → ${formatBytes(after)}`;
  $('sum-ratio').textContent = `${(fileBytesBefore / after).toFixed(2)}×`;
  $('sum-weight-ratio').textContent = `${totals.compressionRatio.toFixed(2)}× (${formatBytes(totals.bytesBefore)} → ${formatBytes(totals.bytesAfter)})`;
  $('sum-sqnr').textContent = formatDb(sqnr.pooledDb);
  $('sum-sqnr').dataset.band = sqnrBand(sqnr.pooledDb) ?? '';
  const worst = $('sum-worst');
  worst.dataset.band = sqnrBand(sqnr.worstDb) ?? '';
  const worstName = document.createElement('small');
  worstName.textContent = sqnr.worstName;
  worst.replaceChildren(`${formatDb(sqnr.worstDb)} `, worstName);
  $('sum-floor').textContent = floorSummary(report, minSqnrDb);
  const budget = budgetOf(report);
  $('sum-budget-item').hidden = !budget;
  $('sum-budget').textContent = budget ? budgetSummary(budget) : '—';
  $('sum-backend').textContent = describeBackends(report.tensors, gpuAvailable) ?? 'nothing quantized';
  $('sum-time').textContent = `${report.seconds.toFixed(2)} s · ${(totalMs / 1000).toFixed(2)} s`;
  for (const id of ['export-onnx', 'export-safetensors', 'export-json', 'export-csv']) $<HTMLButtonElement>(id).disabled = false;
  $('export-onnx').textContent = report.format === 'onnx' ? 'Download compressed ONNX' : 'Download compressed safetensors';
  $('export-safetensors').hidden = report.format !== 'onnx';
}

const kSummaryIds = [
  'sum-params', 'sum-quantized', 'sum-size', 'sum-ratio', 'sum-weight-ratio', 'sum-sqnr', 'sum-worst', 'sum-floor', 'sum-budget', 'sum-backend', 'sum-time',
];

/** Empties the summary (back to dashes) and disables the exports: nothing shown belongs to a model that failed. */
export function clearSummary(): void {
  for (const id of kSummaryIds) {
    $(id).textContent = '—';
    delete $(id).dataset.band;
  }
  for (const id of ['export-onnx', 'export-safetensors', 'export-json', 'export-csv']) $<HTMLButtonElement>(id).disabled = true;
}

/**
 * Where the quantized weights ran: one backend's name, or both with counts when 'auto' sent the weights
 * below its measured crossover to the CPU; with `gpuAvailable`, a CPU-only run says the crossover chose it.
 *
 * @example
 * ```ts
 * describeBackends(report.tensors); // 'webgpu for 18 of 36 weights, cpu for 18 (below the measured crossover)'
 * ```
 */
export function describeBackends(tensors: readonly TensorReport[], gpuAvailable = false): string | undefined {
  const counts = new Map<string, number>();
  for (const t of tensors) if (t.action === 'quantize' && t.backend) counts.set(t.backend, (counts.get(t.backend) ?? 0) + 1);
  if (counts.size <= 1) {
    const only = [...counts.keys()][0];
    // 'auto' chose the CPU for every weight although the worker has a GPU: its measured crossover said so.
    return only === 'cpu' && gpuAvailable ? 'cpu (measured faster than this adapter for every weight)' : only;
  }
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  return `webgpu for ${counts.get('webgpu') ?? 0} of ${total} weights, cpu for ${counts.get('cpu') ?? 0} (below the measured crossover)`;
}

function sortValue(t: TensorReport, key: string): number | string {
  if (key === 'elements') return elementCount(t.shape);
  const v = (t as unknown as Record<string, unknown>)[key];
  return typeof v === 'number' || typeof v === 'string' ? v : -Infinity;
}

/**
 * `rows` sorted by a report field (text or number); rows without the field (kept tensors have no SQNR) go
 * last either way. Without a sort: worst SQNR first, the order a reviewer wants.
 */
export function sortTensors(rows: TensorReport[], sort: { key: string; dir: 1 | -1 } = WORST_FIRST): TensorReport[] {
  const { key, dir } = sort;
  return rows.slice().sort((a, b) => {
    const x = sortValue(a, key);
    const y = sortValue(b, key);
    if (x === -Infinity || y === -Infinity) return Number(x === -Infinity) - Number(y === -Infinity);
    return (typeof x === 'string' || typeof y === 'string' ? String(x).localeCompare(String(y)) : x === y ? 0 : x < y ? -1 : 1) * dir;
  });
}

/** The table's first order: ascending SQNR. */
export const WORST_FIRST = { key: 'sqnrDb', dir: 1 } as const;

/**
 * The table rows: the name is a button that selects the tensor (quantized ones only), after flags for an
 * escalated or weak weight; the scheme cell holds the escalation steps and the budget's choice, when any.
 */
export function tensorRows(rows: TensorReport[], selected: string | undefined, onSelect: (name: string) => void, report?: AnyReport): HTMLTableRowElement[] {
  const budget = budgetOf(report);
  return rows.map((t) => {
    const tr = document.createElement('tr');
    tr.dataset.name = t.name;
    tr.setAttribute('aria-selected', String(t.name === selected));
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'link';
    button.textContent = t.name;
    button.disabled = t.action !== 'quantize';
    button.addEventListener('click', () => onSelect(t.name));
    const cells = [`[${t.shape.join('×')}]`, t.scheme, t.bytesBefore.toLocaleString('en-US'), t.bytesAfter.toLocaleString('en-US'),
      formatDb(t.sqnrDb), t.maxAbsError === undefined ? '—' : t.maxAbsError.toExponential(2)];
    const nameCell = document.createElement('td');
    const flags = rowFlags(t);
    nameCell.append(...flags, button);
    if (flags.length) tr.dataset.flags = flags.map((f) => f.className.replace('flag flag-', '')).join(' ');
    tr.append(nameCell, ...cells.map((text, i) => {
      const td = document.createElement('td');
      td.textContent = text;
      if (i >= 2) td.className = 'num';
      if (i === 1) td.className = 'scheme';
      return td;
    }));
    const schemeCell = tr.children[2]!;
    const details = escalationDetails(t);
    const note = allocationNote(t, budget);
    if (details || note) {
      const text = document.createElement('span');
      text.textContent = t.scheme;
      schemeCell.replaceChildren(text, ...(note ? [note] : []), ...(details ? [details] : []));
    }
    // The SQNR cell carries its band (coloured by style.css); the row too, for a marker at its start.
    const band = t.action === 'quantize' ? sqnrBand(t.sqnrDb) : undefined;
    if (band) { tr.dataset.band = band; tr.children[5]!.classList.add(`band-${band}`); }
    return tr;
  });
}
