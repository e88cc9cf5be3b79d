// The whole-model part of the page: the summary figures and the rows of the tensor table, drawn from a
// compression report (the library's own numbers; nothing is recomputed here but sums over its tensors).
import type { TensorReport } from '../src/models.js';
import { type AnyReport, elementCount, formatBytes, formatDb, overallSqnr } from './report-view.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** Fills the summary panel. `fileBytesBefore` is the input file's size; `totalMs` the whole run's time. */
export function showSummary(report: AnyReport, fileBytesBefore: number, totalMs: number): void {
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
  const worst = $('sum-worst');
  const worstName = document.createElement('small');
  worstName.textContent = sqnr.worstName;
  worst.replaceChildren(`${formatDb(sqnr.worstDb)} `, worstName);
  $('sum-backend').textContent = describeBackends(report.tensors) ?? 'nothing quantized';
  $('sum-time').textContent = `${report.seconds.toFixed(2)} s · ${(totalMs / 1000).toFixed(2)} s`;
  for (const id of ['export-onnx', 'export-safetensors', 'export-json', 'export-csv']) $<HTMLButtonElement>(id).disabled = false;
  $('export-onnx').textContent = report.format === 'onnx' ? 'Download compressed ONNX' : 'Download compressed safetensors';
  $('export-safetensors').hidden = report.format !== 'onnx';
}

/**
 * Where the quantized weights ran: one backend's name, or both with counts when 'auto' sent the small ones
 * to the CPU.
 *
 * @example
 * ```ts
 * describeBackends(report.tensors); // 'webgpu for 18 of 36 weights, cpu for 18 (the small ones)'
 * ```
 */
export function describeBackends(tensors: readonly TensorReport[]): string | undefined {
  const counts = new Map<string, number>();
  for (const t of tensors) if (t.action === 'quantize' && t.backend) counts.set(t.backend, (counts.get(t.backend) ?? 0) + 1);
  if (counts.size <= 1) return [...counts.keys()][0];
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  return `webgpu for ${counts.get('webgpu') ?? 0} of ${total} weights, cpu for ${counts.get('cpu') ?? 0} (the small ones)`;
}

function sortValue(t: TensorReport, key: string): number | string {
  if (key === 'elements') return elementCount(t.shape);
  const v = (t as unknown as Record<string, unknown>)[key];
  return typeof v === 'number' || typeof v === 'string' ? v : -Infinity;
}

/** `rows` sorted by a report field (text or number), or as they are without a sort. */
export function sortTensors(rows: TensorReport[], sort: { key: string; dir: 1 | -1 } | undefined): TensorReport[] {
  if (!sort) return rows;
  const { key, dir } = sort;
  return rows.slice().sort((a, b) => {
    const x = sortValue(a, key);
    const y = sortValue(b, key);
    return (typeof x === 'string' ? x.localeCompare(String(y)) : x - (y as number)) * dir;
  });
}

/** The table rows: the name is a button that selects the tensor (quantized ones only). */
export function tensorRows(rows: TensorReport[], selected: string | undefined, onSelect: (name: string) => void): HTMLTableRowElement[] {
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
    nameCell.append(button);
    tr.append(nameCell, ...cells.map((text, i) => {
      const td = document.createElement('td');
      td.textContent = text;
      if (i >= 2) td.className = 'num';
      return td;
    }));
    return tr;
  });
}
