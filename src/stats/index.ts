/**
 * Error statistics: how far quantized values are from the originals, overall, per channel and per group.
 *
 * @example
 * ```ts
 * import { errorStats, tensor } from 'webgpu-quant';
 * (await errorStats(tensor([1, 2, 3, 4]), tensor([1, 2, 3, 5]))).overall.mse; // 0.25
 * ```
 * @module
 */
export { errorStats } from './error-stats.js';
export type { ErrorStats, ErrorStatsOptions, ErrorStatsPerGroup, ErrorStatsPerIndex, ErrorStatsSummary } from './types.js';
