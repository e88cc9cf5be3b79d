// The speed targets side by side: reads the newest result of each benchmark in bench/results (or the files
// given) and prints one table: the target, what the run measured, met or not, and which run it came from.
// Every number is a ratio (or a rate) taken inside one run; the table only gathers them.
//
//   node bench/targets.mjs [--results=bench/results] [--gpu=FILE.json] [--hardware=FILE.json] [--cpu=FILE.json] [--stream=FILE.json]
//
// Sources: `node bench/run.mjs` (<adapter>-<date>.json: GPU calls end to end beside the plumbing limit,
// whole-model compression per backend), `node bench/cpu-kernels.mjs` (cpu-kernels-<date>.json: the CPU path and
// the CLI beside plain JS loops), `node bench/safetensors-stream.mjs --mode=both` (safetensors-stream-<date>.json:
// the 2 GB streaming run); a run of `node bench/run.mjs --node` on a hardware GPU kept in a folder of bench/results
// (e.g. bench/results/nvidia-h200/) adds its rows beside the software adapter's. A source that is missing is reported as such; the script exits 0 either way (it judges
// nothing a benchmark has not already checked for correctness).
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, median, table } from './format.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const dir = resolve(args.results ?? join(root, 'bench/results'));

/**
 * The .json file in `dir` whose name and contents pass `test` with the latest `date` inside (else modification
 * time), or undefined.
 */
function newest(test) {
  if (!existsSync(dir)) return undefined;
  const parsed = (file) => {
    try { return JSON.parse(readFileSync(file, 'utf8')); } catch { return undefined; }
  };
  const files = readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => ({ f, file: join(dir, f), data: parsed(join(dir, f)) }))
    .filter(({ f, data }) => data && test(f, data))
    .map(({ file, data }) => ({ file, t: Date.parse(data.date) || statSync(file).mtimeMs }));
  return files.sort((a, b) => b.t - a.t)[0]?.file;
}

function load(given, test) {
  const file = given ? resolve(given) : newest(test);
  return file && existsSync(file) ? { file, data: JSON.parse(readFileSync(file, 'utf8')) } : undefined;
}

// bench/run.mjs names its result after the adapter and records it; the other benchmarks have names of their own.
const gpu = load(args.gpu, (f, data) => data.adapter !== undefined && Array.isArray(data.results));
const cpu = load(args.cpu, (f) => f.startsWith('cpu-kernels-'));
const stream = load(args.stream, (f) => f.startsWith('safetensors-stream-'));

const rows = [];
const where = (source) => (source ? basename(source.file) : '-');
const verdict = (ok) => (typeof ok === 'string' ? ok : ok === undefined ? 'not measured' : ok ? 'met' : 'NOT met');
const add = (target, measured, ok, source) => rows.push([target, measured, verdict(ok), where(source)]);

// The CPU path and the CLI beside plain loops.
if (cpu) {
  const q = cpu.data.quantize;
  add('CPU quantize per channel, 16M elements: <= 0.5x a plain JS loop', `${fmt(q.cpuMs / q.plainMs, 2)}x`, q.cpuMs / q.plainMs <= 0.5, cpu);
  const c = cpu.data.cli;
  if (c) add('CLI compress, 67 MB MLP: <= 3x a plain absmax + quantize loop', `${fmt(c.cliMs / c.plainMs, 2)}x`, c.cliMs / c.plainMs <= 3, cpu);
  // No target of its own: onnxruntime's QuantizeLinear / DequantizeLinear on one thread, for the record.
  for (const op of ['quantize', 'dequantize']) {
    const cases = (cpu.data.onnxruntime?.cases ?? []).filter((k) => k.op === op);
    if (!cases.length) continue;
    const ratios = cases.map((k) => `${k.layout} ${fmt(k.medianMs.ours / k.medianMs['onnxruntime-web wasm'], 2)}x`);
    add(`CPU ${op} int8, 16M elements, beside onnxruntime-web's wasm ${op === 'quantize' ? 'QuantizeLinear' : 'DequantizeLinear'} (one thread; below 1 is faster)`,
      ratios.join(', '), 'reported', cpu);
  }
} else {
  add('CPU quantize per channel, 16M elements: <= 0.5x a plain JS loop', 'no cpu-kernels result', undefined, undefined);
  add('CLI compress, 67 MB MLP: <= 3x a plain absmax + quantize loop', 'no cpu-kernels result', undefined, undefined);
}

/** Whether a bench/run.mjs result was measured on a software adapter. */
const isSoftware = (source) => /swiftshader|llvmpipe|lavapipe|warp/i.test(`${source.data.adapter?.architecture} ${source.data.adapter?.description}`);

