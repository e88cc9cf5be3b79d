// 4-bit types and per-group (blocked) scales on the GPU versus the CPU reference: nibble order against a
// hand-written byte example, odd lengths, ragged last groups, group size 1 and >= the axis length, every
// axis of a rank-3 tensor, forced chunks that split words and groups.
import {
  type QDType, QDTYPES, dequantize, dtypeInfo, fromIntRepr, quantizePerChannel, quantizePerGroup, quantizePerTensor, reference, tensor,
} from './imports.js';
import { type BrowserTest, RUN_SEED, expectExact, expectPoolEmpty, expectUlps, gpuScoped, randomData, rng } from './support.js';

const gpu = { backend: 'webgpu' } as const;

/** Group parameters for `shape` split along `axis` into groups of `groupSize`, float32 scales like observers give. */
function groupParams(shape: number[], axis: number, groupSize: number, dtype: QDType, seed: number): { scales: number[]; zeroPoints: number[] } {
  const a = axis < 0 ? axis + shape.length : axis;
  const count = shape.reduce((n, d, i) => n * (i === a ? Math.ceil(d / groupSize) : d), 1);
  const { qmin, qmax } = dtypeInfo(dtype);
  const next = rng(seed);
  const span = Math.min(qmax - qmin, 2 ** 20);
  const scales: number[] = [];
  const zeroPoints: number[] = [];
  for (let i = 0; i < count; i++) {
    scales.push(Math.fround((10 ** (next() * 2 - 1)) * 6 / span));
    zeroPoints.push(Math.round(qmin + (qmax - qmin) * (0.3 + 0.4 * next())));
  }
  return { scales, zeroPoints };
}

async function checkGroups(shape: number[], axis: number, groupSize: number, dtype: QDType, seed: number, options: object = gpu): Promise<void> {
  const x = tensor(randomData(shape.reduce((a, b) => a * b, 1), seed), shape);
  const { scales, zeroPoints } = groupParams(shape, axis, groupSize, dtype, seed);
  const what = `[${shape}] axis ${axis} groups of ${groupSize} ${dtype}`;
  const q = await quantizePerGroup(x, scales, zeroPoints, axis, groupSize, dtype, options);
  const expected = reference.quantizePerGroup(x, scales, zeroPoints, axis, groupSize, dtype);
  expectExact(q.intRepr(), expected.intReprView(), `${what}: quantize`);
  if (q.qscheme() !== 'per_group_affine' || q.qGroupSize() !== groupSize) throw new Error(`${what}: scheme ${q.qscheme()}`);
  expectUlps((await dequantize(q, options)).data, reference.dequantize(expected).data, 0, `${what}: dequantize`);
}

