// The size budget in the app: the allocator's choice per weight (shown in the tensor table under the scheme)
// and the achieved average bits against the target (in the summary). Every number is the report's.
import type { BudgetAllocation, TensorReport } from '../src/models.js';
import type { AnyReport } from './report-view.js';

/** The report's budget allocation, when the run had a target (ONNX reports carry it; the worker adds it to safetensors ones). */
export function budgetOf(report: AnyReport | undefined): BudgetAllocation | undefined {
  return (report as { budget?: BudgetAllocation } | undefined)?.budget;
}

/**
 * The summary line, e.g. '4.97 of 5 (minimum 4.56) · 12 int8 per channel, 20 int4 groups of 32, 4 keep'.
 *
 * @example
 * ```ts
 * budgetSummary(report.budget); // '4.97 of 5 (minimum 4.56) · 24 int4 groups of 32, 9 int8 per channel'
 * ```
 */
export function budgetSummary(budget: BudgetAllocation): string {
  const counts = new Map<string, number>();
  for (const t of budget.tensors) counts.set(t.chosen, (counts.get(t.chosen) ?? 0) + 1);
  const mix = [...counts].sort((a, b) => b[1] - a[1]).map(([chosen, n]) => `${n} ${chosen === 'keep' ? 'kept float' : chosen}`).join(', ');
  return `${budget.bits.toFixed(2)} of ${budget.targetBits} (minimum ${budget.minimumBits.toFixed(2)}) · ${mix}`;
}

/** The allocation line under a row's scheme, e.g. 'budget: int4 groups of 32, 4.63 bits', or nothing. */
export function allocationNote(t: TensorReport, budget: BudgetAllocation | undefined): HTMLElement | undefined {
  const allocation = budget?.tensors.find((a) => a.name === t.name);
  if (!allocation) return undefined;
  const note = document.createElement('small');
  note.className = 'allocation';
  note.dataset.chosen = allocation.chosen;
  note.textContent = `budget: ${allocation.chosen === 'keep' ? 'kept float' : allocation.chosen}, ${allocation.bits.toFixed(2)} bits`;
  return note;
}
