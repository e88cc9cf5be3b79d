// The seed notebook's two examples, on the GPU, with PyTorch's printed integers and floats.
import { dequantize, quantizePerChannel, quantizePerTensor, reference, tensor } from './imports.js';
import { type BrowserTest, dequantizeWithFloat32Scales, expectExact, expectPoolEmpty, expectUlps, gpuScoped } from './support.js';

export const tests: Record<string, BrowserTest> = {
  async 'per-tensor seed example'() {
    await gpuScoped(async () => {
      const q = await quantizePerTensor(tensor([-1.52, 0.01, 1.501, 3.0001]), 0.5, 0, 'qint8', { backend: 'webgpu' });
      if (q.backend !== 'webgpu') throw new Error(`ran on ${q.backend}`);
      expectExact(q.intRepr(), [-3, 0, 3, 6], 'intRepr');
      const x = await dequantize(q, { backend: 'webgpu' });
      expectExact(x.data, [-1.5, 0, 1.5, 3], 'dequantize');
      if (x.backend !== 'webgpu') throw new Error(`dequantize ran on ${x.backend}`);
    });
    await expectPoolEmpty();
  },
  async 'per-channel seed example'() {
    await gpuScoped(async () => {
      const w = tensor([-0.1, 0, 0.1, 0.2, -100, -50, 0, 50, -110, -60, 20, 40, -5, -2.5, 2.5, 5, 0, 0, 0, 0], [5, 4]);
      const q = await quantizePerChannel(w, [0.002, 0.5, 0.6, 0.05, 1.0], [0, 0, 0, 0, 0], 0, 'qint8', { backend: 'webgpu' });
      expectExact(q.intRepr(), [-50, 0, 50, 100, -128, -100, 0, 100, -128, -100, 33, 67, -100, -50, 50, 100, 0, 0, 0, 0], 'intRepr');
      expectExact(q.qPerChannelScales(), [0.002, 0.5, 0.6, 0.05, 1.0], 'scales');
      expectExact(q.qPerChannelZeroPoints(), [0, 0, 0, 0, 0], 'zero points');
      if (q.qPerChannelAxis() !== 0) throw new Error('axis');
      const x = await dequantize(q, { backend: 'webgpu' });
      // The GPU multiplies by the float32 scale: fround(0.6) * -100 = -60.0000038, the value (and the
      // 3.8147e-06 error) the seed notebook printed; PyTorch 1.13 on Debian uses the float64 0.6 and gets -60.
      expectExact(x.data, dequantizeWithFloat32Scales(q.intRepr(), [0.002, 0.5, 0.6, 0.05, 1.0], [0, 0, 0, 0, 0], 1, 4), 'dequantize');
      expectExact(x.data.subarray(8, 11), Float32Array.of(-76.80000305175781, -60.000003814697266, 19.80000114440918), 'row 2');
      expectUlps(x.data, reference.dequantize(q).data, 1, 'dequantize vs the float64-scale reference');
    });
    await expectPoolEmpty();
  },
};
