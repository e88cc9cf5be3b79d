// Backend selection and argument checks on the GPU path: 'cpu' never touches the GPU, 'auto' picks
// WebGPU here, bad arguments are rejected before any GPU work with the same typed errors as the CPU path.
import { InvalidArgumentError, QTensor, dequantize, getDefaultManager, quantizePerChannel, quantizePerTensor, tensor } from './imports.js';
import { type BrowserTest, expectExact, expectPoolEmpty, expectReject } from './support.js';

export const tests: Record<string, BrowserTest> = {
  async "backend 'cpu' runs the reference and 'auto' runs WebGPU"() {
    const x = tensor([-1.52, 0.01, 1.501, 3.0001]);
    const cpu = await quantizePerTensor(x, 0.5, 0, 'qint8', { backend: 'cpu' });
    const auto = await quantizePerTensor(x, 0.5, 0, 'qint8');
    if (cpu.backend !== 'cpu' || auto.backend !== 'webgpu') throw new Error(`backends ${cpu.backend}, ${auto.backend}`);
    expectExact(auto.intRepr(), cpu.intRepr(), 'auto vs cpu');
    const y = await dequantize(cpu);
    if (y.backend !== 'webgpu') throw new Error(`auto dequantize ran on ${y.backend}`);
  },
  async 'bad arguments are rejected before any GPU work'() {
    const manager = await getDefaultManager();
    const created = manager.stats().created;
    const gpu = { backend: 'webgpu' } as const;
    const x = tensor([1, 2, 3, 4], [2, 2]);
    await expectReject(() => quantizePerTensor(x, 0, 0, 'qint8', gpu), InvalidArgumentError, /scale is 0/);
    await expectReject(() => quantizePerTensor(x, NaN, 0, 'qint8', gpu), InvalidArgumentError, /scale is NaN/);
    await expectReject(() => quantizePerTensor(x, 1, 128, 'qint8', gpu), InvalidArgumentError, /zeroPoint is 128.*\[-128, 127\]/);
    await expectReject(() => quantizePerChannel(x, [1, 1], [0, 0], 2, 'qint8', gpu), InvalidArgumentError, /axis 2 is out of range/);
    await expectReject(() => quantizePerChannel(x, [1], [0], 0, 'qint8', gpu), InvalidArgumentError, /scales has 1 values.*size 2/);
    await expectReject(() => quantizePerChannel(x, [1, -1], [0, 0], 0, 'qint8', gpu), InvalidArgumentError, /scales\[1\] is -1/);
    await expectReject(() => quantizePerTensor({ data: new Float32Array(3), shape: [2, 2] }, 1, 0, 'qint8', gpu), InvalidArgumentError, /3 elements.*needs 4/);
    await expectReject(() => quantizePerTensor(x, 1, 0, 'qint8', { backend: 'gpu' as 'webgpu' }), InvalidArgumentError, /options.backend/);
    await expectReject(() => dequantize({} as QTensor, gpu), InvalidArgumentError, /must be a QTensor/);
    if (manager.stats().created !== created) throw new Error('rejected calls allocated GPU buffers');
    await expectPoolEmpty();
  },
};
