/**
 * Percentile clipping ranges on the CPU, the reference's values bit for bit (`percentileRangesOfLayout`,
 * src/reference/calibration.ts: nearest rank, the r-th smallest value, of |x| when symmetric, and the r-th
 * largest), without sorting each output: the values become integer keys in the same order (a float32's bits
 * with the magnitude bits flipped for negative values, so -0 sorts below +0 as a typed array's sort puts it),
 * and the one or two ranks needed are selected in place (quickselect, median of three; a range that keeps
 * splitting badly is sorted instead, so the time stays n log n at worst). A NaN element's index is reported
 * as the reference reports it; the ranges are then unspecified (the caller refuses such a tensor).
 *
 * @example
 * ```ts
 * cpuPercentileRanges(new Float32Array([1, 2, 3, 100]), reductionLayout([4], 'per_tensor'), 75, false);
 * // { mins: Float32Array [2], maxs: Float32Array [3], firstNaN: -1 }
 * ```
 * @module
 */
import { type ReductionLayout, elementIndex } from '../../calibration/granularity.js';
import type { MinMaxResult } from '../../reference/minmax.js';
import { forEachOutput } from './output-tiles.js';

/** Ranges shorter than this are sorted by insertion. */
const kInsertion = 16;

/** The key of float32 bits `b`: signed integer order is the float order (-0 below +0). */
const keyOf = (b: number): number => b ^ ((b >> 31) & 0x7fffffff);

/** Puts the k-th smallest of `keys[0, n)` at index k (the smaller before it, the larger after); returns it. */
function select(keys: Int32Array, n: number, k: number): number {
  let [lo, hi] = [0, n - 1];
  let budget = 2 * Math.ceil(Math.log2(n + 1)) + 8; // partitions before the range is sorted instead
  while (hi - lo >= kInsertion) {
    if (budget-- === 0) {
      keys.subarray(lo, hi + 1).sort();
      return keys[k]!;
    }
    // Median of three as the pivot, then Hoare's partition.
    const mid = (lo + hi) >>> 1;
    const [a, b, c] = [keys[lo]!, keys[mid]!, keys[hi]!];
    const pivot = a < b ? (b < c ? b : a < c ? c : a) : (a < c ? a : b < c ? c : b);
    let [i, j] = [lo, hi];
    while (i <= j) {
      while (keys[i]! < pivot) i++;
      while (keys[j]! > pivot) j--;
      if (i <= j) {
        const t = keys[i]!;
        keys[i++] = keys[j]!;
        keys[j--] = t;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return keys[k]!; // between the two halves: equal to the pivot
  }
  for (let i = lo + 1; i <= hi; i++) {
    const v = keys[i]!;
    let j = i - 1;
    for (; j >= lo && keys[j]! > v; j--) keys[j + 1] = keys[j]!;
    keys[j + 1] = v;
  }
  return keys[k]!;
}

/**
 * Per output, the clipping range of the percentile rule (see the module documentation), and the first NaN's
 * index; the same result as the reference's `percentileRangesOfLayout` for data without NaN. Into `into`'s arrays
 * where they have one value per output.
 *
 * @example
 * ```ts
 * cpuPercentileRanges(w.data, reductionLayout(w.shape, { axis: 0 }), 99.9, true).maxs; // each row's clip value
 * ```
 */
export function cpuPercentileRanges(
  data: Float32Array, layout: ReductionLayout, percentile: number, symmetric: boolean, into?: { mins: Float32Array; maxs: Float32Array },
): MinMaxResult {
  const { outputs } = layout;
  const fits = into?.mins.length === outputs && into.maxs.length === outputs;
  const mins = fits ? into.mins : new Float32Array(outputs);
  const maxs = fits ? into.maxs : new Float32Array(outputs);
  let firstNaN = -1;
  let keys = new Int32Array(0);
  let floats = new Float32Array(keys.buffer);
  const value = new Int32Array(1);
  const valueFloat = new Float32Array(value.buffer);
  const floatOf = (key: number) => {
    value[0] = keyOf(key); // keyOf is its own inverse
    return valueFloat[0]!;
  };
  forEachOutput(data, layout, (w, xs) => {
    const length = xs.length;
    if (keys.length < length) {
      keys = new Int32Array(length);
      floats = new Float32Array(keys.buffer);
    }
    floats.set(xs);
    for (let j = 0; j < length; j++) {
      const bits = keys[j]!;
      if ((bits & 0x7fffffff) > 0x7f800000) {
        const index = elementIndex(layout, w, j);
        if (firstNaN < 0 || index < firstNaN) firstNaN = index;
      }
      keys[j] = keyOf(symmetric ? bits & 0x7fffffff : bits);
    }
    const rank = Math.min(length, Math.max(1, Math.ceil((percentile / 100) * length - 1e-9)));
    const upper = floatOf(select(keys, length, rank - 1));
    maxs[w] = upper;
    mins[w] = symmetric ? -upper : floatOf(select(keys, length, length - rank));
  });
  return { mins, maxs, firstNaN };
}
