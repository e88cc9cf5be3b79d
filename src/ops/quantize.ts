/**
 * The public quantize operations: validate once, then run on the backend the options select.
 *
 * @example
 * ```ts
 * import { tensor, quantizePerTensor, quantizePerChannel } from 'webgpu-quant';
 * const q = await quantizePerTensor(tensor([-1.52, 0.01, 1.501, 3.0001]), 0.5, 0, 'qint8');
 * q.intRepr(); // Int8Array [-3, 0, 3, 6]
 * ```
 * @module
 */
import { type QuantizeOptions, managerForInput } from './gpu-io.js';
import { type QDType, dtypeInfo } from '../dtype.js';
import { quantizeToDevice } from '../kernels/elementwise/gpu-resident.js';
import { quantizeKernel } from '../kernels/elementwise/quantize-kernel.js';
import { type QParams, QTensor, checkQParams } from '../qtensor.js';
import { cpuQuantize } from '../kernels/cpu/cpu-quantize.js';
import { type GpuTensor, type Tensor, checkTensor, isGpuTensor } from '../tensor.js';

export type { QuantizeOptions };

/** Validates, picks the backend and runs (a CPU Tensor without a GPU: the CPU kernels). */
async function quantizeWith(
  input: Tensor | GpuTensor, dtype: QDType, checkParams: () => QParams, options: QuantizeOptions | undefined,
): Promise<QTensor> {
  if (!isGpuTensor(input)) checkTensor(input);
  const params = checkParams();
  const manager = await managerForInput(input, options);
  if (!manager) return cpuQuantize(input as Tensor, params, dtypeInfo(dtype));
  const info = dtypeInfo(dtype);
  const values = options?.output === 'gpu'
    ? await quantizeToDevice(manager, input, info, params, options)
    : await quantizeKernel(manager, input, info, params, options ?? {});
  return new QTensor(values, input.shape, dtype, params, 'webgpu');
}

/**
 * Quantizes with one scale and zero point: `q = clamp(zp + roundHalfEven(x * fround(1 / fround(scale))),
 * qmin, qmax)`, bit for bit as PyTorch's `torch.quantize_per_tensor` on CPU. NaN gives qmin, ±Infinity
 * saturate. Rejects non-positive or non-finite scales and zero points outside the dtype's range.
 *
 * @example
 * ```ts
 * const q = await quantizePerTensor(tensor([-1.52, 0.01, 1.501, 3.0001]), 0.5, 0, 'qint8');
 * q.intRepr();  // Int8Array [-3, 0, 3, 6]
 * q.backend;    // 'webgpu' or 'cpu'
 * ```
 */
export async function quantizePerTensor(
  input: Tensor | GpuTensor, scale: number, zeroPoint: number, dtype: QDType, options?: QuantizeOptions,
): Promise<QTensor> {
  return quantizeWith(input, dtype, () => checkQParams(input.shape, dtype, { scale, zeroPoint }), options);
}

/**
 * Quantizes with one scale and zero point per index along `axis` (negative counts from the end; PyTorch
 * rejects negative axes). Same numerics as {@link quantizePerTensor} with each channel's parameters;
 * float64 scales are rounded to float32 first, as in PyTorch.
 *
 * @example
 * ```ts
 * const w = tensor([-0.1, 0, 0.1, 0.2, -100, -50, 0, 50], [2, 4]);
 * const q = await quantizePerChannel(w, [0.002, 0.5], [0, 0], 0, 'qint8');
 * q.intRepr(); // Int8Array [-50, 0, 50, 100, -128, -100, 0, 100]
 * ```
 */
export async function quantizePerChannel(
  input: Tensor | GpuTensor, scales: ArrayLike<number>, zeroPoints: ArrayLike<number>, axis: number, dtype: QDType,
  options?: QuantizeOptions,
): Promise<QTensor> {
  return quantizeWith(input, dtype, () => checkQParams(input.shape, dtype, { scales, zeroPoints, axis }), options);
}

/**
 * Quantizes with one scale and zero point per group of `groupSize` consecutive indices along `axis` (ONNX
 * QuantizeLinear opset 21 `block_size` semantics): `scales` and `zeroPoints` have the input's shape with the
 * axis dimension n replaced by `ceil(n / groupSize)`, flattened row-major; the last group may be short.
 * Same numerics as {@link quantizePerTensor}. Typical use: int4 with groups of 32/64/128 along the
 * input-feature axis of an `[out, in]` weight.
 *
 * @example
 * ```ts
 * const w = tensor([1, 2, 3, 4, 5, 6], [1, 6]);
 * const q = await quantizePerGroup(w, [0.5, 1], [0, 0], 1, 4, 'qint4');
 * q.intRepr();    // Int8Array [2, 4, 6, 7, 5, 6]
 * q.packedData(); // Uint8Array [0x42, 0x76, 0x65]
 * q.qGroupSize(); // 4
 * ```
 */
export async function quantizePerGroup(
  input: Tensor | GpuTensor, scales: ArrayLike<number>, zeroPoints: ArrayLike<number>, axis: number, groupSize: number, dtype: QDType,
  options?: QuantizeOptions,
): Promise<QTensor> {
  return quantizeWith(input, dtype, () => checkQParams(input.shape, dtype, { scales, zeroPoints, axis, groupSize }), options);
}
