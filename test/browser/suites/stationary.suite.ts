// The stationary 8-bit and 4-bit kernels (src/kernels/elementwise/stationary.ts): per channel with whole vecs per
// run (kind 1: the channel axis not last, inner a multiple of the vec), per group along the last axis
// (kind 1: groups of whole vecs), per channel along the last axis (kind 2: columns). Fresh random data
// with every special value, random parameters, forced chunk sizes (chunks of whole runs, and chunks
// smaller than one run, which must fall back to the general kernel), 2-D dispatch folds, and the
// subnormal path; every result against the CPU reference, bit for bit.
import {
  type QDType, dequantize, dtypeInfo, getDefaultManager, quantizePerChannel, quantizePerGroup, reference, tensor,
} from './imports.js';
import { type BrowserTest, RUN_SEED, expectExact, expectPoolEmpty, expectUlps, gpuScoped, randomData, rng } from './support.js';

const kSpecials = [NaN, Infinity, -Infinity, 0, -0, 1e-40, -1e-40, 1.1754942e-38, 3.4e38, -3.4e38, 0.5, -2.5, 1e6];

type Case = { shape: number[]; axis: number; groupSize?: number };

/**
 * Shapes per vec width (16 elements for 8-bit, 32 for 4-bit): short runs (kind 3, rows wrapping within an
 * invocation), short groups, columns (kind 2), long runs and long groups (kind 1).
 */
function cases(vec: number): Case[] {
  return [
    { shape: [5, 2 * vec], axis: 0 },
    { shape: [3, 7, vec], axis: 1 },
    { shape: [9, 3 * vec], axis: 1, groupSize: vec },
    { shape: [4, 4 * vec], axis: 1, groupSize: 2 * vec },
    { shape: [11, 2 * vec], axis: 1 },
    { shape: [3, 5, 3 * vec], axis: 2 },
    { shape: [37, vec], axis: 1 },
    { shape: [3, 20 * vec], axis: 0 },
    { shape: [2, 32 * vec], axis: 1, groupSize: 16 * vec },
  ];
}

function data(n: number, seed: number): Float32Array {
  const x = randomData(n, seed, 30);
  kSpecials.forEach((v, i) => { x[(i * 37) % n] = v; });
  return x;
}

async function check(c: Case, dtype: QDType, seed: number, options: { backend: 'webgpu'; maxChunkElements?: number; maxWorkgroupsPerDimension?: number },
  scaleOf?: (row: number) => number, values?: (n: number) => Float32Array): Promise<void> {
  const random = rng(seed);
  const size = c.shape.reduce((a, b) => a * b, 1);
  const x = tensor(values ? values(size) : data(size, seed), c.shape);
  const rows = c.groupSize ? (size / c.shape[c.axis]!) * Math.ceil(c.shape[c.axis]! / c.groupSize) : c.shape[c.axis]!;
  const { qmin, qmax } = dtypeInfo(dtype);
  const scales = Array.from({ length: rows }, (_, r) => (scaleOf ? scaleOf(r) : Math.fround(0.05 + 3 * random())));
  const zeroPoints = Array.from({ length: rows }, () => qmin + Math.floor(random() * (qmax - qmin + 1)));
  const what = `${dtype} [${c.shape}] axis ${c.axis}${c.groupSize ? ` group ${c.groupSize}` : ''} ${JSON.stringify(options)}`;
  const [q, expected] = c.groupSize
    ? [await quantizePerGroup(x, scales, zeroPoints, c.axis, c.groupSize, dtype, options),
      reference.quantizePerGroup(x, scales, zeroPoints, c.axis, c.groupSize, dtype)]
    : [await quantizePerChannel(x, scales, zeroPoints, c.axis, dtype, options),
      reference.quantizePerChannel(x, scales, zeroPoints, c.axis, dtype)];
  expectExact(q.intRepr(), expected.intReprView(), `${what}: quantize`);
  expectUlps((await dequantize(q, options)).data, reference.dequantize(expected).data, 0, `${what}: dequantize`);
}

