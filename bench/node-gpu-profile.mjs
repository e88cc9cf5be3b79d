// Where whole-model time goes with backend 'webgpu' in Node (the `webgpu` package, Dawn), for a hardware GPU: first
// the host↔device copies alone, each step timed (writeBuffer of the float32 weight, the GPU's copy of it, mapAsync
// of the integers' bytes, the copy out of the mapped range; beside them an upload through a buffer mapped at creation,
// one through a staging buffer mapped again each time, and a copy out into an array made once); then compressOnnx on the bench MLP (bench/mlp-model.mjs)
// with 'webgpu' and 'cpu' in interleaved rounds (medians), and the 'webgpu' calls under Node's CPU profiler: self
// time per function and call, '(idle)' being the wait for the GPU.
//
//   node bench/node-gpu-profile.mjs [--layers=4] [--reps=5] [--top=30] [--elements=16777216] [--no-profile]
//   (bundled for a machine without the npm dependencies: npm run bundle:node-gpu, then
//    node .tmp/node-gpu/node-gpu-profile.mjs; docs/testing.md)
import { Session } from 'node:inspector/promises';
import { loadavg } from 'node:os';
import { compressOnnx } from 'webgpu-quant/models';
import { onnx } from 'webgpu-quant/internals';
import { installNodeWebGpu } from '../test/node-gpu/node-webgpu.mjs';
import { mlpModel } from './mlp-model.mjs';

const opts = { layers: 4, reps: 5, top: 30, elements: 16777216, profile: true };
for (const arg of process.argv.slice(2)) {
  const [k, v] = arg.replace(/^--/, '').split('=');
  if (k === 'no-profile') opts.profile = false;
  else if (k in opts && k !== 'profile') opts[k] = Number(v);
  else throw new Error(`unknown option ${arg} (see the top of bench/node-gpu-profile.mjs)`);
}
const median = (v) => [...v].sort((a, b) => a - b)[v.length >> 1];
const fmt = (ms) => `${ms.toFixed(2)} ms`;

const adapterName = await installNodeWebGpu();
console.log(`${adapterName}; Node ${process.version}; load ${loadavg()[0].toFixed(2)}`);

