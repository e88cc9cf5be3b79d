/**
 * Quantize and dequantize on the CPU with WebAssembly SIMD, bit for bit as the reference
 * (src/reference/quantize.ts, dequantize.ts); see simd-kernels.wat for why the arithmetic is the same.
 * 8-bit and 4-bit dtypes (4-bit values are stored one per element, like the reference); qint32, per-channel
 * dequantize with scales that are not float32 values, tensors beyond the scratch limit, and engines without
 * SIMD run on the reference.
 *
 * @example
 * ```ts
 * const q = cpuQuantize(tensor([-1.52, 0.01, 1.501, 3.0001]), { scheme: 'per_tensor_affine', scale: 0.5, zeroPoint: 0 }, dtypeInfo('qint8'));
 * q.intRepr(); // Int8Array [-3, 0, 3, 6]
 * ```
 * @module
 */
import { type DTypeInfo, dtypeInfo } from '../../dtype.js';
import { paramLayout } from '../../layout.js';
import { type QParams, QTensor } from '../../qtensor.js';
import { dequantize as referenceDequantize } from '../../reference/dequantize.js';
import { quantizeWithParams } from '../../reference/quantize.js';
import type { Tensor } from '../../tensor.js';
import { checkScale } from '../../validate.js';
import { simdKernels } from './simd-module.js';

function layoutOf(shape: readonly number[], params: QParams) {
  return paramLayout(shape, params.scheme === 'per_tensor_affine' ? undefined : params);
}

/**
 * Quantizes with validated parameters on the CPU: the SIMD kernel where it applies, else the reference.
 * Same contract as `quantizeWithParams` with the dtype's full range.
 *
 * @example
 * ```ts
 * cpuQuantize(tensor([0.5, 1.5, 2.5]), { scheme: 'per_tensor_affine', scale: 1, zeroPoint: 0 }, dtypeInfo('qint8')).intRepr();
 * // Int8Array [0, 2, 2]
 * ```
 */
export function cpuQuantize(input: Tensor, params: QParams, info: DTypeInfo): QTensor {
  const kernels = info.bits === 32 || input.data.length === 0 ? undefined : simdKernels();
  const n = input.data.length;
  const count = params.scheme === 'per_tensor_affine' ? 1 : params.scales.length;
  const offsets = kernels?.reserve([4 * n, n, 4 * count, 4 * count]);
  if (!kernels || !offsets) return quantizeWithParams(input, params, info);
  const [src, dst, inverse, zero] = offsets as [number, number, number, number];
  const buffer = kernels.memory.buffer;
  new Float32Array(buffer, src, n).set(input.data);
  const inverseScales = new Float32Array(buffer, inverse, count);
  const zeroPoints = new Float32Array(buffer, zero, count);
  if (params.scheme === 'per_tensor_affine') {
    inverseScales[0] = checkScale(params.scale);
    zeroPoints[0] = params.zeroPoint;
  } else {
    for (let p = 0; p < count; p++) inverseScales[p] = checkScale(params.scales[p]!);
    zeroPoints.set(params.zeroPoints);
  }
  kernels.configure(src, dst, inverse, zero, info.qmin, info.qmax, 0);
  kernels.walk('quantizeRun', 'quantizeColumns', layoutOf(input.shape, params));
  const values = info.signed ? new Int8Array(buffer, dst, n).slice() : new Uint8Array(buffer, dst, n).slice();
  return new QTensor(values, input.shape, info.name, params, 'cpu');
}

/**
 * Dequantizes on the CPU: the SIMD kernel where it applies, else the reference. Same results as
 * `reference.dequantize`.
 *
 * @example
 * ```ts
 * cpuDequantize(fromIntRepr([-3, 0, 3, 6], [4], 'qint8', { scale: 0.5, zeroPoint: 0 })).data; // Float32Array [-1.5, 0, 1.5, 3]
 * ```
 */
export function cpuDequantize(q: QTensor): Tensor {
  const info = dtypeInfo(q.dtype);
  const params = q.params;
  const n = q.size;
  const count = params.scheme === 'per_tensor_affine' ? 1 : params.scales.length;
  let kernels = info.bits === 32 || n === 0 ? undefined : simdKernels();
  // Per channel the reference multiplies by the float64 scale: the same as the float32 product only when the
  // scale is a float32 value (then the exact product of a small integer and the scale fits a float64).
  if (params.scheme === 'per_channel_affine' && params.scales.some((s) => Math.fround(s) !== s)) kernels = undefined;
  const offsets = kernels?.reserve([n, 4 * n, 4 * count, 4 * count]);
  if (!kernels || !offsets) return referenceDequantize(q);
  const [src, dst, scale, zero] = offsets as [number, number, number, number];
  const buffer = kernels.memory.buffer;
  const values = q.intReprView();
  new Uint8Array(buffer, src, n).set(new Uint8Array(values.buffer, values.byteOffset, n));
  const scales = new Float32Array(buffer, scale, count);
  const zeroPoints = new Float32Array(buffer, zero, count);
  if (params.scheme === 'per_tensor_affine') {
    scales[0] = params.scale;
    zeroPoints[0] = params.zeroPoint;
  } else {
    scales.set(params.scales);
    zeroPoints.set(params.zeroPoints);
  }
  kernels.configure(src, dst, scale, zero, 0, 0, info.signed ? 24 : 0);
  kernels.walk('dequantizeRun', 'dequantizeColumns', layoutOf(q.shape, params));
  return { data: new Float32Array(buffer, dst, n).slice(), shape: [...q.shape], backend: 'cpu' };
}
