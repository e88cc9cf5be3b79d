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
import { type WalkLayout, simdKernels } from './simd-module.js';

/** The walk over memory order that visits each element with its output index (see simd-kernels.wat walk). */
function walkLayoutOf(layout: ReductionLayout): WalkLayout {
  const { outer, n, inner } = layout;
  if (layout.family === 'channel') return { outer, channels: n, inner, groupSize: 1, strideOuter: 0, strideGroup: 1, strideInner: 0 };
  return { outer, channels: n, inner, groupSize: layout.groupSize, strideOuter: layout.groups * inner, strideGroup: inner, strideInner: 1 };
}

/**
 * Min and max of every output of `layout` over `data`; same result as `minMaxOfLayout`.
 *
 * @example
 * ```ts
 * cpuMinMax(new Float32Array([3, NaN, -1]), reductionLayout([3], 'per_tensor')); // { mins: [-1], maxs: [3], firstNaN: 1 }
 * ```
 */
export function cpuMinMax(data: Float32Array, layout: ReductionLayout): MinMaxResult {
  const kernels = data.length === 0 ? undefined : simdKernels();
  const offsets = kernels?.reserve([4 * data.length, 4 * layout.outputs, 4 * layout.outputs]);
  if (!kernels || !offsets) return minMaxOfLayout(data, layout);
  const [src, low, high] = offsets as [number, number, number];
  const buffer = kernels.memory.buffer;
  new Float32Array(buffer, src, data.length).set(data);
  const mins = new Float32Array(buffer, low, layout.outputs);
  const maxs = new Float32Array(buffer, high, layout.outputs);
  mins.fill(Infinity);
  maxs.fill(-Infinity);
  kernels.configure(src, 0, low, high, 0, 0, 0);
  kernels.walk('minMaxRun', 'minMaxColumns', walkLayoutOf(layout));
  for (let w = 0; w < layout.outputs; w++) {
    if (Number.isNaN(mins[w]!)) return minMaxOfLayout(data, layout); // where the first NaN is, and the NaN-free ranges
  }
  return { mins: mins.slice(), maxs: maxs.slice(), firstNaN: -1 };
}
