/**
 * The CPU reference for dequantization, matching PyTorch's CPU results bit for bit.
 * @module
 */
import { channelLayout } from '../layout.js';
import { QTensor } from '../qtensor.js';
import { type Tensor } from '../tensor.js';
import { InvalidArgumentError } from '../errors.js';

/**
 * CPU reference of `dequantize`. Per tensor: `fround(fround(int32(q - zp)) * fround(scale))` (the int32
 * subtraction wraps, as in PyTorch). Per channel, as PyTorch does it: the difference in float32,
 * `d = fround(fround(q) - fround(zp))` (so it does not wrap), then `fround(d * scale)` with the float64 scale:
 * one rounding of the exact product whenever the scale is a float32 value.
 *
 * @example
 * ```ts
 * const q = fromIntRepr([-3, 0, 3, 6], [4], 'qint8', { scale: 0.5, zeroPoint: 0 });
 * reference.dequantize(q).data; // Float32Array [-1.5, 0, 1.5, 3]
 * ```
 */
export function dequantize(q: QTensor): Tensor {
  if (!(q instanceof QTensor)) {
    throw new InvalidArgumentError('q', q, 'q must be a QTensor from quantizePerTensor, quantizePerChannel or fromIntRepr');
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
    const { outer, channels, inner } = channelLayout(q.shape, params.axis);
    let i = 0;
    for (let o = 0; o < outer; o++) {
      for (let c = 0; c < channels; c++) {
        const scale = params.scales[c]!;
        const zeroPoint32 = Math.fround(params.zeroPoints[c]!);
        for (let k = 0; k < inner; k++, i++) {
          out[i] = Math.fround(Math.fround(Math.fround(values[i]!) - zeroPoint32) * scale);
        }
      }
    }
  }
  return { data: out, shape: [...q.shape], backend: 'cpu' };
}
