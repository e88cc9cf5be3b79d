/**
 * A weight measured and not kept, on the CPU path: quantizeFiniteWeight's parameters and overall statistics, to the
 * bit, with no integers written and no per-channel statistics. The size budget measures four options of every
 * weight and keeps the integers of none (but a probed one); quantizeFiniteWeight wrote each option's integers and
 * read them back with the per-channel sums the budget never reads.
 *
 * @example
 * ```ts
 * const measured = await measureFiniteWeight(tensor(w, [4096, 4096]), decision, {});
 * measured?.ok && measured.overall.mse;
 * ```
 * @module
 */
import { dtypeInfo } from '../dtype.js';
import { cpuQuantizeErrorSums, cpuQuantizeErrorsPair } from '../kernels/cpu/cpu-quantize-measure.js';
import { simdKernels } from '../kernels/cpu/simd-module.js';
import { assembleErrorStats } from '../stats/assemble.js';
import { BucketSums } from '../stats/bucket-sums.js';
import type { ErrorStats } from '../stats/types.js';
import { type Tensor, checkTensor } from '../tensor.js';
import type { WeightDecision } from './policy.js';
import { type QuantizeWeightOptions, type QuantizedWeight, type UnquantizableWeight, calibratedParams, calibrationGranularity, granularityQParams, nonFiniteStats, paramShapeOf } from './quantize-weight.js';

/**
 * What {@link measureFiniteWeight} gives: quantizeFiniteWeight's result but for its integers and per-channel
 * statistics, which it does not compute.
 */
export interface MeasuredWeight extends Omit<QuantizedWeight, 'q' | 'stats'> {
  /** The overall statistics, quantizeFiniteWeight's to the bit. */
  overall: ErrorStats['overall'];
  /** The weight's mean square, Σx² / n, from the same sums (added in the elements' order in float64): `meanSquare`'s value to the bit. */
  meanSquare: number;
}

/**
 * quantizeFiniteWeight of `x` (known to hold no NaN or ±Infinity) on the CPU path for a weight measured and not
 * kept: the same parameters and overall statistics, with no integers written (quantized and measured in one pass,
 * cpu-quantize-measure.ts) and no per-channel statistics. Undefined where that pass does not apply (per tensor, a
 * 32-bit dtype, no WebAssembly SIMD): call quantizeFiniteWeight. Unquantizable where quantizeFiniteWeight is.
 * `ranges`: the ranges of a signed-extreme decision's groups, found already (sharedGroupRanges, group-ranges.ts).
 *
 * @example
 * ```ts
 * const measured = await measureFiniteWeight(tensor(w, [4096, 4096]), int4GroupsDecision, {});
 * if (measured?.ok) measured.overall.mse; // quantizeFiniteWeight's, without its 16M integers
 * ```
 */
export async function measureFiniteWeight(
  x: Tensor, decision: WeightDecision, options: QuantizeWeightOptions = {}, ranges?: { mins: Float32Array; maxs: Float32Array },
): Promise<MeasuredWeight | UnquantizableWeight | undefined> {
  checkTensor(x);
  const granularity = calibrationGranularity(decision);
  const info = dtypeInfo(decision.dtype);
  if (granularity === 'per_tensor' || info.bits === 32 || x.data.length === 0 || !simdKernels()) return undefined; // before calibrating
  const calibrated = await calibratedParams(x, decision, options, { backend: 'cpu' }, undefined, ranges);
  if (!calibrated.ok) return calibrated;
  const { scales, zeroPoints } = calibrated;
  const carry = new Float64Array(8);
  if (!cpuQuantizeErrorSums(x, granularityQParams(x.shape, decision.dtype, granularity, scales, zeroPoints), info, carry)) return undefined;
  const { overall, meanSquare } = overallOfSums(carry, x.shape);
  return nonFiniteStats(overall) ?? { ok: true, scales, zeroPoints, paramShape: paramShapeOf(x.shape, decision), overall, meanSquare };
}

/** What {@link measureFinitePair} gives of each option: a measured weight's errors (not cosine or clipping). */
export interface MeasuredErrors extends Omit<MeasuredWeight, 'overall'> {
  overall: Pick<ErrorStats['overall'], 'mse' | 'sqnrDb' | 'maxAbsError' | 'count'>;
}

