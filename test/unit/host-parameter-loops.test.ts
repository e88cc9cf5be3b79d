// The host's loops over a weight's parameters (one entry per output: 524,288 for a [4096, 4096] weight in groups
// of 32), written without a branch per entry, against the plain formulas they replace: the same bits on fresh
// random ranges and on the edge values (signed zeros, ties, infinities, NaN, scales below 2^-23 and near the
// float32 limit), and the same error, naming the same entry, where an entry fails.
import { describe, expect, it } from 'vitest';
import { signedExtremeCandidate } from '../../src/calibration/qparams.js';
import { type WeightDecision } from '../../src/compress/policy.js';
import { dequantizeOverflow, storedScales } from '../../src/compress/stored-scales.js';
import { signedExtremeOfRanges } from '../../src/compress/weight-range.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { mergeRecords } from '../../src/kernels/calibration/minmax-kernel.js';
import { addChunkPartials } from '../../src/kernels/error-stats/chunk-partials.js';
import { quantizesFromOriginal } from '../../src/kernels/error-stats/error-stats-shader.js';
import type { PlannedChunk, TilePlan } from '../../src/kernels/error-stats/error-stats-plan.js';
import { BucketSums } from '../../src/stats/bucket-sums.js';
import { type IndexMap, channelIndexMap, groupIndexMap, indexOf, tensorIndexMap } from '../../src/stats/index-map.js';
import { largestInverseScale } from '../../src/kernels/elementwise/plan-elementwise.js';
import { fromIntRepr } from '../../src/qtensor.js';
import { fillGridTable, largestScale, quantGrid, smallParameters } from '../../src/stats/quant-grid.js';
import { checkScale, knownSmallestScale } from '../../src/validate.js';
import { RUN_SEED, rng } from './support.js';

const kRange = { qint8: [-128, 127], quint8: [0, 255], qint4: [-8, 7], quint4: [0, 15] } as const;
const kEdges = [0, -0, 1, -1, 2 ** -30, -(2 ** -30), 3.4e38, -3.4e38, Infinity, -Infinity, 2 ** -149, 0.5, -0.5];

/** A random float32 of either sign over many binades, now and then an edge value. */
function randomValue(next: () => number): number {
  if (next() < 0.1) return kEdges[Math.floor(next() * kEdges.length)]!;
  return Math.fround((next() < 0.5 ? -1 : 1) * 2 ** (-40 + 60 * next()) * (1 + next()));
}

function bitsOf(values: Float32Array | Int32Array): number[] {
  return [...new Int32Array(values.buffer, values.byteOffset, values.length)];
}

