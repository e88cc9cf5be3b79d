// Fresh random data (fixed seeds plus one new seed per run) through every dtype, per tensor, at sizes
// that are and are not multiples of 4 and of the workgroup: GPU versus the CPU reference, bit for bit.
import { type QDType, QDTYPES, dequantize, dtypeInfo, quantizePerTensor, reference, tensor } from './imports.js';
import { type BrowserTest, RUN_SEED, expectExact, expectPoolEmpty, expectUlps, gpuScoped, randomData, rng } from './support.js';

const gpu = { backend: 'webgpu' } as const;

/** Parameters that spread N(0, 1) data over most of the dtype's range, with some saturation. */
function paramsFor(dtype: QDType, seed: number): { scale: number; zeroPoint: number } {
  const info = dtypeInfo(dtype);
  const next = rng(seed ^ 0x5bd1e995);
  const span = Math.min(info.qmax - info.qmin, 2 ** 20);
  const scale = (6 / span) * (0.5 + next());
  const mid = info.qmin + (info.qmax - info.qmin) / 2;
  const zeroPoint = Math.round(mid + (next() - 0.5) * Math.min(span, 64));
  return { scale, zeroPoint };
}

async function roundTrip(n: number, seed: number, dtype: QDType): Promise<void> {
  const { scale, zeroPoint } = paramsFor(dtype, seed);
  const x = tensor(randomData(n, seed, 1, Math.fround(scale)));
  const what = `n=${n} seed=${seed} ${dtype} scale=${scale} zp=${zeroPoint}`;
  const q = await quantizePerTensor(x, scale, zeroPoint, dtype, gpu);
  const expected = reference.quantizePerTensor(x, scale, zeroPoint, dtype);
  expectExact(q.intRepr(), expected.intReprView(), `${what}: quantize`);
  expectUlps((await dequantize(q, gpu)).data, reference.dequantize(expected).data, 0, `${what}: dequantize`);
}

export const tests: Record<string, BrowserTest> = {
  async 'random per-tensor data at small and odd sizes, every dtype'() {
    const sizes = [0, 1, 3, 4, 5, 7, 1023, 1024, 1025, 4097];
    await gpuScoped(async () => {
      for (const seed of [1, 2, 3, RUN_SEED]) {
        for (const dtype of QDTYPES) for (const n of sizes) await roundTrip(n, seed + n, dtype);
      }
    });
    await expectPoolEmpty();
    return `run seed ${RUN_SEED}`;
  },
  async 'random per-tensor data, about a million elements, every dtype'() {
    await gpuScoped(async () => {
      for (const dtype of QDTYPES) await roundTrip(1_000_003, RUN_SEED + 7, dtype);
    });
    await expectPoolEmpty();
    return `run seed ${RUN_SEED + 7}`;
  },
};
