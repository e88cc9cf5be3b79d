// The error-statistics work split (src/kernels/error-stats/error-stats-plan.ts) and host combination, without a GPU:
// every element is summed exactly once, no lane mixes buckets, chunks respect their limits; and a float32
// emulation of shaders/error-stats/error_stats.wgsl, fed through the real host code (addChunkPartials, rescale,
// assemble), agrees with the float64 reference within the stated tolerance on every plan mode.
import { describe, expect, it } from 'vitest';
import { LimitExceededError, type QTensor, type Tensor, tensor } from '../../src/index.js';
import { addChunkPartials } from '../../src/kernels/error-stats/chunk-partials.js';
import { prescaleFor } from '../../src/kernels/error-stats/error-stats-kernel.js';
import {
  MAX_ROWS_PER_LANE, type PlannedChunk, type StatsPartition, type TilePlan, planChunks, planQuadTiles, planTiles,
} from '../../src/kernels/error-stats/error-stats-plan.js';
import { PARTIAL_WORDS, clipBounds } from '../../src/kernels/error-stats/error-stats-shader.js';
import { channelLayout } from '../../src/layout.js';
import { errorStats as referenceErrorStats } from '../../src/reference/error-stats.js';
import { quantizePerChannel, quantizePerTensor, quantizeValue } from '../../src/reference/quantize.js';
import { type ErrorStatsRequest, checkErrorStatsArguments } from '../../src/stats/arguments.js';
import { assembleErrorStats } from '../../src/stats/assemble.js';
import { BucketSums } from '../../src/stats/bucket-sums.js';
import { type IndexMap, channelIndexMap, groupIndexMap, indexOf, indexWindow, tensorIndexMap } from '../../src/stats/index-map.js';
import { dequantizedValue } from '../../src/stats/quant-grid.js';
import type { ErrorStats, ErrorStatsOptions, ErrorStatsSummary } from '../../src/stats/types.js';
import { RUN_SEED, normalData, rng } from './support.js';

const f = Math.fround;

/** The lanes of a plan, as the shader walks them: for each lane, the element indices it sums. */
function* lanes(plan: TilePlan): Generator<number[]> {
  for (const [start, length] of plan.tiles()) {
    for (let lane = 0; lane < plan.width; lane++) {
      const elements: number[] = [];
      for (let r = 0; r < plan.rows; r++) {
        const offset = r * plan.width + lane;
        if (offset >= length) break;
        elements.push(start + offset);
      }
      yield elements;
    }
  }
}

function partitionOf(shape: number[], opts: ErrorStatsOptions): { partition: StatsPartition; map: IndexMap } {
  const size = shape.reduce((a, b) => a * b, 1);
  if (opts.axis === undefined) return { partition: { kind: 'tensor', outer: 1, axisLen: 1, inner: size }, map: tensorIndexMap() };
  const { outer, channels, inner } = channelLayout(shape, opts.axis);
  if (opts.groupSize === undefined) return { partition: { kind: 'channel', outer, axisLen: channels, inner }, map: channelIndexMap(shape, opts.axis) };
  return {
    partition: { kind: 'group', outer, axisLen: channels, inner, groupSize: opts.groupSize },
    map: groupIndexMap(shape, opts.axis, opts.groupSize),
  };
}

const kShapes: [number[], ErrorStatsOptions][] = [
  [[37], {}], [[5000], {}], [[4, 9, 6], { axis: 0 }], [[4, 9, 6], { axis: 1 }], [[4, 9, 6], { axis: 2 }],
  [[3, 4096], { axis: 0 }], [[4096, 3], { axis: 1 }], [[2, 300, 70], { axis: 1 }], [[4, 9, 6], { axis: 1, groupSize: 4 }],
  [[4, 9, 6], { axis: 2, groupSize: 1 }], [[4, 9, 6], { axis: 0, groupSize: 3 }], [[3, 1000], { axis: 1, groupSize: 300 }],
  [[6, 7], { axis: 1, groupSize: 100 }],
];

