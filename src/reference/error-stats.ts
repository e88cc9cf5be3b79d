/**
 * The CPU reference for error statistics: float64 sums in element order, written for obviousness. The GPU
 * path (src/kernels/error-stats/error-stats-kernel.ts) is checked against it.
 * @module
 */
import type { QTensor } from '../qtensor.js';
import { checkErrorStatsArguments } from '../stats/arguments.js';
import { assembleErrorStats } from '../stats/assemble.js';
import { BucketSums } from '../stats/bucket-sums.js';
import { channelIndexMap, groupIndexMap, indexOf } from '../stats/index-map.js';
import { dequantizedValue, isClipped } from '../stats/quant-grid.js';
import type { ErrorStats, ErrorStatsOptions } from '../stats/types.js';
import type { Tensor } from '../tensor.js';

/**
 * CPU reference of `errorStats`: same arguments (minus backend options), synchronous. Each element's
 * x̂ is the dequantized value in float32 (the GPU dequantize contract, see `dequantizedValue`); e = x − x̂
 * and every sum are float64, accumulated in element order.
 *
 * @example
 * ```ts
 * import { reference, tensor } from 'webgpu-quant';
 * const s = reference.errorStats(tensor([1, 2, 3, 4]), tensor([1, 2, 3, 5]));
 * s.overall.mse;     // 0.25
 * s.overall.sqnrDb;  // 10 * Math.log10(30) = 14.771...
 * ```
 */
export function errorStats(original: Tensor, quantized: QTensor | Tensor, opts?: ErrorStatsOptions): ErrorStats {
  const request = checkErrorStatsArguments(original, quantized, opts);
  const { shape, axis, groupSize } = request;
  const overall = new BucketSums(1);
  const channelMap = axis === undefined ? undefined : channelIndexMap(shape, axis);
  const groupMap = axis === undefined || groupSize === undefined ? undefined : groupIndexMap(shape, axis, groupSize);
  const perChannel = channelMap && new BucketSums(channelMap.count);
  const perGroup = groupMap && new BucketSums(groupMap.count);
  const q = request.quantized;
  for (let i = 0; i < request.size; i++) {
    const x = request.original[i]!;
    let xh: number;
    let clipped = false;
    if (q.kind === 'values') {
      xh = q.data[i]!;
    } else {
      const p = indexOf(q.grid.map, i);
      xh = dequantizedValue(q.grid, p, q.ints[i]!);
      clipped = isClipped(q.grid, p, x);
    }
    overall.addElement(0, x, xh, clipped);
    if (perChannel) perChannel.addElement(indexOf(channelMap!, i), x, xh, clipped);
    if (perGroup) perGroup.addElement(indexOf(groupMap!, i), x, xh, clipped);
  }
  return assembleErrorStats(request, overall, perChannel, perGroup, 'cpu');
}
