/**
 * The 'mse' calibration search on the CPU, bit for bit as the reference (`mseSearchOfLayout`,
 * src/reference/calibration.ts: the same candidates, the same float32 sums in blocks of `MSE_BLOCK`, the same
 * pick), in a fraction of its time:
 *
 * - **Each output's elements side by side.** An output whose elements lie apart in memory (per channel along a
 *   later axis) is gathered with its neighbours, 64 at a time (output-tiles.ts), then read by every candidate;
 *   the reference finds each element's index anew for every candidate.
 * - **Four outputs at a time** (groups and channels of up to 16384 elements), one a lane of WebAssembly SIMD, the
 *   whole search in the kernel (lanes-search.ts): a group of 32 gives a pass of eight candidates little to do, and
 *   a candidate whose extremes' squares alone reach the best is passed over.
 * - **Eight candidates at once, each stopped once it cannot win.** Fewer than four outputs, and longer ones, are
 *   searched by
 *   mse-output-search.ts: with WebAssembly SIMD eight candidates a pass (or in JavaScript, one), a candidate
 *   stopped as soon as its sum so far shows that it cannot win.
 *
 * @example
 * ```ts
 * const layout = reductionLayout([4096, 4096], { axis: 0 });
 * const { mins, maxs } = cpuMinMax(w, layout);
 * cpuMseSearch(w, layout, mins, maxs, { qmin: -127, qmax: 127, symmetricZeroPoint: 0 }, true, mseClipRatios(100, 0.2)).picks;
 * // the same Uint32Array as reference.mseSearchOfLayout gives
 * ```
 * @module
 */
import type { ReductionLayout } from '../../calibration/granularity.js';
import { type QuantRange, qparamsFromMinMax } from '../../calibration/qparams.js';
import type { MseSearchResult } from '../../reference/calibration.js';
import { lanesMseSearch } from './lanes-search.js';
import { jsMseSearch, simdMseSearch } from './mse-output-search.js';
import { forEachOutput, longestOutput } from './output-tiles.js';

/**
 * The MSE search over every output of `layout` (see the module documentation); the same result as
 * `reference.mseSearchOfLayout` with the same arguments, in `into`'s arrays where given (one value per output).
 *
 * @example
 * ```ts
 * const layout = reductionLayout([4], 'per_tensor');
 * cpuMseSearch(new Float32Array([-1, 0, 0.1, 9]), layout, Float32Array.of(-1), Float32Array.of(9),
 *   { qmin: -8, qmax: 7, symmetricZeroPoint: 0 }, true, mseClipRatios(100, 0.2)).picks; // Uint32Array [0]
 * ```
 */
export function cpuMseSearch(
  data: Float32Array, layout: ReductionLayout, mins: Float32Array, maxs: Float32Array, range: QuantRange,
  symmetric: boolean, clipRatios: Float32Array, into?: MseSearchResult,
): MseSearchResult {
  const lanes = lanesMseSearch(data, layout, mins, maxs, range, symmetric, clipRatios, into);
  if (lanes) return lanes;
  const { outputs } = layout;
  const picks = into?.picks ?? new Uint32Array(outputs);
  const best = into?.best ?? new Float32Array(outputs);
  const first = into?.first ?? new Float32Array(outputs);
  const search = simdMseSearch(range, longestOutput(layout)) ?? jsMseSearch(range);
  let seed = 0;
  const found = { pick: 0, best: 0, first: 0 };
  forEachOutput(data, layout, (w, xs) => {
    const candidate = (c: number) => {
      const alpha = clipRatios[c]!;
      return qparamsFromMinMax(Math.fround(alpha * mins[w]!), Math.fround(alpha * maxs[w]!), range, symmetric);
    };
    search(xs, clipRatios.length, candidate, seed, found);
    seed = found.pick;
    picks[w] = found.pick;
    best[w] = found.best;
    first[w] = found.first;
  });
  return { picks, best, first };
}
