// Per-channel quantize and dequantize on the GPU versus the CPU reference: every axis of a rank-4
// tensor with odd dimensions, negative axes, the outer and inner layouts at size, every dtype.
import { type QDType, QDTYPES, channelLayoutOf, dequantize, dtypeInfo, quantizePerChannel, reference, tensor } from './imports.js';
import {
  type BrowserTest, RUN_SEED, dequantizeWithFloat32Scales, expectExact, expectPoolEmpty, expectUlps, gpuScoped, randomData, rng,
} from './support.js';

const gpu = { backend: 'webgpu' } as const;

/** Per-channel scales from each channel's range (float32 values, like observers make) or float64 values. */
function channelParams(dtype: QDType, channels: number, seed: number, float32Scales: boolean): { scales: number[]; zeroPoints: number[] } {
  const info = dtypeInfo(dtype);
  const next = rng(seed);
  const span = Math.min(info.qmax - info.qmin, 2 ** 20);
  const scales: number[] = [];
  const zeroPoints: number[] = [];
  for (let c = 0; c < channels; c++) {
    // Channel magnitudes over 6 decades, as in real weights (the seed notebook's point).
    const scale = (10 ** (next() * 6 - 3)) * 6 / span;
    scales.push(float32Scales ? Math.fround(scale) : scale);
    zeroPoints.push(Math.round(info.qmin + (info.qmax - info.qmin) / 2 + (next() - 0.5) * Math.min(span, 32)));
  }
  return { scales, zeroPoints };
}

/** Data whose channel c has the magnitude of scales[c]. */
function channelData(shape: number[], axis: number, scales: number[], spanScale: number, seed: number): Float32Array {
  const { outer, channels, inner } = channelLayoutOf(shape, axis);
  const data = randomData(outer * channels * inner, seed);
  let i = 0;
  for (let o = 0; o < outer; o++) for (let c = 0; c < channels; c++) for (let k = 0; k < inner; k++, i++) data[i] = data[i]! * scales[c]! * spanScale;
  return data;
}

async function check(shape: number[], axis: number, dtype: QDType, seed: number, float32Scales: boolean, options = {}): Promise<void> {
  const { outer, channels, inner } = channelLayoutOf(shape, axis);
  const { scales, zeroPoints } = channelParams(dtype, channels, seed, float32Scales);
  const info = dtypeInfo(dtype);
  const x = tensor(channelData(shape, axis, scales, Math.min(info.qmax - info.qmin, 2 ** 20) / 6, seed), shape);
  const what = `[${shape}] axis ${axis} ${dtype} seed ${seed}${float32Scales ? '' : ' float64 scales'}`;
  const q = await quantizePerChannel(x, scales, zeroPoints, axis, dtype, { ...gpu, ...options });
  const expected = reference.quantizePerChannel(x, scales, zeroPoints, axis, dtype);
  expectExact(q.intRepr(), expected.intReprView(), `${what}: quantize`);
  const y = (await dequantize(q, { ...gpu, ...options })).data;
  expectExact(y, dequantizeWithFloat32Scales(expected.intReprView(), scales, zeroPoints, outer, inner), `${what}: dequantize (float32-scale contract)`);
  expectUlps(y, reference.dequantize(expected).data, float32Scales ? 0 : 1, `${what}: dequantize vs reference`);
}

export const tests: Record<string, BrowserTest> = {
  async 'every axis of a rank-4 tensor, every dtype, float32 and float64 scales'() {
    await gpuScoped(async () => {
      for (const dtype of QDTYPES) {
        for (const axis of [0, 1, 2, 3, -1, -4]) {
          await check([3, 5, 7, 6], axis, dtype, RUN_SEED + axis + 10, true);
          await check([3, 5, 7, 6], axis, dtype, RUN_SEED + axis + 20, false);
        }
      }
    });
    await expectPoolEmpty();
    return `run seed ${RUN_SEED}`;
  },
  async 'odd shapes: rank 1, single channel, inner runs of 1..5'() {
    await gpuScoped(async () => {
      for (const dtype of QDTYPES) {
        await check([13], 0, dtype, 1, true);
        await check([1, 9], 0, dtype, 2, true);
        for (const inner of [1, 2, 3, 4, 5]) await check([3, 11, inner], 1, dtype, 3 + inner, true);
      }
    });
    await expectPoolEmpty();
  },
  async 'outer and inner channel layouts at about a million elements'() {
    await gpuScoped(async () => {
      await check([1024, 1001], 0, 'qint8', RUN_SEED + 1, true);
      await check([1001, 1024], 1, 'qint8', RUN_SEED + 2, true);
      await check([1001, 1023], -1, 'quint8', RUN_SEED + 3, true);
    });
    await expectPoolEmpty();
    return `run seed ${RUN_SEED}`;
  },
};
