// The streaming benchmark: generate a ~2 GB safetensors file of float32 tensors on disk (streamed in 4 MiB
// chunks, never held in memory), then compress it on the CPU path to qint8 per channel (axis 0, symmetric,
// scale max|x| / 127.5 as PyTorch's per_channel_symmetric observer) in the "webgpu-quant/1" layout through
// nodeFileSink (temporary file renamed on success). Reports the compression's peak RSS (VmHWM of the process
// that compresses) and throughput in MB/s of input, against the goal peak RSS < 2 x the largest tensor + 64 MiB.
//
//   node bench/safetensors-stream.mjs [--tensors=16] [--rows=4096] [--cols=8192] [--dir=/tmp] [--keep]
//                                     [--cold] [--gc] [--json=out.json] [--mode=blocks|tensors|both]
//                                     [--workers=N]
//
// --mode=tensors compresses one whole tensor at a time on this thread with the ops themselves (read into one
// reused buffer, observe per-row max-abs with PerChannelMinMaxObserver, quantizePerChannel, write): the
// comparison. --mode=blocks (the default) is the product: compressToSafetensors with a CPU worker pool
// (createCpuWorkerPool, --workers, default: the host's cores) and the policy { dtype: 'qint8', range: 'torch' }
// (per channel along axis 0, as the default policy decides for 2-D weights). Each worker reads its float32 weight
// from the file itself a block of whole rows at a time (planWeightFile), into the integers' memory of a weight
// already written; a reader that is not a file on disk streams such weights in blocks of whole rows (8 MiB of
// float32) read into a ring of SharedArrayBuffers and run on the workers ("planned in row blocks" below). Both
// compute the quality floor's error statistics (SQNR per weight and per row, in the report) on every block, which
// the tensors mode does not. --workers=0 runs the library on this thread (a block of rows at a time from the file). --mode=both runs tensors, then blocks,
// on the same input; both write the same header, so the outputs must be the same bytes.
//
// --cold drops the page cache before compressing (Linux, root), so the input is read from disk, not from
// the cache its generation filled. --gc runs the compression with --expose-gc and collects after each
// tensor: the peak then shows the live set (read buffer + one int8 output) rather than the collector's lag.
//
// Needs no dist/: it bundles src/ (with Vite, as the library build does) into a temporary folder and runs
// each phase in a child process of its own, so the bundler's memory is not counted. Linux only (VmHWM is
// read from /proc/self/status). Deletes its files unless --keep. Checks the free disk space first.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 1024 * 1024;
const startLoad = loadavg()[0];

function parseArgs(argv) {
  const options = { tensors: 16, rows: 4096, cols: 8192, dir: tmpdir(), keep: false, cold: false, gc: false, json: undefined, phase: undefined, lib: undefined, input: undefined, output: undefined, mode: 'blocks', workers: availableParallelism() };
  for (const arg of argv) {
    const [key, value] = arg.replace(/^--/, '').split('=');
    if (['tensors', 'rows', 'cols', 'workers'].includes(key)) {
      const n = Number(value);
      if (!Number.isInteger(n) || n < (key === 'workers' ? 0 : 1)) throw new Error(`--${key} needs a ${key === 'workers' ? 'non-negative' : 'positive'} integer, got ${value}`);
      options[key] = n;
    } else if (key === 'mode') {
      if (!['blocks', 'tensors', 'both'].includes(value)) throw new Error(`--mode is blocks, tensors or both, got ${value}`);
      options.mode = value;
    } else if (key === 'keep' || key === 'cold' || key === 'gc') options[key] = true;
    else if (['dir', 'json', 'phase', 'lib', 'input', 'output'].includes(key)) options[key] = value;
    else throw new Error(`unknown option ${arg} (see the comment at the top of bench/safetensors-stream.mjs)`);
  }
  return options;
}

/** Peak and current resident set size of this process, in bytes, from /proc/self/status. */
function memory() {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { peakRss: kb('VmHWM'), rss: kb('VmRSS') };
}

/** A fast deterministic generator (xorshift32) for weights in [-1, 1). */
function xorshift(seed) {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 2 ** 31 - 1; };
}

const tensorName = (i) => `model.layers.${i}.mlp.weight`;

