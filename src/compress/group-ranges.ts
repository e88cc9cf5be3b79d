/**
 * Groups' ranges merged into larger groups' (a group of 64 along an axis is two of 32: its min and max are theirs),
 * so a weight's ranges are found once for the smallest of several group sizes: min and max are exact, and the
 * min/max kernel run over the ranges themselves (or, where it does not run, `Math.min` / `Math.max`, which order -0
 * below +0 as the kernels do) gives what the kernel finds over the larger groups, to the bit. For the size budget's
 * 4-bit options (groups of 32, 64 and 128), whose parameters are the signed extremes of each group's range.
 *
 * @example
 * ```ts
 * const layout = groupLayoutOf([2, 8], 1); // ranges of groups along axis 1: 2 rows of 8 groups
 * const into = { mins: new Float32Array(8), maxs: new Float32Array(8) };
 * mergeGroupRanges(mins, maxs, layout, 2, into); // 2 rows of 4 groups, each two of the 8
 * ```
 * @module
 */
import { reductionLayout } from '../calibration/granularity.js';
import { cpuMergeRanges, cpuMinMax } from '../kernels/cpu/cpu-minmax.js';
import type { WeightDecision } from './policy.js';
import { paramShapeOf } from './quantize-weight.js';

/** Ranges of groups along an axis, as [outer, groups, inner] (the axis' groups in the middle). */
export interface GroupLayout { outer: number; groups: number; inner: number }

/**
 * The [outer, groups, inner] layout of groups' ranges of shape `groupShape` (a weight's shape with the groups' axis
 * shortened to its groups) along `axis`.
 *
 * @example
 * ```ts
 * groupLayoutOf([128, 4096], 0); // { outer: 1, groups: 128, inner: 4096 }
 * ```
 */
export function groupLayoutOf(groupShape: readonly number[], axis: number): GroupLayout {
  const product = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);
  return { outer: product(groupShape.slice(0, axis)), groups: groupShape[axis]!, inner: product(groupShape.slice(axis + 1)) };
}

/**
 * Whether `decision`'s parameters come from each group's min and max alone, by the signed extremes (groups, the
 * symmetric 'extreme' range, min/max calibration): the options whose ranges can be merged from smaller groups'.
 *
 * @example
 * ```ts
 * rangesMerge({ action: 'quantize', granularity: 'group', axis: 0, groupSize: 64, range: 'extreme', symmetric: true, method: 'minmax' } as WeightDecision); // true
 * ```
 */
export function rangesMerge(decision: WeightDecision): boolean {
  return decision.action === 'quantize' && decision.granularity === 'group' && decision.axis !== undefined && decision.groupSize !== undefined
    && decision.range === 'extreme' && decision.symmetric === true && decision.method === 'minmax';
}

/**
 * Merges every `merge` groups along the axis of `layout` (the last group may have fewer) into `into`, of
 * `outer × ceil(groups / merge) × inner` entries at least.
 *
 * @example
 * ```ts
 * const into = { mins: new Float32Array(1), maxs: new Float32Array(1) };
 * mergeGroupRanges(Float32Array.of(-1, -3), Float32Array.of(2, 1), { outer: 1, groups: 2, inner: 1 }, 2, into); // into: [-3], [2]
 * ```
 */
export function mergeGroupRanges(mins: Float32Array, maxs: Float32Array, layout: GroupLayout, merge: number, into: { mins: Float32Array; maxs: Float32Array }): void {
  const { outer, groups, inner } = layout;
  const merged = Math.ceil(groups / merge);
  // The min/max kernel over the ranges themselves, each array once (2–5× this loop); the loop where it does not run.
  const count = outer * merged * inner;
  const wanted = { mins: into.mins.subarray(0, count), maxs: into.maxs.subarray(0, count) };
  if (cpuMergeRanges(mins.subarray(0, outer * groups * inner), maxs.subarray(0, outer * groups * inner), reductionLayout([outer, groups, inner], { axis: 1, groupSize: merge }), wanted)) return;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < merged; j++) {
      const out = (o * merged + j) * inner;
      const first = (o * groups + j * merge) * inner;
      into.mins.set(mins.subarray(first, first + inner), out);
      into.maxs.set(maxs.subarray(first, first + inner), out);
      for (let t = j * merge + 1; t < Math.min((j + 1) * merge, groups); t++) {
        const at = (o * groups + t) * inner;
        for (let r = 0; r < inner; r++) {
          into.mins[out + r] = Math.min(into.mins[out + r]!, mins[at + r]!);
          into.maxs[out + r] = Math.max(into.maxs[out + r]!, maxs[at + r]!);
        }
      }
    }
  }
}

/**
 * The indices of `options` that share one pass of ranges: those `among` picks whose ranges merge
 * ({@link rangesMerge}), along the smallest one's axis, with a group size a multiple of its; the smallest first.
 *
 * @example
 * ```ts
 * rangeSharers(budgetOptions, (k) => k !== kept); // [1, 2, 3]: int4 groups of 32, 64 and 128
 * ```
 */
export function rangeSharers(options: readonly WeightDecision[], among: (index: number) => boolean): number[] {
  const mergeable = [...options.keys()].filter((k) => among(k) && rangesMerge(options[k]!)).sort((a, b) => options[a]!.groupSize! - options[b]!.groupSize!);
  const smallest = options[mergeable[0] ?? -1];
  return mergeable.filter((k) => options[k]!.axis === smallest!.axis && options[k]!.groupSize! % smallest!.groupSize! === 0);
}

/**
 * The ranges of a weight `x` held whole, for options measured together (`measureOptions` on the CPU path): for each
 * of `options` but `skip` whose ranges merge ({@link rangesMerge}) along the smallest such option's axis, with a group
 * size a multiple of its, the ranges of its groups; found once, for the smallest, when first asked for, and merged
 * for the others. Undefined for every other option, or for all where fewer than two would share them. `x` must be
 * finite.
 *
 * @example
 * ```ts
 * const ranges = sharedGroupRanges(x, options);
 * const measured = await measureFiniteWeight(x, options[2], {}, ranges(2)); // groups of 64 from the 32s' ranges
 * ```
 */
export function sharedGroupRanges(
  x: { data: Float32Array; shape: readonly number[] }, options: readonly WeightDecision[], skip?: number,
): (index: number) => { mins: Float32Array; maxs: Float32Array } | undefined {
  const sharers = rangeSharers(options, (k) => k !== skip);
  const smallest = options[sharers[0] ?? -1];
  const shared = new Set(sharers);
  if (shared.size < 2) return () => undefined;
  const axis = smallest!.axis!;
  let found: { mins: Float32Array; maxs: Float32Array } | undefined;
  return (index) => {
    if (!shared.has(index)) return undefined;
    found ??= (({ mins, maxs }) => ({ mins, maxs }))(cpuMinMax(x.data, reductionLayout(x.shape, { axis, groupSize: smallest!.groupSize! })));
    const merge = options[index]!.groupSize! / smallest!.groupSize!;
    if (merge === 1) return found;
    const count = paramShapeOf(x.shape, options[index]!).reduce((a, b) => a * b, 1);
    const into = { mins: new Float32Array(count), maxs: new Float32Array(count) };
    mergeGroupRanges(found.mins, found.maxs, groupLayoutOf(paramShapeOf(x.shape, smallest!), axis), merge, into);
    return into;
  };
}
