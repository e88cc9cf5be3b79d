/**
 * The bytes of MatMulNBits' inputs (layout: matmul-nbits-writer.ts): `B`'s blobs packed from a weight's integers
 * ({@link packBlocks}), and the per-block parameters in onnxruntime's [N, blocks] order: scales, stored zero points
 * and the blocks stored negated ({@link zeroPointKinds}, {@link transposeScales}, {@link blockParameters},
 * {@link zeroPointBytes}). Each loop sits in a function of its own: in one large function, branches a call had not
 * taken sent the optimized code back to the interpreter, 5x slower.
 *
 * @example
 * ```ts
 * const data = packBlocks(values, K, N, 32, 4, 8, negated, zeros); // [N, ceil(K / 32), 16] bytes
 * ```
 * @module
 */
import { InvalidArgumentError } from '../../errors.js';
import { isFilledLater } from './deferred-raw-data.js';

/**
 * 4-bit integers packed two to a byte in a weight's row-major order: element i in byte i >> 1, the even element in
 * the low nibble (ONNX int4's order, and a QTensor's `packedNibbles`).
 *
 * @example
 * ```ts
 * const integers: PackedNibbleIntegers = { nibbles: Uint8Array.of(0xe1) }; // 1, -2 as qint4
 * ```
 */
export interface PackedNibbleIntegers {
  readonly nibbles: Uint8Array;
}

/**
 * A weight's integers as {@link packBlocks} takes them: one an element (signed for qint*, unsigned for quint*), or
 * 4-bit ones packed two to a byte.
 *
 * @example
 * ```ts
 * const one: BlockIntegers = Int8Array.of(1, -2);
 * const packed: BlockIntegers = { nibbles: Uint8Array.of(0xe1) };
 * ```
 */
export type BlockIntegers = ArrayLike<number> | PackedNibbleIntegers;

/**
 * The packed bytes of `values` where they are {@link PackedNibbleIntegers}, else undefined.
 *
 * @example
 * ```ts
 * packedNibblesOf({ nibbles: Uint8Array.of(0xe1) }); // Uint8Array [0xe1]
 * packedNibblesOf(Int8Array.of(1, -2));              // undefined
 * ```
 */
export function packedNibblesOf(values: BlockIntegers): Uint8Array | undefined {
  return (values as Partial<PackedNibbleIntegers>).nibbles;
}

/**
 * What is wrong with `values` as the integers of a [rows, columns] weight of `dtype` (`bits` bits), as a writer's
 * InvalidArgumentError gives it, or undefined: packed integers for an 8-bit dtype, or a count that does not fit.
 *
 * @example
 * ```ts
 * blockIntegersProblem({ nibbles: new Uint8Array(3) }, 4, 'qint4', 2, 4); // { value: 3, message: '3 bytes of packed integers do not fit [2, 4]' }
 * blockIntegersProblem(new Int8Array(8), 4, 'qint4', 2, 4);             // undefined
 * ```
 */
export function blockIntegersProblem(
  values: BlockIntegers, bits: 4 | 8, dtype: string, rows: number, columns: number,
): { value: unknown; message: string } | undefined {
  const nibbles = packedNibblesOf(values);
  if (nibbles && bits !== 4) return { value: 'packed nibbles', message: `packed nibbles hold 4-bit integers; ${dtype} takes one integer a byte` };
  const given = nibbles ? nibbles.length : (values as ArrayLike<number>).length;
  if (given === (nibbles ? Math.ceil((rows * columns) / 2) : rows * columns)) return undefined;
  return { value: given, message: `${given} ${nibbles ? 'bytes of packed integers' : 'integers'} do not fit [${rows}, ${columns}]` };
}

/**
 * Whether `values` are a planned layout's integers: a `filledLater` placeholder (deferred-raw-data.ts), packed or
 * not, for which a writer lays out placeholders of the right lengths.
 *
 * @example
 * ```ts
 * isPlannedIntegers({ nibbles: filledLater(8) }); // true
 * ```
 */
