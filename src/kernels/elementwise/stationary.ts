/**
 * The stationary per-channel and per-group kernels of the 8-bit and 4-bit dtypes
 * (shaders/elementwise/stationary_params.wgsl): when a tensor's parameter rows line up with whole vecs, each
 * invocation keeps one set of parameters for all its vecs. This file decides when that holds and
 * computes each chunk's uniform and invocation count.
 *
 * @example
 * ```ts
 * stationaryLayout(paramLayout([4096, 4096], { axis: 0 }), 16);
 * // { kind: 'runs', alignElements: 4096, runElements: 4096, rows: 4096, vecsPerThread: 16 }
 * ```
 * @module
 */
import type { ParamLayout } from '../../layout.js';
import { STATIONARY_PARAMS, packUniform } from '../common/uniforms.js';
import { VECS_PER_THREAD } from '../common/workgroup.js';

/**
 * The stationary kernels' walks: 'runs' (runs of whole vecs, one parameter row each, invocations sharing a
 * long run), 'columns' (per channel along the last axis: each invocation keeps one column vec of
 * parameters) and 'shortRuns' ('runs' with runs shorter than vecsPerThread vecs: whole runs per invocation).
 */
export type StationaryKind = 'runs' | 'columns' | 'shortRuns';

/** `override STATIONARY_KIND` of shaders/elementwise/stationary_params.wgsl, per named kind. */
export const STATIONARY_KIND: Readonly<Record<StationaryKind, number>> = Object.freeze({ runs: 1, columns: 2, shortRuns: 3 });

/** How a stationary kernel walks a tensor (see shaders/elementwise/stationary_params.wgsl). */
export interface StationaryLayout {
  readonly kind: StationaryKind;
  /** Chunks must hold whole runs ('runs', 'shortRuns') or whole rows ('columns'): this many elements. */
  readonly alignElements: number;
  /** 'runs', 'shortRuns': elements per run (0: per tensor, runs of PER_TENSOR_RUN_VECS vecs); 'columns': elements per row. */
  readonly runElements: number;
  /** Parameter rows. */
  readonly rows: number;
  readonly vecsPerThread: number;
}

/**
 * The stationary layout of a per-channel or per-group tensor, or undefined when its rows do not line up
 * with vecs of `vecElements` elements (16 for 8-bit dtypes, 32 for 4-bit) and the general grouped kernel
 * must serve it.
 *
 * @example
 * ```ts
 * stationaryLayout(paramLayout([64, 4096], { axis: 1 }), 16)?.kind;                 // 'columns'
 * stationaryLayout(paramLayout([64, 4096], { axis: 1, groupSize: 32 }), 16)?.kind;  // 'shortRuns'
 * stationaryLayout(paramLayout([64, 100], { axis: 1 }), 16);                        // undefined
 * ```
 */
export function stationaryLayout(layout: ParamLayout, vecElements: number): StationaryLayout | undefined {
  const perGroup = layout.strideInner !== 0;
  const runs = (runElements: number, rows: number): StationaryLayout => ({
    kind: runElements / vecElements < VECS_PER_THREAD ? 'shortRuns' : 'runs', alignElements: runElements, runElements, rows, vecsPerThread: VECS_PER_THREAD,
  });
  if (!perGroup && layout.inner % vecElements === 0) return runs(layout.inner, layout.channels);
  if (perGroup && layout.inner === 1 && layout.channels % layout.groupSize === 0 && layout.groupSize % vecElements === 0) {
    return runs(layout.groupSize, layout.outer * layout.groups);
  }
  if (!perGroup && layout.inner === 1 && layout.channels % vecElements === 0) {
    return { kind: 'columns', alignElements: layout.channels, runElements: layout.channels, rows: layout.channels, vecsPerThread: VECS_PER_THREAD };
  }
  return undefined;
}

/**
 * Vecs per run of a per-tensor tensor: compact runs (16 invocations each striding over 256 vecs) measured
 * up to 15 % faster on SwiftShader than invocations striding over the whole chunk (docs/performance.md).
 */
export const PER_TENSOR_RUN_VECS = 256;

/**
 * The stationary layout of a per-tensor tensor: 'runs', parameter row 0 for every run, runs of
 * PER_TENSOR_RUN_VECS vecs (the chunk's last one may be shorter), so the parameters are read once per
 * invocation.
 *
 * @example
 * ```ts
 * perTensorStationary(16).rows; // 1
 * ```
 */
export function perTensorStationary(vecElements: number): StationaryLayout {
  return { kind: 'runs', alignElements: vecElements, runElements: 0, rows: 1, vecsPerThread: VECS_PER_THREAD };
}

/**
 * The invocations and uniform of a chunk of `count` elements starting at element `start` (both multiples
 * of `alignElements`, but for the last chunk of a per-tensor layout, whose last vec may be partial).
 *
 * @example
 * ```ts
 * const { threads, uniform } = stationaryChunk(layout, 16, 0, 4096 * 4096, { qmin: -128, qmax: 127 });
 * ```
 */
export function stationaryChunk(
  s: StationaryLayout, vecElements: number, start: number, count: number, range: { qmin: number; qmax: number },
): { threads: number; uniform: ArrayBuffer } {
  const runVecs = s.runElements === 0 ? PER_TENSOR_RUN_VECS : s.runElements / vecElements;
  const runs = s.runElements === 0 ? Math.ceil(Math.ceil(count / vecElements) / PER_TENSOR_RUN_VECS) : count / s.runElements;
  let runThreads: number;
  let runsPerThread = 1;
  let threads: number;
  if (s.kind === 'columns') {
    runThreads = Math.ceil(runs / s.vecsPerThread); // the row stride: rows are spread over that many invocations
    threads = runVecs * runThreads;
  } else if (s.kind === 'runs') {
    runThreads = Math.ceil(runVecs / s.vecsPerThread); // invocations sharing a long run
    threads = runs * runThreads;
  } else {
    runThreads = 1;
    // Whole short runs per invocation; at most `rows`, so an invocation's rows wrap around at most once.
    runsPerThread = Math.min(Math.floor(s.vecsPerThread / runVecs), s.rows);
    threads = Math.ceil(runs / runsPerThread);
  }
  return {
    threads,
    uniform: packUniform(STATIONARY_PARAMS, {
      thread_count: threads, vec_count: Math.ceil(count / vecElements), run_vecs: runVecs, run_threads: runThreads,
      runs_per_thread: runsPerThread, chunk_runs: runs, first_run: s.kind === 'columns' || s.runElements === 0 ? 0 : start / s.runElements, rows: s.rows,
      qmin: range.qmin, qmax: range.qmax, _pad0: 0, _pad1: 0,
    }),
  };
}
