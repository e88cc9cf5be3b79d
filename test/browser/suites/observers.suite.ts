// Observers on the GPU: every PyTorch observer fixture through the GPU min/max reductions, random data on
// every axis of rank-3 and rank-4 tensors and in groups (ragged, size 1, >= the axis) against the CPU path,
// NaN detection, signed zeros, infinities and subnormals, forced small chunks and 2-D dispatch folds.
// Min and max are exact, so every comparison is exact (Object.is: -0 differs from +0).
import type { ObserverCase } from '../../shared/fixture-types.js';
import {
  InvalidArgumentError, MinMaxObserver, MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver, type OpOptions,
  PerChannelMinMaxObserver, PerGroupMinMaxObserver, tensor,
} from './imports.js';
import { type BrowserTest, RUN_SEED, expectExact, expectPoolEmpty, expectReject, floats, gpuScoped, randomData } from './support.js';

const gpu = { backend: 'webgpu' } as const;
const cpu = { backend: 'cpu' } as const;


type Observer = MinMaxObserver | PerChannelMinMaxObserver | PerGroupMinMaxObserver;

function makeObserver(c: ObserverCase): Observer {
  const base = {
    dtype: c.dtype, reduceRange: c.reduce_range, ...(c.quant_min_arg === null ? {} : { quantMin: c.quant_min_arg, quantMax: c.quant_max_arg! }),
  };
  const qscheme = c.qscheme as never;
  if (c.observer === 'MinMaxObserver') return new MinMaxObserver({ ...base, qscheme });
  if (c.observer === 'MovingAverageMinMaxObserver') return new MovingAverageMinMaxObserver({ ...base, qscheme, averagingConstant: c.averaging_constant! });
  if (c.observer === 'PerChannelMinMaxObserver') return new PerChannelMinMaxObserver({ ...base, qscheme, chAxis: c.ch_axis! });
  return new MovingAveragePerChannelMinMaxObserver({ ...base, qscheme, chAxis: c.ch_axis!, averagingConstant: c.averaging_constant! });
}

function state(o: Observer): { mins: Float32Array; maxs: Float32Array } {
  return o instanceof MinMaxObserver ? { mins: Float32Array.of(o.minVal), maxs: Float32Array.of(o.maxVal) } : { mins: o.minVals, maxs: o.maxVals };
}

function params(o: Observer): { scales: Float32Array; zeroPoints: Int32Array } {
  if (o instanceof MinMaxObserver) {
    const p = o.calculateQParams();
    return { scales: Float32Array.of(p.scale), zeroPoints: Int32Array.of(p.zeroPoint) };
  }
  return o.calculateQParams();
}

/** Observes `batches` with the same observer configuration on the GPU and on the CPU; both must agree exactly. */
async function sameOnBothBackends(make: () => Observer, batches: Float32Array[], shape: number[], what: string, options: OpOptions = gpu): Promise<void> {
  const onGpu = make();
  const onCpu = make();
  for (const data of batches) {
    await onGpu.observe(tensor(data, shape), options);
    await onCpu.observe(tensor(data, shape), cpu);
  }
  const [g, c] = [state(onGpu), state(onCpu)];
  expectExact(g.mins, c.mins, `${what}: mins`);
  expectExact(g.maxs, c.maxs, `${what}: maxs`);
  const [pg, pc] = [params(onGpu), params(onCpu)];
  expectExact(pg.scales, pc.scales, `${what}: scales`);
  expectExact(pg.zeroPoints, pc.zeroPoints, `${what}: zero points`);
}

/** Data with channel magnitudes over several decades along `axis`. */
function channelData(shape: number[], axis: number, seed: number): Float32Array {
  const data = randomData(shape.reduce((a, b) => a * b, 1), seed);
  let inner = 1;
  for (let d = axis + 1; d < shape.length; d++) inner *= shape[d]!;
  for (let i = 0; i < data.length; i++) data[i] = data[i]! * 10 ** ((Math.floor(i / inner) % shape[axis]!) % 5 - 2);
  return data;
}