export function isPlannedIntegers(values: BlockIntegers): boolean {
  const given = packedNibblesOf(values) ?? values;
  return given instanceof Uint8Array && isFilledLater(given);
}

/**
 * The `B` input of MatMulNBits (matmul-nbits-writer.ts's module documentation): `values` [K, N] row-major, stored as `(q + offset)`, or
 * `-(q + 1) + offset` in a (column, block) whose `negated` flag is 1, columns blocked along K, 4-bit values two to
 * a byte (the lower k in the low nibble), the rows past K holding the block's stored zero point (`zeros`).
 * `values` may be 4-bit integers already packed two to a byte in the weight's own row-major order
 * ({@link PackedNibbleIntegers}, as a QTensor of packed nibbles holds them): half the memory of one a byte.
 * A block of rows at a time. Whole blocks of 8-bit typed arrays with N a multiple of 4 go four columns a word
 * ({@link packWholeBlock}: 12 ms a [4096, 4096] 4-bit weight, where storing each row's bytes took 37 ms and going
 * down each column one integer at a time about 220), packed nibbles with N a multiple of 8 eight columns a word
 * ({@link packWholePackedBlock}); the rest, row by row. `into`, where given, is B's memory (exactly its bytes, on a
 * 4-byte boundary; memory used again from weight to weight: every byte is written).
 *
 * @example
 * ```ts
 * packBlocks(Int8Array.of(1, -2), 1, 2, 16, 4, 8, new Uint8Array(2), Uint8Array.of(8, 8)); // 2 blobs of 8 bytes: 9, 6 in the first nibbles
 * packBlocks({ nibbles: Uint8Array.of(0xe1) }, 1, 2, 16, 4, 8, new Uint8Array(2), Uint8Array.of(8, 8)); // the same bytes
 * ```
 */
export function packBlocks(
  values: BlockIntegers, K: number, N: number, blockSize: number, bits: 4 | 8, offset: number, negated: Uint8Array, zeros: Uint8Array,
  into?: Uint8Array,
): Uint8Array {
  const blocks = Math.ceil(K / blockSize);
  const blob = (blockSize * bits) / 8;
  const stride = blocks * blob; // bytes from one column's blob of a block to the next column's
  if (into && (into.byteLength !== N * stride || into.byteOffset % 4 !== 0)) {
    throw new InvalidArgumentError('into', into.byteLength, `B takes ${N * stride} bytes on a 4-byte boundary, not ${into.byteLength} at byte ${into.byteOffset}`);
  }
  const data = into ?? new Uint8Array(N * stride); // every byte is written below
  const nibbles = packedNibblesOf(values);
  if (nibbles && bits !== 4) throw new InvalidArgumentError('values', 'packed nibbles', `packed nibbles hold 4-bit integers, not ${bits}-bit`);
  const words = nibbles ? packedWordsOf(nibbles, K, N, offset) : wordsOf(values as ArrayLike<number>, K, N, bits, offset);
  const out = new Uint32Array(data.buffer, data.byteOffset, data.byteLength / 4);
  // Per column of the current block: x ^ flip is x, or -(x + 1) where the block is negated; then + offset.
  const source = values as ArrayLike<number>;
  const flip = new Int32Array(N);
  const pad = new Uint8Array(N);
  for (let b = 0; b < blocks; b++) {
    if (words && (b + 1) * blockSize <= K) {
      if (nibbles) packWholePackedBlock(words, N, b, blocks, blockSize, offset, stride, negated, out);
      else packWholeBlock(words, N, b, blocks, blockSize, bits, offset, stride, negated, out);
      continue;
    }
    for (let n = 0; n < N; n++) {
      flip[n] = -negated[n * blocks + b]!;
      pad[n] = zeros[n * blocks + b]!;
    }
    const first = b * blockSize;
    const rows = Math.min(blockSize, K - first);
    // Packed nibbles: this block's rows one a byte (raw nibbles; the stored values are masked to 4 bits below),
    // indexed from the block's first element.
    const base = nibbles ? first * N : 0;
    const ints = nibbles ? nibbleRange(nibbles, base, rows * N) : source;
    if (bits === 8) {
      for (let j = 0; j < rows; j++) {
        const row = (first + j) * N - base;
        let at = b * blob + j;
        for (let n = 0; n < N; n++, at += stride) data[at] = (ints[row + n]! ^ flip[n]!) + offset;
      }
      for (let j = rows; j < blockSize; j++) for (let n = 0; n < N; n++) data[n * stride + b * blob + j] = pad[n]!;
      continue;
    }
    for (let j = 0; j < blockSize; j += 2) {
      const low = first + j < K ? (first + j) * N - base : -1;
      const high = first + j + 1 < K ? (first + j + 1) * N - base : -1;
      let at = b * blob + (j >> 1);
      if (high >= 0) {
        for (let n = 0; n < N; n++, at += stride) {
          const f = flip[n]!;
          data[at] = (((ints[low + n]! ^ f) + offset) & 0xf) | ((((ints[high + n]! ^ f) + offset) & 0xf) << 4);
        }
        continue;
      }
      for (let n = 0; n < N; n++, at += stride) {
        const lo = low < 0 ? pad[n]! : (ints[low + n]! ^ flip[n]!) + offset;
        data[at] = (lo & 0xf) | ((pad[n]! & 0xf) << 4);
      }
    }
  }
  return data;
}

