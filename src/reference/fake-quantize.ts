/**
 * CPU reference of fake quantization (PyTorch's `fake_quantize_per_tensor_affine` /
 * `fake_quantize_per_channel_affine`): quantize with the usual numerics, clamp to [quantMin, quantMax],
 * and map back with the float32 scale. Also the argument checks the GPU path shares.
 * @module
 */
import { dtypeInfo } from '../dtype.js';
import type { QParams } from '../qtensor.js';
import { type Tensor, checkTensor } from '../tensor.js';
import { checkChannelParams, checkQuantRange, checkScale, normalizeAxis } from '../validate.js';
import { forEachParam, quantizeValue } from './quantize.js';

/**
 * `q = clamp(fround(fround(zp) + roundHalfEven(fround(x * fround(1 / fround(scale))))), quantMin, quantMax)`,
 * `y = fround(fround(q - zp) * fround(scale))`. NaN gives quantMin (then its dequantized value).
 *
 * @example
 * ```ts
 * fakeQuantizeWithParams(tensor([0.26, 9]), { scheme: 'per_tensor_affine', scale: 0.5, zeroPoint: 0 }, 0, 15).data;
 * // Float32Array [0.5, 7.5]
 * ```
 */
export function fakeQuantizeWithParams(input: Tensor, params: QParams, quantMin: number, quantMax: number): Tensor {
  const out = new Float32Array(input.data.length);
  const perTensor = params.scheme === 'per_tensor_affine';
  const scales = perTensor ? [params.scale] : params.scales;
  const zeroPoints = perTensor ? [params.zeroPoint] : params.zeroPoints;
  const inverseScales = Array.from(scales, (s) => checkScale(s));
  forEachParam(input.shape, params, (i, p) => {
    const zeroPoint = Math.fround(zeroPoints[p]!);
    const q = quantizeValue(input.data[i]!, inverseScales[p]!, zeroPoint, quantMin, quantMax);
    out[i] = Math.fround(Math.fround(q - zeroPoint) * Math.fround(scales[p]!));
  });
  return { data: out, shape: [...input.shape], backend: 'cpu' };
}

/**
 * Validates per-tensor fake-quant arguments and returns them as parameters.
 *
 * @example
 * ```ts
 * fakeQuantPerTensorParams(x, 0.5, 0, 0, 15); // { scheme: 'per_tensor_affine', scale: 0.5, zeroPoint: 0 }
 * ```
 */
export function fakeQuantPerTensorParams(x: Tensor, scale: number, zeroPoint: number, quantMin: number, quantMax: number): QParams {
  checkTensor(x, 'x');
  checkScale(scale);
  checkQuantRange(quantMin, quantMax, [zeroPoint], () => 'zeroPoint');
  return { scheme: 'per_tensor_affine', scale, zeroPoint: zeroPoint + 0 };
}

/**
 * Validates per-channel fake-quant arguments and returns them as parameters.
 *
 * @example
 * ```ts
 * fakeQuantPerChannelParams(w, [0.1, 10], [0, 0], 0, -8, 7); // { scheme: 'per_channel_affine', ... }
 * ```
 */
export function fakeQuantPerChannelParams(
  x: Tensor, scales: ArrayLike<number>, zeroPoints: ArrayLike<number>, axis: number, quantMin: number, quantMax: number,
): QParams {
  checkTensor(x, 'x');
  const channelAxis = normalizeAxis(axis, x.shape.length);
  const checked = checkChannelParams(scales, zeroPoints, x.shape[channelAxis]!, dtypeInfo('qint32'));
  checkQuantRange(quantMin, quantMax, checked.zeroPoints, (i) => `zeroPoints[${i}]`);
  return { scheme: 'per_channel_affine', scales: checked.scales, zeroPoints: checked.zeroPoints, axis: channelAxis };
}

/**
 * CPU reference of `fakeQuantizePerTensorAffine`: same signature, synchronous.
 *
 * @example
 * ```ts
 * reference.fakeQuantizePerTensorAffine(tensor([0.26, 9]), 0.5, 0, 0, 15).data; // Float32Array [0.5, 7.5]
 * ```
 */
export function fakeQuantizePerTensorAffine(x: Tensor, scale: number, zeroPoint: number, quantMin: number, quantMax: number): Tensor {
  return fakeQuantizeWithParams(x, fakeQuantPerTensorParams(x, scale, zeroPoint, quantMin, quantMax), quantMin, quantMax);
}

/**
 * CPU reference of `fakeQuantizePerChannelAffine`: same signature, synchronous.
 *
 * @example
 * ```ts
 * reference.fakeQuantizePerChannelAffine(tensor([0.3, 30], [2, 1]), [0.1, 10], [0, 0], 0, -8, 7).data; // [0.3, 30]
 * ```
 */
export function fakeQuantizePerChannelAffine(
  x: Tensor, scales: ArrayLike<number>, zeroPoints: ArrayLike<number>, axis: number, quantMin: number, quantMax: number,
): Tensor {
  return fakeQuantizeWithParams(x, fakeQuantPerChannelParams(x, scales, zeroPoints, axis, quantMin, quantMax), quantMin, quantMax);
}
