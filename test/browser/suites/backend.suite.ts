// Backend selection and argument checks on the GPU path: 'cpu' never touches the GPU, 'auto' picks
// WebGPU here, bad arguments are rejected before any GPU work with the same typed errors as the CPU path;
// and the shift-based 8-bit unpacking used where the adapter lacks packed_4x8_integer_dot_product.
import {
  InvalidArgumentError, QTensor, dequantize, getDefaultManager, managerForDevice, quantizePerChannel, quantizePerGroup, quantizePerTensor,
  reference, tensor,
} from './imports.js';
import { type BrowserTest, RUN_SEED, expectExact, expectPoolEmpty, expectReject, expectUlps, rng } from './support.js';

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

/** Quantizes and dequantizes 8-bit tensors on `device` in every kernel family, against the CPU reference. */
async function eightBitRoundTrips(device: GPUDevice, seed: number): Promise<void> {
  const options = { device };
  const random = rng(seed);
  const x = tensor(Float32Array.from({ length: 48 * 40 }, () => (random() - 0.5) * 300), [48, 40]);
  for (const dtype of ['qint8', 'quint8'] as const) {
    const zp = dtype === 'qint8' ? -3 : 130;
    const cases: [string, QTensor][] = [
      ['per tensor', await quantizePerTensor(x, 0.7, zp, dtype, options)],
      // Axis 1 with 40 channels (not a multiple of 16): the general grouped kernel; axis 0 (inner 40): too.
      ['axis 1', await quantizePerChannel(x, Array.from({ length: 40 }, (_, c) => 0.5 + c / 16), new Array(40).fill(zp), 1, dtype, options)],
      // Groups of 16 along the last axis of [48, 32]: the stationary kind-3 kernel.
      ['groups of 16', await quantizePerGroup(tensor(x.data.subarray(0, 48 * 32), [48, 32]), Array.from({ length: 96 }, (_, g) => 0.4 + g / 64),
        new Array(96).fill(zp), 1, 16, dtype, options)],
    ];
    for (const [what, q] of cases) {
      if (q.backend !== 'webgpu') throw new Error(`${dtype} ${what}: ran on ${q.backend}`);
      expectUlps((await dequantize(q, options)).data, reference.dequantize(q).data, 0, `${dtype} ${what}: dequantize`);
    }
  }
}

tests['8-bit unpacking without packed_4x8_integer_dot_product (the shift fallback) gives the same bits'] = async () => {
  const gpu = navigator.gpu as GPU & { wgslLanguageFeatures: ReadonlySet<string> };
  if (!gpu.wgslLanguageFeatures.has('packed_4x8_integer_dot_product')) throw new Error('this adapter has no packed4x8: the built-in path is the untested one');
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new Error('no adapter');
  // A caller's device, wrapped while navigator.gpu hides the feature: its manager compiles the shift helpers.
  const device = await adapter.requestDevice({ label: 'test.noPacked4x8' });
  Object.defineProperty(gpu, 'wgslLanguageFeatures', { value: new Set<string>(), configurable: true });
  try {
    if (managerForDevice(device).features.packed4x8) throw new Error('the manager still sees packed4x8');
  } finally {
    delete (gpu as unknown as Record<string, unknown>).wgslLanguageFeatures; // the prototype's getter again
  }
  try {
    await eightBitRoundTrips(device, RUN_SEED + 17);
    const labels = managerForDevice(device).pipelines.built().map((p) => p.label);
    if (!labels.some((l) => l.startsWith('dequantize|') && l.endsWith('|packShift'))) throw new Error(`no packShift pipeline: ${labels.join(', ')}`);
  } finally {
    managerForDevice(device).destroy();
    device.destroy();
  }
  // And the default device (built-ins) on the same data.
  await eightBitRoundTrips((await getDefaultManager()).device, RUN_SEED + 17);
  await expectPoolEmpty();
  return `run seed ${RUN_SEED}`;
};
