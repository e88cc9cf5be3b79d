/**
 * The command line's CPU worker pool: how many threads, and from what size an ONNX compression starts one.
 *
 * @example
 * ```ts
 * const pool = await onnxPool(args.workers, true, model.list(), decisions); // undefined below 256 MiB of float32
 * ```
 * @module
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { type CpuWorkerPool, createCpuWorkerPool, defaultCpuWorkerUrl } from '../compress/cpu-worker-pool.js';
import type { WeightDecision } from '../compress/policy.js';

/** Worker threads of the default pool: the host's cores, at most this many (each holds a few blocks of rows). */
export const kMaxDefaultWorkers = 8;

/**
 * Float32 bytes to quantize from which an ONNX compression starts the default pool: below it, the workers' start
 * (each loads the library, about 0.12 s) costs about what they save (docs/performance.md, "All cores").
 */
export const kOnnxPoolMinBytes = 256 * 2 ** 20;

/**
 * The CPU worker pool of a compression on the CPU: `--workers N` threads (0: none, one thread), by
 * default the host's cores up to kMaxDefaultWorkers; none by default on a single core, or when the worker script
 * is not beside the library (the library running from its source).
 *
 * @example
 * ```ts
 * const pool = await defaultPool(args.workers);
 * try { await compressOnnx(bytes, { pool }); } finally { await pool?.close(); }
 * ```
 */
export async function defaultPool(workers: number | undefined): Promise<CpuWorkerPool | undefined> {
  if (workers === 0) return undefined;
  if (workers === undefined) {
    const url = defaultCpuWorkerUrl();
    if (url.protocol !== 'file:' || !existsSync(fileURLToPath(url)) || availableParallelism() < 2) return undefined;
  }
  return createCpuWorkerPool({ workers: workers ?? Math.min(availableParallelism(), kMaxDefaultWorkers) });
}

/**
 * The pool of an ONNX compression: with `--workers N`, or when it may compute on the CPU (`onCpu`: backend 'cpu', or
 * 'auto', which computes on a pool when it has one) and the weights `decisions` (one per weight, or several plans of
 * the same weights: the largest counts) quantize hold kOnnxPoolMinBytes of float32 or more; otherwise undefined (one
 * thread).
 *
 * @example
 * ```ts
 * const pool = await onnxPool(args.workers, args.backend !== 'webgpu', model.list(), [planned]);
 * ```
 */
export async function onnxPool(
  workers: number | undefined, onCpu: boolean, weights: readonly { shape: readonly number[] }[], plans: readonly (readonly WeightDecision[])[],
): Promise<CpuWorkerPool | undefined> {
  if (!onCpu) return undefined;
  const bytes = Math.max(0, ...plans.map((decisions) => decisions.reduce((sum, d, i) =>
    (d.action === 'quantize' ? sum + 4 * weights[i]!.shape.reduce((a, b) => a * b, 1) : sum), 0)));
  return workers !== undefined || bytes >= kOnnxPoolMinBytes ? defaultPool(workers) : undefined;
}
