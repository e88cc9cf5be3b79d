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
import { PIECE_ELEMENTS, simdKernels, walkPieces } from './simd-module.js';

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
  fillParams(buffer, params, inverse, zero, scale);
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

/**
 * Two quantizations of a [rows, n] `input`, each in groups along the rows (`first` and `second`: per-group parameters
 * on axis 0, the same 8- or 4-bit `info`), measured side by side in one pass for options compared and not kept (the
 * size budget's groups of 32 and 64): each option's Σe², the values' Σx² and each option's max |e| go on from
 * `carries` (cpuQuantizeErrorSums' layout: indices 0, 1 and 4; the others are left as they are), to the bit of what
 * cpuQuantizeErrorSums adds to them; about half the time of two such passes. `input` must be finite and every level
 * (q - zp) · scale finite (what the budget's options are; x̂ is not checked). False where it does not apply (rows
 * whose length is not a multiple of 4, other layouts, no WebAssembly SIMD, memory past the kernels' limit): the
 * carries are unchanged, and the caller measures each option alone. A scale out of range throws cpuQuantize's error.
 *
 * @example
 * ```ts
 * const carries: [Float64Array, Float64Array] = [new Float64Array(8), new Float64Array(8)];
 * cpuQuantizeErrorsPair(block, groups32, groups64, dtypeInfo('qint4'), carries); // true
 * carries[1][0]; // Σe² of the groups of 64, as cpuQuantizeErrorSums(block, groups64, ...) gives it
 * ```
 */
export function cpuQuantizeErrorsPair(
  input: Tensor, first: QParams, second: QParams, info: DTypeInfo, carries: readonly [Float64Array, Float64Array],
): boolean {
  const [rows, n] = input.shape as [number, number];
  const rowGroups = (params: QParams) => (params.scheme === 'per_group_affine' && params.axis === 0 ? params.groupSize : 0);
  const [groupA, groupB] = [rowGroups(first), rowGroups(second)];
  if (input.shape.length !== 2 || !groupA || !groupB || n % 4 !== 0 || n === 0 || info.bits === 32 || input.data.length === 0) return false;
  const kernels = simdKernels();
  if (!kernels) return false;
  type Groups = Extract<QParams, { scheme: 'per_group_affine' }>;
  const [groupsA, groupsB] = [first as Groups, second as Groups];
  const [countA, countB] = [groupsA.scales.length, groupsB.scales.length];
  const at = kernels.heldOffset(input.data); // a held array is read in place
  const pieceRows = Math.max(1, Math.floor(PIECE_ELEMENTS / n));
  const offsets = kernels.reserve([4 * countA, 4 * countA, 4 * countA, 4 * countB, 4 * countB, 4 * countB,
    at === undefined ? 4 * pieceRows * n : 0, 64, 64], [6]);
  if (!offsets) return false;
  const [inverseA, zeroA, scaleA, inverseB, zeroB, scaleB, scratch, sumsA, sumsB] = offsets as
    [number, number, number, number, number, number, number, number, number];
  const buffer = kernels.memory.buffer;
  fillParams(buffer, groupsA, inverseA, zeroA, scaleA);
  fillParams(buffer, groupsB, inverseB, zeroB, scaleB);
  const [a, b] = [new Float64Array(buffer, sumsA, 8), new Float64Array(buffer, sumsB, 8)];
  a.set(carries[0].subarray(0, 7));
  b.set(carries[1].subarray(0, 7));
  const source = at === undefined ? new Float32Array(buffer, scratch, pieceRows * n) : undefined;
  for (let r0 = 0; r0 < rows; r0 += pieceRows) {
    const end = Math.min(rows, r0 + pieceRows);
    source?.set(input.data.subarray(r0 * n, end * n));
    kernels.configure(at === undefined ? scratch : at + 4 * r0 * n, 0, inverseA, zeroA, info.qmin, info.qmax, 0);
    kernels.configureMeasure(scaleA, sumsA);
    for (let r = r0; r < end; r++) {
      kernels.measureErrorsPair((r - r0) * n, n, Math.floor(r / groupA) * n, Math.floor(r / groupB) * n, inverseB, zeroB, scaleB, sumsB);
    }
  }
  for (const k of [0, 1, 4]) {
    carries[0][k] = a[k]!;
    carries[1][k] = b[k]!;
  }
  return true;
}

/** `params`' inverse scales (checked as cpuQuantize checks them), zero points and scales as float32 at the three offsets. */
function fillParams(buffer: ArrayBuffer, params: Exclude<QParams, { scheme: 'per_tensor_affine' }>, inverse: number, zero: number, scale: number): void {
  const count = params.scales.length;
  const inverseScales = new Float32Array(buffer, inverse, count);
  const scales = new Float32Array(buffer, scale, count);
  for (let p = 0; p < count; p++) {
    inverseScales[p] = checkScale(params.scales[p]!);
    scales[p] = params.scales[p]!;
  }
  new Float32Array(buffer, zero, count).set(params.zeroPoints);
}