async function generate(options) {
  const lib = await import(pathToFileURL(options.lib).href);
  const { rows, cols, tensors } = options;
  const entries = Array.from({ length: tensors }, (_, i) => ({ name: tensorName(i), dtype: 'F32', shape: [rows, cols] }));
  entries.push({ name: 'model.norm.bias', dtype: 'F32', shape: [cols] });
  const writer = await lib.createSafetensorsWriter(await lib.nodeFileSink(options.input, { fsync: false }), entries, { format: 'pt', producer: 'bench/safetensors-stream.mjs' });
  const chunkRows = Math.max(1, Math.floor(MiB / cols)); // 4 MiB of float32 per chunk
  const chunk = new Float32Array(chunkRows * cols);
  const next = xorshift(12345);
  const started = performance.now();
  for (const entry of entries) {
    const [entryRows, entryCols] = entry.shape.length === 2 ? entry.shape : [1, entry.shape[0]];
    for (let row = 0; row < entryRows; row += chunkRows) {
      const count = Math.min(chunkRows, entryRows - row);
      for (let r = 0; r < count; r++) {
        const rowScale = 0.01 + ((row + r) % 97) / 97; // rows differ in range, so per-channel scales matter
        for (let c = 0; c < entryCols; c++) chunk[r * entryCols + c] = next() * rowScale;
      }
      await writer.writeChunk(entry.name, chunk.subarray(0, count * entryCols));
    }
  }
  await writer.close();
  return { seconds: (performance.now() - started) / 1000, bytes: writer.byteLength, ...memory() };
}

async function compress(options) {
  const lib = await import(pathToFileURL(options.lib).href);
  const afterImport = memory();
  const started = performance.now();
  const reader = await lib.openSafetensorsFile(options.input);
  const plans = new Map();
  const entries = [];
  const pairs = [];
  for (const info of reader.list()) {
    if (info.dtype === 'float32' && info.shape.length >= 2) {
      const layout = lib.quantizedLayout(info.name, { dtype: 'qint8', shape: info.shape, scheme: 'per_channel_affine', axis: 0, originalDType: info.safetensorsDType });
      plans.set(info.name, layout);
      entries.push(...layout.entries);
      pairs.push(layout.metadata);
    } else {
      entries.push({ name: info.name, dtype: info.safetensorsDType, shape: info.shape });
    }
  }
  // The metadata the library writes: the input's own keys, and the generator.
  const keys = Object.fromEntries([...reader.metadata].filter(([key]) => key !== 'format' && key !== 'generator'));
  const metadata = lib.quantizedFileMetadata(pairs, { ...keys, generator: `webgpu-quant ${lib.WEBGPU_QUANT_VERSION}` });
  const writer = await lib.createSafetensorsWriter(await lib.nodeFileSink(options.output), entries, metadata);
  const time = { read: 0, observe: 0, quantize: 0, write: 0 };
  let largest = 0;
  let inputBytes = 0;
  let samples = 0;
  let maxSampledRss = 0;
  const sample = () => { samples++; maxSampledRss = Math.max(maxSampledRss, memory().rss); };
  // One read buffer, sized for the largest tensor and reused for every tensor: memory stays at the largest
  // tensor instead of depending on when the garbage collector frees the previous one.
  const readBuffer = new Uint8Array(Math.max(0, ...reader.list().map((t) => t.byteLength)));
  for (const info of reader.list()) {
    let t = performance.now();
    const bytes = await reader.readInto(info.name, readBuffer);
    time.read += performance.now() - t;
    inputBytes += bytes.byteLength;
    largest = Math.max(largest, bytes.byteLength);
    sample();
    if (!plans.has(info.name)) {
      t = performance.now();
      await writer.write(info.name, bytes);
      time.write += performance.now() - t;
      continue;
    }
    // The read buffer starts 4-byte aligned: view it as float32 without a copy.
    const x = { data: new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4), shape: info.shape };
    t = performance.now();
    const observer = new lib.PerChannelMinMaxObserver({ chAxis: 0, dtype: 'qint8', qscheme: 'per_channel_symmetric' });
    await observer.observe(x, { backend: 'cpu' });
    const { scales, zeroPoints, axis } = observer.calculateQParams();
    time.observe += performance.now() - t;
    sample();
    t = performance.now();
    const q = await lib.quantizePerChannel(x, scales, zeroPoints, axis, 'qint8', { backend: 'cpu' });
    time.quantize += performance.now() - t;
    sample();
    t = performance.now();
    const [data, scaleBytes, zeroPointBytes] = lib.quantizedTensorBytes(q);
    const [dataEntry, scaleEntry, zeroPointEntry] = plans.get(info.name).entries;
    await writer.write(dataEntry.name, data);
    await writer.write(scaleEntry.name, scaleBytes);
    await writer.write(zeroPointEntry.name, zeroPointBytes);
    time.write += performance.now() - t;
    sample();
    globalThis.gc?.(); // only with --gc (node --expose-gc)
  }
  await writer.close();
  await reader.close();
  const seconds = (performance.now() - started) / 1000;
  const end = memory();
  return {
    seconds, inputBytes, outputBytes: writer.byteLength, largestTensorBytes: largest,
    peakRss: end.peakRss, rssAfterImport: afterImport.rss, maxSampledRss, samples,
    phaseSeconds: Object.fromEntries(Object.entries(time).map(([k, v]) => [k, v / 1000])),
  };
}

