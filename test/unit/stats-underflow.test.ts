// lostToUnderflow: a bucket with errors but a mean squared error of exactly 0 (only float32 underflow on the GPU
// gives that), overall, per channel or per group; zeros, exact results and non-finite buckets are not.
import { describe, expect, it } from 'vitest';
import type { ErrorStatsPerIndex, ErrorStatsSummary } from '../../src/stats/types.js';
import { lostToUnderflow } from '../../src/stats/underflow.js';

const summary = (mse: number, maxAbsError: number): ErrorStatsSummary => ({ mse, maxAbsError, sqnrDb: NaN, cosine: NaN, clipFraction: 0, count: 4 });
const perIndex = (mse: number[], maxAbsError: number[]): ErrorStatsPerIndex => ({
  mse: Float64Array.from(mse), maxAbsError: Float64Array.from(maxAbsError), sqnrDb: new Float64Array(mse.length),
  cosine: new Float64Array(mse.length), clipFraction: new Float64Array(mse.length), count: new Float64Array(mse.length).fill(4),
});

describe('lostToUnderflow', () => {
  it('flags a bucket with errors and a zero mean squared error, wherever it is', () => {
    expect(lostToUnderflow({ overall: summary(0, 1e-31) })).toBe(true);
    expect(lostToUnderflow({ overall: summary(1e-3, 0.1), perChannel: perIndex([1e-3, 0, 2e-3], [0.1, 2e-29, 0.2]) })).toBe(true);
    expect(lostToUnderflow({ overall: summary(1e-3, 0.1), perGroup: { ...perIndex([0], [5e-30]), shape: [1] } })).toBe(true);
  });

  it('leaves exact, empty, ordinary and non-finite buckets alone', () => {
    expect(lostToUnderflow({ overall: summary(0, 0) })).toBe(false); // x̂ = x
    expect(lostToUnderflow({ overall: summary(NaN, NaN) })).toBe(false); // empty
    expect(lostToUnderflow({ overall: summary(Infinity, Infinity) })).toBe(false);
    expect(lostToUnderflow({ overall: summary(1e-3, 0.1), perChannel: perIndex([1e-3, 0, 1e-40], [0.1, 0, 1e-20]) })).toBe(false);
  });
});
