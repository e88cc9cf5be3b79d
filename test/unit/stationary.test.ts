// Which tensors the stationary kernels serve, and the invocation counts and uniforms of their chunks:
// every vec of a chunk must be covered exactly once, which this checks by walking the spans as the shader
// does (shaders/elementwise/stationary_params.wgsl span_of).
import { describe, expect, it } from 'vitest';
import { paramLayout } from '../../src/layout.js';
import { type StationaryKind, type StationaryLayout, perTensorStationary, stationaryChunk, stationaryLayout } from '../../src/kernels/elementwise/stationary.js';
import { type ChunkedJob, chunkElements } from '../../src/kernels/common/run-chunked.js';
import { STATIONARY_PARAMS } from '../../src/kernels/common/uniforms.js';

/** The uniform's fields by name. */
function fields(bytes: ArrayBuffer): Record<string, number> {
  const view = new DataView(bytes);
  return Object.fromEntries(STATIONARY_PARAMS.fields.map(([name, type], i) => [name,
    type === 'f32' ? view.getFloat32(4 * i, true) : view.getUint32(4 * i, true)]));
}

/**
 * The vecs each invocation takes, as span_of computes them, each with the parameter row the shader uses
 * for it (kind 1: the run it reloads on entering; kind 2: the column vec).
 */
function spans(u: Record<string, number>, kind: StationaryKind, vecsPerThread: number): [number, number][][] {
  const out: [number, number][][] = [];
  for (let t = 0; t < u.thread_count!; t++) {
    if (kind === 'runs') {
      const run = Math.floor(t / u.run_threads!);
      const j = t % u.run_threads!;
      const length = Math.min(u.run_vecs!, u.vec_count! - run * u.run_vecs!);
      const count = j < length ? Math.min(Math.ceil((length - j) / u.run_threads!), vecsPerThread) : 0;
      const row = (u.first_run! + run) % u.rows!;
      out.push(Array.from({ length: count }, (_, k) => [run * u.run_vecs! + j + k * u.run_threads!, row]));
    } else if (kind === 'shortRuns') {
      const first = t * u.runs_per_thread!;
      const runs = Math.min(u.runs_per_thread!, u.chunk_runs! - first);
      const row0 = (u.first_run! + first) % u.rows!;
      out.push(Array.from({ length: runs * u.run_vecs! }, (_, k) => {
        const row = row0 + Math.floor(k / u.run_vecs!);
        return [first * u.run_vecs! + k, row >= u.rows! ? row - u.rows! : row];
      }));
    } else {
      const o = Math.floor(t / u.run_vecs!);
      const column = t - o * u.run_vecs!;
      const count = Math.min(Math.ceil((u.chunk_runs! - o) / u.run_threads!), vecsPerThread);
      out.push(Array.from({ length: count }, (_, k) => [o * u.run_vecs! + column + k * u.run_threads! * u.run_vecs!, column]));
    }
  }
  return out;
}

