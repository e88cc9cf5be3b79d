/**
 * The min/max reduction behind observers and calibration, on the backend the options select: the GPU
 * kernel (src/kernels/calibration/minmax-kernel.ts) or the CPU reference, which agree bit for bit. NaN in the data is
 * an InvalidArgumentError naming the first NaN's flat index.
 *
 * @example
 * ```ts
 * const { mins, maxs, backend } = await reduceMinMax(x, reductionLayout(x.shape, { axis: 0 }), { backend: 'webgpu' }, 'x');
 * ```
 * @module
 */
import { type OpOptions, selectManager } from './backend.js';
import { minMaxKernel } from '../kernels/calibration/minmax-kernel.js';
import { cpuMinMax } from '../kernels/cpu/cpu-minmax.js';
import type { ResolvedBackend, Tensor } from '../tensor.js';
import { throwIfNaN } from '../calibration/checks.js';
import type { ReductionLayout } from '../calibration/granularity.js';

/** Per-output minima and maxima, and where they were computed. */
export interface ReducedRange {
  mins: Float32Array;
  maxs: Float32Array;
  backend: ResolvedBackend;
}

/**
 * Min and max of every output of `layout` over `x`; throws on NaN (naming `argument`).
 *
 * @example
 * ```ts
 * await reduceMinMax(tensor([3, -1]), reductionLayout([2], 'per_tensor'), undefined, 'x');
 * // { mins: Float32Array [-1], maxs: Float32Array [3], backend: 'webgpu' | 'cpu' }
 * ```
 */
export async function reduceMinMax(x: Tensor, layout: ReductionLayout, options: OpOptions | undefined, argument: string): Promise<ReducedRange> {
  const manager = await selectManager(options);
  const result = manager ? await minMaxKernel(manager, x.data, layout, options ?? {}) : cpuMinMax(x.data, layout);
  throwIfNaN(result.firstNaN, argument);
  return { mins: result.mins, maxs: result.maxs, backend: manager ? 'webgpu' : 'cpu' };
}
