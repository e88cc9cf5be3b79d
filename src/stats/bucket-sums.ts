/**
 * Running sums per bucket (float64), and the one place where sums become statistics. The CPU reference adds
 * elements; the GPU host code adds the per-invocation partial sums the shader writes. Both then call
 * {@link BucketSums.summary} / {@link BucketSums.perIndex}, so the definitions (including every special
 * case, documented in `types.ts`) cannot drift apart.
 *
 * @example
 * ```ts
 * const sums = new BucketSums(1);
 * [[1, 1], [2, 2], [3, 3], [4, 5]].forEach(([x, xh]) => sums.addElement(0, x, xh, false));
 * sums.summary(0, false); // { mse: 0.25, maxAbsError: 1, sqnrDb: 14.77..., cosine: 0.99399..., clipFraction: NaN, count: 4 }
 * ```
 * @module
 */
import type { ErrorStatsPerIndex, ErrorStatsSummary } from './types.js';

/** See the module documentation. All arrays have one entry per bucket. */
export class BucketSums {
  readonly count: Float64Array;
  readonly sumSquaredError: Float64Array;
  readonly sumSquaredOriginal: Float64Array;
  readonly sumSquaredDequantized: Float64Array;
  readonly sumProduct: Float64Array;
  readonly maxAbsError: Float64Array;
  readonly clipped: Float64Array;
  /** Elements whose x or x̂ is ±Infinity: left out of the sums, they make the bucket's statistics non-finite. */
  readonly nonFinite: Float64Array;

  constructor(readonly size: number) {
    this.count = new Float64Array(size);
    this.sumSquaredError = new Float64Array(size);
    this.sumSquaredOriginal = new Float64Array(size);
    this.sumSquaredDequantized = new Float64Array(size);
    this.sumProduct = new Float64Array(size);
    this.maxAbsError = new Float64Array(size);
    this.clipped = new Float64Array(size);
    this.nonFinite = new Float64Array(size);
  }

  /** The seven sums of a bucket (its count aside), in the order the CPU kernel and its carries keep them. */
  static readonly SUMS = ['sumSquaredError', 'sumSquaredOriginal', 'sumSquaredDequantized', 'sumProduct', 'maxAbsError', 'clipped', 'nonFinite'] as const;

  /** Sets bucket `bucket`'s sums (not its count) to `values`, in {@link BucketSums.SUMS} order. */
  setBucket(bucket: number, values: ArrayLike<number>): void {
    BucketSums.SUMS.forEach((k, i) => { this[k][bucket] = values[i]!; });
  }

  /** Sets the sums (not the counts) of buckets `at`, `at + 1`, … to those of `from`'s buckets. */
  setSums(from: BucketSums, at = 0): void {
    for (const k of BucketSums.SUMS) this[k].set(from[k], at);
  }

  /** Adds one element (float64 arithmetic): original `x`, dequantized `xh`. */
  addElement(bucket: number, x: number, xh: number, clipped: boolean): void {
    this.count[bucket]!++;
    if (clipped) this.clipped[bucket]!++;
    if (!Number.isFinite(x) || !Number.isFinite(xh)) {
      this.nonFinite[bucket]!++;
      return;
    }
    const e = x - xh;
    this.sumSquaredError[bucket]! += e * e;
    this.sumSquaredOriginal[bucket]! += x * x;
    this.sumSquaredDequantized[bucket]! += xh * xh;
    this.sumProduct[bucket]! += x * xh;
    this.maxAbsError[bucket] = Math.max(this.maxAbsError[bucket]!, Math.abs(e));
  }

  /**
   * Adds one partial result: the sums of `count` elements (Σe², Σx², Σx̂², Σx·x̂ at `sums[offset..offset+3]`),
   * their max |e|, and how many of them were clipped or non-finite.
   */
  addPartial(
    bucket: number, sums: ArrayLike<number>, offset: number, maxAbsError: number, clipped: number, nonFinite: number, count: number,
  ): void {
    this.count[bucket]! += count;
    this.clipped[bucket]! += clipped;
    this.nonFinite[bucket]! += nonFinite;
    this.sumSquaredError[bucket]! += sums[offset]!;
    this.sumSquaredOriginal[bucket]! += sums[offset + 1]!;
    this.sumSquaredDequantized[bucket]! += sums[offset + 2]!;
    this.sumProduct[bucket]! += sums[offset + 3]!;
    this.maxAbsError[bucket] = Math.max(this.maxAbsError[bucket]!, maxAbsError);
  }

  /** Multiplies the sums by `factor ** 2` and max |e| by `factor` (a power of two: exact). */
  rescale(factor: number): void {
    const squared = factor * factor;
    for (let b = 0; b < this.size; b++) {
      this.sumSquaredError[b]! *= squared;
      this.sumSquaredOriginal[b]! *= squared;
      this.sumSquaredDequantized[b]! *= squared;
      this.sumProduct[b]! *= squared;
      this.maxAbsError[b]! *= factor;
    }
  }

  /** The statistics of one bucket; `hasGrid` is false when there are no quantization parameters (clipFraction NaN). */
  summary(bucket: number, hasGrid: boolean): ErrorStatsSummary {
    const count = this.count[bucket]!;
    const clipFraction = hasGrid && count > 0 ? this.clipped[bucket]! / count : NaN;
    if (count === 0) return { mse: NaN, maxAbsError: NaN, sqnrDb: NaN, cosine: NaN, clipFraction, count };
    if (this.nonFinite[bucket]! > 0) return { mse: Infinity, maxAbsError: Infinity, sqnrDb: NaN, cosine: NaN, clipFraction, count };
    const sumE2 = this.sumSquaredError[bucket]!;
    const sumX2 = this.sumSquaredOriginal[bucket]!;
    const sumXh2 = this.sumSquaredDequantized[bucket]!;
    const maxAbsError = this.maxAbsError[bucket]!;
    const exact = maxAbsError === 0;
    let cosine: number;
    if (exact) cosine = 1;
    else if (sumX2 === 0 || sumXh2 === 0) cosine = sumX2 === sumXh2 ? 1 : 0;
    else cosine = Math.min(1, Math.max(-1, this.sumProduct[bucket]! / (Math.sqrt(sumX2) * Math.sqrt(sumXh2))));
    return {
      mse: sumE2 / count,
      maxAbsError,
      sqnrDb: exact ? Infinity : 10 * Math.log10(sumX2 / sumE2),
      cosine,
      clipFraction,
      count,
    };
  }

  /** The statistics of every bucket, as parallel arrays. */
  perIndex(hasGrid: boolean): ErrorStatsPerIndex {
    const out: ErrorStatsPerIndex = {
      mse: new Float64Array(this.size), maxAbsError: new Float64Array(this.size), sqnrDb: new Float64Array(this.size),
      cosine: new Float64Array(this.size), clipFraction: new Float64Array(this.size), count: new Float64Array(this.size),
    };
    for (let b = 0; b < this.size; b++) {
      const s = this.summary(b, hasGrid);
      out.mse[b] = s.mse;
      out.maxAbsError[b] = s.maxAbsError;
      out.sqnrDb[b] = s.sqnrDb;
      out.cosine[b] = s.cosine;
      out.clipFraction[b] = s.clipFraction;
      out.count[b] = s.count;
    }
    return out;
  }
}
