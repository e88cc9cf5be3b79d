/**
 * Workgroup counts for a 1-D job that respect `maxComputeWorkgroupsPerDimension`: past it the dispatch is
 * folded into 2-D, and shaders recover the linear index with `linear_invocation` (shaders/common/indexing.wgsl).
 *
 * @example
 * ```ts
 * dispatchSize(100_000_000, 256, 65535); // { x: 65535, y: 6, threadCount: 100_661_760 }
 * ```
 * @module
 */
import { LimitExceededError } from '../errors.js';

/** A dispatch grid and the number of invocations it launches (the stride of grid-stride loops). */
export interface DispatchSize { x: number; y: number; threadCount: number }

/** Grid for at least `threads` invocations in workgroups of `workgroupSize`. */
export function dispatchSize(threads: number, workgroupSize: number, maxPerDimension: number): DispatchSize {
  const groups = Math.max(1, Math.ceil(threads / workgroupSize));
  const x = Math.min(groups, maxPerDimension);
  const y = Math.ceil(groups / x);
  if (y > maxPerDimension) {
    throw new LimitExceededError(`a dispatch of ${groups} workgroups exceeds ${maxPerDimension}^2; process the tensor in smaller chunks`);
  }
  const threadCount = x * y * workgroupSize;
  if (threadCount > 2 ** 32 - 1) {
    throw new LimitExceededError(`a dispatch of ${threadCount} invocations exceeds the 32-bit index range; use smaller chunks`);
  }
  return { x, y, threadCount };
}
