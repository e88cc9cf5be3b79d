/**
 * Error statistics on the CPU, bit for bit as the reference (src/reference/error-stats.ts): the same float64
 * sums in the same element order, the same x̂ and clipping test, with the per-element parameter and bucket
 * indices kept by counters instead of divisions. The WebAssembly kernel (simd-kernels.wat, errorStats) runs
 * 8-bit and 4-bit grids and plain x̂ values; qint32, empty tensors and engines without WebAssembly SIMD run the
 * loop below, which does the same in JavaScript.
 *
 * @example
 * ```ts
 * cpuErrorStats(checkErrorStatsArguments(w, q, { axis: 0 })).perChannel!.sqnrDb; // Float64Array, one per row
 * ```
 * @module
 */
import { InvalidArgumentError } from '../../errors.js';
import { assembleErrorStats } from '../../stats/assemble.js';
import { type ErrorStatsRequest, nanArgumentError } from '../../stats/arguments.js';
import { BucketSums } from '../../stats/bucket-sums.js';
import { type IndexMap, channelIndexMap, groupIndexMap } from '../../stats/index-map.js';
import type { ErrorStats } from '../../stats/types.js';
import { unpackNibblesInto } from '../../pack-nibbles.js';
import { roundHalfEven } from '../../round.js';
import { PIECE_ELEMENTS, simdKernels } from './simd-module.js';

/** The index of consecutive elements under an IndexMap, advanced one element at a time without division. */
class IndexCursor {
  index: number;
  #k = 0;
  #a = 0;
  #inGroup = 0;
  #outerBase = 0;
  #groupBase = 0;
  readonly #map: IndexMap;

  constructor(map: IndexMap) {
    this.#map = map;
    this.index = 0;
  }

  next(): void {
    const map = this.#map;
    if (++this.#k < map.inner) {
      this.index += map.strideInner;
      return;
    }
    this.#k = 0;
    if (++this.#a === map.axisLen) {
      this.#a = 0;
      this.#inGroup = 0;
      this.#groupBase = 0;
      this.#outerBase += map.strideOuter;
    } else if (++this.#inGroup === map.groupSize) {
      this.#inGroup = 0;
      this.#groupBase += map.strideGroup;
    }
    this.index = this.#outerBase + this.#groupBase;
  }
}

/**
 * `errorStats` of a checked request, on the CPU.
 *
 * @example
 * ```ts
 * cpuErrorStats(checkErrorStatsArguments(tensor([1, 2, 3, 4]), tensor([1, 2, 3, 5]))).overall.mse; // 0.25
 * ```
 */
export function cpuErrorStats(request: ErrorStatsRequest): ErrorStats {
  const { overall, perChannel, perGroup } = cpuErrorSums(request);
  return assembleErrorStats(request, overall, perChannel, perGroup, 'cpu');
}

/** The bucket sums behind {@link cpuErrorStats}: overall, and per channel / per group where the request asks for them. */
export interface ErrorSums { overall: BucketSums; perChannel?: BucketSums | undefined; perGroup?: BucketSums | undefined }

/**
 * The sums of {@link cpuErrorStats} before they become statistics. With `carry` (8 float64: Σe², Σx², Σx̂²,
 * Σx·x̂, max |e|, clipped, nonFinite, unused), the overall sums go on from the sums of the elements before
 * these, in element order, and the final ones are written back to it: a tensor cut into consecutive parts, each
 * run with the carry of the part before, ends with the whole tensor's overall sums to the bit. The overall
 * count is this request's elements only.
 *
 * @example
 * ```ts
 * const carry = new Float64Array(8);
 * for (const part of rowBlocks) cpuErrorSums(checkErrorStatsArguments(part.x, part.q, { axis: 0 }), carry);
 * carry[0]; // Σe² of the whole tensor, the bits cpuErrorStats(whole) sums
 * ```
 *
 * With `channelsFrom` (the `perChannel` sums this call returned for the part before, the same channels), each
 * channel's sums go on from there the same way, in place: `channelsFrom` itself is updated and returned as
 * `perChannel` (nothing new per part). For parts of whole rows and a channel axis other than the first (every
 * part has all the channels), after the last part they are the whole tensor's, to the bit (counts aside: they
 * are this request's).
 *
 * @example
 * ```ts
 * let channels: BucketSums | undefined;
 * for (const part of rowBlocks) channels = cpuErrorSums(checkErrorStatsArguments(part.x, part.q, { axis: 1 }), carry, channels).perChannel;
 * ```
 */
