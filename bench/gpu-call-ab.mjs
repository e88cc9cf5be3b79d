// One of the manager's host-work switches off and on, through the public GPU calls end to end (backend 'webgpu',
// 4096 x 4096 float32, in Node on the `webgpu` package's adapter): `--switch=deviceTables` (parameter tables built
// on the device, src/kernels/elementwise/param-table-kernel.ts) or `--switch=stagedUploads` (float32 inputs of 4 MiB
// or more through the pool's staging buffers, src/gpu/staged-upload.ts). First each case once both ways, results
// compared element by element; then rounds alternating the switch off and on (4 calls each, 5 rounds, medians);
// then a CPU profile of the first case with the switch on, self time per function.
//
// With `--fixed=on` or `--fixed=off` the switch stays so for the whole process (12 calls a case, medians, no
// profile): alternating in one process can cost the 'off' side what the 'on' side leaves behind (fresh staging
// memory for writeBuffer while the pool keeps its staging buffers), so run fixed processes in turns as well.
//
//   npm run build && node bench/gpu-call-ab.mjs [--switch=deviceTables] [--fixed=on|off]
//   (on a software adapter `deviceTables` defaults to false; the comparison runs both ways all the same)
import { Session } from 'node:inspector/promises';
import { dequantize, getDefaultManager, quantizePerChannel, quantizePerGroup, quantizePerTensor, tensor } from 'webgpu-quant';
import { installNodeWebGpu } from '../test/node-gpu/node-webgpu.mjs';
const knob = (process.argv.find((a) => a.startsWith('--switch=')) ?? '--switch=deviceTables').slice('--switch='.length);
if (knob !== 'deviceTables' && knob !== 'stagedUploads') throw new Error(`--switch=${knob}: use deviceTables or stagedUploads`);
console.log(await installNodeWebGpu());
const manager = await getDefaultManager();
console.log(`${knob} by default: ${manager[knob]}`);
const n = 4096;
const data = new Float32Array(n * n); for (let i = 0; i < data.length; i++) data[i] = Math.sin(i) * 2;
const x = tensor(data, [n, n]);
const median = (v) => [...v].sort((a, b) => a - b)[v.length >> 1];
const cases = [];
for (const [dtype, gs] of [['qint8', 32], ['qint4', 32], ['qint8', 128], ['qint4', 128]]) {
  const groups = n * n / gs;
  const scales = new Float64Array(groups), zps = new Int32Array(groups);
  for (let i = 0; i < groups; i++) { scales[i] = (dtype === 'qint4' ? 0.3 : 0.016) * (1 + ((i * 37) % 16) / 16); zps[i] = dtype === 'qint4' ? (i % 3) - 1 : (i % 9) - 4; }
  cases.push({ name: `quantize ${dtype} g${gs}`, run: () => quantizePerGroup(x, scales, zps, 1, gs, dtype, { backend: 'webgpu' }) });
  if (gs === 32) {
    const q = await quantizePerGroup(x, scales, zps, 1, gs, dtype, { backend: 'webgpu' });
    cases.push({ name: `dequantize ${dtype} g${gs}`, run: () => dequantize(q, { backend: 'webgpu' }) });
  }
}
const cs = new Float64Array(n).fill(0.02), cz = new Int32Array(n);
cases.push({ name: 'quantize qint8 per channel axis 1', run: () => quantizePerChannel(x, cs, cz, 1, 'qint8', { backend: 'webgpu' }) });
cases.push({ name: 'quantize qint8 per tensor', run: () => quantizePerTensor(x, 0.02, 0, 'qint8', { backend: 'webgpu' }) });
if (knob === 'stagedUploads') cases.unshift(cases.pop());
const fixed = process.argv.find((a) => a.startsWith('--fixed='))?.slice('--fixed='.length);
if (fixed !== undefined) {
  if (fixed !== 'on' && fixed !== 'off') throw new Error(`--fixed=${fixed}: use on or off`);
  manager[knob] = fixed === 'on';
  for (const c of cases) await c.run();
  for (const c of cases) {
    const times = [];
    for (let r = 0; r < 12; r++) { const t0 = performance.now(); await c.run(); times.push(performance.now() - t0); }
    console.log(`${c.name}: ${knob} ${fixed} median ${median(times).toFixed(2)} ms (min ${Math.min(...times).toFixed(2)})`);
  }
  process.exit(0);
}
const results = new Map();
let same = true;
for (const c of cases) {
  manager[knob] = false; const a = await c.run();
  manager[knob] = true; const b = await c.run();
  const av = a.intRepr ? a.intRepr() : a.data, bv = b.intRepr ? b.intRepr() : b.data;
  for (let i = 0; i < av.length; i++) if (!Object.is(av[i], bv[i])) { same = false; console.log(`${c.name}: differs at ${i}`); break; }
}
console.log(`${knob} off and on give the same results: ${same}`);
for (let round = 0; round < 5; round++) {
  for (const c of cases) {
    for (const on of round % 2 ? [true, false] : [false, true]) {
      manager[knob] = on;
      for (let r = 0; r < 4; r++) {
        const t0 = performance.now(); await c.run(); const ms = performance.now() - t0;
        const key = `${c.name} | ${on ? 'on' : 'off'}`;
        if (!results.has(key)) results.set(key, []);
        results.get(key).push(ms);
      }
    }
  }
}
for (const c of cases) {
  const h = results.get(`${c.name} | off`), d = results.get(`${c.name} | on`);
  console.log(`${c.name}: ${knob} off median ${median(h).toFixed(2)} ms (min ${Math.min(...h).toFixed(2)}), on median ${median(d).toFixed(2)} ms (min ${Math.min(...d).toFixed(2)})`);
}
manager[knob] = true;
const s = new Session(); s.connect(); await s.post('Profiler.enable'); await s.post('Profiler.setSamplingInterval', { interval: 100 }); await s.post('Profiler.start');
const run = cases[0].run; const reps = 20;
const t0 = performance.now(); for (let r = 0; r < reps; r++) await run(); const wall = (performance.now() - t0) / reps;
const { profile } = await s.post('Profiler.stop');
const self = new Map(); const byId = new Map(profile.nodes.map((nd) => [nd.id, nd]));
for (let i = 0; i < profile.samples.length; i++) { const nd = byId.get(profile.samples[i]); const k = `${nd.callFrame.functionName || '(anon)'} ${nd.callFrame.url.split('/').pop()}:${nd.callFrame.lineNumber}`; self.set(k, (self.get(k) ?? 0) + profile.timeDeltas[i] / 1000); }
console.log(`profile of ${cases[0].name} with ${knob} on: ${wall.toFixed(2)} ms a call; self time per call:`);
console.log([...self].sort((a, b) => b[1] - a[1]).slice(0, 20).map(([k, v]) => `  ${(v / reps).toFixed(2)} ms  ${k}`).join('\n'));
process.exit(0);
