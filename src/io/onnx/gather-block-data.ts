/**
 * The `data` input of GatherBlockQuantized (layout: gather-block-writer.ts) from a table's integers: row-major
 * [rows, D], each stored as `q + offset`, or `-(q + 1) + offset` in a (row, block) whose `negated` flag is 1, 4-bit
 * values two to a byte with the even column in the low nibble. That is a QTensor's own packed order, so 4-bit
 * integers already packed two to a byte go over byte by byte: the offset and the negation are a flip of bits the
 * same in every byte of a block.
 *
 * @example
 * ```ts
 * packGatherData(Int8Array.of(1, -2), 1, 2, 16, 4, 8, new Uint8Array(1)); // Uint8Array [0x69]: 9 and 6
 * packGatherData({ nibbles: Uint8Array.of(0xe1) }, 1, 2, 16, 4, 8, new Uint8Array(1)); // the same byte
 * ```
 * @module
 */
import { InvalidArgumentError } from '../../errors.js';
import { type BlockIntegers, packedNibblesOf } from './matmul-nbits-blocks.js';

/**
 * The data bytes of a [rows, D] table (see the module documentation): `rows × D × bits / 8` bytes, written into
 * `into` where given (exactly that many bytes; every byte is written) or a fresh array. `values` are one integer an
 * element, or (4 bits) packed two to a byte; D is even for 4 bits (the writer refuses an odd row).
 *
 * @example
 * ```ts
 * const data = packGatherData(q.intReprView(), rows, D, 32, 4, 8, negated); // rows × D / 2 bytes
 * ```
 */
export function packGatherData(
  values: BlockIntegers, rows: number, D: number, blockSize: number, bits: 4 | 8, offset: number, negated: Uint8Array, into?: Uint8Array,
): Uint8Array {
  const length = (rows * D * bits) / 8;
  if (into && into.byteLength !== length) {
    throw new InvalidArgumentError('into', into.byteLength, `the data takes ${length} bytes, not ${into.byteLength}`);
  }
  const out = into ?? new Uint8Array(length);
  const blocks = Math.ceil(D / blockSize);
  const nibbles = packedNibblesOf(values);
  if (nibbles) {
    if (bits !== 4) throw new InvalidArgumentError('values', 'packed nibbles', `packed nibbles hold 4-bit integers, not ${bits}-bit`);
    packedRows(nibbles, rows, D, blockSize, blocks, offset, negated, out);
    return out;
  }
  const source = values as ArrayLike<number>;
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < blocks; b++) {
      const flip = -negated[r * blocks + b]!; // x ^ -1 is -(x + 1)
      const start = r * D + b * blockSize;
      const end = r * D + Math.min(D, (b + 1) * blockSize);
      if (bits === 8) {
        for (let i = start; i < end; i++) out[i] = (source[i]! ^ flip) + offset;
      } else {
        // D and the block size are even: a block starts and ends on a byte.
        for (let i = start; i < end; i += 2) {
          out[i >> 1] = (((source[i]! ^ flip) + offset) & 0xf) | ((((source[i + 1]! ^ flip) + offset) & 0xf) << 4);
        }
      }
    }
  }
  return out;
}

/** 4-bit integers packed in the table's order into `out`: each block's bytes with its nibbles' bits flipped. */
function packedRows(
  nibbles: Uint8Array, rows: number, D: number, blockSize: number, blocks: number, offset: number, negated: Uint8Array, out: Uint8Array,
): void {
  const top = offset === 0 ? 0 : 0x88; // + 8 in each nibble (mod 16)
  const rowBytes = D / 2;
  const blockBytes = blockSize / 2;
  for (let r = 0, at = 0; r < rows; r++) {
    for (let b = 0; b < blocks; b++) {
      const mask = (negated[r * blocks + b] ? 0xff : 0) ^ top;
      const end = r * rowBytes + Math.min(rowBytes, (b + 1) * blockBytes);
      for (; at < end; at++) out[at] = nibbles[at]! ^ mask;
    }
  }
}
