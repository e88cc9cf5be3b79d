// Scales and zero points computed on the GPU (shaders/calibration/minmax_to_params.wgsl): the exact float32
// arithmetic it is built on (shaders/common/exact_float.wgsl, run here as is) must give the host's
// correctly rounded bits on random and hard bit patterns, and min/max weights whose ranges are the hard cases
// (subnormal ends, overflow to Infinity, scales below 2^-23, zero ranges, one-signed channels, ties at .5)
// must come out as the CPU path's bytes in ONE submit: the chain compares every scale and zero point with the
// host's before using it, and any difference sends the weight to the two-submit path, so a second submit
// means a bit differed (8-bit weights near the float32 limit excepted: see below).
import exactFloat from '../../../shaders/common/exact_float.wgsl?raw';
import { type WeightDecision, getDefaultManager, quantizeWeight, tensor } from './imports.js';
import { type BrowserTest, RUN_SEED, expectExact, expectPoolEmpty, gpuScoped, rng, runTestKernel } from './support.js';

type Dtype = WeightDecision['dtype'];

const kTestKernel = `
@group(0) @binding(0) var<storage, read> pairs: array<vec2<u32>>;
@group(0) @binding(1) var<storage, read_write> results: array<vec4<u32>>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= arrayLength(&pairs)) { return; }
  let p = pairs[i];
  let a = p.x & kMagnitudeBits;
  let b = p.y & kMagnitudeBits;
  results[i] = vec4<u32>(divide_bits(p.x, p.y), add_magnitudes_bits(a, b), round_half_even_magnitude(a), 0u);
}`;

const scratch = new DataView(new ArrayBuffer(4));
function bitsOf(value: number): number {
  scratch.setFloat32(0, value, true);
  return scratch.getUint32(0, true);
}
function floatOf(bits: number): number {
  scratch.setUint32(0, bits >>> 0, true);
  return scratch.getFloat32(0, true);
}
function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const fraction = x - floor;
  if (fraction !== 0.5) return Math.round(x);
  return floor % 2 === 0 ? floor : floor + 1;
}

/** Finite bit patterns: random, subnormal-heavy, near overflow, and ties of every kind. */
function operandPairs(next: () => number): [number, number][] {
  const pairs: [number, number][] = [];
  const randomBits = (exponentField: number) => ((next() < 0.5 ? 0x80000000 : 0) | (exponentField << 23) | Math.floor(next() * 0x800000)) >>> 0;
  for (let i = 0; i < 20000; i++) {
    const field = () => (next() < 0.3 ? Math.floor(next() * 4) : next() < 0.2 ? 250 + Math.floor(next() * 5) : 1 + Math.floor(next() * 254));
    let b = randomBits(field());
    if ((b & 0x7fffffff) === 0) b = 0x3f800000;
    pairs.push([randomBits(field()), b]);
  }
  // Subnormal quotients that are exact ties, and ties of the sum and of the rounding.
  for (let k = 1; k < 64; k++) {
    pairs.push([k, bitsOf(2)], [k, bitsOf(4)], [k * 3, bitsOf(8)], [bitsOf(k * 2 ** -126), bitsOf(2 ** 23)]);
    pairs.push([bitsOf(2 ** 24), bitsOf(k)], [bitsOf(k + 0.5), bitsOf(0.5)], [bitsOf(2 ** 23 - 0.5), bitsOf(2 ** -149 * k)]);
  }
  for (const [a, b] of [[3e38, 1e-5], [3.4e38, 0.5], [1e-45, 3e38], [1.1754942e-38, 1.1754944e-38], [-0.65625, 0.0625], [0, 7], [-0, 3],
    [3.4028235e38, 3.4028235e38], [1.5, 0], [2.5, 1], [8388607.5, 1], [2 ** 30, 1], [2 ** 31, 1]] as const) {
    pairs.push([bitsOf(a), bitsOf(b) || bitsOf(1)]);
  }
  return pairs;
}

function runExactFloat(device: GPUDevice, pairs: [number, number][]): Promise<Uint32Array> {
  return runTestKernel(device, 'exactFloat', `${exactFloat}\n${kTestKernel}`, Uint32Array.from(pairs.flat()), pairs.length * 16, pairs.length);
}

function decision(dtype: Dtype, granularity: 'tensor' | 'channel' | 'group', symmetric: boolean, range: WeightDecision['range'],
  axis?: number, groupSize?: number, outputAxis?: number): WeightDecision {
  return {
    name: 'w', action: 'quantize', reason: 'test', dtype, granularity, axis, groupSize, symmetric, method: 'minmax',
    outputAxis, range, minSqnrDb: -Infinity, maxRelError: Infinity,
  };
}

const kLimits: Record<Dtype, [number, number]> = { qint8: [-128, 127], quint8: [0, 255], qint4: [-8, 7], quint4: [0, 15] };

