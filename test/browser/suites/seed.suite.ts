// The seed notebook's two examples, on the GPU, with PyTorch's printed integers and floats.
import { dequantize, quantizePerChannel, quantizePerTensor, tensor } from 'webgpu-quant';
import { type BrowserTest, expectExact, expectPoolEmpty, gpuScoped } from './support.js';

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
      expectExact(x.data, Float32Array.from([-0.1, 0, 0.1, 0.2, -64, -50, 0, 50, -76.8, -60, 19.8, 40.2, -5, -2.5, 2.5, 5, 0, 0, 0, 0]), 'dequantize');
    });
    await expectPoolEmpty();
  },
};
