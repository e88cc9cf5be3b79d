/**
 * Detects GPU error statistics that lost a bucket's squares to float32 underflow. The GPU sums prescaled float32
 * squares (src/kernels/error-stats); a bucket whose values lie far enough below the prescale (about 2^-63 of the
 * tensor's largest magnitude, or of the bound on its dequantized values) sums to zero there, although its errors
 * are not zero. Such statistics are computed again on the CPU, in float64.
 *
 * @example
 * ```ts
 * const stats = await errorStatsKernel(manager, request, {});
 * const exact = lostToUnderflow(stats) ? cpuErrorStats(request) : stats;
 * ```
 * @module
 */
import type { ErrorStats, ErrorStatsPerIndex } from './types.js';

/**
 * True when a bucket of `stats` (overall, per channel or per group) has a nonzero largest error but a mean
 * squared error of exactly 0, which only underflow gives.
 *
 * @example
 * ```ts
 * lostToUnderflow({ overall: { mse: 0, maxAbsError: 1e-31, sqnrDb: NaN, cosine: NaN, clipFraction: 0, count: 4 }, backend: 'webgpu' }); // true
 * ```
 */
export function lostToUnderflow(stats: Pick<ErrorStats, 'overall' | 'perChannel' | 'perGroup'>): boolean {
  const lost = (mse: number, maxAbsError: number) => mse === 0 && maxAbsError > 0;
  const anyLost = (buckets: ErrorStatsPerIndex | undefined) => {
    if (!buckets) return false;
    for (let i = 0; i < buckets.mse.length; i++) if (lost(buckets.mse[i]!, buckets.maxAbsError[i]!)) return true;
    return false;
  };
  return lost(stats.overall.mse, stats.overall.maxAbsError) || anyLost(stats.perChannel) || anyLost(stats.perGroup);
}
