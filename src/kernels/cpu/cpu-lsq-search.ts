/**
 * The 'lsq' calibration search on the CPU, bit for bit as the reference (`lsqSearchOfLayout`,
 * src/reference/lsq-search.ts: the same candidates, raw and refit, the same float32 sums, the same winner), in a
 * fraction of its time:
 *
 * - **Four outputs at a time** (groups, and channels of up to 16384 elements), one a lane of WebAssembly SIMD,
 *   the whole search in the kernel (lanes-search.ts).
 * - **Otherwise with WebAssembly SIMD, eight candidates a pass** (lsq-simd-search.ts: fewer than four outputs,
 *   longer ones), where the engine has it.
 * - **Otherwise in JavaScript, the quantize numerics written out** in each pass, nothing called per element: the
 *   value to round clamped to the integers that quantize to qmin and qmax, then rounded half to even by adding
 *   and subtracting 1.5 × 2^52.
 * - **A refit stops as soon as it cannot win.** A candidate's raw pass runs to the end (its sums make the refit),
 *   but the refit's only use is its error, which wins only below the best of its family so far (ties keep the
 *   earlier one); its sequential float32 sum of squares never decreases, so once the partial sum reaches that
 *   best the rest cannot change the result.
 *
 * @example
 * ```ts
 * const layout = reductionLayout([4096, 4096], { axis: 1, groupSize: 32 });
 * const { mins, maxs } = cpuMinMax(w, layout);
 * cpuLsqSearch(w, layout, mins, maxs, { qmin: -8, qmax: 7, symmetricZeroPoint: 0 }, true, lsqClipRatios(40, 0.5, 1.2)).scales;
 * // the same Float32Array as reference lsqSearchOfLayout gives
 * ```
 * @module
 */
import type { ReductionLayout } from '../../calibration/granularity.js';
import { FLOAT32_EPS, type QuantRange, qparamsFromMinMax, signedExtremeCandidate } from '../../calibration/qparams.js';
import { lsqCandidateCount } from '../../calibration/spec.js';
import { type LsqSearchResult, storeLsqWinner } from '../../reference/lsq-search.js';
import { type LsqBest as Best, flush, movedZeroPoint, refitScale, simdLsqSearch } from './lsq-simd-search.js';
import { lanesLsqSearch } from './lanes-search.js';
import { candidateSum } from './mse-output-search.js';
import { forEachOutput, longestOutput } from './output-tiles.js';

/** 1.5 × 2^52: `(v + kRound) - kRound` rounds a double of magnitude below 2^51 to an integer, ties to even. */
const kRound = 6755399441055744;
/** The smallest normal float32: smaller sums and products count as 0 (see the reference). */
const kMinNormal = 2 ** -126;

/** The raw pass of one candidate: its error sum and the refit's sums (module documentation of the reference). */
const sums = { error: 0, crossSum: 0, levelSum: 0 };

/** Fills {@link sums} for `xs[0, length)` quantized with (scale, zeroPoint). */
function rawPass(xs: Float32Array, length: number, scale: number, zeroPoint: number, qmin: number, qmax: number): void {
  const fround = Math.fround;
  const inverse = fround(1 / scale);
  const [low, high] = [qmin - zeroPoint, qmax - zeroPoint];
  let error = 0;
  let crossSum = 0;
  let levelSum = 0;
  for (let j = 0; j < length; j++) {
    const x = xs[j]!;
    const v = fround(x * inverse);
    const q = x !== x ? qmin : fround(zeroPoint + (((v < low ? low : v > high ? high : v) + kRound) - kRound));
    const level = fround(q - zeroPoint);
    const e = fround(x - fround(level * scale));
    const square = fround(e * e);
    error = fround(error + (square < kMinNormal ? 0 : square));
    crossSum = flush(fround(crossSum + flush(fround(x * level))));
    levelSum = fround(levelSum + fround(level * level));
  }
  sums.error = error;
  sums.crossSum = crossSum;
  sums.levelSum = levelSum;
}

/** The affine zero point update of the reference: z + roundHalfEven(sum(l - x / s1) / n), clamped, l from (s0, z). */
function refitZeroPoint(xs: Float32Array, length: number, scale0: number, zeroPoint: number, scale1: number, qmin: number, qmax: number): number {
  const fround = Math.fround;
  const inverse0 = fround(1 / scale0);
  const inverse1 = fround(1 / scale1);
  const [low, high] = [qmin - zeroPoint, qmax - zeroPoint];
  let shift = 0;
  for (let j = 0; j < length; j++) {
    const x = xs[j]!;
    const v = fround(x * inverse0);
    const q = x !== x ? qmin : fround(zeroPoint + (((v < low ? low : v > high ? high : v) + kRound) - kRound));
    shift = flush(fround(shift + flush(fround(fround(q - zeroPoint) - flush(fround(x * inverse1))))));
  }
  return movedZeroPoint(shift, length, zeroPoint, qmin, qmax);
}

