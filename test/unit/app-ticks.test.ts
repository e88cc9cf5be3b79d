// The app's axis ticks (demo/ticks.ts): 1-2-5 steps on linear axes, distinct whole decades on log axes, and
// labels that never repeat, on fixed cases and on fresh random ranges.
import { describe, expect, it } from 'vitest';
import { formatTick, linearAxis, logAxis, niceStep } from '../../demo/ticks.js';
import { SQNR_BANDS, sqnrBand } from '../../demo/quality.js';

const seed = Date.now() >>> 0;
let state = seed;
const random = () => { state = (Math.imul(state, 1664525) + 1013904223) >>> 0; return state / 2 ** 32; };

function isNiceStep(step: number): boolean {
  const mantissa = step / 10 ** Math.floor(Math.log10(step) + 1e-9);
  return [1, 2, 5].some((m) => Math.abs(mantissa - m) < 1e-9);
}

describe('linear axes', () => {
  it('tick SQNR, scale and index ranges on round values', () => {
    expect(linearAxis(0, 48.7, 5).ticks).toEqual([0, 10, 20, 30, 40, 50]);
    expect(linearAxis(0, 0.00784, 4).ticks).toEqual([0, 0.002, 0.004, 0.006, 0.008]);
    expect(linearAxis(0, 257, 10, { expand: false, integer: true }).ticks).toEqual([0, 50, 100, 150, 200, 250]);
    expect(linearAxis(0, 3, 10, { expand: false, integer: true }).ticks).toEqual([0, 1, 2, 3]);
    expect(linearAxis(-0.31, 0.38, 5).ticks).toEqual([-0.4, -0.2, 0, 0.2, 0.4]);
    expect(niceStep(48.7, 5)).toBe(10);
    expect(niceStep(0.0078, 4)).toBe(0.002);
  });

  it('a constant range still gets an axis around it', () => {
    const axis = linearAxis(5, 5, 4);
    expect(axis.lo).toBeLessThan(5);
    expect(axis.hi).toBeGreaterThan(5);
    expect(axis.ticks.length).toBeGreaterThan(1);
  });

  it(`random ranges: 1-2-5 steps, the range covered, distinct labels (seed ${seed})`, () => {
    for (let trial = 0; trial < 2000; trial++) {
      const scale = 10 ** Math.floor(random() * 16 - 9);
      const a = (random() - 0.3) * scale;
      const b = a + random() * scale * 3 + scale * 1e-6;
      const maxTicks = 2 + Math.floor(random() * 8);
      const axis = linearAxis(a, b, maxTicks);
      expect(isNiceStep(axis.step), `step ${axis.step} for [${a}, ${b}]`).toBe(true);
      expect(axis.lo).toBeLessThanOrEqual(a);
      expect(axis.hi).toBeGreaterThanOrEqual(b);
      expect(axis.ticks.length).toBeLessThanOrEqual(maxTicks + 2);
      const labels = axis.ticks.map((t) => formatTick(t, axis));
      expect(new Set(labels).size, `labels ${labels.join(' ')} for [${a}, ${b}]`).toBe(labels.length);
      for (const [i, label] of labels.entries()) expect(Math.abs(Number(label) - axis.ticks[i]!)).toBeLessThanOrEqual(axis.step * 1e-6);
    }
  });
});

describe('log axes', () => {
  it('label each decade once', () => {
    const axis = logAxis(3e-7, 8e-6, 6);
    expect(axis.ticks).toEqual([-7, -6, -5]);
    expect(axis.ticks.map((t) => formatTick(t, axis))).toEqual(['1e-7', '1e-6', '1e-5']);
    // Within one decade: still two distinct labels, never 1e-5, 1e-5.
    const narrow = logAxis(2e-6, 3e-6, 6);
    expect(narrow.ticks.map((t) => formatTick(t, narrow))).toEqual(['1e-6', '1e-5']);
  });

  it(`random ranges: distinct whole decades covering the data (seed ${seed})`, () => {
    for (let trial = 0; trial < 2000; trial++) {
      const min = 10 ** (random() * 40 - 30);
      const max = min * 10 ** (random() * 20);
      const axis = logAxis(min, max, 2 + Math.floor(random() * 6));
      const labels = axis.ticks.map((t) => formatTick(t, axis));
      expect(new Set(labels).size).toBe(labels.length);
      expect(axis.ticks.every(Number.isInteger)).toBe(true);
      expect(axis.lo).toBeLessThanOrEqual(Math.log10(min) + 1e-9);
      expect(axis.hi).toBeGreaterThanOrEqual(Math.log10(max) - 1e-9);
    }
  });
});

describe('SQNR bands', () => {
  it('one table of thresholds, worst first, every value in exactly one band', () => {
    expect(SQNR_BANDS.map((b) => b.below)).toEqual([20, 30, Infinity]);
    expect([sqnrBand(-3), sqnrBand(19.99), sqnrBand(20), sqnrBand(29.99), sqnrBand(30), sqnrBand(Infinity)]).toEqual(['bad', 'bad', 'weak', 'weak', 'good', 'good']);
    expect(sqnrBand(undefined)).toBeUndefined();
    expect(sqnrBand(Number.NaN)).toBeUndefined();
  });
});