/** Per output (min, max): the hard ranges, then ties of |min| / scale at k + 0.5 for `dtype`, then random ranges. */
function hardRanges(dtype: Dtype, next: () => number): [number, number][] {
  const ranges: [number, number][] = [
    [-1e-40, 1e-41], [-1.4e-45, 0], [0, 1e-39], [-1e-38, 1.4e-45], [-1.1754942e-38, 1.1754944e-38], [-1e-45, 2e-38],
    [-1e-7, 1e-7], [-3e-6, 2e-6], [0, 1e-6], [-2e-5, 0], [-1.2e-7, 1.19e-7],
    [0, 0], [-0, -0], [-0, 0], [5, 5], [-5, -5], [-3, -1], [1, 3], [-2, 2], [-2, 1.9999999], [-1.9999999, 2],
    [-3e38, 3e38], [-3.4028235e38, 1], [1, 3.4028235e38], [-3.4028235e38, -3.4028235e38],
    [-4.588221, 2.8877935], [-1, 3], [-1e-30, 1e30], [-7.5, 0.5], [-1e20, 1e-20],
  ];
  const [qmin, qmax] = kLimits[dtype];
  const scale = 2 ** -4;
  for (let k = 0; k < Math.min(qmax - qmin, 40); k++) ranges.push([-(k + 0.5) * scale, (qmax - qmin) * scale - (k + 0.5) * scale]);
  for (let i = 0; i < 100; i++) {
    const a = (next() < 0.5 ? -1 : 1) * 2 ** (next() * 230 - 140);
    const b = (next() < 0.5 ? -1 : 1) * 2 ** (next() * 230 - 140);
    ranges.push([Math.fround(Math.min(a, b)), Math.fround(Math.max(a, b))]);
  }
  return ranges;
}

/** Rows of 4 elements, one per range: [min, max, min, max]. */
function rowsOf(ranges: [number, number][]): Float32Array {
  const data = new Float32Array(ranges.length * 4);
  ranges.forEach(([min, max], r) => data.set([min, max, min, max], 4 * r));
  return data;
}

/** Counts the queue's submits while `body` runs. */
async function countSubmits<T>(device: GPUDevice, body: () => Promise<T>): Promise<{ result: T; submits: number }> {
  const queue = device.queue as GPUQueue & Record<string, unknown>;
  let submits = 0;
  const submit = queue.submit;
  queue.submit = function (this: GPUQueue, ...args: Parameters<GPUQueue['submit']>) {
    submits++;
    return submit.apply(this, args);
  } as GPUQueue['submit'];
  try {
    return { result: await body(), submits };
  } finally {
    Reflect.deleteProperty(queue, 'submit');
  }
}

