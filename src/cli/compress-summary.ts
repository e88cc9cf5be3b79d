/**
 * What `webgpu-quant compress` prints for people: the summary of a compressed model and the quality floor's
 * warnings.
 *
 * @example
 * ```ts
 * io.stdout.write(compressSummary(input, output, report.tensors, report.totals, 'cpu', report.seconds));
 * io.stderr.write(escalationWarnings(report.tensors));
 * ```
 * @module
 */
import type { TensorReport } from '../compress/compress-report.js';
import { megabytes } from './units.js';

/**
 * Lines about the quality floor: every escalated weight and what it became (stderr, so --json stays one object);
 * empty when none was escalated.
 *
 * @example
 * ```ts
 * process.stderr.write(escalationWarnings(report.tensors));
 * ```
 */
export function escalationWarnings(tensors: readonly TensorReport[]): string {
  const escalated = tensors.filter((t) => t.escalations?.length);
  if (!escalated.length) return '';
  const lines = [`warning: ${escalated.length} weight(s) fell below the quality floor and were escalated (--min-sqnr sets the floor):`];
  for (const t of escalated) for (const step of t.escalations!) lines.push(`  ${step.text}`);
  return `${lines.join('\n')}\n`;
}

/**
 * The `count` tensors with the lowest SQNR, lowest first, in one pass (no sort of every tensor: a file of
 * 200k weights costs a few comparisons each). Ties keep report order; a NaN SQNR counts as the worst.
 *
 * @example
 * ```ts
 * worstBySqnr(report.tensors, 5).map((t) => t.name); // the five weights that lost the most
 * ```
 */
export function worstBySqnr(tensors: readonly TensorReport[], count: number): TensorReport[] {
  const key = (t: TensorReport): number => (Number.isNaN(t.sqnrDb) ? -Infinity : t.sqnrDb!); // NaN: worst of all
  const worst: TensorReport[] = [];
  for (const t of tensors) {
    if (t.sqnrDb === undefined || count <= 0) continue;
    if (worst.length === count && !(key(t) < key(worst[count - 1]!))) continue;
    let at = worst.length;
    while (at > 0 && key(t) < key(worst[at - 1]!)) at--;
    worst.splice(at, 0, t);
    if (worst.length > count) worst.pop();
  }
  return worst;
}

/**
 * The human summary: counts, sizes, ratio, backend, and the five worst tensors by SQNR.
 *
 * @example
 * ```ts
 * process.stdout.write(compressSummary('vad.onnx', 'vad.q8.onnx', report.tensors, report.totals, 'cpu', report.seconds));
 * ```
 */
export function compressSummary(input: string, output: string, tensors: TensorReport[], totals: { tensorsQuantized: number; tensorsKept: number;
  bytesBefore: number; bytesAfter: number; compressionRatio: number; tensorsEscalated?: number }, backend: string, seconds: number, fileBytes?: [number, number]): string {
  const worst = worstBySqnr(tensors, 5);
  const lines = [
    `${input} -> ${output}`,
    `tensors: ${totals.tensorsQuantized} quantized, ${totals.tensorsKept} kept${
      totals.tensorsEscalated ? `, ${totals.tensorsEscalated} escalated by the quality floor` : ''}`,
    `weights: ${megabytes(totals.bytesBefore)} -> ${megabytes(totals.bytesAfter)} (${totals.compressionRatio.toFixed(2)}x)`,
    ...(fileBytes ? [`file: ${megabytes(fileBytes[0])} -> ${megabytes(fileBytes[1])} (${(fileBytes[0] / fileBytes[1]).toFixed(2)}x)`] : []),
    `backend: ${backend}; ${seconds.toFixed(2)} s`,
    ...(worst.length ? ['worst tensors by SQNR:'] : []),
    ...worst.map((t) => `  ${t.sqnrDb!.toFixed(2).padStart(7)} dB  ${t.name}  [${t.shape.join(', ')}]  ${t.scheme}${
      t.escalations?.length ? `  (escalated: ${t.escalations.map((e) => `${e.from} ${e.reason}`).join('; ')})` : ''}`),
  ];
  return `${lines.join('\n')}\n`;
}
