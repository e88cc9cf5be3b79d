// compressToSafetensors and compressToGguf on the CPU path with and without the CPU worker pool, and what 'auto'
// weighs against the GPU: the CPU's time per weight by size. npm run build first (it imports dist/).
//
//   node bench/cpu-pool.mjs [--weights=8] [--rows=2048] [--cols=2048] [--reps=3] [--workers=1,2]
//                           [--formats=safetensors,gguf] [--gguf-dtype=qint8|qint4]
//
// 1. A safetensors file of `weights` float32 matrices [rows, cols] (seeded normal values) plus a bias, written to
//    a temporary folder, compressed to a temporary file through nodeFileSink, in interleaved rounds: one thread,
//    then a pool of each worker count (the pools are created once, outside the timing). safetensors: the default
//    policy (qint8 per channel, the quality floor and its error statistics included); gguf: Q8_0 (or Q4_0) blocks
//    with their error statistics. Each row is the median of `reps` rounds, with the process' CPU time and that of
//    its busiest thread (Linux); every output is compared byte for byte with the one-thread output.
// 2. quantizeWeight (the same policy) on one thread, per size: the CPU side of 'auto''s crossover.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  compressToGguf, compressToSafetensors, createCpuWorkerPool, decideWeights, nodeFileSink, openSafetensorsFile, quantizeWeight, serializeSafetensors,
} from '../dist/models.js';
import { normalData } from './normal-data.mjs';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const weights = Number(args.weights ?? 8);
const rows = Number(args.rows ?? 2048);
const cols = Number(args.cols ?? 2048);
const reps = Number(args.reps ?? 3);
const workerCounts = (args.workers ?? '1,2').split(',').map(Number);
const formats = (args.formats ?? 'safetensors,gguf').split(',');
const ggufDtype = args['gguf-dtype'] ?? 'qint8';

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// CPU time of each thread of this process (Linux: /proc/self/task/*/stat, user + system, in ms; 10 ms ticks), so
// that the busiest thread's share can be told apart from the host's load: on free cores a run takes about as long
// as its busiest thread.
function threadTimes() {
  const out = new Map();
  try {
    for (const tid of readdirSync('/proc/self/task')) {
      const fields = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
      out.set(tid, (Number(fields[11]) + Number(fields[12])) * 10); // utime, stime (fields 14, 15 of stat)
    }
  } catch {
    return undefined; // not Linux
  }
  return out;
}

function busiestThread(before, after) {
  if (!before || !after) return NaN;
  let most = 0;
  for (const [tid, ms] of after) most = Math.max(most, ms - (before.get(tid) ?? 0));
  return most;
}

const dir = mkdtempSync(join(tmpdir(), 'wq-cpu-pool-'));
try {
  const tensors = Array.from({ length: weights }, (_, i) => ({ name: `layers.${i}.weight`, dtype: 'F32', shape: [rows, cols], data: normalData(rows * cols, 100 + i) }));
  tensors.push({ name: 'norm.bias', dtype: 'F32', shape: [cols], data: normalData(cols, 7) });
  const input = join(dir, 'model.safetensors');
  writeFileSync(input, await serializeSafetensors(tensors));
  const inputBytes = weights * rows * cols * 4;
  const pools = new Map();
  for (const n of workerCounts) pools.set(n, await createCpuWorkerPool({ workers: n }));
  // One compression of the input to `output`, with a pool or without (pool undefined).
  const runs = {
    safetensors: {
      what: 'compressToSafetensors, default policy (qint8 per channel, the quality floor and its error statistics)',
      run: async (reader, output, pool) => compressToSafetensors(reader, decideWeights(reader.list(), {}), await nodeFileSink(output, { fsync: false }),
        { backend: 'cpu' }, undefined, pool ? { pool } : {}),
    },
    gguf: {
      what: `compressToGguf, ${ggufDtype} -> ${ggufDtype === 'qint4' ? 'Q4_0' : 'Q8_0'} (ggml's blocks of 32, error statistics included)`,
      run: async (reader, output, pool) => compressToGguf(reader, decideWeights(reader.list(), { dtype: ggufDtype, granularity: 'group' }),
        await nodeFileSink(output, { fsync: false }), pool ? { pool } : {}),
    },
  };
  for (const format of formats) {
    const { what, run } = runs[format];
    const times = new Map([[0, []], ...workerCounts.map((n) => [n, []])]);
    const cpuTimes = new Map([...times.keys()].map((n) => [n, []])); // CPU time of the process: every thread
    const busiest = new Map([...times.keys()].map((n) => [n, []])); // CPU time of its busiest thread
    let reference;
    const loads = [];
    for (let round = 0; round < reps + 1; round++) {
      for (const n of times.keys()) {
        const reader = await openSafetensorsFile(input);
        const output = join(dir, `out-${n}.${format}`);
        const started = performance.now();
        const cpu = process.cpuUsage();
        const threads = threadTimes();
        await run(reader, output, pools.get(n));
        const ms = performance.now() - started;
        const { user, system } = process.cpuUsage(cpu);
        const busiestMs = busiestThread(threads, threadTimes());
        await reader.close();
        const bytes = readFileSync(output);
        if (round === 0 && n === 0) reference = bytes;
        if (Buffer.compare(bytes, reference) !== 0) throw new Error(`${format}: the output with ${n} workers differs from the one-thread output`);
        if (round > 0) { // round 0 warms up
          times.get(n).push(ms);
          cpuTimes.get(n).push((user + system) / 1000);
          busiest.get(n).push(busiestMs);
        }
      }
      loads.push(loadavg()[0]);
    }
    console.log(`${what}, ${weights} x [${rows}, ${cols}] float32 (${(inputBytes / 1e6).toFixed(0)} MB), CPU path, `
      + `${availableParallelism()} cores, load ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)}, median of ${reps} interleaved rounds:`);
    const alone = median(times.get(0));
    for (const [n, ms] of times) {
      const m = median(ms);
      console.log(`  ${n ? `pool of ${n} worker${n > 1 ? 's' : ''}` : 'one thread'}: ${m.toFixed(0)} ms (${(inputBytes / 1e3 / m).toFixed(0)} MB/s), `
        + `${(alone / m).toFixed(2)}x one thread's speed; CPU time ${median(cpuTimes.get(n)).toFixed(0)} ms, `
        + `its busiest thread ${median(busiest.get(n)).toFixed(0)} ms; outputs byte-identical`);
    }
  }
  for (const pool of pools.values()) await pool.close();
  console.log('quantizeWeight (default policy: qint8 per channel, statistics included) on one thread, by size:');
  const decision = decideWeights([{ name: 'w', dtype: 'float32', shape: [rows, cols], byteLength: rows * cols * 4 }], {})[0];
  for (const n of [4096, 16384, 65536, 262144, 1048576, 4194304]) {
    const c = Math.min(cols, n);
    const data = normalData(n, 9);
    const runs = [];
    for (let r = 0; r < 7; r++) {
      const started = performance.now();
      await quantizeWeight({ data, shape: [n / c, c] }, { ...decision, axis: 0 }, {}, { backend: 'cpu' });
      runs.push(performance.now() - started);
    }
    const m = median(runs.slice(1));
    console.log(`  ${String(n).padStart(8)} elements: ${m.toFixed(3)} ms (${(n / 1e3 / m).toFixed(0)} M elements/s)`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
