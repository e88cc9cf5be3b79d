/**
 * Two 4-bit integers per byte, element 0 in the low nibble (the order of ONNX int4/uint4 and of PyTorch's
 * quint4x2). An odd length is padded with a zero nibble.
 *
 * @example
 * ```ts
 * packNibbles(Int8Array.of(1, -2, 7));   // Uint8Array [0xe1, 0x07]
 * unpackNibbles(Uint8Array.of(0xe1, 0x07), 3, true); // Int8Array [1, -2, 7]
 * ```
 * @module
 */
import { InvalidArgumentError } from './errors.js';

/** Packs one 4-bit value per element (already in range) into bytes, low nibble first. */
export function packNibbles(values: ArrayLike<number>): Uint8Array {
  const n = values.length;
  const out = new Uint8Array(Math.ceil(n / 2));
  const pairs = n >> 1;
  for (let j = 0; j < pairs; j++) out[j] = (values[2 * j]! & 0xf) | ((values[2 * j + 1]! & 0xf) << 4);
  if (n & 1) out[pairs] = values[n - 1]! & 0xf;
  return out;
}

/** Byte -> its two elements as the little-endian bytes of a u16 (sign-extended, or not). */
function pairTable(signed: boolean): Uint16Array {
  const table = new Uint16Array(256);
  const value = (nibble: number): number => (signed && nibble > 7 ? nibble - 16 : nibble) & 0xff;
  for (let b = 0; b < 256; b++) table[b] = value(b & 0xf) | (value(b >> 4) << 8);
  return table;
}
const kSignedPairs = pairTable(true);
const kUnsignedPairs = pairTable(false);
/** Nibble -> its value. */
const kSignedLow = Int8Array.from({ length: 16 }, (_, n) => (n > 7 ? n - 16 : n));
const kUnsignedLow = Uint8Array.from({ length: 16 }, (_, n) => n);

/**
 * Unpacks `count` 4-bit values; `signed` sign-extends them (qint4) into an Int8Array, else a Uint8Array.
 * Two elements per table lookup, written as one u16 (the platform's typed arrays are little-endian
 * everywhere this runs; a fresh array's buffer is aligned). Throws InvalidArgumentError when `count` is
 * not a non-negative integer or `bytes` holds fewer than `ceil(count / 2)` bytes (never pads with zeros).
 *
 * @example
 * ```ts
 * unpackNibbles(Uint8Array.of(0xf8), 2, true);  // Int8Array [-8, -1]
 * unpackNibbles(Uint8Array.of(0xf8), 3, true);  // throws InvalidArgumentError: 3 values need 2 bytes
 * ```
 */
export function unpackNibbles(bytes: Uint8Array, count: number, signed: boolean): Int8Array | Uint8Array {
  if (!(bytes instanceof Uint8Array)) {
    throw new InvalidArgumentError('bytes', bytes, 'unpackNibbles: bytes must be a Uint8Array of packed 4-bit values');
  }
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new InvalidArgumentError('count', count, `unpackNibbles: count ${String(count)} must be a non-negative integer (the number of 4-bit values)`);
  }
  if (Math.ceil(count / 2) > bytes.byteLength) {
    throw new InvalidArgumentError('count', count, `unpackNibbles: ${count} values need ${Math.ceil(count / 2)} bytes, `
      + `the data has ${bytes.byteLength}; pass the element count of the packed tensor`);
  }
  const out = signed ? new Int8Array(count) : new Uint8Array(count);
  unpackNibblesInto(bytes, count, signed, out, 0);
  return out;
}

/**
 * {@link unpackNibbles} into `out` from element `offset` on, without a new array (arguments unchecked: the
 * caller sized them). `out` is an Int8Array for signed values, else a Uint8Array.
 *
 * @example
 * ```ts
 * const out = new Int8Array(4);
 * unpackNibblesInto(Uint8Array.of(0xf8), 2, true, out, 2); // out: Int8Array [0, 0, -8, -1]
 * ```
 */
export function unpackNibblesInto(bytes: Uint8Array, count: number, signed: boolean, out: Int8Array | Uint8Array, offset: number): void {
  const pairs = count >> 1;
  const table = signed ? kSignedPairs : kUnsignedPairs;
  if ((out.byteOffset + offset) % 2 === 0) {
    const out16 = new Uint16Array(out.buffer, out.byteOffset + offset, pairs);
    for (let j = 0; j < pairs; j++) out16[j] = table[bytes[j]!]!;
  } else {
    const low = signed ? kSignedLow : kUnsignedLow;
    for (let j = 0; j < pairs; j++) {
      const b = bytes[j]!;
      out[offset + 2 * j] = low[b & 0xf]!;
      out[offset + 2 * j + 1] = low[b >> 4]!;
    }
  }
  if (count & 1) out[offset + count - 1] = (signed ? kSignedLow : kUnsignedLow)[bytes[pairs]! & 0xf]!;
}
