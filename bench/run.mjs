// The benchmark: quantize and dequantize (per tensor; per channel along axis 0 and the last axis of a
// square matrix) on the GPU, device-only, beside copyBufferToBuffer and a vec4 copy shader moving the
// same bytes on the same device, plus one end-to-end number per op through the public API. Then the
// reductions on the same matrix: the observers' min/max (per tensor, per channel on both axes, per group
// of 32 and 128 along the last axis) and errorStats of a qint8 QTensor (overall, per channel on both
// axes), each end to end and device-only beside a vec4 read shader reading the same bytes; and
// chooseQParams 'mse' per channel on a smaller matrix (--mse-shape), end to end only.
//
//   node bench/run.mjs [--elements=16777216[,4194304]] [--reps=10] [--warmup=2] [--e2e-reps=3]
//                      [--wall] [--no-qint32] [--no-quantize] [--no-reductions] [--mse-shape=256x4096]
//                      [--no-ort] [--ort-reps=10] [--no-groups] [--sweep[=MAX]] [--no-profile] [--out=bench/results]
//                      [--compare=default,mlp | --no-compare] [--compare-reps=3] [--node[=BUNDLE]]
//
// Per group: qint8 and qint4 (two to a byte) quantize / dequantize per group of 32 and 128 along the last axis,
// beside qint4 per tensor (--no-groups skips them). --sweep adds a size sweep, 4K, 64K, 1M, 4M, 16M elements
// (up to MAX, e.g. --sweep=67108864 for 64M as well): qint8 per tensor and qint4 per group of 32 and 128,
// quantize and dequantize, each beside the copies of the same bytes. Last, the whole-model profile: compressOnnx
// on the default model (Silero VAD) with backend 'webgpu', 'auto' and 'cpu', split into phases (bench/page-profile.ts),
// and compressOnnx end to end on the default model and the 64 MiB bench MLP (--compare=default,mlp, --compare-reps=3):
// 'webgpu' through the separate calls, chained in two submits and in one, 'auto' and 'cpu', in interleaved rounds.
//
// onnxruntime-web (the installed npm package, its dist/ served by the same Vite server, no network): its
// QuantizeLinear / DequantizeLinear as one-node models, per tensor and per channel on both axes, on the WebGPU
// EP of `onnxruntime-web/webgpu` sharing our GPUDevice (uint8, GPU-resident input and output) and on the wasm
// EP (int8, CPU tensors), each beside ours (quint8 kernels timed like the others; qint8 end to end), every
// output compared bit for bit with our CPU reference; then the onnxruntime#32578 check (DequantizeLinear per
// tensor int8 on the default build's JSEP WebGPU EP vs `onnxruntime-web/webgpu`'s). See bench/page-ort.ts.
//
// --node runs the page's Node bundle (scripts/node-gpu-bundle.mjs; default .tmp/node-gpu/bench-page.mjs) in this
// process on the `webgpu` package's adapter, with no Vite, Chromium or onnxruntime-web (give --no-ort): for a
// hardware GPU on a machine without the npm dependencies (docs/testing.md).
//
// Otherwise serves the repository with Vite (`webgpu-quant` aliased to src/index.ts, so it needs no dist/), drives
// headless Chromium with puppeteer as the browser tests do, runs bench/page.ts in the page, prints a
// table and writes bench/results/<adapter>-<YYYY-MM-DD>.{json,md}. Exits non-zero on any failure: no
// adapter, a GPU error in any scope, a console error, or device-only output that differs from the API's.
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { installFileFetch, installNodeWebGpu } from '../test/node-gpu/node-webgpu.mjs';
import { matrixShape, parseArgs } from './args.mjs';
import { fmt, fmtMs, markdownTable, median, mib, reductionLayoutName, slug, stats, table } from './format.mjs';
import { runOrt } from './ort-run.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const started = performance.now();
const startLoad = loadavg()[0];

/**
 * The bench page: `bench/page.ts` served by Vite in headless Chromium (puppeteer), or with `--node` its Node bundle
 * (scripts/node-gpu-bundle.mjs) in this process on the `webgpu` package's adapter, where `page.evaluate(fn, ...args)`
 * calls `fn` with `window` bound to this process' globalThis.
 */
