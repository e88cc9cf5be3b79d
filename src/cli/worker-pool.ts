/**
 * The command line's CPU worker pool: how many threads, and from what size an ONNX compression starts one.
 *
 * @example
 * ```ts
 * const pool = plannedBytes >= kOnnxPoolMinBytes ? await defaultPool(undefined) : undefined;
 * ```
 * @module
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { type CpuWorkerPool, createCpuWorkerPool, defaultCpuWorkerUrl } from '../compress/cpu-worker-pool.js';

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