/** The copies of one quantize call, step by step: `elements` float32 up, as many bytes down. */
async function copySteps(elements) {
  const adapter = await navigator.gpu.requestAdapter();
  const device = await adapter.requestDevice({ label: 'profile: copies', requiredLimits: {
    maxBufferSize: adapter.limits.maxBufferSize, maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize } });
  const input = device.createBuffer({ label: 'profile: input', size: 4 * elements, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const output = device.createBuffer({ label: 'profile: output', size: elements, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const staging = device.createBuffer({ label: 'profile: staging', size: elements, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const host = new Float32Array(elements).fill(1.5);
  const kept = new Uint8Array(elements);
  const upStaging = device.createBuffer({ label: 'profile: reused upload staging', size: 4 * elements, usage: GPUBufferUsage.MAP_WRITE | GPUBufferUsage.COPY_SRC });
  const steps = { writeBuffer: [], uploadDone: [], copyAndMap: [], copyOut: [], total: [], freshArray: [], mappedUpload: [], reusedMappedUpload: [], copyOutKept: [] };
  /** Fills `source` (mapped for writing) with the weight, copies it to `input` on the device and waits for it. */
  const copyUp = async (source, label) => {
    new Float32Array(source.getMappedRange()).set(host);
    source.unmap();
    const encoder = device.createCommandEncoder({ label });
    encoder.copyBufferToBuffer(source, 0, input, 0, 4 * elements);
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
  };
  try {
    for (let r = 0; r < opts.reps + 1; r++) {
      const t0 = performance.now();
      device.queue.writeBuffer(input, 0, host);
      const t1 = performance.now();
      await device.queue.onSubmittedWorkDone();
      const t2 = performance.now();
      const encoder = device.createCommandEncoder({ label: 'profile: copy down' });
      encoder.copyBufferToBuffer(output, 0, staging, 0, elements);
      device.queue.submit([encoder.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      const t3 = performance.now();
      const out = new Uint8Array(staging.getMappedRange()).slice();
      staging.unmap();
      const t4 = performance.now();
      const fresh = new Float32Array(elements);
      for (let i = 0; i < elements; i += 1024) fresh[i] = i;
      const t5 = performance.now();
      // The alternatives: upload through a buffer mapped at creation and a GPU copy (no writeBuffer), and the copy out
      // into an array made once (no fresh pages).
      const mapped = device.createBuffer({ label: 'profile: mapped upload', size: 4 * elements, usage: GPUBufferUsage.MAP_WRITE | GPUBufferUsage.COPY_SRC, mappedAtCreation: true });
      await copyUp(mapped, 'profile: mapped copy up');
      mapped.destroy();
      const t6 = performance.now();
      await staging.mapAsync(GPUMapMode.READ);
      const t7 = performance.now();
      kept.set(new Uint8Array(staging.getMappedRange()));
      staging.unmap();
      const t8 = performance.now();
      // And through one MAP_WRITE staging buffer mapped again each time (its pages touched once).
      await upStaging.mapAsync(GPUMapMode.WRITE);
      await copyUp(upStaging, 'profile: reused staging copy up');
      const t9 = performance.now();
      if (r === 0 || out.length !== elements) continue; // the first round warms up
      steps.mappedUpload.push(t6 - t5); steps.copyOutKept.push(t8 - t7); steps.reusedMappedUpload.push(t9 - t8);
      steps.writeBuffer.push(t1 - t0); steps.uploadDone.push(t2 - t1); steps.copyAndMap.push(t3 - t2); steps.copyOut.push(t4 - t3);
      steps.total.push(t4 - t0); steps.freshArray.push(t5 - t4);
    }
  } finally {
    input.destroy(); output.destroy(); staging.destroy(); upStaging.destroy(); device.destroy();
  }
  const mib = (4 * elements) / 2 ** 20;
  console.log(`\ncopies, ${mib} MiB up and ${mib / 4} MiB down (median of ${opts.reps}):`);
  for (const [k, v] of Object.entries(steps)) console.log(`  ${k.padEnd(12)} ${fmt(median(v)).padStart(10)}`);
  console.log(`  writeBuffer: ${((4 * elements) / 1e6 / median(steps.writeBuffer)).toFixed(2)} GB/s; copy out: ${(elements / 1e6 / median(steps.copyOut)).toFixed(2)} GB/s; `
    + `mapped upload: ${((4 * elements) / 1e6 / median(steps.mappedUpload)).toFixed(2)} GB/s; reused staging: ${((4 * elements) / 1e6 / median(steps.reusedMappedUpload)).toFixed(2)} GB/s; copy out into a kept array: ${(elements / 1e6 / median(steps.copyOutKept)).toFixed(2)} GB/s`);
}

/** Self time per function over `calls` of `fn`, from Node's sampling profiler. */
async function profiled(fn, calls) {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  for (let i = 0; i < calls; i++) await fn();
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  const self = new Map();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  for (let i = 0; i < profile.samples.length; i++) {
    const f = byId.get(profile.samples[i]).callFrame;
    const key = `${f.functionName || '(anon)'} ${f.url.replace(/^.*\//, '')}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + (profile.timeDeltas[i + 1] ?? 0) / 1000);
  }
  return [...self].sort((a, b) => b[1] - a[1]);
}

await copySteps(opts.elements);

const widths = Array.from({ length: opts.layers + 1 }, (_, i) => (i % 2 ? 4096 : 1024));
const bytes = mlpModel(onnx, widths);
const run = (backend) => compressOnnx(bytes, {}, { backend });
await run('webgpu');
await run('cpu');
const times = { webgpu: [], cpu: [] };
for (let r = 0; r < opts.reps; r++) {
  for (const backend of ['webgpu', 'cpu']) {
    const t0 = performance.now();
    await run(backend);
    times[backend].push(performance.now() - t0);
  }
}
const [g, c] = [median(times.webgpu), median(times.cpu)];
console.log(`\ncompressOnnx, MLP of ${opts.layers} weights (${(bytes.byteLength / 2 ** 20).toFixed(0)} MiB), median of ${opts.reps}: `
  + `webgpu ${fmt(g)}, cpu ${fmt(c)}, webgpu / cpu ${(g / c).toFixed(2)}`);
if (opts.profile) {
  const rows = await profiled(() => run('webgpu'), opts.reps);
  const total = rows.reduce((a, [, ms]) => a + ms, 0);
  console.log(`\nwebgpu under the profiler: ${fmt(total / opts.reps)} a call; self time per call:`);
  for (const [k, ms] of rows.slice(0, opts.top)) console.log(`  ${(ms / opts.reps).toFixed(3).padStart(9)} ms  ${k}`);
}
process.exit(0);