export function cpuErrorSums(request: ErrorStatsRequest, carry?: Float64Array, channelsFrom?: BucketSums): ErrorSums {
  const sums = simdErrorSums(request, carry, undefined, channelsFrom) ?? loopErrorSums(request, carry, channelsFrom);
  if (carry) keepCarry(carry, sums.overall);
  return sums;
}

/** The overall sums into `carry`, for the next part to go on from. */
function keepCarry(carry: Float64Array, o: BucketSums): void {
  carry.set([o.sumSquaredError[0]!, o.sumSquaredOriginal[0]!, o.sumSquaredDequantized[0]!, o.sumProduct[0]!, o.maxAbsError[0]!, o.clipped[0]!, o.nonFinite[0]!]);
}

/** The bytes of one bucket and one cursor in the kernel's memory (simd-kernels.wat). */
const kBucketBytes = 64;
const kCursorBytes = 48;

/** The cursor of one index for the whole tensor: k never reaches the (unsigned) limit -1. */
const kOneIndex: readonly number[] = [0, 0, 0, 0, 0, 0, -1, 0, 1, 1, 0, 0];

/** A cursor's twelve int32 fields for `map`, rewritten where an equivalent map takes fewer slow steps. */
function cursorFields(map: IndexMap): readonly number[] {
  const { inner, strideInner, axisLen, groupSize, strideGroup, strideOuter } = map;
  if (strideOuter === 0 && strideGroup === 0 && strideInner === 0) return kOneIndex;
  // One index per position along a last axis: the axis becomes the inner run.
  if (inner === 1 && groupSize === 1) return [0, 0, 0, 0, 0, 0, axisLen, strideGroup, 1, 1, 0, strideOuter];
  // Whole groups along a last axis: each group becomes a run of one index (the kernel's runs take it).
  if (inner === 1 && axisLen % groupSize === 0) return [0, 0, 0, 0, 0, 0, groupSize, 0, axisLen / groupSize, 1, strideGroup, strideOuter];
  return [0, 0, 0, 0, 0, 0, inner, strideInner, axisLen, groupSize, strideGroup, strideOuter];
}

/** Whether a cursor keeps one index over runs of 16 or more (the kernel's runs take it; simd-kernels.wat). */
function runsWhole(fields: readonly number[]): boolean {
  return fields[7] === 0 && (fields[6]! >>> 0) >= 16;
}

/** `from`, when it has `channels` buckets (the sums of a part before, for the same channels). */
function checkedFrom(from: BucketSums, channels: number): BucketSums {
  if (from.size !== channels) throw new InvalidArgumentError('channelsFrom', from.size, `per-channel sums to go on from have ${from.size} channels; this request has ${channels}`);
  return from;
}

/** Writes BucketSums into the kernel's buckets at `offset` (the inverse of readBuckets). */
function writeBuckets(memory: ArrayBuffer, offset: number, sums: BucketSums): void {
  const v = new Float64Array(memory, offset, 8 * sums.size);
  for (let i = 0; i < BucketSums.SUMS.length; i++) {
    const from = sums[BucketSums.SUMS[i]!];
    for (let b = 0, j = i; b < sums.size; b++, j += 8) v[j] = from[b]!;
  }
}

/**
 * Copies the kernel's buckets at `offset` into BucketSums; `countOf(b)` is bucket b's element count (the
 * kernel leaves counts to the host: they follow from the shape).
 */
function readBuckets(memory: ArrayBuffer, offset: number, sums: BucketSums, countOf: (bucket: number) => number): void {
  const v = new Float64Array(memory, offset, 8 * sums.size);
  for (let b = 0, j = 0; b < sums.size; b++, j += 8) {
    sums.sumSquaredError[b] = v[j]!;
    sums.sumSquaredOriginal[b] = v[j + 1]!;
    sums.sumSquaredDequantized[b] = v[j + 2]!;
    sums.sumProduct[b] = v[j + 3]!;
    sums.maxAbsError[b] = v[j + 4]!;
    sums.clipped[b] = v[j + 5]!;
    sums.nonFinite[b] = v[j + 6]!;
    sums.count[b] = countOf(b);
  }
}

/**
 * Pieces whose originals and x̂ values are written straight into the kernel's memory, instead of copied there from
 * the request's arrays (see {@link cpuErrorStatsOfPieces}).
 */