async function compressBlocks(options) {
  const lib = await import(pathToFileURL(options.lib).href);
  const pool = options.workers > 0 ? await lib.createCpuWorkerPool({ workers: options.workers }) : undefined;
  const afterImport = memory();
  const started = performance.now();
  const reader = await lib.openSafetensorsFile(options.input);
  const weights = reader.list();
  const decisions = lib.decideWeights(weights, { dtype: 'qint8', range: 'torch' });
  let samples = 0;
  let maxSampledRss = 0;
  // When the first weight is written: with a sink that can restart (nodeFileSink), weights are written as soon as
  // they are planned, so 'plan' is the first weight's planning and 'write' the rest (planning and writing together).
  let planned;
  const onProgress = () => {
    planned ??= performance.now();
    samples++;
    maxSampledRss = Math.max(maxSampledRss, memory().rss);
  };
  const rowBlocks = { planned: 0, rewritten: 0, restarts: 0 };
  const report = await lib.compressToSafetensors(reader, decisions, await lib.nodeFileSink(options.output), { backend: 'cpu' }, onProgress,
    pool ? { pool, rowBlockCounts: rowBlocks } : {});
  await reader.close();
  await pool?.close();
  const seconds = (performance.now() - started) / 1000;
  const end = memory();
  const sqnr = report.tensors.filter((t) => t.action === 'quantize').map((t) => t.sqnrDb);
  return {
    seconds, inputBytes: weights.reduce((a, t) => a + t.byteLength, 0), outputBytes: report.totals.fileBytesAfter,
    largestTensorBytes: Math.max(...weights.map((t) => t.byteLength)), peakRss: end.peakRss, rssAfterImport: afterImport.rss, maxSampledRss, samples,
    phaseSeconds: { firstWeight: ((planned ?? performance.now()) - started) / 1000, rest: (performance.now() - (planned ?? performance.now())) / 1000 },
    rowBlocks, minSqnrDb: Math.min(...sqnr),
  };
}

/** Checks the output against the input for tensor 0: layout, per-row scales and a few dequantized rows. */
async function verify(options) {
  const lib = await import(pathToFileURL(options.lib).href);
  const input = await lib.openSafetensorsFile(options.input);
  const output = await lib.openSafetensorsFile(options.output);
  try {
    const described = lib.describeQuantized(output);
    if (described.size !== options.tensors) throw new Error(`expected ${options.tensors} quantized tensors, found ${described.size}`);
    const name = tensorName(0);
    const x = new Float32Array((await input.read(name)).buffer);
    const q = await lib.readQuantizedTensor(output, described.get(name));
    const scales = q.qPerChannelScales();
    const values = q.intReprView();
    let worst = 0;
    for (const row of [0, 1, 96, options.rows - 1]) {
      let maxAbs = 0;
      for (let c = 0; c < options.cols; c++) maxAbs = Math.max(maxAbs, Math.abs(x[row * options.cols + c]));
      if (Math.abs(scales[row] - maxAbs / 127.5) > 1e-6 * maxAbs) throw new Error(`row ${row}: scale ${scales[row]} but max-abs / 127.5 is ${maxAbs / 127.5}`);
      for (let c = 0; c < options.cols; c++) {
        worst = Math.max(worst, Math.abs(values[row * options.cols + c] * scales[row] - x[row * options.cols + c]) / scales[row]);
      }
    }
    // Half a step, plus float32 rounding of x * fround(1 / scale) (the row's max-abs maps to 127.5, clamped to 127).
    if (worst > 0.5 + 1e-4) throw new Error(`dequantized error ${worst} steps exceeds half a step`);
    if (!output.has('model.norm.bias') || output.info('model.norm.bias').safetensorsDType !== 'F32') throw new Error('the 1-D bias was not passed through');
    return { checked: `${name}: 4 rows' scales = max|x| / 127.5 and |dequantized - x| <= ${worst.toFixed(4)} steps; bias passed through` };
  } finally {
    await input.close();
    await output.close();
  }
}

