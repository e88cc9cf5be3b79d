// The command line on a 1 GB model, each input to each output, on the default worker threads and on one: seconds
// and peak memory of the `webgpu-quant compress` process (its own peak, every thread included: bench/rss-at-exit.mjs),
// interleaved rounds, and whether each output is the same bytes on every round and thread count.
//   node bench/cli-big-model.mjs [--weights=16] [--size=4096] [--reps=2] [--dir=/tmp/webgpu-quant-big]
//                                [--cases=onnx:onnx,onnx:onnx-ext,onnx:gguf,onnx:safetensors,safetensors:gguf,safetensors:safetensors,onnx:preset]
//                                (onnx:preset and onnx-ext:preset: `--preset transformers.js`; onnx-ext is the
//                                same MLP with its weights in external data, model.onnx + model.onnx_data;
//                                onnx-f16 the same MLP stored as float16, 537 MB, as half-precision exports come)
//                                [--json=bench/results/cli-big-model-latest.json]
//                                [--backends=auto[,webgpu,cpu]] [--workers=default,0]
//                                [--flags='--dtype qint4 --granularity group --group-size 32'] (added to every compress)
// --backends runs each case with each `--backend` (default: the CLI's default, auto); a GPU in Node needs the
// `webgpu` package beside the library. --workers lists the thread counts (default: the CLI's default and one).
// The inputs (an ONNX MLP of `weights` MatMul weights [size, size] with biases, and a safetensors file of as many
// [size, size] tensors, seeded normal values) are written to --dir once and used again. Run `npm run build` first.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import onnxProto from 'onnx-proto';
import { mlpModel, normal } from './mlp-model.mjs';

/** The repository: the first folder up from this file with the CLI in it (this file may run from a bundle). */
const root = (() => {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'bin', 'webgpu-quant.mjs'))) return dir;
    if (dirname(dir) === dir) throw new Error('found no bin/webgpu-quant.mjs above this file');
  }
})();
const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const weights = Number(args.weights ?? 16);
const size = Number(args.size ?? 4096);
const reps = Number(args.reps ?? 2);
const dir = args.dir ?? join(tmpdir(), 'webgpu-quant-big');
const cases = (args.cases ?? 'onnx:onnx,onnx:onnx-ext,onnx:gguf,onnx:safetensors,safetensors:gguf,safetensors:safetensors,onnx:preset,onnx-f16:onnx').split(',');
const backends = (args.backends ?? 'auto').split(',');
const threadCounts = (args.workers ?? 'default,0').split(',').map((w) => (w === 'default' ? w : Number(w)));
const flags = (args.flags ?? '').split(' ').filter(Boolean);
const cli = join(root, 'bin', 'webgpu-quant.mjs');
const rssAtExit = join(root, 'bench', 'rss-at-exit.mjs');
if (!existsSync(join(root, 'dist', 'cli.js'))) throw new Error('run `npm run build` first');

mkdirSync(dir, { recursive: true });
const onnxPath = join(dir, `mlp-${weights}x${size}.onnx`);
const safetensorsPath = join(dir, `tensors-${weights}x${size}.safetensors`);
const onnxExtPath = join(dir, `mlp-${weights}x${size}-ext`, 'model.onnx');
const onnxF16Path = join(dir, `mlp-${weights}x${size}-float16.onnx`);
if (!existsSync(onnxPath)) writeFileSync(onnxPath, mlpModel(onnxProto.onnx, Array(weights + 1).fill(size)));
if (cases.some((spec) => spec.startsWith('onnx-f16:')) && !existsSync(onnxF16Path)) {
  writeFileSync(onnxF16Path, mlpModel(onnxProto.onnx, Array(weights + 1).fill(size), undefined, { float16: true }));
}
if (cases.some((spec) => spec.startsWith('onnx-ext:')) && !existsSync(onnxExtPath)) {
  mkdirSync(dirname(onnxExtPath), { recursive: true });
  const fd = openSync(join(dirname(onnxExtPath), 'model.onnx_data'), 'w');
  try {
    writeFileSync(onnxExtPath, mlpModel(onnxProto.onnx, Array(weights + 1).fill(size), { location: 'model.onnx_data', write: (bytes) => writeSync(fd, bytes) }));
  } finally {
    closeSync(fd);
  }
}
if (cases.some((spec) => spec.startsWith('safetensors:')) && !existsSync(safetensorsPath)) {
  const header = {};
  for (let i = 0; i < weights; i++) header[`blk.${i}.weight`] = { dtype: 'F32', shape: [size, size], data_offsets: [4 * size * size * i, 4 * size * size * (i + 1)] };
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const fd = openSync(safetensorsPath, 'w');
  try {
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(json.length));
    writeSync(fd, length);
    writeSync(fd, Buffer.from(json));
    for (let i = 0; i < weights; i++) writeSync(fd, new Uint8Array(normal(size * size, 100 + i, 1 / Math.sqrt(size)).buffer));
  } finally {
    closeSync(fd);
  }
}

