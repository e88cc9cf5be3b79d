/**
 * Where backend 'auto' stops computing weights on the CPU: a crossover measured once per GPU device.
 *
 * A weight on the GPU costs round trips (an upload, submits, readbacks) before any arithmetic, and its
 * arithmetic runs at the device's rate; on the CPU it costs its elements at the WebAssembly kernels' rate. So
 * the first time 'auto' meets a device, the work of one weight (min/max parameters, int8 quantize per channel,
 * error statistics: the operations a compressor runs) is timed on both backends at two sizes, 2^14 and 2^18
 * elements, after one warm-up call each. Each backend's time is fitted as `fixed + elements × per element`, and
 * the crossover is where the two lines meet:
 *
 * - a GPU whose per-element time is not below the CPU's never wins: the crossover is `Infinity` and 'auto'
 *   computes every weight on the CPU (SwiftShader, a software adapter, measures so: docs/performance.md);
 * - otherwise `(gpuFixed - cpuFixed) / (cpuPerElement - gpuPerElement)`, and never below
 *   {@link AUTO_GPU_MIN_ELEMENTS}.
 *
 * The GPU side is timed with the separate calls (three uploads and readbacks) where compression's one-upload chain
 * takes two submits and one readback, so the measured fixed cost is, if anything, too high and the crossover
 * errs towards the CPU; the per-element rates, which decide `Infinity`, are the same kernels'.
 *
 * The timings are wall-clock: measured while other work shares the device or the thread, the crossover can err
 * either way (with 47 other calls in flight on SwiftShader it came out at about 355K elements instead of
 * `Infinity`). Compression asks before its large weights' work starts, so there it is measured nearly alone.
 *
 * The measurement takes a few tens of milliseconds on a hardware GPU (about 0.2 s on SwiftShader) and is kept
 * for the device's life. Where 'auto' finds no GPU the crossover is `Infinity` without measuring, and a weight
 * below {@link AUTO_GPU_MIN_ELEMENTS} never asks, so compressing only small weights starts no GPU. A caller's
 * `device` or backend 'webgpu' is never routed: those run every weight on the GPU.
 *
 * @example
 * ```ts
 * const elements = await autoCrossover();          // Infinity on a software adapter or without a GPU
 * const where = w.length < elements ? 'cpu' : 'webgpu';
 * ```
 * @module
 */
import { chooseQParams } from '../ops/choose-qparams.js';
import { errorStats } from '../ops/error-stats.js';
import { type OpOptions, checkOpOptions, selectManager } from '../ops/backend.js';
import { quantizePerChannel } from '../ops/quantize.js';
import type { GpuManager } from '../gpu/device.js';

/**
 * The smallest weight (elements) 'auto' ever sends to the GPU: 16,384 float32 values, 64 KiB. Below it the
 * round trips cost more than the work on any device measured (docs/performance.md, "Whole-model compression").
 */
export const AUTO_GPU_MIN_ELEMENTS = 16384;

const kSizes = [1 << 14, 1 << 18] as const;
const kColumns = 256;
const measured = new WeakMap<GpuManager, Promise<number>>();

/** Deterministic weight-like data: a sine mix, so both backends see the same values. */
function sampleWeight(n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 0.05 * Math.sin(i * 0.7548776662) + 0.02 * Math.sin(i * 0.0123);
  return out;
}

/** Milliseconds of one weight's work (parameters, quantize, statistics) on `options`' backend. */
async function weightMs(data: Float32Array, options: OpOptions): Promise<number> {
  const x = { data, shape: [data.length / kColumns, kColumns] };
  const started = performance.now();
  const p = await chooseQParams(x, { dtype: 'qint8', granularity: { axis: 0 }, symmetric: true }, options);
  const q = await quantizePerChannel(x, p.scales, p.zeroPoints, 0, 'qint8', options);
  await errorStats(x, q, { axis: 0 }, options);
  return performance.now() - started;
}

/** `fixed + elements × perElement` through the two measured sizes. */
function line(times: readonly number[]): { fixed: number; perElement: number } {
  const perElement = (times[1]! - times[0]!) / (kSizes[1] - kSizes[0]);
  return { fixed: times[0]! - perElement * kSizes[0], perElement };
}

/**
 * The crossover from one weight's milliseconds at 2^14 and 2^18 elements on each backend (see the module
 * documentation). Not part of the API: the unit tests check the fit.
 *
 * @example
 * ```ts
 * crossoverOf({ gpu: [2, 3], cpu: [0.1, 1.6] }); // 950272: the GPU from about 2^20 elements
 * ```
 */
export function crossoverOf(times: { gpu: readonly number[]; cpu: readonly number[] }): number {
  const [g, c] = [line(times.gpu), line(times.cpu)];
  if (!(g.perElement < c.perElement)) return Infinity;
  return Math.max(AUTO_GPU_MIN_ELEMENTS, Math.ceil((g.fixed - c.fixed) / (c.perElement - g.perElement)));
}

async function measure(manager: GpuManager): Promise<number> {
  const gpu: OpOptions = { backend: 'webgpu', device: manager.device };
  const cpu: OpOptions = { backend: 'cpu' };
  const data = kSizes.map(sampleWeight);
  const times = { gpu: [] as number[], cpu: [] as number[] };
  for (const [name, options] of [['gpu', gpu], ['cpu', cpu]] as const) {
    await weightMs(data[0]!, options); // warm-up: pipelines compiled, kernels instantiated
    for (const d of data) times[name].push(await weightMs(d, options));
  }
  return crossoverOf(times);
}

/**
 * The weight size (elements) from which backend 'auto' computes on the GPU (see the module documentation):
 * measured once per device, `Infinity` where 'auto' finds no GPU or the GPU is never faster.
 *
 * @example
 * ```ts
 * if (!Number.isFinite(await autoCrossover())) console.log("'auto' computes every weight on the CPU here");
 * ```
 */
export async function autoCrossover(options?: OpOptions): Promise<number> {
  // The options are checked as every operation checks them; 'cpu' never uses a GPU.
  const manager = await selectManager(options);
  if (!manager) return Infinity;
  let result = measured.get(manager);
  if (!result) {
    // Every caller that arrives while the measurement runs shares it. A measurement that fails (a device lost
    // part way) is not kept: 'auto' falls back to the fixed floor, and the weight's own call says what failed.
    result = measure(manager).catch(() => {
      measured.delete(manager);
      return AUTO_GPU_MIN_ELEMENTS;
    });
    measured.set(manager, result);
  }
  return result;
}

/**
 * Whether backend 'auto' computes a model's weights on the CPU, `largest` being its largest weight's elements: with a
 * worker pool always (its workers outrun one GPU round trip per weight: on an H200 with 16 cores, eight workers
 * compress a 1 GB model in 0.9–1.1 s where the GPU takes 1.7–2.1 s, docs/performance.md), else below
 * {@link AUTO_GPU_MIN_ELEMENTS} or the measured {@link autoCrossover}. With a pool no device is acquired (the options
 * are still checked).
 *
 * @example
 * ```ts
 * const pool = await createCpuWorkerPool({ workers: 4 });
 * await autoComputesOnCpu({ backend: 'auto' }, 16_777_216, pool); // true: the pool does the work
 * await autoComputesOnCpu({ backend: 'auto' }, 1024);             // true: below the floor
 * ```
 */
export async function autoComputesOnCpu(options: OpOptions | undefined, largest: number, pool?: unknown): Promise<boolean> {
  checkOpOptions(options);
  if (pool !== undefined) return true;
  return largest < AUTO_GPU_MIN_ELEMENTS || largest < await autoCrossover(options);
}
