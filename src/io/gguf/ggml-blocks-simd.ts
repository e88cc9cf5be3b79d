/**
 * GGUF's Q8_0 and Q4_0 blocks with WebAssembly SIMD (simd-kernels.wat: q8_0Blocks / q8_0Values, q4_0Blocks /
 * q4_0Values): the bytes `quantizeRowQ8_0` / `quantizeRowQ4_0` write (ggml's quantize_row_q8_0_ref and
 * quantize_row_q4_0_ref) and the values `dequantizeRowQ8_0` / `dequantizeRowQ4_0` give back, in one pass each
 * over pieces of the row data, with each block's scale rounded to float16 there too (`halfScales`, which rounds
 * as `floatToHalfBits` does).
 * Undefined where WebAssembly SIMD is missing: the caller runs the JavaScript versions.
 *
 * @example
 * ```ts
 * const bytes = new Uint8Array((row.length / 32) * 34);
 * const values = cpuQ8_0(row, bytes); // bytes: quantizeRowQ8_0(row); values: dequantizeRowQ8_0(bytes, row.length)
 * cpuBlockValues('Q8_0', bytes, row.length);        // the same values, read back from the stored blocks
 * ```
 * @module
 */
import { PIECE_ELEMENTS, simdKernels, type SimdKernels } from '../../kernels/cpu/simd-module.js';
import { halfTable } from '../float-convert.js';

const kBlock = 32;

interface BlockKernels {
  blockBytes: number;
  blocks: (kernels: SimdKernels) => SimdKernels['q8_0Blocks'];
  values: (kernels: SimdKernels) => SimdKernels['q8_0Values'];
}

const kQ8_0: BlockKernels = { blockBytes: 34, blocks: (k) => k.q8_0Blocks, values: (k) => k.q8_0Values };
const kQ4_0: BlockKernels = { blockBytes: 18, blocks: (k) => k.q4_0Blocks, values: (k) => k.q4_0Values };

/** One block type's kernels over pieces already in the kernels' memory (see {@link simdBlockPieces}). */
export interface BlockPieces {
  readonly kernels: SimdKernels;
  /** Bytes of one block: 34 (Q8_0) or 18 (Q4_0). */
  readonly blockBytes: number;
  /**
   * `blocks` blocks of 32 floats at byte `src` to their blocks at `dst` (float16 scales included), each block's
   * stored scale as a float32 at `scales` + 4·b, and the values the blocks give back at `values`.
   */
  encode(src: number, dst: number, scales: number, values: number, blocks: number): void;
}

/**
 * The WebAssembly kernels of Q8_0 or Q4_0 for pieces laid out in the kernels' memory by the caller (the
 * statistics of GGUF encoding measure each piece where it lies); undefined without WebAssembly SIMD.
 *
 * @example
 * ```ts
 * const q8 = simdBlockPieces('Q8_0');
 * q8?.encode(src, dst, scales, values, 1024); // 1024 blocks: 32768 floats at src
 * ```
 */
export function simdBlockPieces(type: 'Q8_0' | 'Q4_0'): BlockPieces | undefined {
  const kernels = simdKernels();
  if (!kernels) return undefined;
  const { blockBytes, blocks: blocksOf, values: valuesOf } = type === 'Q8_0' ? kQ8_0 : kQ4_0;
  const toBlocks = blocksOf(kernels);
  const toValues = valuesOf(kernels);
  return {
    kernels,
    blockBytes,
    encode(src, dst, scales, values, blocks) {
      toBlocks(src, dst, scales, blocks);
      kernels.halfScales(dst, scales, blocks, blockBytes); // the stored float16 scale, which the values then use
      toValues(dst, scales, values, blocks);
    },
  };
}

/** Both kernels of one block type over `row`, piece by piece; undefined without WebAssembly SIMD. */
function cpuBlocks(type: 'Q8_0' | 'Q4_0', row: Float32Array, out: Uint8Array, into?: Float32Array): Float32Array | undefined {
  const block = row.length === 0 ? undefined : simdBlockPieces(type);
  const piece = Math.min(row.length, PIECE_ELEMENTS);
  const pieceBlocks = piece / kBlock;
  const blockBytes = block?.blockBytes ?? 0;
  const offsets = block?.kernels.reserve([4 * piece, blockBytes * pieceBlocks, 4 * pieceBlocks, 4 * piece], [0, 1, 3]);
  if (!block || !offsets) return undefined;
  const [src, dst, scales, valuesAt] = offsets as [number, number, number, number];
  const memory = block.kernels.memory.buffer;
  const source = new Float32Array(memory, src, piece);
  const blocksOut = new Uint8Array(memory, dst, blockBytes * pieceBlocks);
  const back = new Float32Array(memory, valuesAt, piece);
  const values = into?.length === row.length ? into : new Float32Array(row.length);
  for (let first = 0; first < row.length; first += piece) {
    const count = Math.min(piece, row.length - first);
    const blocks = count / kBlock;
    source.set(row.subarray(first, first + count));
    block.encode(src, dst, scales, valuesAt, blocks);
    out.set(blocksOut.subarray(0, blockBytes * blocks), (first / kBlock) * blockBytes);
    values.set(back.subarray(0, count), first);
  }
  return values;
}

