// Parameter tables built on the device against the host's, through the public calls end to end (backend
// 'webgpu', 4096 x 4096 float32, in Node on the `webgpu` package's adapter): first each case once both ways,
// results compared element by element; then rounds alternating `manager.deviceTables` off and on (4 calls each,
// 5 rounds, medians); then a CPU profile of the first case with device tables, self time per function.
//
//   npm run build && node bench/device-tables.mjs
//   (on a software adapter `deviceTables` defaults to false; the comparison runs both ways all the same)
import { Session } from 'node:inspector/promises';
import { dequantize, getDefaultManager, quantizePerChannel, quantizePerGroup, tensor } from 'webgpu-quant';
import { installNodeWebGpu } from '../test/node-gpu/node-webgpu.mjs';
console.log(await installNodeWebGpu());
const manager = await getDefaultManager();
console.log('deviceTables default', manager.deviceTables);
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
cases.push({ name: 'quantize qint8 per channel axis 1 (4096 rows: host either way)', run: () => quantizePerChannel(x, cs, cz, 1, 'qint8', { backend: 'webgpu' }) });
const results = new Map();
let same = true;
for (const c of cases) {
  manager.deviceTables = false; const a = await c.run();
  manager.deviceTables = true; const b = await c.run();
  const av = a.intRepr ? a.intRepr() : a.data, bv = b.intRepr ? b.intRepr() : b.data;
  for (let i = 0; i < av.length; i++) if (!Object.is(av[i], bv[i])) { same = false; console.log(`${c.name}: differs at ${i}`); break; }
}
console.log('host and device tables give the same results:', same);
for (let round = 0; round < 5; round++) {
  for (const c of cases) {
    for (const on of round % 2 ? [true, false] : [false, true]) {
      manager.deviceTables = on;
      for (let r = 0; r < 4; r++) {
        const t0 = performance.now(); await c.run(); const ms = performance.now() - t0;
        const key = `${c.name} | ${on ? 'device' : 'host'}`;
        if (!results.has(key)) results.set(key, []);
        results.get(key).push(ms);
      }
    }
  }
}
for (const c of cases) {
  const h = results.get(`${c.name} | host`), d = results.get(`${c.name} | device`);
  console.log(`${c.name}: host table median ${median(h).toFixed(2)} ms (min ${Math.min(...h).toFixed(2)}), device table median ${median(d).toFixed(2)} ms (min ${Math.min(...d).toFixed(2)})`);
}
manager.deviceTables = true;
const s = new Session(); s.connect(); await s.post('Profiler.enable'); await s.post('Profiler.setSamplingInterval', { interval: 100 }); await s.post('Profiler.start');
const run = cases[0].run; const reps = 20;
const t0 = performance.now(); for (let r = 0; r < reps; r++) await run(); const wall = (performance.now() - t0) / reps;
const { profile } = await s.post('Profiler.stop');
const self = new Map(); const byId = new Map(profile.nodes.map((nd) => [nd.id, nd]));
for (let i = 0; i < profile.samples.length; i++) { const nd = byId.get(profile.samples[i]); const k = `${nd.callFrame.functionName || '(anon)'} ${nd.callFrame.url.split('/').pop()}:${nd.callFrame.lineNumber}`; self.set(k, (self.get(k) ?? 0) + profile.timeDeltas[i] / 1000); }
console.log(`profile of ${cases[0].name} with device tables: ${wall.toFixed(2)} ms a call; self time per call:`);
console.log([...self].sort((a, b) => b[1] - a[1]).slice(0, 20).map(([k, v]) => `  ${(v / reps).toFixed(2)} ms  ${k}`).join('\n'));
process.exit(0);
