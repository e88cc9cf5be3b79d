// Compression's GPU path for min/max weights: the weight is uploaded once, then reduced, calibrated (scales and
// zero points computed on the GPU) and quantized with its error statistics in one submit. Every result must be the CPU path's bytes (integers, scales, zero points),
// the statistics must be those of the separate errorStats call on the GPU bit for bit, the weight must cross
// to the device once in one submit, and the pool must be empty afterwards.
import onnxProto from 'onnx-proto';
import {
  type QDType, type QTensor, type WeightDecision, compressOnnx, errorStats, getDefaultManager, quantizeWeight, quantizeWithFloor, tensor,
} from './imports.js';
import { buildMlp } from '../../shared/mlp-onnx.js';
import { type BrowserTest, RUN_SEED, countQueue, expectExact, expectPoolEmpty, gpuScoped, randomData, rng } from './support.js';

type Dtype = WeightDecision['dtype'];

function decision(dtype: Dtype, granularity: 'tensor' | 'channel' | 'group', symmetric: boolean, range: WeightDecision['range'],
  axis?: number, groupSize?: number, outputAxis?: number): WeightDecision {
  return {
    name: 'w', action: 'quantize', reason: 'test', dtype, granularity, axis, groupSize, symmetric, method: 'minmax',
    outputAxis, range, minSqnrDb: -Infinity, maxRelError: Infinity,
  };
}


/** The labels of the pipelines `body` asks the default manager's cache for, in order. */
async function pipelinesUsed<T>(body: () => Promise<T>): Promise<{ result: T; labels: string[] }> {
  const cache = (await getDefaultManager()).pipelines as unknown as { get(spec: { label: string }): GPUComputePipeline };
  const get = cache.get;
  const labels: string[] = [];
  cache.get = function (this: unknown, spec: { label: string }) {
    labels.push(spec.label);
    return get.call(this, spec);
  };
  try {
    return { result: await body(), labels };
  } finally {
    Reflect.deleteProperty(cache, 'get');
  }
}

function expectSameWeight(gpu: Awaited<ReturnType<typeof quantizeWeight>>, cpu: Awaited<ReturnType<typeof quantizeWeight>>, what: string): QTensor | undefined {
  if (gpu.ok !== cpu.ok) throw new Error(`${what}: ok ${gpu.ok} on the GPU, ${cpu.ok} on the CPU (${'reason' in gpu ? gpu.reason : ''}${'reason' in cpu ? cpu.reason : ''})`);
  if (!gpu.ok || !cpu.ok) {
    if (!gpu.ok && !cpu.ok && gpu.reason !== cpu.reason) throw new Error(`${what}: reason "${gpu.reason}" on the GPU, "${cpu.reason}" on the CPU`);
    return undefined;
  }
  expectExact(gpu.scales, cpu.scales, `${what} scales`);
  expectExact(gpu.zeroPoints, cpu.zeroPoints, `${what} zero points`);
  expectExact(gpu.q.packedData(), cpu.q.packedData(), `${what} packed integers`);
  if (gpu.q.backend !== 'webgpu') throw new Error(`${what}: ran on ${gpu.q.backend}, not the GPU`);
  return gpu.q;
}

/** The statistics must be those of the separate GPU call on the same integers (and chunking knobs), bit for bit. */
async function expectSameStats(x: Float32Array, shape: number[], q: QTensor, axis: number | undefined,
  chained: { overall: object; perChannel?: object }, what: string, knobs: object = {}): Promise<void> {
  const separate = await errorStats(tensor(x, shape), q, axis === undefined ? {} : { axis }, { backend: 'webgpu', ...knobs });
  const a = JSON.stringify({ overall: chained.overall, perChannel: chained.perChannel });
  const b = JSON.stringify({ overall: separate.overall, perChannel: separate.perChannel });
  if (a !== b) throw new Error(`${what}: statistics differ from the separate call:\n${a.slice(0, 400)}\n${b.slice(0, 400)}`);
}

const kDtypes: Dtype[] = ['qint8', 'quint8', 'qint4', 'quint4'];

