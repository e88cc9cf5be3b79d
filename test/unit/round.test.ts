// roundHalfEven and quantizeValue: the scalar core of the CPU reference.
import { describe, expect, it } from 'vitest';
import { dtypeInfo, reference } from '../../src/index.js';

const { roundHalfEven, quantizeValue } = reference;
const f = Math.fround;
/** The float32 reciprocal the kernels and the reference multiply by. */
const inv = (scale: number) => f(1 / f(scale));

function same(actual: number, expected: number): void {
  expect(Object.is(actual, expected), `got ${Object.is(actual, -0) ? '-0' : actual}, expected ${Object.is(expected, -0) ? '-0' : expected}`)
    .toBe(true);
}

describe('roundHalfEven', () => {
  it.each([
    [0.5, 0], [1.5, 2], [2.5, 2], [3.5, 4], [-1.5, -2], [-2.5, -2], [-3.5, -4], [127.5, 128], [-128.5, -128],
    [8388607.5, 8388608], [-8388606.5, -8388606],
  ])('rounds the tie %d to the even %d', (x, want) => same(roundHalfEven(x), want));

  it('returns +0 (not -0) for -0.5: ties go to the even floor + 1 = 0, whose sign is lost', () => {
    // IEEE roundTiesToEven / nearbyint would give -0; the sign cannot matter downstream because quantizeValue
    // adds the zero point (0 + -0 = +0) and stores into an integer array.
    same(roundHalfEven(-0.5), 0);
  });

  it('keeps the sign of ±0 and returns +0 for small negatives', () => {
    same(roundHalfEven(0), 0);
    same(roundHalfEven(-0), -0);
    same(roundHalfEven(-0.3), 0);
    same(roundHalfEven(0.3), 0);
  });

  it.each([
    [0.49999999999999994, 0], [0.5000000000000001, 1], [1.4999999999999998, 1], [2.5000000000000004, 3],
    [-0.7, -1], [-1.2, -1], [-2.6, -3], [2.4, 2], [2.6, 3], [1e-300, 0], [-1e-300, 0], [7, 7], [-7, -7],
  ])('rounds the non-tie %d to the nearest %d', (x, want) => same(roundHalfEven(x), want));

  it('handles ties where the double spacing is 0.5 (2^51 .. 2^52)', () => {
    same(roundHalfEven(2 ** 52 - 0.5), 2 ** 52); // floor 2^52 - 1 is odd
    same(roundHalfEven(2 ** 52 - 1.5), 2 ** 52 - 2);
    same(roundHalfEven(2 ** 51 + 0.5), 2 ** 51);
    same(roundHalfEven(-(2 ** 51 + 0.5)), -(2 ** 51));
    same(roundHalfEven(-(2 ** 52 - 0.5)), -(2 ** 52));
  });

  it('returns values >= 2^52 unchanged (they are integers)', () => {
    for (const x of [2 ** 52, 2 ** 52 + 1, 2 ** 53, 2 ** 53 + 2, 1e17, 3.4028234663852886e38, Number.MAX_VALUE]) {
      same(roundHalfEven(x), x);
      same(roundHalfEven(-x), -x);
    }
  });

  it('returns ±Infinity and NaN unchanged', () => {
    same(roundHalfEven(Infinity), Infinity);
    same(roundHalfEven(-Infinity), -Infinity);
    expect(roundHalfEven(NaN)).toBeNaN();
  });

  it('rounds every k + 0.5 to the even neighbour and k ± 0.25 to k for k in [-300, 300]', () => {
    for (let k = -300; k <= 300; k++) {
      same(roundHalfEven(k + 0.5), k % 2 === 0 ? k : k + 1);
      same(roundHalfEven(k + 0.25), k);
      same(roundHalfEven(k - 0.25), k);
    }
  });
});

