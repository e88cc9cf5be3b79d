// Fake quantization on the GPU: PyTorch's fake_quantize_per_tensor_affine / per_channel_affine fixtures
// bit for bit (when the observer fixtures file has them), random data against the CPU reference, custom
// quant ranges, and the argument checks.
import { InvalidArgumentError, fakeQuantizePerChannelAffine, fakeQuantizePerTensorAffine, reference, tensor } from './imports.js';
import { type BrowserTest, type FixtureFloat, RUN_SEED, expectExact, expectPoolEmpty, expectReject, expectUlps, floats, gpuScoped, randomData } from './support.js';

const gpu = { backend: 'webgpu' } as const;

interface FakeQuantCase {
  name: string;
  op: 'fake_quantize_per_tensor_affine' | 'fake_quantize_per_channel_affine';
  shape: number[];
  input: FixtureFloat[];
  scale?: number;
  zero_point?: number;
  scales?: number[];
  zero_points?: number[];
  axis?: number;
  quant_min: number;
  quant_max: number;
  output: FixtureFloat[];
}

export const tests: Record<string, BrowserTest> = {
  async 'PyTorch fake-quant fixtures match on the GPU'() {
    const response = await fetch('/test/fixtures/torch-observers.json');
    if (!response.ok) throw new Error(`fixture fetch failed: ${response.status}`);
    const cases = ((await response.json()) as { fake_quant?: FakeQuantCase[] }).fake_quant ?? [];
    if (cases.length < 10) throw new Error(`only ${cases.length} fake-quant fixture cases`);
    await gpuScoped(async () => {
      for (const c of cases) {
        const x = tensor(floats(c.input), c.shape);
        const y = c.op === 'fake_quantize_per_tensor_affine'
          ? await fakeQuantizePerTensorAffine(x, c.scale!, c.zero_point!, c.quant_min, c.quant_max, gpu)
          : await fakeQuantizePerChannelAffine(x, c.scales!, c.zero_points!, c.axis!, c.quant_min, c.quant_max, gpu);
        expectUlps(y.data, Float32Array.from(floats(c.output)), 0, c.name);
      }
    });
    await expectPoolEmpty();
    return `${cases.length} cases`;
  },
  async 'random data and custom ranges: GPU equals the CPU reference'() {
    await gpuScoped(async () => {
      for (const [quantMin, quantMax, zp] of [[-128, 127, 0], [0, 255, 128], [0, 15, 8], [-8, 7, 0], [-3, 3, -1]] as const) {
        const x = tensor(randomData(1027, RUN_SEED + quantMax, 2, 0.25), [13, 79]);
        const y = await fakeQuantizePerTensorAffine(x, 0.25, zp, quantMin, quantMax, gpu);
        const expected = reference.fakeQuantizeWithParams(x, { scheme: 'per_tensor_affine', scale: 0.25, zeroPoint: zp }, quantMin, quantMax);
        expectUlps(y.data, expected.data, 0, `per tensor [${quantMin}, ${quantMax}]`);
        const scales = Array.from({ length: 79 }, (_, c) => Math.fround(0.05 + c / 100));
        const zeroPoints = new Array(79).fill(zp);
        const yc = await fakeQuantizePerChannelAffine(x, scales, zeroPoints, -1, quantMin, quantMax, gpu);
        const expectedChannel = reference.fakeQuantizeWithParams(x,
          { scheme: 'per_channel_affine', scales: Float64Array.from(scales), zeroPoints: Int32Array.from(zeroPoints), axis: 1 }, quantMin, quantMax);
        expectUlps(yc.data, expectedChannel.data, 0, `per channel [${quantMin}, ${quantMax}]`);
      }
      const special = await fakeQuantizePerTensorAffine(tensor([NaN, Infinity, -Infinity, -0, 0.25, 0.75]), 0.5, 0, 0, 15, gpu);
      expectExact(special.data, [0, 7.5, 0, 0, 0, 1], 'NaN -> quantMin, ±Infinity saturate, ties to even (0.5 -> 0, 1.5 -> 2)');
    });
    await expectPoolEmpty();
    return `run seed ${RUN_SEED}`;
  },
  async 'bad ranges and zero points are rejected'() {
    const x = tensor([1, 2]);
    await expectReject(() => fakeQuantizePerTensorAffine(x, 1, 16, 0, 15, gpu), InvalidArgumentError, /zeroPoint is 16.*\[0, 15\]/);
    await expectReject(() => fakeQuantizePerTensorAffine(x, 1, 0, 5, 5, gpu), InvalidArgumentError, /quantMin 5 must be less than quantMax 5/);
    await expectReject(() => fakeQuantizePerTensorAffine(x, 1, 0, 0.5, 5, gpu), InvalidArgumentError, /quantMin is 0.5/);
    await expectReject(() => fakeQuantizePerChannelAffine(x, [1, 1], [0, -1], 0, 0, 15, gpu), InvalidArgumentError, /zeroPoints\[1\] is -1/);
    await expectReject(() => fakeQuantizePerTensorAffine(x, -1, 0, 0, 15, gpu), InvalidArgumentError, /scale is -1/);
  },
};
