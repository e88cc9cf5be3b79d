/**
 * The CPU reference of the 'lsq' calibration: a data-free search of each output's scale (and zero point
 * when affine) that refits every candidate by least squares, in the spirit of llama.cpp's
 * `make_qx_quants` (candidate scales, each refit by weighted least squares; here the weights are 1, since
 * the goal is the plain squared error) and HQQ's half-quadratic zero-point update (with p = 2 the update
 * is the mean of `q - x / s`, rounded here because zero points are integers).
 *
 * For each output and each candidate clip ratio alpha (the first exactly 1):
 *
 * 1. *Raw*: scale s0 and zero point z from the range [alpha * min, alpha * max] (PyTorch's observer
 *    formulas, src/calibration/qparams.ts). Quantize every element with the exact quantize numerics; with
 *    `l = q - z`, sum `x * l` and `l * l`, and the squared error.
 * 2. *Refit*: s1 = max(sum(x * l) / sum(l * l), eps) when both sums are positive, else s0. Affine: the
 *    zero point moves by roundHalfEven(sum(l - x / s1) / n), clamped to [qmin, qmax]; symmetric keeps z.
 *    Then the squared error of (s1, z1), quantized afresh.
 *
 * Affine searches add one more candidate, the *signed extreme* (llama.cpp Q4_0's rule, generalised to any
 * range; `signedExtremeCandidate` in src/calibration/qparams.ts): the element of largest magnitude lands
 * exactly on the end of the range on its side, the zero point `floor(levels / 2)` steps from that end. It
 * goes through the same raw and refit steps.
 *
 * With `signedExtreme`, a second family follows: for each ratio alpha, *Q4_0's grid*: scale
 * max(fround(alpha * s_e), eps) with the signed extreme's scale s_e and its zero point, which the refit keeps
 * (only the scale is refit).
 *
 * The raw and refit pairs of every candidate compete in order (raw of alpha 0, refit of alpha 0, raw of
 * alpha 1, ..., then the signed extreme); the first with the smallest error wins, so the result is never
 * worse than min/max (raw of alpha = 1), nor, affine, than the signed-extreme rule. With `signedExtreme`
 * each family has its winner so, and the affine one is kept only when its error is below
 * flush(fround(LSQ_AFFINE_MARGIN * the grid winner's error)); then the result is never worse than Q4_0's
 * parameters (the grid's raw of alpha = 1, reported as `first`).
 *
 * Every step is float32: products and sums rounded with `Math.fround`, sums sequential in j order from 0,
 * divisions correctly rounded, squared errors with subnormals flushed to 0 (as the 'mse' search),
 * sum(l - x / s1) with `x / s1` computed as `x * fround(1 / s1)`, and every product and partial sum of the
 * refit flushed to 0 when subnormal. The GPU kernel (shaders/calibration/lsq_search.wgsl) repeats these
 * steps and chooses the same bits.
 *
 * @example
 * ```ts
 * const layout = reductionLayout([1, 8], { axis: 1, groupSize: 8 });
 * const x = Float32Array.of(-1, -0.5, 0, 0.2, 0.4, 0.6, 0.8, 1.9);
 * lsqSearchOfLayout(x, layout, Float32Array.of(-1), Float32Array.of(1.9), { qmin: -8, qmax: 7, symmetricZeroPoint: 0 },
 *   true, lsqClipRatios(40, 0.5, 1.2)).best[0]; // below .first[0], the min/max error
 * ```
 * @module
 */
import { type ReductionLayout, elementIndex, outputLength } from '../calibration/granularity.js';
import type { OutputParams } from '../calibration/result.js';
import { LSQ_AFFINE_MARGIN, type ResolvedCalibration, lsqCandidateCount } from '../calibration/spec.js';
import { FLOAT32_EPS, type QuantRange, float32Divide, qparamsFromMinMax, signedExtremeCandidate } from '../calibration/qparams.js';
import { quantizeValue } from './quantize.js';
import { roundHalfEven } from '../round.js';

const kMinNormal = 2 ** -126;

/** Per output: the chosen scale and zero point, their error sum, and the error sum of min/max. */
export interface LsqSearchResult {
  scales: Float32Array;
  zeroPoints: Int32Array;
  /** The candidate the winner came from (index into the clip ratios). */
  picks: Uint32Array;
  best: Float32Array;
  first: Float32Array;
}

