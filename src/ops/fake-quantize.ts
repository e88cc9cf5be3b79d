/**
 * Fake quantization, as PyTorch's `torch.fake_quantize_per_tensor_affine` and
 * `torch.fake_quantize_per_channel_affine`: the float32 result of quantizing to [quantMin, quantMax] and
 * dequantizing straight back, so a model can be evaluated with quantization error but float weights.
 *
 * @example
 * ```ts
 * import { fakeQuantizePerTensorAffine, tensor } from 'webgpu-quant';
 * (await fakeQuantizePerTensorAffine(tensor([0.26, 9]), 0.5, 0, 0, 15)).data; // Float32Array [0.5, 7.5]
 * ```
 * @module
 */
import { type OpOptions, selectManager } from './backend.js';
import { dtypeInfo } from '../dtype.js';
import { fakeQuantizeKernel } from '../kernels/elementwise/quantize-kernel.js';
import type { QParams } from '../qtensor.js';
import { fakeQuantPerChannelParams, fakeQuantPerTensorParams, fakeQuantizeWithParams } from '../reference/fake-quantize.js';
import type { Tensor } from '../tensor.js';

async function run(input: Tensor, params: QParams, quantMin: number, quantMax: number, options?: OpOptions): Promise<Tensor> {
  const manager = await selectManager(options);
  if (!manager) return fakeQuantizeWithParams(input, params, quantMin, quantMax);
  // The dtype only names the kernel variant: fake quantization writes floats, clamped to the given range.
  const data = await fakeQuantizeKernel(manager, input, dtypeInfo('qint32'), params, { qmin: quantMin, qmax: quantMax }, options ?? {});
  return { data, shape: [...input.shape], backend: 'webgpu' };
}

/**
 * Fake-quantizes with one scale and zero point:
 * `q = clamp(fround(fround(zp) + roundHalfEven(fround(x * fround(1 / fround(scale))))), quantMin, quantMax)`,
 * `y = fround((q - zp) * fround(scale))`. NaN gives quantMin's value, ±Infinity saturate.
 * A zero point outside [quantMin, quantMax] is an error.
 *
 * @example
 * ```ts
 * (await fakeQuantizePerTensorAffine(tensor([-1.52, 0.01, 1.501, 3.0001]), 0.5, 0, -128, 127)).data;
 * // Float32Array [-1.5, 0, 1.5, 3]
 * ```
 */
export async function fakeQuantizePerTensorAffine(
  x: Tensor, scale: number, zeroPoint: number, quantMin: number, quantMax: number, options?: OpOptions,
): Promise<Tensor> {
  return run(x, fakeQuantPerTensorParams(x, scale, zeroPoint, quantMin, quantMax), quantMin, quantMax, options);
}

/**
 * Fake-quantizes with one scale and zero point per index along `axis` (negative counts from the end).
 *
 * @example
 * ```ts
 * const w = tensor([0.3, -0.3, 30, -30], [2, 2]);
 * (await fakeQuantizePerChannelAffine(w, [0.1, 10], [0, 0], 0, -8, 7)).data; // Float32Array [0.3, -0.3, 30, -30]
 * ```
 */
export async function fakeQuantizePerChannelAffine(
  x: Tensor, scales: ArrayLike<number>, zeroPoints: ArrayLike<number>, axis: number, quantMin: number, quantMax: number,
  options?: OpOptions,
): Promise<Tensor> {
  return run(x, fakeQuantPerChannelParams(x, scales, zeroPoints, axis, quantMin, quantMax), quantMin, quantMax, options);
}
