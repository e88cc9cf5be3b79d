/**
 * The elements of a calibration's outputs in j order (src/calibration/granularity.ts), side by side for loops
 * that read each output many times (the 'mse' search, percentile clipping): an output whose elements already
 * lie together is read in place; others are gathered with their neighbours, {@link OUTPUT_TILE} at a time.
 *
 * @example
 * ```ts
 * const at = contiguousStart(layout, w); // ≥ 0: data.subarray(at, at + outputLength(layout, w))
 * if (at < 0) gatherTile(data, layout, w, outputLength(layout, w), scratch);
 * ```
 * @module
 */
import { type ReductionLayout, elementIndex } from '../../calibration/granularity.js';

/**
 * The start of output `w`'s elements when they lie side by side in `data` (its j-th element at start + j),
 * else -1.
 *
 * @example
 * ```ts
 * contiguousStart(reductionLayout([4, 8], { axis: 0 }), 2); // 16 (row 2)
 * contiguousStart(reductionLayout([4, 8], { axis: 1 }), 2); // -1 (column 2)
 * ```
 */
export function contiguousStart(layout: ReductionLayout, w: number): number {
  if (layout.family === 'channel') return layout.outer === 1 ? w * layout.inner : -1;
  return layout.inner === 1 ? elementIndex(layout, w, 0) : -1;
}

/** Outputs gathered at once where they lie apart: rows of this many read in memory order. */
export const OUTPUT_TILE = 64;

/**
 * Gathers the outputs from `w0` on whose elements lie apart (up to {@link OUTPUT_TILE} of them, all of one length)
 * into `into`, output w0 + t's element j at t * length + j; returns how many. Neighbouring outputs' elements
 * are neighbours in memory (the next channel or the next column), so each step reads a short run in order.
 *
 * @example
 * ```ts
 * const into = new Float32Array(OUTPUT_TILE * 4);
 * gatherTile(data, reductionLayout([4, 8], { axis: 1 }), 0, 4, into); // 8: columns 0-7, each at 4·t
 * ```
 */
export function gatherTile(data: Float32Array, layout: ReductionLayout, w0: number, length: number, into: Float32Array): number {
  const { n, inner } = layout;
  if (layout.family === 'channel') {
    const count = Math.min(OUTPUT_TILE, layout.outputs - w0);
    for (let o = 0; o < layout.outer; o++) {
      for (let t = 0; t < count; t++) {
        const source = (o * n + w0 + t) * inner;
        const target = t * length + o * inner;
        for (let k = 0; k < inner; k++) into[target + k] = data[source + k]!;
      }
    }
    return count;
  }
  // The group family with inner > 1: outputs w0, w0 + 1, ... of one group row are its next columns k.
  const count = Math.min(OUTPUT_TILE, inner - (w0 % inner));
  for (let j = 0; j < length; j++) {
    const source = elementIndex(layout, w0, j);
    for (let t = 0; t < count; t++) into[t * length + j] = data[source + t]!;
  }
  return count;
}