/** The float32 sums of one pass over an output with one (scale, zero point). */
interface PassSums {
  error: number;
  crossSum: number;
  levelSum: number;
}

/** Subnormal -> 0 (keeping no sign), so no sum depends on whether the GPU flushes. */
function flush(v: number): number {
  return Math.abs(v) < kMinNormal ? 0 : v;
}

function squaredError(x: number, q: number, scale: number, zeroPoint: number): number {
  const dequantized = Math.fround(Math.fround(q - zeroPoint) * scale);
  const error = Math.fround(x - dequantized);
  return flush(Math.fround(error * error));
}

/** Quantizes every element of one output (`xs`, in j order) with (scale, zeroPoint): the error sum and the refit sums. */
function passSums(xs: Float32Array, length: number, scale: number, zeroPoint: number, range: QuantRange): PassSums {
  const inverseScale = Math.fround(1 / scale);
  const { qmin, qmax } = range;
  let error = 0;
  let crossSum = 0;
  let levelSum = 0;
  for (let j = 0; j < length; j++) {
    const x = xs[j]!;
    const q = Math.fround(quantizeValue(x, inverseScale, zeroPoint, qmin, qmax));
    const level = Math.fround(q - zeroPoint);
    error = Math.fround(error + squaredError(x, q, scale, zeroPoint));
    crossSum = flush(Math.fround(crossSum + flush(Math.fround(x * level))));
    levelSum = Math.fround(levelSum + Math.fround(level * level));
  }
  return { error, crossSum, levelSum };
}

/** The affine zero point update: z + roundHalfEven(sum(l - x / s1) / n), clamped, with l from (s0, z). */
function refitZeroPoint(xs: Float32Array, length: number, scale0: number, zeroPoint: number, scale1: number, range: QuantRange): number {
  const inverse0 = Math.fround(1 / scale0);
  const inverse1 = Math.fround(1 / scale1);
  let shift = 0;
  for (let j = 0; j < length; j++) {
    const x = xs[j]!;
    const level = Math.fround(Math.fround(quantizeValue(x, inverse0, zeroPoint, range.qmin, range.qmax)) - zeroPoint);
    shift = flush(Math.fround(shift + flush(Math.fround(level - flush(Math.fround(x * inverse1))))));
  }
  if (!Number.isFinite(shift)) return zeroPoint;
  // The GPU's exact division returns 0 for a subnormal dividend or quotient; both round to a 0 shift anyway.
  const moved = Math.fround(zeroPoint + roundHalfEven(float32Divide(shift, Math.fround(length))));
  return Math.min(Math.max(moved, range.qmin), range.qmax) + 0;
}

/**
 * The 'lsq' search over every output of `layout` (see the module documentation). `mins` / `maxs` are the
 * outputs' ranges (finite), `clipRatios` the candidates, the first 1; `signedExtreme` (affine only) adds
 * Q4_0's grid and the margin between the families.
 *
 * @example
 * ```ts
 * const r = lsqSearchOfLayout(x.data, layout, mins, maxs, range, true, lsqClipRatios(40, 0.5, 1.2));
 * r.scales; r.zeroPoints; // what chooseQParams returns for method 'lsq'
 * ```
 */