/**
 * `values` as little-endian words of four integers when {@link packWholeBlock} can take them: 8-bit typed arrays
 * on a 4-byte boundary, N a multiple of 4 (so every row starts a word), and an offset the integers' top bit
 * (or none), so that adding it is a flip of that bit in each byte or nibble. Else undefined.
 */
function wordsOf(values: ArrayLike<number>, K: number, N: number, bits: 4 | 8, offset: number): Uint32Array | undefined {
  if (!(values instanceof Int8Array || values instanceof Uint8Array) || N % 4 !== 0 || values.byteOffset % 4 !== 0) return undefined;
  if (offset !== 0 && offset !== 1 << (bits - 1)) return undefined;
  return new Uint32Array(values.buffer, values.byteOffset, (K * N) / 4);
}

/**
 * Packed nibbles as little-endian words of eight integers when {@link packWholePackedBlock} can take them: on a 4-byte
 * boundary, N a multiple of 8 (so every row starts a word), and an offset of 0 or 8 (a flip of each nibble's top
 * bit). Else undefined.
 */
function packedWordsOf(nibbles: Uint8Array, K: number, N: number, offset: number): Uint32Array | undefined {
  if (N % 8 !== 0 || nibbles.byteOffset % 4 !== 0 || (offset !== 0 && offset !== 8)) return undefined;
  return new Uint32Array(nibbles.buffer, nibbles.byteOffset, (K * N) / 8);
}

/** Elements `[from, from + count)` of packed nibbles, one a byte (the raw nibble, 0 to 15). */
function nibbleRange(nibbles: Uint8Array, from: number, count: number): Uint8Array {
  const out = new Uint8Array(count);
  for (let i = 0, e = from; i < count; i++, e++) out[i] = (nibbles[e >> 1]! >> ((e & 1) << 2)) & 0xf;
  return out;
}

/**
 * Four words of four bytes, `p0`..`p3`, transposed as a 4 x 4 matrix of bytes: byte c of `p_k` becomes byte k of
 * the word stored at `out[at + c × step]`.
 */
function storeTransposed(p0: number, p1: number, p2: number, p3: number, out: Uint32Array, at: number, step: number): void {
  // Interleave p0 / p1 and p2 / p3, then take halves.
  const t0 = (p0 & 0x00ff00ff) | (p1 & 0x00ff00ff) << 8;
  const t1 = (p0 >>> 8 & 0x00ff00ff) | (p1 & 0xff00ff00);
  const u0 = (p2 & 0x00ff00ff) | (p3 & 0x00ff00ff) << 8;
  const u1 = (p2 >>> 8 & 0x00ff00ff) | (p3 & 0xff00ff00);
  out[at] = (t0 & 0xffff) | u0 << 16;
  out[at + step] = (t1 & 0xffff) | u1 << 16;
  out[at + 2 * step] = (t0 >>> 16) | (u0 & 0xffff0000);
  out[at + 3 * step] = (t1 >>> 16) | (u1 & 0xffff0000);
}