describe('planTiles', () => {
  for (const [shape, opts] of kShapes) {
    for (const maxTile of [4, 5, 17, 64, 1 << 30]) {
      it(`[${shape}] ${JSON.stringify(opts)}, tiles of at most ${maxTile}: each element once, one bucket per lane`, () => {
        const { partition, map } = partitionOf(shape, opts);
        const plan = planTiles(partition, maxTile);
        const size = shape.reduce((a, b) => a * b, 1);
        const seen = new Uint8Array(size);
        let end = 0;
        for (const [start, length] of plan.tiles()) {
          expect(start, 'tiles are contiguous, in order').toBe(end);
          expect(length).toBeGreaterThan(0);
          expect(length).toBeLessThanOrEqual(Math.min(maxTile, plan.rows * plan.width));
          end = start + length;
        }
        expect(end).toBe(size);
        expect(plan.width).toBeLessThanOrEqual(maxTile);
        expect(plan.rows).toBeLessThanOrEqual(MAX_ROWS_PER_LANE);
        for (const elements of lanes(plan)) {
          for (const i of elements) {
            expect(seen[i], `element ${i} summed twice`).toBe(0);
            seen[i] = 1;
            expect(indexOf(map, i), `lane ${elements[0]} mixes buckets`).toBe(indexOf(map, elements[0]!));
          }
        }
        expect(seen.every((v) => v === 1), 'every element summed').toBe(true);
      });
    }
  }

  it('picks coalesced layouts: runs for the outer axis and per tensor, columns for the inner axis', () => {
    const outerAxis = planTiles({ kind: 'channel', outer: 1, axisLen: 64, inner: 4096 }, 1 << 28);
    expect([outerAxis.mode, outerAxis.width, outerAxis.rows]).toEqual(['runs', 64, 64]);
    const innerAxis = planTiles({ kind: 'channel', outer: 4096, axisLen: 64, inner: 1 }, 1 << 28);
    expect([innerAxis.mode, innerAxis.width, innerAxis.rows]).toEqual(['columns', 64, 256]);
    const whole = planTiles({ kind: 'tensor', outer: 1, axisLen: 1, inner: 1e8 }, 1 << 28);
    expect([whole.mode, whole.width, whole.rows]).toEqual(['runs', 64, 256]);
    expect(planTiles({ kind: 'channel', outer: 4, axisLen: 10, inner: 1e6 }, 1000).mode).toBe('runs');
    expect(planTiles({ kind: 'channel', outer: 1, axisLen: 5000, inner: 1 }, 1000).mode).toBe('split');
  });
});

describe('planQuadTiles', () => {
  const quadShapes: [number[], ErrorStatsOptions][] = [
    [[5000], {}], [[4, 8, 6], { axis: 0 }], [[4, 9, 8], { axis: 2 }], [[4, 9, 8], { axis: 1 }], [[3, 4096], { axis: 0 }],
    [[4096, 4], { axis: 1 }], [[2, 6, 2], { axis: 1 }], [[4, 12, 4], { axis: 1, groupSize: 5 }], [[8, 3, 8], { axis: 0, groupSize: 3 }],
  ];
  for (const [shape, opts] of quadShapes) {
    for (const maxTile of [4, 17, 64, 1 << 30]) {
      it(`[${shape}] ${JSON.stringify(opts)}, tiles of at most ${maxTile} elements: each element once, one bucket per lane and component`, () => {
        const { partition, map } = partitionOf(shape, opts);
        const plan = planQuadTiles(partition, maxTile);
        if (plan === undefined) return;
        expect(plan.unit).toBe(4);
        expect(4 * plan.width).toBeLessThanOrEqual(maxTile);
        const size = shape.reduce((a, b) => a * b, 1);
        const seen = new Uint8Array(size);
        for (const quads of lanes(plan)) {
          for (let c = 0; c < 4; c++) {
            for (const u of quads) {
              const i = 4 * u + c;
              expect(seen[i], `element ${i} summed twice`).toBe(0);
              seen[i] = 1;
              expect(indexOf(map, i), `lane ${quads[0]} component ${c} mixes buckets`).toBe(indexOf(map, 4 * quads[0]! + c));
            }
          }
        }
        expect(seen.every((v) => v === 1), 'every element summed').toBe(true);
      });
    }
  }

  it('plans quads where runs or rows are a multiple of 4, and nowhere else', () => {
    expect(planQuadTiles({ kind: 'tensor', outer: 1, axisLen: 1, inner: 4096 * 4096 }, 1 << 28)?.mode).toBe('runs');
    expect(planQuadTiles({ kind: 'channel', outer: 1, axisLen: 4096, inner: 4096 }, 1 << 28)?.mode).toBe('runs');
    expect(planQuadTiles({ kind: 'channel', outer: 4096, axisLen: 4096, inner: 1 }, 1 << 28)?.width).toBe(1024);
    expect(planQuadTiles({ kind: 'tensor', outer: 1, axisLen: 1, inner: 37 }, 1 << 28)).toBeUndefined();
    expect(planQuadTiles({ kind: 'channel', outer: 4, axisLen: 9, inner: 6 }, 1 << 28)).toBeUndefined();
    expect(planQuadTiles({ kind: 'group', outer: 4, axisLen: 9, inner: 6, groupSize: 2 }, 1 << 28)).toBeUndefined();
    expect(planQuadTiles({ kind: 'tensor', outer: 1, axisLen: 1, inner: 64 }, 3)).toBeUndefined();
  });
});

