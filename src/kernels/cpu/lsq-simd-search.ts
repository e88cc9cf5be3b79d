/**
 * One output's 'lsq' search with WebAssembly SIMD, eight candidates a pass (simd-kernels.wat: `lsqSums`,
 * `lsqShift`, `mseSums` without blocks), the same winner as the reference (src/reference/lsq-search.ts) and as
 * the JavaScript search in cpu-lsq-search.ts, in three steps:
 *
 * 1. Every candidate's raw pass, in one call: its error, Σ x·l and Σ l·l.
 * 2. Every refit's scale, and (affine, off Q4_0's grid) its zero point from the zero-point pass, in one call.
 * 3. The refits' errors, eight at a time in candidate order, each stopped once its sum reaches a limit it cannot
 *    win under: the best of its family known at that point (the raws and refits before its group, and the raws
 *    of its group up to it). That is never below the best the reference has when it scores that refit (which
 *    has also seen the group's earlier refits), so a stopped refit would not have won there either. Then the
 *    reference's order is replayed (raw c, refit c, raw c + 1, ...) with the exact sums.
 *
 * @example
 * ```ts
 * const search = simdLsqSearch(range, 4096, 81);
 * search?.run(row, raw, (c) => c > 40, familyOf, consider); // consider() sees what the reference's loop sees
 * search?.rawError(41); // the first grid candidate's raw error
 * ```
 * @module
 */
import { FLOAT32_EPS, type QuantRange, float32Divide } from '../../calibration/qparams.js';
import type { LsqFamilyBest } from '../../reference/lsq-search.js';
import { roundHalfEven } from '../../round.js';
import { simdKernels } from './simd-module.js';

/** The smallest normal float32: smaller values count as 0 (see the reference). */
const kMinNormal = 2 ** -126;
/** Candidates a SIMD call scores: two vectors of 4. */
const kLanes = 8;
/** Elements copied into the kernels' memory at a time. */
const kChunk = 65536;

/**
 * Subnormal (or -0) → +0, as the reference's flush.
 *
 * @example
 * ```ts
 * flush(1e-40); // 0
 * ```
 */
export const flush = (v: number): number => (v < kMinNormal && v > -kMinNormal ? 0 : v);

/**
 * The least-squares scale Σ x·l / Σ l·l of a raw pass's sums where both are positive, else the raw scale.
 *
 * @example
 * ```ts
 * refitScale(2, 4, 0.7); // 0.5
 * ```
 */
export function refitScale(crossSum: number, levelSum: number, rawScale: number): number {
  return crossSum > 0 && levelSum > 0 && Number.isFinite(crossSum) ? Math.max(flush(float32Divide(crossSum, levelSum)), FLOAT32_EPS) : rawScale;
}

/**
 * The zero point moved by a refit's shift sum over `length` elements: z + roundHalfEven(shift / n), clamped.
 *
 * @example
 * ```ts
 * movedZeroPoint(-6, 4, 0, -8, 7); // -2 (-1.5 rounds to -2)
 * ```
 */
export function movedZeroPoint(shift: number, length: number, zeroPoint: number, qmin: number, qmax: number): number {
  if (!Number.isFinite(shift)) return zeroPoint;
  const moved = Math.fround(zeroPoint + roundHalfEven(float32Divide(shift, Math.fround(length))));
  return Math.min(Math.max(moved, qmin), qmax) + 0;
}

/** A family's best candidate so far. */
export type LsqBest = LsqFamilyBest;

/** The raw parameters of every candidate of one output. */
export interface LsqRaw { scales: Float64Array; zeroPoints: Float64Array }

/** The SIMD search of one output at a time (see the module documentation). */
export interface LsqSimdSearch {
  /** Scores every candidate of `row`, calling `consider` in the reference's order with the exact errors. */
  run(row: Float32Array, raw: LsqRaw, keepsZeroPoint: (c: number) => boolean, familyOf: (c: number) => LsqBest,
    consider: (family: LsqBest, error: number, scale: number, zeroPoint: number, c: number) => void): void;
  /** Candidate c's raw error in the last run. */
  rawError(c: number): number;
}

/**
 * The SIMD search for outputs of up to `longest` elements and `candidates` candidates; undefined where it
 * cannot run (no SIMD, or no memory for it).
 *
 * @example
 * ```ts
 * const search = simdLsqSearch({ qmin: -8, qmax: 7, symmetricZeroPoint: 0 }, 32, 81);
 * ```
 */
