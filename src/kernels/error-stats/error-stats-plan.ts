/**
 * How the error-statistics kernel splits a tensor among invocations, deterministically. The tensor is cut
 * into *tiles*: contiguous element ranges `[start, start + length)`, in order, covering it exactly once.
 * A tile is viewed as `rows × width`, row-major; invocation (lane) `w` of a tile sums, sequentially, the
 * elements at offsets `w, w + width, w + 2·width, ...` below `length`, and writes one partial result. Every
 * element a lane sums belongs to one statistics bucket (channel or group), so partials never mix buckets,
 * and the host adds them into their buckets in a fixed order. The assignment depends only on the shape,
 * the partition and the chunk limits, never on timing: results are identical bit for bit on every run.
 *
 * Modes (chosen per call from the shape):
 * - `runs`: each `[outer, axisLen]` position owns a contiguous run of `inner` elements; tiles of up to
 *   64 lanes × 256 rows inside one run. Adjacent lanes read adjacent words (the outer-axis layout, and
 *   per-tensor statistics: one run of the whole tensor).
 * - `columns`: `width = axisLen · inner` lanes, one per column of the `[outer, axisLen · inner]` matrix,
 *   each summing up to 256 rows; adjacent lanes read adjacent words (the inner-axis layout).
 * - `groupRows`: `width = inner` lanes, rows along the axis inside one group.
 * - `split`: one element per lane, rows of `rowLength` cut into tiles of `width`; only when a tile of the
 *   other modes would not fit the chunk limit (tiny forced chunks, gigantic rows).
 *
 * @example
 * ```ts
 * const plan = planTiles({ kind: 'channel', outer: 1, axisLen: 3, inner: 4096 }, 1 << 20);
 * plan.mode;            // 'runs'
 * [...plan.tiles()][0]; // [0, 4096]: 64 lanes x 64 rows
 * ```
 * @module
 */
import { LimitExceededError } from '../../errors.js';

/** Most rows (elements) one lane sums. */
export const MAX_ROWS_PER_LANE = 256;
/** Most lanes sharing one run in `runs` mode. */
export const MAX_LANES_PER_RUN = 64;
/** `runs` mode gives each lane at least this many elements where the run is long enough. */
export const MIN_ELEMENTS_PER_LANE = 32;

/** Which buckets the statistics go to, over the tensor viewed as `[outer, axisLen, inner]`. */
export interface StatsPartition {
  /** 'tensor': one bucket; 'channel': one per axis index; 'group': one per (outer, group, inner). */
  kind: 'tensor' | 'channel' | 'group';
  outer: number;
  axisLen: number;
  inner: number;
  /** 'group' only. */
  groupSize?: number;
}

/** See the module documentation. */
export interface TilePlan {
  mode: 'runs' | 'columns' | 'groupRows' | 'split';
  /**
   * Elements per plan unit: 1, or 4 for a plan over aligned quads of elements (see {@link planQuadTiles}):
   * tiles, widths and chunks count quads, and a lane writes one partial per element of its quads.
   */
  unit: 1 | 4;
  width: number;
  rows: number;
  /** The tiles in order, as `[start, length]`. */
  tiles(): Generator<[number, number]>;
}

/**
 * `runs` mode over quads gives each lane at least this many quads where the run is long enough: a quad lane
 * writes four partials, and fewer, longer lanes keep the partials a small part of the traffic.
 */
export const MIN_QUADS_PER_LANE = 128;

/** Lanes per run in `runs` mode: a power of two ≤ 64 leaving each lane ≥ `minPerLane` units where possible. */
function lanesFor(runLength: number, minPerLane: number): number {
  let lanes = 1;
  while (lanes * 2 <= MAX_LANES_PER_RUN && lanes * 2 * minPerLane <= runLength) lanes *= 2;
  return lanes;
}