export interface ErrorStatsPieces {
  /** Bytes of further regions the producer needs beside the two pieces (its own scratch). */
  readonly extraSizes: readonly number[];
  /** Indices into `extraSizes` of the regions JavaScript copies pieces into or out of. */
  readonly copied: readonly number[];
  /**
   * Writes elements `first` to `first + count - 1`: their originals as float32 at byte `original` and their x̂
   * at byte `values` of `memory`; `extra` are the byte offsets of the regions of `extraSizes`.
   */
  fill(memory: ArrayBuffer, first: number, count: number, original: number, values: number, extra: readonly number[]): void;
}

/**
 * `errorStats` of x̂ values (a plain Tensor, no grid) that a producer writes piece by piece straight into the
 * WebAssembly kernel's memory beside the originals they came from, for a tensor of `shape` (statistics per
 * channel along `axis` when given): each piece is measured while it is in the cache, with nothing copied in or
 * out, and the result is {@link cpuErrorStats}' to the bit for the same two arrays (the same kernel, the same
 * pieces in the same order). A NaN in either throws the InvalidArgumentError `checkErrorStatsArguments` throws.
 * Undefined (nothing filled) where the kernel does not run: no WebAssembly SIMD, or memory it cannot have.
 *
 * @example
 * ```ts
 * const stats = cpuErrorStatsOfPieces([rows, row], 0, {
 *   extraSizes: [], copied: [],
 *   fill(memory, first, count, original, values) {
 *     new Float32Array(memory, original, count).set(x.subarray(first, first + count));
 *     new Float32Array(memory, values, count).set(xHat.subarray(first, first + count));
 *   },
 * }); // the same as cpuErrorStats(checkErrorStatsArguments(x, xHat, { axis: 0 }))
 * ```
 */
export function cpuErrorStatsOfPieces(shape: readonly number[], axis: number | undefined, pieces: ErrorStatsPieces): ErrorStats | undefined {
  const sums = cpuErrorSumsOfPieces(shape, axis, pieces);
  return sums && assembleErrorStats({ shape: [...shape], ...(axis === undefined ? {} : { axis }), quantized: { kind: 'values' } },
    sums.overall, sums.perChannel, sums.perGroup, 'cpu');
}

/**
 * The bucket sums behind {@link cpuErrorStatsOfPieces}, for a part of a tensor measured after the parts before
 * it: `carry` holds their overall sums and is updated with this part's (as in {@link cpuErrorSums}), so parts of
 * whole rows measured in order give the whole tensor's sums to the bit. Undefined (nothing filled) where the
 * kernel does not run.
 *
 * @example
 * ```ts
 * const carry = new Float64Array(8);
 * for (const part of parts) cpuErrorSumsOfPieces([part.rows, row], 0, part.pieces, carry); // carry: the overall sums so far
 * ```
 */
export function cpuErrorSumsOfPieces(shape: readonly number[], axis: number | undefined, pieces: ErrorStatsPieces, carry?: Float64Array): ErrorSums | undefined {
  const size = shape.reduce((a, b) => a * b, 1);
  const empty = new Float32Array(0); // the pieces come from `fill`, never from these arrays
  const request: ErrorStatsRequest = { original: empty, shape: [...shape], size, ...(axis === undefined ? {} : { axis }), quantized: { kind: 'values', data: empty } };
  const sums = simdErrorSums(request, carry, pieces);
  if (sums && carry) keepCarry(carry, sums.overall);
  return sums;
}

/** Throws the statistics' NaN error when the kernel's scan of a piece (`count` elements from `first`) found one at `found`. */
function rejectNaNPiece(found: number, first: number, count: number, argument: string): void {
  if (found < count) throw nanArgumentError(argument, first + found);
}

