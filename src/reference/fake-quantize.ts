/**
 * CPU reference of fake quantization (PyTorch's `fake_quantize_per_tensor_affine` /
 * `fake_quantize_per_channel_affine`): quantize with the usual numerics, clamp to [quantMin, quantMax],
 * and map back with the float32 scale.
 * @module
 */
import { type QParams } from '../qtensor.js';
import { type Tensor } from '../tensor.js';
import { checkScale } from '../validate.js';
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
