// The SQNR bands the app colours by: one table, used by the tensor table, the charts, the scheme comparison
// and the legend. Rough guidance, not a guarantee: what a model tolerates depends on the model, so the
// app shows the numbers as well and a model should still be checked on its own task.

export type SqnrBand = 'bad' | 'weak' | 'good';

/** From the worst band up: a value below `below` dB falls in the first band whose bound it is under. */
export const SQNR_BANDS: readonly { band: SqnrBand; below: number; label: string }[] = [
  { band: 'bad', below: 20, label: 'below 20 dB: likely to hurt accuracy' },
  { band: 'weak', below: 30, label: '20–30 dB: check the model on its task' },
  { band: 'good', below: Infinity, label: '30 dB or more: usually safe' },
];

/**
 * The band of an SQNR value in dB; `undefined` for a missing or NaN value (nothing to judge).
 *
 * @example
 * ```ts
 * sqnrBand(18.2); // 'bad'
 * sqnrBand(Infinity); // 'good' (exact)
 * ```
 */
export function sqnrBand(db: number | undefined): SqnrBand | undefined {
  if (db === undefined || Number.isNaN(db)) return undefined;
  return (SQNR_BANDS.find((b) => db < b.below) ?? SQNR_BANDS[SQNR_BANDS.length - 1]!).band;
}

/** The CSS custom property holding a band's colour (defined in style.css for light and dark). */
export const bandColourVar = (band: SqnrBand) => `--band-${band}`;

/** The legend: a swatch and a label per band. */
export function bandLegend(): HTMLElement {
  const list = document.createElement('ul');
  list.className = 'legend';
  for (const b of SQNR_BANDS) {
    const item = document.createElement('li');
    const swatch = document.createElement('span');
    swatch.className = `swatch band-${b.band}`;
    item.append(swatch, b.label);
    list.append(item);
  }
  return list;
}