/** The sums from the WebAssembly kernel, or undefined where it does not apply. */
function simdErrorSums(
  request: ErrorStatsRequest, carry: Float64Array | undefined, produced?: ErrorStatsPieces, channelsFrom?: BucketSums,
): ErrorSums | undefined {
  const { shape, axis, groupSize, size, original } = request;
  const q = request.quantized;
  if (size === 0 || (q.kind === 'grid' && !q.nibbles && q.ints.BYTES_PER_ELEMENT !== 1)) return undefined;
  const kernels = simdKernels();
  if (!kernels) return undefined;
  const channelMap = axis === undefined ? undefined : channelIndexMap(shape, axis);
  const groupMap = axis === undefined || groupSize === undefined ? undefined : groupIndexMap(shape, axis, groupSize);
  const piece = Math.min(size, PIECE_ELEMENTS);
  const paramCount = q.kind === 'grid' ? q.grid.scales.length : 0;
  const at = produced ? undefined : kernels.heldOffset(original); // a held array is read in place
  const channels = channelMap?.count ?? 0;
  const base = [at === undefined ? 4 * piece : 0, q.kind === 'grid' ? piece : 4 * piece, 16 * paramCount, kBucketBytes,
    kBucketBytes * channels, kBucketBytes * (groupMap?.count ?? 0), 3 * kCursorBytes, 8 * channels, kBucketBytes, 16];
  const offsets = kernels.reserve([...base, ...(produced?.extraSizes ?? [])], [0, 1, ...(produced?.copied.map((i) => base.length + i) ?? [])]);
  if (!offsets) return undefined;
  const [scratch, values, params, overallAt, channelAt, groupAt, cursors, channelMaxAt, unusedAt, scanMaxAt] = offsets as
    [number, number, number, number, number, number, number, number, number, number];
  const extra = offsets.slice(base.length);
  const memory = kernels.memory.buffer;
  new Float64Array(memory, overallAt, 8 * (1 + channels + (groupMap?.count ?? 0))).fill(0); // the three bucket regions are adjacent
  // The columns path's max |e| per channel, kept apart from the buckets (simd-kernels.wat) and folded in below.
  const channelMax = new Float64Array(memory, channelMaxAt, channels).fill(0);
  if (carry) new Float64Array(memory, overallAt, 7).set(carry.subarray(0, 7));
  if (channelsFrom) writeBuckets(memory, channelAt, checkedFrom(channelsFrom, channels));
  const cursorView = new Int32Array(memory, cursors, 3 * kCursorBytes / 4);
  let flags = 0;
  let qmin = 0;
  let qmax = 0;
  let quantized: Uint8Array | Float32Array;
  let nibbles: { readonly packed: Uint8Array; readonly signed: boolean } | undefined; // unpacked a piece at a time
  let paramFields: readonly number[];
  if (q.kind === 'values') {
    flags |= 16;
    quantized = q.data;
    paramFields = kOneIndex; // no parameters: one long run
  } else {
    const { grid } = q;
    const table = new Float32Array(memory, params, 4 * paramCount);
    const zeros = new Int32Array(memory, params, 4 * paramCount);
    for (let p = 0; p < paramCount; p++) {
      table[4 * p] = grid.scales[p]!;
      table[4 * p + 1] = grid.inverseScales[p]!;
      zeros[4 * p + 2] = grid.zeroPoints[p]!;
    }
    paramFields = cursorFields(grid.map);
    nibbles = q.nibbles;
    const ints = nibbles ? undefined : q.ints;
    flags |= ((nibbles ? nibbles.signed : ints instanceof Int8Array) ? 1 : 0) | (grid.integerSubtract ? 2 : 0);
    ({ qmin, qmax } = grid);
    quantized = ints ? new Uint8Array(ints.buffer, ints.byteOffset, size) : new Uint8Array(0);
  }
  const source = at === undefined ? new Float32Array(memory, scratch, piece) : undefined;
  const target = quantized instanceof Float32Array ? new Float32Array(memory, values, piece)
    : nibbles?.signed ? new Int8Array(memory, values, piece) : new Uint8Array(memory, values, piece);
  /** One pass of the kernel over the tensor, from fresh cursors, with the buckets `bucketFlags` names. */
  const pass = (bucketFlags: number, overall: number, channelFields: readonly number[] | undefined, groupFields: readonly number[] | undefined,
    channelBuckets: number) => {
    cursorView.set(paramFields, 0);
    if (channelFields) cursorView.set(channelFields, kCursorBytes / 4);
    if (groupFields) cursorView.set(groupFields, 2 * kCursorBytes / 4);
    for (let first = 0; first < size; first += piece) {
      const count = Math.min(piece, size - first);
      if (produced) {
        produced.fill(memory, first, count, scratch, values, extra);
        rejectNaNPiece(kernels.scan(scratch, count, 1, scanMaxAt), first, count, 'original.data');
        rejectNaNPiece(kernels.scan(values, count, 1, scanMaxAt), first, count, 'quantized.data');
      } else {
        source?.set(original.subarray(first, first + count));
        // Pieces start on even elements: a piece's nibbles start on a byte.
        if (nibbles) unpackNibblesInto(nibbles.packed.subarray(first / 2), count, nibbles.signed, target as Int8Array | Uint8Array, 0);
        else target.set(quantized.subarray(first, first + count));
      }
      kernels.errorStats(at === undefined ? scratch : at + 4 * first, values, params, overall, channelBuckets, groupAt, cursors, count,
        flags | bucketFlags, qmin, qmax, channelMaxAt);
    }
  };
  const groupFields = groupMap && cursorFields(groupMap);
  if (groupFields && runsWhole(groupFields) && runsWhole(paramFields)) {
    // Per-group buckets that are runs (whole groups of 16 or more along a last axis, and parameters that stay the
    // same along them), with per-channel ones: the kernel's runs take one bucket at a time, so the channels go in
    // a first pass and the groups in a second, given to the kernel as its channel buckets (their sums in the
    // same element order as in one pass; the second pass's overall sums go to a bucket that is not read).
    pass(channelMap ? 4 : 0, overallAt, channelMap && cursorFields(channelMap), undefined, channelAt);
    new Float64Array(memory, unusedAt, 8).fill(0);
    pass(4, unusedAt, groupFields, undefined, groupAt);
  } else {
    pass((channelMap ? 4 : 0) | (groupMap ? 8 : 0), overallAt, channelMap && cursorFields(channelMap), groupFields, channelAt);
  }
  const overall = new BucketSums(1);
  readBuckets(memory, overallAt, overall, () => size);
  let perChannel: BucketSums | undefined;
  let perGroup: BucketSums | undefined;
  if (channelMap) {
    readBuckets(memory, channelAt, perChannel = channelsFrom ?? new BucketSums(channelMap.count), () => size / channelMap.count);
    const max = perChannel.maxAbsError;
    for (let c = 0; c < channels; c++) if (channelMax[c]! > max[c]!) max[c] = channelMax[c]!;
  }
  if (groupMap) {
    // Bucket (o·G + g)·inner + k holds the elements of group g along the axis: groupSize, or fewer in the last.
    const groups = Math.ceil(groupMap.axisLen / groupMap.groupSize);
    const countOf = (b: number) => Math.min(groupMap.groupSize, groupMap.axisLen - (Math.floor(b / groupMap.inner) % groups) * groupMap.groupSize);
    readBuckets(memory, groupAt, perGroup = new BucketSums(groupMap.count), countOf);
  }
  return { overall, perChannel, perGroup };
}

