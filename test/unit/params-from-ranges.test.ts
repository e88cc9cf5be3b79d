// The uniform of the device's parameter kernel (shaders/calibration/minmax_to_params.wgsl) must carry the
// host's own divisors and zero points: qparamsFromMinMax's fround(qmax - qmin) and fround((qmax - qmin) / 2),
// and signedExtremeCandidate's half and zero points.
import { describe, expect, it } from 'vitest';
import { signedExtremeCandidate } from '../../src/calibration/qparams.js';
import { RANGE_PARAMS, paramsFromRangesCovers, rangeParamsUniform } from '../../src/kernels/weight/params-from-ranges.js';
import { ROUND_BITS } from '../../src/kernels/elementwise/scheme-params.js';

function fields(bytes: ArrayBuffer): Record<string, number> {
  const view = new DataView(bytes);
  const out: Record<string, number> = {};
  RANGE_PARAMS.fields.forEach(([name, type], i) => { out[name] = type === 'i32' ? view.getInt32(4 * i, true) : view.getUint32(4 * i, true); });
  return out;
}

function bitsOf(value: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, value, true);
  return view.getUint32(0, true);
}

describe('rangeParamsUniform', () => {
  const clamp = { qmin: -128, qmax: 127 };
  it('affine and symmetric min/max: the observer formulas\' float32 divisors, the range and its zero point', () => {
    for (const [qmin, qmax, zero] of [[-128, 127, 0], [0, 255, 128], [-127, 127, 0], [-8, 7, 0], [0, 15, 8], [3, 200, 101]] as const) {
      const range = { qmin, qmax, symmetricZeroPoint: zero };
      const affine = fields(rangeParamsUniform({ rule: { kind: 'minmax', range, symmetric: false }, outputs: 5, clamp, rowsTable: true, span: 512 }));
      expect(affine).toMatchObject({ rule: 0, qmin, qmax, divisor: bitsOf(Math.fround(qmax - qmin)), outputs: 5, table_rows: 8, rows_table: 1, span: 512, round_bits: ROUND_BITS });
      const symmetric = fields(rangeParamsUniform({ rule: { kind: 'minmax', range, symmetric: true }, outputs: 4, clamp, rowsTable: false, span: 32 }));
      expect(symmetric).toMatchObject({ rule: 1, divisor: bitsOf(Math.fround((qmax - qmin) / 2)), zero_point: zero, table_rows: 4, rows_table: 0 });
    }
  });

  it('the extreme rule: half and the two zero points of signedExtremeCandidate', () => {
    for (const [qmin, qmax] of [[-128, 127], [0, 255], [-8, 7], [0, 15]] as const) {
      const u = fields(rangeParamsUniform({ rule: { kind: 'extreme', qmin, qmax }, outputs: 1, clamp, rowsTable: true, span: 32 }));
      const range = { qmin, qmax, symmetricZeroPoint: 0 };
      const half = Math.floor((qmax - qmin + 1) / 2);
      expect(u.rule).toBe(2);
      expect(u.divisor).toBe(bitsOf(half));
      expect(u.zero_point).toBe(signedExtremeCandidate(-2, 1, range).zeroPoint);
      expect(u.positive_zero_point).toBe(signedExtremeCandidate(-1, 2, range).zeroPoint);
    }
  });

  it('covers the 8- and 4-bit ranges, not spans past 2^19 or empty ranges', () => {
    const range = { qmin: -128, qmax: 127, symmetricZeroPoint: 0 };
    expect(paramsFromRangesCovers({ kind: 'minmax', range, symmetric: false }, 512)).toBe(true);
    expect(paramsFromRangesCovers({ kind: 'extreme', qmin: -8, qmax: 7 }, 32)).toBe(true);
    expect(paramsFromRangesCovers({ kind: 'minmax', range, symmetric: false }, 2 ** 33)).toBe(false);
    expect(paramsFromRangesCovers({ kind: 'minmax', range: { qmin: 5, qmax: 5, symmetricZeroPoint: 5 }, symmetric: false }, 512)).toBe(false);
  });
});
