// The CPU path beside plain JavaScript loops, every ratio from one run (npm run build first: it imports dist/):
//   1. quantize per channel (qint8, axis 0) of a 4096 x 4096 float32 matrix (16.8M elements): a plain JS loop
//      with the same rounding (roundHalfEven, clamp, NaN to qmin), the reference (the CPU path before the
//      WebAssembly kernels), and quantizePerChannel with backend 'cpu';
//   2. dequantize of the result, likewise, beside the floor every fresh result pays: allocating and filling a
//      Float32Array of the same size (the first touch of fresh memory, which dominates on some hosts);
//   3. QuantizeLinear / DequantizeLinear in onnxruntime-web's wasm EP (in Node, one thread) and onnxruntime-node
//      (one thread) beside the same calls with backend 'cpu', int8 per tensor, axis 0 and axis 1 (bench/ort-cpu.mjs;
//      --no-ort leaves it out);
//   4. `webgpu-quant compress --backend cpu --first-layer quantize` on a 67 MB float32 MLP (four MatMul weights
//      [1024, 4096] / [4096, 1024], opset 17, made here) beside a plain JS absmax + int8 quantize loop over the same
//      weights in this process. With --before=DIR (a built checkout of an earlier version), its CLI runs too.
//
//   node bench/cpu-kernels.mjs [--reps=3] [--before=/path/to/checkout] [--cpu-prof=DIR] [--out=bench/results] [--no-ort]
//
// Writes the medians to <out>/cpu-kernels-<YYYY-MM-DD>.json (read by bench/targets.mjs).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import onnxProto from 'onnx-proto';
import { dequantize, quantizePerChannel, reference, tensor } from '../dist/index.js';
import { medianOf } from './median.mjs';
import { normalData } from './normal-data.mjs';
import { ortCpuCases } from './ort-cpu.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const reps = Number(args.reps ?? 3);

const median = (fn) => medianOf(reps, fn);

/** The plain loop: q = clamp(zp + roundHalfEven(fround(x * inv)), -128, 127) per row of `cols` elements. */
function plainQuantizeRows(data, rows, cols, inverseScales) {
  const out = new Int8Array(data.length);
  for (let r = 0; r < rows; r++) {
    const inv = inverseScales[r];
    for (let i = r * cols, end = i + cols; i < end; i++) {
      const y = Math.fround(data[i] * inv);
      let q = Math.round(y);
      if (q - y === 0.5 && (q & 1) !== 0) q -= 1; // Math.round takes ties up: ties to even instead
      out[i] = q !== q ? -128 : q < -128 ? -128 : q > 127 ? 127 : q;
    }
  }
  return out;
}

function plainDequantizeRows(values, rows, cols, scales) {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) {
    const scale = scales[r];
    for (let i = r * cols, end = i + cols; i < end; i++) out[i] = values[i] * scale;
  }
  return out;
}

/** Absmax per column of a [k, n] MatMul weight (the output channel), then the same int8 loop along columns. */
function plainAbsmaxQuantize(w, k, n) {
  const absmax = new Float32Array(n);
  for (let r = 0; r < k; r++) {
    for (let c = 0, i = r * n; c < n; c++, i++) {
      const a = Math.abs(w[i]);
      if (a > absmax[c]) absmax[c] = a;
    }
  }
  const inverse = new Float32Array(n);
  for (let c = 0; c < n; c++) inverse[c] = 1 / Math.max(Math.fround(absmax[c] / 127), 1.1920928955078125e-7);
  const out = new Int8Array(w.length);
  for (let r = 0; r < k; r++) {
    for (let c = 0, i = r * n; c < n; c++, i++) {
      const y = Math.fround(w[i] * inverse[c]);
      let q = Math.round(y);
      if (q - y === 0.5 && (q & 1) !== 0) q -= 1;
      out[i] = q < -128 ? -128 : q > 127 ? 127 : q;
    }
  }
  return out;
}