describe('quantizeValue', () => {
  const qint8 = dtypeInfo('qint8');
  const quint8 = dtypeInfo('quint8');
  const qint32 = dtypeInfo('qint32');

  it('maps NaN to qmin and ±Infinity to qmax / qmin, for every dtype', () => {
    for (const info of [qint8, quint8, qint32]) {
      for (const zeroPoint of [info.qmin, 0 < info.qmin ? info.qmin : 0, info.qmax]) {
        same(quantizeValue(NaN, 2, zeroPoint, info.qmin, info.qmax), info.qmin);
        same(quantizeValue(Infinity, 2, zeroPoint, info.qmin, info.qmax), info.qmax);
        same(quantizeValue(-Infinity, 2, zeroPoint, info.qmin, info.qmax), info.qmin);
      }
    }
  });

  it('maps ±0 to the zero point (as +0 when the zero point is 0)', () => {
    same(quantizeValue(-0, 3, 0, -128, 127), 0);
    same(quantizeValue(0, 3, 0, -128, 127), 0);
    same(quantizeValue(-0, 3, -7, -128, 127), -7);
    same(quantizeValue(-0, 3, 77, 0, 255), 77);
    same(quantizeValue(-0, 3, 99999, qint32.qmin, qint32.qmax), 99999);
  });

  it('rounds ties at k + 0.5 to even before adding the zero point', () => {
    same(quantizeValue(0.5, 1, 0, -128, 127), 0);
    same(quantizeValue(1.5, 1, 0, -128, 127), 2);
    same(quantizeValue(2.5, 1, 0, -128, 127), 2);
    same(quantizeValue(-0.5, 1, 0, -128, 127), 0);
    same(quantizeValue(-1.5, 1, 0, -128, 127), -2);
    same(quantizeValue(-2.5, 1, 0, -128, 127), -2);
    same(quantizeValue(0.25, 2, 5, -128, 127), 5); // 0.5 -> 0, + 5
    same(quantizeValue(0.75, 2, 5, -128, 127), 7); // 1.5 -> 2, + 5
    same(quantizeValue(0.5, 1, 1, -128, 127), 1); // the rounding happens before the + 1: not round(1.5) = 2
  });

  it('saturates at qmin and qmax', () => {
    same(quantizeValue(12.7, inv(0.1), 0, -128, 127), 127);
    same(quantizeValue(f(12.8), inv(0.1), 0, -128, 127), 127);
    same(quantizeValue(f(-12.8), inv(0.1), 0, -128, 127), -128);
    same(quantizeValue(f(-12.9), inv(0.1), 0, -128, 127), -128);
    same(quantizeValue(1e17, 1, 0, -128, 127), 127);
    same(quantizeValue(-1, 1, 0, 0, 255), 0);
    same(quantizeValue(256, 1, 0, 0, 255), 255);
    same(quantizeValue(-1, 1, 200, 0, 255), 199);
    same(quantizeValue(100, 1, 200, 0, 255), 255);
    same(quantizeValue(3e38, 1, 0, qint32.qmin, qint32.qmax), qint32.qmax);
    same(quantizeValue(-3e38, 1, 0, qint32.qmin, qint32.qmax), qint32.qmin);
    same(quantizeValue(f(3e38), f(3e38), 0, -128, 127), 127); // the product overflows float32 to +Infinity
  });

  it('rounds the zero point to float32: qint32 zp 16777217 with x = 0 gives 16777216 (as torch)', () => {
    same(quantizeValue(0, 1, 16777217, qint32.qmin, qint32.qmax), 16777216);
    same(quantizeValue(-0, 1, 16777217, qint32.qmin, qint32.qmax), 16777216);
    same(quantizeValue(3, 1, 16777217, qint32.qmin, qint32.qmax), 16777220); // fround(16777216 + 3): a tie, to even
  });

  it('multiplies by the float32 reciprocal instead of dividing (pins where the two differ)', () => {
    // x / scale = 127.49999..., x * fround(1 / fround(scale)) = 127.5 exactly, a tie that goes to 128.
    const scale1 = f(0.00214854861);
    const x1 = f(0.273939937);
    expect(f(x1 / scale1)).toBeLessThan(127.5);
    same(quantizeValue(x1, inv(scale1), 0, qint32.qmin, qint32.qmax), 128);
    // x / scale = 168.50001..., the reciprocal product is the tie 168.5, which goes to 168.
    const x2 = f(5.6166672706604);
    expect(f(x2 / f(1 / 30))).toBeGreaterThan(168.5);
    same(quantizeValue(x2, inv(1 / 30), 0, qint32.qmin, qint32.qmax), 168);
  });
});
