/**
 * The min/max reduction on the CPU with WebAssembly SIMD, bit for bit as the reference
 * (src/reference/minmax.ts): min and max are exact, and -0 orders below +0 in both. Data with a NaN, and
 * engines without SIMD, run on the reference, which also says where the first NaN is.
 *
 * @example
 * ```ts
 * cpuMinMax(new Float32Array([3, -1, 2, 5]), reductionLayout([2, 2], { axis: 0 }));
 * // { mins: Float32Array [-1, 2], maxs: Float32Array [3, 5], firstNaN: -1 }
 * ```
 * @module
 */
import type { ReductionLayout } from '../../calibration/granularity.js';
import { type MinMaxResult, minMaxOfLayout } from '../../reference/minmax.js';
import { type WalkLayout, simdKernels, walkPieces } from './simd-module.js';

/** The walk over memory order that visits each element with its output index (see simd-kernels.wat walk). */
function walkLayoutOf(layout: ReductionLayout): WalkLayout {
  const { outer, n, inner } = layout;
  // Per tensor: one run over the whole tensor, which walkPieces can split anywhere.
  if (layout.axis === undefined) return { outer: 1, channels: outer * n * inner, inner: 1, groupSize: outer * n * inner, strideOuter: 0, strideGroup: 0, strideInner: 0 };
  if (layout.family === 'channel') return { outer, channels: n, inner, groupSize: 1, strideOuter: 0, strideGroup: 1, strideInner: 0 };
  return { outer, channels: n, inner, groupSize: layout.groupSize, strideOuter: layout.groups * inner, strideGroup: inner, strideInner: 1 };
}

/**
 * Min and max of every output of `layout` over `data`; same result as `minMaxOfLayout`. With `into` (arrays of
 * `layout.outputs` values each), a NaN-free result is written there and returned in them (no new arrays).
 *
 * @example
 * ```ts
 * cpuMinMax(new Float32Array([3, NaN, -1]), reductionLayout([3], 'per_tensor')); // { mins: [-1], maxs: [3], firstNaN: 1 }
 * ```
 */
export function cpuMinMax(data: Float32Array, layout: ReductionLayout, into?: { mins: Float32Array; maxs: Float32Array }): MinMaxResult {
  const found = minMaxInKernels(data, layout);
  if (!found) return minMaxOfLayout(data, layout);
  const { mins, maxs } = found;
  for (let w = 0; w < layout.outputs; w++) {
    if (Number.isNaN(mins[w]!)) return minMaxOfLayout(data, layout); // where the first NaN is, and the NaN-free ranges
  }
  if (into?.mins.length === layout.outputs && into.maxs.length === layout.outputs) {
    into.mins.set(mins);
    into.maxs.set(maxs);
    return { mins: into.mins, maxs: into.maxs, firstNaN: -1 };
  }
  return { mins: mins.slice(), maxs: maxs.slice(), firstNaN: -1 };
}

/**
 * Every output's minimum of `mins` and maximum of `maxs` over `layout` into `into` (arrays of `layout.outputs` values
 * each): ranges merged into larger outputs' (groups of 32's ranges into groups of 64's, say), the kernel once over each
 * array, each keeping the one half of its result that is wanted. False where it does not apply (no SIMD, a NaN
 * among the ranges, `into` of other lengths), with `into` left in an unspecified state: merge them otherwise.
 * `mins`, `maxs` and `into` are the caller's arrays (or the held array), not other views of the kernels' memory,
 * which each run reuses.
 *
 * @example
 * ```ts
 * const into = { mins: new Float32Array(2), maxs: new Float32Array(2) };
 * cpuMergeRanges(Float32Array.of(-1, -3, 0, -2), Float32Array.of(1, 2, 4, 3), reductionLayout([4], { axis: 0, groupSize: 2 }), into); // true: [-3, -2], [2, 4]
 * ```
 */
export function cpuMergeRanges(mins: Float32Array, maxs: Float32Array, layout: ReductionLayout, into: { mins: Float32Array; maxs: Float32Array }): boolean {
  if (into.mins.length !== layout.outputs || into.maxs.length !== layout.outputs) return false;
  const low = minMaxInKernels(mins, layout);
  if (!low) return false;
  into.mins.set(low.mins);
  const high = minMaxInKernels(maxs, layout);
  if (!high) return false;
  into.maxs.set(high.maxs);
  for (let w = 0; w < layout.outputs; w++) if (Number.isNaN(into.mins[w]!) || Number.isNaN(into.maxs[w]!)) return false;
  return true;
}

/**
 * The kernel's min and max of every output of `layout` over `data`, as views of the kernels' memory (valid until
 * the kernels next run; a NaN where an output holds one); undefined where the kernels do not run.
 */
function minMaxInKernels(data: Float32Array, layout: ReductionLayout): { mins: Float32Array; maxs: Float32Array } | undefined {
  const kernels = data.length === 0 ? undefined : simdKernels();
  const pieces = kernels ? walkPieces(walkLayoutOf(layout)) : [];
  const largest = pieces.reduce((m, piece) => Math.max(m, piece.count), 0);
  const at = kernels?.heldOffset(data); // a held array is read in place
  const offsets = kernels?.reserve([4 * layout.outputs, 4 * layout.outputs, at === undefined ? 4 * largest : 0], [2]);
  if (!kernels || !offsets) return undefined;
  const [low, high, scratch] = offsets as [number, number, number];
  const buffer = kernels.memory.buffer;
  const mins = new Float32Array(buffer, low, layout.outputs);
  const maxs = new Float32Array(buffer, high, layout.outputs);
  mins.fill(Infinity);
  maxs.fill(-Infinity);
  const source = at === undefined ? new Float32Array(buffer, scratch, largest) : undefined;
  for (const piece of pieces) {
    source?.set(data.subarray(piece.first, piece.first + piece.count));
    const src = at === undefined ? scratch : at + 4 * piece.first;
    kernels.configure(src, 0, low + 4 * piece.paramBase, high + 4 * piece.paramBase, 0, 0, 0);
    kernels.walk('minMaxRun', 'minMaxColumns', piece.layout);
  }
  return { mins, maxs };
}