describe('planChunks', () => {
  const plan = planTiles({ kind: 'channel', outer: 50, axisLen: 7, inner: 3 }, 100);

  it('chunks are contiguous, cover the tensor, hold tiles relative to their start and respect every limit', () => {
    for (const limits of [{ maxElements: 100, maxLanes: 1e9, maxTiles: 1e9 }, { maxElements: 1e9, maxLanes: 42, maxTiles: 1e9 },
      { maxElements: 1e9, maxLanes: 1e9, maxTiles: 2 }, { maxElements: 1e9, maxLanes: 1e9, maxTiles: 1e9, fits: (s: number, e: number) => e - s <= 170 }]) {
      let end = 0;
      let chunks = 0;
      for (const chunk of planChunks(plan, limits)) {
        chunks++;
        expect(chunk.start).toBe(end);
        expect(chunk.end - chunk.start).toBeLessThanOrEqual(Math.min(limits.maxElements, limits.fits ? 170 : Infinity));
        expect(chunk.tileCount * plan.width).toBeLessThanOrEqual(limits.maxLanes);
        expect(chunk.tileCount).toBeLessThanOrEqual(limits.maxTiles);
        expect(chunk.tiles[0]).toBe(0);
        expect(chunk.tiles[2 * chunk.tileCount - 2]! + chunk.tiles[2 * chunk.tileCount - 1]!).toBe(chunk.end - chunk.start);
        end = chunk.end;
      }
      expect(end).toBe(1050);
      expect(chunks).toBeGreaterThan(1);
    }
    expect([...planChunks(plan, { maxElements: 1e9, maxLanes: 1e9, maxTiles: 1e9 })]).toHaveLength(1);
  });

  it('throws LimitExceededError when a single tile does not fit', () => {
    expect(() => [...planChunks(plan, { maxElements: 1e9, maxLanes: 1e9, maxTiles: 1e9, fits: () => false })]).toThrow(LimitExceededError);
  });
});

describe('indexWindow holds every index of a range', () => {
  for (const [shape, opts] of kShapes.filter(([, o]) => o.axis !== undefined)) {
    it(`[${shape}] ${JSON.stringify(opts)}`, () => {
      const { map } = partitionOf(shape, opts);
      const size = shape.reduce((a, b) => a * b, 1);
      const next = rng(RUN_SEED + size);
      for (let trial = 0; trial < 50; trial++) {
        const start = Math.floor(next() * size);
        const end = start + 1 + Math.floor(next() * (size - start));
        const [lo, hi] = indexWindow(map, start, end);
        for (let i = start; i < end; i++) expect(indexOf(map, i) >= lo && indexOf(map, i) < hi, `index of ${i} in [${lo}, ${hi})`).toBe(true);
        expect(lo).toBeGreaterThanOrEqual(0);
        expect(hi).toBeLessThanOrEqual(map.count);
      }
    });
  }
});