/**
 * Writes `row`'s Q8_0 blocks into `out` (34 bytes per 32 values; `row.length` a multiple of 32, its values
 * finite, each block's amax / 127 within float16's range, as `quantizeRowQ8_0` requires) and returns the
 * dequantized values (in `values` when it is given and as long as `row`), or undefined without WebAssembly
 * SIMD (then `out` is untouched).
 *
 * @example
 * ```ts
 * cpuQ8_0(Float32Array.from({ length: 32 }, (_, i) => i - 16), new Uint8Array(34))?.[31]; // 15
 * ```
 */
export function cpuQ8_0(row: Float32Array, out: Uint8Array, values?: Float32Array): Float32Array | undefined {
  return cpuBlocks('Q8_0', row, out, values);
}

/**
 * Writes `row`'s Q4_0 blocks into `out` (18 bytes per 32 values; `row.length` a multiple of 32, its values
 * finite, each block's max / 8 within float16's range, as `quantizeRowQ4_0` requires) and returns the
 * dequantized values (in `values` when it is given and as long as `row`), or undefined without WebAssembly
 * SIMD (then `out` is untouched).
 *
 * @example
 * ```ts
 * cpuQ4_0(Float32Array.from({ length: 32 }, (_, i) => i - 16), new Uint8Array(18))?.[0]; // -16 (d = 2)
 * ```
 */
export function cpuQ4_0(row: Float32Array, out: Uint8Array, values?: Float32Array): Float32Array | undefined {
  return cpuBlocks('Q4_0', row, out, values);
}

/**
 * The values `count` elements of stored Q8_0 or Q4_0 blocks give back (`bytes` from `offset`; what
 * `dequantizeRowQ8_0` / `dequantizeRowQ4_0` return, bit for bit; in `into` when it is given and `count` long, a
 * fresh array of that size touching memory the system must first map), a piece at a time in the kernels' memory: each
 * block's float16 scale as a float32, then the values kernel. Undefined without WebAssembly SIMD, for a count
 * that is not a positive multiple of 32, or for fewer bytes than its blocks need (the caller runs the JavaScript
 * versions).
 *
 * @example
 * ```ts
 * const blocks = new Uint8Array(18);
 * blocks.set([0x00, 0x40], 0);                 // d = 2 (float16)
 * cpuBlockValues('Q4_0', blocks, 32)?.[0];     // -16: nibble 0, less 8, times 2
 * ```
 */
export function cpuBlockValues(type: 'Q8_0' | 'Q4_0', bytes: Uint8Array, count: number, offset = 0, into?: Float32Array): Float32Array | undefined {
  const { blockBytes, values: valuesOf } = type === 'Q8_0' ? kQ8_0 : kQ4_0;
  if (count <= 0 || count % kBlock !== 0 || bytes.byteLength < offset + (count / kBlock) * blockBytes) return undefined;
  const kernels = simdKernels();
  if (!kernels) return undefined;
  const piece = Math.min(count, PIECE_ELEMENTS);
  const pieceBlocks = piece / kBlock;
  const offsets = kernels.reserve([blockBytes * pieceBlocks, 4 * pieceBlocks, 4 * piece], [0, 2]);
  if (!offsets) return undefined;
  const [dst, scales, valuesAt] = offsets as [number, number, number];
  const toValues = valuesOf(kernels);
  const memory = kernels.memory.buffer;
  const blocksIn = new Uint8Array(memory, dst, blockBytes * pieceBlocks);
  const scaleView = new Float32Array(memory, scales, pieceBlocks);
  const back = new Float32Array(memory, valuesAt, piece);
  const values = into?.length === count ? into : new Float32Array(count);
  const halves = halfTable();
  for (let first = 0; first < count; first += piece) {
    const blocks = Math.min(piece, count - first) / kBlock;
    const at = offset + (first / kBlock) * blockBytes;
    blocksIn.set(bytes.subarray(at, at + blocks * blockBytes));
    for (let b = 0; b < blocks; b++) scaleView[b] = halves[blocksIn[b * blockBytes]! | (blocksIn[b * blockBytes + 1]! << 8)]!;
    toValues(dst, scales, valuesAt, blocks);
    values.set(back.subarray(0, blocks * kBlock), first);
  }
  return values;
}
