// Many GPU users on one device at once, of every kind a page runs side by side (a compression, a tensor view's
// statistics, the seed notebook's examples, the 'auto' crossover measurement): min/max parameters, quantize per
// tensor / channel / group, dequantize, errorStats, the one-upload weight chain and a whole compressOnnx. Every
// call must finish (a watchdog names the ones that did not), give the CPU path's bits, and leave the pool empty.
import {
  type QTensor, type WeightDecision, autoCrossover, chooseQParams, compressOnnx, dequantize, errorStats, quantizePerChannel,
  quantizePerGroup, quantizePerTensor, quantizeWeight, reference, tensor,
} from './imports.js';
import { type BrowserTest, RUN_SEED, expectExact, expectPoolEmpty, gpuScoped, randomData } from './support.js';

const gpu = { backend: 'webgpu' } as const;
const cpu = { backend: 'cpu' } as const;
const kModelUrl = '/node_modules/@ricky0123/vad-web/dist/silero_vad_legacy.onnx';
/** Far longer than the whole batch takes on SwiftShader under load (a few seconds): only a hang reaches it. */
const kWatchdogMs = 90_000;

interface Job { what: string; run: () => Promise<void> }

function minmaxDecision(granularity: 'tensor' | 'channel'): WeightDecision {
  const axis = granularity === 'channel' ? 0 : undefined;
  return {
    name: 'w', action: 'quantize', reason: 'test', dtype: 'qint8', granularity, axis, groupSize: undefined, symmetric: true,
    method: 'minmax', outputAxis: axis, range: 'torch', minSqnrDb: -Infinity, maxRelError: Infinity,
  };
}

function sameQ(actual: QTensor, expected: QTensor, what: string): void {
  expectExact(actual.intRepr(), expected.intReprView(), `${what} integers`);
}

/** One job of kind `index % 8` on fresh data from `seed`. */
function job(index: number, seed: number, model: Uint8Array, cpuModel: Uint8Array): Job {
  const rows = [3, 16, 64, 256][index % 4]!;
  const columns = [5, 64, 128, 257][(index >> 2) % 4]!;
  const x = tensor(randomData(rows * columns, seed + index, 0.5), [rows, columns]);
  const kinds: Job[] = [
    {
      what: 'chooseQParams (min/max per channel) then quantizePerChannel',
      run: async () => {
        const spec = { dtype: 'qint8' as const, granularity: { axis: 0 }, symmetric: true };
        const [p, expected] = [await chooseQParams(x, spec, gpu), await chooseQParams(x, spec, cpu)];
        if (!('scales' in p) || !('scales' in expected)) throw new Error('per-channel parameters expected');
        expectExact(p.scales, expected.scales, 'scales');
        sameQ(await quantizePerChannel(x, p.scales, p.zeroPoints, 0, 'qint8', gpu),
          reference.quantizePerChannel(x, expected.scales, expected.zeroPoints, 0, 'qint8'), 'per channel');
      },
    },
    {
      what: 'quantizePerTensor then dequantize',
      run: async () => {
        const q = await quantizePerTensor(x, 0.01, 3, 'quint8', gpu);
        sameQ(q, reference.quantizePerTensor(x, 0.01, 3, 'quint8'), 'per tensor');
        expectExact((await dequantize(q, gpu)).data, reference.dequantize(q).data, 'dequantized');
      },
    },
    {
      what: 'quantizePerGroup (4-bit) then dequantize',
      run: async () => {
        const groups = Math.ceil(columns / 32);
        const scales = Array.from({ length: rows * groups }, (_, i) => Math.fround(0.02 + 0.001 * (i % 7)));
        const zeroPoints = new Array<number>(rows * groups).fill(0);
        const q = await quantizePerGroup(x, scales, zeroPoints, 1, 32, 'qint4', gpu);
        const expected = reference.quantizePerGroup(x, scales, zeroPoints, 1, 32, 'qint4');
        sameQ(q, expected, 'per group');
        expectExact((await dequantize(q, gpu)).data, reference.dequantize(expected).data, 'dequantized');
      },
    },
    {
      what: 'errorStats per channel',
      run: async () => {
        const q = reference.quantizePerTensor(x, 0.01, 0, 'qint8');
        const [actual, expected] = [await errorStats(x, q, { axis: 0 }, gpu), await errorStats(x, q, { axis: 0 }, cpu)];
        // Sums in another order: the GPU's partials agree to float64 rounding of float32 squares.
        const close = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b));
        if (!close(actual.overall.mse, expected.overall.mse)) throw new Error(`mse ${actual.overall.mse}, CPU ${expected.overall.mse}`);
      },
    },
    {
      what: 'quantizeWeight per channel (the one-upload chain)',
      run: async () => {
        const [a, b] = [await quantizeWeight(x, minmaxDecision('channel'), {}, gpu), await quantizeWeight(x, minmaxDecision('channel'), {}, cpu)];
        if (!a.ok || !b.ok) throw new Error('not quantized');
        sameQ(a.q, b.q, 'chain');
      },
    },
    {
      what: 'quantizeWeight per tensor',
      run: async () => {
        const [a, b] = [await quantizeWeight(x, minmaxDecision('tensor'), {}, gpu), await quantizeWeight(x, minmaxDecision('tensor'), {}, cpu)];
        if (!a.ok || !b.ok) throw new Error('not quantized');
        sameQ(a.q, b.q, 'chain per tensor');
      },
    },
    {
      what: 'the auto crossover (measured once, shared by every caller)',
      run: async () => {
        const crossover = await autoCrossover();
        if (!(crossover >= 16384)) throw new Error(`crossover ${crossover}`);
      },
    },
    {
      what: 'compressOnnx of the default model',
      run: async () => {
        const { model: out } = await compressOnnx(model, { dtype: 'qint8' }, gpu);
        if (out.length !== cpuModel.length || !out.every((b, i) => b === cpuModel[i])) throw new Error('model bytes differ from the CPU path\'s');
      },
    },
  ];
  const chosen = kinds[index % kinds.length]!;
  return { what: `job ${index} (${rows}×${columns}): ${chosen.what}`, run: chosen.run };
}

export const tests: Record<string, BrowserTest> = {
  async 'GPU calls of every kind in flight on one device all finish with the CPU path\'s bits, and the pool empties'() {
    const response = await fetch(kModelUrl);
    if (!response.ok) throw new Error(`default model fetch failed: ${response.status}`);
    const model = new Uint8Array(await response.arrayBuffer());
    const cpuModel = (await compressOnnx(model, { dtype: 'qint8' }, cpu)).model;
    const jobs = Array.from({ length: 48 }, (_, i) => job(i, RUN_SEED, model, cpuModel));
    const pending = new Set(jobs.map((j) => j.what));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const watchdog = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${pending.size} calls never finished: ${[...pending].slice(0, 8).join('; ')}`)), kWatchdogMs);
    });
    try {
      await gpuScoped(() => Promise.race([watchdog, Promise.all(jobs.map(async (j) => {
        try {
          await j.run();
        } catch (error) {
          throw new Error(`${j.what}: ${(error as Error).message}`);
        } finally {
          pending.delete(j.what);
        }
      }))]));
    } finally {
      clearTimeout(timer);
    }
    await expectPoolEmpty();
    return `run seed ${RUN_SEED}, ${jobs.length} calls; 'auto' crossover on this adapter: ${await autoCrossover()} elements`;
  },
};
