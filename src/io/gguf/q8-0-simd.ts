/**
 * GGUF's Q8_0 blocks with WebAssembly SIMD (simd-kernels.wat, q8_0Blocks and q8_0Values): the bytes
 * `quantizeRowQ8_0` writes (ggml's quantize_row_q8_0_ref) and the values `dequantizeRowQ8_0` gives back, in
 * one pass each over pieces of the row data. The float16 rounding of each block's scale stays here, in
 * `floatToHalfBits`. Undefined where WebAssembly SIMD is missing: the caller runs the JavaScript versions.
 *
 * @example
 * ```ts
 * const bytes = new Uint8Array((row.length / 32) * 34);
 * const values = cpuQ8_0(row, bytes); // bytes: quantizeRowQ8_0(row); values: dequantizeRowQ8_0(bytes, row.length)
 * ```
 * @module
 */
import { PIECE_ELEMENTS, simdKernels } from '../../kernels/cpu/simd-module.js';
import { halfToFloat } from '../float-convert.js';
import { floatToHalfBits } from '../half.js';

const kBlock = 32;
const kBlockBytes = 34;

/**
 * Writes `row`'s Q8_0 blocks into `out` (34 bytes per 32 values; `row.length` a multiple of 32, its values
 * finite, each block's amax / 127 within float16's range, as `quantizeRowQ8_0` requires) and returns the
 * dequantized values, or undefined without WebAssembly SIMD (then `out` is untouched).
 *
 * @example
 * ```ts
 * cpuQ8_0(Float32Array.from({ length: 32 }, (_, i) => i - 16), new Uint8Array(34))?.[31]; // 15
 * ```
 */
export function cpuQ8_0(row: Float32Array, out: Uint8Array): Float32Array | undefined {
  const kernels = row.length === 0 ? undefined : simdKernels();
  const piece = Math.min(row.length, PIECE_ELEMENTS);
  const pieceBlocks = piece / kBlock;
  const offsets = kernels?.reserve([4 * piece, kBlockBytes * pieceBlocks, 4 * pieceBlocks, 4 * piece], [0, 1, 3]);
  if (!kernels || !offsets) return undefined;
  const [src, dst, scales, valuesAt] = offsets as [number, number, number, number];
  const memory = kernels.memory.buffer;
  const source = new Float32Array(memory, src, piece);
  const blocksOut = new Uint8Array(memory, dst, kBlockBytes * pieceBlocks);
  const d = new Float32Array(memory, scales, pieceBlocks);
  const back = new Float32Array(memory, valuesAt, piece);
  const values = new Float32Array(row.length);
  for (let first = 0; first < row.length; first += piece) {
    const count = Math.min(piece, row.length - first);
    const blocks = count / kBlock;
    source.set(row.subarray(first, first + count));
    kernels.q8_0Blocks(src, dst, scales, blocks);
    for (let b = 0, at = 0; b < blocks; b++, at += kBlockBytes) {
      const half = floatToHalfBits(d[b]!);
      blocksOut[at] = half & 0xff;
      blocksOut[at + 1] = half >> 8;
      d[b] = halfToFloat(half); // the stored scale, which the values use (exact in float32)
    }
    kernels.q8_0Values(dst, scales, valuesAt, blocks);
    out.set(blocksOut.subarray(0, kBlockBytes * blocks), (first / kBlock) * kBlockBytes);
    values.set(back.subarray(0, count), first);
  }
  return values;
}
