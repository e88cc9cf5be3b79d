/**
 * The 'lsq' and 'mse' searches of many outputs (groups and channels) four at a time, one a lane of
 * WebAssembly SIMD (simd-kernels.wat: `lsqLanes`, `mseLanes`), bit for bit as the references
 * (`lsqSearchOfLayout`, src/reference/lsq-search.ts; `mseSearchOfLayout`, src/reference/calibration.ts).
 *
 * In a group of 32 each pass of the candidate-at-a-time searches (lsq-simd-search.ts, mse-output-search.ts) does
 * little work, and the host's share of each output (the candidates' parameters, a call for each pass, the
 * reference's order replayed) weighed as much as the kernels. Here each lane follows the reference's loop for its
 * own output, the candidates' parameters and the choice included, so the host only lays the outputs out,
 * {@link LANES_BATCH} at a time, and reads their winners back.
 *
 * @example
 * ```ts
 * const layout = reductionLayout([4096, 4096], { axis: 1, groupSize: 32 });
 * lanesLsqSearch(w, layout, mins, maxs, { qmin: -8, qmax: 7, symmetricZeroPoint: 0 }, false, lsqClipRatios(), true);
 * // what lsqSearchOfLayout returns (undefined where this search does not apply)
 * ```
 * @module
 */
import { type ReductionLayout, outputLength } from '../../calibration/granularity.js';
import type { QuantRange } from '../../calibration/qparams.js';
import { LSQ_AFFINE_MARGIN } from '../../calibration/spec.js';
import type { MseSearchResult } from '../../reference/calibration.js';
import type { LsqSearchResult } from '../../reference/lsq-search.js';
import { forEachOutput, longestOutput } from './output-tiles.js';
import { type SimdKernels, simdKernels } from './simd-module.js';

/**
 * The longest output the 'mse' search takes four at a time; longer ones, and fewer than four outputs, go to the
 * candidate-at-a-time search.
 */
const MSE_LANES_MAX_LENGTH = 16384;
/**
 * The longest output the 'lsq' search takes four at a time (per channel along a MatMul weight's columns measured
 * 1.25–1.5× faster so than eight candidates a pass); longer ones, and fewer than four outputs, go to the
 * candidate-at-a-time search.
 */
const LSQ_LANES_MAX_LENGTH = 16384;
/** Outputs laid out for one call (a multiple of 4), fewer where they would take more than {@link LANES_BATCH_BYTES}. */
const LANES_BATCH = 256;
/**
 * The most bytes of outputs laid out for one call: small enough to fit beside a weight held in the kernels'
 * memory (whose scratch is bounded, simd-module.ts), large enough that a call's work dwarfs its cost.
 */
const LANES_BATCH_BYTES = 256 * 1024;

/** One call of a lanes kernel: `count` outputs of `n` elements laid out at the places of {@link Places}. */
type LanesCall = (kernels: SimdKernels, places: Places, n: number, count: number) => void;

/** Byte offsets in the kernels' memory: outputs, bounds, clip ratios, configuration, results. */
interface Places { src: number; bounds: number; ratio: number; config: number; out: number }

/**
 * Lays every output of `layout` out {@link LANES_BATCH} at a time, runs `call` on each batch and hands each
 * output's five results (scale, zero point, candidate, error, first error) to `store`; false where the search
 * does not apply (no SIMD, fewer than four outputs, outputs longer than `maxLength`, a range past float32's
 * integers, no memory).
 */
function eachBatch(data: Float32Array, layout: ReductionLayout, mins: Float32Array, maxs: Float32Array, range: QuantRange,
  symmetric: boolean, signedExtreme: boolean, clipRatios: Float32Array, maxLength: number, call: LanesCall,
  store: (w: number, results: Float32Array, at: number, count: number) => void): boolean {
  const longest = longestOutput(layout);
  const kernels = simdKernels();
  const { qmin, qmax } = range;
  if (!kernels || layout.outputs < 4 || longest > maxLength || longest < 1 || clipRatios.length < 1 || Math.max(-qmin, qmax) > 2 ** 24) return false;
  const fits = Math.max(4, Math.floor(LANES_BATCH_BYTES / (16 * longest)) * 4);
  let batch = Math.min(LANES_BATCH, fits, Math.ceil(layout.outputs / 4) * 4);
  // A held matrix's columns (per channel along its last axis) are read where they lie, four neighbours a load;
  // only the last outputs short of four are laid out.
  const at = layout.family === 'channel' && layout.inner === 1 && layout.outer > 1 ? kernels.heldOffset(data) : undefined;
  const laid = (outputs: number) => (at === undefined ? outputs : 4);
  const places = (outputs: number) => kernels.reserve([4 * laid(outputs) * longest, 8 * outputs, 4 * clipRatios.length, 44, 20 * outputs, 16 * longest + 240], [0]);
  // Where a held weight leaves less room, four outputs a call.
  let offsets = places(batch);
  if (!offsets && batch > 4) offsets = places((batch = 4));
  if (!offsets) return false;
  const [src, bounds, ratio, config, out, scratch] = offsets as [number, number, number, number, number, number];
  const memory = new Float32Array(kernels.memory.buffer);
  const words = new Int32Array(kernels.memory.buffer);
  memory.set(clipRatios, ratio / 4);
  memory.set([qmin, qmax, (qmax - qmin) / 2, qmax - qmin, Math.floor((qmax - qmin + 1) / 2), range.symmetricZeroPoint, LSQ_AFFINE_MARGIN], config / 4);
  words[config / 4 + 7] = (symmetric ? 1 : 0) | (signedExtreme ? 2 : 0);
  words[config / 4 + 8] = scratch;
  const strides = (outputStride: number, elementStride: number) => {
    words[config / 4 + 9] = outputStride;
    words[config / 4 + 10] = elementStride;
  };

  let first = 0; // the first output of the batch being laid out
  if (at !== undefined) {
    // Batches of whole fours read in place: output w's element j at at + 4·(j·n + w).
    strides(4, 4 * layout.n);
    const whole = layout.outputs - (layout.outputs % 4);
    while (first < whole) {
      const count = Math.min(batch, whole - first);
      memory.set(mins.subarray(first, first + count), bounds / 4);
      memory.set(maxs.subarray(first, first + count), bounds / 4 + count);
      call(kernels, { src: at + 4 * first, bounds, ratio, config, out }, layout.outer, count);
      for (let t = 0; t < count; t++) store(first + t, memory, out / 4 + t, count);
      first += count;
    }
  }

  let filled = 0;
  let length = 0;
  const run = () => {
    const count = Math.ceil(filled / 4) * 4;
    // The maxima were laid out at bounds + batch; the kernels read them at bounds + count. The lanes past the
    // last output: zeros, searched and dropped.
    memory.fill(0, src / 4 + filled * length, src / 4 + count * length);
    if (count < batch) memory.copyWithin(bounds / 4 + count, bounds / 4 + batch, bounds / 4 + batch + filled);
    for (let t = filled; t < count; t++) memory[bounds / 4 + t] = memory[bounds / 4 + count + t] = 0;
    strides(4 * length, 4);
    call(kernels, { src, bounds, ratio, config, out }, length, count);
    for (let t = 0; t < filled; t++) store(first + t, memory, out / 4 + t, count);
    first += filled;
    filled = 0;
  };
  forEachOutput(data, layout, (w, xs) => {
    if (filled > 0 && (filled === batch || xs.length !== length)) run();
    if (filled === 0) length = outputLength(layout, w);
    memory.set(xs, src / 4 + filled * length);
    memory[bounds / 4 + filled] = mins[w]!;
    memory[bounds / 4 + batch + filled] = maxs[w]!;
    filled += 1;
  }, first);
  if (filled > 0) run();
  return true;
}

