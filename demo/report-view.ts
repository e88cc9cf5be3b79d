// What the app derives from the library's report, kept apart from the DOM code so the test can reason about
// it: the overall SQNR (from the report's own per-tensor sqnrDb and mse), the parameter count, and the JSON
// and CSV exports. No quantization arithmetic here: every number starts as a field of the report.
import type { BudgetAllocation, OnnxCompressionReport, SafetensorsCompressionReport, TensorReport } from '../src/models.js';

/** A report of either output; a safetensors one carries the size budget's allocation as the command line's does. */
export type AnyReport = OnnxCompressionReport | (SafetensorsCompressionReport & { budget?: BudgetAllocation });

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * SQNR over every quantized weight together: 10·log10(Σ signal / Σ noise). Each tensor's noise energy is
 * mse·n and its signal energy is noise·10^(sqnrDb/10), both from the report. Also the worst tensor's SQNR and
 * the plain mean of the per-tensor values in dB.
 */
export function overallSqnr(tensors: readonly TensorReport[]): { pooledDb: number; worstDb: number; worstName: string; meanDb: number } {
  let signal = 0;
  let noise = 0;
  let worstDb = Infinity;
  let worstName = '';
  let sum = 0;
  let count = 0;
  for (const t of tensors) {
    if (t.action !== 'quantize' || t.sqnrDb === undefined || t.mse === undefined) continue;
    const n = elementCount(t.shape);
    const e = t.mse * n;
    noise += e;
    if (Number.isFinite(t.sqnrDb)) signal += e * 10 ** (t.sqnrDb / 10);
    if (t.sqnrDb < worstDb) { worstDb = t.sqnrDb; worstName = t.name; }
    sum += t.sqnrDb;
    count++;
  }
  return { pooledDb: noise > 0 ? 10 * Math.log10(signal / noise) : Infinity, worstDb, worstName, meanDb: count ? sum / count : Number.NaN };
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

export function formatDb(db: number | undefined): string {
  if (db === undefined || Number.isNaN(db)) return '—';
  if (db === Infinity) return '∞ (exact)';
  return `${db.toFixed(2)} dB`;
}

/** The report as JSON: typed arrays become arrays, ±Infinity becomes the strings "Infinity" / "-Infinity". */
export function reportJson(report: AnyReport, extra: Record<string, unknown>): string {
  return JSON.stringify({ ...extra, report }, (_key, value: unknown) => {
    if (value instanceof Float64Array || value instanceof Float32Array) return Array.from(value, (v) => (Number.isFinite(v) ? v : String(v)));
    if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
    return value;
  }, 2);
}

function csvCell(value: unknown): string {
  const text = value === undefined ? '' : String(value);
  return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function reportCsv(report: AnyReport): string {
  const header = ['name', 'shape', 'dtypeIn', 'dtypeOut', 'action', 'scheme', 'bytesBefore', 'bytesAfter', 'sqnrDb', 'mse', 'maxAbsError', 'backend', 'reason',
    'escalations', 'budgetChoice', 'budgetBits'];
  const lines = [header.join(',')];
  const allocation = new Map(report.budget?.tensors.map((a) => [a.name, a]));
  for (const t of report.tensors) {
    const chosen = allocation.get(t.name);
    lines.push([t.name, t.shape.join('x'), t.dtypeIn, t.dtypeOut, t.action, t.scheme, t.bytesBefore, t.bytesAfter, t.sqnrDb, t.mse, t.maxAbsError,
      t.backend, t.reason, t.escalations?.map((e) => e.text).join(' | '), chosen?.chosen, chosen?.bits].map(csvCell).join(','));
  }
  return `${lines.join('\n')}\n`;
}