/** The output files' digest (the model and any data file beside it; the preset's folder), to compare runs. */
function digest(folder) {
  const hash = createHash('sha256');
  for (const name of readdirSync(folder, { recursive: true }).sort()) {
    if (statSync(join(folder, name)).isFile()) hash.update(readFileSync(join(folder, name)));
  }
  return hash.digest('hex').slice(0, 16);
}

/** One `compress` run: seconds, peak RSS (MiB), the outputs' digest. */
function run(input, output, workers, backend) {
  const outDir = join(dir, 'out');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir);
  const ext = output === 'onnx-ext' ? 'onnx' : output;
  const out = output === 'preset' ? join(outDir, 'web') : join(outDir, `model.${ext}`);
  const argv = ['--import', rssAtExit, cli, 'compress', input, '-o', out, ...(output === 'onnx-ext' ? ['--external-data'] : []),
    ...(output === 'preset' ? ['--preset', 'transformers.js'] : []), ...flags,
    ...(workers === 'default' ? [] : ['--workers', String(workers)]), ...(backend === 'auto' ? [] : ['--backend', backend])];
  const started = performance.now();
  const child = spawnSync(process.execPath, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 2 ** 20 });
  const seconds = (performance.now() - started) / 1000;
  const stderr = child.stderr;
  if (child.status !== 0) throw new Error(`compress ${input} -> ${output} (${workers} workers, backend ${backend}) exited ${child.status}: ${stderr}`);
  const rss = Number(/maxrss (\d+)/.exec(stderr)?.[1]) / 1024;
  const sum = digest(outDir);
  rmSync(outDir, { recursive: true, force: true });
  // The summary's `backend: …;` line: where the weights were quantized (and on how many threads).
  return { seconds, rssMiB: rss, digest: sum, summaryBackend: /backend: ([^;\n]+)/.exec(child.stdout)?.[1] ?? '' };
}

const results = [];
const loads = [loadavg()[0]];
for (let round = 0; round < reps; round++) {
  for (const spec of cases) {
    const [from, to] = spec.split(':');
    const input = from === 'onnx' ? onnxPath : from === 'onnx-ext' ? onnxExtPath : from === 'onnx-f16' ? onnxF16Path : safetensorsPath;
    for (const backend of backends) {
      for (const workers of threadCounts) results.push({ round, input: from, output: to, workers, backend, ...run(input, to, workers, backend) });
    }
  }
  loads.push(loadavg()[0]);
}

const range = (xs, digits) => {
  const [lo, hi] = [Math.min(...xs).toFixed(digits), Math.max(...xs).toFixed(digits)];
  return lo === hi ? lo : `${lo}–${hi}`;
};
const fileMB = (path) => (statSync(path).size / 1e6).toFixed(0);
const safetensorsMB = (existsSync(safetensorsPath) ? `, safetensors ${fileMB(safetensorsPath)} MB` : '')
  + (existsSync(onnxF16Path) ? `, float16 ONNX ${fileMB(onnxF16Path)} MB` : '');
console.log(`webgpu-quant compress, ${weights} float32 weights [${size}, ${size}] (ONNX ${fileMB(onnxPath)} MB${safetensorsMB}), `
  + `${reps} interleaved rounds, load ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}${flags.length ? `, flags ${flags.join(' ')}` : ''}:`);
console.log('| input | output | backend | threads | seconds | peak RSS (MiB) | same bytes |');
console.log('| --- | --- | --- | --- | ---: | ---: | --- |');
for (const spec of cases) {
  const [from, to] = spec.split(':');
  const digests = new Set(results.filter((r) => r.input === from && r.output === to).map((r) => r.digest));
  for (const backend of backends) {
    for (const workers of threadCounts) {
      const rows = results.filter((r) => r.input === from && r.output === to && r.workers === workers && r.backend === backend);
      const threads = workers === 'default' ? 'default' : workers === 0 ? 'one (--workers 0)' : String(workers);
      const used = [...new Set(rows.map((r) => r.summaryBackend))].join('; ');
      console.log(`| ${from} | ${to} | ${backend}${used ? ` (${used})` : ''} | ${threads} | ${range(rows.map((r) => r.seconds), 2)} `
        + `| ${range(rows.map((r) => r.rssMiB), 0)} | ${digests.size === 1 ? 'yes' : 'NO'} |`);
    }
  }
}
if (args.json) writeFileSync(resolve(root, args.json), `${JSON.stringify({ date: new Date().toISOString(), weights, size, reps, backends, flags, loads, results }, null, 2)}\n`);
