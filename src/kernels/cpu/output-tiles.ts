/**
 * The elements of a calibration's outputs in j order (src/calibration/granularity.ts), side by side for loops
 * that read each output many times (the 'mse' and 'lsq' searches, percentile clipping): an output whose
 * elements already lie together is read in place; others are gathered with their neighbours,
 * {@link OUTPUT_TILE} at a time, each step reading a short run in memory order.
 *
 * @example
 * ```ts
 * forEachOutput(data, layout, (w, xs) => search(xs)); // xs: output w's elements, valid during the call
 * ```
 * @module
 */
import { type ReductionLayout, elementIndex, outputLength } from '../../calibration/granularity.js';

/**
 * The start of output `w`'s elements when they lie side by side in `data` (its j-th element at start + j),
 * else -1.
 */
function contiguousStart(layout: ReductionLayout, w: number): number {
  if (layout.family === 'channel') return layout.outer === 1 ? w * layout.inner : -1;
  return layout.inner === 1 ? elementIndex(layout, w, 0) : -1;
}

/** Outputs gathered at once where they lie apart: rows of this many read in memory order. */
const OUTPUT_TILE = 64;

/**
 * Gathers the outputs from `w0` on whose elements lie apart (up to {@link OUTPUT_TILE} of them, all of one length)
 * into `into`, output w0 + t's element j at t * length + j; returns how many. Neighbouring outputs' elements
 * are neighbours in memory (the next channel or the next column), so each step reads a short run in order.
 */
function gatherTile(data: Float32Array, layout: ReductionLayout, w0: number, length: number, into: Float32Array): number {
  const { n, inner } = layout;
  if (layout.family === 'channel') {
    const count = Math.min(OUTPUT_TILE, layout.outputs - w0);
    if (inner === 1) {
      // A matrix's columns, OUTPUT_TILE rows at a time (a tile of them stays in the cache while each column's
      // piece is written in order): about 3× faster than a row at a time.
      for (let o0 = 0; o0 < layout.outer; o0 += OUTPUT_TILE) {
        const o1 = Math.min(layout.outer, o0 + OUTPUT_TILE);
        for (let t = 0; t < count; t++) {
          for (let o = o0, source = o0 * n + w0 + t; o < o1; o++, source += n) into[t * length + o] = data[source]!;
        }
      }
      return count;
    }
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

/**
 * The most elements one output of `layout` has.
 *
 * @example
 * ```ts
 * longestOutput(reductionLayout([4096, 4096], { axis: 1, groupSize: 32 })); // 32
 * ```
 */
export function longestOutput(layout: ReductionLayout): number {
  return layout.family === 'channel' ? layout.outer * layout.inner : layout.groupSize;
}

/**
 * Calls `visit(w, xs)` for every output w of `layout` in order (from output `from`), `xs` its elements in j order:
 * a view of `data` where they lie together, else of a scratch array they were gathered into (valid until `visit`
 * returns).
 *
 * @example
 * ```ts
 * forEachOutput(Float32Array.of(1, 2, 3, 4), reductionLayout([2, 2], { axis: 1 }), (w, xs) => console.log(w, [...xs]));
 * // 0 [1, 3], then 1 [2, 4]
 * ```
 */
export function forEachOutput(data: Float32Array, layout: ReductionLayout, visit: (w: number, xs: Float32Array) => void, from = 0): void {
  let scratch = new Float32Array(0);
  for (let w0 = from; w0 < layout.outputs;) {
    const length = outputLength(layout, w0);
    const at = contiguousStart(layout, w0);
    if (at >= 0) {
      visit(w0, data.subarray(at, at + length));
      w0 += 1;
      continue;
    }
    if (scratch.length < OUTPUT_TILE * length) scratch = new Float32Array(OUTPUT_TILE * length);
    const count = gatherTile(data, layout, w0, length, scratch);
    for (let t = 0; t < count; t++) visit(w0 + t, scratch.subarray(t * length, (t + 1) * length));
    w0 += count;
  }
}