/** The rows of one bench/run.mjs result: GPU calls end to end beside the plumbing limit, whole models per backend. */
function gpuRows(source) {
  const software = isSoftware(source);
  const on = software ? '' : ` (${source.data.adapter?.device || source.data.adapter?.architecture || source.data.adapter?.description || 'hardware GPU'})`;
  for (const [op, bound] of [['quantize', 1.25], ['dequantize', 1.15]]) {
    const ratios = (source.data.results ?? []).filter((r) => r.op === op && r.plumbingMs?.length && r.e2eMs?.length)
      .map((r) => ({ name: `${r.dtype} ${r.layout}`, ratio: median(r.e2eMs.map((v, i) => v / r.plumbingMs[i])) }));
    if (!ratios.length) { add(`GPU ${op} end to end${on}: <= ${bound}x the plumbing limit`, 'no paired plumbing times in this result', undefined, source); continue; }
    const met = ratios.filter((r) => r.ratio <= bound).length;
    const worst = ratios.reduce((a, b) => (b.ratio > a.ratio ? b : a));
    add(`GPU ${op} end to end${on}: <= ${bound}x the plumbing limit`, `${met} of ${ratios.length} cases; ${fmt(Math.min(...ratios.map((r) => r.ratio)), 2)}`
      + `-${fmt(worst.ratio, 2)}x (worst: ${worst.name})`, met === ratios.length, source);
  }
  for (const c of source.data.compressCompare ?? []) {
    const ratio = median(c.ms.webgpu.map((v, i) => v / c.ms.cpu[i]));
    const mib = c.modelBytes / 2 ** 20;
    if (software) {
      add(`whole model (${c.model}, ${fmt(mib, 1)} MiB), software adapter: 'webgpu' <= 'cpu'`, `${fmt(ratio, 2)}x`,
        c.modelBytes < 50e6 ? 'n/a (< 50 MB)' : ratio <= 1, source);
    } else {
      add(`whole model (${c.model}, ${fmt(mib, 1)} MiB), hardware GPU${on}: 'webgpu' >= 5x faster than 'cpu' (one thread, in one process)`,
        `${fmt(1 / ratio, 2)}x faster`, 1 / ratio >= 5, source);
    }
  }
}

// The newest run on hardware, kept in a folder of its own (bench/results/<gpu>/, e.g. nvidia-h200), unless given.
const hardware = args.hardware ? load(args.hardware, () => true) : gpu && !isSoftware(gpu) ? undefined : (() => {
  if (!existsSync(dir)) return undefined;
  const found = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).flatMap((e) => readdirSync(join(dir, e.name))
    .filter((f) => f.endsWith('.json')).map((f) => join(dir, e.name, f)))
    .map((file) => { try { return { file, data: JSON.parse(readFileSync(file, 'utf8')) }; } catch { return undefined; } })
    .filter((s) => s && s.data.adapter !== undefined && Array.isArray(s.data.results) && !isSoftware(s))
    .sort((a, b) => (Date.parse(b.data.date) || statSync(b.file).mtimeMs) - (Date.parse(a.data.date) || statSync(a.file).mtimeMs));
  return found[0];
})();

if (gpu) gpuRows(gpu);
else add('GPU calls end to end, whole models per backend', 'no bench/run.mjs result', undefined, undefined);
if (hardware) gpuRows(hardware);
else if (!gpu || isSoftware(gpu)) add("hardware GPU: 'webgpu' >= 5x faster than 'cpu' for whole models", 'no run on a hardware adapter in bench/results', undefined, undefined);

// Streaming a 2 GB safetensors file.
if (stream) {
  const b = stream.data.blocks;
  if (b) {
    add('2 GB streaming: >= 408 MB/s (4x 102 MB/s)', `${fmt(b.throughputMBps, 1)} MB/s, ${b.workers} workers, `
      + `${fmt(stream.data.inputFileBytes / 1e9, 2)} GB input${stream.data.identical === false ? ', outputs DIFFER' : ''}`, b.throughputMBps >= 408, stream);
    add('2 GB streaming: peak RSS <= 2x the largest tensor + 64 MiB', `${fmt(b.peakRssBytes / 2 ** 20, 0)} of ${fmt(b.goalBytes / 2 ** 20, 0)} MiB`, b.withinGoal, stream);
  }
} else {
  add('2 GB streaming: >= 408 MB/s, peak RSS bounded', 'no safetensors-stream result', undefined, undefined);
}

console.log(table(['target', 'measured', 'verdict', 'from'], rows));
const hosts = [gpu, hardware, cpu, stream].filter(Boolean).map((s) => `${where(s)}: ${s.data.date ?? ''} load ${s.data.host?.loadAverageAtStart ?? s.data.loadAverageAtStart ?? '?'}`);
if (hosts.length) console.log(`runs: ${hosts.join('; ')}`);
