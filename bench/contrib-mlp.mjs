// Size, accuracy and inference time of an MLP as float32, as QDQ and as MatMulNBits (`onnxOps: 'contrib'`),
// in onnxruntime-node (CPU EP) and in onnxruntime-web's wasm EP running in Node (the same wasm build as in a
// browser; one thread unless --wasm-threads). Run after `npm run build`:
//   node bench/contrib-mlp.mjs [--widths 1024,4096,1024,4096,1024] [--batch 1] [--reps 20] [--wasm-threads 1] [--no-wasm]
// The MLP is x → (MatMul W, Add b, Relu) × 4 with seeded normal weights (scaled 1 / sqrt(fan-in)); every
// weight is quantized (firstLayer 'quantize'). Time: wall time around session.run, median of reps after
// 3 warm-up runs, one session per model, onnxruntime's default session options (all optimisations: it fuses
// QDQ MatMul weights into MatMulNBits itself).
import { parseArgs } from 'node:util';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { compressOnnx } from '../dist/models.js';
import { mlpModel, normal } from './mlp-model.mjs';

const { values } = parseArgs({ options: {
  widths: { type: 'string', default: '1024,4096,1024,4096,1024' }, batch: { type: 'string', default: '1' }, reps: { type: 'string', default: '20' },
  'wasm-threads': { type: 'string', default: '1' }, 'no-wasm': { type: 'boolean', default: false },
} });
ortWeb.env.wasm.numThreads = Number(values['wasm-threads']);
const widths = values.widths.split(',').map(Number);
const batch = Number(values.batch);
const reps = Number(values.reps);

async function measure(model, x, runtime = ort) {
  const session = await runtime.InferenceSession.create(model, runtime === ort ? {} : { executionProviders: ['wasm'] });
  const feeds = { x: new runtime.Tensor('float32', x, [batch, widths[0]]) };
  let y;
  for (let i = 0; i < 3; i++) y = (await session.run(feeds)).y.data;
  const times = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    times.push(performance.now() - t0);
  }
  await session.release();
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)], y };
}

const original = mlpModel(onnxProto.onnx, widths);
const x = normal(batch * widths[0], 7, 1);
const reference = await measure(original, x);
const wasm = !values['no-wasm'];
const rows = [['float32', original, reference, wasm ? await measure(original, x, ortWeb) : undefined]];
const variants = {
  'int4 g32 QDQ': { dtype: 'qint4', granularity: 'group', groupSize: 32 },
  'int4 g32 MatMulNBits': { dtype: 'qint4', granularity: 'group', groupSize: 32, onnxOps: 'contrib' },
  'int4 g32 MatMulNBits, accuracy_level 4': { dtype: 'qint4', granularity: 'group', groupSize: 32, onnxOps: 'contrib', accuracyLevel: 4 },
  'int8 per channel QDQ': { dtype: 'qint8' },
  'int8 per channel MatMulNBits': { dtype: 'qint8', onnxOps: 'contrib' },
  'int8 per channel MatMulNBits, accuracy_level 4': { dtype: 'qint8', onnxOps: 'contrib', accuracyLevel: 4 },
};
for (const [name, options] of Object.entries(variants)) {
  const { model } = await compressOnnx(original, { ...options, firstLayer: 'quantize' }, { backend: 'cpu' });
  rows.push([name, model, await measure(model, x), wasm ? await measure(model, x, ortWeb) : undefined]);
}
let peak = 0;
for (const v of reference.y) peak = Math.max(peak, Math.abs(v));
console.log(`MLP ${widths.join(' → ')}, batch ${batch}, median of ${reps}: onnxruntime-node ${ort.env.versions.node ?? ''} CPU EP`
  + `${wasm ? `, onnxruntime-web ${ortWeb.env.versions.web} wasm EP in Node (${ortWeb.env.wasm.numThreads} thread(s))` : ''}`);
console.log(`| model | MiB | size / float32 | max |Δy| / max |y| | node CPU ms |${wasm ? ' wasm ms | wasm max |Δy| vs node |' : ''}`);
console.log(`| --- | --- | --- | --- | --- |${wasm ? ' --- | --- |' : ''}`);
for (const [name, model, { ms, y }, web] of rows) {
  let diff = 0;
  for (let i = 0; i < y.length; i++) diff = Math.max(diff, Math.abs(y[i] - reference.y[i]));
  let webDiff = 0;
  if (web) for (let i = 0; i < y.length; i++) webDiff = Math.max(webDiff, Math.abs(web.y[i] - y[i]));
  console.log(`| ${name} | ${(model.byteLength / 2 ** 20).toFixed(2)} | ${(model.byteLength / original.byteLength).toFixed(3)} | ${(diff / peak).toFixed(4)} | ${ms.toFixed(2)} |`
    + `${web ? ` ${web.ms.toFixed(2)} | ${(webDiff / peak).toExponential(1)} |` : ''}`);
}