export const tests: Record<string, BrowserTest> = {
  async 'every PyTorch observer fixture case matches through the GPU reductions'() {
    const response = await fetch('/test/fixtures/torch-observers.json');
    const cases = (await response.json() as { observers: ObserverCase[] }).observers;
    if (cases.length < 100) throw new Error(`only ${cases.length} observer cases`);
    await gpuScoped(async () => {
      for (const c of cases) {
        const observer = makeObserver(c);
        for (const [b, batch] of c.batches.entries()) {
          await observer.observe(tensor(floats(batch.input), batch.shape), gpu);
          const { mins, maxs } = state(observer);
          expectExact(mins, Float32Array.from(floats(c.states[b]!.min_val)), `${c.name} batch ${b}: min_val`);
          expectExact(maxs, Float32Array.from(floats(c.states[b]!.max_val)), `${c.name} batch ${b}: max_val`);
        }
        const p = params(observer);
        expectExact(p.scales, Float32Array.from(floats(c.scales ?? [c.scale!])), `${c.name}: scales`);
        expectExact(p.zeroPoints, c.zero_points ?? [c.zero_point!], `${c.name}: zero points`);
      }
    });
    await expectPoolEmpty();
    return `${cases.length} cases`;
  },

  async 'every axis of rank-3 and rank-4 tensors, random data, GPU = CPU'() {
    await gpuScoped(async () => {
      for (const shape of [[5, 7, 9], [3, 4, 5, 6], [2, 67, 3, 1]]) {
        for (let axis = -shape.length; axis < shape.length; axis++) {
          const seed = RUN_SEED + 31 * axis + shape.length;
          const batches = [channelData(shape, (axis + shape.length) % shape.length, seed), randomData(shape.reduce((a, b) => a * b, 1), seed + 1, 3)];
          for (const qscheme of ['per_channel_affine', 'per_channel_symmetric'] as const) {
            await sameOnBothBackends(() => new PerChannelMinMaxObserver({ chAxis: axis, dtype: 'qint8', qscheme }), batches, shape, `[${shape}] axis ${axis} ${qscheme}`);
          }
          await sameOnBothBackends(() => new MovingAveragePerChannelMinMaxObserver({ chAxis: axis, averagingConstant: 0.25 }), batches, shape, `[${shape}] axis ${axis} moving average`);
        }
        const data = randomData(shape.reduce((a, b) => a * b, 1), RUN_SEED + 5, 2);
        await sameOnBothBackends(() => new MinMaxObserver({ dtype: 'qint8' }), [data], shape, `[${shape}] per tensor`);
      }
    });
    await expectPoolEmpty();
    return `run seed ${RUN_SEED}`;
  },

  async 'groups: every axis of a rank-3 tensor, ragged last group, group size 1 and >= the axis length'() {
    await gpuScoped(async () => {
      const shape = [6, 10, 7];
      const data = randomData(420, RUN_SEED + 77, 4);
      for (let axis = 0; axis < 3; axis++) {
        for (const groupSize of [1, 3, 4, shape[axis]!, shape[axis]! + 5]) {
          for (const qscheme of ['per_group_affine', 'per_group_symmetric'] as const) {
            await sameOnBothBackends(() => new PerGroupMinMaxObserver({ axis, groupSize, dtype: 'qint4', qscheme }), [data], shape,
              `[${shape}] axis ${axis} groups of ${groupSize} ${qscheme}`);
          }
        }
      }
      // [out, in] weights with groups along the inputs, the typical int4 layout, at a larger size.
      const w = randomData(64 * 300, RUN_SEED + 78, 0.05);
      await sameOnBothBackends(() => new PerGroupMinMaxObserver({ axis: 1, groupSize: 32, dtype: 'qint4', qscheme: 'per_group_symmetric' }), [w], [64, 300], '[64, 300] groups of 32');
      const g = new PerGroupMinMaxObserver({ axis: 1, groupSize: 32, dtype: 'qint4' });
      await g.observe(tensor(w, [64, 300]), gpu);
      if (g.minVals.length !== 64 * 10) throw new Error(`expected 640 groups, got ${g.minVals.length}`);
    });
    await expectPoolEmpty();
    return `run seed ${RUN_SEED}`;
  },

  async 'vec4 first passes (aligned layouts): GPU = CPU with specials, first NaN index, any chunk size'() {
    // Shapes whose layouts take minmax_input_along (per tensor, channels with inner % 4 == 0, groups along the
    // last axis, tiling it or not) and minmax_input_across (channels along the last axis, groups with
    // inner % 4 == 0); chunk sizes that keep boxes aligned (64, 96) or not (18) fall back where needed.
    await gpuScoped(async () => {
      const shape = [8, 12, 16];
      const size = 8 * 12 * 16;
      const layouts: [string, () => Observer][] = [
        ['per tensor', () => new MinMaxObserver()],
        ['channels axis 0', () => new PerChannelMinMaxObserver({ chAxis: 0 })],
        ['channels axis 1', () => new PerChannelMinMaxObserver({ chAxis: 1 })],
        ['channels axis 2', () => new PerChannelMinMaxObserver({ chAxis: 2 })],
        ['groups of 4 axis 2', () => new PerGroupMinMaxObserver({ axis: 2, groupSize: 4 })],
        ['groups of 12 axis 2', () => new PerGroupMinMaxObserver({ axis: 2, groupSize: 12 })],
        ['groups of 4 axis 1', () => new PerGroupMinMaxObserver({ axis: 1, groupSize: 4 })],
        ['groups of 8 axis 0', () => new PerGroupMinMaxObserver({ axis: 0, groupSize: 8 })],
      ];
      const data = randomData(size, RUN_SEED + 91, 3);
      const specials = [Infinity, -Infinity, 0, -0, 1e-45, -1e-45, 3.4e38, -3.4e38];
      specials.forEach((value, k) => { data[(k * 97 + 5) % size] = value; });
      for (const [name, make] of layouts) {
        for (const options of [gpu, { ...gpu, maxChunkElements: 64 }, { ...gpu, maxChunkElements: 96 }, { ...gpu, maxChunkElements: 18 }] as OpOptions[]) {
          // Infinities are no valid range for qparams: compare the observed ranges only.
          const [onGpu, onCpu] = [make(), make()];
          await onGpu.observe(tensor(data, shape), options);
          await onCpu.observe(tensor(data, shape), cpu);
          const what = `[${shape}] ${name} chunks ${options.maxChunkElements ?? 'none'}`;
          expectExact(state(onGpu).mins, state(onCpu).mins, `${what}: mins`);
          expectExact(state(onGpu).maxs, state(onCpu).maxs, `${what}: maxs`);
        }
        for (const nanAt of [0, 3, 517, size - 1]) {
          const withNaN = data.slice();
          withNaN[nanAt] = NaN;
          new Uint32Array(withNaN.buffer)[Math.min(size - 1, nanAt + 130)] = 0xffc00001; // a negative NaN
          for (const options of [gpu, { ...gpu, maxChunkElements: 64 }]) {
            await expectReject(() => make().observe(tensor(withNaN, shape), options), InvalidArgumentError, new RegExp(`^x\\.data\\[${nanAt}\\] is NaN`));
          }
        }
      }
    });
    await expectPoolEmpty();
    return `run seed ${RUN_SEED}`;
  },

  async 'NaN: the first NaN index is reported, on every layout and chunk size, and the observer is unchanged'() {
    await gpuScoped(async () => {
      const shape = [8, 9, 10];
      for (const nanAt of [0, 357, 719]) {
        const data = randomData(720, RUN_SEED + nanAt);
        data[nanAt] = NaN;
        data[Math.min(719, nanAt + 100)] = NaN;
        const observers: Observer[] = [
          new MinMaxObserver(), new PerChannelMinMaxObserver({ chAxis: 0 }), new PerChannelMinMaxObserver({ chAxis: 2 }),
          new PerGroupMinMaxObserver({ axis: 1, groupSize: 4 }), new PerGroupMinMaxObserver({ axis: 2, groupSize: 3 }),
        ];
        for (const observer of observers) {
          for (const options of [gpu, { ...gpu, maxChunkElements: 16 }]) {
            await expectReject(() => observer.observe(tensor(data, shape), options), InvalidArgumentError,
              new RegExp(`^x\\.data\\[${nanAt}\\] is NaN`));
            if (state(observer).mins.length !== 0 && Number.isFinite(state(observer).mins[0])) throw new Error('a failed observe changed the observer');
          }
        }
      }
      let caught: unknown;
      try { await new MinMaxObserver().observe(tensor([1, NaN]), gpu); } catch (error) { caught = error; }
      if (!(caught instanceof InvalidArgumentError) || caught.argument !== 'x.data[1]' || !Number.isNaN(caught.value)) {
        throw new Error(`expected InvalidArgumentError on x.data[1], got ${String(caught)}`);
      }
    });
    await expectPoolEmpty();
  },

  async 'signed zeros, infinities and subnormals reduce exactly (-0 < +0)'() {
    await gpuScoped(async () => {
      const cases: [string, number[]][] = [
        ['zeros', [0, -0, 0, -0]],
        ['only -0', [-0, -0]],
        ['only +0', [0, 0, 0]],
        ['infinities', [1, Infinity, -Infinity, 2]],
        ['subnormals', [1e-45, -3e-44, 2e-40, -1e-39]],
        ['tiny and zero', [0, 1e-45, -0]],
      ];
      for (const [name, values] of cases) {
        const x = tensor(values);
        const [onGpu, onCpu] = [new MinMaxObserver(), new MinMaxObserver()];
        await onGpu.observe(x, gpu);
        await onCpu.observe(x, cpu);
        expectExact([onGpu.minVal, onGpu.maxVal], [onCpu.minVal, onCpu.maxVal], name);
      }
      const z = new MinMaxObserver();
      await z.observe(tensor([0, -0, 0]), gpu);
      if (!Object.is(z.minVal, -0) || !Object.is(z.maxVal, 0)) throw new Error(`zeros: min ${z.minVal}, max ${z.maxVal}`);
    });
    await expectPoolEmpty();
  },

  async 'forced small chunks and 2-D dispatch folds give the same bits'() {
    await gpuScoped(async () => {
      const shape = [7, 13, 11];
      const data = randomData(1001, RUN_SEED + 3, 5);
      const makers: [string, () => Observer][] = [
        ['per tensor', () => new MinMaxObserver()],
        ['axis 0', () => new PerChannelMinMaxObserver({ chAxis: 0 })],
        ['axis 1', () => new PerChannelMinMaxObserver({ chAxis: 1 })],
        ['axis 2', () => new PerChannelMinMaxObserver({ chAxis: 2 })],
        ['groups axis 1', () => new PerGroupMinMaxObserver({ axis: 1, groupSize: 5 })],
        ['groups axis 2', () => new PerGroupMinMaxObserver({ axis: 2, groupSize: 4 })],
        ['groups axis 0', () => new PerGroupMinMaxObserver({ axis: 0, groupSize: 7 })],
      ];
      for (const [name, make] of makers) {
        for (const maxChunkElements of [4, 9, 30, 150]) {
          await sameOnBothBackends(make, [data], shape, `${name} chunk ${maxChunkElements}`, { ...gpu, maxChunkElements });
        }
        for (const maxWorkgroupsPerDimension of [1, 2]) {
          await sameOnBothBackends(make, [data], shape, `${name} fold ${maxWorkgroupsPerDimension}`, { ...gpu, maxWorkgroupsPerDimension, maxChunkElements: 600 });
        }
      }
      // Many lanes and several combine passes: 300k elements in one output (normal(0, 1): nothing near 9.5).
      const big = randomData(300_000, RUN_SEED + 4, 1);
      big[123_457] = 9.5;
      big[299_999] = -9.75;
      const observer = new MinMaxObserver();
      await observer.observe(tensor(big), gpu);
      if (observer.minVal !== -9.75 || observer.maxVal !== 9.5) throw new Error(`big: min ${observer.minVal}, max ${observer.maxVal}`);
    });
    await expectPoolEmpty();
    return `run seed ${RUN_SEED}`;
  },
};