function runsPlan(runCount: number, runLength: number, maxTile: number, minPerLane = MIN_ELEMENTS_PER_LANE): TilePlan {
  const width = Math.min(lanesFor(runLength, minPerLane), maxTile);
  const rows = Math.max(1, Math.min(MAX_ROWS_PER_LANE, Math.ceil(runLength / width), Math.floor(maxTile / width)));
  const span = width * rows;
  return {
    mode: 'runs', unit: 1, width, rows,
    *tiles() {
      for (let run = 0; run < runCount; run++) {
        for (let offset = 0; offset < runLength; offset += span) yield [run * runLength + offset, Math.min(span, runLength - offset)];
      }
    },
  };
}

function splitPlan(rowCount: number, rowLength: number, maxTile: number): TilePlan {
  const width = Math.min(rowLength, maxTile);
  return {
    mode: 'split', unit: 1, width, rows: 1,
    *tiles() {
      for (let row = 0; row < rowCount; row++) {
        for (let offset = 0; offset < rowLength; offset += width) yield [row * rowLength + offset, Math.min(width, rowLength - offset)];
      }
    },
  };
}

function columnsPlan(outer: number, rowLength: number, maxTile: number): TilePlan {
  if (rowLength > maxTile) return splitPlan(outer, rowLength, maxTile);
  const rows = Math.max(1, Math.min(MAX_ROWS_PER_LANE, outer, Math.floor(maxTile / rowLength)));
  return {
    mode: 'columns', unit: 1, width: rowLength, rows,
    *tiles() {
      for (let o = 0; o < outer; o += rows) yield [o * rowLength, Math.min(rows, outer - o) * rowLength];
    },
  };
}

function groupRowsPlan(outer: number, axisLen: number, inner: number, groupSize: number, maxTile: number): TilePlan {
  if (inner > maxTile) return splitPlan(outer * axisLen, inner, maxTile);
  const rows = Math.max(1, Math.min(MAX_ROWS_PER_LANE, groupSize, Math.floor(maxTile / inner)));
  return {
    mode: 'groupRows', unit: 1, width: inner, rows,
    *tiles() {
      for (let o = 0; o < outer; o++) {
        for (let first = 0; first < axisLen; first += groupSize) {
          const end = Math.min(first + groupSize, axisLen);
          for (let a = first; a < end; a += rows) yield [(o * axisLen + a) * inner, Math.min(rows, end - a) * inner];
        }
      }
    },
  };
}

/**
 * The tiles for `partition`, each at most `maxTile` elements and lanes. For channels it picks whichever of
 * `columns` and `runs` gives each lane more elements (fewer partials to read back), `columns` on a tie.
 *
 * @example
 * ```ts
 * planTiles({ kind: 'channel', outer: 1000, axisLen: 1000, inner: 1 }, 1 << 20).mode; // 'columns'
 * planTiles({ kind: 'tensor', outer: 1, axisLen: 1, inner: 10 }, 4).width;            // 1 lane x 4 rows
 * ```
 */
export function planTiles(partition: StatsPartition, maxTile: number): TilePlan {
  const { outer, axisLen, inner } = partition;
  if (partition.kind === 'tensor') return runsPlan(1, outer * axisLen * inner, maxTile);
  if (partition.kind === 'group') return groupRowsPlan(outer, axisLen, inner, partition.groupSize!, maxTile);
  const columns = columnsPlan(outer, axisLen * inner, maxTile);
  const runs = runsPlan(outer * axisLen, inner, maxTile);
  const perLaneColumns = columns.mode === 'columns' ? columns.rows : 1;
  const perLaneRuns = Math.min(runs.rows, Math.ceil(inner / runs.width));
  return perLaneColumns >= perLaneRuns ? columns : runs;
}

/**
 * A plan over quads (4 consecutive elements, starting at a multiple of 4) for the vec4 kernel, or undefined
 * where the partition does not allow one. The modes are those of {@link planTiles} over the tensor seen with
 * the innermost run divided by 4: element `4u + c` of quad `u` is component `c`, and each lane and component
 * meet elements of one bucket only (runs: `inner % 4 == 0`; columns: `axisLen * inner % 4 == 0`; group rows:
 * `inner % 4 == 0`). `maxTile` counts elements; a quad lane writes 4 partials, so it gets a quarter.
 *
 * @example
 * ```ts
 * planQuadTiles({ kind: 'channel', outer: 4096, axisLen: 4096, inner: 1 }, 1 << 24)?.width; // 1024 quad columns
 * planQuadTiles({ kind: 'tensor', outer: 1, axisLen: 1, inner: 10 }, 1 << 24);              // undefined
 * ```
 */
