// The model-wide comparison of schemes: the loaded model compressed once per scheme (int8 and int4, per
// tensor, per channel, per group of 32), each run's file size against its pooled SQNR, in one table. Every
// number is a field of that run's report (or the pooled SQNR over its tensors, as the summary shows it).
import type { CompressionPolicy } from '../src/models.js';
import { cssColour, drawScatter } from './charts.js';
import { bandColourVar, sqnrBand } from './quality.js';
import { type AnyReport, formatBytes, formatDb, overallSqnr } from './report-view.js';
import { CancelledError, callWorker } from './worker-client.js';
import type { AnyWeightSource } from './worker-protocol.js';

/** The schemes compared, in the order shown. */
export const COMPARED_SCHEMES: readonly { label: string; policy: Pick<CompressionPolicy, 'dtype' | 'granularity' | 'groupSize'> }[] = [
  { label: 'int8 per tensor', policy: { dtype: 'qint8', granularity: 'tensor' } },
  { label: 'int8 per channel', policy: { dtype: 'qint8', granularity: 'channel' } },
  { label: 'int8 per group 32', policy: { dtype: 'qint8', granularity: 'group', groupSize: 32 } },
  { label: 'int4 per tensor', policy: { dtype: 'qint4', granularity: 'tensor' } },
  { label: 'int4 per channel', policy: { dtype: 'qint4', granularity: 'channel' } },
  { label: 'int4 per group 32', policy: { dtype: 'qint4', granularity: 'group', groupSize: 32 } },
];

export interface SchemeRow { label: string; policy: CompressionPolicy; fileBytes: number; ratio: number; pooledDb: number; worstDb: number; worstName: string }

/**
 * A compared scheme's policy: its data type and granularity, with the symmetry, calibration and axis of `base`
 * (the form's), so only what the comparison is about changes.
 *
 * @example
 * ```ts
 * comparedPolicy(COMPARED_SCHEMES[5]!.policy, { dtype: 'qint8', granularity: 'channel', calibrate: 'mse' });
 * // { dtype: 'qint4', granularity: 'group', groupSize: 32, calibrate: 'mse' }
 * ```
 */
export function comparedPolicy(scheme: (typeof COMPARED_SCHEMES)[number]['policy'], base: CompressionPolicy): CompressionPolicy {
  const { symmetric, calibrate, axis } = base;
  return {
    ...scheme,
    ...(symmetric === undefined ? {} : { symmetric }),
    ...(calibrate === undefined ? {} : { calibrate }),
    ...(axis === undefined || scheme.granularity === 'tensor' ? {} : { axis }),
  };
}

/** One row from one run's report; `fileBytesBefore` is the input's size. */
export function schemeRow(label: string, policy: CompressionPolicy, report: AnyReport, fileBytesBefore: number): SchemeRow {
  const fileBytes = report.format === 'onnx' ? report.totals.modelBytesAfter : report.totals.fileBytesAfter;
  const sqnr = overallSqnr(report.tensors);
  return { label, policy, fileBytes, ratio: fileBytesBefore / fileBytes, pooledDb: sqnr.pooledDb, worstDb: sqnr.worstDb, worstName: sqnr.worstName };
}

/** The same scheme (the row of the scheme on show is marked). */
export function samePolicy(a: CompressionPolicy, b: CompressionPolicy): boolean {
  return a.dtype === b.dtype && a.granularity === b.granularity && (a.granularity !== 'group' || a.groupSize === b.groupSize);
}

/** The comparison table's rows; `onUse` applies a row's scheme to the form. */
export function comparisonRows(rows: readonly SchemeRow[], current: CompressionPolicy | undefined, onUse: (row: SchemeRow) => void): HTMLTableRowElement[] {
  return rows.map((row) => {
    const tr = document.createElement('tr');
    tr.dataset.scheme = row.label;
    const isCurrent = current !== undefined && samePolicy(row.policy, current);
    if (isCurrent) tr.setAttribute('aria-current', 'true');
    const cell = (text: string, className = 'num') => {
      const td = document.createElement('td');
      td.textContent = text;
      td.className = className;
      return td;
    };
    const pooled = cell(formatDb(row.pooledDb));
    const worst = cell(formatDb(row.worstDb));
    for (const [td, db] of [[pooled, row.pooledDb], [worst, row.worstDb]] as const) {
      const band = sqnrBand(db);
      if (band) td.classList.add(`band-${band}`);
    }
    worst.title = row.worstName;
    const use = document.createElement('button');
    use.type = 'button';
    use.textContent = isCurrent ? 'On show' : 'Use';
    use.disabled = isCurrent;
    use.addEventListener('click', () => onUse(row));
    const action = document.createElement('td');
    action.append(use);
    tr.append(cell(row.label, ''), cell(formatBytes(row.fileBytes)), cell(`${row.ratio.toFixed(2)}×`), pooled, worst, action);
    return tr;
  });
}