async function openPage(options, pageErrors) {
  if (options.node) {
    const adapter = await installNodeWebGpu(['disable-dawn-features=timestamp_quantization']);
    installFileFetch(root);
    process.on('unhandledRejection', (reason) => pageErrors.push(`unhandled rejection: ${reason?.stack ?? reason}`));
    await import(pathToFileURL(options.node).href);
    const page = { evaluate: (fn, ...args) => new Function('window', `return (${fn.toString()});`)(globalThis)(...args) };
    return { page, version: `Node ${process.version}, webgpu (Dawn): ${adapter}`, close: async () => {} };
  }
  const [{ default: puppeteer }, { createServer }] = await Promise.all([import('puppeteer-core'), import('vite')]);
  const server = await createServer({
    configFile: false,
    root,
    logLevel: 'error',
    server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false },
    // onnx-proto is CommonJS (protobufjs): pre-bundled so the page can import its default export.
    optimizeDeps: { noDiscovery: true, include: ['onnx-proto'] },
    // The page imports the library from source (its internals through src/internals.ts): no dist/ needed.
    resolve: {
      alias: [
        { find: /^webgpu-quant$/, replacement: join(root, 'src/index.ts') },
        { find: /^webgpu-quant\/models$/, replacement: join(root, 'src/models.ts') },
        { find: /^webgpu-quant\/internals$/, replacement: join(root, 'src/internals.ts') },
      ],
    },
  });
  let browser;
  try {
    await server.listen();
    const address = server.httpServer?.address();
    if (!address || typeof address === 'string') throw new Error('vite did not report its port');
    // The same Chromium and flags as the browser tests (test/setup/chromium.ts, loaded through Vite since
    // it is TypeScript), plus developer features, which turn off Chrome's 100 µs timestamp quantization.
    const { CHROMIUM_ARGS, chromiumPath } = await server.ssrLoadModule('/test/setup/chromium.ts');
    browser = await puppeteer.launch({
      executablePath: chromiumPath(), headless: true, protocolTimeout: 600_000,
      args: [...CHROMIUM_ARGS, '--enable-webgpu-developer-features'],
    });
    const page = await browser.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text());
      else if (!message.text().startsWith('[vite]')) process.stderr.write(`[page] ${message.text()}\n`);
    });
    page.on('pageerror', (error) => pageErrors.push(`page error: ${error.message}`));
    await page.goto(`http://127.0.0.1:${address.port}/bench/page.html`);
    await page.waitForFunction(() => window.__bench !== undefined, { timeout: 60_000 }).catch((error) => {
      throw new Error(`the bench page did not load: ${[...pageErrors, error.message].join("\n")}`);
    });
    const opened = browser;
    return { page, browser, port: address.port, version: await browser.version(), close: async () => { await opened.close(); await server.close(); } };
  } catch (error) {
    await browser?.close();
    await server.close();
    throw error;
  }
}