export function planQuadTiles(partition: StatsPartition, maxTile: number): TilePlan | undefined {
  const { outer, axisLen, inner } = partition;
  const quadTile = Math.floor(maxTile / 4);
  if (quadTile < 1) return undefined;
  const quads = (plan: TilePlan): TilePlan | undefined => (plan.mode === 'split' ? undefined : { ...plan, unit: 4 });
  if (partition.kind === 'tensor') {
    const size = outer * axisLen * inner;
    return size % 4 === 0 ? quads(runsPlan(1, size / 4, quadTile, MIN_QUADS_PER_LANE)) : undefined;
  }
  if (partition.kind === 'group') {
    return inner % 4 === 0 ? quads(groupRowsPlan(outer, axisLen, inner / 4, partition.groupSize!, quadTile)) : undefined;
  }
  if ((axisLen * inner) % 4 !== 0) return undefined;
  const columns = columnsPlan(outer, (axisLen * inner) / 4, quadTile);
  if (inner % 4 !== 0) return quads(columns);
  const runs = runsPlan(outer * axisLen, inner / 4, quadTile, MIN_QUADS_PER_LANE);
  const perLaneColumns = columns.mode === 'columns' ? columns.rows : 1;
  const perLaneRuns = Math.min(runs.rows, Math.ceil(inner / 4 / runs.width));
  return quads(perLaneColumns >= perLaneRuns ? columns : runs);
}

/** Caps on one chunk (one dispatch): elements, lanes (partials), tiles, and a check on the parameter window. */
export interface ChunkLimits {
  maxElements: number;
  maxLanes: number;
  maxTiles: number;
  /** False when the chunk `[start, end)` needs too large a slice of the parameter table. */
  fits?: (start: number, end: number) => boolean;
}

/** One dispatch: elements `[start, end)` and its tiles as `(start − chunk start, length)` pairs. */
export interface PlannedChunk {
  start: number;
  end: number;
  tiles: Uint32Array<ArrayBuffer>;
  tileCount: number;
}

/**
 * Groups consecutive tiles into chunks that respect `limits`. Throws {@link LimitExceededError} when one
 * tile alone does not fit.
 *
 * @example
 * ```ts
 * for (const chunk of planChunks(plan, { maxElements: 1 << 24, maxLanes: 1 << 22, maxTiles: 1 << 24 })) dispatch(chunk);
 * ```
 */
export function* planChunks(plan: TilePlan, limits: ChunkLimits): Generator<PlannedChunk> {
  let pending: number[] = [];
  let start = 0;
  let end = 0;
  const flush = (): PlannedChunk => {
    const tiles = Uint32Array.from(pending);
    const chunk = { start, end, tiles, tileCount: pending.length / 2 };
    pending = [];
    return chunk;
  };
  const fits = (from: number, to: number, tileCount: number) => to - from <= limits.maxElements
    && tileCount * plan.width <= limits.maxLanes && tileCount <= limits.maxTiles && (limits.fits?.(from, to) ?? true);
  for (const [tileStart, length] of plan.tiles()) {
    if (pending.length > 0 && !fits(start, tileStart + length, pending.length / 2 + 1)) yield flush();
    if (pending.length === 0) {
      start = tileStart;
      if (!fits(tileStart, tileStart + length, 1)) {
        throw new LimitExceededError(`errorStats: a tile of ${length} elements (${plan.mode} mode, ${plan.width} lanes) `
          + 'does not fit the device limits or maxChunkElements; raise options.maxChunkElements or use backend "cpu"');
      }
    }
    pending.push(tileStart - start, length);
    end = tileStart + length;
  }
  if (pending.length > 0) yield flush();
}