/**
 * Block `b` of {@link packBlocks} from packed nibbles, eight columns per word read: as {@link packWholeBlock}, the
 * negation and the offset are word operations (`~x` and a flip of each nibble's top bit); two rows' words give the
 * even columns' bytes (both rows' low nibbles) and the odd columns' (their high nibbles), each four rows' pairs
 * transposed into one word of each column's blob.
 */
function packWholePackedBlock(
  words: Uint32Array, N: number, b: number, blocks: number, blockSize: number, offset: number,
  stride: number, negated: Uint8Array, out: Uint32Array,
): void {
  const octs = N / 8; // words a row
  const top = offset === 0 ? 0 : 0x88888888 | 0;
  const low = 0x0f0f0f0f;
  const high = 0xf0f0f0f0 | 0;
  const columnWords = stride / 4; // words from one column's blobs to the next column's
  const rowBase = b * blockSize * octs;
  for (let w = 0; w < octs; w++) {
    const n = 8 * w;
    // 0xf in the nibbles of the negated columns of this word (their integers' bits flipped).
    let f = 0;
    for (let c = 0; c < 8; c++) f |= (-negated[(n + c) * blocks + b]! & 0xf) << (4 * c);
    const flip = f ^ top;
    const at = n * columnWords + (b * blockSize) / 8;
    for (let j = 0, r = rowBase + w, k = at; j < blockSize; j += 8, k++) {
      // Rows j + 2i (a) and j + 2i + 1 (c): byte d of e_i is column n + 2d's pair, of o_i column n + 2d + 1's.
      let a = words[r]! ^ flip, c = words[r + octs]! ^ flip; r += 2 * octs;
      const e0 = (a & low) | (c & low) << 4, o0 = (a >>> 4 & low) | (c & high);
      a = words[r]! ^ flip; c = words[r + octs]! ^ flip; r += 2 * octs;
      const e1 = (a & low) | (c & low) << 4, o1 = (a >>> 4 & low) | (c & high);
      a = words[r]! ^ flip; c = words[r + octs]! ^ flip; r += 2 * octs;
      const e2 = (a & low) | (c & low) << 4, o2 = (a >>> 4 & low) | (c & high);
      a = words[r]! ^ flip; c = words[r + octs]! ^ flip; r += 2 * octs;
      const e3 = (a & low) | (c & low) << 4, o3 = (a >>> 4 & low) | (c & high);
      storeTransposed(e0, e1, e2, e3, out, k, 2 * columnWords);
      storeTransposed(o0, o1, o2, o3, out, k + columnWords, 2 * columnWords);
    }
  }
}

/**
 * Block `b` (all `blockSize` of its rows inside the weight) of {@link packBlocks}, four columns per word read:
 * negation is `~x` and the offset a flip of the top bit, both the same in every byte (or nibble once masked), so
 * four columns are converted with three word operations; four such words (four rows, or pairs of rows packed
 * as nibbles) are then transposed as a 4 x 4 matrix of bytes into one word of each column's blob. Each column's
 * blob is written whole, a word at a time (byte stores to every column's blob per row, which land in the same
 * few cache sets at this power-of-two stride, took 3x as long on [4096, 4096]).
 */
