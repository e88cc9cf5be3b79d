/**
 * The result types of {@link errorStats} and of its CPU reference. Definitions of every field (with
 * e = x − x̂, x the original value and x̂ the dequantized one):
 *
 * | field | definition | special cases |
 * | --- | --- | --- |
 * | `mse` | Σe² / n | NaN when n = 0 |
 * | `maxAbsError` | max \|e\| | |
 * | `sqnrDb` | 10·log10(Σx² / Σe²) | +Infinity when x̂ = x exactly; −Infinity when x is all zeros and x̂ is not |
 * | `cosine` | Σx·x̂ / sqrt(Σx²·Σx̂²), clamped to [−1, 1] | 1 when x̂ = x exactly (both all zero included); 0 when exactly one of x, x̂ is all zeros |
 * | `clipFraction` | clipped / n | NaN when `quantized` is a plain Tensor (no grid) |
 * | `count` | n, the elements in the bucket | |
 *
 * An element is clipped when quantizing it with the QTensor's parameters saturates: the pre-clamp value
 * `fround(fround(zp) + roundHalfEven(fround(x · fround(1 / fround(scale)))))` lies below qmin or above qmax
 * (±Infinity in the original count as clipped). It depends on `original` and the parameters only.
 * A bucket holding an infinite x or x̂ has `mse` and `maxAbsError` +Infinity and `sqnrDb` and `cosine`
 * NaN. An empty bucket has every statistic NaN and `count` 0.
 *
 * @example
 * ```ts
 * const s: ErrorStats = await errorStats(tensor([1, 2, 3, 4]), tensor([1, 2, 3, 5]));
 * s.overall.mse; // 0.25
 * ```
 * @module
 */
import type { ResolvedBackend } from '../tensor.js';

/** Which statistics to compute besides the overall ones. */
export interface ErrorStatsOptions {
  /** Also compute statistics per index along this axis (negative counts from the end). */
  axis?: number;
  /** With `axis`: also per block of `groupSize` positions along the axis (ONNX opset-21 block layout). */
  groupSize?: number;
}

/** Statistics of one set of elements (see the module documentation for the definitions). */
export interface ErrorStatsSummary {
  mse: number;
  maxAbsError: number;
  sqnrDb: number;
  cosine: number;
  clipFraction: number;
  count: number;
}

/** The same statistics for many buckets, one entry per bucket. */
export interface ErrorStatsPerIndex {
  mse: Float64Array;
  maxAbsError: Float64Array;
  sqnrDb: Float64Array;
  cosine: Float64Array;
  clipFraction: Float64Array;
  count: Float64Array;
}

/** Per-group statistics, laid out like per-group quantization parameters. */
export interface ErrorStatsPerGroup extends ErrorStatsPerIndex {
  /**
   * The input shape with the axis dimension replaced by `ceil(n / groupSize)`. Entry `(o * G + g) * inner + k`
   * is group `g` at outer position `o` and inner position `k` (row-major in this shape).
   */
  shape: number[];
}

/** What {@link errorStats} returns. */
export interface ErrorStats {
  overall: ErrorStatsSummary;
  /** With `axis`: one entry per index along the axis. */
  perChannel?: ErrorStatsPerIndex;
  /** With `axis` and `groupSize`: one entry per group. */
  perGroup?: ErrorStatsPerGroup;
  /** The axis used (non-negative), when one was given. */
  axis?: number;
  groupSize?: number;
  /** Which backend computed the statistics. */
  backend: ResolvedBackend;
}
