// chooseQParams on the GPU against the CPU path: 'minmax' for every granularity and dtype, and the 'mse'
// search bit for bit (scales, zero points, chosen clip ratios and the MSEs themselves) on heavy-tailed data,
// including blocks cut by box boundaries under forced small chunks, 2-D dispatch folds, and two runs.
import {
  type CalibrationResult, type CalibrationSpec, type Granularity, InvalidArgumentError, type OpOptions, type QDType,
  chooseQParams, getDefaultManager, tensor,
} from './imports.js';
import { type BrowserTest, RUN_SEED, expectExact, expectPoolEmpty, expectReject, gpuScoped, heavyTailed, rng } from './support.js';

const gpu = { backend: 'webgpu' } as const;
const cpu = { backend: 'cpu' } as const;

/** The result as flat arrays, for exact comparison. */
function flatten(p: CalibrationResult): { scales: Float32Array; zeroPoints: Int32Array; ratios: Float32Array; mse: Float64Array; minmax: Float64Array } {
  const scales = 'scale' in p ? Float32Array.of(p.scale) : p.scales;
  const zeroPoints = 'scale' in p ? Int32Array.of(p.zeroPoint) : p.zeroPoints;
  return {
    scales, zeroPoints, ratios: p.search?.clipRatios ?? new Float32Array(0), mse: p.search?.mse ?? new Float64Array(0),
    minmax: p.search?.minmaxMse ?? new Float64Array(0),
  };
}

async function sameOnBothBackends(data: Float32Array, shape: number[], spec: CalibrationSpec, what: string, options: OpOptions = gpu): Promise<CalibrationResult> {
  const onGpu = await chooseQParams(tensor(data, shape), spec, options);
  const onCpu = await chooseQParams(tensor(data, shape), spec, cpu);
  if (onGpu.backend !== 'webgpu' || onCpu.backend !== 'cpu') throw new Error(`${what}: backends ${onGpu.backend} / ${onCpu.backend}`);
  const [g, c] = [flatten(onGpu), flatten(onCpu)];
  expectExact(g.scales, c.scales, `${what}: scales`);
  expectExact(g.zeroPoints, c.zeroPoints, `${what}: zero points`);
  expectExact(g.ratios, c.ratios, `${what}: clip ratios`);
  expectExact(g.mse, c.mse, `${what}: mse`);
  expectExact(g.minmax, c.minmax, `${what}: minmax mse`);
  for (const key of ['axis', 'groupSize'] as const) {
    if ((onGpu as unknown as Record<string, unknown>)[key] !== (onCpu as unknown as Record<string, unknown>)[key]) throw new Error(`${what}: ${key} differs`);
  }
  return onGpu;
}

const kShape = [6, 10, 7];
const kGranularities: Granularity[] = ['per_tensor', { axis: 0 }, { axis: 1 }, { axis: -1 }, { axis: 1, groupSize: 4 }, { axis: 2, groupSize: 3 }, { axis: 0, groupSize: 1 }];

/** Runs `divide_rn` of shaders/calibration/mse_divide.wgsl on the GPU over pairs (a[i], b[i]). */
async function divideOnGpu(a: Float32Array, b: Float32Array): Promise<Float32Array> {
  const source = await (await fetch('/shaders/calibration/mse_divide.wgsl')).text();
  const { device } = await getDefaultManager();
  const code = `${source}
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> q: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  if (id.x < arrayLength(&q)) { q[id.x] = divide_rn(a[id.x], b[id.x]); }
}`;
  const pipeline = device.createComputePipeline({ label: 'test.divide_rn', layout: 'auto', compute: { module: device.createShaderModule({ label: 'test.divide_rn', code }), entryPoint: 'main' } });
  const make = (data: Float32Array | null, usage: number, label: string): GPUBuffer => {
    const buffer = device.createBuffer({ label, size: a.byteLength, usage, mappedAtCreation: data !== null });
    if (data) { new Float32Array(buffer.getMappedRange()).set(data); buffer.unmap(); }
    return buffer;
  };
  const buffers = [make(a, GPUBufferUsage.STORAGE, 'test.a'), make(b, GPUBufferUsage.STORAGE, 'test.b'),
    make(null, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, 'test.q'), make(null, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'test.read')];
  const encoder = device.createCommandEncoder({ label: 'test.divide_rn' });
  const pass = encoder.beginComputePass({ label: 'test.divide_rn' });
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, device.createBindGroup({ label: 'test.divide_rn', layout: pipeline.getBindGroupLayout(0),
    entries: buffers.slice(0, 3).map((buffer, binding) => ({ binding, resource: { buffer } })) }));
  pass.dispatchWorkgroups(Math.ceil(a.length / 64));
  pass.end();
  encoder.copyBufferToBuffer(buffers[2]!, 0, buffers[3]!, 0, a.byteLength);
  device.queue.submit([encoder.finish()]);
  try {
    await buffers[3]!.mapAsync(GPUMapMode.READ);
    return new Float32Array(buffers[3]!.getMappedRange()).slice();
  } finally {
    for (const buffer of buffers) buffer.destroy();
  }
}

