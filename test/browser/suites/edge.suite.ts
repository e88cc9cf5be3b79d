// Edge values on the GPU: ties, ±0, NaN, ±Infinity, values at and past the range, tiny and huge scales,
// zero points at the range edges, qint32 above 2^24 and the wrapping dequantize. Checked against the CPU
// reference and, where the contract names a value, against that value.
import { type QDType, QDTYPES, dequantize, dtypeInfo, fromIntRepr, quantizePerChannel, quantizePerTensor, reference, tensor } from './imports.js';
import { type BrowserTest, expectExact, expectPoolEmpty, expectUlps, gpuScoped } from './support.js';

const gpu = { backend: 'webgpu' } as const;

const kSpecial = [
  0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, 127.5, -127.5, -128.5, 254.5, 255.5, 0, -0, NaN, Infinity, -Infinity,
  127, 128, -128, -129, 255, 256, 1e6, -1e6, 3.4e38, -3.4e38, 1.17549435e-38, -1.17549435e-38, 2 ** 24 + 2, 2 ** 31, -(2 ** 31),
  1e10, -1e10, 0.49999997, -0.49999997, 1.4999999, 2.5000002,
  // Subnormal inputs (GPUs may flush them; the kernel must not).
  1e-40, -1e-40, 1.1e-38, -1.1e-38, 5.9e-39, 1.4e-45, -1.4e-45, 1.1754942e-38, -1.1754942e-38,
];

async function compare(values: number[], scale: number, zeroPoint: number, dtype: QDType): Promise<Int8Array | Uint8Array | Int32Array> {
  const x = tensor(values);
  const what = `${dtype} scale ${scale} zp ${zeroPoint}`;
  const q = await quantizePerTensor(x, scale, zeroPoint, dtype, gpu);
  const expected = reference.quantizePerTensor(x, scale, zeroPoint, dtype);
  expectExact(q.intRepr(), expected.intReprView(), `${what}: quantize`);
  expectUlps((await dequantize(q, gpu)).data, reference.dequantize(expected).data, 0, `${what}: dequantize`);
  // The same values through the per-channel kernel, one channel per value.
  const n = values.length;
  const qc = await quantizePerChannel(x, new Array(n).fill(scale), new Array(n).fill(zeroPoint), 0, dtype, gpu);
  expectExact(qc.intRepr(), expected.intReprView(), `${what}: per-channel quantize`);
  return q.intRepr();
}

export const tests: Record<string, BrowserTest> = {
  async 'special values, every dtype, zero points at the range edges'() {
    await gpuScoped(async () => {
      for (const dtype of QDTYPES) {
        const { qmin, qmax } = dtypeInfo(dtype);
        const middle = dtype === 'quint8' ? 128 : 0;
        for (const zeroPoint of [qmin, middle, qmax]) {
          // 2^-125 and 1.5 * 2^-126: either side of the subnormal path's threshold (inv_scale 2^125).
          for (const scale of [1, 0.5, 0.1, 1 / 3, 1e-6, 1e-30, 1.2e-38, 2 ** -126, 2 ** -125, 1.5 * 2 ** -126, 1e6, 1e30, 8.5e37]) {
            const q = await compare(kSpecial, scale, zeroPoint, dtype);
            // The contract's named values: NaN -> qmin, +Inf -> qmax, -Inf -> qmin, -0 and 0 -> zp.
            expectExact([q[14]!, q[15]!, q[16]!, q[12]!, q[13]!], [qmin, qmax, qmin, zeroPoint, zeroPoint], `${dtype} zp ${zeroPoint} scale ${scale}: named values`);
          }
        }
      }
    });
    await expectPoolEmpty();
  },
  async 'ties round half to even'() {
    await gpuScoped(async () => {
      const q = await quantizePerTensor(tensor([0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, -3.5]), 1, 0, 'qint8', gpu);
      expectExact(q.intRepr(), [0, 2, 2, 4, 0, -2, -2, -4], 'ties');
      const z = await quantizePerTensor(tensor([0.5]), 1, 1, 'qint8', gpu);
      expectExact(z.intRepr(), [1], 'x = 0.5, scale 1, zp 1');
    });
  },
  async 'reciprocal, not division: the PyTorch pins'() {
    await gpuScoped(async () => {
      const a = await quantizePerTensor(tensor([0.273939937]), Math.fround(0.00214854861), 0, 'qint32', gpu);
      expectExact(a.intRepr(), [128], 'fround(0.00214854861)');
      const b = await quantizePerTensor(tensor([5.6166672706604]), 1 / 30, 0, 'qint32', gpu);
      expectExact(b.intRepr(), [168], 'scale 1/30');
      const c = await quantizePerTensor(tensor([0]), 1, 16777217, 'qint32', gpu);
      expectExact(c.intRepr(), [16777216], 'the float32 zero-point add');
    });
  },
  async '-0 quantizes to the zero point and dequantizes to +0'() {
    await gpuScoped(async () => {
      for (const dtype of QDTYPES) {
        const zeroPoint = dtypeInfo(dtype).signed ? -3 : 7;
        const q = await quantizePerTensor(tensor([-0, 0]), 0.25, zeroPoint, dtype, gpu);
        expectExact(q.intRepr(), [zeroPoint, zeroPoint], `${dtype} quantize`);
        expectExact((await dequantize(q, gpu)).data, [0, 0], `${dtype} dequantize gives +0`);
      }
    });
  },
  async 'qint32 dequantize: wrapping subtraction and values above 2^24'() {
    await gpuScoped(async () => {
      const values = [-2147483648, 2147483647, 16777217, 16777219, -16777219, 2147483520, 123456789, -987654321, 0];
      for (const zeroPoint of [1, -1, 0, 2147483647, -2147483648, 16777217]) {
        const q = fromIntRepr(values, [values.length], 'qint32', { scale: 1, zeroPoint });
        expectUlps((await dequantize(q, gpu)).data, reference.dequantize(q).data, 0, `qint32 zp ${zeroPoint}`);
        const qc = fromIntRepr(values, [values.length], 'qint32', { scales: new Array(values.length).fill(0.5), zeroPoints: new Array(values.length).fill(zeroPoint), axis: 0 });
        expectUlps((await dequantize(qc, gpu)).data, reference.dequantize(qc).data, 0, `qint32 per-channel zp ${zeroPoint}`);
      }
      const wrap = fromIntRepr([-2147483648], [1], 'qint32', { scale: 1, zeroPoint: 1 });
      expectExact((await dequantize(wrap, gpu)).data, [2147483648], 'int32(q - zp) wraps as in PyTorch');
    });
    await expectPoolEmpty();
  },
  async 'empty tensors of every rank'() {
    await gpuScoped(async () => {
      for (const shape of [[0], [0, 4], [3, 0, 2]]) {
        const q = await quantizePerTensor(tensor([], shape), 1, 0, 'qint8', gpu);
        if (q.intRepr().length !== 0 || q.shape.join() !== shape.join()) throw new Error(`shape ${shape}`);
        const x = await dequantize(q, gpu);
        if (x.data.length !== 0 || x.shape.join() !== shape.join()) throw new Error(`dequantize shape ${shape}`);
      }
      const qc = await quantizePerChannel(tensor([], [3, 0]), [1, 2, 3], [0, 0, 0], 0, 'quint8', gpu);
      if (qc.intRepr().length !== 0) throw new Error('per-channel empty');
    });
    await expectPoolEmpty();
  },
};
