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
import { type ReductionLayout } from '../../calibration/granularity.js';
import type { CalibrationEntry } from './minmax-shaders.js';

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
 * Elements one invocation of a vec4 first pass reads (about): 256 vec4 loads. SwiftShader pays a fixed
 * cost per invocation and per record; 256 loads amortise it (measured: 64 loads 0.54-0.61 of the read,
 * 256 loads 0.66-0.73) and still leave 16384 invocations for 16M elements.
 */
export const VEC4_ELEMENTS_PER_LANE = 1024;
/** Records one invocation of a combine pass reduces (about): fewer passes, each with a fixed cost. */
export const RECORDS_PER_COMBINE_LANE = 256;

/**
 * Lanes per output for a combine pass over `records` records per output.
 *
 * @example
 * ```ts
 * combineLanesFor(256);   // 1
 * combineLanesFor(16384); // 64
 * ```
 */
export function combineLanesFor(records: number): number {
  return records <= RECORDS_PER_COMBINE_LANE ? 1 : Math.min(Math.ceil(records / RECORDS_PER_COMBINE_LANE), MAX_LANES);
}

/** How the first min/max pass over one box runs. */
export interface FirstPass {
  entry: Extract<CalibrationEntry, 'minmax_input' | 'minmax_input_along' | 'minmax_input_across'>;
  /** The layout the shader is told: `layout`, or per group along the last axis seen as per channel rows. */
  layout: ReductionLayout;
  lanes: number;
  /** Consecutive outputs one invocation reduces (minmax_input_along with one lane only). */
  outputsPerLane: number;
  laneFastest: boolean;
  invocations: number;
}

/**
 * The first pass over `box`: vec4 loads where the box allows them (see shaders/calibration/minmax_reduce.wgsl), else
 * one element at a time. The records it writes are `box.wCount * lanes`, `lanes` per output, either way.
 *
 * @example
 * ```ts
 * const layout = reductionLayout([4096, 4096], 'per_tensor');
 * firstPass(layout, [...planBoxes(layout, 1 << 26)][0]!); // { entry: 'minmax_input_along', lanes: 16384, ... }
 * ```
 */
export function firstPass(layout: ReductionLayout, box: ReductionBox): FirstPass {
  const length = box.jEnd - box.jStart;
  const aligned = box.start % 4 === 0 && box.count % 4 === 0;
  const { family, n, inner, groupSize } = layout;
  // Groups along the last axis that tile it exactly are the rows of a [outer * groups, groupSize] matrix,
  // per channel: one run per output, no division per load.
  const rows = family === 'group' && inner === 1 && n % groupSize === 0;
  const along = family === 'channel' ? inner % 4 === 0 : inner === 1 && n % 4 === 0 && groupSize % 4 === 0;
  if (aligned && along && box.jStart % 4 === 0 && box.jEnd % 4 === 0) {
    const shaderLayout: ReductionLayout = rows
      ? { ...layout, family: 'channel', outer: 1, n: layout.outputs, inner: groupSize, groupSize: layout.outputs, groups: 1 }
      : layout;
    const lanes = length <= VEC4_ELEMENTS_PER_LANE ? 1 : Math.min(Math.ceil(length / VEC4_ELEMENTS_PER_LANE), MAX_LANES);
    // The shader's one_run test: per channel, j_start and the last element in the same o.
    const end = Math.min(box.jEnd, shaderLayout.outer * shaderLayout.inner);
    const oneRun = shaderLayout.family === 'channel' && end > box.jStart
      && Math.floor(box.jStart / shaderLayout.inner) === Math.floor((end - 1) / shaderLayout.inner);
    const outputsPerLane = lanes === 1 && oneRun ? Math.max(1, Math.floor(VEC4_ELEMENTS_PER_LANE / Math.max(length, 4))) : 1;
    return {
      entry: 'minmax_input_along', layout: shaderLayout, lanes, outputsPerLane, laneFastest: true,
      invocations: Math.ceil(box.wCount / outputsPerLane) * lanes,
    };
  }
  const across = family === 'channel' ? inner === 1 && n % 4 === 0 : inner % 4 === 0;
  if (aligned && across && box.wStart % 4 === 0 && box.wCount % 4 === 0) {
    // Each row a lane reads is one vec4 of four outputs.
    const rows = VEC4_ELEMENTS_PER_LANE / 4;
    const lanes = length <= rows ? 1 : Math.min(Math.ceil(length / rows), MAX_LANES);
    return { entry: 'minmax_input_across', layout, lanes, outputsPerLane: 1, laneFastest: false, invocations: (box.wCount / 4) * lanes };
  }
  const lanes = lanesFor(length);
  return { entry: 'minmax_input', layout, lanes, outputsPerLane: 1, laneFastest: laneFastest(layout), invocations: box.wCount * lanes };
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