export const tests: Record<string, BrowserTest> = {
  async 'exact float32 division (shaders/calibration/mse_divide.wgsl) equals Math.fround(a / b), subnormals flushed'() {
    const next = rng(RUN_SEED + 5);
    const count = 65536;
    const a = new Float32Array(count);
    const b = new Float32Array(count);
    const divisors = [255, 127.5, 15, 7.5, 127, 63.5, 4294967296, 2147483648, 2 ** -23, 1];
    for (let i = 0; i < count; i++) {
      a[i] = (next() < 0.5 ? -1 : 1) * (1 + next()) * 2 ** Math.floor(next() * 250 - 140);
      b[i] = i % 3 === 0 ? divisors[i % divisors.length]! : (1 + next()) * 2 ** Math.floor(next() * 140 - 23);
      if (i % 7 === 0) a[i] = Math.fround(b[i]! * (Math.floor(next() * 4096) + 0.5)); // near-ties
      if (i % 11 === 0 || !Number.isFinite(a[i])) a[i] = 1; // the contract wants a finite dividend
    }
    const got = await gpuScoped(() => divideOnGpu(a, b));
    // The contract: the correctly rounded quotient, except that a subnormal dividend or quotient gives a signed zero.
    const expected = a.map((x, i) => {
      if (Math.abs(x) < 2 ** -126) return x < 0 || Object.is(x, -0) ? -0 : 0;
      const quotient = Math.fround(x / b[i]!);
      return Math.abs(quotient) < 2 ** -126 ? (quotient < 0 || Object.is(quotient, -0) ? -0 : 0) : quotient;
    });
    expectExact(got, expected, 'divide_rn');
    return `${count} pairs, run seed ${RUN_SEED}`;
  },

  async "'minmax': GPU = CPU for every granularity, dtype and scheme"() {
    const data = heavyTailed(kShape, 1, RUN_SEED + 11);
    await gpuScoped(async () => {
      for (const granularity of kGranularities) {
        for (const dtype of ['qint8', 'quint8', 'qint4', 'quint4', 'qint32'] as QDType[]) {
          for (const symmetric of [false, true]) {
            await sameOnBothBackends(data, kShape, { dtype, granularity, symmetric }, `${JSON.stringify(granularity)} ${dtype} symmetric ${symmetric}`);
          }
        }
      }
    });
    await expectPoolEmpty();
    return `run seed ${RUN_SEED}`;
  },

  async "'mse': GPU = CPU bit for bit on heavy-tailed weights, and never worse than min/max"() {
    const notes: string[] = [];
    await gpuScoped(async () => {
      const cases: [number[], Granularity, QDType, boolean][] = [
        [[16, 300], { axis: 0 }, 'qint8', true],
        [[16, 300], { axis: 1 }, 'quint8', false],
        [[8, 200], { axis: 1, groupSize: 32 }, 'qint4', true],
        [[8, 200], { axis: 1, groupSize: 32 }, 'quint4', false],
        [[2600], 'per_tensor', 'qint8', false],
      ];
      for (const [shape, granularity, dtype, symmetric] of cases) {
        const axis = granularity === 'per_tensor' ? 0 : (granularity.axis + shape.length) % shape.length;
        const data = heavyTailed(shape, axis, RUN_SEED + shape[0]!);
        const what = `[${shape}] ${JSON.stringify(granularity)} ${dtype} ${symmetric ? 'symmetric' : 'affine'}`;
        const p = await sameOnBothBackends(data, shape, { dtype, granularity, symmetric, method: 'mse' }, what);
        const { mse, minmax, ratios } = flatten(p);
        let sumMse = 0;
        let sumMinmax = 0;
        for (let w = 0; w < mse.length; w++) {
          if (!(mse[w]! <= minmax[w]!)) throw new Error(`${what}: output ${w} mse ${mse[w]} > minmax ${minmax[w]}`);
          sumMse += mse[w]!;
          sumMinmax += minmax[w]!;
        }
        const clipped = ratios.filter((r) => r < 1).length;
        notes.push(`${what}: mean MSE ${(sumMse / mse.length).toExponential(3)} vs min/max ${(sumMinmax / mse.length).toExponential(3)} `
          + `(-${(100 * (1 - sumMse / sumMinmax)).toFixed(1)}%), ${clipped}/${ratios.length} outputs clipped`);
      }
    });
    await expectPoolEmpty();
    return `run seed ${RUN_SEED}\n${notes.join('\n')}`;
  },

  async "'mse': forced small chunks (blocks cut by boxes), 2-D folds and a second run give the same bits"() {
    await gpuScoped(async () => {
      const cases: [number[], Granularity, number[]][] = [
        [[3000], 'per_tensor', [700, 1024, 333]],
        [[1100, 3], { axis: 1 }, [500, 64, 7]],
        [[3, 1100], { axis: 0 }, [600, 250]],
        [[3, 50, 40], { axis: 1, groupSize: 30 }, [2000, 200, 20]],
        [[5, 33], { axis: 1, groupSize: 8 }, [40, 17]],
      ];
      for (const [shape, granularity, chunks] of cases) {
        const data = heavyTailed(shape, granularity === 'per_tensor' ? 0 : granularity.axis, RUN_SEED + shape.length);
        const spec: CalibrationSpec = { dtype: 'qint8', granularity, symmetric: false, method: 'mse', mseSteps: 12 };
        const what = `[${shape}] ${JSON.stringify(granularity)}`;
        const reference = flatten(await sameOnBothBackends(data, shape, spec, what));
        for (const maxChunkElements of chunks) {
          await sameOnBothBackends(data, shape, spec, `${what} chunk ${maxChunkElements}`, { ...gpu, maxChunkElements });
        }
        await sameOnBothBackends(data, shape, spec, `${what} fold`, { ...gpu, maxWorkgroupsPerDimension: 2 });
        const again = flatten(await chooseQParams(tensor(data, shape), spec, gpu));
        expectExact(again.scales, reference.scales, `${what}: second run scales`);
        expectExact(again.mse, reference.mse, `${what}: second run mse`);
      }
    });
    await expectPoolEmpty();
    return `run seed ${RUN_SEED}`;
  },

  async "'mse' at the edges of float32: subnormal, tiny, huge and all-zero channels, GPU = CPU"() {
    await gpuScoped(async () => {
      const magnitudes = [1e-42, 1e-39, 1e-30, 1e-12, 1, 1e18, 0, 3e-3];
      const shape = [magnitudes.length, 257];
      const data = heavyTailed(shape, 0, RUN_SEED + 99).map((v, i) => v * magnitudes[Math.floor(i / 257)]! * 30);
      for (const [dtype, symmetric] of [['qint8', true], ['quint8', false], ['qint4', true], ['quint4', false], ['qint32', false]] as [QDType, boolean][]) {
        await sameOnBothBackends(data, shape, { dtype, granularity: { axis: 0 }, symmetric, method: 'mse', mseSteps: 30 }, `edges ${dtype}`);
      }
    });
    await expectPoolEmpty();
    return `run seed ${RUN_SEED}`;
  },

  async 'NaN and infinities are InvalidArgumentErrors; percentile selects on the CPU'() {
    await gpuScoped(async () => {
      const data = heavyTailed([4, 25], 0, RUN_SEED);
      data[61] = NaN;
      for (const method of ['minmax', 'mse', 'percentile'] as const) {
        await expectReject(() => chooseQParams(tensor(data, [4, 25]), { dtype: 'qint8', granularity: { axis: 0 }, method }, gpu),
          InvalidArgumentError, /^x\.data\[61\] is NaN/);
      }
      data[61] = -Infinity;
      await expectReject(() => chooseQParams(tensor(data, [4, 25]), { dtype: 'qint8', granularity: { axis: 0 }, method: 'mse' }, gpu),
        InvalidArgumentError, /^x holds -Infinity \(in channel 2 \(axis 0\)\)/);
      data[61] = 0.5;
      const p = await chooseQParams(tensor(data, [4, 25]), { dtype: 'qint8', granularity: { axis: 0 }, method: 'percentile', percentile: 99 }, gpu);
      if (p.backend !== 'cpu') throw new Error(`percentile ran on ${p.backend}; it selects on the CPU`);
    });
    await expectPoolEmpty();
  },
};
