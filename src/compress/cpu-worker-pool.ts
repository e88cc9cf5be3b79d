/**
 * A pool of CPU workers (Node `worker_threads`, or module Web Workers in a browser) for the CPU path on big
 * weights: each worker runs the
 * library's WebAssembly kernels on the tensors it is given (the tasks of cpu-worker-tasks.ts), so several
 * weights are quantized at once, one per core. A worker's results are the bits the calling thread would
 * compute; callers commit them in their own order, so output bytes never depend on timing.
 *
 * Tensor data is passed by structured clone: a `transfer` list moves buffers without a copy (the caller
 * loses them), and data on a `SharedArrayBuffer` is shared, not copied. The integers come back transferred.
 *
 * A worker that dies (a crash, out of memory, `terminate()`, a missing script) fails every task in flight
 * with {@link WorkerError}, and the pool takes no more work: a compression then aborts its sink, so nothing
 * is written. Idle workers do not keep Node alive; still, `close()` the pool when done.
 *
 * In a browser the default script is `cpu-worker.js` beside the library's module files: an app that bundles the
 * library passes `workerUrl` (its bundler's URL of `webgpu-quant/dist/cpu-worker.js`). Where there are no
 * workers at all, `createCpuWorkerPool` throws InvalidArgumentError.
 *
 * @example
 * ```ts
 * const pool = await createCpuWorkerPool({ workers: 2 });
 * try {
 *   const result = await pool.run('quantizeWeight', [{ data: w, shape: [4096, 4096] }, decision], [w.buffer]);
 * } finally {
 *   await pool.close();
 * }
 * ```
 * @module
 */
import { InvalidArgumentError, WorkerError } from '../errors.js';
import { type CpuTaskArgs, type CpuTaskName, type CpuTaskResults, type TaskAnswer, decodeError, decodeResult } from './cpu-worker-tasks.js';

/** The part of `node:worker_threads`' Worker used here. */
interface NodeWorker {
  postMessage(message: unknown, transfer?: readonly ArrayBuffer[]): void;
  on(event: 'message', listener: (answer: TaskAnswer) => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  on(event: 'exit', listener: (code: number) => void): void;
  terminate(): Promise<number>;
  ref(): void;
  unref(): void;
}

type NodeWorkerConstructor = new (url: URL, options?: { name?: string; execArgv?: string[]; resourceLimits?: { maxYoungGenerationSizeMb?: number } }) => NodeWorker;

/**
 * The young generation of a Node worker's heap, in MB (V8's default grows to tens of MB). A worker makes few
 * objects of its own but many typed arrays, whose memory is given back only when a collection finds them
 * dead: a small young generation collects sooner. Measured on the 1 GB MLP with two workers, the same time:
 * int4 groups 194–203 → 182–189 MiB at the peak, GGUF 198–203 → 190–192, the default 157–162 → 148–152.
 */
const WORKER_YOUNG_GENERATION_MB = 4;

/** What a worker tells the pool. */
interface WorkerEvents { answer(answer: TaskAnswer): void; died(why: string, cause?: unknown): void }

/** One worker, Node's or the browser's, as the pool drives it. */
interface PoolWorker {
  post(message: unknown, transfer: readonly ArrayBuffer[]): void;
  /** Whether the worker keeps Node running (no-op in browsers). */
  hold(busy: boolean): void;
  terminate(): Promise<void>;
}

function nodeWorker(Worker: NodeWorkerConstructor, url: URL, name: string, execArgv: string[], events: WorkerEvents): PoolWorker {
  const worker = new Worker(url, { name, execArgv, resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB } });
  worker.on('message', events.answer);
  worker.on('error', (error) => events.died(`failed: ${error.message}`, error));
  worker.on('exit', (code) => events.died(`stopped (exit code ${code})`));
  worker.unref();
  return {
    post: (message, transfer) => worker.postMessage(message, transfer),
    hold: (busy) => (busy ? worker.ref() : worker.unref()),
    terminate: async () => { await worker.terminate(); }, // 'exit' follows
  };
}

function webWorker(url: URL, name: string, events: WorkerEvents): PoolWorker {
  const worker = new Worker(url, { type: 'module', name });
  worker.addEventListener('message', (event: MessageEvent<TaskAnswer>) => events.answer(event.data));
  worker.addEventListener('error', (event: ErrorEvent) => {
    event.preventDefault();
    events.died(`failed: ${event.message || `its script ${url.href} could not be loaded`}`);
  });
  worker.addEventListener('messageerror', () => events.died('failed: a message could not be read'));
  return {
    post: (message, transfer) => worker.postMessage(message, transfer as Transferable[]),
    hold: () => undefined,
    terminate: async () => {
      worker.terminate();
      events.died('stopped (terminated)'); // a Web Worker has no exit event
    },
  };
}