function packWholeBlock(
  words: Uint32Array, N: number, b: number, blocks: number, blockSize: number, bits: 4 | 8, offset: number,
  stride: number, negated: Uint8Array, out: Uint32Array,
): void {
  const quads = N / 4;
  const top = offset === 0 ? 0 : bits === 8 ? 0x80808080 | 0 : 0x08080808;
  const mask = bits === 8 ? -1 : 0x0f0f0f0f;
  const columnWords = stride / 4; // words from one column's blobs to the next column's
  const rowsPerWord = 32 / bits; // 4 rows of bytes, 8 of nibbles
  const rowBase = b * blockSize * quads;
  for (let w = 0; w < quads; w++) {
    const n = 4 * w;
    // 0xff in the bytes of the negated columns of this word (their integers' bits flipped).
    const f = -negated[n * blocks + b]! & 0xff | (-negated[(n + 1) * blocks + b]! & 0xff) << 8
      | (-negated[(n + 2) * blocks + b]! & 0xff) << 16 | (-negated[(n + 3) * blocks + b]! & 0xff) << 24;
    let at = n * columnWords + (b * blockSize * bits) / 32;
    for (let j = 0, r = rowBase + w; j < blockSize; j += rowsPerWord, at++) {
      let p0: number, p1: number, p2: number, p3: number;
      if (bits === 8) {
        p0 = words[r]! ^ f ^ top; r += quads;
        p1 = words[r]! ^ f ^ top; r += quads;
        p2 = words[r]! ^ f ^ top; r += quads;
        p3 = words[r]! ^ f ^ top; r += quads;
      } else {
        p0 = ((words[r]! ^ f) & mask ^ top) | ((words[r + quads]! ^ f) & mask ^ top) << 4; r += 2 * quads;
        p1 = ((words[r]! ^ f) & mask ^ top) | ((words[r + quads]! ^ f) & mask ^ top) << 4; r += 2 * quads;
        p2 = ((words[r]! ^ f) & mask ^ top) | ((words[r + quads]! ^ f) & mask ^ top) << 4; r += 2 * quads;
        p3 = ((words[r]! ^ f) & mask ^ top) | ((words[r + quads]! ^ f) & mask ^ top) << 4; r += 2 * quads;
      }
      // Byte c of p_i is column n + c's byte i.
      storeTransposed(p0, p1, p2, p3, out, at, columnWords);
    }
  }
}

/**
 * Whether any signed block is stored negated (zero point -1) and any zero point is stored other than the default,
 * in one pass over the parameters in their own order.
 *
 * @example
 * ```ts
 * zeroPointKinds(Int32Array.of(0, -1), 2, 8, 8); // { anyNegated: true, needZeros: false }
 * ```
 */
export function zeroPointKinds(zeroPoints: ArrayLike<number>, count: number, offset: number, defaultZero: number): { anyNegated: boolean; needZeros: boolean } {
  // Flags ORed without a branch per value: a zero point of -1 (signed) is stored as the default, any other as itself.
  const signed = offset !== 0 ? 1 : 0;
  let negated = 0;
  let other = 0;
  for (let p = 0; p < count; p++) {
    const zeroPoint = zeroPoints[p]!;
    const flip = signed & +(zeroPoint === -1);
    negated |= flip;
    other |= (1 - flip) & +(zeroPoint + offset !== defaultZero);
  }
  return { anyNegated: negated === 1, needZeros: other === 1 };
}

/** Columns a tile of the parameter transposes below: small enough that their power-of-two strides keep in the cache. */
const PARAMETER_TILE = 16;

/**
 * Scales per (column, block) in onnxruntime's order, [N, blocks], where parameter p of (block b, column n) is
 * b × blockStep + n × columnStep: a transpose of [blocks, N] for groups, in tiles of columns.
 *
 * @example
 * ```ts
 * const scales = new Float32Array(4);
 * transposeScales(Float32Array.of(1, 2, 3, 4), 2, 2, 2, 1, scales); // [blocks 2, N 2] → Float32Array [1, 3, 2, 4]
 * ```
 */
export function transposeScales(
  given: ArrayLike<number>, N: number, blocks: number, blockStep: number, columnStep: number, scales: Float32Array,
): void {
  for (let tile = 0; tile < N; tile += PARAMETER_TILE) {
    const end = Math.min(N, tile + PARAMETER_TILE);
    for (let b = 0; b < blocks; b++) {
      for (let n = tile, p = b * blockStep + tile * columnStep, at = tile * blocks + b; n < end; n++, p += columnStep, at += blocks) {
        scales[at] = given[p]!;
      }
    }
  }
}