/**
 * The 'lsq' search of every output of `layout` four at a time (see the module documentation); the reference's
 * result (in `into`'s arrays where given, one value per output), or undefined where this search does not apply (as {@link lanesMseSearch}, outputs longer than
 * {@link LSQ_LANES_MAX_LENGTH}, or `signedExtreme` on a symmetric search).
 *
 * @example
 * ```ts
 * const found = lanesLsqSearch(data, layout, mins, maxs, range, symmetric, clipRatios, signedExtreme);
 * if (!found) {
 *   // the candidate-at-a-time search
 * }
 * ```
 */
export function lanesLsqSearch(
  data: Float32Array, layout: ReductionLayout, mins: Float32Array, maxs: Float32Array, range: QuantRange,
  symmetric: boolean, clipRatios: Float32Array, signedExtreme: boolean, into?: LsqSearchResult,
): LsqSearchResult | undefined {
  if (symmetric && signedExtreme) return undefined;
  const { outputs } = layout;
  const result: LsqSearchResult = into ?? {
    scales: new Float32Array(outputs), zeroPoints: new Int32Array(outputs), picks: new Uint32Array(outputs),
    best: new Float32Array(outputs), first: new Float32Array(outputs),
  };
  const searched = eachBatch(data, layout, mins, maxs, range, symmetric, signedExtreme, clipRatios, LSQ_LANES_MAX_LENGTH,
    (kernels, p, n, count) => kernels.lsqLanes(p.src, n, count, p.bounds, p.ratio, clipRatios.length, p.config, p.out),
    (w, results, at, count) => {
      result.scales[w] = results[at]!;
      result.zeroPoints[w] = results[at + count]!;
      result.picks[w] = results[at + 2 * count]!;
      result.best[w] = results[at + 3 * count]!;
      result.first[w] = results[at + 4 * count]!;
    });
  return searched ? result : undefined;
}

/**
 * The 'mse' search of every output of `layout` four at a time (see the module documentation); the reference's
 * result (in `into`'s arrays where given, one value per output), or undefined where this search does not apply (no WebAssembly SIMD, fewer than four outputs, outputs
 * longer than {@link MSE_LANES_MAX_LENGTH}, a 32-bit range, no memory for it). (Trying the previous batch's most frequent pick right
 * after candidate 0, for a low limit early, as the candidate-at-a-time search does, measured no faster here.)
 *
 * @example
 * ```ts
 * lanesMseSearch(data, layout, mins, maxs, range, symmetric, mseClipRatios(100, 0.2))?.picks;
 * ```
 */
export function lanesMseSearch(
  data: Float32Array, layout: ReductionLayout, mins: Float32Array, maxs: Float32Array, range: QuantRange,
  symmetric: boolean, clipRatios: Float32Array, into?: MseSearchResult,
): MseSearchResult | undefined {
  const { outputs } = layout;
  const result: MseSearchResult = into ?? { picks: new Uint32Array(outputs), best: new Float32Array(outputs), first: new Float32Array(outputs) };
  const searched = eachBatch(data, layout, mins, maxs, range, symmetric, false, clipRatios, MSE_LANES_MAX_LENGTH,
    (kernels, p, n, count) => kernels.mseLanes(p.src, n, count, p.bounds, p.ratio, clipRatios.length, p.config, p.out),
    (w, results, at, count) => {
      result.picks[w] = results[at + 2 * count]!;
      result.best[w] = results[at + 3 * count]!;
      result.first[w] = results[at + 4 * count]!;
    });
  return searched ? result : undefined;
}