export const tests: Record<string, BrowserTest> = {
  async 'exact_float.wgsl: division, sum of magnitudes and round-half-even give the correctly rounded bits, subnormals and overflow included'() {
    const { device } = await getDefaultManager();
    const pairs = operandPairs(rng(RUN_SEED + 91));
    const results = await runExactFloat(device, pairs);
    const mismatches: string[] = [];
    pairs.forEach(([a, b], i) => {
      const quotient = bitsOf(Math.fround(floatOf(a) / floatOf(b)));
      const sum = bitsOf(Math.fround(Math.abs(floatOf(a)) + Math.abs(floatOf(b))));
      const rounded = Math.min(roundHalfEven(Math.abs(floatOf(a))), 2 ** 30);
      const got = [results[4 * i]!, results[4 * i + 1]!, results[4 * i + 2]!];
      if (got[0] !== quotient || got[1] !== sum || got[2] !== rounded) {
        if (mismatches.length < 10) {
          mismatches.push(`#${i} a=${floatOf(a)} (0x${a.toString(16)}) b=${floatOf(b)} (0x${b.toString(16)}): divide 0x${got[0]!.toString(16)} vs 0x${quotient.toString(16)}, `
            + `add 0x${got[1]!.toString(16)} vs 0x${sum.toString(16)}, round ${got[2]} vs ${rounded}`);
        }
      }
    });
    if (mismatches.length) throw new Error(`exact_float.wgsl differs from the host:\n${mismatches.join('\n')}`);
    return `${pairs.length} operand pairs`;
  },

  async 'scales and zero points computed on the GPU are the host\'s bits on hard ranges, every dtype, rule and granularity: one submit, pool empty'() {
    const { device } = await getDefaultManager();
    const next = rng(RUN_SEED + 92);
    let weights = 0;
    let refused = 0;
    let tinyWeights = 0;
    await gpuScoped(async () => {
      for (const dtype of ['qint8', 'quint8', 'qint4', 'quint4'] as Dtype[]) {
        const all = hardRanges(dtype, next);
        // Ranges near the float32 limit get weights of their own: affine ranges whose max - min overflows refuse
        // the whole weight, and 8-bit levels (q - zp) * scale past float32 keep the 8-bit statistics kernel from
        // quantizing (a plan the chain can only know from the values: those 8-bit weights take two submits).
        const huge = ([min, max]: [number, number]) => Math.max(-min, max) > 1e38;
        const groups = [all.filter((r) => !huge(r)), all.filter(huge)];
        for (const ranges of groups) {
          const maxSubmits = ranges === groups[1] && dtype.endsWith('8') ? 3 : 1;
          const data = rowsOf(ranges);
          const shape = [ranges.length, 4];
          for (const [symmetric, range] of [[false, 'torch'], [true, 'torch'], [true, 'extreme'], ...(dtype.startsWith('qu') ? [] : [[true, 'narrow']])] as [boolean, WeightDecision['range']][]) {
            for (const d of [decision(dtype, 'channel', symmetric, range, 0, undefined, 0), decision(dtype, 'group', symmetric, range, 1, 4, 0)]) {
              const what = `${dtype} ${symmetric ? 'symmetric' : 'affine'} ${range} ${d.granularity} [${shape}]`;
              const cpu = await quantizeWeight(tensor(data, shape), d, {}, { backend: 'cpu' });
              const { result: gpu, submits } = await countSubmits(device, () => quantizeWeight(tensor(data, shape), d, {}, { backend: 'webgpu' }));
              if (gpu.ok !== cpu.ok) throw new Error(`${what}: ok ${gpu.ok} on the GPU, ${cpu.ok} on the CPU`);
              if (submits > maxSubmits) throw new Error(`${what}: ${submits} submits: the GPU's parameters differ from the host's`);
              weights++;
              if (!gpu.ok || !cpu.ok) {
                if ('reason' in gpu && 'reason' in cpu && gpu.reason !== cpu.reason) throw new Error(`${what}: "${gpu.reason}" vs "${cpu.reason}"`);
                refused++;
                continue;
              }
              expectExact(gpu.scales, cpu.scales, `${what} scales`);
              expectExact(gpu.zeroPoints, cpu.zeroPoints, `${what} zero points`);
              expectExact(gpu.q.packedData(), cpu.q.packedData(), `${what} integers`);
            }
          }
          // Per tensor: each hard range as a whole weight of 64 elements.
          for (const [min, max] of ranges.slice(0, 32)) {
            // A weight of tiny values only: the squares in the GPU statistics kernel underflow, and the statistics
            // are computed again on the CPU (the same result as the CPU path's, compared below). A weight of
            // subnormals only is left out: a GPU that flushes them sees zeros (a documented limit of the kernel).
            const tiny = Math.max(Math.abs(min), Math.abs(max)) < 2 ** -40;
            const normal = (v: number) => v === 0 || Math.abs(v) >= 2 ** -126;
            if (tiny && !(normal(min) && normal(max))) continue;
            const whole = new Float32Array(64).fill(min);
            whole[17] = max;
            const d = decision(dtype, 'tensor', next() < 0.5, 'torch');
            const cpu = await quantizeWeight(tensor(whole, [8, 8]), d, {}, { backend: 'cpu' });
            const { result: gpu, submits } = await countSubmits(device, () => quantizeWeight(tensor(whole, [8, 8]), d, {}, { backend: 'webgpu' }));
            const what = `${dtype} per tensor [${min}, ${max}]`;
            if (submits > maxSubmits) throw new Error(`${what}: ${submits} submits: the GPU's parameters differ from the host's`);
            if (gpu.ok !== cpu.ok) throw new Error(`${what}: ok ${gpu.ok} on the GPU, ${cpu.ok} on the CPU (${'reason' in gpu ? gpu.reason : ''}${'reason' in cpu ? cpu.reason : ''})`);
            if (gpu.ok && cpu.ok) {
              expectExact(gpu.scales, cpu.scales, `${what} scales`);
              expectExact(gpu.zeroPoints, cpu.zeroPoints, `${what} zero points`);
              if (tiny) {
                expectExact([gpu.stats.overall.sqnrDb, gpu.stats.overall.mse], [cpu.stats.overall.sqnrDb, cpu.stats.overall.mse], `${what} statistics`);
                tinyWeights++;
              }
            }
            weights++;
          }
        }
      }
    });
    await expectPoolEmpty();
    if (refused === 0) throw new Error('no weight was refused: the overflow cases did not run');
    if (tinyWeights === 0) throw new Error('no weight of tiny values only was quantized: the underflow cases did not run');
    return `${weights} weights (one submit each but 8-bit ones near the float32 limit), ${refused} refused as on the CPU, `
      + `${tinyWeights} of tiny values only with the CPU's statistics`;
  },
};