describe('stationaryLayout', () => {
  it('per channel: runs when inner holds whole vecs, columns along the last axis, else none', () => {
    expect(stationaryLayout(paramLayout([4096, 4096], { axis: 0 }), 16)).toEqual(
      { kind: 'runs', alignElements: 4096, runElements: 4096, rows: 4096, vecsPerThread: 16 });
    expect(stationaryLayout(paramLayout([3, 7, 32], { axis: 1 }), 32)?.kind).toBe('shortRuns'); // runs of 1 vec
    expect(stationaryLayout(paramLayout([3, 7, 512], { axis: 1 }), 32)?.kind).toBe('runs'); // runs of 16 vecs
    expect(stationaryLayout(paramLayout([3, 7, 48], { axis: 1 }), 32)).toBeUndefined(); // 48 % 32
    expect(stationaryLayout(paramLayout([64, 96], { axis: 1 }), 16)).toEqual(
      { kind: 'columns', alignElements: 96, runElements: 96, rows: 96, vecsPerThread: 16 });
    expect(stationaryLayout(paramLayout([64, 100], { axis: 1 }), 16)).toBeUndefined();
    expect(stationaryLayout(paramLayout([64, 4, 3], { axis: 1 }), 16)).toBeUndefined();
  });
  it('per group: runs when groups hold whole vecs and tile the last axis', () => {
    expect(stationaryLayout(paramLayout([64, 4096], { axis: 1, groupSize: 32 }), 16)).toEqual(
      { kind: 'shortRuns', alignElements: 32, runElements: 32, rows: 64 * 128, vecsPerThread: 16 });
    expect(stationaryLayout(paramLayout([64, 4096], { axis: 1, groupSize: 32 }), 32)?.kind).toBe('shortRuns');
    expect(stationaryLayout(paramLayout([4, 4096], { axis: 1, groupSize: 256 }), 16)?.kind).toBe('runs');
    expect(stationaryLayout(paramLayout([64, 4096], { axis: 1, groupSize: 16 }), 32)).toBeUndefined();
    expect(stationaryLayout(paramLayout([64, 100], { axis: 1, groupSize: 32 }), 16)).toBeUndefined(); // a short last group
    expect(stationaryLayout(paramLayout([64, 32], { axis: 0, groupSize: 32 }), 16)).toBeUndefined(); // not the last axis
  });
});

describe('stationaryChunk', () => {
  const layouts: [string, StationaryLayout, number, number][] = [
    // name, layout, vec elements, tensor elements
    ['per tensor (runs of 256 vecs, a short last one)', perTensorStationary(16), 16, 16 * 1000],
    ['per tensor, 4-bit, one short run', perTensorStationary(32), 32, 32 * 37],
    ['per tensor, 5000 vecs', perTensorStationary(16), 16, 16 * 5000],
    ['runs of 1 vec (groups of 16)', stationaryLayout(paramLayout([10, 64], { axis: 1, groupSize: 16 }), 16)!, 16, 640],
    ['runs of 3 vecs (5 a thread)', stationaryLayout(paramLayout([37, 3 * 16], { axis: 0 }), 16)!, 16, 37 * 48],
    ['runs of 1 vec, 3 rows (wrapping)', stationaryLayout(paramLayout([7, 3, 16], { axis: 1 }), 16)!, 16, 7 * 3 * 16],
    ['runs of 16 vecs', stationaryLayout(paramLayout([9, 256], { axis: 0 }), 16)!, 16, 9 * 256],
    ['runs of 9 vecs', stationaryLayout(paramLayout([7, 144], { axis: 0 }), 16)!, 16, 7 * 144],
    ['runs of 256 vecs', stationaryLayout(paramLayout([3, 4096], { axis: 0 }), 16)!, 16, 3 * 4096],
    ['runs of 37 vecs', stationaryLayout(paramLayout([5, 37 * 32], { axis: 0 }), 32)!, 32, 5 * 37 * 32],
    ['columns, 37 rows', stationaryLayout(paramLayout([37, 64], { axis: 1 }), 32)!, 32, 37 * 64],
    ['columns, 1 row', stationaryLayout(paramLayout([1, 48], { axis: 1 }), 16)!, 16, 48],
    ['columns, 16 rows', stationaryLayout(paramLayout([16, 16], { axis: 1 }), 16)!, 16, 256],
  ];
  for (const [name, s, vec, size] of layouts) {
    it(`${name}: every vec of every chunk exactly once, at most vecsPerThread per invocation`, () => {
      for (const chunkRuns of [1, 2, 3, 1000]) {
        const chunk = Math.min(size, chunkRuns * s.alignElements);
        for (let start = 0; start < size; start += chunk) {
          const count = Math.min(chunk, size - start);
          const { threads, uniform } = stationaryChunk(s, vec, start, count, { qmin: -8, qmax: 7 });
          const u = fields(uniform);
          expect(u.thread_count).toBe(threads);
          expect(u.vec_count).toBe(count / vec);
          expect([u.qmin, u.qmax]).toEqual([-8, 7]);
          if (s.kind !== 'columns') expect(u.first_run).toBe(s.runElements === 0 ? 0 : start / s.runElements);
          const seen = spans(u, s.kind, s.vecsPerThread);
          // Every invocation has work, but per tensor's short last run (some of its invocations may idle).
          expect(seen.every((vecs) => (vecs.length >= 1 || s.runElements === 0) && vecs.length <= s.vecsPerThread)).toBe(true);
          const all = seen.flat().sort((a, b) => a[0] - b[0]);
          expect(all.map(([v]) => v)).toEqual(Array.from({ length: count / vec }, (_, i) => i));
          // Each vec with its own row: kind 1, its run's row; kind 2, its column vec.
          const runVecs = s.runElements / vec;
          for (const [v, row] of all) {
            expect(row).toBe(s.runElements === 0 ? 0 : s.kind === 'columns' ? v % runVecs : (start / s.runElements + Math.floor(v / runVecs)) % s.rows);
          }
        }
      }
    });
  }
  it('kind 1 rows: each run reads parameter row (first_run + run) % rows', () => {
    const s = stationaryLayout(paramLayout([2, 3, 16], { axis: 1 }), 16)!;
    const u = fields(stationaryChunk(s, 16, 4 * 16, 2 * 16, { qmin: -128, qmax: 127 }).uniform);
    // Runs 4 and 5 of the tensor (o = 1, a = 1 and 2): rows 1 and 2, both taken by one invocation.
    expect(s.kind).toBe('shortRuns');
    expect(spans(u, 'shortRuns', 16)).toEqual([[[0, 1], [1, 2]]]);
  });
});

