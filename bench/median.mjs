// The median time of a benchmark step, for the CPU benchmarks (bench/cpu-kernels.mjs, bench/calibration-search.mjs).
import { performance } from 'node:perf_hooks';

/** Runs `fn` (sync or async) `reps` times; the median wall time in ms and the last result. */
export async function medianOf(reps, fn) {
  const times = [];
  let result;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    result = await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)], result };
}
