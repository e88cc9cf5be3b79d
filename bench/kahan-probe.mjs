// Which compensated-sum formulations survive a driver's shader compiler: each of 64 lanes sums 1, then 255 terms of
// 2^-24 (or their squares' equivalent); prints each formulation's sum and relative error as JSON. Needs the `webgpu`
// package (test/node-gpu/node-webgpu.mjs): `node bench/kahan-probe.mjs`. The shader keeps the form that survives.
import { installNodeWebGpu } from '../test/node-gpu/node-webgpu.mjs';
const adapterName = await installNodeWebGpu();
const adapter = await navigator.gpu.requestAdapter();
const device = await adapter.requestDevice();
const lanes = 64, n = 256;
const variants = {
  plain: `s = s + v;`,
  kahan: `let t = v - c; let nx = s + t; c = (nx - s) - t; s = nx;`,
  kahanSq: `let t = v * v2 - c; let nx = s + t; c = (nx - s) - t; s = nx;`,
  kahanOne: `let t = v - c; let nx = (s + t) * p.one; c = (nx - s) - t; s = nx;`,
  kahanSqOne: `let t = v * v2 - c; let nx = (s + t) * p.one; c = (nx - s) - t; s = nx;`,
  twoSum: `let nx = s + v; let bp = nx - s; c = c + ((s - (nx - bp)) + (v - bp)); s = nx;`,
  twoSumOne: `let nx = (s + v) * p.one; let bp = (nx - s) * p.one; c = c + ((s - (nx - bp)) + (v - bp)); s = nx;`,
};
const results = {};
for (const [name, body] of Object.entries(variants)) {
  const sq = name.includes('Sq');
  const code = `
struct P { tiny: f32, one: f32, v2: f32, pad: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  var s = 0.0; var c = 0.0; let v2 = p.v2;
  for (var r = 0u; r < ${n}u; r++) { let v = x[r * ${lanes}u + g.x]; ${body} }
  out[g.x] = s - c;
  ${name.startsWith('twoSum') ? 'out[g.x] = s + c;' : ''}
}`;
  const data = new Float32Array(lanes * n).fill(sq ? 2 ** -12 : 2 ** -24);
  data.fill(1, 0, lanes);
  const v2 = sq ? 2 ** -12 : 1; // kahanSq: v * v2 with v = 2^-12 for the tiny terms (and 1 * 2^-12 for the large one)
  if (sq) data.fill(2 ** 12, 0, lanes); // 2^12 * 2^-12 = 1
  const mk = (size, usage, label) => device.createBuffer({ size, usage, label });
  const u = mk(16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, 'u');
  device.queue.writeBuffer(u, 0, new Float32Array([2 ** -24, 1, v2, 0]));
  const xb = mk(data.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, 'x');
  device.queue.writeBuffer(xb, 0, data);
  const ob = mk(lanes * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, 'o');
  const rb = mk(lanes * 4, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'r');
  const module = device.createShaderModule({ code });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const bg = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: u } }, { binding: 1, resource: { buffer: xb } }, { binding: 2, resource: { buffer: ob } }] });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass(); pass.setPipeline(pipeline); pass.setBindGroup(0, bg); pass.dispatchWorkgroups(1); pass.end();
  enc.copyBufferToBuffer(ob, 0, rb, 0, lanes * 4);
  device.queue.submit([enc.finish()]);
  await rb.mapAsync(GPUMapMode.READ);
  const got = new Float32Array(rb.getMappedRange().slice(0));
  rb.unmap();
  const exact = 1 + 255 * 2 ** -24;
  const worst = Math.max(...[...got].map((g) => Math.abs(g - exact) / exact));
  results[name] = { value: got[0], relativeError: worst };
}
console.log(JSON.stringify({ adapter: adapterName, results }, null, 1));