export function lsqSearchOfLayout(
  data: Float32Array, layout: ReductionLayout, mins: Float32Array, maxs: Float32Array, range: QuantRange,
  symmetric: boolean, clipRatios: Float32Array, signedExtreme = false,
): LsqSearchResult {
  const result: LsqSearchResult = {
    scales: new Float32Array(layout.outputs), zeroPoints: new Int32Array(layout.outputs), picks: new Uint32Array(layout.outputs),
    best: new Float32Array(layout.outputs), first: new Float32Array(layout.outputs),
  };
  const ratios = clipRatios.length;
  const candidates = lsqCandidateCount(clipRatios, symmetric, signedExtreme);
  const gridStart = ratios + 1; // with signedExtreme: the first candidate on Q4_0's grid
  // Each output's elements are gathered once, in j order, for its many passes.
  let xs = new Float32Array(0);
  for (let w = 0; w < layout.outputs; w++) {
    const length = outputLength(layout, w);
    if (xs.length < length) xs = new Float32Array(length);
    for (let j = 0; j < length; j++) xs[j] = data[elementIndex(layout, w, j)]!;
    // The best (first smallest error) of each family: [0, gridStart) and, with signedExtreme, the grid.
    const best = [{ error: 0, scale: 0, zeroPoint: 0, c: -1 }, { error: 0, scale: 0, zeroPoint: 0, c: -1 }];
    const consider = (error: number, scale: number, zeroPoint: number, c: number) => {
      const family = best[signedExtreme && c >= gridStart ? 1 : 0]!;
      if (family.c >= 0 && !(error < family.error)) return;
      Object.assign(family, { error, scale, zeroPoint, c });
    };
    const extreme = symmetric ? undefined : signedExtremeCandidate(mins[w]!, maxs[w]!, range);
    for (let c = 0; c < candidates; c++) {
      const onGrid = c >= gridStart;
      let raw;
      if (c < ratios) raw = qparamsFromMinMax(Math.fround(clipRatios[c]! * mins[w]!), Math.fround(clipRatios[c]! * maxs[w]!), range, symmetric);
      else if (!onGrid) raw = extreme!;
      else raw = { scale: Math.max(Math.fround(clipRatios[c - gridStart]! * extreme!.scale), FLOAT32_EPS), zeroPoint: extreme!.zeroPoint };
      const sums = passSums(xs, length, raw.scale, raw.zeroPoint, range);
      if (c === (signedExtreme ? gridStart : 0)) result.first[w] = sums.error;
      consider(sums.error, raw.scale, raw.zeroPoint, c);
      let scale = raw.scale;
      if (sums.crossSum > 0 && sums.levelSum > 0 && Number.isFinite(sums.crossSum)) {
        scale = Math.max(flush(float32Divide(sums.crossSum, sums.levelSum)), FLOAT32_EPS);
      }
      // On Q4_0's grid the zero point stays: only the scale is refit.
      const zeroPoint = symmetric || onGrid ? raw.zeroPoint : refitZeroPoint(xs, length, raw.scale, raw.zeroPoint, scale, range);
      consider(passSums(xs, length, scale, zeroPoint, range).error, scale, zeroPoint, c);
    }
    storeLsqWinner(result, w, best[0]!, best[1]!, signedExtreme);
  }
  return result;
}

/** One family's best candidate of an 'lsq' search: its error sum, parameters and index. */
export interface LsqFamilyBest { error: number; scale: number; zeroPoint: number; c: number }

/**
 * Stores output w's winner in `result`: the affine family's best, or with `signedExtreme` the grid's unless the
 * affine one is below LSQ_AFFINE_MARGIN × the grid's error (see the module documentation).
 *
 * @example
 * ```ts
 * storeLsqWinner(result, w, affineBest, gridBest, true); // result.scales[w], .zeroPoints[w], .picks[w], .best[w]
 * ```
 */
export function storeLsqWinner(result: LsqSearchResult, w: number, affine: LsqFamilyBest, grid: LsqFamilyBest, signedExtreme: boolean): void {
  const chosen = signedExtreme && !(affine.error < flush(Math.fround(LSQ_AFFINE_MARGIN * grid.error))) ? grid : affine;
  result.best[w] = chosen.error;
  result.scales[w] = chosen.scale;
  result.zeroPoints[w] = chosen.zeroPoint;
  result.picks[w] = chosen.c;
}

/**
 * Turns an 'lsq' search into parameters and the report: the clip ratio each winner came from (0 where the
 * signed-extreme candidate won), its MSE (error sum / element count) and the min/max MSE.
 *
 * @example
 * ```ts
 * paramsFromLsq(resolved, lsqSearchOfLayout(x.data, resolved.layout, mins, maxs, resolved.range, true, resolved.clipRatios)).scales;
 * ```
 */
export function paramsFromLsq(resolved: ResolvedCalibration, search: LsqSearchResult): OutputParams {
  const { layout, clipRatios } = resolved;
  const chosen = new Float32Array(layout.outputs);
  const mse = new Float64Array(layout.outputs);
  const minmaxMse = new Float64Array(layout.outputs);
  for (let w = 0; w < layout.outputs; w++) {
    const length = outputLength(layout, w);
    const pick = search.picks[w]!;
    // 0: the signed-extreme candidate; past it, the ratio on Q4_0's grid.
    chosen[w] = pick < clipRatios.length ? clipRatios[pick]! : pick === clipRatios.length ? 0 : clipRatios[pick - clipRatios.length - 1]!;
    mse[w] = search.best[w]! / length;
    minmaxMse[w] = search.first[w]! / length;
  }
  return { scales: search.scales, zeroPoints: search.zeroPoints, search: { clipRatios: chosen, mse, minmaxMse } };
}
