/**
 * Error statistics on the CPU, bit for bit as the reference (src/reference/error-stats.ts): the same float64
 * sums in the same element order, the same x̂ and clipping test, with the per-element parameter and bucket
 * indices kept by counters instead of divisions, and each scheme's rounding inlined.
 *
 * @example
 * ```ts
 * cpuErrorStats(checkErrorStatsArguments(w, q, { axis: 0 })).perChannel!.sqnrDb; // Float64Array, one per row
 * ```
 * @module
 */
import { assembleErrorStats } from '../../stats/assemble.js';
import type { ErrorStatsRequest } from '../../stats/arguments.js';
import { BucketSums } from '../../stats/bucket-sums.js';
import { type IndexMap, channelIndexMap, groupIndexMap } from '../../stats/index-map.js';
import type { ErrorStats } from '../../stats/types.js';
import { roundHalfEven } from '../../round.js';

/** The index of consecutive elements under an IndexMap, advanced one element at a time without division. */
class IndexCursor {
  index: number;
  #k = 0;
  #a = 0;
  #inGroup = 0;
  #outerBase = 0;
  #groupBase = 0;
  readonly #map: IndexMap;

  constructor(map: IndexMap) {
    this.#map = map;
    this.index = 0;
  }

  next(): void {
    const map = this.#map;
    if (++this.#k < map.inner) {
      this.index += map.strideInner;
      return;
    }
    this.#k = 0;
    if (++this.#a === map.axisLen) {
      this.#a = 0;
      this.#inGroup = 0;
      this.#groupBase = 0;
      this.#outerBase += map.strideOuter;
    } else if (++this.#inGroup === map.groupSize) {
      this.#inGroup = 0;
      this.#groupBase += map.strideGroup;
    }
    this.index = this.#outerBase + this.#groupBase;
  }
}

/**
 * `errorStats` of a checked request, on the CPU.
 *
 * @example
 * ```ts
 * cpuErrorStats(checkErrorStatsArguments(tensor([1, 2, 3, 4]), tensor([1, 2, 3, 5]))).overall.mse; // 0.25
 * ```
 */
export function cpuErrorStats(request: ErrorStatsRequest): ErrorStats {
  const { shape, axis, groupSize, size, original } = request;
  const overall = new BucketSums(1);
  const channelMap = axis === undefined ? undefined : channelIndexMap(shape, axis);
  const groupMap = axis === undefined || groupSize === undefined ? undefined : groupIndexMap(shape, axis, groupSize);
  const perChannel = channelMap && new BucketSums(channelMap.count);
  const perGroup = groupMap && new BucketSums(groupMap.count);
  const channel = channelMap && new IndexCursor(channelMap);
  const group = groupMap && new IndexCursor(groupMap);
  const q = request.quantized;
  if (q.kind === 'values') {
    for (let i = 0; i < size; i++) {
      const x = original[i]!;
      const xh = q.data[i]!;
      overall.addElement(0, x, xh, false);
      if (perChannel) { perChannel.addElement(channel!.index, x, xh, false); channel!.next(); }
      if (perGroup) { perGroup.addElement(group!.index, x, xh, false); group!.next(); }
    }
    return assembleErrorStats(request, overall, perChannel, perGroup, 'cpu');
  }
  const { grid, ints } = q;
  const { scales, inverseScales, zeroPoints, integerSubtract, qmin, qmax } = grid;
  const param = new IndexCursor(grid.map);
  for (let i = 0; i < size; i++) {
    const x = original[i]!;
    const p = param.index;
    param.next();
    const value = ints[i]!;
    const zeroPoint = zeroPoints[p]!;
    // dequantizedValue and isClipped (src/stats/quant-grid.ts), inlined.
    const difference = integerSubtract ? Math.fround((value - zeroPoint) | 0) : Math.fround(Math.fround(value) - Math.fround(zeroPoint));
    const xh = Math.fround(difference * scales[p]!);
    const preClamp = Math.fround(Math.fround(zeroPoint) + roundHalfEven(Math.fround(x * inverseScales[p]!)));
    const clipped = preClamp < qmin || preClamp > qmax;
    overall.addElement(0, x, xh, clipped);
    if (perChannel) { perChannel.addElement(channel!.index, x, xh, clipped); channel!.next(); }
    if (perGroup) { perGroup.addElement(group!.index, x, xh, clipped); group!.next(); }
  }
  return assembleErrorStats(request, overall, perChannel, perGroup, 'cpu');
}
