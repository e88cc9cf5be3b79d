/**
 * Turns the bucket sums of one call into the {@link ErrorStats} it returns: the same code for the CPU
 * reference and the GPU path.
 *
 * @example
 * ```ts
 * const stats = assembleErrorStats(request, overall, perChannel, undefined, 'webgpu');
 * stats.perChannel?.mse.length; // the size of request.axis
 * ```
 * @module
 */
import type { ResolvedBackend } from '../tensor.js';
import type { ErrorStatsRequest } from './arguments.js';
import type { BucketSums } from './bucket-sums.js';
import type { ErrorStats } from './types.js';

/**
 * See the module documentation. `perChannel` / `perGroup` are given exactly when the request asks for them.
 * Of the request only the shape, the axes and whether there is a grid matter (sums combined from parts of a
 * tensor pass the whole tensor's).
 */
export function assembleErrorStats(
  request: Pick<ErrorStatsRequest, 'shape' | 'axis' | 'groupSize'> & { readonly quantized: { readonly kind: 'values' | 'grid' } }, overall: BucketSums, perChannel: BucketSums | undefined, perGroup: BucketSums | undefined,
  backend: ResolvedBackend,
): ErrorStats {
  const hasGrid = request.quantized.kind === 'grid';
  const stats: ErrorStats = { overall: overall.summary(0, hasGrid), backend };
  if (request.axis !== undefined) {
    stats.axis = request.axis;
    if (perChannel) stats.perChannel = perChannel.perIndex(hasGrid);
  }
  if (request.groupSize !== undefined && perGroup) {
    stats.groupSize = request.groupSize;
    const shape = [...request.shape];
    shape[request.axis!] = Math.ceil(shape[request.axis!]! / request.groupSize);
    stats.perGroup = { ...perGroup.perIndex(hasGrid), shape };
  }
  return stats;
}