export const tests: Record<string, BrowserTest> = {
  async 'weights whose parameters the host calibrated (mse, percentile), 16,384 groups or more: the table built on the device in the same submit, the CPU path\'s bytes and the separate call\'s statistics'() {
    const manager = await getDefaultManager();
    const deviceTables = manager.deviceTables; // off on a software adapter: on here, to run the path everywhere
    manager.deviceTables = true;
    const next = rng(RUN_SEED + 75);
    await gpuScoped(async () => {
      for (const [dtype, method, shape] of [['qint4', 'mse', [512, 1024]], ['quint4', 'percentile', [256, 2080]]] as const) {
        const x = randomData(shape[0] * shape[1], Math.floor(next() * 1e9), 1 + next(), 0.05);
        const d: WeightDecision = { ...decision(dtype, 'group', dtype === 'qint4', 'torch', 1, 32, 0), method };
        const what = `${dtype} ${method} groups of 32 [${shape}]`;
        const cpu = await quantizeWeight(tensor(x, [...shape]), d, {}, { backend: 'cpu' });
        const { result: gpu, labels } = await pipelinesUsed(() => quantizeWeight(tensor(x, [...shape]), d, {}, { backend: 'webgpu' }));
        const q = expectSameWeight(gpu, cpu, what);
        if (!q || !gpu.ok) throw new Error(`${what}: refused (${'reason' in gpu ? gpu.reason : ''})`);
        await expectSameStats(x, [...shape], q, 0, gpu.stats, what);
        if (!labels.includes('paramTable|quantRows')) throw new Error(`${what}: no table built on the device: ${labels.join(', ')}`);
      }
    }).finally(() => { manager.deviceTables = deviceTables; });
    await expectPoolEmpty();
    return `run seed ${RUN_SEED}`;
  },
  async 'compressOnnx on the GPU, more same-sized weights than are in flight (their float32 arrays reused): the CPU path\'s model bytes'() {
    await gpuScoped(async () => {
      // 14 weights of 64 x 64 (the first layer kept float): weights in flight hand their converted arrays on.
      const { model } = buildMlp(onnxProto.onnx, Array.from({ length: 15 }, () => 64), RUN_SEED);
      for (const scheme of [{ dtype: 'qint8' }, { dtype: 'qint4', granularity: 'group', groupSize: 16 }] as const) {
        const gpu = await compressOnnx(model, scheme, { backend: 'webgpu' });
        const cpu = await compressOnnx(model, scheme, { backend: 'cpu' });
        const onGpu = gpu.report.tensors.filter((t) => t.action === 'quantize' && t.backend === 'webgpu').length;
        if (onGpu < 13) throw new Error(`${scheme.dtype}: ${onGpu} weights quantized on the GPU, expected at least 13`);
        expectExact(gpu.model, cpu.model, `${scheme.dtype}: model bytes, GPU against CPU`);
      }
      await expectPoolEmpty();
    });
  },
  async 'min/max weights on the GPU: the CPU path\'s bytes, the separate call\'s statistics, one upload and one submit, pool empty'() {
    const { device } = await getDefaultManager();
    const next = rng(RUN_SEED + 71);
    let chainedRuns = 0;
    await gpuScoped(async () => {
      for (const dtype of kDtypes) {
        for (const symmetric of [true, false]) {
          for (const [rows, cols] of [[64, 96], [32, 128], [3, 37], [1, 1]] as const) {
            const shape = [rows, cols];
            const size = rows * cols;
            const x = randomData(size, Math.floor(next() * 1e9), 0.5 + 3 * next(), 0.05);
            // 'narrow' (qmin + 1) is the policy's rule for signed types only.
            const ranges: WeightDecision['range'][] = symmetric ? ['torch', ...(dtype.startsWith('qu') ? [] : ['narrow' as const]), 'extreme'] : ['torch'];
            for (const range of ranges) {
              const decisions = [
                decision(dtype, 'tensor', symmetric, range),
                decision(dtype, 'channel', symmetric, range, 0, undefined, 0),
                decision(dtype, 'channel', symmetric, range, 1, undefined, 1),
                decision(dtype, 'group', symmetric, range, 1, 16, 0),
                decision(dtype, 'group', symmetric, range, 1, 32, undefined),
              ];
              for (const d of decisions) {
                const what = `${dtype} ${symmetric ? 'symmetric' : 'affine'} ${range} ${d.granularity} axis ${d.axis} group ${d.groupSize} [${shape}]`;
                const cpu = await quantizeWeight(tensor(x, shape), d, {}, { backend: 'cpu' });
                const { result: { result: gpu, uploads, submits }, labels } = await pipelinesUsed(() => countQueue(device, size * 4,
                  () => quantizeWeight(tensor(x, shape), d, {}, { backend: 'webgpu' })));
                const q = expectSameWeight(gpu, cpu, what);
                if (!q || !gpu.ok) continue;
                const statsAxis = d.outputAxis ?? (d.granularity === 'channel' ? d.axis : undefined);
                await expectSameStats(x, shape, q, statsAxis, gpu.stats, what);
                // Runs of a multiple of 4 elements: the chained path, one upload of the weight and one submit (the
                // scales and zero points computed on the GPU: a bit that differs from the host's takes more submits).
                if (size % 4 === 0 && size >= 64) {
                  if (uploads !== 1 || submits !== 1) throw new Error(`${what}: ${uploads} uploads of the weight and ${submits} submits, expected 1 and 1`);
                  // 8-bit: the statistics kernel quantizes, no quantize kernel runs; 4-bit: the quantize kernel, then the statistics.
                  const quantizing = labels.filter((l) => l.includes('|quads|quantize')).length;
                  const quantizeKernels = labels.filter((l) => l.startsWith('quantize|')).length;
                  const expected = dtype.endsWith('8') ? [1, 0] : [0, 1];
                  if (quantizing !== expected[0] || quantizeKernels !== expected[1]) {
                    throw new Error(`${what}: pipelines ${labels.join(', ')}; expected ${expected[0]} quantizing statistics and ${expected[1]} quantize kernels`);
                  }
                  chainedRuns++;
                }
              }
            }
          }
        }
      }
    });
    await expectPoolEmpty();
    return `${chainedRuns} chained weights`;
  },

  async 'min/max weights on the GPU with forced small chunks and 2-D folds: the CPU path\'s bytes, pool empty'() {
    const next = rng(RUN_SEED + 72);
    await gpuScoped(async () => {
      for (const dtype of kDtypes) {
        const shape = [24, 200];
        const x = randomData(24 * 200, Math.floor(next() * 1e9), 2, 0.05);
        for (const d of [decision(dtype, 'channel', true, 'torch', 0, undefined, 0), decision(dtype, 'group', false, 'torch', 1, 32, 0)]) {
          for (const knobs of [{ maxChunkElements: 512 }, { maxChunkElements: 1024, maxWorkgroupsPerDimension: 1 }]) {
            const what = `${dtype} ${d.granularity} ${JSON.stringify(knobs)}`;
            const cpu = await quantizeWeight(tensor(x, shape), d, {}, { backend: 'cpu' });
            const gpu = await quantizeWeight(tensor(x, shape), d, {}, { backend: 'webgpu', ...knobs });
            const q = expectSameWeight(gpu, cpu, what);
            if (q && gpu.ok) await expectSameStats(x, shape, q, d.outputAxis, gpu.stats, what, knobs);
          }
        }
      }
    });
    await expectPoolEmpty();
  },

  async '8-bit weights: the statistics kernel quantizes (per tensor, per channel on either axis, statistics on another axis, per group): the CPU path\'s bytes, the separate call\'s statistics, clipping counted, pool empty'() {
    const next = rng(RUN_SEED + 73);
    const data: [string, Float32Array, number[]][] = [];
    for (const shape of [[64, 96], [96, 64], [8, 4], [40, 128]]) {
      data.push([`random [${shape}]`, randomData(shape[0]! * shape[1]!, Math.floor(next() * 1e9), 0.5 + 3 * next(), 0.05), shape]);
    }
    data.push(['zeros', new Float32Array(256), [16, 16]]);
    data.push(['all equal', new Float32Array(128).fill(0.3), [8, 16]]);
    // Row 3 and column 5 each hold one value: a channel of equal values along either axis.
    const equal = randomData(24 * 64, Math.floor(next() * 1e9), 1.5);
    for (let c = 0; c < 64; c++) equal[3 * 64 + c] = 0.7;
    for (let r = 0; r < 24; r++) equal[r * 64 + 5] = -1.25;
    data.push(['equal channels', equal, [24, 64]]);
    let compared = 0;
    let clippedCases = 0;
    await gpuScoped(async () => {
      for (const [name, x, shape] of data) {
        for (const dtype of ['qint8', 'quint8'] as const) {
          for (const symmetric of [true, false]) {
            for (const range of symmetric ? ['torch', 'extreme'] as const : ['torch'] as const) {
              const decisions = [
                decision(dtype, 'tensor', symmetric, range),
                decision(dtype, 'channel', symmetric, range, 0, undefined, 0),
                decision(dtype, 'channel', symmetric, range, 1, undefined, 1),
                decision(dtype, 'channel', symmetric, range, 0, undefined, 1),
                decision(dtype, 'group', symmetric, range, 1, 16, 0),
              ];
              // Scales shrunk four times: most elements clip.
              for (const options of [{}, { roundScale: (scale: number) => scale / 4 }]) {
                for (const d of decisions) {
                  const what = `${name} ${dtype} ${symmetric ? 'symmetric' : 'affine'} ${range} ${d.granularity} axis ${d.axis} stats axis ${d.outputAxis}`
                    + `${'roundScale' in options ? ' scales / 4' : ''}`;
                  const cpu = await quantizeWeight(tensor(x, shape), d, options, { backend: 'cpu' });
                  const { result: gpu, labels } = await pipelinesUsed(() => quantizeWeight(tensor(x, shape), d, options, { backend: 'webgpu' }));
                  const q = expectSameWeight(gpu, cpu, what);
                  if (!q || !gpu.ok) throw new Error(`${what}: not quantized`);
                  if (!labels.some((l) => l.includes('|quads|quantize')) || labels.some((l) => l.startsWith('quantize|'))) {
                    throw new Error(`${what}: pipelines ${labels.join(', ')}; expected the quantizing statistics kernel and no quantize kernel`);
                  }
                  await expectSameStats(x, shape, q, d.outputAxis ?? (d.granularity === 'channel' ? d.axis : undefined), gpu.stats, what);
                  if (gpu.stats.overall.clipFraction > 0) clippedCases++;
                  compared++;
                }
              }
            }
          }
        }
      }
    });
    await expectPoolEmpty();
    // Every shrunk-scale case clips, and 'extreme' symmetric qint8 clips the largest positive values.
    if (clippedCases < compared / 2) throw new Error(`only ${clippedCases} of ${compared} cases clipped`);
    return `${compared} compared, ${clippedCases} with clipped elements`;
  },

  async 'min/max weights on the GPU: zeros, one element, huge and tiny values, NaN and ±Infinity refused as on the CPU'() {
    const edge: [string, Float32Array, number[]][] = [
      ['zeros', new Float32Array(256), [16, 16]],
      ['one element', Float32Array.of(-0.75), [1]],
      ['one element zero', Float32Array.of(0), [1, 1]],
      ['huge', Float32Array.from({ length: 64 }, (_, i) => (i % 2 ? 3e38 : -2.9e38) * ((i % 7) / 7)), [8, 8]],
      ['tiny', Float32Array.from({ length: 64 }, (_, i) => (i - 32) * 1e-40), [8, 8]],
      ['NaN', Float32Array.from({ length: 64 }, (_, i) => (i === 37 ? NaN : i / 10)), [8, 8]],
      ['+Infinity', Float32Array.from({ length: 64 }, (_, i) => (i === 5 ? Infinity : i / 10)), [8, 8]],
      ['-Infinity', Float32Array.from({ length: 64 }, (_, i) => (i === 63 ? -Infinity : i / 10)), [8, 8]],
    ];
    let compared = 0;
    let refused = 0;
    await gpuScoped(async () => {
      for (const [name, data, shape] of edge) {
        for (const dtype of ['qint8', 'quint4'] as QDType[]) {
          for (const symmetric of [true, false]) {
            const last = shape.length - 1;
            const decisions = [
              decision(dtype as Dtype, 'tensor', symmetric, 'torch'),
              decision(dtype as Dtype, 'channel', symmetric, symmetric && dtype === 'qint8' ? 'narrow' : 'torch', 0, undefined, 0),
              decision(dtype as Dtype, 'group', symmetric, symmetric ? 'extreme' : 'torch', last, 4, undefined),
            ];
            for (const d of decisions) {
              const what = `${name} ${dtype} ${symmetric ? 'symmetric' : 'affine'} ${d.granularity}`;
              const cpu = await quantizeWeight(tensor(data, shape), d, {}, { backend: 'cpu' });
              const gpu = await quantizeWeight(tensor(data, shape), d, {}, { backend: 'webgpu' });
              const q = expectSameWeight(gpu, cpu, what);
              if (name.includes('NaN') || name.includes('Infinity')) {
                if (gpu.ok) throw new Error(`${what}: quantized a non-finite weight`);
                refused++;
              }
              if (q && gpu.ok) {
                const statsAxis = d.outputAxis ?? (d.granularity === 'channel' ? d.axis : undefined);
                await expectSameStats(data, shape, q, statsAxis, gpu.stats, what);
                compared++;
              }
            }
          }
        }
      }
    });
    await expectPoolEmpty();
    if (refused !== 36) throw new Error(`${refused} refusals, expected 36`);
    return `${compared} compared, ${refused} refused`;
  },

  async 'a weight of 4 MiB or more goes up through pooled staging buffers, a piece at a time, not writeBuffer: the CPU path\'s bytes and the separate call\'s statistics, nothing created the second time, pool empty'() {
    const manager = await getDefaultManager();
    const next = rng(RUN_SEED + 76);
    const shape = [4096, 520]; // 8.1 MiB of float32: two pieces and a short third
    const size = shape[0]! * shape[1]!;
    const x = randomData(size, Math.floor(next() * 1e9), 1 + next(), 0.05);
    const staged = manager.stagedUploads; // off in a browser by default: on here, to run the path everywhere
    manager.stagedUploads = true;
    await gpuScoped(async () => {
      for (const d of [decision('qint8', 'channel', true, 'narrow', 0, undefined, 0), decision('qint4', 'group', false, 'torch', 1, 32, 0)]) {
        const what = `${d.dtype} ${d.granularity} [${shape}]`;
        const cpu = await quantizeWeight(tensor(x, shape), d, {}, { backend: 'cpu' });
        let created = -1;
        for (const round of [1, 2]) {
          const before = manager.pool.stats().created;
          const { result: gpu, uploads } = await countQueue(manager.device, size * 4, () => quantizeWeight(tensor(x, shape), d, {}, { backend: 'webgpu' }));
          const q = expectSameWeight(gpu, cpu, `${what} round ${round}`);
          if (!q || !gpu.ok) throw new Error(`${what}: not quantized`);
          await expectSameStats(x, shape, q, d.outputAxis, gpu.stats, what);
          if (uploads !== 0) throw new Error(`${what}: ${uploads} writeBuffer calls of the weight, expected none (a staged upload)`);
          if (round === 2) created = manager.pool.stats().created - before;
        }
        if (created !== 0) throw new Error(`${what}: ${created} buffers created by the second call, expected none (the staging buffers reused)`);
      }
      // Three weights at once take turns: the two staging buffers serve them all, none is made.
      const device = manager.device as GPUDevice & Record<string, unknown>;
      const create = device.createBuffer;
      let stagingMade = 0;
      device.createBuffer = function (this: GPUDevice, descriptor: GPUBufferDescriptor) {
        if (descriptor.usage & GPUBufferUsage.MAP_WRITE) stagingMade++;
        return create.call(this, descriptor);
      } as GPUDevice['createBuffer'];
      try {
        const d = decision('qint8', 'channel', true, 'narrow', 0, undefined, 0);
        const cpu = await quantizeWeight(tensor(x, shape), d, {}, { backend: 'cpu' });
        const all = await Promise.all([0, 1, 2].map(() => quantizeWeight(tensor(x, shape), d, {}, { backend: 'webgpu' })));
        all.forEach((gpu, i) => expectSameWeight(gpu, cpu, `concurrent upload ${i}`));
      } finally {
        Reflect.deleteProperty(device, 'createBuffer');
      }
      if (stagingMade !== 0) throw new Error(`${stagingMade} staging buffers made for three uploads at once, expected none (they take turns)`);
    }).finally(() => { manager.stagedUploads = staged; });
    await expectPoolEmpty();
  },

  async 'the quality floor on the GPU takes finiteness and max |x| from the min/max reduction: the CPU path\'s outcome, NaN and ±Infinity kept with its reason, pool empty'() {
    const { device } = await getDefaultManager();
    const next = rng(RUN_SEED + 75);
    let nonFinite = 0;
    await gpuScoped(async () => {
      for (const [rows, cols] of [[64, 96], [32, 128], [8, 40]] as const) {
        const shape = [rows, cols];
        const size = rows * cols;
        const x = randomData(size, Math.floor(next() * 1e9), 0.5 + 3 * next(), 0.05);
        let largest = 0;
        for (const v of x) largest = Math.max(largest, Math.abs(v));
        for (const d of [decision('qint8', 'channel', true, 'narrow', 1, undefined, 1), decision('qint4', 'group', true, 'torch', 1, 32, 0),
          decision('quint8', 'tensor', false, 'torch')]) {
          const what = `${d.dtype} ${d.granularity} [${shape}]`;
          // A floor every scheme meets: the same weight as on the CPU.
          const cpu = await quantizeWithFloor(tensor(x, shape), d, {}, { backend: 'cpu' });
          const gpu = await quantizeWithFloor(tensor(x, shape), d, {}, { backend: 'webgpu' });
          if (gpu.kind !== 'quantized' || cpu.kind !== 'quantized') throw new Error(`${what}: ${gpu.kind} on the GPU, ${cpu.kind} on the CPU`);
          expectSameWeight(gpu.result, cpu.result, what);
          // A floor no scheme meets by max |error| / max |x|: each step's ratio has the true max |x| below it.
          const strict = { ...d, maxRelError: 1e-12 };
          const steps = (await quantizeWithFloor(tensor(x, shape), strict, {}, { backend: 'webgpu' })).steps;
          const first = await quantizeWeight(tensor(x, shape), strict, {}, { backend: 'webgpu' });
          if (!first.ok) throw new Error(`${what}: ${first.reason}`);
          const expected = first.stats.overall.maxAbsError / largest;
          if (!steps.length || steps[0]!.relError !== expected) throw new Error(`${what}: first step's relative error ${steps[0]?.relError}, expected ${expected}`);
          // NaN or ±Infinity anywhere: kept float with the CPU path's reason, after the device saw the weight.
          for (const bad of [NaN, Infinity, -Infinity]) {
            const y = x.slice();
            y[Math.floor(next() * size)] = bad;
            const kept = await quantizeWithFloor(tensor(y, shape), d, {}, { backend: 'cpu' });
            const { result: onGpu, uploads } = await countQueue(device, size * 4, () => quantizeWithFloor(tensor(y, shape), d, {}, { backend: 'webgpu' }));
            if (onGpu.kind !== 'keep' || kept.kind !== 'keep' || onGpu.reason !== kept.reason || !onGpu.nonFinite || !kept.nonFinite) {
              throw new Error(`${what} with ${bad}: ${JSON.stringify(onGpu)} on the GPU, ${JSON.stringify(kept)} on the CPU`);
            }
            if (size % 4 === 0 && uploads < 1) throw new Error(`${what} with ${bad}: the weight was not uploaded (the host scanned it first)`);
            nonFinite++;
          }
        }
      }
    });
    await expectPoolEmpty();
    return `${nonFinite} non-finite weights kept`;
  },
};
