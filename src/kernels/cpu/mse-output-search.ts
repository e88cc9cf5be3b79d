/**
 * One output's 'mse' search (cpu-mse-search.ts walks the outputs): every candidate's float32 error sum in the
 * reference's order (mseSearchOfLayout, src/reference/calibration.ts), the first smallest wins. Two forms, the
 * same picks and sums:
 *
 * - **WebAssembly SIMD, eight candidates at once** (simd-kernels.wat, `mseSums`): each element is read once for
 *   eight candidates, their sums in two vectors, so no candidate's sequential sum waits on another's.
 * - **JavaScript, one candidate at a time** (engines without SIMD, and 32-bit integer ranges, whose bounds
 *   float32 cannot hold): the quantize numerics written out, float32 steps as `Math.fround` of the double ones
 *   (the same values: double rounding is innocuous for one float32 operation), the value to round clamped first
 *   to the integers that quantize to qmin and qmax (so that no clamp follows), then rounded half to even by
 *   adding and subtracting 1.5 × 2^52 (exact below 2^51).
 *
 * Both stop a candidate as soon as it cannot win. Squared errors are never negative and float32 addition is
 * monotonic, so the total so far plus the block so far is a lower bound of the final sum; a candidate wins only
 * below the best so far, or equal to it when it comes before the best (ties keep the earlier candidate). Once the
 * bound reaches that limit, the rest of its sum cannot change the pick. Candidate 0 (alpha = 1) always runs to
 * the end: its sum is reported. The previous output's pick is tried right after it, for a low limit early.
 *
 * @example
 * ```ts
 * const search = mseOutputSearch({ qmin: -127, qmax: 127, symmetricZeroPoint: 0 }, 4096);
 * const found = { pick: 0, best: 0, first: 0 };
 * search(row, 100, (c) => qparamsFromMinMax(ratios[c]! * min, ratios[c]! * max, range, true), 0, found);
 * found.pick; // the candidate the reference picks for this row
 * ```
 * @module
 */
import type { QuantRange, ScaleZeroPoint } from '../../calibration/qparams.js';
import { MSE_BLOCK } from '../../reference/calibration.js';
import { type SimdKernels, simdKernels } from './simd-module.js';

/** What one output's search found: the pick, its error sum, and candidate 0's. */
export interface MseFound { pick: number; best: number; first: number }

/** One output's search over `count` candidates (`candidate(c)`: their parameters), the previous output's pick `seed`. */
export type MseOutputSearch = (xs: Float32Array, count: number, candidate: (c: number) => ScaleZeroPoint, seed: number, found: MseFound) => void;

/** 1.5 × 2^52: `(v + kRound) - kRound` rounds a double of magnitude below 2^51 to an integer, ties to even. */
const kRound = 6755399441055744;
/** The smallest normal float32: squared errors below it count as 0 (see the reference). */
const kMinNormal = 2 ** -126;
/** Elements summed between two checks of a candidate's limit (the SIMD kernel checks as often). */
const kCheckEvery = 16;
/** Candidates a SIMD call scores: two vectors of 4. */
const kLanes = 8;
/** Elements copied into the kernels' memory at a time: whole sum blocks. */
const kChunk = 64 * MSE_BLOCK;

const kBits = new Float32Array(1);
const kBitsInt = new Int32Array(kBits.buffer);
/** The float32 after `value` (a finite float32, not negative). */
function nextFloat32Up(value: number): number {
  kBits[0] = value;
  kBitsInt[0]! += 1;
  return kBits[0]!;
}

/** The limit of candidate c's sum, the best so far being candidate `pick`'s `best` (NaN: no limit). */
function limitOf(c: number, pick: number, best: number): number {
  if (c === 0) return NaN;
  if (c > pick) return best;
  return best === Infinity ? NaN : nextFloat32Up(best);
}

/** The order candidates are tried in: 0, then `seed`, then the others in order. */
function candidateAt(step: number, seed: number): number {
  return step === 0 ? 0 : step === 1 && seed > 0 ? seed : step <= seed ? step - 1 : step;
}

/**
 * One candidate's error sum over `xs`, in sum blocks of `blockSize` elements (Infinity: one sequential sum, as the
 * 'lsq' search's refits take it), or Infinity once its lower bound reaches `limit` (NaN: never).
 *
 * @example
 * ```ts
 * candidateSum(row, 0.01, 0, -127, 127, NaN);            // the 'mse' search's sum of this candidate
 * candidateSum(row, 0.01, 0, -127, 127, best, Infinity); // an 'lsq' refit's error, or Infinity if it cannot win
 * ```
 */
