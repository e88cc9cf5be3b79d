// Error statistics on the GPU versus the CPU reference (the same call with { backend: 'cpu' }: float64 sums in
// element order). Tolerances, from the accumulation (per-invocation Kahan float32 sums of <= 256 terms, each
// term within 3 float32 roundings, combined in float64; see src/kernels/error-stats/error-stats-kernel.ts): sums and mse
// relative 1e-6 (bound ~5 * 2^-24 = 3e-7), sqnrDb 1e-5 dB (10 / ln 10 * two such relative errors), cosine 1e-6
// absolute (Cauchy-Schwarz bounds the dot product's error by ~8 * 2^-24); maxAbsError is exactly the float32
// rounding of the reference's float64 value (rounding is monotonic); count and clipFraction exact.
import {
  type ErrorStats, type ErrorStatsPerIndex, type ErrorStatsSummary, InvalidArgumentError, type QDType, QDTYPES, type QTensor, type Tensor,
  dequantize, dtypeInfo, errorStats, fromIntRepr, quantizePerChannel, quantizePerGroup, quantizePerTensor, tensor,
} from './imports.js';
import { type BrowserTest, RUN_SEED, expectPoolEmpty, expectReject, gpuScoped, randomData, rng } from './support.js';

const gpu = { backend: 'webgpu' } as const;
const cpu = { backend: 'cpu' } as const;
const kTolerance = { mseRelative: 1e-6, sqnrDb: 1e-5, cosine: 1e-6 };

/** The worst deviations seen, reported by the large test. */
interface Worst { mse: number; sqnrDb: number; cosine: number }

function relative(actual: number, expected: number): number {
  if (Object.is(actual, expected)) return 0;
  return Math.abs(actual - expected) / Math.abs(expected);
}

function absolute(actual: number, expected: number): number {
  return Object.is(actual, expected) ? 0 : Math.abs(actual - expected);
}

/** Compares one bucket; returns a description of what is out of tolerance, or ''. */
function compareOne(a: ErrorStatsSummary, e: ErrorStatsSummary, worst: Worst): string {
  const problems: string[] = [];
  if (a.count !== e.count) problems.push(`count ${a.count} vs ${e.count}`);
  if (!Object.is(a.clipFraction, e.clipFraction)) problems.push(`clipFraction ${a.clipFraction} vs ${e.clipFraction}`);
  if (!Object.is(a.maxAbsError, Math.fround(e.maxAbsError))) problems.push(`maxAbsError ${a.maxAbsError} vs fround(${e.maxAbsError})`);
  const mse = relative(a.mse, e.mse);
  const sqnr = absolute(a.sqnrDb, e.sqnrDb);
  const cosine = absolute(a.cosine, e.cosine);
  worst.mse = Math.max(worst.mse, mse);
  worst.sqnrDb = Math.max(worst.sqnrDb, sqnr);
  worst.cosine = Math.max(worst.cosine, cosine);
  if (!(mse <= kTolerance.mseRelative)) problems.push(`mse ${a.mse} vs ${e.mse} (relative ${mse})`);
  if (!(sqnr <= kTolerance.sqnrDb)) problems.push(`sqnrDb ${a.sqnrDb} vs ${e.sqnrDb}`);
  if (!(cosine <= kTolerance.cosine)) problems.push(`cosine ${a.cosine} vs ${e.cosine}`);
  return problems.join(', ');
}

function entry(s: ErrorStatsPerIndex, i: number): ErrorStatsSummary {
  return { mse: s.mse[i]!, maxAbsError: s.maxAbsError[i]!, sqnrDb: s.sqnrDb[i]!, cosine: s.cosine[i]!, clipFraction: s.clipFraction[i]!, count: s.count[i]! };
}

/** Fails with a table of at most 10 buckets out of tolerance. */
function expectClose(actual: ErrorStats, expected: ErrorStats, what: string, worst: Worst = { mse: 0, sqnrDb: 0, cosine: 0 }): Worst {
  if (actual.backend !== 'webgpu' || expected.backend !== 'cpu') throw new Error(`${what}: backends ${actual.backend} / ${expected.backend}`);
  const rows: string[] = [];
  let total = 0;
  const check = (label: string, a: ErrorStatsSummary, e: ErrorStatsSummary) => {
    const problem = compareOne(a, e, worst);
    if (problem && total++ < 10) rows.push(`  ${label}: ${problem}`);
  };
  check('overall', actual.overall, expected.overall);
  for (const key of ['perChannel', 'perGroup'] as const) {
    const a = actual[key];
    const e = expected[key];
    if (!a !== !e || (a && a.mse.length !== e!.mse.length)) throw new Error(`${what}: ${key} present/length differs`);
    if (a) for (let i = 0; i < a.mse.length; i++) check(`${key}[${i}]`, entry(a, i), entry(e!, i));
  }
  if (total) throw new Error(`${what}: ${total} buckets out of tolerance\n${rows.join('\n')}`);
  return worst;
}

