/**
 * What a calibration reduces over, as one view shared by the CPU reference and the GPU kernels. The tensor
 * is seen as `[outer, n, inner]` around the axis, and each *output* (one scale and zero point) owns a
 * sequence of elements, numbered j = 0, 1, ... in increasing memory order:
 *
 * - `'per_tensor'`: one output; j is the flat index (the view is `[1, 1, size]`).
 * - `{ axis }` (the *channel* family, like per tensor): output a (0 <= a < n) owns elements (o, a, k), and
 *   j = o * inner + k.
 * - `{ axis, groupSize }` (the *group* family): output w = (o * G + g) * inner + k, G = ceil(n / groupSize),
 *   owns elements (o, g * groupSize + j, k) for 0 <= j < min(groupSize, n - g * groupSize): the ONNX
 *   `block_size` parameter layout, the last group possibly short.
 *
 * @example
 * ```ts
 * const layout = reductionLayout([4, 10], { axis: 1, groupSize: 4 });
 * layout.outputs;                 // 12 (4 rows x 3 groups)
 * outputLength(layout, 2);        // 2 (the short last group of row 0)
 * elementIndex(layout, 2, 1);     // 9 (row 0, column 8 + 1)
 * ```
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { channelLayout } from '../layout.js';
import { checkGroupSize, normalizeAxis } from '../validate.js';

/** Per tensor, per channel along `axis`, or per group of `groupSize` consecutive elements along `axis`. */
export type Granularity = 'per_tensor' | { axis: number } | { axis: number; groupSize: number };

/** A validated granularity applied to a shape. See the module documentation. */
export interface ReductionLayout {
  /** 'channel': per tensor and per channel (an output reduces over outer and inner); 'group': per group. */
  readonly family: 'channel' | 'group';
  readonly outer: number;
  readonly n: number;
  readonly inner: number;
  /** Group size along the axis (group family); n for the channel family. */
  readonly groupSize: number;
  /** ceil(n / groupSize) for the group family; 1 for the channel family. */
  readonly groups: number;
  /** The number of outputs (scales): 1, n, or outer * groups * inner. */
  readonly outputs: number;
  /** The normalized axis, or undefined per tensor. */
  readonly axis: number | undefined;
}

/**
 * A short description for messages and labels.
 *
 * @example
 * ```ts
 * describeGranularity(reductionLayout([4, 5], { axis: 1 })); // 'per channel (axis 1)'
 * ```
 */
export function describeGranularity(layout: ReductionLayout): string {
  if (layout.axis === undefined) return 'per tensor';
  return layout.family === 'channel' ? `per channel (axis ${layout.axis})`
    : `per group (axis ${layout.axis}, groupSize ${layout.groupSize})`;
}

/**
 * Validates `granularity` for a tensor of `shape` and returns the reduction view. A negative axis counts
 * from the end.
 *
 * @example
 * ```ts
 * reductionLayout([2, 3, 4], { axis: -2 }); // { family: 'channel', outer: 2, n: 3, inner: 4, outputs: 3, axis: 1, ... }
 * ```
 */
export function reductionLayout(shape: readonly number[], granularity: Granularity, argument = 'granularity'): ReductionLayout {
  if (granularity === 'per_tensor') {
    const size = shape.reduce((a, b) => a * b, 1);
    return { family: 'channel', outer: 1, n: 1, inner: size, groupSize: 1, groups: 1, outputs: 1, axis: undefined };
  }
  if (granularity === null || typeof granularity !== 'object' || !('axis' in granularity)) {
    throw new InvalidArgumentError(argument, granularity,
      `${argument} is ${JSON.stringify(granularity)}; use 'per_tensor', { axis } or { axis, groupSize }`);
  }
  const axis = normalizeAxis(granularity.axis, shape.length, `${argument}.axis`);
  const { outer, channels: n, inner } = channelLayout(shape, axis);
  if (!('groupSize' in granularity) || granularity.groupSize === undefined) {
    return { family: 'channel', outer, n, inner, groupSize: n, groups: 1, outputs: n, axis };
  }
  const groupSize = checkGroupSize(granularity.groupSize, n, `${argument}.groupSize`);
  const groups = Math.ceil(n / groupSize);
  return { family: 'group', outer, n, inner, groupSize, groups, outputs: outer * groups * inner, axis };
}

/**
 * How many elements output `w` owns.
 *
 * @example
 * ```ts
 * outputLength(reductionLayout([10], { axis: 0, groupSize: 4 }), 2); // 2
 * ```
 */
export function outputLength(layout: ReductionLayout, w: number): number {
  if (layout.family === 'channel') return layout.outer * layout.inner;
  const g = Math.floor(w / layout.inner) % layout.groups;
  return Math.min(layout.groupSize, layout.n - g * layout.groupSize);
}

/**
 * The flat index of element `j` of output `w` (increasing in j).
 *
 * @example
 * ```ts
 * elementIndex(reductionLayout([3, 4], { axis: 1 }), 2, 1); // 6 (row 1, column 2)
 * ```
 */
export function elementIndex(layout: ReductionLayout, w: number, j: number): number {
  const { n, inner } = layout;
  if (layout.family === 'channel') {
    const o = Math.floor(j / inner);
    return (o * n + w) * inner + (j - o * inner);
  }
  const k = w % inner;
  const row = Math.floor(w / inner);
  const g = row % layout.groups;
  const o = Math.floor(row / layout.groups);
  return (o * n + g * layout.groupSize + j) * inner + k;
}
