/**
 * The 'mse' calibration search on the CPU, bit for bit as the reference (`mseSearchOfLayout`,
 * src/reference/calibration.ts: the same candidates, the same float32 sums in blocks of `MSE_BLOCK`, the same
 * pick), in a fraction of its time:
 *
 * - **Each output's elements side by side.** An output whose elements lie apart in memory (per channel along a
 *   later axis) is gathered once into a scratch array, then read by every candidate; the reference finds each
 *   element's index anew for every candidate.
 * - **One loop a candidate, nothing called in it.** The quantize numerics written out: float32 products and
 *   sums as `Math.fround` of the double ones (the same values: double rounding is innocuous for one float32
 *   operation), the value to round clamped first to the integers that quantize to qmin and qmax (so that no clamp
 *   follows), then rounded half to even by adding and subtracting 1.5 × 2^52 (exact below 2^51).
 * - **A candidate stops as soon as it cannot win.** Squared errors are never negative and float32 addition is
 *   monotonic, so `fround(total + block)` at any point is a lower bound of the candidate's final sum; a
 *   candidate wins only with a sum strictly below the best so far (ties keep the earlier one). Once the bound
 *   reaches the best, the rest of its sum cannot change the pick. Candidate 0 (alpha = 1) always runs to the
 *   end: its sum is reported.
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
import { type ReductionLayout, elementIndex, outputLength } from '../../calibration/granularity.js';
import { type QuantRange, qparamsFromMinMax } from '../../calibration/qparams.js';
import { MSE_BLOCK, type MseSearchResult } from '../../reference/calibration.js';

/** 1.5 × 2^52: `(v + kRound) - kRound` rounds a double of magnitude below 2^51 to an integer, ties to even. */
const kRound = 6755399441055744;
/** The smallest normal float32: squared errors below it count as 0 (see the reference). */
const kMinNormal = 2 ** -126;
/** Elements summed between two checks of a candidate's bound. */
const kCheckEvery = 16;

const kBits = new Float32Array(1);
const kBitsInt = new Int32Array(kBits.buffer);
/** The float32 after `value` (a positive finite float32): a sum at least this much is above `value`. */
function nextFloat32Up(value: number): number {
  kBits[0] = value;
  kBitsInt[0]! += 1;
  return kBits[0]!;
}

/**
 * The start of output `w`'s elements when they lie side by side in `data` (its j-th element at start + j),
 * else -1.
 */
function contiguousStart(layout: ReductionLayout, w: number): number {
  if (layout.family === 'channel') return layout.outer === 1 ? w * layout.inner : -1;
  return layout.inner === 1 ? elementIndex(layout, w, 0) : -1;
}

/** Outputs gathered at once where they lie apart: rows of this many read in memory order. */
const kTile = 64;

/**
 * Gathers the outputs from `w0` on whose elements lie apart (up to {@link kTile} of them, all of one length)
 * into `into`, output w0 + t's element j at t * length + j; returns how many. Neighbouring outputs' elements
 * are neighbours in memory (the next channel or the next column), so each step reads a short run in order.
 */
function gatherTile(data: Float32Array, layout: ReductionLayout, w0: number, length: number, into: Float32Array): number {
  const { n, inner } = layout;
  if (layout.family === 'channel') {
    const count = Math.min(kTile, layout.outputs - w0);
    for (let o = 0; o < layout.outer; o++) {
      for (let t = 0; t < count; t++) {
        const source = (o * n + w0 + t) * inner;
        const target = t * length + o * inner;
        for (let k = 0; k < inner; k++) into[target + k] = data[source + k]!;
      }
    }
    return count;
  }
  // The group family with inner > 1: outputs w0, w0 + 1, ... of one group row are its next columns k.
  const count = Math.min(kTile, inner - (w0 % inner));
  for (let j = 0; j < length; j++) {
    const source = elementIndex(layout, w0, j);
    for (let t = 0; t < count; t++) into[t * length + j] = data[source + t]!;
  }
  return count;
}

/**
 * The sum of one candidate's squared errors over `xs[from, from + length)`, in the reference's order, or
 * Infinity once its lower bound reaches `limit` (it cannot win; NaN: never).
 */
function candidateSum(
  xs: Float32Array, from: number, length: number, scale: number, inverse: number, zeroPoint: number,
  qmin: number, qmax: number, limit: number,
): number {
  const fround = Math.fround;
  const [low, high] = [qmin - zeroPoint, qmax - zeroPoint]; // v beyond them quantizes to qmin or qmax
  let total = 0;
  for (let start = 0; start < length; start += MSE_BLOCK) {
    const end = Math.min(start + MSE_BLOCK, length);
    let block = 0;
    for (let j = start; j < end;) {
      const stop = Math.min(j + kCheckEvery, end);
      for (; j < stop; j++) {
        const x = xs[from + j]!;
        // v clamped to [low, high] first: those are integers, so it rounds into them, and q needs no clamp after.
        const v = fround(x * inverse);
        const q = x !== x ? qmin : fround(zeroPoint + (((v < low ? low : v > high ? high : v) + kRound) - kRound));
        const error = fround(x - fround(fround(q - zeroPoint) * scale));
        const square = fround(error * error);
        block = fround(block + (square < kMinNormal ? 0 : square));
      }
      if (fround(total + block) >= limit) return Infinity;
    }
    total = fround(total + block);
  }
  return total;
}

/**
 * The MSE search over every output of `layout` (see the module documentation); the same result as
 * `reference.mseSearchOfLayout` with the same arguments.
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
  symmetric: boolean, clipRatios: Float32Array,
): MseSearchResult {
  const { outputs } = layout;
  const picks = new Uint32Array(outputs);
  const best = new Float32Array(outputs);
  const first = new Float32Array(outputs);
  const { qmin, qmax } = range;
  let scratch = new Float32Array(0);
  let seed = 0;
  for (let w0 = 0; w0 < outputs;) {
    const length = outputLength(layout, w0);
    let xs = data;
    let at = contiguousStart(layout, w0);
    let count = 1;
    if (at < 0) {
      if (scratch.length < kTile * length) scratch = new Float32Array(kTile * length);
      count = gatherTile(data, layout, w0, length, scratch);
      xs = scratch;
      at = 0;
    }
    for (let t = 0; t < count; t++, at += length) {
      const w = w0 + t;
      // Candidate 0 first (its sum is reported), then the previous output's pick (neighbours tend to pick alike:
      // a low bound early), then the rest in order. A candidate before the best so far wins a tie, one after loses it.
      let bestSum = Infinity;
      let pick = 0;
      for (let step = 0; step < clipRatios.length; step++) {
        const c = step === 0 ? 0 : step === 1 && seed > 0 ? seed : step <= seed ? step - 1 : step;
        const alpha = clipRatios[c]!;
        const { scale, zeroPoint } = qparamsFromMinMax(Math.fround(alpha * mins[w]!), Math.fround(alpha * maxs[w]!), range, symmetric);
        const winsTie = c < pick;
        const limit = c === 0 || (winsTie && bestSum === Infinity) ? NaN : winsTie ? nextFloat32Up(bestSum) : bestSum;
        const total = candidateSum(xs, at, length, scale, Math.fround(1 / scale), Math.fround(zeroPoint), qmin, qmax, limit);
        if (c === 0) {
          first[w] = total;
          bestSum = total;
        } else if (total < bestSum || (winsTie && total === bestSum)) {
          bestSum = total;
          pick = c;
        }
      }
      seed = pick;
      picks[w] = pick;
      best[w] = bestSum;
    }
    w0 += count;
  }
  return { picks, best, first };
}
