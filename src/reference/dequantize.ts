/**
 * The CPU reference for dequantization, matching PyTorch's CPU results bit for bit.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { QTensor } from '../qtensor.js';
import type { Tensor } from '../tensor.js';
import { forEachParam } from './quantize.js';

/**
 * CPU reference of `dequantize`.
 * - Per tensor: `fround(fround(int32(q - zp)) * fround(scale))` (the int32 subtraction wraps, as in PyTorch).
 * - Per channel, as PyTorch does it: the difference in float32, `d = fround(fround(q) - fround(zp))` (so it
 *   does not wrap), then `fround(d * scale)` with the float64 scale: one rounding of the exact product
 *   whenever the scale is a float32 value.
 * - Per group (no PyTorch equivalent; ONNX DequantizeLinear, float32 scales): `fround(d * fround(scale))`.
 *
 * @example
 * ```ts
 * const q = fromIntRepr([-3, 0, 3, 6], [4], 'qint8', { scale: 0.5, zeroPoint: 0 });
 * reference.dequantize(q).data; // Float32Array [-1.5, 0, 1.5, 3]
 * ```
 */
export function dequantize(q: QTensor): Tensor {
  if (!(q instanceof QTensor)) {
    throw new InvalidArgumentError('q', q, 'q must be a QTensor from quantizePerTensor, quantizePerChannel, quantizePerGroup or fromIntRepr');
  }
  const values = q.intReprView();
  const out = new Float32Array(values.length);
  const params = q.params;
  if (params.scheme === 'per_tensor_affine') {
    const scale32 = Math.fround(params.scale);
    for (let i = 0; i < values.length; i++) {
      out[i] = Math.fround(Math.fround((values[i]! - params.zeroPoint) | 0) * scale32);
    }
  } else {
    const float64Scales = params.scheme === 'per_channel_affine';
    const scales = float64Scales ? params.scales : Float32Array.from(params.scales);
    forEachParam(q.shape, params, (i, p) => {
      const difference = Math.fround(Math.fround(values[i]!) - Math.fround(params.zeroPoints[p]!));
      out[i] = Math.fround(difference * scales[p]!);
    });
  }
  return { data: out, shape: [...q.shape], backend: 'cpu' };
}