/** The same sums in JavaScript. */
function loopErrorSums(request: ErrorStatsRequest, carry: Float64Array | undefined, channelsFrom: BucketSums | undefined): ErrorSums {
  const { shape, axis, groupSize, size, original } = request;
  const overall = new BucketSums(1);
  if (carry) overall.setBucket(0, carry); // set, not added: the running sums are the whole tensor's
  const channelMap = axis === undefined ? undefined : channelIndexMap(shape, axis);
  const groupMap = axis === undefined || groupSize === undefined ? undefined : groupIndexMap(shape, axis, groupSize);
  // Going on from channelsFrom's sums in place; the counts are this request's.
  const perChannel = channelMap && (channelsFrom ? checkedFrom(channelsFrom, channelMap.count) : new BucketSums(channelMap.count));
  if (perChannel && channelsFrom) perChannel.count.fill(0);
  const perGroup = groupMap && new BucketSums(groupMap.count);
  const channel = channelMap && new IndexCursor(channelMap);
  const group = groupMap && new IndexCursor(groupMap);
  const q = request.quantized;
  if (q.kind === 'values') {
    for (let i = 0; i < size; i++) {
      const x = original[i]!;
      const xh = q.data[i]!;
      overall.addElement(0, x, xh, false);
      if (perChannel) { perChannel.addElement(channel!.index, x, xh, false); channel!.next(); }
      if (perGroup) { perGroup.addElement(group!.index, x, xh, false); group!.next(); }
    }
    return { overall, perChannel, perGroup };
  }
  const { grid, ints } = q;
  const { scales, inverseScales, zeroPoints, integerSubtract, qmin, qmax } = grid;
  const param = new IndexCursor(grid.map);
  for (let i = 0; i < size; i++) {
    const x = original[i]!;
    const p = param.index;
    param.next();
    const value = ints[i]!;
    const zeroPoint = zeroPoints[p]!;
    // dequantizedValue and isClipped (src/stats/quant-grid.ts), inlined.
    const difference = integerSubtract ? Math.fround((value - zeroPoint) | 0) : Math.fround(Math.fround(value) - Math.fround(zeroPoint));
    const xh = Math.fround(difference * scales[p]!);
    const preClamp = Math.fround(Math.fround(zeroPoint) + roundHalfEven(Math.fround(x * inverseScales[p]!)));
    const clipped = preClamp < qmin || preClamp > qmax;
    overall.addElement(0, x, xh, clipped);
    if (perChannel) { perChannel.addElement(channel!.index, x, xh, clipped); channel!.next(); }
    if (perGroup) { perGroup.addElement(group!.index, x, xh, clipped); group!.next(); }
  }
  return { overall, perChannel, perGroup };
}
