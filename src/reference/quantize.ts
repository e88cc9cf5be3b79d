/**
 * The CPU reference for quantization: the PyTorch CPU numerics, step by step in float32, written to be
 * obviously right rather than fast. Every GPU result is checked against it.
 * @module
 */
import { type DTypeInfo, type QDType, dtypeInfo } from '../dtype.js';
import { paramLayout } from '../layout.js';
import { type QParams, QTensor, checkQParams } from '../qtensor.js';
import { type Tensor, checkTensor } from '../tensor.js';
import { checkScale } from '../validate.js';
import { roundHalfEven } from '../round.js';

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
 * Calls `visit(i, p)` for every element index i in row-major order with the index p of its parameters,
 * for any scheme (the same formula the GPU kernels use, see `paramLayout`).
 *
 * @example
 * ```ts
 * forEachParam([2, 3], { scheme: 'per_channel_affine', axis: 1, ... }, (i, p) => ...); // p = i % 3
 * ```
 */
export function forEachParam(shape: readonly number[], params: QParams, visit: (i: number, p: number) => void): void {
  const layout = paramLayout(shape, params.scheme === 'per_tensor_affine' ? undefined : params);
  let i = 0;
  for (let o = 0; o < layout.outer; o++) {
    for (let a = 0; a < layout.channels; a++) {
      const base = o * layout.strideOuter + Math.floor(a / layout.groupSize) * layout.strideGroup;
      for (let k = 0; k < layout.inner; k++, i++) visit(i, base + k * layout.strideInner);
    }
  }
}

/** Quantizes with validated parameters, any scheme; `qmin`/`qmax` default to the dtype's range. */
export function quantizeWithParams(input: Tensor, params: QParams, info: DTypeInfo, qmin = info.qmin, qmax = info.qmax): QTensor {
  const values = info.makeArray(input.data.length);
  const perTensor = params.scheme === 'per_tensor_affine';
  const inverseScales = perTensor ? [checkScale(params.scale)] : Array.from(params.scales, (s) => checkScale(s));
  const zeroPoints = perTensor ? [params.zeroPoint] : params.zeroPoints;
  forEachParam(input.shape, params, (i, p) => {
    values[i] = quantizeValue(input.data[i]!, inverseScales[p]!, zeroPoints[p]!, qmin, qmax);
  });
  return new QTensor(values, input.shape, info.name, params, 'cpu');
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
  checkTensor(input);
  return quantizeWithParams(input, checkQParams(input.shape, dtype, { scale, zeroPoint }), dtypeInfo(dtype));
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
  checkTensor(input);
  return quantizeWithParams(input, checkQParams(input.shape, dtype, { scales, zeroPoints, axis }), dtypeInfo(dtype));
}

/**
 * CPU reference of `quantizePerGroup`: same signature, synchronous.
 *
 * @example
 * ```ts
 * const w = tensor([1, 2, 3, 4, 5, 6], [1, 6]);
 * reference.quantizePerGroup(w, [0.5, 1], [0, 0], 1, 4, 'qint4').intRepr(); // Int8Array [2, 4, 6, 7, 5, 6]
 * ```
 */
export function quantizePerGroup(
  input: Tensor, scales: ArrayLike<number>, zeroPoints: ArrayLike<number>, axis: number, groupSize: number, dtype: QDType,
): QTensor {
  checkTensor(input);
  return quantizeWithParams(input, checkQParams(input.shape, dtype, { scales, zeroPoints, axis, groupSize }), dtypeInfo(dtype));
}
