/**
 * A pool of CPU worker threads (Node `worker_threads`) for the CPU path on big weights: each worker runs the
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
 * Node only: in a browser (no `worker_threads`) `createCpuWorkerPool` throws InvalidArgumentError.
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

interface NodeWorkerThreads { Worker: new (url: URL, options?: { name?: string; execArgv?: string[] }) => NodeWorker }

/** Options of {@link createCpuWorkerPool}. */
export interface CpuWorkerPoolOptions {
  /** Worker threads (default: the host's available parallelism). */
  workers?: number;
  /** The worker script (default: `cpu-worker.js` beside the library's own files in `dist/`). */
  workerUrl?: URL | string;
}

/** A pool of CPU worker threads; see the module documentation. */
export interface CpuWorkerPool {
  /** The number of worker threads. */
  readonly size: number;
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

interface Pending { resolve: (value: unknown) => void; reject: (error: Error) => void; task: CpuTaskName }

/** Not a literal in `new URL(...)`: bundlers would otherwise copy the source file in as an asset. */
const kWorkerFile = './cpu-worker.js';

async function loadWorkerThreads(): Promise<NodeWorkerThreads & { cores: number }> {
  const scope = globalThis as { process?: { versions?: { node?: string } } };
  if (typeof scope.process?.versions?.node !== 'string') {
    throw new InvalidArgumentError('environment', 'browser', 'createCpuWorkerPool needs Node\'s worker_threads; in a browser run without a pool');
  }
  const [threads, os] = ['node:worker_threads', 'node:os']; // not literals: bundlers leave the imports alone
  const { Worker } = await (import(/* @vite-ignore */ threads) as Promise<NodeWorkerThreads>);
  const { availableParallelism } = await (import(/* @vite-ignore */ os) as Promise<{ availableParallelism(): number }>);
  return { Worker, cores: availableParallelism() };
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
  const { Worker, cores } = await loadWorkerThreads();
  const size = workersOption ?? Math.max(1, cores);
  const url = options.workerUrl === undefined ? new URL(kWorkerFile, import.meta.url) : new URL(options.workerUrl);
  // Node's own flags (memory limits, --expose-gc) apply to the workers too; those about the main script do not.
  const execArgv = ((globalThis as { process?: { execArgv?: string[] } }).process?.execArgv ?? [])
    .filter((flag) => !/^--(input-type|eval|print)\b|^-[ep]$/.test(flag));
  const pending: Map<number, Pending>[] = [];
  const workers: NodeWorker[] = [];
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
    if (!closing) for (const worker of workers) worker.unref(); // a failed pool keeps nothing alive; close() keeps them referenced until they stop
  };
  for (let index = 0; index < size; index++) {
    const worker = new Worker(url, { name: `webgpu-quant cpu worker ${index + 1}`, execArgv });
    const tasks = new Map<number, Pending>();
    worker.on('message', (answer) => {
      const task = tasks.get(answer.id);
      if (!task) return;
      tasks.delete(answer.id);
      if (tasks.size === 0) worker.unref();
      if (answer.ok) task.resolve(decodeResult(task.task, answer.result));
      else task.reject(decodeError(answer.error, task.task));
    });
    worker.on('error', (error) => fail(index, `failed: ${error.message}`, error));
    worker.on('exit', (code) => fail(index, `stopped (exit code ${code})`));
    worker.unref();
    workers.push(worker);
    pending.push(tasks);
  }

  return {
    size,
    run<K extends CpuTaskName>(task: K, args: CpuTaskArgs[K], transfer: readonly ArrayBuffer[] = []): Promise<CpuTaskResults[K]> {
      if (failure) return Promise.reject(failure);
      if (closing) return Promise.reject(new WorkerError('the CPU worker pool was closed; create another to run more tasks'));
      let index = 0;
      for (let i = 1; i < size; i++) if (pending[i]!.size < pending[index]!.size) index = i;
      const id = nextId++;
      return new Promise<CpuTaskResults[K]>((resolve, reject) => {
        pending[index]!.set(id, { resolve: resolve as (value: unknown) => void, reject, task });
        workers[index]!.ref();
        workers[index]!.postMessage({ id, task, args }, transfer);
      });
    },
    async killWorker(index) {
      await workers[index]?.terminate();
    },
    async close() {
      if (closing) return;
      closing = true;
      // Referenced while they stop: an idle (unreferenced) worker would let Node exit before terminate() settles.
      for (const worker of workers) worker.ref();
      await Promise.all(workers.map((worker) => worker.terminate()));
    },
  };
}
