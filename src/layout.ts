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