const kDTypes: QDType[] = ['qint8', 'quint8', 'qint4', 'quint4'];

export const tests: Record<string, BrowserTest> = {
  async 'stationary kernels: runs, groups and columns, every 8-bit and 4-bit dtype, GPU = CPU'() {
    const manager = await getDefaultManager();
    await gpuScoped(async () => {
      for (const dtype of kDTypes) {
        const vec = 128 / dtypeInfo(dtype).bits;
        for (const [i, c] of cases(vec).entries()) await check(c, dtype, RUN_SEED + i, { backend: 'webgpu' });
      }
    });
    const built = manager.pipelines.built();
    for (const op of ['quantize', 'dequantize']) {
      for (const [kind, override] of [['runs', 1], ['columns', 2], ['shortRuns', 3]] as const) {
        if (!built.some((p) => p.label.startsWith(`${op}|stationary|`) && p.label.endsWith(`|${kind}`) && p.constants.STATIONARY_KIND === override)) {
          throw new Error(`no ${op} stationary '${kind}' pipeline was built: ${built.map((p) => p.label).join(', ')}`);
        }
      }
    }
    await expectPoolEmpty();
    return `run seed ${RUN_SEED}`;
  },
  async 'stationary kernels: forced chunks (whole runs, and smaller than a run) and 2-D folds give the same bits'() {
    await gpuScoped(async () => {
      for (const dtype of ['qint8', 'quint4'] as const) {
        const vec = 128 / dtypeInfo(dtype).bits;
        for (const [i, c] of cases(vec).entries()) {
          for (const maxChunkElements of [vec, 3 * vec + 5, 4 * vec, 1000]) {
            await check(c, dtype, RUN_SEED + 100 + i, { backend: 'webgpu', maxChunkElements });
          }
          await check(c, dtype, RUN_SEED + 200 + i, { backend: 'webgpu', maxWorkgroupsPerDimension: 1, maxChunkElements: 2 * vec });
        }
        // Enough invocations to fold into 2-D: kind 1, 4 runs of 4096 vecs (1024 invocations, 4 groups);
        // kind 2, 8192 rows of 64 columns (2048 or 1024 invocations).
        for (const [j, c] of [{ shape: [4, 4096 * vec], axis: 0 }, { shape: [8192, 64], axis: 1 }].entries()) {
          for (const maxWorkgroupsPerDimension of [2, 3]) await check(c, dtype, RUN_SEED + 250 + j, { backend: 'webgpu', maxWorkgroupsPerDimension });
        }
      }
    });
    await expectPoolEmpty();
  },
  async 'stationary kernels: tiny scales take the subnormal path, per channel and per group'() {
    await gpuScoped(async () => {
      for (const dtype of ['qint8', 'qint4'] as const) {
        const vec = 128 / dtypeInfo(dtype).bits;
        for (const [i, c] of cases(vec).entries()) {
          // Scales 2^-126 and 1.5 * 2^-126 (inverses above 2^125): subnormal inputs quantize to zp, zp +- 1 or
          // more, so a flushed product would be wrong. Inputs: random subnormals of either sign, and the specials.
          const random = rng(RUN_SEED + 400 + i);
          const subnormals = (n: number): Float32Array => {
            const x = new Float32Array(n).map(() => (random() < 0.5 ? -1 : 1) * Math.floor(random() * 2 ** 23) * 2 ** -149);
            kSpecials.forEach((v, j) => { x[(j * 37) % n] = v; });
            return x;
          };
          await check(c, dtype, RUN_SEED + 300 + i, { backend: 'webgpu' }, (row) => (row % 2 ? 2 ** -126 : 1.5 * 2 ** -126), subnormals);
        }
      }
    });
    await expectPoolEmpty();
  },
};