export const tests: Record<string, BrowserTest> = {
  async '4-bit GPU results stay packed until one integer per element is asked for, and dequantize from the packed bytes'() {
    await gpuScoped(async () => {
      for (const [dtype, shape, options] of [
        ['qint4', [37, 111], gpu], ['quint4', [5, 4099], gpu], ['qint4', [9, 70], { ...gpu, maxChunkElements: 64 }],
      ] as const) {
        const seed = RUN_SEED + shape[1];
        const x = tensor(randomData(shape[0] * shape[1], seed, 3), [...shape]);
        const { scales, zeroPoints } = groupParams([...shape], 1, 32, dtype, seed);
        const what = `${dtype} [${shape}]`;
        const q = await quantizePerGroup(x, scales, zeroPoints, 1, 32, dtype, options);
        const expected = reference.quantizePerGroup(x, scales, zeroPoints, 1, 32, dtype);
        if (!q.packedNibbles || !q.onCpu) throw new Error(`${what}: the GPU result is not held packed`);
        expectExact(q.packedData(), expected.packedData(), `${what}: packedData from the packed bytes`);
        expectUlps((await dequantize(q, options)).data, reference.dequantize(expected).data, 0, `${what}: dequantize from the packed bytes`);
        if (!q.packedNibbles) throw new Error(`${what}: dequantize unpacked the integers`);
        expectExact(q.intReprView(), expected.intReprView(), `${what}: intReprView unpacks`);
        if (q.packedNibbles) throw new Error(`${what}: still packed after intReprView`);
        expectExact(q.packedData(), expected.packedData(), `${what}: packedData after unpacking`);
        const resident = await quantizePerGroup(x, scales, zeroPoints, 1, 32, dtype, { ...options, output: 'gpu' });
        await resident.read();
        resident.destroy();
        if (!resident.packedNibbles) throw new Error(`${what}: read() unpacked the integers`);
        expectExact(resident.intRepr(), expected.intReprView(), `${what}: read() then intRepr`);
      }
      await expectPoolEmpty();
    });
  },
  async 'qint4 / quint4 nibble order matches a hand-written byte example'() {
    await gpuScoped(async () => {
      // Elements 1, -2, 7, -8, 0 -> bytes 0xe1 (1 low, -2 = 0xe high), 0x87 (7, -8 = 0x8), 0x00 (0, pad).
      const q = await quantizePerTensor(tensor([1, -2, 7, -8, 0]), 1, 0, 'qint4', gpu);
      expectExact(q.intRepr(), [1, -2, 7, -8, 0], 'qint4 intRepr');
      expectExact(q.packedData(), [0xe1, 0x87, 0x00], 'qint4 packed bytes');
      const u = await quantizePerTensor(tensor([1, 14, 15, 0, 9]), 1, 0, 'quint4', gpu);
      expectExact(u.packedData(), [0xe1, 0x0f, 0x09], 'quint4 packed bytes');
      const back = fromIntRepr([1, -2, 7, -8, 0], [5], 'qint4', { scale: 0.5, zeroPoint: -1 });
      expectExact((await dequantize(back, gpu)).data, [1, -0.5, 4, -3.5, 0.5], 'qint4 dequantize');
    });
  },
  async '4-bit per tensor and per channel: random data, odd lengths, GPU equals CPU'() {
    await gpuScoped(async () => {
      for (const dtype of ['qint4', 'quint4'] as const) {
        for (const n of [1, 3, 7, 8, 9, 15, 17, 1023, 4099]) {
          const x = tensor(randomData(n, RUN_SEED + n, 4, 0.5));
          const zp = dtype === 'qint4' ? 0 : 8;
          const q = await quantizePerTensor(x, 0.5, zp, dtype, gpu);
          const expected = reference.quantizePerTensor(x, 0.5, zp, dtype);
          expectExact(q.intRepr(), expected.intReprView(), `${dtype} n=${n}`);
          expectExact(q.packedData(), expected.packedData(), `${dtype} n=${n} packed`);
          expectUlps((await dequantize(q, gpu)).data, reference.dequantize(expected).data, 0, `${dtype} n=${n} dequantize`);
        }
        const w = tensor(randomData(5 * 7 * 3, RUN_SEED, 3), [5, 7, 3]);
        for (const axis of [0, 1, 2]) {
          const channels = w.shape[axis]!;
          const scales = Array.from({ length: channels }, (_, c) => Math.fround(0.25 * (c + 1)));
          const zeroPoints = new Array(channels).fill(dtype === 'qint4' ? -1 : 7);
          const q = await quantizePerChannel(w, scales, zeroPoints, axis, dtype, gpu);
          expectExact(q.intRepr(), reference.quantizePerChannel(w, scales, zeroPoints, axis, dtype).intReprView(), `${dtype} axis ${axis}`);
          expectUlps((await dequantize(q, gpu)).data, reference.dequantize(q).data, 0, `${dtype} axis ${axis} dequantize`);
        }
      }
    });
    await expectPoolEmpty();
    return `run seed ${RUN_SEED}`;
  },
  async 'per-group: every axis of a rank-3 tensor, ragged last group, group size 1 and >= the axis, every dtype'() {
    await gpuScoped(async () => {
      for (const dtype of QDTYPES) {
        for (const axis of [0, 1, 2, -1]) {
          for (const groupSize of [1, 2, 3, 4, 5, 64]) await checkGroups([5, 6, 7], axis, groupSize, dtype, RUN_SEED + groupSize);
        }
      }
    });
    await expectPoolEmpty();
    return `run seed ${RUN_SEED}`;
  },
  async 'per-group int4 on a [out, in] weight with groups of 32 and 128, at size and with forced chunks'() {
    await gpuScoped(async () => {
      await checkGroups([256, 1000], 1, 32, 'qint4', RUN_SEED + 1);
      await checkGroups([256, 1000], 1, 128, 'quint4', RUN_SEED + 2);
      await checkGroups([96, 100], 0, 32, 'qint4', RUN_SEED + 3);
      for (const maxChunkElements of [8, 20, 100]) {
        await checkGroups([7, 45], 1, 32, 'qint4', RUN_SEED + maxChunkElements, { ...gpu, maxChunkElements });
        await checkGroups([7, 45], 1, 16, 'qint8', RUN_SEED + maxChunkElements, { ...gpu, maxChunkElements });
      }
    });
    await expectPoolEmpty();
    return `run seed ${RUN_SEED}`;
  },
  async '4-bit and per group past one slice of nibble packing and of the parameter table, ragged ends'() {
    await gpuScoped(async () => {
      // 2,129,920 elements: packed in two slices of 2^21 elements; 66,560 groups: quantize and dequantize rows in 5 slices.
      await checkGroups([1024, 2080], 1, 32, 'qint4', RUN_SEED + 5);
      // The general kernel's table (blocks of four rows): 25,242 groups, two slices, the last block half padding,
      // the last group of every row 17 long.
      await checkGroups([601, 1001], 1, 24, 'quint4', RUN_SEED + 6);
      // An odd length past one packing slice: the last byte holds one element, sent in a zero-padded word.
      const n = 2 ** 21 + 4099;
      const next = rng(RUN_SEED + 7);
      const q = fromIntRepr(Int8Array.from({ length: n }, () => Math.floor(next() * 16) - 8), [n], 'qint4', { scale: 0.37, zeroPoint: -3 });
      expectUlps((await dequantize(q, gpu)).data, reference.dequantize(q).data, 0, `qint4 per tensor n=${n} seed ${RUN_SEED + 7}: dequantize`);
    });
    await expectPoolEmpty();
    return `run seed ${RUN_SEED}`;
  },
};
