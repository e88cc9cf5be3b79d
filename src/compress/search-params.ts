/**
 * A block's 'mse', 'lsq' or 'percentile' parameters on the CPU, as `chooseQParams` chooses them (the same bits,
 * the same errors), written into the arrays the block's caller gives and a scratch used again from block to block.
 *
 * A weight read a block of rows at a time (weight-file-blocks.ts) is searched block by block, and `chooseQParams`
 * makes a dozen arrays of one value per output for each block (the ranges, the search's picks and sums, the
 * report's ratios and errors, the parameters twice): about 2 MiB a block of 4 MiB in int4 groups of 32, freed
 * only when the engine next collects, so each worker carried tens of MiB of them. Here the ranges go into the
 * caller's scratch, the parameters into its arrays, and the search's picks and sums into arrays kept for the
 * next block; the report, which compression does not use, is not made.
 *
 * @example
 * ```ts
 * const into = { scales: new Float32Array(k), zeroPoints: new Int32Array(k), mins: new Float32Array(k), maxs: new Float32Array(k) };
 * searchedParamsInto(block, decision, into); // into.scales and into.zeroPoints: chooseQParams(block, calibrationSpecOf(decision), cpu)'s
 * ```
 * @module
 */
import { throwIfNaN } from '../calibration/checks.js';
import { resolveCalibrationSpec } from '../calibration/spec.js';
import { cpuLsqSearch } from '../kernels/cpu/cpu-lsq-search.js';
import { cpuMinMax } from '../kernels/cpu/cpu-minmax.js';
import { cpuMseSearch } from '../kernels/cpu/cpu-mse-search.js';
import { cpuPercentileRanges } from '../kernels/cpu/cpu-percentile.js';
import { checkNotEmpty, paramsFromRanges } from '../reference/calibration.js';
import type { Tensor } from '../tensor.js';
import type { WeightDecision } from './policy.js';
import { calibrationSpecOf } from './quantize-weight.js';
import type { ParamsInto } from './weight-range.js';

/** The search's picks and sums, one a block's output, kept for the next block (a thread searches one block at a time). */
let scratch = { picks: new Uint32Array(0), best: new Float32Array(0), first: new Float32Array(0), ratios: new Float32Array(0) };

function scratchOf(outputs: number) {
  if (scratch.picks.length < outputs) {
    scratch = { picks: new Uint32Array(outputs), best: new Float32Array(outputs), first: new Float32Array(outputs), ratios: new Float32Array(outputs) };
  }
  return {
    picks: scratch.picks.subarray(0, outputs), best: scratch.best.subarray(0, outputs),
    first: scratch.first.subarray(0, outputs), ratios: scratch.ratios.subarray(0, outputs),
  };
}

/**
 * `x`'s parameters for `decision` (method 'mse', 'lsq' or 'percentile', per channel or per group) on the CPU, into `into`'s
 * scales and zero points (its mins and maxs hold the ranges), as `chooseQParams(x, calibrationSpecOf(decision),
 * { backend: 'cpu' })` gives them; throws what it throws (InvalidArgumentError for a NaN, an empty tensor, a
 * range past what float32 can hold). Undefined where it does not apply (another method, per tensor, arrays of
 * another length): the caller runs `chooseQParams`.
 *
 * @example
 * ```ts
 * const got = searchedParamsInto({ data, shape: [256, 4096] }, int4GroupsLsq, into);
 * got?.scales === into.scales; // true
 * ```
 */
export function searchedParamsInto(x: Tensor, decision: WeightDecision, into: ParamsInto): { scales: Float32Array; zeroPoints: Int32Array } | undefined {
  if (decision.method !== 'mse' && decision.method !== 'lsq' && decision.method !== 'percentile') return undefined;
  const resolved = resolveCalibrationSpec(x.shape, calibrationSpecOf(decision));
  const { layout, range, symmetric, clipRatios } = resolved;
  const outputs = layout.outputs;
  if (layout.axis === undefined || [into.scales, into.zeroPoints, into.mins, into.maxs].some((a) => a.length !== outputs)) return undefined;
  checkNotEmpty(x, 'x');
  if (decision.method === 'percentile') {
    const clip = cpuPercentileRanges(x.data, layout, resolved.percentile, symmetric, into);
    throwIfNaN(clip.firstNaN, 'x');
    return paramsFromRanges(clip.mins, clip.maxs, resolved, 'x', undefined, into);
  }
  const { mins, maxs, firstNaN } = cpuMinMax(x.data, layout, into);
  throwIfNaN(firstNaN, 'x');
  paramsFromRanges(mins, maxs, resolved, 'x', undefined, into); // the range checks, before the search
  const kept = scratchOf(outputs);
  if (decision.method === 'lsq') {
    const found = cpuLsqSearch(x.data, layout, mins, maxs, range, symmetric, clipRatios, resolved.signedExtreme,
      { scales: into.scales, zeroPoints: into.zeroPoints, picks: kept.picks, best: kept.best, first: kept.first });
    return { scales: found.scales, zeroPoints: found.zeroPoints };
  }
  const found = cpuMseSearch(x.data, layout, mins, maxs, range, symmetric, clipRatios, kept);
  for (let w = 0; w < outputs; w++) kept.ratios[w] = clipRatios[found.picks[w]!]!;
  return paramsFromRanges(mins, maxs, resolved, 'x', kept.ratios, into);
}