async function buildLibrary(outDir) {
  const { build } = await import('vite');
  const entry = join(outDir, 'bench-entry.ts');
  writeFileSync(entry, `export * from ${JSON.stringify(join(root, 'src/index.ts'))};\nexport * from ${JSON.stringify(join(root, 'src/io/safetensors/index.ts'))};\n`
    + `export * from ${JSON.stringify(join(root, 'src/compress/cpu-worker-pool.ts'))};\n`
    + `export { compressToSafetensors, decideWeights, WEBGPU_QUANT_VERSION } from ${JSON.stringify(join(root, 'src/models.ts'))};\n`);
  await build({
    configFile: false, root, logLevel: 'warn',
    build: {
      target: 'es2022', outDir, emptyOutDir: false, minify: false, write: true,
      // cpu-worker.js beside bench-lib.js, where createCpuWorkerPool looks for it (as in dist/).
      lib: { entry: { 'bench-lib': entry, 'cpu-worker': join(root, 'src/compress/cpu-worker.ts') }, formats: ['es'], fileName: (_format, name) => `${name}.js` },
      rollupOptions: { external: ['webgpu', /^node:/] },
    },
  });
  return join(outDir, 'bench-lib.js');
}

function runPhase(phase, options, lib) {
  const args = [...(phase === 'compress' && options.gc ? ['--expose-gc'] : []), fileURLToPath(import.meta.url), `--phase=${phase}`, `--lib=${lib}`, `--input=${options.input}`, `--output=${options.output}`,
    `--tensors=${options.tensors}`, `--rows=${options.rows}`, `--cols=${options.cols}`, `--workers=${options.workers}`];
  const child = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 * MiB });
  if (child.status !== 0) throw new Error(`phase ${phase} failed with exit code ${child.status}`);
  return JSON.parse(child.stdout.trim().split('\n').at(-1));
}

const fmtMiB = (bytes) => `${(bytes / MiB).toFixed(1)} MiB`;

