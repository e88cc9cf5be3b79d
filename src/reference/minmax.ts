/**
 * The CPU reference of the min/max reductions behind observers and calibration: per tensor, per channel and
 * per group (see calibration/granularity.ts), NaN-aware. Min and max are exact operations, so the GPU
 * reductions must agree bit for bit. Zeros are ordered -0 < +0, so the sign of a zero min or max does not
 * depend on element order (PyTorch's `aminmax` returns whichever zero it meets first; scales and zero
 * points are the same either way).
 *
 * @example
 * ```ts
 * const r = minMaxReduce(tensor([1, -2, 3, 4, 0, -6], [2, 3]), { axis: 0 });
 * r.mins;     // Float32Array [-2, -6]
 * r.maxs;     // Float32Array [3, 4]
 * r.firstNaN; // -1
 * ```
 * @module
 */
import { type Granularity, type ReductionLayout, elementIndex, outputLength, reductionLayout } from '../calibration/granularity.js';
import { type Tensor, checkTensor } from '../tensor.js';

/** Per-output minima and maxima, and the flat index of the first NaN (-1 when there is none). */
export interface MinMaxResult {
  /** One per output; +Infinity for an output that owns no element (or only NaNs). */
  mins: Float32Array;
  /** One per output; -Infinity for an output that owns no element (or only NaNs). */
  maxs: Float32Array;
  /** The smallest flat index holding NaN, or -1. NaNs take no part in mins / maxs. */
  firstNaN: number;
}

/**
 * a < b in the total order of non-NaN float32 values where -0 < +0.
 *
 * @example
 * ```ts
 * lessThan(-0, 0); // true
 * lessThan(0, -0); // false
 * ```
 */
export function lessThan(a: number, b: number): boolean {
  return a < b || (a === 0 && b === 0 && Object.is(a, -0) && Object.is(b, 0));
}

/**
 * Min and max of every output of `layout` over `data`, in the reference's plain loops.
 *
 * @example
 * ```ts
 * minMaxOfLayout(new Float32Array([3, NaN, -1]), reductionLayout([3], 'per_tensor'));
 * // { mins: [-1], maxs: [3], firstNaN: 1 }
 * ```
 */
export function minMaxOfLayout(data: Float32Array, layout: ReductionLayout): MinMaxResult {
  const mins = new Float32Array(layout.outputs).fill(Infinity);
  const maxs = new Float32Array(layout.outputs).fill(-Infinity);
  let firstNaN = -1;
  for (let w = 0; w < layout.outputs; w++) {
    const length = outputLength(layout, w);
    let lo = Infinity;
    let hi = -Infinity;
    for (let j = 0; j < length; j++) {
      const index = elementIndex(layout, w, j);
      const x = data[index]!;
      if (Number.isNaN(x)) {
        if (firstNaN < 0 || index < firstNaN) firstNaN = index;
        continue;
      }
      if (lessThan(x, lo)) lo = x;
      if (lessThan(hi, x)) hi = x;
    }
    mins[w] = lo;
    maxs[w] = hi;
  }
  return { mins, maxs, firstNaN };
}

/**
 * CPU reference of the min/max reduction: `x` reduced per tensor, per channel or per group. Outputs are in
 * the parameter order of `granularity` (per group: ONNX `block_size` layout).
 *
 * @example
 * ```ts
 * reference.minMaxReduce(tensor([1, 5, -2, 7, 0, 3], [1, 6]), { axis: 1, groupSize: 4 });
 * // { mins: Float32Array [-2, 0], maxs: Float32Array [7, 3], firstNaN: -1 }
 * ```
 */
export function minMaxReduce(x: Tensor, granularity: Granularity): MinMaxResult {
  checkTensor(x, 'x');
  return minMaxOfLayout(x.data, reductionLayout(x.shape, granularity));
}