export function simdLsqSearch(range: QuantRange, longest: number, candidates: number): LsqSimdSearch | undefined {
  const kernels = simdKernels();
  const groups = Math.ceil(candidates / kLanes);
  const offsets = kernels?.reserve([4 * Math.min(longest, kChunk), 4 * 6 * kLanes * groups, 4 * 3 * kLanes * groups], [0]);
  if (!kernels || !offsets) return undefined;
  const memory = new Float32Array(kernels.memory.buffer);
  const [src, params, sums] = [offsets[0]! / 4, offsets[1]! / 4, offsets[2]! / 4];
  const { qmin, qmax } = range;
  const rawErrors = new Float32Array(candidates);
  const crossSums = new Float32Array(candidates);
  const levelSums = new Float32Array(candidates);
  const scales = new Float64Array(candidates);
  const zeroPoints = new Float64Array(candidates);
  const slotFamily: (LsqBest | undefined)[] = [undefined, undefined];
  const slotKnown = new Uint8Array(2);
  const slotBest = new Float64Array(2);

  /**
   * Lane k's parameters in group slot `g` (0 unless several groups go in one call): `scale` in the first place,
   * then the inverse, zero point, low and high, and the limit.
   */
  const lane = (k: number, scale: number, inverse: number, zeroPoint: number, limit: number, g = 0) => {
    const zero = Math.fround(zeroPoint);
    const at = params + 6 * kLanes * g + k;
    memory[at] = scale;
    memory[at + kLanes] = inverse;
    memory[at + 2 * kLanes] = zero;
    memory[at + 3 * kLanes] = qmin - zero;
    memory[at + 4 * kLanes] = qmax - zero;
    memory[at + 5 * kLanes] = limit;
  };
  /** Runs `pass` over `row` (copied in already when it fits) a chunk at a time; false when it stopped early. */
  const overRow = (row: Float32Array, copied: boolean, pass: (n: number) => number | void): boolean => {
    if (copied) return pass(row.length) !== 1;
    for (let start = 0; start < row.length; start += kChunk) {
      const piece = row.subarray(start, Math.min(start + kChunk, row.length));
      memory.set(piece, src);
      if (pass(piece.length) === 1) return false;
    }
    return true;
  };

  return {
    rawError: (c) => rawErrors[c]!,
    run(row, raw, keepsZeroPoint, familyOf, consider) {
      const copied = row.length <= kChunk;
      if (copied) memory.set(row, src);
      // 1. The raw passes, every group in one call.
      for (let c = 0; c < groups * kLanes; c++) {
        const [g, k] = [Math.floor(c / kLanes), c % kLanes];
        if (c < candidates) lane(k, raw.scales[c]!, Math.fround(1 / raw.scales[c]!), raw.zeroPoints[c]!, 0, g);
        else lane(k, 1, 1, 0, 0, g);
      }
      memory.fill(0, sums, sums + 3 * kLanes * groups);
      overRow(row, copied, (n) => kernels.lsqSumsGroups(4 * src, n, 4 * params, 4 * sums, groups));
      for (let c = 0; c < candidates; c++) {
        const at = sums + 3 * kLanes * Math.floor(c / kLanes) + (c % kLanes);
        rawErrors[c] = memory[at]!;
        crossSums[c] = memory[at + kLanes]!;
        levelSums[c] = memory[at + 2 * kLanes]!;
      }
      // 2. The refits' parameters: the zero points that move (affine, off Q4_0's grid) in one call over their groups.
      let [first, last] = [groups, -1];
      for (let c = 0; c < candidates; c++) {
        scales[c] = refitScale(crossSums[c]!, levelSums[c]!, raw.scales[c]!);
        zeroPoints[c] = raw.zeroPoints[c]!;
        if (!keepsZeroPoint(c)) [first, last] = [Math.min(first, Math.floor(c / kLanes)), Math.floor(c / kLanes)];
      }
      if (last >= first) {
        for (let c = first * kLanes; c < (last + 1) * kLanes; c++) {
          const [g, k] = [Math.floor(c / kLanes) - first, c % kLanes];
          if (c < candidates && !keepsZeroPoint(c)) lane(k, Math.fround(1 / scales[c]!), Math.fround(1 / raw.scales[c]!), raw.zeroPoints[c]!, 0, g);
          else lane(k, 1, 1, 0, 0, g);
        }
        memory.fill(0, sums, sums + kLanes * (last + 1 - first));
        overRow(row, copied, (n) => kernels.lsqShiftGroups(4 * src, n, 4 * params, 4 * sums, last + 1 - first, copied ? 1 : 0));
        for (let c = first * kLanes; c < Math.min((last + 1) * kLanes, candidates); c++) {
          if (!keepsZeroPoint(c)) zeroPoints[c] = movedZeroPoint(memory[sums + c - first * kLanes]!, row.length, raw.zeroPoints[c]!, qmin, qmax);
        }
      }
      // 3. The refits' errors, each group under the limits known before it, then the reference's order replayed.
      for (let g = 0; g < groups; g++) {
        // Each family's best as far as this group's lanes know it: two slots, one a family (there are two at most).
        slotFamily[0] = slotFamily[1] = undefined;
        for (let k = 0; k < kLanes; k++) {
          const c = g * kLanes + k;
          if (c >= candidates) {
            lane(k, 1, 1, 0, -Infinity);
            continue;
          }
          const family = familyOf(c);
          const slot = slotFamily[0] === family || slotFamily[0] === undefined ? 0 : 1;
          if (slotFamily[slot] === undefined) {
            slotFamily[slot] = family;
            slotKnown[slot] = family.c >= 0 ? 1 : 0;
            slotBest[slot] = family.error;
          }
          const rawError = rawErrors[c]!;
          const limit = !slotKnown[slot] || rawError < slotBest[slot]! ? rawError : slotBest[slot]!;
          slotKnown[slot] = 1;
          slotBest[slot] = limit;
          lane(k, scales[c]!, Math.fround(1 / scales[c]!), zeroPoints[c]!, limit);
        }
        memory.fill(0, sums, sums + kLanes);
        const scored = overRow(row, copied, (n) => kernels.mseSums(4 * src, n, 4 * params, 4 * sums, 0));
        for (let k = 0; k < kLanes && g * kLanes + k < candidates; k++) {
          const c = g * kLanes + k;
          const family = familyOf(c);
          consider(family, rawErrors[c]!, raw.scales[c]!, raw.zeroPoints[c]!, c);
          const error = memory[sums + k]!;
          if (scored && error < family.error) consider(family, error, scales[c]!, zeroPoints[c]!, c);
        }
      }
    },
  };
}