/** How this environment starts workers, and how many cores it has. */
async function workerKind(): Promise<{ start: (url: URL, name: string, events: WorkerEvents) => PoolWorker; cores: number }> {
  const scope = globalThis as { process?: { versions?: { node?: string }; execArgv?: string[] }; navigator?: { hardwareConcurrency?: number } };
  if (typeof scope.process?.versions?.node === 'string') {
    const [threads, os] = ['node:worker_threads', 'node:os']; // not literals: bundlers leave the imports alone
    const { Worker } = await (import(/* @vite-ignore */ threads) as Promise<{ Worker: NodeWorkerConstructor }>);
    const { availableParallelism } = await (import(/* @vite-ignore */ os) as Promise<{ availableParallelism(): number }>);
    // Node's own flags (memory limits, --expose-gc) apply to the workers too; those about the main script do not.
    const execArgv = (scope.process.execArgv ?? []).filter((flag) => !/^--(input-type|eval|print)\b|^-[ep]$/.test(flag));
    return { start: (url, name, events) => nodeWorker(Worker, url, name, execArgv, events), cores: availableParallelism() };
  }
  if (typeof Worker !== 'function') {
    throw new InvalidArgumentError('environment', 'no workers', 'createCpuWorkerPool needs Node\'s worker_threads or Web Workers; run without a pool');
  }
  return { start: webWorker, cores: scope.navigator?.hardwareConcurrency ?? 1 };
}

/** Options of {@link createCpuWorkerPool}. */
export interface CpuWorkerPoolOptions {
  /** Worker threads (default: the host's available parallelism). */
  workers?: number;
  /** The worker script, an absolute URL (default: `cpu-worker.js` beside the library's own files in `dist/`). */
  workerUrl?: URL | string;
}

/**
 * Checks an option that should hold a pool from {@link createCpuWorkerPool}: undefined, or an object with `size`
 * and `run`; anything else is an InvalidArgumentError naming `argument`.
 *
 * @example
 * ```ts
 * checkPool(options.pool, 'options.pool'); // throws for { pool: 2 }: pass createCpuWorkerPool({ workers: 2 })
 * ```
 */
export function checkPool(pool: unknown, argument: string): asserts pool is CpuWorkerPool | undefined {
  if (pool === undefined) return;
  const p = pool as Partial<CpuWorkerPool> | null;
  if (p === null || typeof p !== 'object' || typeof p.run !== 'function' || !Number.isInteger(p.size) || p.size! < 1) {
    throw new InvalidArgumentError(argument, pool, `${argument} must be a pool from createCpuWorkerPool({ workers }), or left out for one thread`);
  }
}

/** A pool of CPU worker threads; see the module documentation. */
export interface CpuWorkerPool {
  /** The number of worker threads. */
  readonly size: number;
  /** The host's logical cores when the pool was made (undefined: not known). */
  readonly cores?: number;
  /**
   * Runs a task on the least busy worker. Rejects with the task's own typed error, or {@link WorkerError}
   * when a worker died (then every later call rejects with it too).
   */
  run<K extends CpuTaskName>(task: K, args: CpuTaskArgs[K], transfer?: readonly ArrayBuffer[]): Promise<CpuTaskResults[K]>;
  /** @internal Terminates one worker as a crash would (for tests of the failure path). */
  killWorker(index: number): Promise<void>;
  /** Stops the workers; tasks still in flight reject with WorkerError. */
  close(): Promise<void>;
}

/** Weights of at least this many bytes go to a pool (smaller ones cost more to send than to run). */
export const POOL_MIN_BYTES = 256 * 1024;

/** At most this much float32 input in flight on a pool at once (besides the limit of {@link poolTasksInFlight}). */
export const POOL_IN_FLIGHT_BYTES = 256 * 2 ** 20;

/**
 * Weights a compressor keeps in flight on `pool`: one per worker, and one more queued where the host has a core
 * beyond the workers' for the calling thread, which takes the results in order (with none spare, the extra weight
 * only competes with the calling thread, and holds memory: safetensors and GGUF output of a 1 GB model on two
 * workers of two cores were 0.1–0.2 s faster and 14–20 MiB smaller without it; docs/performance.md). One without
 * a pool. An ONNX output keeps its queued weight regardless (compressOnnx, measured faster with it).
 *
 * @example
 * ```ts
 * poolTasksInFlight(await createCpuWorkerPool({ workers: 2 })); // 2 on a host of 2 cores, 3 on one of 4
 * ```
 */
export function poolTasksInFlight(pool: CpuWorkerPool | undefined): number {
  if (!pool) return 1;
  return pool.size + ((pool.cores ?? Infinity) > pool.size ? 1 : 0);
}

