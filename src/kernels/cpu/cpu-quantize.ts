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
import { simdKernels, walkPieces } from './simd-module.js';

function layoutOf(shape: readonly number[], params: QParams) {
  return paramLayout(shape, params.scheme === 'per_tensor_affine' ? undefined : params);
}

/**
 * Quantizes with validated parameters on the CPU: the SIMD kernel where it applies, else the reference.
 * Same contract as `quantizeWithParams` with the dtype's full range. With `out` (8- and 4-bit dtypes, the SIMD
 * path), the integers are written into its bytes from `outOffset` on (its first bytes by default) and the QTensor
 * views them: the caller reuses `out` only once it is done with that QTensor.
 *
 * @example
 * ```ts
 * cpuQuantize(tensor([0.5, 1.5, 2.5]), { scheme: 'per_tensor_affine', scale: 1, zeroPoint: 0 }, dtypeInfo('qint8')).intRepr();
 * // Int8Array [0, 2, 2]
 * ```
 */
export function cpuQuantize(input: Tensor, params: QParams, info: DTypeInfo, out?: ArrayBuffer, outOffset = 0): QTensor {
  const kernels = info.bits === 32 || input.data.length === 0 ? undefined : simdKernels();
  const n = input.data.length;
  const count = params.scheme === 'per_tensor_affine' ? 1 : params.scales.length;
  const pieces = kernels ? walkPieces(layoutOf(input.shape, params)) : [];
  const largest = pieces.reduce((m, piece) => Math.max(m, piece.count), 0);
  const at = kernels?.heldOffset(input.data); // a held array is read in place
  const offsets = kernels?.reserve([4 * count, 4 * count, at === undefined ? 4 * largest : 0, largest], [2, 3]);
  if (!kernels || !offsets) return quantizeWithParams(input, params, info);
  const [inverse, zero, scratch, dst] = offsets as [number, number, number, number];
  const buffer = kernels.memory.buffer;
  const inverseScales = new Float32Array(buffer, inverse, count);
  const zeroPoints = new Float32Array(buffer, zero, count);
  if (params.scheme === 'per_tensor_affine') {
    inverseScales[0] = checkScale(params.scale);
    zeroPoints[0] = params.zeroPoint;
  } else {
    for (let p = 0; p < count; p++) inverseScales[p] = checkScale(params.scales[p]!);
    zeroPoints.set(params.zeroPoints);
  }
  // Into `out` when it is given and large enough: memory already touched, where a fresh array costs page faults.
  const given = out && out.byteLength - outOffset >= n;
  const into = given ? out : new ArrayBuffer(n);
  const intoAt = given ? outOffset : 0;
  const values = info.signed ? new Int8Array(into, intoAt, n) : new Uint8Array(into, intoAt, n);
  const bytes = new Uint8Array(into, intoAt, n);
  const source = at === undefined ? new Float32Array(buffer, scratch, largest) : undefined;
  const result = new Uint8Array(buffer, dst, largest);
  for (const piece of pieces) {
    source?.set(input.data.subarray(piece.first, piece.first + piece.count));
    const src = at === undefined ? scratch : at + 4 * piece.first;
    kernels.configure(src, dst, inverse + 4 * piece.paramBase, zero + 4 * piece.paramBase, info.qmin, info.qmax, 0);
    kernels.walk('quantizeRun', 'quantizeColumns', piece.layout);
    bytes.set(result.subarray(0, piece.count), piece.first);
  }
  return new QTensor(values, input.shape, info.name, params, 'cpu');
}

/**
 * Dequantizes on the CPU: the SIMD kernel where it applies, else the reference. Same results as
 * `reference.dequantize`. With `out` of at least `q.size` elements the SIMD kernel writes into its start
 * (memory already touched, used again from call to call) and the result's data is that view.
 *
 * @example
 * ```ts
 * cpuDequantize(fromIntRepr([-3, 0, 3, 6], [4], 'qint8', { scale: 0.5, zeroPoint: 0 })).data; // Float32Array [-1.5, 0, 1.5, 3]
 * ```
 */
export function cpuDequantize(q: QTensor, out?: Float32Array): Tensor {
  const info = dtypeInfo(q.dtype);
  const params = q.params;
  const n = q.size;
  const count = params.scheme === 'per_tensor_affine' ? 1 : params.scales.length;
  let kernels = info.bits === 32 || n === 0 ? undefined : simdKernels();
  // Per channel the reference multiplies by the float64 scale: the same as the float32 product only when the
  // scale is a float32 value (then the exact product of a small integer and the scale fits a float64).
  if (params.scheme === 'per_channel_affine' && params.scales.some((s) => Math.fround(s) !== s)) kernels = undefined;
  const pieces = kernels ? walkPieces(layoutOf(q.shape, params)) : [];
  const largest = pieces.reduce((m, piece) => Math.max(m, piece.count), 0);
  const offsets = kernels?.reserve([4 * count, 4 * count, largest, 4 * largest], [2, 3]);
  if (!kernels || !offsets) return referenceDequantize(q);
  const [scale, zero, src, dst] = offsets as [number, number, number, number];
  const buffer = kernels.memory.buffer;
  const view = q.intReprView();
  const values = new Uint8Array(view.buffer, view.byteOffset, n);
  const scales = new Float32Array(buffer, scale, count);
  const zeroPoints = new Float32Array(buffer, zero, count);
  if (params.scheme === 'per_tensor_affine') {
    scales[0] = params.scale;
    zeroPoints[0] = params.zeroPoint;
  } else {
    scales.set(params.scales);
    zeroPoints.set(params.zeroPoints);
  }
  const data = out && out.length >= n ? out.subarray(0, n) : new Float32Array(n);
  const source = new Uint8Array(buffer, src, largest);
  const result = new Float32Array(buffer, dst, largest);
  for (const piece of pieces) {
    source.set(values.subarray(piece.first, piece.first + piece.count));
    kernels.configure(src, dst, scale + 4 * piece.paramBase, zero + 4 * piece.paramBase, 0, 0, info.signed ? 24 : 0);
    kernels.walk('dequantizeRun', 'dequantizeColumns', piece.layout);
    data.set(result.subarray(0, piece.count), piece.first);
  }
  return { data, shape: [...q.shape], backend: 'cpu' };
}