describe(`host parameter loops (seed ${RUN_SEED})`, () => {
  it('signedExtremeOfRanges gives signedExtremeCandidate\'s bits for every output, every dtype', () => {
    const next = rng(RUN_SEED);
    for (const dtype of ['qint8', 'quint8', 'qint4', 'quint4'] as const) {
      for (const withNaN of [false, true]) {
        const n = 3000;
        const mins = new Float32Array(n);
        const maxs = new Float32Array(n);
        for (let w = 0; w < n; w++) {
          const a = randomValue(next);
          // Ties (-min == max) a tenth of the time, else any pair.
          const b = next() < 0.1 ? -a : randomValue(next);
          mins[w] = Math.min(a, b);
          maxs[w] = Math.max(a, b);
        }
        mins[7] = 0; maxs[7] = 0; mins[8] = -0; maxs[8] = 0; mins[9] = -0; maxs[9] = -0; mins[10] = 0; maxs[10] = -0;
        if (withNaN) mins[n - 5] = NaN;
        const [qmin, qmax] = kRange[dtype];
        const scales = new Float32Array(n);
        const zeroPoints = new Int32Array(n);
        for (let w = 0; w < n; w++) {
          const candidate = signedExtremeCandidate(mins[w]!, maxs[w]!, { qmin, qmax, symmetricZeroPoint: 0 });
          scales[w] = candidate.scale;
          zeroPoints[w] = candidate.zeroPoint;
        }
        const into = { scales: new Float32Array(n), zeroPoints: new Int32Array(n) };
        // In place too: the scales over the minima, the zero points over the maxima.
        const [minsCopy, maxsCopy] = [mins.slice(), maxs.slice()];
        const inPlace = { scales: minsCopy, zeroPoints: new Int32Array(maxsCopy.buffer) };
        for (const result of [signedExtremeOfRanges(mins, maxs, dtype), signedExtremeOfRanges(mins, maxs, dtype, into),
          signedExtremeOfRanges(minsCopy, maxsCopy, dtype, inPlace)]) {
          expect(bitsOf(result.scales)).toEqual(bitsOf(scales));
          expect([...result.zeroPoints]).toEqual([...zeroPoints]);
        }
        expect(signedExtremeOfRanges(mins, maxs, dtype, into).scales).toBe(into.scales);
      }
    }
  });

  it('mergeRecords decodes the order keys into the minima and maxima and finds the first NaN', () => {
    const next = rng(RUN_SEED + 1);
    const n = 2000;
    const key = (value: number): number => {
      const bits = new Int32Array(Float32Array.of(value).buffer)[0]!;
      return bits < 0 ? bits ^ 0x7fffffff : bits;
    };
    const words = new Int32Array(4 * n);
    const lo = new Float32Array(n);
    const hi = new Float32Array(n);
    const empty = new Set<number>();
    let firstNaN = -1;
    for (let r = 0; r < n; r++) {
      const a = randomValue(next);
      const b = randomValue(next);
      lo[r] = Math.min(a, b);
      hi[r] = Math.max(a, b);
      if (next() < 0.02) {
        empty.add(r); // a record no element reached
        words.set([0x7fffffff, -0x80000000], 4 * r);
      } else {
        words.set([key(lo[r]!), key(hi[r]!)], 4 * r);
      }
      const nan = next() < 0.01 ? Math.floor(next() * 1e6) : -1;
      words[4 * r + 2] = nan < 0 ? -1 : nan;
      if (nan >= 0 && (firstNaN < 0 || nan < firstNaN)) firstNaN = nan;
    }
    const mins = new Float32Array(n + 3).fill(Infinity);
    const maxs = new Float32Array(n + 3).fill(-Infinity);
    mins[3] = -0; maxs[3] = -0; // a box after the first: -0 < +0 keeps -0 as the minimum and takes +0 as the maximum
    const box = { start: 0, count: n, wStart: 3, wCount: n, jStart: 0, jEnd: 0, windowStart: 0, windowCount: 0 };
    expect(mergeRecords(words.buffer, box, mins, maxs)).toBe(firstNaN);
    const less = (a: number, b: number): boolean => a < b || (Object.is(a, -0) && Object.is(b, 0));
    for (let r = 0; r < n; r++) {
      const w = r + 3;
      let wantMin = r === 0 ? -0 : Infinity;
      let wantMax = r === 0 ? -0 : -Infinity;
      if (!empty.has(r)) {
        if (less(lo[r]!, wantMin)) wantMin = lo[r]!;
        if (less(wantMax, hi[r]!)) wantMax = hi[r]!;
      }
      expect(Object.is(mins[w], wantMin), `min of output ${w}`).toBe(true);
      expect(Object.is(maxs[w], wantMax), `max of output ${w}`).toBe(true);
    }
  });

  it('storedScales and dequantizeOverflow accept what the plain loops accept and name the same entry', () => {
    const next = rng(RUN_SEED + 2);
    const n = 4096;
    const decision = { dtype: 'qint8' } as WeightDecision;
    const scales = Float32Array.from({ length: n }, () => Math.fround(2 ** (-20 + 30 * next())));
    const zeroPoints = Int32Array.from({ length: n }, () => Math.floor(next() * 256) - 128);
    expect([...(storedScales(scales, zeroPoints, decision, {}) as Float32Array)]).toEqual([...scales]);
    const rounded = storedScales(scales, zeroPoints, decision, { roundScale: (s) => Math.fround(s * 2) });
    expect([...(rounded as Float32Array)]).toEqual([...scales].map((s) => Math.fround(s * 2)));
    expect(dequantizeOverflow(scales, zeroPoints, 'qint8')).toBeUndefined();
    for (const bad of [0, -1, NaN, Infinity, -0]) {
      const at = 1 + Math.floor(next() * (n - 2));
      const broken = scales.slice();
      broken[at] = bad;
      broken[n - 1] = NaN; // a later failure: the first one is named
      expect(storedScales(broken, zeroPoints, decision, {})).toEqual({ ok: false, reason: `scale ${broken[at]} has no finite positive value in the output format` });
      expect(storedScales(broken, zeroPoints, decision, {}, broken)).toMatchObject({ ok: false });
    }
    const huge = scales.slice();
    const at = Math.floor(next() * n);
    huge[at] = 3e36; // (127 - zp) * 3e36 overflows float32 for zp <= -1, (-128 - zp) * 3e36 for zp >= 0
    const reason = dequantizeOverflow(huge, zeroPoints, 'qint8');
    expect(reason).toContain(`× scale ${huge[at]}`);
    expect(storedScales(huge, zeroPoints, decision, {})).toEqual({ ok: false, reason });
  });

  it('fillGridTable gives checkScale\'s inverses for typed and plain arrays and throws for a scale out of range', () => {
    const next = rng(RUN_SEED + 3);
    const n = 3001;
    const scales64 = Float64Array.from({ length: n }, () => 2 ** (-120 + 240 * next()) * (1 + next()));
    const zeroPoints = Int32Array.from({ length: n }, () => Math.floor(next() * 16) - 8);
    for (const scales of [scales64, Float32Array.from(scales64), [...scales64]]) {
      const at = 5;
      const into = { scales: new Float32Array(n + at), inverseScales: new Float32Array(n + at), zeroPoints: new Int32Array(n + at) };
      fillGridTable(scales, zeroPoints, into, at);
      for (let p = 0; p < n; p++) {
        expect(into.inverseScales[at + p]).toBe(checkScale(scales[p]!));
        expect(into.scales[at + p]).toBe(Math.fround(scales[p]!));
      }
      expect([...into.zeroPoints.subarray(at)]).toEqual([...zeroPoints]);
    }
    for (const bad of [0, NaN, -1, 2 ** 127, 2 ** -127]) {
      const broken = scales64.slice();
      broken[Math.floor(next() * n)] = bad;
      const into = { scales: new Float32Array(n), inverseScales: new Float32Array(n), zeroPoints: new Int32Array(n) };
      expect(() => fillGridTable(broken, zeroPoints, into)).toThrow(InvalidArgumentError);
    }
  });
  it('smallParameters and largestScale know a table quantGrid made as the plain loops find it, and loop over any other', () => {
    const next = rng(RUN_SEED + 4);
    const plain = (zeroPoints: Int32Array, inverseScales: Float32Array): boolean =>
      zeroPoints.every((z) => Math.abs(z) <= 2 ** 22) && inverseScales.every((v) => v <= 2 ** 125);
    const channels = 257;
    for (const [dtype, wide] of [['qint8', false], ['qint32', false], ['qint32', true], ['quint4', false]] as const) {
      for (const tiny of [false, true]) {
        const scales = Float64Array.from({ length: channels }, () => 2 ** (-100 + 150 * next()));
        const zeroPoint = (): number => (dtype === 'quint4' ? Math.floor(next() * 16) : dtype === 'qint8' ? Math.floor(next() * 256) - 128
          : Math.floor((next() - 0.5) * (wide ? 2 ** 31 : 2 ** 22)));
        const zeroPoints = Int32Array.from({ length: channels }, zeroPoint);
        if (wide) zeroPoints[Math.floor(next() * channels)] = 2 ** 22 + 1; // one zero point out of the short test's range
        if (tiny) scales[Math.floor(next() * channels)] = 2 ** -126; // its inverse, 2^126, past 2^125
        const q = fromIntRepr(new Int32Array(channels * 3), [channels, 3], dtype, { scales, zeroPoints, axis: 0 });
        const grid = quantGrid(q);
        const want = plain(grid.zeroPoints, grid.inverseScales);
        expect(want).toBe(!wide && !tiny);
        expect(smallParameters(grid)).toBe(want);
        // The same arrays in a table made elsewhere, or with other zero points: the loop.
        expect(smallParameters({ scales: grid.scales.slice(), inverseScales: grid.inverseScales.slice(), zeroPoints: grid.zeroPoints.slice() })).toBe(want);
        expect(largestScale(grid)).toBe(Math.fround(Math.max(...scales)));
        expect(largestScale({ ...grid, scales: grid.scales.map((v) => v / 2) })).toBe(Math.fround(Math.max(...scales)) / 2);
        const shifted = grid.zeroPoints.map(() => 2 ** 23);
        expect(smallParameters({ scales: grid.scales, inverseScales: grid.inverseScales, zeroPoints: shifted })).toBe(false);
        // largestInverseScale: the inverse of the smallest scale, found when the parameters were checked.
        const smallest = Math.min(...scales);
        expect(largestInverseScale(q.params)).toBe(checkScale(smallest));
        expect(largestInverseScale(q.params)).toBe(checkScale(smallest));
        // Parameters made by hand (not checked, so not known): the loop.
        const byHand = { scheme: 'per_channel_affine' as const, scales: Float64Array.from(scales), zeroPoints: q.params.scheme === 'per_channel_affine' ? q.params.zeroPoints : zeroPoints, axis: 0 };
        expect(knownSmallestScale(byHand.scales)).toBeUndefined();
        expect(knownSmallestScale((q.params as { scales: Float64Array }).scales)).toBe(smallest);
        expect(largestInverseScale(byHand)).toBe(checkScale(smallest));
      }
    }
  });
  it('quantGrid of checked parameters knows its facts before its table, which it makes on first read with the eager bits', () => {
    const next = rng(RUN_SEED + 5);
    const isLazy = (grid: object): boolean => Object.getOwnPropertyDescriptor(grid, 'scales')?.get !== undefined;
    for (const dtype of ['qint8', 'quint8', 'qint4', 'quint4'] as const) {
      const { qmin, qmax } = { qint8: { qmin: -128, qmax: 127 }, quint8: { qmin: 0, qmax: 255 }, qint4: { qmin: -8, qmax: 7 }, quint4: { qmin: 0, qmax: 15 } }[dtype];
      for (const [shape, params] of [[[64, 40], { axis: 0 }], [[6, 40], { axis: 1, groupSize: 8 }], [[3, 37], { axis: 1, groupSize: 5 }]] as const) {
        const size = shape[0] * shape[1];
        const rows = 'groupSize' in params ? shape[0] * Math.ceil(shape[1] / params.groupSize) : shape[params.axis];
        const scales = Float64Array.from({ length: rows }, () => 2 ** (-126 + 252 * next()));
        if (next() < 0.5) scales[Math.floor(next() * rows)] = 2 ** -126; // an inverse past 2^125
        const zeroPoints = Int32Array.from({ length: rows }, () => qmin + Math.floor(next() * (qmax - qmin + 1)));
        const q = fromIntRepr(new Int8Array(size), [...shape], dtype, { scales, zeroPoints, ...params });
        const grid = quantGrid(q);
        expect(isLazy(grid)).toBe(true);
        const eager = { scales: new Float32Array(rows), inverseScales: new Float32Array(rows), zeroPoints: new Int32Array(rows) };
        fillGridTable(scales, zeroPoints, eager);
        const small = eager.zeroPoints.every((z) => Math.abs(z) <= 2 ** 22) && eager.inverseScales.every((v) => v <= 2 ** 125);
        expect(smallParameters(grid)).toBe(small);
        expect(largestScale(grid)).toBe(eager.scales.reduce((a, b) => Math.max(a, b), 0));
        expect(isLazy(grid)).toBe(true); // the facts made no table
        expect([...grid.inverseScales]).toEqual([...eager.inverseScales]);
        expect(isLazy(grid)).toBe(false);
        expect([...grid.scales]).toEqual([...eager.scales]);
        expect([...grid.zeroPoints]).toEqual([...eager.zeroPoints]);
        expect(smallParameters(grid)).toBe(small);
        expect(quantGrid(q).scales).not.toBe(grid.scales); // a grid of its own each time, as before
      }
    }
    // Parameters checked by hand-made arrays of a 32-bit dtype (zero points past 2^22) keep the eager table.
    const wide = quantGrid(fromIntRepr(new Int32Array(2), [2], 'qint32', { scales: [0.5, 1], zeroPoints: [0, 2 ** 30], axis: 0 }));
    expect(isLazy(wide)).toBe(false);
    expect(smallParameters(wide)).toBe(false);
  });
  it('quantizesFromOriginal answers from the largest scale what the loop over every level answers', () => {
    const next = rng(RUN_SEED + 6);
    for (let trial = 0; trial < 200; trial++) {
      const dtype = next() < 0.5 ? 'qint8' as const : 'quint8' as const;
      const [qmin, qmax] = dtype === 'qint8' ? [-128, 127] : [0, 255];
      const rows = 1 + Math.floor(next() * 40);
      // Around the overflow of (qmax - qmin) * scale: 3.4e38 / 255 = 1.33e36.
      const scales = Float64Array.from({ length: rows }, () => (next() < 0.8 ? 2 ** (-60 + 120 * next()) : 1.33e36 * (0.5 + next())));
      const zeroPoints = Int32Array.from({ length: rows }, () => qmin + Math.floor(next() * (qmax - qmin + 1)));
      const grid = quantGrid(fromIntRepr(new Int8Array(rows), [rows, 1], dtype, { scales, zeroPoints, axis: 0 }));
      const levelsFinite = [...scales].every((s, p) => Number.isFinite(Math.fround((qmin - zeroPoints[p]!) * Math.fround(s)))
        && Number.isFinite(Math.fround((qmax - zeroPoints[p]!) * Math.fround(s))));
      expect(quantizesFromOriginal(grid)).toBe(smallParameters(grid) && levelsFinite);
    }
  });
  it('addChunkPartials puts every partial in indexOf\'s bucket, in order, for every kind of map and tile', () => {
    const next = rng(RUN_SEED + 5);
    const shape = [5, 7, 3];
    const size = 5 * 7 * 3;
    const maps: IndexMap[] = [tensorIndexMap()];
    for (let axis = 0; axis < 3; axis++) {
      maps.push(channelIndexMap(shape, axis));
      for (const groupSize of [1, 2, 3, 4, 8]) maps.push(groupIndexMap(shape, axis, groupSize));
    }
    for (const map of maps) {
      for (const unit of [1, 4] as const) {
        const width = 1 + Math.floor(next() * 6);
        const units = Math.ceil(size / unit);
        const start = Math.floor(next() * 3);
        const tiles: number[] = [];
        for (let at = 0; start + at < units;) {
          tiles.push(at, Math.min(width, units - start - at));
          at += 1 + Math.floor(next() * width); // tiles may overlap or leave gaps: only their starts matter here
        }
        const tileCount = tiles.length / 2;
        const chunk = { start, end: units, tiles: Uint32Array.from(tiles), tileCount } as PlannedChunk;
        const plan = { mode: 'runs', unit, width, rows: 1, tiles: () => [][Symbol.iterator]() } as unknown as TilePlan;
        const bytes = new ArrayBuffer(tileCount * width * unit * 8 * 4);
        const floats = new Float32Array(bytes);
        const words = new Uint32Array(bytes);
        for (let tile = 0; tile < tileCount; tile++) {
          for (let p = 0; p < width * unit; p++) {
            const at = (tile * width * unit + p) * 8;
            const element = (start + tiles[2 * tile]!) * unit + p;
            for (let j = 0; j < 5; j++) floats[at + j] = next();
            words[at + 5] = Math.floor(next() * 3);
            words[at + 6] = 0;
            words[at + 7] = element < size && next() < 0.9 ? 1 + Math.floor(next() * 4) : 0;
          }
        }
        const [got, gotOverall, want, wantOverall] = [new BucketSums(map.count), new BucketSums(1), new BucketSums(map.count), new BucketSums(1)];
        addChunkPartials(bytes, plan, chunk, map, got, gotOverall);
        for (let tile = 0; tile < tileCount; tile++) {
          for (let p = 0; p < width * unit; p++) {
            const at = (tile * width * unit + p) * 8;
            if (words[at + 7] === 0) continue;
            const bucket = indexOf(map, (start + tiles[2 * tile]!) * unit + p);
            want.addPartial(bucket, floats, at, floats[at + 4]!, words[at + 5]!, words[at + 6]!, words[at + 7]!);
            wantOverall.addPartial(0, floats, at, floats[at + 4]!, words[at + 5]!, words[at + 6]!, words[at + 7]!);
          }
        }
        for (const key of ['count', ...BucketSums.SUMS] as const) {
          expect([...got[key]], `${key}, map ${JSON.stringify(map)}, unit ${unit}`).toEqual([...want[key]]);
          expect([...gotOverall[key]]).toEqual([...wantOverall[key]]);
        }
      }
    }
  });
});