/**
 * Two group options of a 2-D weight `x` (known to hold no NaN or ±Infinity) measured side by side, their groups
 * along the rows and the same dtype, for options compared and not kept (the size budget's groups of 32 and 64):
 * each one's parameters as measureFiniteWeight chooses them, and its mean square error, SQNR, max |e| and the
 * weight's mean square, measureFiniteWeight's to the bit, from one pass (cpuQuantizeErrorsPair). Undefined where that
 * does not apply (other layouts, rows not a multiple of 4, no WebAssembly SIMD) or either option cannot be quantized:
 * measure each with measureFiniteWeight, which says why. `rangesA` / `rangesB` as measureFiniteWeight's `ranges`.
 *
 * @example
 * ```ts
 * const both = await measureFinitePair(tensor(w, [4096, 4096]), groups32, groups64, {});
 * both?.[1].overall.mse; // measureFiniteWeight(x, groups64)'s
 * ```
 */
export async function measureFinitePair(
  x: Tensor, first: WeightDecision, second: WeightDecision, options: QuantizeWeightOptions = {},
  rangesA?: { mins: Float32Array; maxs: Float32Array }, rangesB?: { mins: Float32Array; maxs: Float32Array },
): Promise<[MeasuredErrors, MeasuredErrors] | undefined> {
  checkTensor(x);
  const rowGroups = (d: WeightDecision) => d.action === 'quantize' && d.granularity === 'group' && d.axis === 0;
  if (x.shape.length !== 2 || x.shape[1]! % 4 !== 0 || x.data.length === 0 || !rowGroups(first) || !rowGroups(second)
    || first.dtype !== second.dtype || dtypeInfo(first.dtype).bits === 32 || !simdKernels()) return undefined; // before calibrating
  const a = await calibratedParams(x, first, options, { backend: 'cpu' }, undefined, rangesA);
  const b = await calibratedParams(x, second, options, { backend: 'cpu' }, undefined, rangesB);
  if (!a.ok || !b.ok) return undefined;
  const carries: [Float64Array, Float64Array] = [new Float64Array(8), new Float64Array(8)];
  const paramsOf = (d: WeightDecision, p: { scales: Float32Array; zeroPoints: Int32Array }) => granularityQParams(x.shape, d.dtype, calibrationGranularity(d), p.scales, p.zeroPoints);
  if (!cpuQuantizeErrorsPair(x, paramsOf(first, a), paramsOf(second, b), dtypeInfo(first.dtype), carries)) return undefined;
  const errorsOf = (carry: Float64Array, d: WeightDecision, p: { scales: Float32Array; zeroPoints: Int32Array }): MeasuredErrors => {
    const { overall: { mse, sqnrDb, maxAbsError, count }, meanSquare } = overallOfSums(carry, x.shape);
    return { ok: true, scales: p.scales, zeroPoints: p.zeroPoints, paramShape: paramShapeOf(x.shape, d), overall: { mse, sqnrDb, maxAbsError, count }, meanSquare };
  };
  const measured: [MeasuredErrors, MeasuredErrors] = [errorsOf(carries[0], first, a), errorsOf(carries[1], second, b)];
  return measured.some((m) => nonFiniteStats(m.overall)) ? undefined : measured;
}

/**
 * The overall statistics of a weight of `shape` from its one-pass error sums (`carry`, cpuQuantizeErrorSums' after
 * every element), and its mean square Σx² / n from the same sums (meanSquare's value to the bit; 0 for no elements).
 *
 * @example
 * ```ts
 * const carry = new Float64Array(8);
 * cpuQuantizeErrorSums(x, params, dtypeInfo('qint4'), carry);
 * overallOfSums(carry, x.shape).overall.sqnrDb;
 * ```
 */
export function overallOfSums(carry: Float64Array, shape: readonly number[]): { overall: ErrorStats['overall']; meanSquare: number } {
  const elements = shape.reduce((a, b) => a * b, 1);
  const sums = new BucketSums(1);
  sums.setBucket(0, carry);
  sums.count[0] = elements;
  const { overall } = assembleErrorStats({ shape: [...shape], quantized: { kind: 'grid' } }, sums, undefined, undefined, 'cpu');
  return { overall, meanSquare: elements ? sums.sumSquaredOriginal[0]! / elements : 0 };
}