/** shaders/error-stats/error_stats.wgsl, one lane, in float32 steps: the partial it writes. */
function emulateLane(request: ErrorStatsRequest, elements: number[], prescale: number, out: DataView, at: number): void {
  const q = request.quantized;
  const bounds = clipBounds(q.kind === 'grid' ? q.grid.qmin : 0, q.kind === 'grid' ? q.grid.qmax : 0);
  const sums = [0, 0, 0, 0];
  const compensation = [0, 0, 0, 0];
  let maxAbs = 0;
  let clipped = 0;
  let nonFinite = 0;
  for (const i of elements) {
    const x = request.original[i]!;
    let xh: number;
    if (q.kind === 'values') {
      xh = q.data[i]!;
    } else {
      const p = indexOf(q.grid.map, i);
      xh = dequantizedValue(q.grid, p, q.ints[i]!);
      const t = quantizeValue(x, q.grid.inverseScales[p]!, q.grid.zeroPoints[p]!, bounds.clampLow, bounds.clampHigh);
      if (t < bounds.low || t > bounds.high) clipped++;
    }
    if (!Number.isFinite(x) || !Number.isFinite(xh)) {
      nonFinite++;
      continue;
    }
    const xs = f(x * prescale);
    const xhs = f(xh * prescale);
    const e = f(xs - xhs);
    maxAbs = Math.max(maxAbs, Math.abs(e));
    const terms = [f(e * e), f(xs * xs), f(xhs * xhs), f(xs * xhs)];
    for (let j = 0; j < 4; j++) {
      const term = f(terms[j]! - compensation[j]!);
      const next = f(sums[j]! + term);
      compensation[j] = f(f(next - sums[j]!) - term);
      sums[j] = next;
    }
  }
  for (let j = 0; j < 4; j++) out.setFloat32(at + 4 * j, sums[j]! - compensation[j]!, true);
  out.setFloat32(at + 16, maxAbs, true);
  out.setUint32(at + 20, clipped, true);
  out.setUint32(at + 24, nonFinite, true);
  out.setUint32(at + 28, elements.length, true);
}

/** errorStats as the GPU path computes it, with the shader emulated: the real plan, chunking and host code. */
function emulatedErrorStats(x: Tensor, quantized: QTensor | Tensor, opts: ErrorStatsOptions, maxTile: number): ErrorStats {
  const request = checkErrorStatsArguments(x, quantized, opts);
  const prescale = prescaleFor(request);
  const overall = new BucketSums(1);
  const passes: { sums: BucketSums; options: ErrorStatsOptions }[] = [];
  if (opts.axis !== undefined) passes.push({ sums: new BucketSums(channelIndexMap(request.shape, request.axis!).count), options: { axis: request.axis } });
  if (opts.groupSize !== undefined) passes.push({ sums: new BucketSums(groupIndexMap(request.shape, request.axis!, opts.groupSize).count), options: { axis: request.axis, groupSize: opts.groupSize } });
  if (passes.length === 0) passes.push({ sums: overall, options: {} });
  passes.forEach(({ sums, options }, pass) => {
    const { partition, map } = partitionOf(request.shape as number[], options);
    const plan = planTiles(partition, maxTile);
    for (const chunk of planChunks(plan, { maxElements: maxTile, maxLanes: maxTile, maxTiles: 1e9 })) {
      const bytes = new ArrayBuffer(chunk.tileCount * plan.width * PARTIAL_WORDS * 4);
      const view = new DataView(bytes);
      const chunkPlan: TilePlan = { ...plan, *tiles() { for (let t = 0; t < chunk.tileCount; t++) yield [chunk.start + chunk.tiles[2 * t]!, chunk.tiles[2 * t + 1]!]; } };
      let lane = 0;
      for (const elements of lanes(chunkPlan)) emulateLane(request, elements, prescale, view, PARTIAL_WORDS * 4 * lane++);
      addChunkPartials(bytes, plan, chunk as PlannedChunk, map, sums, pass === 0 && sums !== overall ? overall : undefined);
    }
  });
  for (const { sums } of passes) sums.rescale(1 / prescale);
  if (passes[0]!.sums !== overall) overall.rescale(1 / prescale);
  const perGroup = opts.groupSize === undefined ? undefined : passes[passes.length - 1]!.sums;
  return assembleErrorStats(request, overall, opts.axis === undefined ? undefined : passes[0]!.sums, perGroup, 'webgpu');
}