/**
 * Compresses `source` once per compared scheme in the worker, one after another; `onStatus` hears which one
 * runs, `onRows` gets the rows so far after each; it stops early once `stale()` says so. Rejects with
 * CancelledError when the worker is stopped.
 */
export async function runComparison(source: AnyWeightSource, base: CompressionPolicy, fileBytesBefore: number,
  onStatus: (text: string) => void, onRows: (rows: SchemeRow[]) => void, stale: () => boolean = () => false): Promise<SchemeRow[]> {
  const rows: SchemeRow[] = [];
  for (const [i, scheme] of COMPARED_SCHEMES.entries()) {
    if (stale()) return rows;
    onStatus(`Compressing with ${scheme.label} (${i + 1} of ${COMPARED_SCHEMES.length})…`);
    const policy = comparedPolicy(scheme.policy, base);
    const { report } = await callWorker<'compress'>({ type: 'compress', source, policy });
    rows.push(schemeRow(scheme.label, policy, report, report.format === 'onnx' ? report.totals.modelBytesBefore : fileBytesBefore));
    onRows(rows.slice());
  }
  onStatus(`${COMPARED_SCHEMES.length} schemes, each ${base.symmetric === false ? 'affine' : 'symmetric'} with ${base.calibrate ?? 'minmax'} calibration: `
    + 'the file size against the SQNR of every quantized weight pooled.');
  return rows;
}

/** The "Schemes compared" panel: its table, its status line and its button. */
export class ComparisonPanel {
  private rows: SchemeRow[] = [];
  /** Bumped by reset(): a comparison still running then drops its results. */
  private generation = 0;

  constructor(private readonly onUse: (row: SchemeRow) => void) {}

  private element<T extends HTMLElement>(id: string): T { return document.getElementById(id) as T; }

  /** Empties the table and the status; a comparison still running is dropped. */
  reset(): void {
    this.generation++;
    this.element<HTMLButtonElement>('compare-schemes').disabled = false;
    this.rows = [];
    this.element('compare-status').textContent = '';
    this.render(undefined);
  }

  /** Draws the rows, marking the one whose scheme is `current`. */
  render(current: CompressionPolicy | undefined): void {
    this.element('compare-wrap').hidden = this.rows.length === 0;
    this.element('compare-figure').hidden = this.rows.length === 0;
    this.element('compare-table').querySelector('tbody')!.replaceChildren(...comparisonRows(this.rows, current, this.onUse));
    if (this.rows.length === 0) return;
    const points = this.rows.map((row) => ({
      x: row.fileBytes / 1024, y: row.pooledDb, label: row.label, marked: current !== undefined && samePolicy(row.policy, current),
      colour: cssColour(bandColourVar(sqnrBand(row.pooledDb) ?? 'good'), '#888'),
    }));
    this.plotted = drawScatter(this.element<HTMLCanvasElement>('compare-chart'), points, { x: 'file size (KiB)', y: 'SQNR, pooled (dB)' });
  }

  /** The plot's tick labels as last drawn (for the tests). */
  plotted: { xTicks: string[]; yTicks: string[] } | undefined;

  /** Runs the comparison for `source`; `current` says which scheme is on show. */
  async run(source: AnyWeightSource, base: CompressionPolicy, fileBytesBefore: number, current: () => CompressionPolicy | undefined): Promise<void> {
    this.reset();
    const mine = this.generation;
    const button = this.element<HTMLButtonElement>('compare-schemes');
    const status = (text: string) => { if (mine === this.generation) this.element('compare-status').textContent = text; };
    button.disabled = true;
    try {
      await runComparison(source, base, fileBytesBefore, status, (rows) => {
        if (mine !== this.generation) return;
        this.rows = rows;
        this.render(current());
      }, () => mine !== this.generation);
    } catch (error) {
      status(error instanceof CancelledError ? 'Comparison stopped.' : `Comparison failed: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      if (mine === this.generation) button.disabled = false;
    }
  }
}