describe('chunkElements for stationary jobs', () => {
  const device = (maxBytes: number, maxPerDimension: number) => ({
    limits: { maxStorageBufferBindingSize: maxBytes, maxBufferSize: maxBytes, maxComputeWorkgroupsPerDimension: maxPerDimension },
  }) as unknown as GPUDevice;
  const job = (s: StationaryLayout, vec: number, extra: Partial<ChunkedJob> = {}): ChunkedJob => ({
    pipeline: { label: 'test', code: '', entryPoint: 'main', constants: {} }, uniform: () => new ArrayBuffer(0), size: 1 << 30,
    elementsPerVec: vec, inputBytesPerVec: 4 * vec, outputBytesPerVec: 16, writeInput: () => {}, readOutput: () => {},
    chunkAlign: s.alignElements, threadsFor: (vecs) => stationaryChunk(s, vec, 0, vecs * vec, { qmin: 0, qmax: 1 }).threads, ...extra,
  });
  it('holds whole runs, as many as the dispatch limits allow, or none', () => {
    const s = stationaryLayout(paramLayout([64, 65536], { axis: 0 }), 16)!; // runs of 4096 vecs: 256 invocations each
    expect(chunkElements(device(2 ** 30, 65535), job(s, 16))).toBe(2 ** 30 / 64 * 16); // the binding limit: 64 B a vec
    expect(chunkElements(device(2 ** 30, 2), job(s, 16))).toBe(4 * 65536); // 4 groups of 256: 4 runs
    expect(chunkElements(device(2 ** 30, 1), job(s, 16))).toBe(65536); // 1 group: 1 run
    expect(chunkElements(device(2 ** 30, 65535), job(s, 16, { maxChunkElements: 65535 }))).toBe(0); // smaller than a run
  });
  it('kind 2: whole rows, invocations within the limit', () => {
    const s = stationaryLayout(paramLayout([100000, 64], { axis: 1 }), 16)!;
    const chunk = chunkElements(device(2 ** 30, 3), job(s, 16));
    expect(chunk % 64).toBe(0);
    expect(stationaryChunk(s, 16, 0, chunk, { qmin: 0, qmax: 1 }).threads).toBeLessThanOrEqual(9 * 256);
    expect(stationaryChunk(s, 16, 0, chunk + 64 * 16 * 16, { qmin: 0, qmax: 1 }).threads).toBeGreaterThan(9 * 256 - 64);
  });
});
