/**
 * onnxruntime's MatMulNBits blocks back to the weight they hold, one integer a byte, for contrib-read.ts: B is
 * [N, blocks, blob] (column c's block b at (c · blocks + b) · blob, blob = blockSize · bits / 8; at 4 bits element
 * j of a block in the low nibble of byte j / 2 when j is even, the high one when odd), the weight [K, N] row-major,
 * each integer (stored XOR its block's mask) - offset. The WebAssembly kernel (simd-kernels.wat, `nbitsUnpack`)
 * where it runs, else a JavaScript loop that writes the same bytes.
 *
 * @example
 * ```ts
 * const ints = new Int8Array(k * n);
 * unpackNBits(blobs, ints, masks, { k, n, blockSize: 32, bits: 4, offset: 8 }); // ints: the signed 4-bit weight
 * ```
 * @module
 */
import { simdKernels } from '../../kernels/cpu/simd-module.js';

/** The layout of a MatMulNBits weight's blocks. */
export interface NBitsLayout {
  k: number;
  n: number;
  blockSize: number;
  bits: 4 | 8;
  /** Subtracted from each stored integer (after the mask): 2^(bits-1) for the signed reading, else 0. */
  offset: number;
}

/**
 * Writes the weight [K, N] that `blobs` ([N, blocks, blockSize · bits / 8]) hold into `into`, one integer a byte:
 * (stored XOR the block's mask, `masks[b · N + c]`) - offset, with the WebAssembly kernel. False (nothing written)
 * where it cannot run (no WebAssembly, or a weight past the kernels' memory).
 *
 * @example
 * ```ts
 * simdNBitsUnpack(Uint8Array.of(0x21), new Int8Array(2), Uint8Array.of(0), { k: 2, n: 1, blockSize: 2, bits: 4, offset: 8 });
 * // true: [-7, -6]
 * ```
 */
export function simdNBitsUnpack(blobs: Uint8Array, into: Int8Array | Uint8Array, masks: Uint8Array, layout: NBitsLayout): boolean {
  const { k, n, blockSize, bits, offset } = layout;
  if (into.length !== k * n || into.length === 0) return false;
  const kernels = simdKernels();
  const offsets = kernels?.reserve([blobs.byteLength, into.length, masks.byteLength], [0, 1]);
  if (!kernels || !offsets) return false;
  const [src, dst, maskAt] = offsets as [number, number, number];
  const memory = kernels.memory.buffer;
  new Uint8Array(memory, src, blobs.byteLength).set(blobs);
  new Uint8Array(memory, maskAt, masks.byteLength).set(masks);
  kernels.nbitsUnpack(src, dst, maskAt, k, n, blockSize, bits, offset);
  new Uint8Array(into.buffer, into.byteOffset, into.length).set(new Uint8Array(memory, dst, into.length));
  return true;
}

/** Columns unpacked together: each row of a block is written this many values at a time (a cache line of bytes). */
const TILE = 64;

/**
 * What {@link simdNBitsUnpack} writes, in JavaScript: columns in tiles of 64, each row of a block written 64
 * values at a time from 64 blobs read in order; at 4 bits a byte read gives two rows (the low nibble the first).
 *
 * @example
 * ```ts
 * const ints = new Int8Array(2);
 * jsNBitsUnpack(Uint8Array.of(0x21), ints, Uint8Array.of(0), { k: 2, n: 1, blockSize: 2, bits: 4, offset: 8 }); // [-7, -6]
 * ```
 */
export function jsNBitsUnpack(blobs: Uint8Array, into: Int8Array | Uint8Array, masks: Uint8Array, layout: NBitsLayout): void {
  const { k, n, blockSize, bits, offset } = layout;
  const blocks = Math.ceil(k / blockSize);
  const blob = (blockSize * bits) / 8;
  const at = new Int32Array(TILE);
  const tileMasks = new Int32Array(TILE);
  for (let c0 = 0; c0 < n; c0 += TILE) {
    const width = Math.min(TILE, n - c0);
    for (let b = 0; b < blocks; b++) {
      for (let t = 0; t < width; t++) {
        at[t] = ((c0 + t) * blocks + b) * blob;
        tileMasks[t] = masks[b * n + c0 + t]!;
      }
      const rows = Math.min(blockSize, k - b * blockSize);
      let i = b * blockSize * n + c0;
      if (bits === 8) {
        for (let j = 0; j < rows; j++, i += n) {
          for (let t = 0; t < width; t++) into[i + t] = (blobs[at[t]! + j]! ^ tileMasks[t]!) - offset;
        }
        continue;
      }
      let j = 0;
      for (; j + 1 < rows; j += 2, i += 2 * n) {
        const byte = j >> 1;
        for (let t = 0; t < width; t++) {
          const v = blobs[at[t]! + byte]!;
          const m = tileMasks[t]!;
          into[i + t] = ((v & 15) ^ m) - offset;
          into[i + n + t] = ((v >> 4) ^ m) - offset;
        }
      }
      if (j < rows) for (let t = 0; t < width; t++) into[i + t] = ((blobs[at[t]! + (j >> 1)]! & 15) ^ tileMasks[t]!) - offset;
    }
  }
}

/**
 * The weight [K, N] that `blobs` hold, written into `into` (see the module documentation): the WebAssembly kernel
 * where it runs, else {@link jsNBitsUnpack}.
 *
 * @example
 * ```ts
 * unpackNBits(blobs, new Int8Array(k * n), masks, { k, n, blockSize: 32, bits: 4, offset: 8 });
 * ```
 */
export function unpackNBits(blobs: Uint8Array, into: Int8Array | Uint8Array, masks: Uint8Array, layout: NBitsLayout): void {
  if (!simdNBitsUnpack(blobs, into, masks, layout)) jsNBitsUnpack(blobs, into, masks, layout);
}