/** Every bucket of a result: overall first, then per channel, then per group. */
function summaries(stats: ErrorStats): ErrorStatsSummary[] {
  const out = [stats.overall];
  for (const s of [stats.perChannel, stats.perGroup]) {
    if (!s) continue;
    for (let b = 0; b < s.mse.length; b++) {
      out.push({ mse: s.mse[b]!, maxAbsError: s.maxAbsError[b]!, sqnrDb: s.sqnrDb[b]!, cosine: s.cosine[b]!, clipFraction: s.clipFraction[b]!, count: s.count[b]! });
    }
  }
  return out;
}

describe('emulated kernel through the host code versus the float64 reference', () => {
  const next = rng(RUN_SEED);
  const shape = [6, 50, 7];
  const x = tensor(normalData(2100, next, 3), shape);
  x.data[17] = Infinity;
  const q8 = quantizePerTensor(x, 0.02, -3, 'qint8');
  const q32 = quantizePerChannel(x, Array.from({ length: 7 }, (_, c) => f(0.001 * (c + 1))), [0, 1, 2, 3, 4, 5, 6], 2, 'qint32');
  const plain = tensor(x.data.map((v) => f(v * 1.001)), shape);
  for (const [name, q] of [['qint8 per tensor', q8], ['qint32 per channel', q32], ['plain tensor', plain]] as const) {
    for (const opts of [{}, { axis: 0 }, { axis: 1 }, { axis: 2 }, { axis: 1, groupSize: 8 }, { axis: 2, groupSize: 3 }]) {
      it(`${name} ${JSON.stringify(opts)} (seed ${RUN_SEED})`, () => {
        const expected = referenceErrorStats(x, q, opts);
        for (const maxTile of [5, 100, 1 << 20]) {
          const actual = emulatedErrorStats(x, q, opts, maxTile);
          const [a, e] = [summaries(actual), summaries(expected)];
          expect(a.length).toBe(e.length);
          // The overall bucket holds the infinite element 17; the per-bucket ones are finite or not.
          a.forEach((got, b) => {
            const want = e[b]!;
            const what = `bucket ${b} of ${a.length}, tiles of ${maxTile}`;
            expect(got.count, what).toBe(want.count);
            expect(Object.is(got.clipFraction, want.clipFraction), `${what} clip ${got.clipFraction} vs ${want.clipFraction}`).toBe(true);
            expect(Object.is(got.maxAbsError, f(want.maxAbsError)), `${what} max ${got.maxAbsError} vs ${want.maxAbsError}`).toBe(true);
            if (!Number.isFinite(want.mse)) expect(Object.is(got.mse, want.mse), what).toBe(true);
            else expect(Math.abs(got.mse - want.mse), `${what} mse ${got.mse} vs ${want.mse}`).toBeLessThanOrEqual(1e-6 * want.mse); // 0 where exact
            if (!Number.isFinite(want.sqnrDb)) expect(Object.is(got.sqnrDb, want.sqnrDb), what).toBe(true);
            else expect(Math.abs(got.sqnrDb - want.sqnrDb), `${what} sqnr`).toBeLessThanOrEqual(1e-5);
            if (Number.isNaN(want.cosine)) expect(got.cosine, what).toBeNaN();
            else expect(Math.abs(got.cosine - want.cosine), `${what} cosine`).toBeLessThanOrEqual(1e-6);
          });
          expect(actual.overall.count).toBe(2100);
          expect(actual.overall.mse).toBe(Infinity); // element 17 is infinite
          expect(actual.overall.clipFraction).toEqual(expected.overall.clipFraction);
        }
      });
    }
  }
});
