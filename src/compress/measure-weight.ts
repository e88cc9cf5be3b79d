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
import { cpuQuantizeErrorSums } from '../kernels/cpu/cpu-quantize-measure.js';
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
