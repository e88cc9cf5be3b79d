// The model × scheme results of a test file (size, end-task metric, verification), printed as one
// Markdown table when the file ends: the source of the results table in docs/quality.md.
import * as ort from 'onnxruntime-node';
import type { Sample } from '../../src/verify/runtime.js';
import { MIN_ARGMAX_ROWS, type VerifyReport, verifyModels } from '../../src/verify/verify-models.js';

/** One row: the file size after / before, the end-task metric in words, and the verification. */
export interface ResultRow { model: string; scheme: string; size: number; endTask: string; verify?: VerifyReport }

/** An onnxruntime-node tensor as a verification sample tensor. */
export function sampleOf(tensors: Record<string, ort.Tensor>): Sample {
  return Object.fromEntries(Object.entries(tensors).map(([name, t]) =>
    [name, { dtype: t.type as 'float32', dims: [...t.dims], data: t.data as Float32Array }]));
}

/** `verifyModels` in onnxruntime-node on the given samples. */
export function verifyOn(original: Uint8Array, compressed: Uint8Array, inputs: Sample[]): Promise<VerifyReport> {
  return verifyModels(original, compressed, { runtime: ort as never, inputs });
}

/** The lowest cosine over the outputs, and PASS / FAIL. */
export function verifyText(report: VerifyReport | undefined): string {
  if (!report) return '-';
  const cosine = Math.min(...report.outputs.map((o) => o.cosine));
  const argmax = report.outputs.filter((o) => report.passedBy[o.name] === 'argmax' || (!report.passed && o.argmaxRows >= MIN_ARGMAX_ROWS))
    .map((o) => `, argmax ${(100 * o.argmaxAgreement!).toFixed(1)} %`).join('');
  return `${report.passed ? 'pass' : 'FAIL'}, cosine ${cosine.toFixed(4)}${argmax}`;
}

/** Collects rows; `print()` writes them as a Markdown table. */
export class ResultsTable {
  readonly rows: ResultRow[] = [];

  add(row: ResultRow): void {
    this.rows.push(row);
  }

  print(): void {
    if (!this.rows.length) return;
    const lines = ['| model | scheme | size | end task | verify (lowest cosine; argmax agreement where it decided) |', '| --- | --- | --- | --- | --- |',
      ...this.rows.map((r) => `| ${r.model} | ${r.scheme} | ${r.size.toFixed(3)} | ${r.endTask} | ${verifyText(r.verify)} |`)];
    console.log(lines.join('\n'));
  }
}
