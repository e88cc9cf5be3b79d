/**
 * ggml's block-quantized types Q8_0 and Q4_0, quantized the way ggml's reference quantizers
 * (`quantize_row_q8_0_ref`, `quantize_row_q4_0_ref`, the ones llama.cpp uses to create model files) do it,
 * step for step in float32, and dequantized the way `dequantize_row_q8_0` / `_q4_0` do.
 *
 * - Q8_0: 32 weights in 34 bytes: float16 `d`, then 32 int8 `q`. `d = amax / 127`; `q = roundf(x · (1/d))`
 *   (round half away from zero); value `q · d`.
 * - Q4_0: 32 weights in 18 bytes: float16 `d`, then 16 bytes of nibbles. `max` is the element of largest
 *   magnitude (the first one on a tie), kept with its sign; `d = max / −8`; `q = min(15, trunc(x · (1/d) + 8.5))`;
 *   byte j holds element j in its low nibble and element j + 16 in its high nibble; value `(q − 8) · d`.
 *
 * The scale: ggml computes `1/d` from the float32 `d` and quantizes with it, then stores `d` rounded to
 * float16 (round to nearest even). We do the same, so the integers are ggml's; the dequantized value uses
 * the stored float16 `d`, as every ggml kernel does. An all-zero block has `d = 0` and `q = 0` (Q8_0) or
 * `q = 8` (Q4_0).
 *
 * @example
 * ```ts
 * const row = Float32Array.from({ length: 32 }, (_, i) => i - 16);
 * const blocks = quantizeRowQ8_0(row);     // 34 bytes
 * dequantizeRowQ8_0(blocks, 32)[31];       // 15 (within d/2 = 0.063 of the original)
 * ```
 * @module
 */
import { halfToFloat } from '../float-convert.js';
import { floatToHalfBits } from '../half.js';

/** Weights per block of Q8_0 and Q4_0 (ggml's QK8_0 and QK4_0). */
export const GGML_BLOCK_SIZE = 32;
/** Bytes per block: sizeof(block_q8_0) = 2 + 32. */
export const Q8_0_BLOCK_BYTES = 34;
/** Bytes per block: sizeof(block_q4_0) = 2 + 16. */
export const Q4_0_BLOCK_BYTES = 18;

const f32 = Math.fround;

/**
 * C's roundf (halves away from zero) for the finite |x| ≤ 2^31 of a block: exact for float32 inputs (|x| + 0.5 is
 * exact in float64), and without a branch on the sign, which random weights mispredict half the time (a
 * branch made the Q8_0 loop 2× slower).
 */
function roundAwayFromZero(x: number): number {
  const magnitude = Math.floor(Math.abs(x) + 0.5) | 0;
  const negative = +(x < 0);
  return (magnitude ^ -negative) + negative;
}

/** (int8_t)(x·id + 8.5f) clamped to a nibble: the sum is rounded to float32 first, then truncated (never negative). */
function nibbleQ4_0(x: number, id: number): number {
  return Math.max(0, Math.min(15, Math.trunc(f32(f32(x * id) + 8.5))));
}

function checkRow(row: Float32Array, what: string): number {
  if (row.length % GGML_BLOCK_SIZE !== 0) throw new RangeError(`${what}: row length ${row.length} is not a multiple of 32`);
  return row.length / GGML_BLOCK_SIZE;
}

/**
 * One row (a multiple of 32 values) as Q8_0 blocks, bit for bit what `quantize_row_q8_0_ref` writes.
 * Values must be finite and amax / 127 must fit a float16 (callers check; see compressToGguf).
 *
 * @example
 * ```ts
 * quantizeRowQ8_0(new Float32Array(32)); // 34 zero bytes
 * ```
 */
