// A CPU worker pool for a test file: the worker script built from src/ before the tests (as dist/cpu-worker.js
// is built), a pool of `workers` threads on it, both removed after the tests.
import { rmSync } from 'node:fs';
import { afterAll, beforeAll } from 'vitest';
import { type CpuWorkerPool, createCpuWorkerPool } from '../../src/compress/cpu-worker-pool.js';
import { buildCpuWorker } from './cpu-worker-build.js';

/** Registers beforeAll / afterAll hooks; the returned object's fields are set once beforeAll has run. */
export function useCpuWorkerPool(workers: number): { pool: CpuWorkerPool; worker: { url: URL; dir: string } } {
  const fixture = {} as { pool: CpuWorkerPool; worker: { url: URL; dir: string } };
  beforeAll(async () => {
    fixture.worker = await buildCpuWorker();
    fixture.pool = await createCpuWorkerPool({ workers, workerUrl: fixture.worker.url });
  });
  afterAll(async () => {
    await fixture.pool?.close();
    if (fixture.worker) rmSync(fixture.worker.dir, { recursive: true, force: true });
  });
  return fixture;
}

/** A pool that counts the tasks it is given (to assert which weights went to the workers). */
export function countingPool(inner: CpuWorkerPool): CpuWorkerPool & { tasks: number } {
  const out = { ...inner, tasks: 0 };
  out.run = (...args) => {
    out.tasks++;
    return inner.run(...args);
  };
  return out;
}

/** A pool that records the name of each task it is given. */
export function recordingPool(inner: CpuWorkerPool): CpuWorkerPool & { names: string[] } {
  const out = { ...inner, names: [] as string[] };
  out.run = ((task: string, ...rest: unknown[]) => {
    out.names.push(task);
    return (inner.run as (...args: unknown[]) => unknown)(task, ...rest);
  }) as CpuWorkerPool['run'];
  return out;
}
