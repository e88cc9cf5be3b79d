/**
 * Converts stored float weights (float16, bfloat16, float64, float32; little-endian bytes) to a Float32Array
 * for quantization. float16 and bfloat16 convert exactly; float64 rounds to nearest even.
 *
 * @example
 * ```ts
 * toFloat32(Uint8Array.of(0x00, 0x3c), 'float16'); // Float32Array [1]
 * float32View(bytes, 'float32');                     // the same memory as bytes, where 4-byte aligned
 * ```
 * @module
 */
import { FormatError } from '../errors.js';
import type { WeightDType } from './weights.js';

const kBytes: Partial<Record<WeightDType, number>> = { float32: 4, float16: 2, bfloat16: 2, float64: 8 };

/** 2^(e − 15) for a float16's biased exponent e in 1..30 (exact powers of two). */
const kHalfScale = Float64Array.from({ length: 31 }, (_, e) => 2 ** (e - 15));

/** float16 bits to a number (exact: every float16 is a float32). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * kHalfScale[exponent]!;
}

let kHalfTable: Float32Array | undefined;

/**
 * Every float16 bit pattern's value, indexed by the pattern (256 KiB, made on first use from {@link halfToFloat}):
 * a conversion by one load an element.
 *
 * @example
 * ```ts
 * halfTable()[0x3c00]; // 1
 * halfTable()[0xfc00]; // -Infinity
 * ```
 */
export function halfTable(): Float32Array {
  kHalfTable ??= Float32Array.from({ length: 65536 }, (_, h) => halfToFloat(h));
  return kHalfTable;
}

/** {@link halfTable}'s float32 bits. */
function halfBitsTable(): Uint32Array {
  const table = halfTable();
  return new Uint32Array(table.buffer, table.byteOffset, table.length);
}

/** Each 32-bit word of `words` (two float16 values, the first in the low half) to two float32 bit patterns in `bits`. */
function halfPairsToBits(words: Uint32Array, table: Uint32Array, bits: Uint32Array): void {
  for (let j = 0, i = 0; j < words.length; j++, i += 2) {
    const w = words[j]!;
    bits[i] = table[w & 0xffff]!;
    bits[i + 1] = table[w >>> 16]!;
  }
}

/** Each 32-bit word of `words` (two bfloat16 values, the first in the low half) to two float32 bit patterns in `bits`. */
function bfloatPairsToBits(words: Uint32Array, bits: Uint32Array): void {
  for (let j = 0, i = 0; j < words.length; j++, i += 2) {
    const w = words[j]!;
    bits[i] = w << 16;
    bits[i + 1] = w & 0xffff0000;
  }
}

/**
 * Converts `bytes` of `dtype` to float32. Throws FormatError when the byte length is not a whole number of
 * elements, naming `what`.
 */
export function toFloat32(bytes: Uint8Array, dtype: WeightDType, what = 'tensor'): Float32Array {
  return toFloat32Into(bytes, dtype, undefined, what);
}

/**
 * {@link toFloat32} into `out` (exactly as many elements as `bytes` holds), or a new array when it is not given:
 * a block of a weight converted into memory used again from block to block.
 *
 * @example
 * ```ts
 * const out = new Float32Array(2);
 * toFloat32Into(Uint8Array.of(0x00, 0x3c, 0x00, 0xc0), 'float16', out); // out: [1, -2]
 * ```
 */
export function toFloat32Into(bytes: Uint8Array, dtype: WeightDType, out?: Float32Array, what = 'tensor'): Float32Array {
  const size = kBytes[dtype];
  if (size === undefined) throw new FormatError(`${what}: dtype ${dtype} is not a float type; it cannot be quantized`);
  if (bytes.byteLength % size !== 0) {
    throw new FormatError(`${what}: ${bytes.byteLength} bytes is not a whole number of ${dtype} elements (${size} bytes each)`);
  }
  const count = bytes.byteLength / size;
  if (out && out.length !== count) throw new FormatError(`${what}: ${count} ${dtype} elements for room of ${out.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  out ??= new Float32Array(count);
  if (dtype === 'float32') {
    // Little-endian bytes (ONNX and safetensors store them so) are the Float32Array's own bytes on every
    // platform this runs on: one copy instead of a read per element.
    new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(bytes);
  } else if (dtype === 'float64') {
    for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, true);
  } else {
    // 16-bit types are written as float32 bits: float16 by a table of every pattern's bits (one load an element,
    // about ten times the arithmetic's speed), bfloat16 as its bits shifted up. Read two at a time through a
    // Uint32Array where the bytes are 4-aligned (the first in the low half: little-endian, as on every platform
    // this runs on; about 1.7× faster than one load each), else through a Uint16Array where 2-aligned, else
    // through the DataView.
    const bits = new Uint32Array(out.buffer, out.byteOffset, count);
    const halves = bytes.byteOffset % 2 === 0 ? new Uint16Array(bytes.buffer, bytes.byteOffset, count) : undefined;
    const words = bytes.byteOffset % 4 === 0 ? new Uint32Array(bytes.buffer, bytes.byteOffset, count >>> 1) : undefined;
    const paired = words ? 2 * words.length : 0; // elements converted two at a time; the rest one at a time
    if (dtype === 'float16') {
      const table = halfBitsTable();
      if (words) halfPairsToBits(words, table, bits);
      if (halves) for (let i = paired; i < count; i++) bits[i] = table[halves[i]!]!;
      else for (let i = paired; i < count; i++) bits[i] = table[view.getUint16(2 * i, true)]!;
    } else {
      if (words) bfloatPairsToBits(words, bits);
      if (halves) for (let i = paired; i < count; i++) bits[i] = halves[i]! << 16;
      else for (let i = paired; i < count; i++) bits[i] = view.getUint16(2 * i, true) << 16;
    }
  }
  return out;
}

/**
 * `bytes` of `dtype` as float32 without a copy where possible: float32 bytes at a 4-byte-aligned offset
 * become a Float32Array over the same memory (read-only by contract: writing to it writes to `bytes`).
 * Anything else is converted as {@link toFloat32} does, into `scratch(count)` when given (a reusable array
 * of exactly `count` elements), else into a new array. Fresh memory is what large weights cost most to read.
 *
 * @example
 * ```ts
 * const bytes = new Uint8Array(Float32Array.of(1, 2).buffer);
 * float32View(bytes, 'float32')[1];           // 2, and float32View(bytes, 'float32').buffer === bytes.buffer
 * float32View(bytes.subarray(1), 'float32');  // FormatError: 7 bytes is not a whole number of float32 elements
 * ```
 */
export function float32View(bytes: Uint8Array, dtype: WeightDType, what = 'tensor', scratch?: (count: number) => Float32Array): Float32Array {
  if (dtype === 'float32' && bytes.byteOffset % 4 === 0 && bytes.byteLength % 4 === 0) {
    return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  }
  const size = kBytes[dtype];
  if (!scratch || size === undefined || bytes.byteLength % size !== 0) return toFloat32(bytes, dtype, what);
  return toFloat32Into(bytes, dtype, scratch(bytes.byteLength / size), what);
}

