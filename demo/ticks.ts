// Axis ticks for the app's charts: steps of 1, 2 or 5 times a power of ten on a linear axis, whole decades
// (each labelled once) on a log axis, and labels with just the digits the step needs. No DOM here, so the
// unit tests check it directly.

/** An axis range and where its ticks go. On a log axis every value is log10 of the data. */
export interface Axis { lo: number; hi: number; step: number; ticks: number[]; log: boolean }

/**
 * The 1-2-5 step that splits `span` into at most `maxTicks` intervals.
 *
 * @example
 * ```ts
 * niceStep(48.7, 5); // 10
 * niceStep(0.0078, 4); // 0.002
 * ```
 */
export function niceStep(span: number, maxTicks: number): number {
  const rough = span / Math.max(1, maxTicks);
  if (!(rough > 0) || !Number.isFinite(rough)) return 1;
  const power = 10 ** Math.floor(Math.log10(rough));
  for (const m of [1, 2, 5, 10]) if (m * power >= rough * (1 - 1e-9)) return m * power;
  return 10 * power;
}

/** Multiples of `step` from `from` to `to`, computed from integers so 0.1·3 prints as 0.3. */
function multiples(from: number, to: number, step: number): number[] {
  const out: number[] = [];
  const first = Math.ceil(from / step - 1e-9);
  const last = Math.floor(to / step + 1e-9);
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  // `+ 0` turns -0 (from ceil of a tiny negative) into 0.
  for (let k = first; k <= last; k++) out.push((decimals > 0 ? Number((k * step).toFixed(Math.min(20, decimals))) : k * step) + 0);
  return out;
}

/**
 * A linear axis over [lo, hi]: `expand` widens the range to whole steps (value axes), otherwise the range is
 * kept and only the multiples inside it are ticked (an index axis). `integer` keeps steps ≥ 1.
 *
 * @example
 * ```ts
 * linearAxis(0, 48.7, 5).ticks; // [0, 10, 20, 30, 40, 50]
 * ```
 */
export function linearAxis(lo: number, hi: number, maxTicks: number, options: { expand?: boolean; integer?: boolean } = {}): Axis {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) { lo = 0; hi = 1; }
  if (hi - lo <= Math.abs(hi) * 1e-12) { const pad = Math.abs(lo) * 0.5 || 1; lo -= pad; hi += pad; }
  let step = niceStep(hi - lo, maxTicks);
  if (options.integer) step = Math.max(1, step);
  if (options.expand ?? true) {
    lo = Math.floor(lo / step + 1e-9) * step;
    hi = Math.ceil(hi / step - 1e-9) * step;
  }
  return { lo, hi, step, ticks: multiples(lo, hi, step), log: false };
}

/**
 * A log10 axis over positive data from `min` to `max`: the range is whole decades, and the ticks are distinct
 * decades (every k-th one when there are more than `maxTicks`).
 *
 * @example
 * ```ts
 * logAxis(3e-7, 8e-6, 6).ticks; // [-7, -6, -5]  (drawn as 1e-7, 1e-6, 1e-5)
 * ```
 */
export function logAxis(min: number, max: number, maxTicks: number): Axis {
  let lo = Math.floor(Math.log10(min));
  let hi = Math.ceil(Math.log10(max));
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) { lo = 0; hi = 1; }
  if (hi <= lo) hi = lo + 1;
  const step = Math.max(1, Math.ceil((hi - lo) / Math.max(1, maxTicks)));
  lo = Math.floor(lo / step) * step;
  hi = Math.ceil(hi / step) * step;
  return { lo, hi, step, ticks: multiples(lo, hi, step), log: true };
}

/**
 * A tick label: `1e-5` on a log axis; otherwise as many decimals as the step needs, or exponent notation for
 * very small or large values.
 *
 * @example
 * ```ts
 * formatTick(0.002, { step: 0.002, log: false }); // '0.002'
 * formatTick(-5, { step: 1, log: true }); // '1e-5'
 * ```
 */
export function formatTick(value: number, axis: Pick<Axis, 'step' | 'log'>): string {
  if (axis.log) return `1e${Math.round(value)}`;
  if (value === 0) return '0';
  const stepPower = Math.floor(Math.log10(axis.step) + 1e-9);
  const a = Math.abs(value);
  if (a >= 1e5 || stepPower < -4) return value.toExponential(Math.max(0, Math.floor(Math.log10(a) + 1e-9) - stepPower));
  return value.toFixed(Math.max(0, -stepPower));
}