/**
 * {@link transposeScales} with the stored zero points and the negated blocks (writeMatMulNBits' comment): a
 * signed block with zero point -1 gets the scale negated, zero point 0, and its flag in `negated`.
 *
 * @example
 * ```ts
 * const [scales, zeros, negated] = [new Float32Array(2), new Uint8Array(2), new Uint8Array(2)];
 * blockParameters(Float32Array.of(0.5, 0.25), Int32Array.of(-1, 3), 2, 1, 0, 1, 8, scales, zeros, negated);
 * // scales [-0.5, 0.25], zeros [8, 11], negated [1, 0]
 * ```
 */
export function blockParameters(
  givenScales: ArrayLike<number>, givenZeros: ArrayLike<number>, N: number, blocks: number, blockStep: number, columnStep: number,
  offset: number, scales: Float32Array, zeros: Uint8Array, negated: Uint8Array,
): void {
  for (let tile = 0; tile < N; tile += PARAMETER_TILE) {
    const end = Math.min(N, tile + PARAMETER_TILE);
    for (let b = 0; b < blocks; b++) {
      for (let n = tile, p = b * blockStep + tile * columnStep, at = tile * blocks + b; n < end; n++, p += columnStep, at += blocks) {
        const zeroPoint = givenZeros[p]!;
        const flip = offset !== 0 && zeroPoint === -1;
        negated[at] = flip ? 1 : 0;
        scales[at] = flip ? -givenScales[p]! : givenScales[p]!;
        zeros[at] = (flip ? 0 : zeroPoint) + offset;
      }
    }
  }
}

/**
 * The inverse of {@link blockParameters} for groups (blockStep N, columnStep 1): the scales and signed-or-unsigned
 * zero points per group in [blocks, N] order, from the stored ones, so that a compressor can quantize a weight again
 * without keeping copies of its parameters.
 *
 * @example
 * ```ts
 * groupParametersAgain(Float32Array.of(-0.5, 0.25), Uint8Array.of(8, 11), Uint8Array.of(1, 0), 1, 2, 8);
 * // { scales: Float32Array [0.5, 0.25], zeroPoints: Int16Array [-1, 3] }
 * ```
 */
export function groupParametersAgain(
  scales: Float32Array, zeros: Uint8Array, negated: Uint8Array, N: number, blocks: number, offset: number,
): { scales: Float32Array; zeroPoints: Int16Array } {
  const out = { scales: new Float32Array(N * blocks), zeroPoints: new Int16Array(N * blocks) };
  for (let tile = 0; tile < N; tile += PARAMETER_TILE) {
    const end = Math.min(N, tile + PARAMETER_TILE);
    for (let b = 0; b < blocks; b++) {
      for (let n = tile, p = b * N + tile, at = tile * blocks + b; n < end; n++, p++, at += blocks) {
        const flip = negated[at] === 1;
        out.scales[p] = flip ? -scales[at]! : scales[at]!;
        out.zeroPoints[p] = flip ? -1 : zeros[at]! - offset;
      }
    }
  }
  return out;
}

/**
 * The `zero_points` input: the stored zero points [N, blocks], each column's starting on a byte, 4-bit two a byte.
 *
 * @example
 * ```ts
 * zeroPointBytes(Uint8Array.of(1, 2, 3), 1, 3, 4, 2); // Uint8Array [0x21, 0x03]
 * ```
 */
export function zeroPointBytes(zeros: Uint8Array, N: number, blocks: number, bits: 4 | 8, bytesPerColumn: number): Uint8Array {
  const out = new Uint8Array(N * bytesPerColumn);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < blocks; b++) {
      const z = zeros[n * blocks + b]!;
      if (bits === 8) out[n * bytesPerColumn + b] = z;
      else out[n * bytesPerColumn + (b >> 1)]! |= (z & 0xf) << ((b & 1) * 4);
    }
  }
  return out;
}
