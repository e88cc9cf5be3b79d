/**
 * The CPU reference for quantization: the PyTorch CPU numerics, step by step in float32, written to be
 * obviously right rather than fast. Every GPU result is checked against it.
 * @module
 */
import { type QDType, dtypeInfo } from '../dtype.js';
import { channelLayout } from '../layout.js';
import { QTensor } from '../qtensor.js';
import { type Tensor, checkTensor } from '../tensor.js';
import { checkChannelParams, checkScale, checkZeroPoint, normalizeAxis } from '../validate.js';
import { roundHalfEven } from './round.js';

/**
 * Quantizes one value: `clamp(fround(fround(zp) + roundHalfEven(fround(x * inverseScale))), qmin, qmax)`.
 * NaN gives qmin, +Infinity qmax, -Infinity qmin; `inverseScale` is `fround(1 / fround(scale))`.
 *
 * @example
 * ```ts
 * quantizeValue(1.501, 2, 0, -128, 127); // 3
 * quantizeValue(NaN, 2, 0, -128, 127);   // -128
 * ```
 */
export function quantizeValue(x: number, inverseScale: number, zeroPoint: number, qmin: number, qmax: number): number {
  if (Number.isNaN(x)) return qmin;
  const rounded = roundHalfEven(Math.fround(x * inverseScale));
  const shifted = Math.fround(Math.fround(zeroPoint) + rounded);
  return shifted < qmin ? qmin : shifted > qmax ? qmax : shifted;
}

/**
 * CPU reference of `quantizePerTensor`: same signature, synchronous.
 *
 * @example
 * ```ts
 * import { reference, tensor } from 'webgpu-quant';
 * reference.quantizePerTensor(tensor([-1.52, 0.01, 1.501, 3.0001]), 0.5, 0, 'qint8').intRepr(); // [-3, 0, 3, 6]
 * ```
 */
export function quantizePerTensor(input: Tensor, scale: number, zeroPoint: number, dtype: QDType): QTensor {
  const info = dtypeInfo(dtype);
  const size = checkTensor(input);
  const inverseScale = checkScale(scale);
  checkZeroPoint(zeroPoint, info);
  const values = info.makeArray(size);
  for (let i = 0; i < size; i++) {
    values[i] = quantizeValue(input.data[i]!, inverseScale, zeroPoint, info.qmin, info.qmax);
  }
  return new QTensor(values, input.shape, dtype, { scheme: 'per_tensor_affine', scale, zeroPoint: zeroPoint + 0 }, 'cpu');
}

/**
 * CPU reference of `quantizePerChannel`: same signature, synchronous. A negative axis counts from the end.
 *
 * @example
 * ```ts
 * const w = tensor([-0.1, 0, 0.1, 0.2, -100, -50, 0, 50], [2, 4]);
 * reference.quantizePerChannel(w, [0.002, 0.5], [0, 0], 0, 'qint8').intRepr();
 * // Int8Array [-50, 0, 50, 100, -128, -100, 0, 100]
 * ```
 */
export function quantizePerChannel(
  input: Tensor, scales: ArrayLike<number>, zeroPoints: ArrayLike<number>, axis: number, dtype: QDType,
): QTensor {
  const info = dtypeInfo(dtype);
  const size = checkTensor(input);
  const channelAxis = normalizeAxis(axis, input.shape.length);
  const { outer, channels, inner } = channelLayout(input.shape, channelAxis);
  const params = checkChannelParams(scales, zeroPoints, channels, info);
  const values = info.makeArray(size);
  let i = 0;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const inverseScale = params.inverseScales[c]!;
      const zeroPoint = params.zeroPoints[c]!;
      for (let k = 0; k < inner; k++, i++) {
        values[i] = quantizeValue(input.data[i]!, inverseScale, zeroPoint, info.qmin, info.qmax);
      }
    }
  }
  return new QTensor(values, input.shape, dtype, {
    scheme: 'per_channel_affine', scales: params.scales, zeroPoints: params.zeroPoints, axis: channelAxis,
  }, 'cpu');
}