function mlpOnnx(weights) {
  const { onnx } = onnxProto;
  const names = weights.map((_, i) => `fc${i + 1}.weight`);
  const node = weights.map((w, i) => ({ opType: 'MatMul', name: `fc${i + 1}`, input: [i === 0 ? 'x' : `h${i}`, names[i]], output: [i === weights.length - 1 ? 'y' : `h${i + 1}`] }));
  return onnx.ModelProto.encode({
    irVersion: 8, opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'mlp', node,
      initializer: weights.map((w, i) => ({ name: names[i], dataType: 1, dims: w.dims, rawData: new Uint8Array(w.data.buffer) })),
      input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: weights[0].dims[0] }] } } } }],
      output: [{ name: 'y', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: weights.at(-1).dims[1] }] } } } }],
    },
  }).finish();
}

function runCli(bin, model, out, profileDir, extra = []) {
  const argv = [...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), bin, 'compress', model, '-o', out, '--backend', 'cpu', '--first-layer', 'quantize', ...extra];
  const t0 = performance.now();
  const run = spawnSync(process.execPath, argv, { encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (run.status !== 0) throw new Error(`${bin} compress failed (${run.status}): ${run.stderr}`);
  return ms;
}

const rows = 4096;
const cols = 4096;
const data = normalData(rows * cols, 1);
const x = tensor(data, [rows, cols]);
const scales = new Float32Array(rows);
for (let r = 0; r < rows; r++) {
  let m = 0;
  for (let i = r * cols; i < (r + 1) * cols; i++) m = Math.max(m, Math.abs(data[i]));
  scales[r] = Math.fround(m / 127);
}
const inverseScales = scales.map((s) => Math.fround(1 / s));
const zeros = new Int32Array(rows);
const startLoad = loadavg()[0];
const lines = [`${availableParallelism()} CPUs, load average ${startLoad.toFixed(2)} at the start`];
const record = { date: new Date().toISOString(), host: { cpus: availableParallelism(), loadAverageAtStart: startLoad }, elements: rows * cols };
const row = (what, ms, base) => lines.push(`${what.padEnd(58)} ${ms.toFixed(1).padStart(8)} ms ${(ms / base).toFixed(2).padStart(6)}x`);

const plainQ = await median(() => plainQuantizeRows(data, rows, cols, inverseScales));
const refQ = await median(() => reference.quantizePerChannel(x, scales, zeros, 0, 'qint8'));
const cpuQ = await median(() => quantizePerChannel(x, scales, zeros, 0, 'qint8', { backend: 'cpu' }));
for (const [name, q] of [['reference', refQ.result.intReprView()], ['cpu', cpuQ.result.intReprView()]]) {
  if (!q.every((v, i) => v === plainQ.result[i])) throw new Error(`${name} quantize differs from the plain loop`);
}
lines.push(`quantize per channel, qint8, axis 0, [${rows}, ${cols}] (median of ${reps}; ratio to the plain loop)`);
row('  plain JS loop', plainQ.ms, plainQ.ms);
row('  reference (before)', refQ.ms, plainQ.ms);
row("  quantizePerChannel { backend: 'cpu' } (after)", cpuQ.ms, plainQ.ms);
record.quantize = { plainMs: plainQ.ms, referenceMs: refQ.ms, cpuMs: cpuQ.ms };

const ints = cpuQ.result.intReprView();
const plainD = await median(() => plainDequantizeRows(ints, rows, cols, scales));
const floorD = await median(() => new Float32Array(ints.length).fill(1));
const refD = await median(() => reference.dequantize(cpuQ.result));
const cpuD = await median(() => dequantize(cpuQ.result, { backend: 'cpu' }));
if (!cpuD.result.data.every((v, i) => Object.is(v, refD.result.data[i]))) throw new Error('cpu dequantize differs from the reference');
lines.push('dequantize of that result');
row('  plain JS loop', plainD.ms, plainD.ms);
row('  fresh Float32Array of the same size, filled (the floor)', floorD.ms, plainD.ms);
row('  reference (before)', refD.ms, plainD.ms);
row("  dequantize { backend: 'cpu' } (after)", cpuD.ms, plainD.ms);
record.dequantize = { plainMs: plainD.ms, floorMs: floorD.ms, referenceMs: refD.ms, cpuMs: cpuD.ms };

if (!('no-ort' in args)) {
  const ort = await ortCpuCases({ data, rows, cols, reps });
  lines.push(`onnxruntime ${ort.versions.web}: QuantizeLinear / DequantizeLinear beside backend 'cpu', int8, [${rows}, ${cols}], one thread each `
    + `(median of ${reps} interleaved rounds; ratio ours / theirs, below 1 is faster; elements that differ from ours)`);
  for (const c of ort.cases) {
    const m = c.medianMs;
    const cell = (name) => `${m[name].toFixed(1).padStart(7)} ms ${(m.ours / m[name]).toFixed(2).padStart(5)}x ${String(c.mismatches[name]).padStart(3)} differ`;
    lines.push(`  ${`${c.op} ${c.layout}`.padEnd(22)} ours ${m.ours.toFixed(1).padStart(7)} ms | onnxruntime-web wasm ${cell('onnxruntime-web wasm')} | onnxruntime-node ${cell('onnxruntime-node')}`);
  }
  record.onnxruntime = ort;
}

const dir = mkdtempSync(join(tmpdir(), 'webgpu-quant-bench-'));
try {
  const weights = [[1024, 4096], [4096, 1024], [1024, 4096], [4096, 1024]].map((dims, i) => ({ dims, data: normalData(dims[0] * dims[1], 10 + i) }));
  const model = join(dir, 'mlp.onnx');
  const bytes = mlpOnnx(weights);
  writeFileSync(model, bytes);
  // The plain loop and the CLIs take turns, one repetition each per round, so a burst of other work on a shared
  // host lands on all of them alike; each row is the median of its own repetitions.
  // 'CLI after' runs as a user does (the host's cores as worker threads); 'one thread' with --workers 0.
  const clis = [...(args.before ? [[`  CLI before (${args.before})`, join(args.before, 'bin/webgpu-quant.mjs')]] : []), ['  CLI after', join(root, 'bin/webgpu-quant.mjs')],
    ['  CLI after, one thread (--workers 0)', join(root, 'bin/webgpu-quant.mjs'), ['--workers', '0']]];
  const times = { plain: [], read: [], ...Object.fromEntries(clis.map(([label]) => [label, []])) };
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    weights.map((w) => plainAbsmaxQuantize(w.data, w.dims[0], w.dims[1]));
    times.plain.push(performance.now() - t0);
    // What any tool pays before its first weight: reading the file, and touching each of its pages once.
    const t1 = performance.now();
    const file = readFileSync(model);
    let touched = 0;
    for (let i = 0; i < file.length; i += 4096) touched += file[i];
    times.read.push(performance.now() - t1 + (touched < 0 ? 1 : 0));
    for (const [label, bin, extra] of clis) times[label].push(runCli(bin, model, join(dir, 'out.onnx'), undefined, extra));
  }
  const mid = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
  lines.push(`compress --backend cpu --first-layer quantize, ${(bytes.byteLength / 1e6).toFixed(1)} MB MLP (median of ${reps} interleaved rounds; ratio to the plain absmax + quantize loop)`);
  row('  plain JS absmax + quantize loop, in process', mid(times.plain), mid(times.plain));
  row('  read the model file and touch each page (no parsing)', mid(times.read), mid(times.plain));
  for (const [label] of clis) row(label, mid(times[label]), mid(times.plain));
  record.cli = { modelBytes: bytes.byteLength, plainMs: mid(times.plain), readMs: mid(times.read), cliMs: mid(times['  CLI after']), oneThreadMs: mid(times['  CLI after, one thread (--workers 0)']) };
  if (args['cpu-prof']) runCli(join(root, 'bin/webgpu-quant.mjs'), model, join(dir, 'profiled.onnx'), resolve(args['cpu-prof']));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
lines.push(`load average ${loadavg()[0].toFixed(2)} at the end`);
console.log(lines.join('\n'));
record.host.loadAverageAtEnd = loadavg()[0];
const out = resolve(args.out ?? join(root, 'bench/results'));
mkdirSync(out, { recursive: true });
writeFileSync(join(out, `cpu-kernels-${record.date.slice(0, 10)}.json`), `${JSON.stringify(record, null, 2)}\n`);