async function main() {
  const options = parseArgs(process.argv.slice(2));
  if (options.phase) {
    const run = { generate, compress, 'compress-blocks': compressBlocks, verify }[options.phase];
    process.stdout.write(`${JSON.stringify(await run(options))}\n`);
    return;
  }
  const tensorBytes = options.rows * options.cols * 4;
  const inputBytes = options.tensors * tensorBytes;
  const needed = inputBytes * (options.mode === 'both' ? 1.6 : 1.3) + 256 * MiB;
  const fs = statfsSync(options.dir);
  const free = fs.bavail * fs.bsize;
  if (free < needed) throw new Error(`${options.dir} has ${fmtMiB(free)} free; this run needs about ${fmtMiB(needed)} (use --dir or fewer --tensors)`);
  const work = mkdtempSync(join(options.dir, 'wq-stream-'));
  options.input = join(work, 'input.safetensors');
  options.output = join(work, 'input.int8.safetensors');
  try {
    console.log(`building the library from src/ into ${work} ...`);
    const lib = await buildLibrary(work);
    console.log(`generating ${options.tensors} float32 tensors of [${options.rows}, ${options.cols}] (${fmtMiB(tensorBytes)} each, ${fmtMiB(inputBytes)}) ...`);
    const generated = runPhase('generate', options, lib);
    console.log(`  ${generated.bytes} bytes in ${generated.seconds.toFixed(1)} s (peak RSS ${fmtMiB(generated.peakRss)})`);
    // Flushed to disk first, so that the compression's own writes are not held back by the input's dirty pages.
    spawnSync('sync');
    let cache = 'warm (the input was just written and flushed)';
    if (options.cold) {
      try { writeFileSync('/proc/sys/vm/drop_caches', '3'); cache = 'cold (page cache dropped)'; } catch (error) { cache = `warm: dropping the page cache failed (${error.code})`; }
    }
    const modes = options.mode === 'both' ? ['tensors', 'blocks'] : [options.mode];
    const results = {};
    for (const mode of modes) {
      const how = mode === 'tensors' ? 'whole tensors on this thread (observer + quantizePerChannel)'
        : options.workers ? `compressToSafetensors on ${options.workers} worker thread(s), blocks of rows read from the file, with the quality floor's error statistics`
          : 'compressToSafetensors on this thread, whole tensors, with the quality floor\'s error statistics';
      console.log(`compressing: qint8 per channel (axis 0, symmetric max-abs), CPU path, ${how}, page cache ${cache}${options.gc ? ', gc() after each tensor' : ''} ...`);
      if (results.tensors) {
        spawnSync('sync');
        if (options.cold) try { writeFileSync('/proc/sys/vm/drop_caches', '3'); } catch { /* reported above */ }
      }
      const compressed = runPhase(mode === 'tensors' ? 'compress' : 'compress-blocks', options, lib);
      const verified = runPhase('verify', options, lib);
      const goal = 2 * compressed.largestTensorBytes + 64 * MiB;
      const throughput = compressed.inputBytes / 1e6 / compressed.seconds;
      results[mode] = {
        workers: mode === 'blocks' ? options.workers : 0, outputFileBytes: compressed.outputBytes,
        largestTensorBytes: compressed.largestTensorBytes, peakRssBytes: compressed.peakRss, goalBytes: goal,
        withinGoal: compressed.peakRss < goal, rssAfterImportBytes: compressed.rssAfterImport,
        maxSampledRssBytes: compressed.maxSampledRss, seconds: compressed.seconds, throughputMBps: throughput,
        phaseSeconds: compressed.phaseSeconds, verified: verified.checked,
        ...(compressed.rowBlocks ? { rowBlocks: compressed.rowBlocks, minSqnrDb: compressed.minSqnrDb } : {}),
      };
      console.log(`  input ${fmtMiB(generated.bytes)} -> output ${fmtMiB(compressed.outputBytes)} in ${compressed.seconds.toFixed(1)} s: ${throughput.toFixed(1)} MB/s of input`);
      console.log(`  phases (s): ${Object.entries(compressed.phaseSeconds).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}`);
      if (compressed.rowBlocks) {
        console.log(`  weights planned in row blocks: ${compressed.rowBlocks.planned}, quantized again for writing: ${compressed.rowBlocks.rewritten}; restarts of the output: ${compressed.rowBlocks.restarts ?? 0}; lowest SQNR ${compressed.minSqnrDb.toFixed(1)} dB`);
      }
      console.log(`  peak RSS ${fmtMiB(compressed.peakRss)} (after import ${fmtMiB(compressed.rssAfterImport)}); goal < 2 x ${fmtMiB(compressed.largestTensorBytes)} + 64 MiB = ${fmtMiB(goal)}: ${results[mode].withinGoal ? 'met' : 'NOT met'}`);
      console.log(`  verified: ${verified.checked}`);
      if (modes.length > 1 && mode === 'tensors') renameSync(options.output, `${options.output}.tensors`);
    }
    if (modes.length > 1) {
      const same = spawnSync('cmp', ['-s', `${options.output}.tensors`, options.output]).status === 0;
      console.log(`  the two outputs are ${same ? 'byte-identical' : 'DIFFERENT'}`);
      if (!same) process.exitCode = 1;
      results.identical = same;
    }
    const result = {
      date: new Date().toISOString(), host: { cpus: availableParallelism(), loadAverageAtStart: startLoad, loadAverageAtEnd: loadavg()[0] },
      node: process.version, cores: availableParallelism(), inputFileBytes: generated.bytes, pageCache: cache, forcedGc: options.gc, generate: generated, ...results,
    };
    if (options.json) writeFileSync(options.json, `${JSON.stringify(result, null, 2)}\n`);
    if (modes.some((mode) => !results[mode].withinGoal)) process.exitCode = 1;
  } finally {
    if (options.keep) console.log(`kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error) => { console.error(error); process.exit(1); });
