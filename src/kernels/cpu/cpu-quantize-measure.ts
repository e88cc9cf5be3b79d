/**
 * A quantization that is measured and not kept, in one pass on the CPU: the overall error sums that
 * `cpuErrorSums` gives for `cpuQuantize`'s integers, to the bit, with no integers written or read back. The size
 * budget measures four options of every weight and keeps the integers of none; quantizing each into a block's
 * memory and measuring it in a second pass (the error kernel reading the integers and a table of parameter rows)
 * took about 45 ms for 16M elements, most of it the second pass.
 *
 * The kernel (simd-kernels.wat, `$measure`) quantizes each element as the quantize kernel does and dequantizes it
 * as the error kernel does (x̂ = (q − zp) · scale in float32, q the clamped value itself: a small integer), and adds
 * each element's products to the same float64 sums in element order, so the sums are those bits.
 *
 * @example
 * ```ts
 * const carry = new Float64Array(8);
 * for (const block of rowBlocks) cpuQuantizeErrorSums(block.x, block.params, dtypeInfo('qint4'), carry);
 * carry[0] / elements; // the mse that cpuErrorStats gives for the whole weight's cpuQuantize
 * ```
 * @module
 */
import type { DTypeInfo } from '../../dtype.js';
import { paramLayout } from '../../layout.js';
import type { QParams } from '../../qtensor.js';
import type { Tensor } from '../../tensor.js';
import { checkScale } from '../../validate.js';
import { simdKernels, walkPieces } from './simd-module.js';

/**
 * Quantizes `input` with per-channel or per-group `params` to `info`'s 8- or 4-bit grid and adds the overall error
 * sums of the result to `carry` (`cpuErrorSums`' carry: Σe², Σx², Σx̂², Σx·x̂, max |e|, clipped, nonFinite, then
 * one unused), from the sums of the elements before these, in element order: `cpuErrorSums` of
 * `cpuQuantize(input, params, info)` with the same carry, to the bit. False where it does not apply (per tensor,
 * 32-bit integers, no WebAssembly SIMD, memory past the kernels' limit): `carry` is unchanged, and the caller
 * quantizes and measures in two passes. A scale out of range throws `cpuQuantize`'s error.
 *
 * @example
 * ```ts
 * const carry = new Float64Array(8);
 * cpuQuantizeErrorSums(x, { scheme: 'per_channel_affine', scales, zeroPoints, axis: 1 }, dtypeInfo('qint8'), carry); // true
 * carry[0]; // Σe², as cpuErrorSums(checkErrorStatsArguments(x, cpuQuantize(x, params, info)), new Float64Array(8))
 * ```
 */
export function cpuQuantizeErrorSums(input: Tensor, params: QParams, info: DTypeInfo, carry: Float64Array): boolean {
  if (params.scheme === 'per_tensor_affine' || info.bits === 32 || input.data.length === 0) return false;
  const kernels = simdKernels();
  if (!kernels) return false;
  const count = params.scales.length;
  const pieces = walkPieces(paramLayout(input.shape, params));
  const largest = pieces.reduce((m, piece) => Math.max(m, piece.count), 0);
  const at = kernels.heldOffset(input.data); // a held array is read in place
  const offsets = kernels.reserve([4 * count, 4 * count, 4 * count, at === undefined ? 4 * largest : 0, 64], [3]);
  if (!offsets) return false;
  const [inverse, zero, scale, scratch, sumsAt] = offsets as [number, number, number, number, number];
  const buffer = kernels.memory.buffer;
  const inverseScales = new Float32Array(buffer, inverse, count);
  const scales = new Float32Array(buffer, scale, count);
  for (let p = 0; p < count; p++) {
    inverseScales[p] = checkScale(params.scales[p]!);
    scales[p] = params.scales[p]!;
  }
  new Float32Array(buffer, zero, count).set(params.zeroPoints);
  const sums = new Float64Array(buffer, sumsAt, 8);
  sums.set(carry.subarray(0, 7));
  const source = at === undefined ? new Float32Array(buffer, scratch, largest) : undefined;
  for (const piece of pieces) {
    source?.set(input.data.subarray(piece.first, piece.first + piece.count));
    const src = at === undefined ? scratch : at + 4 * piece.first;
    kernels.configure(src, 0, inverse + 4 * piece.paramBase, zero + 4 * piece.paramBase, info.qmin, info.qmax, 0);
    kernels.configureMeasure(scale + 4 * piece.paramBase, sumsAt);
    kernels.walk('measureRun', 'measureColumns', piece.layout);
  }
  carry.set(sums.subarray(0, 7));
  return true;
}