async function compare(x: Tensor, q: QTensor | Tensor, opts: { axis?: number; groupSize?: number } | undefined, what: string,
  options = {}, worst?: Worst): Promise<Worst> {
  const actual = await errorStats(x, q, opts, { ...gpu, ...options });
  return expectClose(actual, await errorStats(x, q, opts, cpu), what, worst);
}

/** Per-channel parameters spanning the data's channel magnitudes (float32 scales, like observers make). */
function channelParams(dtype: QDType, channels: number, seed: number): { scales: number[]; zeroPoints: number[] } {
  const info = dtypeInfo(dtype);
  const next = rng(seed);
  const span = Math.min(info.qmax - info.qmin, 2 ** 20);
  const scales = Array.from({ length: channels }, () => Math.fround((6 / span) * (0.3 + next())));
  const zeroPoints = Array.from({ length: channels }, () => Math.round(info.qmin + span / 2 + (next() - 0.5) * Math.min(span, 32)));
  return { scales, zeroPoints };
}

export const tests: Record<string, BrowserTest> = {
  async 'buckets whose squares underflow float32 on the GPU get the CPU\'s float64 statistics'() {
    await gpuScoped(async () => {
      const next = rng(RUN_SEED + 77);
      // Per tensor: tiny normal values, quantized with a scale far above them (every integer 0).
      const tiny = tensor(Float32Array.from({ length: 256 }, () => Math.fround((next() - 0.5) * 2 ** -96)), [16, 16]);
      const q = await quantizePerTensor(tiny, 1e-5, 0, 'qint8', { backend: 'cpu' });
      // Per channel: one row of tiny values among rows of ordinary ones.
      const rows = Float32Array.from({ length: 256 }, (_, i) => Math.fround((next() - 0.5) * (i >= 32 && i < 48 ? 2 ** -90 : 1)));
      const mixed = tensor(rows, [16, 16]);
      const scales = Array.from({ length: 16 }, (_, r) => (r === 2 ? 2 ** -97 : 1 / 127));
      const qc = await quantizePerChannel(mixed, scales, new Array(16).fill(0), 0, 'qint8', { backend: 'cpu' });
      for (const [what, x, quantized] of [['per tensor', tiny, q], ['per channel', mixed, qc]] as const) {
        const gpu = await errorStats(x, quantized, { axis: 0 }, { backend: 'webgpu' });
        const cpu = await errorStats(x, quantized, { axis: 0 }, { backend: 'cpu' });
        if (gpu.backend !== 'cpu') throw new Error(`${what}: the statistics came from ${gpu.backend}, expected the CPU's`);
        for (const key of ['sqnrDb', 'mse', 'maxAbsError'] as const) {
          if (!Object.is(gpu.overall[key], cpu.overall[key])) throw new Error(`${what}: overall ${key} ${gpu.overall[key]} against ${cpu.overall[key]}`);
          if (!gpu.perChannel![key].every((v, i) => Object.is(v, cpu.perChannel![key][i]))) throw new Error(`${what}: per-channel ${key} differ`);
        }
        if (!(gpu.perChannel!.mse[2]! > 0)) throw new Error(`${what}: row 2's mse is ${gpu.perChannel!.mse[2]}`);
      }
      // Ordinary values stay on the GPU.
      const plain = tensor(randomData(256, RUN_SEED + 78), [16, 16]);
      const qp = await quantizePerTensor(plain, 0.02, 0, 'qint8', { backend: 'cpu' });
      if ((await errorStats(plain, qp, undefined, { backend: 'webgpu' })).backend !== 'webgpu') throw new Error('ordinary statistics left the GPU');
      await expectPoolEmpty();
    });
  },
  async 'hand-computed case: x = [1, 2, 3, 4], x̂ = [1, 2, 3, 5], exactly'() {
    await gpuScoped(async () => {
      const x = tensor([1, 2, 3, 4]);
      const want = { mse: 0.25, maxAbsError: 1, sqnrDb: 10 * Math.log10(30), cosine: 34 / Math.sqrt(30 * 39), count: 4 };
      const plain = await errorStats(x, tensor([1, 2, 3, 5]), undefined, gpu);
      const q = await errorStats(x, fromIntRepr([1, 2, 3, 5], [4], 'qint8', { scale: 1, zeroPoint: 0 }), { axis: 0 }, gpu);
      for (const [name, got, clip] of [['plain', plain.overall, NaN], ['QTensor', q.overall, 0]] as const) {
        for (const [field, value] of Object.entries({ ...want, clipFraction: clip })) {
          if (!Object.is(got[field as keyof ErrorStatsSummary], value)) throw new Error(`${name} ${field}: ${got[field as keyof ErrorStatsSummary]}, expected ${value}`);
        }
      }
      if (plain.backend !== 'webgpu' || plain.perChannel) throw new Error('plain: expected backend webgpu and no perChannel');
      if (Array.from(q.perChannel!.mse).join() !== '0,0,0,1' || Array.from(q.perChannel!.sqnrDb).slice(0, 3).some((v) => v !== Infinity)) {
        throw new Error(`per element: mse ${Array.from(q.perChannel!.mse)}, sqnr ${Array.from(q.perChannel!.sqnrDb)}`);
      }
    });
    await expectPoolEmpty();
  },
  async 'random per-tensor data, every dtype, odd sizes, clipping at both ends'() {
    await gpuScoped(async () => {
      for (const seed of [1, 2, RUN_SEED]) {
        for (const dtype of QDTYPES) {
          for (const n of [1, 3, 5, 64, 1023, 4097, 20011]) {
            const x = tensor(randomData(n, seed + n, 3));
            const { scales, zeroPoints } = channelParams(dtype, 1, seed);
            const q = await quantizePerTensor(x, scales[0]!, zeroPoints[0]!, dtype, cpu);
            await compare(x, q, undefined, `n=${n} ${dtype} seed ${seed}`);
          }
        }
      }
    });
    await expectPoolEmpty();
    return `run seed ${RUN_SEED}`;
  },
  async 'every axis of a rank-4 tensor, per-channel QTensors on another axis, every dtype'() {
    await gpuScoped(async () => {
      const shape = [3, 5, 7, 6];
      const x = tensor(randomData(3 * 5 * 7 * 6, RUN_SEED + 4, 2), shape);
      for (const dtype of QDTYPES) {
        for (const quantAxis of [0, 3]) {
          const { scales, zeroPoints } = channelParams(dtype, shape[quantAxis]!, RUN_SEED + quantAxis);
          const q = await quantizePerChannel(x, scales, zeroPoints, quantAxis, dtype, cpu);
          for (const axis of [0, 1, 2, 3, -1, -4]) await compare(x, q, { axis }, `${dtype} quantized on ${quantAxis}, stats axis ${axis}`);
        }
      }
    });
    await expectPoolEmpty();
    return `run seed ${RUN_SEED}`;
  },
  async 'vec4 kernel (sizes and runs a multiple of 4): every dtype and layout, clipping, infinities, forced chunks'() {
    // [8, 12, 16]: per tensor and every stats axis take error_stats_quads (runs, columns, group rows), with the
    // parameters per lane (per channel on the stats axis) or per quad (per tensor, another axis, groups), the
    // integers packed (int8 / uint8 / int4) or as int32; chunk caps of 64 and 20 elements cut tiles and fall back.
    await gpuScoped(async () => {
      const shape = [8, 12, 16];
      const data = randomData(8 * 12 * 16, RUN_SEED + 61, 3);
      data[5] = Infinity;
      data[1234] = -Infinity;
      const x = tensor(data, shape);
      const statsOptions = [undefined, { axis: 0 }, { axis: 1 }, { axis: 2 }, { axis: 1, groupSize: 4 }, { axis: 2, groupSize: 8 }];
      for (const dtype of QDTYPES) {
        const quantized: [string, QTensor][] = [];
        const t = channelParams(dtype, 1, RUN_SEED + 62);
        quantized.push(['per tensor', await quantizePerTensor(x, t.scales[0]!, t.zeroPoints[0]!, dtype, cpu)]);
        for (const quantAxis of [0, 2]) {
          const c = channelParams(dtype, shape[quantAxis]!, RUN_SEED + 63 + quantAxis);
          quantized.push([`per channel ${quantAxis}`, await quantizePerChannel(x, c.scales, c.zeroPoints, quantAxis, dtype, cpu)]);
        }
        for (const [name, q] of quantized) {
          for (const opts of statsOptions) {
            for (const options of [{}, { maxChunkElements: 64 }, { maxChunkElements: 20 }]) {
              await compare(x, q, opts, `${dtype} ${name}, stats ${JSON.stringify(opts)}, ${JSON.stringify(options)}`, options);
            }
          }
        }
      }
      // The clipping test at its edges: ties at qmax + 0.5 and qmin - 0.5 (exact with a power-of-two scale),
      // subnormals, infinities (huge finite values would underflow the other squares after the prescale).
      const edges = tensor([31.875, 31.625, 31.75, -32.125, -32.375, -32.5, 1e-45, -1e-45, Infinity, -Infinity, 0, -0, 31.9, -32.2, 2.5, 0.125]);
      for (const [dtype, zeroPoint] of [['qint8', 0], ['quint8', 128], ['qint8', -3]] as const) {
        const q = await quantizePerTensor(edges, 0.25, zeroPoint, dtype, cpu);
        // Overall only: per element, a subnormal's own tiny error is flushed to 0 where the GPU flushes subnormals.
        await compare(edges, q, undefined, `edges ${dtype} zp ${zeroPoint}`);
      }
    });
    await expectPoolEmpty();
    return `run seed ${RUN_SEED}`;
  },
  async 'a plain Tensor as quantized (no grid: clipFraction NaN), with infinities'() {
    await gpuScoped(async () => {
      const xs = tensor(randomData(3000, RUN_SEED + 5, 10), [3, 1000]);
      const q = await quantizePerTensor(xs, 0.05, 0, 'qint8', gpu);
      const approx = await dequantize(q, gpu);
      await compare(xs, approx, { axis: 1 }, 'dequantized tensor, axis 1');
      await compare(xs, approx, { axis: 0 }, 'dequantized tensor, axis 0');
      xs.data[7] = Infinity;
      approx.data[2500] = -Infinity;
      const s = await errorStats(xs, approx, { axis: 0 }, gpu);
      await compare(xs, approx, { axis: 0 }, 'with infinities');
      if (s.perChannel!.mse[0] !== Infinity || !Number.isNaN(s.perChannel!.sqnrDb[2]!) || !Number.isFinite(s.perChannel!.mse[1]!)) {
        throw new Error(`infinities: per-channel mse ${Array.from(s.perChannel!.mse)}, sqnr ${Array.from(s.perChannel!.sqnrDb)}`);
      }
    });
    await expectPoolEmpty();
  },
  async 'groups: every axis of a rank-3 tensor, ragged last group, group size 1 and >= the axis'() {
    await gpuScoped(async () => {
      const shape = [4, 9, 6];
      const x = tensor(randomData(4 * 9 * 6, RUN_SEED + 6, 2), shape);
      const q = await quantizePerTensor(x, 0.02, 3, 'qint8', cpu);
      for (const axis of [0, 1, 2]) {
        for (const groupSize of [1, 2, 4, 5, 9, 100]) await compare(x, q, { axis, groupSize }, `axis ${axis} groupSize ${groupSize}`);
      }
      // Per-group QTensors (ONNX block layout): stored integers with 2 groups of 4 and one of 1 along axis 1,
      // and 4-bit ones quantized on the GPU.
      const w = tensor(randomData(3 * 9, RUN_SEED + 7), [3, 9]);
      const scales = Array.from({ length: 9 }, (_, p) => Math.fround(0.01 * (p + 1)));
      const zeroPoints = Array.from({ length: 9 }, (_, p) => p - 4);
      const ints = Array.from({ length: 27 }, (_, i) => ((i * 37) % 255) - 127);
      const grouped = fromIntRepr(ints, [3, 9], 'qint8', { scales, zeroPoints, axis: 1, groupSize: 4 });
      await compare(w, grouped, { axis: 1, groupSize: 4 }, 'per-group QTensor');
      await compare(w, grouped, { axis: 0 }, 'per-group QTensor, stats per row');
      // Chunks of 5 elements upload a window of the parameter table (param_base > 0).
      await compare(w, grouped, { axis: 1, groupSize: 2 }, 'per-group QTensor, chunks of 5', { maxChunkElements: 5 });
      for (const dtype of ['qint4', 'quint4'] as QDType[]) {
        const groupScales = Array.from({ length: 3 * 3 }, (_, p) => Math.fround(0.1 + 0.05 * p));
        const q4 = await quantizePerGroup(w, groupScales, new Array(9).fill(dtype === 'qint4' ? 0 : 8), 1, 4, dtype, gpu);
        await compare(w, q4, { axis: 1, groupSize: 4 }, `${dtype} per group`);
        await compare(w, q4, { axis: 0, groupSize: 2 }, `${dtype} per group, stats groups on the other axis`, { maxChunkElements: 4 });
      }
    });
    await expectPoolEmpty();
    return `run seed ${RUN_SEED}`;
  },
  async 'deterministic: two runs give identical bits'() {
    await gpuScoped(async () => {
      const x = tensor(randomData(200_003, RUN_SEED + 8), [200_003]);
      const q = await quantizePerTensor(x, 0.03, 0, 'qint8', gpu);
      const w = tensor(x.data.subarray(0, 200_000), [400, 500]);
      const qw = await quantizePerChannel(w, new Array(500).fill(0.02), new Array(500).fill(1), 1, 'qint8', gpu);
      for (const [a, b, opts] of [[x, q, undefined], [w, qw, { axis: 1 }], [w, qw, { axis: 0, groupSize: 7 }]] as const) {
        const first = await errorStats(a, b, opts, gpu);
        const second = await errorStats(a, b, opts, gpu);
        const flat = (s: ErrorStats) => [Object.values(s.overall), ...[s.perChannel, s.perGroup].flatMap((p) => (p ? [p.mse, p.sqnrDb, p.cosine, p.maxAbsError] : []))]
          .flatMap((v) => Array.from(v as ArrayLike<number>));
        const [f, g] = [flat(first), flat(second)];
        const differ = f.findIndex((v, i) => !Object.is(v, g[i]));
        if (differ >= 0 || f.length !== g.length) throw new Error(`run 2 differs at ${differ}: ${f[differ]} vs ${g[differ]}`);
      }
    });
    await expectPoolEmpty();
  },
  async 'forced small chunks and 2-D dispatch folds give results within tolerance'() {
    await gpuScoped(async () => {
      const x = tensor(randomData(7 * 13 * 11, RUN_SEED + 9, 4), [7, 13, 11]);
      const q = await quantizePerChannel(x, channelParams('quint8', 13, 3).scales, channelParams('quint8', 13, 3).zeroPoints, 1, 'quint8', cpu);
      for (const maxChunkElements of [4, 13, 100, 1000]) {
        for (const opts of [undefined, { axis: 0 }, { axis: 1 }, { axis: -1 }, { axis: 1, groupSize: 3 }, { axis: 2, groupSize: 4 }]) {
          await compare(x, q, opts, `chunk ${maxChunkElements} ${JSON.stringify(opts)}`, { maxChunkElements });
        }
      }
      for (const maxWorkgroupsPerDimension of [1, 2]) await compare(x, q, { axis: 2 }, `fold ${maxWorkgroupsPerDimension}`, { maxWorkgroupsPerDimension });
    });
    await expectPoolEmpty();
    return `run seed ${RUN_SEED}`;
  },
  async 'compensated sums: one large and 255 tiny squares per invocation stay accurate'() {
    await gpuScoped(async () => {
      // 1 + 255 * 2^-24 rounds to 1 in each step of a plain float32 sum (a relative loss of 1.5e-5).
      const data = new Float32Array(64 * 256).fill(2 ** -12);
      data.fill(1, 0, 64);
      const x = tensor(data);
      await compare(x, tensor(new Float32Array(data.length)), undefined, 'adversarial sums');
    });
    await expectPoolEmpty();
  },
  async 'about a million elements: outer and inner axis, per tensor'() {
    const worst: Worst = { mse: 0, sqnrDb: 0, cosine: 0 };
    await gpuScoped(async () => {
      const shape = [1000, 1001];
      const x = tensor(randomData(1000 * 1001, RUN_SEED + 10), shape);
      const q = await quantizePerChannel(x, channelParams('qint8', 1000, 1).scales, channelParams('qint8', 1000, 1).zeroPoints, 0, 'qint8', gpu);
      await compare(x, q, undefined, 'per tensor', {}, worst);
      await compare(x, q, { axis: 0 }, 'axis 0', {}, worst);
      await compare(x, q, { axis: 1, groupSize: 32 }, 'axis 1, groups of 32', {}, worst);
    });
    await expectPoolEmpty();
    return `run seed ${RUN_SEED + 10}; worst: mse relative ${worst.mse.toExponential(2)}, sqnr ${worst.sqnrDb.toExponential(2)} dB, `
      + `cosine ${worst.cosine.toExponential(2)}`;
  },
  async 'NaN in original is rejected naming its index; validation happens before the GPU'() {
    const x = tensor([1, 2, NaN, 4]);
    await expectReject(() => errorStats(x, tensor([1, 2, 3, 4]), undefined, gpu), InvalidArgumentError, /original\.data\[2\] is NaN/);
    await expectReject(() => errorStats(tensor([1, 2]), tensor([1, 2, 3]), undefined, gpu), InvalidArgumentError, /quantized\.shape \[3\]/);
    await expectPoolEmpty();
  },
};