/**
 * The 'lsq' search over every output of `layout`; the same result as the reference `lsqSearchOfLayout` with the
 * same arguments (module documentation), in `into`'s arrays where given (one value per output).
 *
 * @example
 * ```ts
 * const r = cpuLsqSearch(x.data, layout, mins, maxs, range, true, lsqClipRatios(40, 0.5, 1.2));
 * r.scales; r.zeroPoints; // what chooseQParams returns for method 'lsq'
 * ```
 */
export function cpuLsqSearch(
  data: Float32Array, layout: ReductionLayout, mins: Float32Array, maxs: Float32Array, range: QuantRange,
  symmetric: boolean, clipRatios: Float32Array, signedExtreme = false, into?: LsqSearchResult,
): LsqSearchResult {
  const lanes = lanesLsqSearch(data, layout, mins, maxs, range, symmetric, clipRatios, signedExtreme, into);
  if (lanes) return lanes;
  const { outputs } = layout;
  const result: LsqSearchResult = into ?? {
    scales: new Float32Array(outputs), zeroPoints: new Int32Array(outputs), picks: new Uint32Array(outputs),
    best: new Float32Array(outputs), first: new Float32Array(outputs),
  };
  const { qmin, qmax } = range;
  const ratios = clipRatios.length;
  const candidates = lsqCandidateCount(clipRatios, symmetric, signedExtreme);
  const gridStart = ratios + 1; // with signedExtreme: the first candidate on Q4_0's grid
  // The best so far (the first smallest error) of each family: [0, gridStart) and, with signedExtreme, the grid.
  const families: [Best, Best] = [{ error: 0, scale: 0, zeroPoint: 0, c: -1 }, { error: 0, scale: 0, zeroPoint: 0, c: -1 }];
  const familyOf = (c: number) => families[signedExtreme && c >= gridStart ? 1 : 0];
  const consider = (family: Best, error: number, scale: number, zeroPoint: number, c: number) => {
    if (family.c >= 0 && !(error < family.error)) return;
    family.error = error;
    family.scale = scale;
    family.zeroPoint = zeroPoint;
    family.c = c;
  };
  const simd = simdLsqSearch(range, longestOutput(layout), candidates);
  const raw = { scales: new Float64Array(candidates), zeroPoints: new Float64Array(candidates) };
  forEachOutput(data, layout, (w, row) => {
    const length = row.length;
    for (const family of families) family.c = -1;
    const extreme = symmetric ? undefined : signedExtremeCandidate(mins[w]!, maxs[w]!, range);
    for (let c = 0; c < candidates; c++) {
      const p = c < ratios ? qparamsFromMinMax(Math.fround(clipRatios[c]! * mins[w]!), Math.fround(clipRatios[c]! * maxs[w]!), range, symmetric) : extreme!;
      raw.scales[c] = c < gridStart ? p.scale : Math.max(Math.fround(clipRatios[c - gridStart]! * extreme!.scale), FLOAT32_EPS);
      raw.zeroPoints[c] = p.zeroPoint;
    }
    const first = signedExtreme ? gridStart : 0;
    if (simd) {
      simd.run(row, raw, (c) => symmetric || c >= gridStart, familyOf, consider);
      result.first[w] = simd.rawError(first);
    } else {
      for (let c = 0; c < candidates; c++) {
        const family = familyOf(c);
        const [rawScale, rawZeroPoint] = [raw.scales[c]!, raw.zeroPoints[c]!];
        rawPass(row, length, rawScale, rawZeroPoint, qmin, qmax);
        if (c === first) result.first[w] = sums.error;
        consider(family, sums.error, rawScale, rawZeroPoint, c);
        const scale = refitScale(sums.crossSum, sums.levelSum, rawScale);
        // On Q4_0's grid the zero point stays: only the scale is refit.
        const zeroPoint = symmetric || c >= gridStart ? rawZeroPoint : refitZeroPoint(row, length, rawScale, rawZeroPoint, scale, qmin, qmax);
        const error = candidateSum(row, scale, zeroPoint, qmin, qmax, family.error, Infinity);
        if (error < family.error) consider(family, error, scale, zeroPoint, c);
      }
    }
    storeLsqWinner(result, w, families[0], families[1], signedExtreme);
  });
  return result;
}