export function quantizeRowQ8_0(row: Float32Array, out = new Uint8Array(checkRow(row, 'Q8_0') * Q8_0_BLOCK_BYTES), offset = 0): Uint8Array {
  const blocks = checkRow(row, 'Q8_0');
  const q = new Int8Array(out.buffer, out.byteOffset, out.byteLength); // an int8 store wraps as (int8_t) does
  for (let b = 0; b < blocks; b++) {
    const start = b * GGML_BLOCK_SIZE;
    let amax = 0;
    for (let j = start; j < start + GGML_BLOCK_SIZE; j++) {
      const a = Math.abs(row[j]!);
      if (a > amax) amax = a; // the values are finite (callers check), so this is fmaxf
    }
    const d = f32(amax / 127);
    const id = d ? f32(1 / d) : 0;
    const at = offset + b * Q8_0_BLOCK_BYTES;
    const half = floatToHalfBits(d);
    out[at] = half & 0xff;
    out[at + 1] = half >> 8;
    for (let j = 0, i = at + 2; j < GGML_BLOCK_SIZE; j++, i++) q[i] = roundAwayFromZero(f32(row[start + j]! * id));
  }
  return out;
}

/**
 * One row as Q4_0 blocks, bit for bit what `quantize_row_q4_0_ref` writes.
 *
 * @example
 * ```ts
 * quantizeRowQ4_0(new Float32Array(32)); // d = 0, every nibble 8: bytes 2..17 are 0x88
 * ```
 */
export function quantizeRowQ4_0(row: Float32Array, out = new Uint8Array(checkRow(row, 'Q4_0') * Q4_0_BLOCK_BYTES), offset = 0): Uint8Array {
  const blocks = checkRow(row, 'Q4_0');
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const half = GGML_BLOCK_SIZE / 2;
  for (let b = 0; b < blocks; b++) {
    const start = b * GGML_BLOCK_SIZE;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < GGML_BLOCK_SIZE; j++) {
      const v = row[start + j]!;
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = f32(max / -8);
    const id = d ? f32(1 / d) : 0;
    const at = offset + b * Q4_0_BLOCK_BYTES;
    view.setUint16(at, floatToHalfBits(d), true);
    for (let j = 0; j < half; j++) {
      out[at + 2 + j] = nibbleQ4_0(row[start + j]!, id) | (nibbleQ4_0(row[start + half + j]!, id) << 4);
    }
  }
  return out;
}

/**
 * Q8_0 blocks back to float32 (`q · d` with the stored float16 d).
 *
 * @example
 * ```ts
 * dequantizeRowQ8_0(quantizeRowQ8_0(row), row.length);
 * ```
 */
export function dequantizeRowQ8_0(bytes: Uint8Array, count: number, offset = 0): Float32Array {
  const out = new Float32Array(count);
  const q = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < count / GGML_BLOCK_SIZE; b++) {
    const at = offset + b * Q8_0_BLOCK_BYTES;
    const d = halfToFloat(bytes[at]! | (bytes[at + 1]! << 8));
    for (let j = 0, i = at + 2, o = b * GGML_BLOCK_SIZE; j < GGML_BLOCK_SIZE; j++, i++, o++) out[o] = f32(q[i]! * d);
  }
  return out;
}

/**
 * Q4_0 blocks back to float32 (`(q − 8) · d` with the stored float16 d).
 *
 * @example
 * ```ts
 * dequantizeRowQ4_0(quantizeRowQ4_0(row), row.length);
 * ```
 */
export function dequantizeRowQ4_0(bytes: Uint8Array, count: number, offset = 0): Float32Array {
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const half = GGML_BLOCK_SIZE / 2;
  for (let b = 0; b < count / GGML_BLOCK_SIZE; b++) {
    const at = offset + b * Q4_0_BLOCK_BYTES;
    const d = halfToFloat(view.getUint16(at, true));
    for (let j = 0; j < half; j++) {
      const byte = bytes[at + 2 + j]!;
      out[b * GGML_BLOCK_SIZE + j] = f32(((byte & 0x0f) - 8) * d);
      out[b * GGML_BLOCK_SIZE + half + j] = f32(((byte >> 4) - 8) * d);
    }
  }
  return out;
}