export function candidateSum(xs: Float32Array, scale: number, zeroPoint: number, qmin: number, qmax: number, limit: number,
  blockSize = MSE_BLOCK): number {
  const fround = Math.fround;
  const inverse = fround(1 / scale);
  const [low, high] = [qmin - zeroPoint, qmax - zeroPoint]; // v beyond them quantizes to qmin or qmax
  const length = xs.length;
  let total = 0;
  for (let start = 0; start < length; start += blockSize) {
    const end = Math.min(start + blockSize, length);
    let block = 0;
    for (let j = start; j < end;) {
      const stop = Math.min(j + kCheckEvery, end);
      for (; j < stop; j++) {
        const x = xs[j]!;
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
 * The search in JavaScript, one candidate at a time (module documentation).
 *
 * @example
 * ```ts
 * jsMseSearch({ qmin: -8, qmax: 7, symmetricZeroPoint: 0 })(row, 100, candidate, 0, found);
 * ```
 */
export function jsMseSearch(range: QuantRange): MseOutputSearch {
  const { qmin, qmax } = range;
  return (xs, count, candidate, seed, found) => {
    let best = Infinity;
    let pick = 0;
    for (let step = 0; step < count; step++) {
      const c = candidateAt(step, seed);
      const { scale, zeroPoint } = candidate(c);
      const total = candidateSum(xs, scale, Math.fround(zeroPoint), qmin, qmax, limitOf(c, pick, best));
      if (c === 0) [found.first, best] = [total, total];
      else if (total < best || (c < pick && total === best)) [best, pick] = [total, c];
    }
    found.pick = pick;
    found.best = best;
  };
}

/** Where the SIMD search keeps its pieces in the kernels' memory (float32 indices). */
interface SimdPlaces { src: number; params: number; sums: number }

/** Fills the 8 lanes' parameters of the candidates from `c0` (past `count`: lanes that never hold a search back). */
function fillLanes(memory: Float32Array, at: number, c0: number, count: number, candidate: (c: number) => ScaleZeroPoint,
  range: QuantRange, pick: number, best: number): void {
  for (let k = 0; k < kLanes; k++) {
    const c = c0 + k;
    if (c >= count) {
      for (let field = 0; field < 5; field++) memory[at + field * kLanes + k] = field < 2 ? 1 : 0;
      memory[at + 5 * kLanes + k] = -Infinity;
      continue;
    }
    const { scale, zeroPoint } = candidate(c);
    const zero = Math.fround(zeroPoint);
    memory[at + k] = scale;
    memory[at + kLanes + k] = Math.fround(1 / scale);
    memory[at + 2 * kLanes + k] = zero;
    memory[at + 3 * kLanes + k] = range.qmin - zero;
    memory[at + 4 * kLanes + k] = range.qmax - zero;
    memory[at + 5 * kLanes + k] = limitOf(c, pick, best);
  }
}

/** The eight lanes' sums of `xs` (copied in whole, or a chunk at a time); false when every lane reached its limit. */
function laneSums(kernels: SimdKernels, memory: Float32Array, places: SimdPlaces, xs: Float32Array, copied: boolean): boolean {
  memory.fill(0, places.sums, places.sums + kLanes);
  if (copied) return kernels.mseSums(4 * places.src, xs.length, 4 * places.params, 4 * places.sums, 4 * MSE_BLOCK) === 0;
  for (let start = 0; start < xs.length; start += kChunk) {
    const piece = xs.subarray(start, Math.min(start + kChunk, xs.length));
    memory.set(piece, places.src);
    if (kernels.mseSums(4 * places.src, piece.length, 4 * places.params, 4 * places.sums, 4 * MSE_BLOCK) !== 0) return false;
  }
  return true;
}

/**
 * The search with WebAssembly SIMD, eight candidates a call (module documentation), for outputs of up to
 * `longest` elements; undefined where it cannot run (no SIMD, no memory, or a range past float32's integers).
 *
 * @example
 * ```ts
 * const search = simdMseSearch(range, 4096) ?? jsMseSearch(range);
 * ```
 */
export function simdMseSearch(range: QuantRange, longest: number): MseOutputSearch | undefined {
  if (Math.max(Math.abs(range.qmin), Math.abs(range.qmax)) > 2 ** 24) return undefined;
  const kernels = simdKernels();
  const offsets = kernels?.reserve([4 * Math.min(longest, kChunk), 4 * 6 * kLanes, 4 * kLanes], [0]);
  if (!kernels || !offsets) return undefined;
  const memory = new Float32Array(kernels.memory.buffer);
  const places = { src: offsets[0]! / 4, params: offsets[1]! / 4, sums: offsets[2]! / 4 };
  return (xs, count, candidate, seed, found) => {
    const copied = xs.length <= kChunk;
    if (copied) memory.set(xs, places.src);
    const groups = Math.ceil(count / kLanes);
    let best = Infinity;
    let pick = 0;
    for (let step = 0; step < groups; step++) {
      const c0 = kLanes * candidateAt(step, Math.floor(seed / kLanes));
      fillLanes(memory, places.params, c0, count, candidate, range, pick, best);
      if (!laneSums(kernels, memory, places, xs, copied)) continue;
      for (let c = c0; c < Math.min(c0 + kLanes, count); c++) {
        const total = memory[places.sums + c - c0]!;
        if (c === 0) [found.first, best] = [total, total];
        else if (total < best || (c < pick && total === best)) [best, pick] = [total, c];
      }
    }
    found.pick = pick;
    found.best = best;
  };
}
