/**
 * What the size budget measures of one weight before it allocates: each option the policy allows (int8 per
 * channel, int4 in groups of 32, 64 and 128) quantized, its relative error MSE / mean(w²), and how its
 * parameters would be stored. The same function runs on the calling thread and on a worker thread
 * (`measureBudgetOptions`, budget-pool.ts), so the numbers are the same bits wherever they were measured.
 *
 * @example
 * ```ts
 * const options = budgetOptionDecisions(weight, policy);
 * const result = await measureOptions(x, options.map(([, d]) => d), {}, { backend: 'cpu' });
 * result?.measured.relativeErrors; // one per option, in order; undefined: a NaN or ±Infinity in the weight
 * ```
 * @module
 */
import type { OpOptions } from '../ops/backend.js';
import type { QTensor } from '../qtensor.js';
import type { Tensor } from '../tensor.js';
import { type CompressionPolicy, type PolicyWeight, type WeightDecision, decideWeight } from './policy.js';
import { type QuantizeWeightOptions, type QuantizedWeight, paramShapeOf, quantizeWeight } from './quantize-weight.js';
import { holdWeight } from './weight-buffers.js';
import { measureFinitePair, measureFiniteWeight } from './measure-weight.js';
import { sharedGroupRanges } from './group-ranges.js';
import { firstNonFinite } from '../kernels/cpu/cpu-scan.js';

/** The precisions the allocator chooses among. */
export type BudgetOptionName = 'keep' | 'int8 per channel' | 'int4 groups of 32' | 'int4 groups of 64' | 'int4 groups of 128';

/** The int4 group sizes offered, smallest first. */
export const kGroupSizes = [32, 64, 128] as const;

/** How one quantized weight's parameters are stored in ONNX, where it differs from the defaults. */
export interface StoredParameters {
  /** 16 where float16 scales are stored (and cast to float32 in the graph); default: the weight's float type. */
  scaleBits?: number;
  /** False where no zero points are stored (4-bit, all 0); default true. */
  zeroPoints?: boolean;
}

/**
 * How an output stores an option's parameters, from the parameters chosen (scale-storage.ts' storedParametersOf
 * with the output's scale type).
 *
 * @example
 * ```ts
 * const storedOf: StoredOf = (result, decision) => storedParametersOf(result, decision, 'float16');
 * ```
 */
export type StoredOf = (result: Pick<QuantizedWeight, 'scales' | 'zeroPoints'>, decision: WeightDecision) => StoredParameters;

/** The option whose values the size budget runs the model with, where it has a probe (see budget.ts). */
export const PROBED_OPTION: BudgetOptionName = 'int4 groups of 32';

/** One weight's options as measured, in the order they were given. */
export interface MeasuredOptions {
  /** Each option's MSE / mean(w²) (0 for a weight of zeros). */
  relativeErrors: number[];
  /** Each option's parameter storage (undefined without a `storedOf`). */
  stored: (StoredParameters | undefined)[];
  /** The integers of the option asked to be kept (`keep`), in memory of their own: the size budget's probed values. */
  kept?: { index: number; q: QTensor };
}

/**
 * The quantized options of one weight, as the policy decides them with the option's dtype and granularity
 * (the include / exclude / override / size rules left out: the budget decides among them).
 *
 * @example
 * ```ts
 * budgetOptionDecisions({ name: 'fc.weight', shape: [512, 256], dtype: 'float32' }, {}).map(([name]) => name);
 * // ['int8 per channel', 'int4 groups of 32', 'int4 groups of 64', 'int4 groups of 128']
 * ```
 */
export function budgetOptionDecisions(weight: PolicyWeight, policy: CompressionPolicy): [BudgetOptionName, WeightDecision][] {
  const base: CompressionPolicy = { ...policy, overrides: undefined, include: undefined, exclude: undefined, minElements: 0 };
  const out: [BudgetOptionName, WeightDecision][] = [];
  const int8 = decideWeight(weight, { ...base, dtype: 'qint8', granularity: 'channel', groupSize: undefined, axis: undefined });
  out.push(['int8 per channel', int8]);
  for (const groupSize of kGroupSizes) {
    const int4 = decideWeight(weight, { ...base, dtype: 'qint4', granularity: 'group', groupSize, axis: undefined });
    out.push([`int4 groups of ${groupSize}`, int4]);
  }
  return out.filter(([, d]) => d.action === 'quantize');
}

/**
 * The mean of the squares, summed in order in float64.
 *
 * @example
 * ```ts
 * meanSquare(Float32Array.of(1, -3)); // 5
 * ```
 */
export function meanSquare(data: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum += data[i]! * data[i]!;
  return data.length ? sum / data.length : 0;
}

