// The calibration searches on the CPU path ('lsq', 'mse', 'percentile' through chooseQParams with backend 'cpu')
// beside the reference (`reference.chooseQParams`, the readable loops that define the bits), every ratio from one
// run, and a bit-for-bit check of the two (npm run build first: it imports dist/):
//   1. the whole [rows, cols] matrix (seeded normal values) with the CPU path, each case's median of --reps;
//   2. its first --check-rows rows with both, the ratio of their times, and whether scales, zero points and the
//      search report are the same bits (the reference takes minutes on the whole matrix).
// Cases: the compressor's 4-bit schemes (int4 groups of 32 along the rows: 'lsq' affine with Q4_0's grid, 81
// candidates a group, and 'mse' symmetric, 100), int8 per channel along the columns (a MatMul weight's output
// channels: 'lsq' and 'mse') and 'percentile' per channel.
//
//   node bench/calibration-search.mjs [--rows=4096] [--cols=4096] [--reps=3] [--check-rows=64] [--cases=lsq4,mse4,...]
//                                     [--out=bench/results]
//
// Writes the results to <out>/calibration-search-<YYYY-MM-DD>.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { chooseQParams, reference, tensor } from '../dist/index.js';
import { medianOf } from './median.mjs';
import { normalData } from './normal-data.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const rows = Number(args.rows ?? 4096);
const cols = Number(args.cols ?? 4096);
const reps = Number(args.reps ?? 3);
const checkRows = Math.min(rows, Number(args['check-rows'] ?? 64));
const out = args.out ?? join(root, 'bench', 'results');

const groups32 = { axis: 1, groupSize: 32 };
const kCases = {
  lsq4: { dtype: 'qint4', granularity: groups32, method: 'lsq', symmetric: false, signedExtreme: true },
  mse4: { dtype: 'qint4', granularity: groups32, method: 'mse' },
  lsq8: { dtype: 'qint8', granularity: { axis: 1 }, method: 'lsq' },
  mse8: { dtype: 'qint8', granularity: { axis: 1 }, method: 'mse' },
  lsqU8: { dtype: 'quint8', granularity: { axis: 1 }, method: 'lsq', symmetric: false },
  percentile8: { dtype: 'qint8', granularity: { axis: 1 }, method: 'percentile' },
};
const names = (args.cases ?? Object.keys(kCases).join(',')).split(',');

const median = (fn) => medianOf(reps, fn);

/** The fields of two calibrations that differ, bit for bit ('' when none). */
function differences(a, b) {
  const bits = (v) => (v === undefined ? [] : Array.from(v, (x) => (Object.is(x, -0) ? 'neg0' : Number.isNaN(x) ? 'NaN' : x)));
  const fields = { scales: [a.scales, b.scales], zeroPoints: [a.zeroPoints, b.zeroPoints],
    clipRatios: [a.search?.clipRatios, b.search?.clipRatios], mse: [a.search?.mse, b.search?.mse] };
  return Object.entries(fields).filter(([, [x, y]]) => JSON.stringify(bits(x)) !== JSON.stringify(bits(y))).map(([k]) => k).join(', ');
}

const data = normalData(rows * cols, 7);
const whole = tensor(data, [rows, cols]);
const cut = tensor(data.subarray(0, checkRows * cols), [checkRows, cols]);
const results = [];
console.log(`[${rows}, ${cols}] float32, ${reps} reps, check on the first ${checkRows} rows; load ${loadavg()[0].toFixed(2)}`);
for (const name of names) {
  const spec = kCases[name];
  if (!spec) throw new Error(`unknown case ${name}; use ${Object.keys(kCases).join(', ')}`);
  const full = await median(() => chooseQParams(whole, spec, { backend: 'cpu' }));
  const fast = await median(() => chooseQParams(cut, spec, { backend: 'cpu' }));
  const t0 = performance.now();
  const expected = reference.chooseQParams(cut, spec);
  const referenceMs = performance.now() - t0;
  const differ = differences(fast.result, expected);
  const row = {
    case: name, spec, ms: full.ms, mbPerS: (4 * rows * cols) / 1e6 / (full.ms / 1e3),
    check: { rows: checkRows, ms: fast.ms, referenceMs, speedup: referenceMs / fast.ms, same: differ === '', differ },
  };
  results.push(row);
  console.log(`${name.padEnd(12)} ${full.ms.toFixed(0).padStart(7)} ms (${row.mbPerS.toFixed(1)} MB/s); first ${checkRows} rows: ` +
    `${fast.ms.toFixed(1)} ms against the reference's ${referenceMs.toFixed(0)} ms (${row.check.speedup.toFixed(1)}x), ` +
    `${differ === '' ? 'the same bits' : `DIFFERENT: ${differ}`}`);
}
mkdirSync(out, { recursive: true });
const file = join(out, `calibration-search-${new Date().toISOString().slice(0, 10)}.json`);
writeFileSync(file, `${JSON.stringify({ rows, cols, reps, checkRows, load: loadavg(), results }, null, 2)}\n`);
console.log(`wrote ${file}`);
if (results.some((r) => !r.check.same)) process.exitCode = 1;