async function main() {
  const options = parseArgs(process.argv.slice(2), root);
  const pageErrors = [];
  const opened = await openPage(options, pageErrors);
  try {
    const { page } = opened;
    const info = await page.evaluate(() => window.__bench.init());
    const browserVersion = opened.version;

    const adapterName = [info.adapter.vendor, info.adapter.architecture, info.adapter.description].filter(Boolean).join(' / ');
    const header = [
      `webgpu-quant benchmark, ${new Date().toISOString()}`,
      `adapter: ${adapterName || '(no adapter info)'}; ${browserVersion}`,
      `features: packed4x8 ${info.features.packed4x8}, timestamp-query ${info.features.timestampQuery}, subgroups ${info.features.subgroups}; `
        + `maxStorageBufferBindingSize ${mib(info.limits.maxStorageBufferBindingSize)}`,
      // A software adapter runs on the host's CPUs, so other work there shows up in its timings.
      `host: ${availableParallelism()} CPUs, load average ${startLoad.toFixed(2)} at start`,
    ];
    for (const line of header) console.log(line);
    const requested = info.features.timestampQuery && !options.wall ? 'timestamp-query' : 'onSubmittedWorkDone';
    console.log(`timing: ${requested === 'timestamp-query'
      ? 'timestamp-query (kernels and the vec4 copy: the pass\'s own timestampWrites; copyBufferToBuffer: end of an empty pass before it to start of one after it)'
      : 'onSubmittedWorkDone around each submit (one repetition per submit)'}; `
      + `${options.reps} timed repetitions after ${options.warmup} warm-up`);

    const cases = [];
    for (const elements of options.quantize ? options.elements : []) {
      const shape = matrixShape(elements);
      for (const op of ['quantize', 'dequantize']) {
        for (const layout of ['perTensor', 'axis0', 'axisLast']) cases.push({ op, dtype: 'qint8', layout, shape });
      }
      if (options.qint32) for (const op of ['quantize', 'dequantize']) cases.push({ op, dtype: 'qint32', layout: 'perTensor', shape });
      if (options.groups) {
        for (const op of ['quantize', 'dequantize']) {
          for (const layout of ['group32', 'group128']) cases.push({ op, dtype: 'qint8', layout, shape });
          for (const layout of ['perTensor', 'group32', 'group128']) cases.push({ op, dtype: 'qint4', layout, shape });
        }
      }
      // Ours in quint8, the dtype of the GPU-resident onnxruntime-web comparison.
      if (options.ort) {
        for (const op of ['quantize', 'dequantize']) {
          for (const layout of ['perTensor', 'axis0', 'axisLast']) cases.push({ op, dtype: 'quint8', layout, shape });
        }
      }
    }
    const sweepSizes = [4096, 65_536, 1_048_576, 4_194_304, 16_777_216, 67_108_864].filter((n) => n <= options.sweep);
    for (const elements of options.quantize ? sweepSizes : []) {
      const shape = matrixShape(elements);
      const add = (k) => {
        if (!cases.some((c) => c.op === k.op && c.dtype === k.dtype && c.layout === k.layout && c.shape.join() === k.shape.join())) cases.push(k);
      };
      for (const op of ['quantize', 'dequantize']) {
        add({ op, dtype: 'qint8', layout: 'perTensor', shape });
        for (const layout of ['perTensor', 'group32', 'group128']) add({ op, dtype: 'qint4', layout, shape });
      }
    }
    const repeat = { reps: options.reps, warmup: options.warmup, forceWall: options.wall };
    const results = [];
    const copies = new Map(); // bytes copied -> { copyBufferToBuffer, copyVec4Shader }
    for (const c of cases) {
      const elements = c.shape.reduce((a, b) => a * b, 1);
      const t0 = performance.now();
      const r = await page.evaluate((k) => window.__bench.runKernelCase(k), { ...c, ...repeat, e2eReps: options.e2eReps });
      process.stderr.write(`  ${c.op} ${c.dtype} ${c.layout} ${elements}: median ${fmtMs(median(r.deviceMs))} ms `
        + `(${r.method}), case took ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
      const copyBytes = Math.ceil((r.bytesRead + r.bytesWritten) / 2 / 16) * 16;
      if (!copies.has(copyBytes)) {
        const entry = {};
        for (const kind of ['copyBufferToBuffer', 'copyVec4Shader']) {
          entry[kind] = await page.evaluate((k, b, o) => window.__bench.runCopy(k, b, o), kind, copyBytes, repeat);
          process.stderr.write(`  ${kind} ${mib(copyBytes)}: median ${fmtMs(median(entry[kind].deviceMs))} ms (${entry[kind].method})\n`);
        }
        copies.set(copyBytes, entry);
      }
      results.push({ ...c, elements, copyBytes, ...r });
    }

    // The reductions, each followed at once by a vec4 read of the bytes its first pass reads: on a software
    // adapter the host's other work changes both within seconds, so each ratio pairs timings taken together.
    const reductionCases = [];
    for (const elements of options.reductions ? options.elements : []) {
      const shape = matrixShape(elements);
      for (const layout of ['perTensor', 'axis0', 'axisLast']) reductionCases.push({ op: 'minmax', layout, shape });
      for (const groupSize of [32, 128]) reductionCases.push({ op: 'minmax', layout: 'group', groupSize, shape });
      for (const layout of ['perTensor', 'axis0', 'axisLast']) reductionCases.push({ op: 'errorStats', layout, shape });
    }
    const reductions = [];
    const reads = new Map(); // bytes read -> every run of the read shader on that many bytes (Timings[])
    for (const c of reductionCases) {
      const elements = c.shape.reduce((a, b) => a * b, 1);
      const t0 = performance.now();
      const r = await page.evaluate((k) => (k.op === 'minmax' ? window.__bench.runMinMaxCase(k) : window.__bench.runErrorStatsCase(k)),
        { ...c, ...repeat, e2eReps: options.e2eReps });
      process.stderr.write(`  ${r.api} ${reductionLayoutName(c)} ${elements}: median ${fmtMs(median(r.deviceMs))} ms (${r.method}), `
        + `e2e ${fmtMs(median(r.e2eMs))} ms, case took ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
      const readBytes = Math.ceil(r.bytesRead / 16) * 16;
      const read = await page.evaluate((b, o) => window.__bench.runRead(b, o), readBytes, repeat);
      process.stderr.write(`  readVec4Shader ${mib(readBytes)}: median ${fmtMs(median(read.deviceMs))} ms (${read.method})\n`);
      reads.set(readBytes, [...(reads.get(readBytes) ?? []), read]);
      reductions.push({ ...c, elements, readBytes, ...r, read });
    }
    let mse;
    if (options.reductions) {
      const t0 = performance.now();
      mse = await page.evaluate((k) => window.__bench.runChooseQParamsCase(k), { shape: options.mseShape, axis: 0, e2eReps: options.e2eReps });
      mse.shape = options.mseShape;
      process.stderr.write(`  ${mse.api} ${options.mseShape.join('x')}: e2e median ${fmtMs(median(mse.e2eMs))} ms, `
        + `case took ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    }

    const ort = options.ort && !options.node ? await runOrt(opened.browser, page, opened.port, options) : { cases: [], issue32578: [] };

    const profiles = [];
    for (const backend of options.profile ? ['webgpu', 'auto', 'cpu'] : []) {
      const p = await page.evaluate((k) => window.__bench.runCompressProfile(k), { backend, reps: 3 });
      process.stderr.write(`  compressOnnx default model, backend ${backend}: median ${fmtMs(median(p.totalMs))} ms\n`);
      profiles.push(p);
    }

    // Whole-model compression, end to end, every backend and the GPU's separate calls, in interleaved rounds.
    const compares = [];
    for (const model of options.compare) {
      const t0 = performance.now();
      const r = await page.evaluate((k) => window.__bench.runCompressCompare(k), { model, reps: options.compareReps });
      process.stderr.write(`  compressOnnx ${model}: ${Object.entries(r.ms).map(([k, v]) => `${k} ${fmtMs(median(v))} ms`).join(', ')}, `
        + `case took ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
      if (!r.identical) throw new Error(`compressOnnx ${model}: the backends wrote different models`);
      compares.push(r);
    }

    const uncaught = [...pageErrors];
    if (uncaught.length) throw new Error(`the page logged errors:\n${uncaught.join('\n')}`);

    const timed = [...results, ...[...copies.values()].flatMap((e) => Object.values(e)), ...reductions, ...[...reads.values()].flat()];
    const methods = new Set(timed.map((t) => t.method));
    const notes = [...new Set(timed.map((t) => t.note).filter(Boolean))];
    const layoutName = (r) => (r.layout === 'perTensor' ? 'per-tensor' : r.layout === 'axis0' ? `per-channel axis 0`
      : r.layout === 'axisLast' ? `per-channel axis ${r.shape.length - 1}` : `per-group ${r.layout.slice(5)} axis ${r.shape.length - 1}`);
    const gbps = (bytes, ms) => bytes / (ms / 1e3) / 1e9;

    const mainHeader = ['op', 'dtype', 'layout', 'shape', 'elements', 'MiB moved', 'median ms', 'min ms', 'max ms', 'wall ms', 'GB/s', 'x copyB2B', 'x vec4 copy'];
    const mainRows = [];
    const summary = [];
    for (const r of results) {
      const moved = r.bytesRead + r.bytesWritten;
      const d = stats(r.deviceMs);
      const ref = copies.get(r.copyBytes);
      const b2b = median(ref.copyBufferToBuffer.deviceMs);
      // The copy timed in the same rounds as the kernel (bench/harness.ts timeInterleaved), else the shared one.
      const vec4 = median((r.pairedCopy ?? ref.copyVec4Shader).deviceMs);
      mainRows.push([r.op, r.dtype, layoutName(r), r.shape.join('x'), r.elements, (moved / 2 ** 20).toFixed(0), fmtMs(d.median), fmtMs(d.min),
        fmtMs(d.max), fmtMs(median(r.wallMs)), fmt(gbps(moved, d.median)), fmt(d.median / b2b), fmt(d.median / vec4)]);
      summary.push({
        op: r.op, dtype: r.dtype, layout: r.layout, axis: r.layout === 'perTensor' ? null : r.layout === 'axis0' ? 0 : r.shape.length - 1,
        shape: r.shape, elements: r.elements, bytesRead: r.bytesRead, bytesWritten: r.bytesWritten, pipelineKey: r.pipelineKey, grid: r.grid,
        method: r.method, note: r.note, deviceMs: r.deviceMs, wallMs: r.wallMs, e2eMs: r.e2eMs, plumbingMs: r.plumbingMs,
        plumbingIntsMs: r.plumbingIntsMs,
        medianMs: d.median, gbPerS: gbps(moved, d.median), copyBytes: r.copyBytes,
        ratioToCopyBufferToBuffer: d.median / b2b, ratioToCopyVec4Shader: d.median / vec4, pairedCopyMs: r.pairedCopy?.deviceMs,
      });
    }
    for (const [bytes, entry] of copies) {
      for (const [kind, t] of Object.entries(entry)) {
        const d = stats(t.deviceMs);
        mainRows.push([kind, '-', `${mib(bytes)} copy`, '-', '-', (2 * bytes / 2 ** 20).toFixed(0), fmtMs(d.median), fmtMs(d.min), fmtMs(d.max),
          fmtMs(median(t.wallMs)), fmt(gbps(2 * bytes, d.median)), kind === 'copyBufferToBuffer' ? '1.00' : fmt(d.median / median(entry.copyBufferToBuffer.deviceMs)),
          kind === 'copyVec4Shader' ? '1.00' : fmt(d.median / median(entry.copyVec4Shader.deviceMs))]);
      }
    }
    const e2eHeader = ['op', 'dtype', 'layout', 'elements', 'e2e median ms', 'e2e min ms', 'device ms', 'e2e / device', 'plumbing ms', 'e2e / plumbing',
      'e2e / plumbing 1 B/elem'];
    const e2eRows = results.filter((r) => r.e2eMs.length).map((r) => {
      const e = stats(r.e2eMs);
      const d = median(r.deviceMs);
      // Each public call was followed at once by a plumbing call: the ratio is the median of those pairs' ratios.
      const plumbing = r.plumbingMs?.length ? median(r.plumbingMs) : undefined;
      const paired = r.plumbingMs?.length ? median(r.e2eMs.map((v, i) => v / r.plumbingMs[i])) : undefined;
      const pairedInts = r.plumbingIntsMs?.length ? median(r.e2eMs.map((v, i) => v / r.plumbingIntsMs[i])) : undefined;
      return [r.op, r.dtype, layoutName(r), r.elements, fmtMs(e.median), fmtMs(e.min), fmtMs(d), fmt(e.median / d, 1),
        plumbing === undefined ? '-' : fmtMs(plumbing), fmt(paired, 2), pairedInts === undefined ? '-' : fmt(pairedInts, 2)];
    });

    const legend = [
      `method: ${[...methods].join(', ')}${notes.length ? ` (${notes.join('; ')})` : ''}`,
      'MiB moved and GB/s count bytes read + bytes written (quantize qint8: 4 B/elem in, 1 B/elem out; dequantize the reverse; '
        + 'qint32 4 + 4), not the per-channel table. GB/s uses the median.',
      'x copyB2B / x vec4 copy: kernel median time / the copy\'s median time, each copy moving the same bytes as the kernel '
        + '(copying (read + written) / 2 bytes): above 1 means slower than a copy. x vec4 copy pairs each kernel with a copy '
        + 'timed in the same rounds (kernel and copy alternate, one submit each); the copy rows below are separate runs.',
      'wall ms: submit to onSubmittedWorkDone, one repetition per submit (includes submit overhead).',
    ];
    const e2eLegend = `end to end through the public API (quantizePerTensor / quantizePerChannel / dequantize, backend 'webgpu'): `
      + `upload + kernel + readback per call, ${options.e2eReps} timed calls after 1 warm-up. plumbing: the same bytes moved `
      + 'the same way with no work of the library\'s own (bench/page-plumbing.ts: pooled buffers, writeBuffer, one pass reading the '
      + 'input and writing the output\'s bytes, copy to staging, map, copy into a fresh JS array), one call right after each public '
      + 'call; e2e / plumbing is the median of those pairs\' ratios (targets: quantize <= 1.25, dequantize <= 1.15). 4-bit quantize '
      + 'returns one integer per element (a byte, twice what the GPU reads back): e2e / plumbing 1 B/elem pairs it with the plumbing '
      + 'that returns that many bytes, run right after the other one.';

    // Reductions: throughput in bytes of the tensor(s) read per second, against the read shader on the same bytes.
    const reductionHeader = ['op', 'layout', 'call', 'shape', 'MiB read', 'extra MiB', 'passes', 'median ms', 'min ms', 'max ms',
      'GB/s read', 'read GB/s', 'ours / read', 'e2e median ms', 'e2e / device'];
    const reductionRows = [];
    const reductionSummary = [];
    for (const r of reductions) {
      const d = stats(r.deviceMs);
      const read = median(r.read.deviceMs);
      const e2e = median(r.e2eMs);
      reductionRows.push([r.op === 'minmax' ? 'min/max' : 'errorStats qint8', reductionLayoutName(r), r.api, r.shape.join('x'),
        (r.bytesRead / 2 ** 20).toFixed(0), (r.extraBytes / 2 ** 20).toFixed(1), r.passes, fmtMs(d.median), fmtMs(d.min), fmtMs(d.max),
        fmt(gbps(r.bytesRead, d.median)), fmt(gbps(r.readBytes, read)), fmt(read / d.median, 3), fmtMs(e2e), fmt(e2e / d.median, 1)]);
      reductionSummary.push({
        op: r.op, layout: r.layout, groupSize: r.groupSize ?? null, api: r.api, shape: r.shape, elements: r.elements,
        bytesRead: r.bytesRead, extraBytes: r.extraBytes, passes: r.passes, pipelineKeys: r.pipelineKeys, method: r.method, note: r.note,
        deviceMs: r.deviceMs, wallMs: r.wallMs, e2eMs: r.e2eMs, medianMs: d.median, gbPerSRead: gbps(r.bytesRead, d.median),
        readBytes: r.readBytes, readDeviceMs: r.read.deviceMs, readMedianMs: read, throughputRatioToRead: read / d.median, e2eMedianMs: e2e,
      });
    }
    for (const [bytes, runs] of reads) {
      const d = stats(runs.flatMap((t) => t.deviceMs));
      reductionRows.push(['readVec4Shader', '-', `${mib(bytes)} read, ${runs.length} runs`, '-', (bytes / 2 ** 20).toFixed(0), '-', 1, fmtMs(d.median),
        fmtMs(d.min), fmtMs(d.max), fmt(gbps(bytes, d.median)), fmt(gbps(bytes, d.median)), '1.000', '-', '-']);
    }
    if (mse) {
      reductionRows.push(['chooseQParams', 'per-channel axis 0 (mse)', mse.api, mse.shape.join('x'),
        (mse.bytesRead / 2 ** 20).toFixed(0), '-', '-', '-', '-', '-', '-', '-', '-', fmtMs(median(mse.e2eMs)), '-']);
    }
    const reductionLegend = [
      'MiB read: the tensor bytes the first pass reads (min/max: the float32 input, 4 B/elem; errorStats: the float32 original '
        + 'and the integers as stored, 8-bit ones packed four to a word, 4 + 1 B/elem for qint8). extra MiB: the other device traffic per '
        + 'repetition (records / partials written and re-read by combine passes, parameter table, tile list).',
      'median / min / max ms: device-only, the library\'s own passes (built by its host code, output checked bit for bit against '
        + 'the public call\'s) from the first pass\'s beginning to the last pass\'s end.',
      `GB/s read: MiB read / median. read GB/s: a vec4 read shader (bench/read-vec4.wgsl, 64 vec4s = 256 floats per invocation, `
        + 'one f32 written per invocation) reading the same bytes on the same device, run right after each case (the readVec4Shader '
        + 'rows pool those runs). ours / read: throughput ratio (read median time / our median time, from the adjacent runs): '
        + '1 would match the read, 0.25 is 4x slower.',
      `e2e: the public call end to end (upload + passes + readback + host work: observers' running update, errorStats' host preparation, `
        + `prescale scan and float64 sums), ${options.e2eReps} timed calls after 1 warm-up, observing / measuring the same tensor each time.`,
      `chooseQParams: qint8 symmetric, method 'mse' with 100 candidate clip ratios (a min/max reduction, then every candidate of every channel), `
        + 'end to end only: its MSE passes are not timed device-only.',
    ];
    if (mainRows.length) {
      console.log('');
      console.log(table(mainHeader, mainRows));
      console.log('');
      for (const line of legend) console.log(line);
    }
    if (e2eRows.length) {
      console.log('');
      console.log(e2eLegend);
      console.log(table(e2eHeader, e2eRows));
    }
    if (reductionRows.length) {
      console.log('');
      console.log(`observers, error statistics and calibration (method: ${[...new Set([...reductions, ...[...reads.values()].flat()].map((t) => t.method))].join(', ')}):`);
      console.log(table(reductionHeader, reductionRows));
      console.log('');
      for (const line of reductionLegend) console.log(line);
    }
    // onnxruntime-web beside ours: the same op, layout and shape in the same run.
    const ortHeader = ['op', 'dtype', 'layout', 'onnxruntime-web EP', 'I/O', 'median ms', 'min ms', 'max ms', 'ours ms', 'ours / ORT', 'ORT / ours',
      'node placed on', 'mismatches vs CPU ref'];
    const ortRows = [];
    const ortSummary = [];
    for (const r of ort.cases) {
      const o = stats(r.wallMs);
      const mine = results.find((k) => k.op === r.op && k.dtype === r.dtype && k.layout === r.layout && k.elements === r.elements);
      // WebGPU EP (GPU-resident): our kernel's submit-to-done wall time, the same thing ORT's number measures.
      // wasm EP (CPU tensors): our public call end to end (upload + kernel + readback).
      const oursMs = mine ? (r.ep === 'webgpu' ? median(mine.wallMs) : mine.e2eMs.length ? median(mine.e2eMs) : undefined) : undefined;
      const placedOn = r.ep === 'wasm' ? 'wasm (CPU)' : r.cpuFallback === null ? 'unknown (no placement log)' : r.cpuFallback ? 'CPU (fallback)' : 'WebGPU';
      ortRows.push([r.op, r.ep === 'webgpu' ? 'uint8' : 'int8', layoutName(r), `${r.ep} (${r.ortVersion})`,
        r.io === 'gpu-buffer' ? 'GPU-resident' : 'CPU tensors', fmtMs(o.median), fmtMs(o.min), fmtMs(o.max),
        oursMs === undefined ? '-' : `${fmtMs(oursMs)} (${r.ep === 'webgpu' ? 'wall' : 'e2e'})`, oursMs === undefined ? '-' : fmt(oursMs / o.median),
        oursMs === undefined ? '-' : fmt(o.median / oursMs), placedOn, r.mismatches]);
      ortSummary.push({ ...r, medianMs: o.median, oursMs, oursMeasure: r.ep === 'webgpu' ? 'wall (submit to onSubmittedWorkDone)' : 'e2e', ratioOursToOrt: oursMs === undefined ? null : oursMs / o.median });
    }
    const ortLegend = [
      'onnxruntime-web: a one-node ONNX model (QuantizeLinear / DequantizeLinear, opset 13, float32 scales) per case; ms is wall time around '
        + 'session.run plus device.queue.onSubmittedWorkDone() on the shared device, median of the repetitions after warm-up.',
      'webgpu EP: `onnxruntime-web/webgpu` (the native WebGPU EP) on our GPUDevice, input from Tensor.fromGpuBuffer and output '
        + 'preferredOutputLocation \'gpu-buffer\' (uint8: ORT-web rejects int8 GPU tensors); ours ms: our quint8 kernel\'s wall time, submit to '
        + 'onSubmittedWorkDone, one repetition per submit. wasm EP: int8, CPU tensors, one thread (the page is not cross-origin isolated); '
        + 'ours ms: our qint8 public call end to end (upload + kernel + readback).',
      'node placed on: from ORT\'s verbose session log ("Node(s) placed on [...]", captured in the page). CPU (fallback) means ORT has no '
        + 'WebGPU kernel for the node and runs it on its CPU EP, copying the tensors between GPU and CPU around it.',
      'mismatches: output elements (bytes for integers, float32 bit patterns for dequantize) that differ from our CPU reference.',
    ];
    const issueLines = ort.issue32578.map((r) => `onnxruntime#32578 check: DequantizeLinear per-tensor ${r.dtype === 'qint8' ? 'int8' : 'uint8'} `
      + `${r.shape.join('x')}, CPU tensors, ${r.bundle === 'default' ? 'default build `onnxruntime-web` (JSEP WebGPU EP)' : '`onnxruntime-web/webgpu` (native WebGPU EP)'}: `
      + `${r.mismatches} of ${r.shape.reduce((a, b) => a * b, 1)} outputs differ from our CPU reference bit for bit${r.firstMismatches.length ? ` (${r.firstMismatches.join('; ')})` : ''}; `
      + `node placed on ${r.cpuFallback === null ? 'unknown' : r.cpuFallback ? 'CPU' : 'WebGPU'}`);
    if (ortRows.length) {
      console.log('');
      console.log('onnxruntime-web, same device, same run:');
      console.log(table(ortHeader, ortRows));
      console.log('');
      for (const line of [...ortLegend, ...issueLines]) console.log(line);
    }

    const profileHeader = ['backend', 'compressOnnx ms', 'load', 'plan', 'readFloat32', 'chooseQParams', 'quantize', 'errorStats', 'encode',
      'phases sum', 'slowest weight (quantize + errorStats)'];
    const profileRows = profiles.map((p) => {
      const phase = (k) => median(p.phasesMs[k]);
      const sum = Object.keys(p.phasesMs).reduce((a, k) => a + phase(k), 0);
      return [p.backend, fmtMs(median(p.totalMs)), ...Object.keys(p.phasesMs).map((k) => fmtMs(phase(k))), fmtMs(sum),
        `${p.slowest.name} (${p.slowest.elements} elements): ${fmtMs(p.slowest.ms)} ms`];
    });
    const profileLegend = profiles.length ? [`compressOnnx on the default model (${profiles[0].modelBytes} bytes, ${profiles[0].weights} weights, `
      + `${profiles[0].quantized} quantized, default options), median of 3 calls after 1 warm-up; the phases: the same calls compressOnnx makes, `
      + 'made one by one and timed from the outside, summed over the weights, median of 3 repetitions; compressOnnx ms minus the phases\' sum '
      + 'is its own QDQ writing and bookkeeping.'] : [];
    if (profileRows.length) {
      console.log('');
      console.log('whole-model compression (default model):');
      console.log(table(profileHeader, profileRows));
      for (const line of profileLegend) console.log(line);
    }

    const compareConfigs = ['webgpu (separate calls)', 'webgpu (two submits)', 'webgpu', 'auto', 'cpu'];
    const compareHeader = ['model', 'MiB', ...compareConfigs.map((k) => `${k} ms`), 'webgpu / cpu', 'webgpu / separate calls', 'webgpu / two submits'];
    const compareRows = compares.map((r) => {
      const m = (k) => median(r.ms[k]);
      // Ratios per round (the configurations of one round ran back to back), then their median.
      const ratio = (a, b) => median(r.ms[a].map((v, i) => v / r.ms[b][i]));
      return [r.model === 'mlp' ? 'MLP, 4 MatMul [1024, 4096] / [4096, 1024]' : 'default (Silero VAD)', fmt(r.modelBytes / 2 ** 20, 2),
        ...compareConfigs.map((k) => fmtMs(m(k))), fmt(ratio('webgpu', 'cpu'), 2), fmt(ratio('webgpu', 'webgpu (separate calls)'), 2),
        fmt(ratio('webgpu', 'webgpu (two submits)'), 2)];
    });
    const compareLegend = compares.length ? [`compressOnnx end to end, default options (int8 per channel, min/max), median of ${options.compareReps} `
      + 'interleaved rounds after one warm-up call each (each round runs every configuration once, the order rotated); ratios are medians of '
      + 'the per-round ratios. webgpu (separate calls): chooseQParams, quantize and errorStats as three GPU calls per weight (three uploads, '
      + 'three readbacks); webgpu (two submits): the weight uploaded once, min/max, the parameters on the host, then quantize + statistics; '
      + 'webgpu: min/max, parameters on the GPU, quantize and statistics in one submit. Every configuration wrote the '
      + 'same model bytes.'] : [];
    if (compareRows.length) {
      console.log('');
      console.log('whole-model compression, end to end:');
      console.log(table(compareHeader, compareRows));
      for (const line of compareLegend) console.log(line);
    }

    const elapsed = (performance.now() - started) / 1000;
    const loadAtEnd = loadavg()[0];
    console.log(`\ntotal bench time ${elapsed.toFixed(0)} s; load average ${loadAtEnd.toFixed(2)} at the end`);

    const date = new Date().toISOString().slice(0, 10);
    const base = join(options.out, `${slug(`${info.adapter.vendor} ${info.adapter.description || info.adapter.architecture}`)}-${date}`);
    mkdirSync(options.out, { recursive: true });
    const copyRecords = [...copies].map(([bytes, entry]) => ({ bytes, ...Object.fromEntries(Object.entries(entry).map(([k, t]) => [k, { ...t, medianMs: median(t.deviceMs), gbPerS: gbps(2 * bytes, median(t.deviceMs)) }])) }));
    writeFileSync(`${base}.json`, `${JSON.stringify({
      date: new Date().toISOString(), browser: browserVersion, ...info, options, timing: [...methods], notes, results: summary, copies: copyRecords,
      reductions: reductionSummary, onnxruntimeWeb: ortSummary, issue32578: ort.issue32578, compressProfile: profiles, compressCompare: compares,
      reads: [...reads].flatMap(([bytes, runs]) => runs.map((t) => ({ bytes, ...t, medianMs: median(t.deviceMs), gbPerS: gbps(bytes, median(t.deviceMs)) }))),
      chooseQParams: mse ? { ...mse, e2eMedianMs: median(mse.e2eMs) } : null,
      elapsedSeconds: elapsed, host: { cpus: availableParallelism(), loadAverageAtStart: startLoad, loadAverageAtEnd: loadAtEnd },
    }, null, 2)}\n`);
    writeFileSync(`${base}.md`, [
      `# webgpu-quant benchmark, ${date}`, '', ...header.slice(1).map((l) => `- ${l}`), `- ${options.reps} timed repetitions after ${options.warmup} warm-up`, '',
      ...(mainRows.length ? [markdownTable(mainHeader, mainRows), '', ...legend.map((l) => `- ${l}`), '', e2eLegend, '', markdownTable(e2eHeader, e2eRows), ''] : []),
      ...(reductionRows.length ? ['Observers, error statistics and calibration:', '', markdownTable(reductionHeader, reductionRows), '',
        ...reductionLegend.map((l) => `- ${l}`), ''] : []),
      ...(ortRows.length ? ['onnxruntime-web, same device, same run:', '', markdownTable(ortHeader, ortRows), '',
        ...[...ortLegend, ...issueLines].map((l) => `- ${l}`), ''] : []),
      ...(profileRows.length ? ['Whole-model compression (default model):', '', markdownTable(profileHeader, profileRows), '',
        ...profileLegend.map((l) => `- ${l}`), ''] : []),
      ...(compareRows.length ? ['Whole-model compression, end to end:', '', markdownTable(compareHeader, compareRows), '',
        ...compareLegend.map((l) => `- ${l}`), ''] : []),
      `Produced by \`node bench/run.mjs ${process.argv.slice(2).join(' ')}\` in ${elapsed.toFixed(0)} s; load average ${loadAtEnd.toFixed(2)} at the end.`, '',
    ].join('\n'));
    console.log(`wrote ${base}.json and .md`);
  } finally {
    await opened.close();
  }
}

main().catch((error) => {
  console.error(`bench failed: ${error?.stack ?? error}`);
  process.exitCode = 1;
});