/**
 * Quantizes `x` under each decision of `options` in turn (`quantizeOptions` and `backend` as quantizeWeight takes
 * them) and measures each result (see the module documentation): undefined where the weight cannot be quantized
 * (NaN or ±Infinity). `quantized` holds the results, for a caller that dequantizes one; where
 * `quantizeOptions.integers` hands out the same memory again, only the last result's integers are its own. With
 * `measureOnly` (the CPU path), every option but `keep` is measured without its integers (measureFiniteWeight: the
 * same numbers; the group options' ranges found once for all) and has no result in `quantized`.
 *
 * @example
 * ```ts
 * const { measured } = (await measureOptions({ data, shape: [64, 128] }, [int8Decision], {}, { backend: 'cpu' }))!;
 * ```
 */
export async function measureOptions(
  x: Tensor, options: readonly WeightDecision[], quantizeOptions: QuantizeWeightOptions, backend: OpOptions | undefined,
  storedOf?: StoredOf, keep?: number, measureOnly = false,
): Promise<{ measured: MeasuredOptions; quantized: (QuantizedWeight | undefined)[] } | undefined> {
  if (measureOnly && firstNonFinite(x.data) >= 0) return undefined; // as quantizeWeight finds it for every option
  // The weight's mean square: an option measured alone brings it from its sums (the same bits), else a pass of its own.
  let energy: number | undefined;
  const mses: number[] = [];
  const measured: MeasuredOptions = { relativeErrors: [], stored: [] };
  const quantized: (QuantizedWeight | undefined)[] = [];
  // The group options' ranges found once, for the smallest group size, and merged for the others (group-ranges.ts).
  const ranges = measureOnly ? sharedGroupRanges(x, options, keep) : undefined;
  // The first two group options along the rows (but the kept one) measured side by side in one pass (measureFinitePair).
  const pair = measureOnly ? [...options.keys()].filter((k) => k !== keep && options[k]!.granularity === 'group' && options[k]!.axis === 0).slice(0, 2) : [];
  const twins = pair.length === 2 ? await measureFinitePair(x, options[pair[0]!]!, options[pair[1]!]!, quantizeOptions, ranges?.(pair[0]!), ranges?.(pair[1]!)) : undefined;
  for (const [k, decision] of options.entries()) {
    const twin = twins?.[pair.indexOf(k)];
    const alone = twin ?? (measureOnly && k !== keep ? await measureFiniteWeight(x, decision, quantizeOptions, ranges?.(k)) : undefined);
    if (alone?.ok) energy ??= alone.meanSquare;
    // The option to keep gets integers of its own, not the memory the others share.
    const result = alone ?? await quantizeWeight(x, decision, k === keep ? { ...quantizeOptions, integers: undefined } : quantizeOptions, backend);
    if (!result.ok) return undefined;
    mses.push(('overall' in result ? result.overall : result.stats.overall).mse);
    measured.stored.push(storedOf?.(result, decision));
    quantized.push('q' in result ? result : undefined);
  }
  energy ??= meanSquare(x.data);
  measured.relativeErrors = mses.map((mse) => (energy > 0 ? mse / energy : 0));
  if (keep !== undefined && quantized[keep]) measured.kept = { index: keep, q: quantized[keep]!.q };
  return { measured, quantized };
}

/**
 * {@link measureOptions} on the CPU path with the weight held once in the kernels' memory (holdWeight, with room for
 * the option with the most parameters), so that every option's passes read it in place: `fill` puts its values
 * there, or, where it cannot be held, into `given` (left as it is when `fill` is not needed: pass the values
 * themselves) or a new array. Each option's integers go into `integers(byteLength)` (QuantizeWeightOptions.integers),
 * which may hand out the memory of the option before: only the measurements are kept.
 *
 * @example
 * ```ts
 * let spare: ArrayBuffer | undefined;
 * const integers = (n: number) => (spare && spare.byteLength >= n ? spare : (spare = new ArrayBuffer(n)));
 * const measured = await measureOnCpu([4096, 4096], options, (d) => d.set(values), values, {}, integers);
 * ```
 */
export async function measureOnCpu(
  shape: readonly number[], options: readonly WeightDecision[], fill: (data: Float32Array) => void | Promise<void>, given: Float32Array | undefined,
  quantizeOptions: Omit<QuantizeWeightOptions, 'integers'>, integers: (byteLength: number) => ArrayBuffer,
  storedOf?: StoredOf, keep?: number,
): Promise<MeasuredOptions | undefined> {
  const parameters = (d: WeightDecision) => paramShapeOf(shape, d).reduce((a, b) => a * b, 1);
  const widest = options.reduce<WeightDecision | undefined>((most, d) => (most === undefined || parameters(d) > parameters(most) ? d : most), undefined);
  const slot = widest && holdWeight(shape, widest);
  try {
    const data = slot?.data ?? given ?? new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (data !== given) await fill(data);
    const outcome = await measureOptions({ data, shape: [...shape] }, options, { ...quantizeOptions, integers }, { backend: 'cpu' }, storedOf, keep, true);
    return outcome?.measured;
  } finally {
    slot?.release();
  }
}

