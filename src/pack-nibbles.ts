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
  const out = new Uint8Array(Math.ceil(values.length / 2));
  packNibblesInto(values, 0, values.length, out, 0);
  return out;
}

/**
 * {@link packNibbles} of `values[start, start + count)` into `out` from byte `outOffset` on, without a new
 * array (arguments unchecked: the caller sized them). An odd count leaves the last byte's high nibble zero.
 * An Int8Array or Uint8Array whose elements start on a 4-byte boundary, packed into a 4-byte-aligned place,
 * goes eight elements per step: two 32-bit words in, one out.
 *
 * @example
 * ```ts
 * const out = new Uint8Array(4);
 * packNibblesInto(Int8Array.of(0, 1, -2, 7), 1, 3, out, 2); // out: Uint8Array [0, 0, 0xe1, 0x07]
 * ```
 */
export function packNibblesInto(values: ArrayLike<number>, start: number, count: number, out: Uint8Array, outOffset: number): void {
  let done = 0;
  if ((values instanceof Int8Array || values instanceof Uint8Array) && (values.byteOffset + start) % 4 === 0
    && (out.byteOffset + outOffset) % 4 === 0) {
    const words = count >> 3;
    const in32 = new Int32Array(values.buffer, values.byteOffset + start, 2 * words);
    const out32 = new Int32Array(out.buffer, out.byteOffset + outOffset, words);
    for (let j = 0; j < words; j++) {
      // Each byte's low nibble; then nibbles 2k and 2k + 1 side by side in byte 2k of a word.
      const a = in32[2 * j]! & 0x0f0f0f0f;
      const b = in32[2 * j + 1]! & 0x0f0f0f0f;
      const pa = a | (a >>> 4);
      const pb = b | (b >>> 4);
      out32[j] = (pa & 0xff) | ((pa >>> 8) & 0xff00) | ((pb & 0xff) << 16) | ((pb & 0xff0000) << 8);
    }
    done = 8 * words;
  }
  const pairs = count >> 1;
  for (let j = done >> 1; j < pairs; j++) {
    out[outOffset + j] = (values[start + 2 * j]! & 0xf) | ((values[start + 2 * j + 1]! & 0xf) << 4);
  }
  if (count & 1) out[outOffset + pairs] = values[start + count - 1]! & 0xf;
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
 * caller sized them). `out` is an Int8Array for signed values, else a Uint8Array. With `bytes` and the
 * place in `out` both on 4-byte boundaries it goes eight elements per step (one 32-bit word in, two out).
 *
 * @example
 * ```ts
 * const out = new Int8Array(4);
 * unpackNibblesInto(Uint8Array.of(0xf8), 2, true, out, 2); // out: Int8Array [0, 0, -8, -1]
 * ```
 */
export function unpackNibblesInto(bytes: Uint8Array, count: number, signed: boolean, out: Int8Array | Uint8Array, offset: number): void {
  let done = 0;
  if (bytes.byteOffset % 4 === 0 && (out.byteOffset + offset) % 4 === 0) {
    const words = count >> 3;
    const in32 = new Int32Array(bytes.buffer, bytes.byteOffset, words);
    const out32 = new Int32Array(out.buffer, out.byteOffset + offset, 2 * words);
    // Sign extension, a byte at a time: a nibble v with bit 3 set becomes v | 0xf0 (0x08 * 0x1e = 0xf0).
    const signMask = signed ? 0x08080808 : 0;
    for (let j = 0; j < words; j++) {
      const w = in32[j]!;
      const even = w & 0x0f0f0f0f; // elements 0, 2, 4, 6, one per byte
      const odd = (w >>> 4) & 0x0f0f0f0f; // elements 1, 3, 5, 7
      const first = (even & 0xff) | ((odd & 0xff) << 8) | ((even & 0xff00) << 8) | ((odd & 0xff00) << 16);
      const second = ((even >>> 16) & 0xff) | ((odd >>> 8) & 0xff00) | ((even >>> 8) & 0xff0000) | (odd & 0xff000000);
      out32[2 * j] = first | Math.imul(first & signMask, 0x1e);
      out32[2 * j + 1] = second | Math.imul(second & signMask, 0x1e);
    }
    done = 8 * words;
  }
  const pairs = count >> 1;
  const start = done >> 1;
  const table = signed ? kSignedPairs : kUnsignedPairs;
  if ((out.byteOffset + offset + done) % 2 === 0) {
    const out16 = new Uint16Array(out.buffer, out.byteOffset + offset + done, pairs - start);
    for (let j = start; j < pairs; j++) out16[j - start] = table[bytes[j]!]!;
  } else {
    const low = signed ? kSignedLow : kUnsignedLow;
    for (let j = start; j < pairs; j++) {
      const b = bytes[j]!;
      out[offset + 2 * j] = low[b & 0xf]!;
      out[offset + 2 * j + 1] = low[b >> 4]!;
    }
  }
  if (count & 1) out[offset + count - 1] = (signed ? kSignedLow : kUnsignedLow)[bytes[pairs]! & 0xf]!;
}
