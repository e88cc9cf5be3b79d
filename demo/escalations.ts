// The quality floor in the app: which weights the floor escalated (to a finer scheme, or kept float), each
// step with its reason as the library's report records it, and which quantized weights are weak (below the
// 'bad' SQNR band). The table marks those rows; the summary counts them.
import type { EscalationStep, TensorReport } from '../src/models.js';
import { SQNR_BANDS } from './quality.js';
import { type AnyReport, formatDb } from './report-view.js';

/** Below this SQNR a quantized weight is flagged weak: the bound of the 'bad' band. */
export const WEAK_BELOW_DB = SQNR_BANDS[0]!.below;

/**
 * A step in words without the weight's name, e.g. 'qint8 per tensor 9.4 dB < 25 dB floor → qint8 per channel 38.1 dB'.
 *
 * @example
 * ```ts
 * stepText('w', { text: 'w: qint8 per tensor 9.4 dB < 25 dB floor → qint8 per channel 38.1 dB', ... }); // 'qint8 per tensor 9.4 dB < …'
 * ```
 */
export function stepText(name: string, step: EscalationStep): string {
  const prefix = `${name}: `;
  return step.text.startsWith(prefix) ? step.text.slice(prefix.length) : `${step.from} ${step.reason} → ${step.to}`;
}

/** True when the floor escalated the weight (to a finer scheme or to float). */
export const escalated = (t: TensorReport) => (t.escalations?.length ?? 0) > 0;

/** True for a quantized weight below the 'bad' band. */
export const weak = (t: TensorReport) => t.action === 'quantize' && t.sqnrDb !== undefined && t.sqnrDb < WEAK_BELOW_DB;

/** The floor's counts over a report. */
export function floorCounts(report: AnyReport): { escalated: number; keptByFloor: number; weak: number } {
  let up = 0;
  let kept = 0;
  let low = 0;
  for (const t of report.tensors) {
    if (escalated(t)) { if (t.action === 'keep') kept++; else up++; }
    if (weak(t)) low++;
  }
  return { escalated: up, keptByFloor: kept, weak: low };
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * The summary line of the floor, e.g. '3 weights escalated, 1 kept float by the floor'.
 *
 * @example
 * ```ts
 * floorSummary(report, undefined); // 'default (25 dB 8-bit, 15 dB 4-bit): 3 weights escalated, 1 kept float by the floor'
 * floorSummary(report, -Infinity);  // 'off: 6 weights below 20 dB (weak)'
 * ```
 */
export function floorSummary(report: AnyReport, minSqnrDb: number | undefined): string {
  const { escalated: up, keptByFloor, weak: low } = floorCounts(report);
  const floor = minSqnrDb === undefined ? 'default (25 dB 8-bit, 15 dB 4-bit)' : minSqnrDb === -Infinity ? 'off' : `${minSqnrDb} dB`;
  const moved: string[] = [];
  if (up) moved.push(`${plural(up, 'weight')} escalated`);
  if (keptByFloor) moved.push(`${up ? keptByFloor : plural(keptByFloor, 'weight')} kept float by the floor`);
  const parts = [moved.join(', ') || (minSqnrDb === -Infinity ? '' : 'no weight escalated')];
  if (low) parts.push(`${plural(low, 'weight')} below ${WEAK_BELOW_DB} dB (weak)`);
  return `${floor}: ${parts.filter(Boolean).join('; ') || `no weight below ${WEAK_BELOW_DB} dB`}`;
}

/** The flags at the start of a row's name: ⤴ escalated, ⚠ weak; each with its reason as a tooltip. */
export function rowFlags(t: TensorReport): HTMLElement[] {
  const flags: HTMLElement[] = [];
  if (escalated(t)) {
    const flag = document.createElement('span');
    flag.className = 'flag flag-escalated';
    flag.textContent = t.action === 'keep' ? '⤴ float' : '⤴';
    flag.title = t.escalations!.map((s) => stepText(t.name, s)).join('\n');
    flag.setAttribute('aria-label', `escalated by the quality floor: ${flag.title}`);
    flags.push(flag);
  }
  if (weak(t)) {
    const flag = document.createElement('span');
    flag.className = 'flag flag-weak';
    flag.textContent = '⚠';
    flag.title = `weak: ${formatDb(t.sqnrDb)} < ${WEAK_BELOW_DB} dB, likely to hurt accuracy`;
    flag.setAttribute('aria-label', flag.title);
    flags.push(flag);
  }
  return flags;
}

/** The escalation steps under a row's scheme, as a disclosure ('escalated: 1 step'), or nothing. */
export function escalationDetails(t: TensorReport): HTMLDetailsElement | undefined {
  if (!escalated(t)) return undefined;
  const details = document.createElement('details');
  details.className = 'escalations';
  const summary = document.createElement('summary');
  summary.textContent = t.action === 'keep' ? 'kept float by the quality floor' : `escalated by the quality floor (${plural(t.escalations!.length, 'step')})`;
  const list = document.createElement('ol');
  for (const step of t.escalations!) {
    const item = document.createElement('li');
    item.textContent = stepText(t.name, step);
    list.append(item);
  }
  details.append(summary, list);
  return details;
}
