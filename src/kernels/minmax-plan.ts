/**
 * How the calibration kernels cut a reduction into dispatches. A *box* is a contiguous run of the tensor,
 * uploaded on its own (so tensors larger than one storage binding work), that holds, for the outputs w in
 * [wStart, wStart + wCount), their elements j in [jStart, min(jEnd, length(w))) and nothing else. Boxes are
 * listed in memory order, so each output meets its elements in increasing j. A *window* is the set of
 * outputs whose MSE running sums persist across consecutive boxes (all channels for per-channel and per
 * tensor; the box's own outputs for whole groups; one group row when a group spans several boxes).
 *
 * The plan depends on the shape and the element budget only; the results never depend on it (min/max are
 * exact, the MSE sums follow the block order of reference/calibration.ts whatever the boxes).
 *
 * @example
 * ```ts
 * const layout = reductionLayout([6, 10], { axis: 0 });
 * [...planBoxes(layout, 40)]; // two boxes of 4 rows ... see the unit tests
 * ```
 * @module
 */
import { type ReductionLayout } from '../calibration/granularity.js';

/** One dispatch's share of a reduction. See the module documentation. */
export interface ReductionBox {
  /** Flat index of the box's first element, and its element count. */
  start: number;
  count: number;
  wStart: number;
  wCount: number;
  jStart: number;
  jEnd: number;
  /** The MSE state window this box belongs to. */
  windowStart: number;
  windowCount: number;
}

/** Elements one invocation of the first min/max pass reads (about); fewer lanes below this. */
export const ELEMENTS_PER_LANE = 64;
/** At most this many lanes per output in one pass. */
export const MAX_LANES = 65536;

/**
 * Lanes per output for a pass over `length` elements (or records): 1 up to 64, then about 64 each.
 *
 * @example
 * ```ts
 * lanesFor(64);   // 1
 * lanesFor(65);   // 2
 * lanesFor(4096); // 64
 * ```
 */
export function lanesFor(length: number): number {
  return length <= ELEMENTS_PER_LANE ? 1 : Math.min(Math.ceil(length / ELEMENTS_PER_LANE), MAX_LANES);
}

/**
 * Whether neighbouring invocations of the first pass should take neighbouring lanes of one output (its
 * elements are contiguous: per tensor, per channel with inner >= 4, per group with inner < 4) or the same
 * lane of neighbouring outputs (neighbouring outputs are neighbours in memory: per channel along the last
 * axes, per group with inner >= 4). Either way a warp reads a contiguous stretch of memory.
 *
 * @example
 * ```ts
 * laneFastest(reductionLayout([512, 1024], { axis: 0 })); // true: a channel is a contiguous row
 * laneFastest(reductionLayout([512, 1024], { axis: 1 })); // false: channels are neighbours
 * ```
 */
export function laneFastest(layout: ReductionLayout): boolean {
  return layout.family === 'channel' ? layout.inner >= 4 || layout.n === 1 : layout.inner < 4;
}

/**
 * The boxes of a reduction over a tensor of `layout`, each at most `maxElements` elements (>= 1), in
 * memory order.
 *
 * @example
 * ```ts
 * [...planBoxes(reductionLayout([6, 10], { axis: 0 }), 40)].map((b) => [b.start, b.count]); // [[0, 40], [40, 20]]
 * ```
 */
export function* planBoxes(layout: ReductionLayout, maxElements: number): Generator<ReductionBox> {
  const { outer, n, inner } = layout;
  const size = outer * n * inner;
  if (size === 0) return;
  const all = { windowStart: 0, windowCount: layout.outputs };
  if (layout.family === 'channel') {
    const rowLength = outer * inner;
    if (size <= maxElements) {
      yield { start: 0, count: size, wStart: 0, wCount: n, jStart: 0, jEnd: rowLength, ...all };
    } else if (n * inner <= maxElements) {
      const rows = Math.floor(maxElements / (n * inner));
      for (let o = 0; o < outer; o += rows) {
        const count = Math.min(rows, outer - o);
        yield { start: o * n * inner, count: count * n * inner, wStart: 0, wCount: n, jStart: o * inner, jEnd: (o + count) * inner, ...all };
      }
    } else if (inner <= maxElements) {
      const span = Math.floor(maxElements / inner);
      for (let o = 0; o < outer; o++) {
        for (let a = 0; a < n; a += span) {
          const count = Math.min(span, n - a);
          yield { start: (o * n + a) * inner, count: count * inner, wStart: a, wCount: count, jStart: o * inner, jEnd: (o + 1) * inner, ...all };
        }
      }
    } else {
      for (let o = 0; o < outer; o++) {
        for (let a = 0; a < n; a++) {
          for (let k = 0; k < inner; k += maxElements) {
            const count = Math.min(maxElements, inner - k);
            yield { start: (o * n + a) * inner + k, count, wStart: a, wCount: 1, jStart: o * inner + k, jEnd: o * inner + k + count, ...all };
          }
        }
      }
    }
    return;
  }
  yield* planGroupBoxes(layout, maxElements);
}

function* planGroupBoxes(layout: ReductionLayout, maxElements: number): Generator<ReductionBox> {
  const { outer, n, inner, groupSize, groups } = layout;
  const size = outer * n * inner;
  const whole = (start: number, count: number, wStart: number, wCount: number): ReductionBox =>
    ({ start, count, wStart, wCount, jStart: 0, jEnd: groupSize, windowStart: wStart, windowCount: wCount });
  if (size <= maxElements) {
    yield whole(0, size, 0, layout.outputs);
  } else if (n * inner <= maxElements) {
    const rows = Math.floor(maxElements / (n * inner));
    for (let o = 0; o < outer; o += rows) {
      const count = Math.min(rows, outer - o);
      yield whole(o * n * inner, count * n * inner, o * groups * inner, count * groups * inner);
    }
  } else if (groupSize * inner <= maxElements) {
    const span = Math.floor(maxElements / (groupSize * inner));
    for (let o = 0; o < outer; o++) {
      for (let g = 0; g < groups; g += span) {
        const count = Math.min(span, groups - g);
        const a = g * groupSize;
        const elements = (Math.min(n, (g + count) * groupSize) - a) * inner;
        yield whole((o * n + a) * inner, elements, (o * groups + g) * inner, count * inner);
      }
    }
  } else {
    // A group spans several boxes: its row of `inner` outputs is one window.
    const span = inner <= maxElements ? Math.floor(maxElements / inner) : 1;
    for (let o = 0; o < outer; o++) {
      for (let g = 0; g < groups; g++) {
        const row = (o * groups + g) * inner;
        const first = g * groupSize;
        const last = Math.min(n, first + groupSize);
        for (let a = first; a < last; a += span) {
          const rows = Math.min(span, last - a);
          const j = a - first;
          if (inner <= maxElements) {
            yield { start: (o * n + a) * inner, count: rows * inner, wStart: row, wCount: inner, jStart: j, jEnd: j + rows, windowStart: row, windowCount: inner };
            continue;
          }
          for (let k = 0; k < inner; k += maxElements) {
            const count = Math.min(maxElements, inner - k);
            yield { start: (o * n + a) * inner + k, count, wStart: row + k, wCount: count, jStart: j, jEnd: j + 1, windowStart: row, windowCount: inner };
          }
        }
      }
    }
  }
}
