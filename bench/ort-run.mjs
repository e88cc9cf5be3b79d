// bench/run.mjs's onnxruntime-web part: the cases of bench/page-ort.ts, then the onnxruntime#32578 check.
import { matrixShape } from './args.mjs';
import { fmtMs, median } from './format.mjs';

/**
 * onnxruntime-web's cases (bench/page-ort.ts) in the bench page, then the onnxruntime#32578 check, whose
 * default-build half runs in a second page so that the two ORT builds never share one page.
 */
export async function runOrt(browser, page, port, options) {
  const cases = [];
  for (const elements of options.elements) {
    const shape = matrixShape(elements);
    for (const op of ['quantize', 'dequantize']) {
      for (const layout of ['perTensor', 'axis0', 'axisLast']) {
        cases.push({ op, dtype: 'quint8', layout, shape, ep: 'webgpu', bundle: 'webgpu', io: 'gpu-buffer' });
        cases.push({ op, dtype: 'qint8', layout, shape, ep: 'wasm', bundle: 'webgpu', io: 'cpu' });
      }
    }
  }
  const repeat = { reps: options.ortReps, warmup: options.warmup };
  const results = [];
  for (const c of cases) {
    const t0 = performance.now();
    const r = await page.evaluate((k) => window.__bench.runOrtCase(k), { ...c, ...repeat });
    process.stderr.write(`  onnxruntime-web ${r.ortVersion} ${c.ep} EP ${c.op} ${c.dtype} ${c.layout} ${c.shape.join('x')}: median `
      + `${fmtMs(median(r.wallMs))} ms, cpu fallback ${r.cpuFallback}, ${r.mismatches} mismatches, case took ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    for (const line of r.ortErrors) process.stderr.write(`  [onnxruntime error] ${line}\n`);
    results.push({ ...c, elements: c.shape.reduce((a, b) => a * b, 1), ...r });
  }
  // onnxruntime#32578: DequantizeLinear per tensor, int8, CPU tensors in and out (ORT uploads and reads back).
  const checkShape = matrixShape(Math.min(...options.elements, 1_048_576));
  const check = { op: 'dequantize', dtype: 'qint8', layout: 'perTensor', shape: checkShape, ep: 'webgpu', io: 'cpu', reps: 1, warmup: 1 };
  const issue32578 = [];
  issue32578.push({ ...check, bundle: 'webgpu', ...await page.evaluate((k) => window.__bench.runOrtCase(k), { ...check, bundle: 'webgpu' }) });
  const second = await browser.newPage();
  try {
    second.on('console', (message) => process.stderr.write(`[page 2] ${message.text()}\n`));
    await second.goto(`http://127.0.0.1:${port}/bench/page.html`);
    await second.waitForFunction(() => window.__bench !== undefined, { timeout: 120_000 });
    for (const dtype of ['qint8', 'quint8']) {
      const k = { ...check, dtype, bundle: 'default' };
      issue32578.push({ ...k, ...await second.evaluate((x) => window.__bench.runOrtCase(x), k) });
    }
  } finally {
    await second.close();
  }
  for (const r of issue32578) {
    process.stderr.write(`  onnxruntime#32578 check: ${r.bundle === 'default' ? 'default build (JSEP)' : 'onnxruntime-web/webgpu'} DequantizeLinear ${r.dtype} `
      + `per-tensor ${r.shape.join('x')}: ${r.mismatches} mismatches ${r.firstMismatches.join('; ')}\n`);
  }
  return { cases: results, issue32578 };
}