interface Pending { resolve: (value: unknown) => void; reject: (error: Error) => void; task: CpuTaskName }

/** Not a literal in `new URL(...)`: bundlers would otherwise copy the source file in as an asset. */
const kWorkerFile = './cpu-worker.js';

/**
 * Where {@link createCpuWorkerPool} looks for the worker script when no `workerUrl` is given: `cpu-worker.js`
 * beside the library's own module files (in `dist/`; absent when the library runs from its TypeScript source).
 *
 * @example
 * ```ts
 * existsSync(fileURLToPath(defaultCpuWorkerUrl())); // true for the built library
 * ```
 */
export function defaultCpuWorkerUrl(): URL {
  return new URL(kWorkerFile, import.meta.url);
}

/**
 * Starts a pool of `workers` CPU worker threads.
 *
 * @example
 * ```ts
 * const pool = await createCpuWorkerPool();
 * pool.size; // the host's cores
 * await pool.close();
 * ```
 */
export async function createCpuWorkerPool(options: CpuWorkerPoolOptions = {}): Promise<CpuWorkerPool> {
  const workersOption = options.workers;
  if (workersOption !== undefined && (!Number.isInteger(workersOption) || workersOption < 1 || workersOption > 256)) {
    throw new InvalidArgumentError('workers', workersOption, `workers is ${workersOption}; use an integer from 1 to 256`);
  }
  const kind = await workerKind();
  const size = workersOption ?? Math.max(1, kind.cores);
  let url: URL;
  try {
    url = options.workerUrl === undefined ? defaultCpuWorkerUrl() : new URL(options.workerUrl);
  } catch {
    throw new InvalidArgumentError('workerUrl', options.workerUrl, `workerUrl ${String(options.workerUrl)} is not an absolute URL; give a file: or https: URL of cpu-worker.js`);
  }
  const pending: Map<number, Pending>[] = [];
  const workers: PoolWorker[] = [];
  let failure: WorkerError | undefined;
  let closing = false;
  let nextId = 0;

  const fail = (index: number, why: string, cause?: unknown): void => {
    if (closing && failure === undefined) failure = new WorkerError('the CPU worker pool was closed');
    failure ??= new WorkerError(`CPU worker ${index + 1} of ${size} ${why}; the calls waiting on the pool failed (a compression `
      + 'aborts its output: nothing was written). Run again with fewer workers or more memory, or without a pool (one thread)',
    cause === undefined ? undefined : { cause });
    for (const tasks of pending) {
      for (const task of tasks.values()) task.reject(failure);
      tasks.clear();
    }
    if (!closing) for (const worker of workers) worker.hold(false); // a failed pool keeps nothing alive; close() holds them until they stop
  };
  for (let index = 0; index < size; index++) {
    const tasks = new Map<number, Pending>();
    pending.push(tasks);
    const worker = kind.start(url, `webgpu-quant cpu worker ${index + 1}`, {
      answer(answer) {
        const task = tasks.get(answer.id);
        if (!task) return;
        tasks.delete(answer.id);
        if (tasks.size === 0) worker.hold(false);
        if (answer.ok) task.resolve(decodeResult(task.task, answer.result));
        else task.reject(decodeError(answer.error, task.task));
      },
      died: (why, cause) => fail(index, why, cause),
    });
    workers.push(worker);
  }

  return {
    size,
    cores: kind.cores,
    run<K extends CpuTaskName>(task: K, args: CpuTaskArgs[K], transfer: readonly ArrayBuffer[] = []): Promise<CpuTaskResults[K]> {
      if (failure) return Promise.reject(failure);
      if (closing) return Promise.reject(new WorkerError('the CPU worker pool was closed; create another to run more tasks'));
      let index = 0;
      for (let i = 1; i < size; i++) if (pending[i]!.size < pending[index]!.size) index = i;
      const id = nextId++;
      return new Promise<CpuTaskResults[K]>((resolve, reject) => {
        try {
          workers[index]!.post({ id, task, args }, transfer);
        } catch (error) {
          // Structured clone refused the arguments (a function, a detached buffer): the worker never saw them.
          reject(new InvalidArgumentError('args', args, `${task}: its arguments cannot be sent to a worker (${(error as Error).message}); `
            + 'pass plain data and typed arrays whose buffers are not detached'));
          return;
        }
        pending[index]!.set(id, { resolve: resolve as (value: unknown) => void, reject, task });
        workers[index]!.hold(true);
      });
    },
    async killWorker(index) {
      await workers[index]?.terminate();
    },
    async close() {
      if (closing) return;
      closing = true;
      // Held while they stop: an idle (unreferenced) Node worker would let Node exit before terminate() settles.
      for (const worker of workers) worker.hold(true);
      await Promise.all(workers.map((worker) => worker.terminate()));
    },
  };
}
