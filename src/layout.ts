/**
 * How a row-major tensor splits around a channel axis: `[outer, channels, inner]`. Element `i` belongs to
 * channel `floor(i / inner) % channels`. Every per-channel path (CPU and GPU) uses this one view.
 *
 * @example
 * ```ts
 * channelLayout([2, 3, 4, 5], 1); // { outer: 2, channels: 3, inner: 20 }
 * ```
 * @module
 */

/** A tensor viewed as `[outer, channels, inner]` around its channel axis. */
export interface ChannelLayout { outer: number; channels: number; inner: number }

/**
 * Splits `shape` around `axis` (already normalized to be non-negative).
 *
 * @example
 * ```ts
 * channelLayout([5, 4], 0);  // { outer: 1, channels: 5, inner: 4 }
 * channelLayout([5, 4], 1);  // { outer: 5, channels: 4, inner: 1 }
 * ```
 */
export function channelLayout(shape: readonly number[], axis: number): ChannelLayout {
  let outer = 1;
  let inner = 1;
  for (let d = 0; d < axis; d++) outer *= shape[d]!;
  for (let d = axis + 1; d < shape.length; d++) inner *= shape[d]!;
  return { outer, channels: shape[axis]!, inner };
}

/** The quantization parameters' view of a tensor, as the fields of the grouped scheme (see paramLayout). */
export interface ParamLayout extends ChannelLayout {
  groupSize: number;
  /** Groups along the axis: ceil(channels / groupSize). */
  groups: number;
  /** Parameter index of element (o, a, k) = o * strideOuter + floor(a / groupSize) * strideGroup + k * strideInner. */
  strideOuter: number;
  strideGroup: number;
  strideInner: number;
}

/**
 * Where each element's scale and zero point live, for every scheme, as one formula: per tensor all strides
 * are 0; per channel the index is the position along the axis; per group (ONNX `block_size`) the parameters
 * have the input's shape with the axis dimension replaced by the group count.
 *
 * @example
 * ```ts
 * paramLayout([4, 10], { axis: 1, groupSize: 4 });
 * // { outer: 4, channels: 10, inner: 1, groupSize: 4, groups: 3, strideOuter: 3, strideGroup: 1, strideInner: 1 }
 * ```
 */
export function paramLayout(shape: readonly number[], grouping: { axis: number; groupSize?: number } | undefined): ParamLayout {
  if (!grouping) {
    const size = shape.reduce((a, b) => a * b, 1);
    return { outer: 1, channels: size, inner: 1, groupSize: Math.max(size, 1), groups: 1, strideOuter: 0, strideGroup: 0, strideInner: 0 };
  }
  const { outer, channels, inner } = channelLayout(shape, grouping.axis);
  if (grouping.groupSize === undefined) {
    return { outer, channels, inner, groupSize: 1, groups: channels, strideOuter: 0, strideGroup: 1, strideInner: 0 };
  }
  const groups = Math.ceil(channels / grouping.groupSize);
  return { outer, channels, inner, groupSize: grouping.groupSize, groups, strideOuter: groups * inner, strideGroup: inner, strideInner: 1 };
}
