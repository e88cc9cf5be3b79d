/**
 * The WebAssembly SIMD module behind the fast CPU path (simd-kernels.wat): instantiated once, on first use,
 * synchronously (the module is a few kilobytes). Where WebAssembly or its SIMD instructions are missing,
 * `simdKernels()` returns undefined and the callers run the reference.
 *
 * The module's memory is a scratch arena: each call lays its input, output and parameters out in it, runs,
 * and copies the output out. It grows to the largest call so far and is kept for the next one.
 *
 * One float32 array at a time may be *held* at the bottom of the memory ({@link holdFloat32}): a weight
 * that several passes read (scan, min/max, quantize, error statistics) is put there once, and each pass reads
 * it in place instead of copying it in piece by piece. While it is held the memory does not grow (growing
 * would detach the array's view), so the holder reserves room for the passes' scratch up front; a pass that
 * needs more runs on the reference.
 *
 * Regions that JavaScript copies pieces into or out of (`TypedArray.set`) start half a page past a page
 * boundary of the memory ({@link kCopyRegionOffset}). The engines' memory copy slows down 3–5× when the
 * destination lies a few dozen bytes past the source modulo 4 KiB (the processor sees a store and a later
 * load to the same page offset as dependent); large arrays sit at or just past a page boundary, so a region
 * at offset 0 or 32 of a page can land there (a per-tensor quantize's input pieces did: 60–80 ms against 40
 * for the same copy per channel, 16M elements).
 *
 * @example
 * ```ts
 * const kernels = simdKernels();
 * if (kernels) {
 *   const [src, dst, paramA, paramB] = kernels.reserve([4 * n, n, 4 * p, 4 * p]);
 * }
 * ```
 * @module
 */
import { SIMD_KERNELS_WASM_BASE64 } from './simd-kernels-wasm.js';

/** Table indices of the segment functions, as simd-kernels.wat exports them. */
export type SegmentKind = 'quantizeRun' | 'quantizeColumns' | 'dequantizeRun' | 'dequantizeColumns' | 'minMaxRun' | 'minMaxColumns'
  | 'measureRun' | 'measureColumns';

/** How walk() visits a tensor: `src/layout.ts` ParamLayout fields (strideInner 0 or 1). */
export interface WalkLayout {
  outer: number; channels: number; inner: number; groupSize: number;
  strideOuter: number; strideGroup: number; strideInner: number;
}

/** The instantiated module. */
export interface SimdKernels {
  readonly memory: WebAssembly.Memory;
  /**
   * Byte offsets of consecutive 16-byte-aligned regions of the given sizes, above a held array, growing memory
   * if needed (never while an array is held); undefined when they do not fit. The regions whose indices are in
   * `copied` (pieces JavaScript copies in or out) start {@link kCopyRegionOffset} past a 4 KiB boundary; the
   * others follow one another with no gap.
   */
  reserve(sizes: readonly number[], copied?: readonly number[]): number[] | undefined;
  /** The byte offset of `data` in the memory when it is the held array or a part of it, else undefined. */
  heldOffset(data: Float32Array): number | undefined;
  configure(src: number, dst: number, paramA: number, paramB: number, qmin: number, qmax: number, signShift: number): void;
  /**
   * For the 'measureRun' / 'measureColumns' segments (quantize as 'quantizeRun' does, with `configure`'s inverse
   * scales and zero points, and add to errorStats' overall sums): the float32 scales at `scales`, the sums (seven
   * float64, errorStats' overall layout, in and out) at `sums`.
   */
  configureMeasure(scales: number, sums: number): void;
  /**
   * Two quantizations of `n` values at element `i` measured side by side (simd-kernels.wat, measureErrorsPair): the
   * first with `configure` and `configureMeasure`'s arrays from parameter `p`, the second with the inverse scales,
   * zero points and scales at `invB`, `zpB`, `scalesB` from parameter `q`, its sums at `sumsB`; Σe², Σx² and max |e|.
   */
  measureErrorsPair(i: number, n: number, p: number, q: number, invB: number, zpB: number, scalesB: number, sumsB: number): void;
  walk(run: SegmentKind, columns: SegmentKind, layout: WalkLayout): void;
  /** Index of the first non-finite (flags 0) or NaN (flags 1) of `count` float32 at `src`, else `count`; max |x| before it folded into the float32 at `max`. */
  scan(src: number, count: number, flags: number, max: number): number;
  /** Error statistics of `count` elements (see simd-kernels.wat, errorStats): the addresses, then the flags and the integer range. */
  errorStats(src: number, quantized: number, params: number, overall: number, channel: number, group: number, cursors: number,
    count: number, flags: number, qmin: number, qmax: number, channelMax: number): void;
  /** GGUF Q8_0: `blocks` blocks of 32 floats at `src` to their int8 at `dst` + 34·b + 2 and their d (float32) at `scales` + 4·b. */
  q8_0Blocks(src: number, dst: number, scales: number, blocks: number): void;
  /** Q8_0 blocks at `dst` back to floats at `out`, with each block's stored d as a float32 at `scales` + 4·b. */
  q8_0Values(dst: number, scales: number, out: number, blocks: number): void;
  /** GGUF Q4_0: `blocks` blocks of 32 floats at `src` to their 16 bytes of nibbles at `dst` + 18·b + 2 and their d (float32) at `scales` + 4·b. */
  q4_0Blocks(src: number, dst: number, scales: number, blocks: number): void;
  /** Q4_0 blocks at `dst` back to floats at `out`, with each block's stored d as a float32 at `scales` + 4·b. */
  q4_0Values(dst: number, scales: number, out: number, blocks: number): void;
  /**
   * GGUF scales as float16: each block's d (float32 at `scales` + 4·b) rounded as floatToHalfBits does, its two
   * bytes written at `dst` + `blockBytes`·b, and d replaced by the stored value.
   */
  halfScales(dst: number, scales: number, blocks: number, blockBytes: number): void;
  /**
   * MatMulNBits blocks ([N, blocks, blockSize · bits / 8] bytes at `src`) to the weight [K, N] at `dst`, one byte
   * an element: (stored XOR the block's mask, a byte at `masks` + b·N + c) - `offset`.
   */
  nbitsUnpack(src: number, dst: number, masks: number, k: number, n: number, blockSize: number, bits: number, offset: number): void;
  /**
   * The 'mse' search's error sums of 8 candidates over `n` float32 at `src` (see simd-kernels.wat, mseSums): their
   * parameters at `params`, the running totals at `sums` (in and out), in blocks of `blockBytes` (0: one sum);
   * 1 when every candidate reached its limit.
   */
  mseSums(src: number, n: number, params: number, sums: number, blockBytes: number): number;
  /**
   * The 'lsq' search's raw pass of `groups` groups of 8 candidates (error, Σ x·l, Σ l·l at `sums`, 96 bytes a group,
   * in and out; parameters 192 bytes a group apart; see simd-kernels.wat, lsqSums).
   */
  lsqSumsGroups(src: number, n: number, params: number, sums: number, groups: number): void;
  /**
   * The 'lsq' search's affine zero-point sums of `groups` groups of 8 candidates (at `sums`, 32 bytes a group, in
   * and out; see lsqShift). `whole`: 1 when the `n` elements are the whole output (the kernel may then leave out
   * flushes its values make no-ops), else 0.
   */
  lsqShiftGroups(src: number, n: number, params: number, sums: number, groups: number, whole: number): void;
  /**
   * The whole 'lsq' search of `count` outputs of `n` elements, four at a time one a lane (see simd-kernels.wat,
   * lsqLanes, for the layout of `src`, `bounds`, `ratio`, `config` and `out`).
   */
  lsqLanes(src: number, n: number, count: number, bounds: number, ratio: number, ratios: number, config: number, out: number): void;
  /** The whole 'mse' search of `count` outputs of `n` elements, four at a time (as lsqLanes). */
  mseLanes(src: number, n: number, count: number, bounds: number, ratio: number, ratios: number, config: number, out: number): void;
}

/** The most scratch memory one call may use; larger calls run on the reference. */
export const MAX_SIMD_BYTES = 2 ** 31;
const kPage = 65536;
/** Where a copied region starts within a 4 KiB page of the memory: far from a large array's own page offset (0 or 16). */
const kCopyRegionOffset = 2048;

interface Exports {
  memory: WebAssembly.Memory;
  configure: (src: number, dst: number, paramA: number, paramB: number, qmin: number, qmax: number, signShift: number) => void;
  configureMeasure: SimdKernels['configureMeasure'];
  measureErrorsPair: SimdKernels['measureErrorsPair'];
  walk: (run: number, columns: number, outer: number, channels: number, inner: number, groupSize: number,
    strideOuter: number, strideGroup: number, strideInner: number) => void;
  errorStats: SimdKernels['errorStats'];
  scan: SimdKernels['scan'];
  q8_0Blocks: SimdKernels['q8_0Blocks'];
  q8_0Values: SimdKernels['q8_0Values'];
  q4_0Blocks: SimdKernels['q4_0Blocks'];
  q4_0Values: SimdKernels['q4_0Values'];
  halfScales: SimdKernels['halfScales'];
  nbitsUnpack: SimdKernels['nbitsUnpack'];
  mseSums: SimdKernels['mseSums'];
  lsqSumsGroups: SimdKernels['lsqSumsGroups'];
  lsqShiftGroups: SimdKernels['lsqShiftGroups'];
  lsqLanes: SimdKernels['lsqLanes'];
  mseLanes: SimdKernels['mseLanes'];
  [kind: string]: unknown;
}

let instance: SimdKernels | null | undefined;
/** The held array (see the module documentation) and where the scratch above it starts, 0 when none is held. */
let held: Float32Array | undefined;
let heldEnd = 0;

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function instantiate(): SimdKernels | null {
  if (typeof WebAssembly !== 'object' || typeof atob !== 'function') return null;
  const bytes = decodeBase64(SIMD_KERNELS_WASM_BASE64);
  if (!WebAssembly.validate(bytes)) return null; // no SIMD in this engine
  const exports = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as Exports;
  const kindIndex = (kind: SegmentKind): number => (exports[kind] as WebAssembly.Global).value as number;
  return {
    memory: exports.memory,
    reserve(sizes, copied = []) {
      const offsets: number[] = [];
      let end = heldEnd;
      for (const [i, size] of sizes.entries()) {
        if (size > 0 && copied.includes(i)) end += (kCopyRegionOffset - (end % 4096) + 4096) % 4096;
        offsets.push(end);
        end += Math.ceil(size / 16) * 16;
      }
      if (end > MAX_SIMD_BYTES) return undefined;
      const have = exports.memory.buffer.byteLength;
      if (end > have) {
        if (held) return undefined; // growing would detach the held array: the caller runs the reference
        try {
          exports.memory.grow(Math.ceil((end - have) / kPage));
        } catch {
          return undefined; // the engine would not give the memory: the caller runs the reference
        }
      }
      return offsets;
    },
    heldOffset(data) {
      if (!held || data.buffer !== held.buffer) return undefined;
      const end = data.byteOffset + data.byteLength;
      return data.byteOffset >= held.byteOffset && end <= held.byteOffset + held.byteLength ? data.byteOffset : undefined;
    },
    configure: exports.configure,
    configureMeasure: exports.configureMeasure,
    measureErrorsPair: exports.measureErrorsPair,
    errorStats: exports.errorStats,
    scan: exports.scan,
    q8_0Blocks: exports.q8_0Blocks,
    q8_0Values: exports.q8_0Values,
    q4_0Blocks: exports.q4_0Blocks,
    q4_0Values: exports.q4_0Values,
    halfScales: exports.halfScales,
    nbitsUnpack: exports.nbitsUnpack,
    mseSums: exports.mseSums,
    lsqSumsGroups: exports.lsqSumsGroups,
    lsqShiftGroups: exports.lsqShiftGroups,
    lsqLanes: exports.lsqLanes,
    mseLanes: exports.mseLanes,
    walk(run, columns, layout) {
      exports.walk(kindIndex(run), kindIndex(columns), layout.outer, layout.channels, layout.inner, layout.groupSize,
        layout.strideOuter, layout.strideGroup, layout.strideInner);
    },
  };
}

/**
 * The SIMD kernels, or undefined where this engine has no WebAssembly SIMD.
 *
 * @example
 * ```ts
 * simdKernels() === undefined; // false in Node >= 16 and current browsers
 * ```
 */
export function simdKernels(): SimdKernels | undefined {
  if (instance === undefined) {
    try {
      instance = instantiate();
    } catch {
      instance = null;
    }
  }
  return instance ?? undefined;
}

/** An array held in the kernels' memory (see the module documentation); `release()` frees its place. */
export interface HeldFloat32 {
  readonly data: Float32Array;
  release(): void;
}

/**
 * Holds a float32 array of `count` elements at the bottom of the kernels' memory, with `scratchBytes` of
 * room above it for the passes over it, or undefined (no SIMD, another array already held, or past the
 * memory limit): then the caller keeps its own array, and the passes copy it in as usual. The array's
 * contents are whatever was there: fill it before use. The memory does not grow while it is held; call
 * `release()` when the passes are done (the view must not be used after).
 *
 * @example
 * ```ts
 * const slot = holdFloat32(w.length, scratchBoundOf(w.length, 64, 64));
 * if (slot) slot.data.set(w);
 * try { scanFinite(slot?.data ?? w); } finally { slot?.release(); }
 * ```
 */
export function holdFloat32(count: number, scratchBytes: number): HeldFloat32 | undefined {
  const kernels = simdKernels();
  if (!kernels || held || count === 0) return undefined;
  const bytes = Math.ceil((4 * count) / 16) * 16;
  if (!kernels.reserve([bytes + scratchBytes])) return undefined;
  const data = new Float32Array(kernels.memory.buffer, 0, count);
  held = data;
  heldEnd = bytes;
  let released = false;
  return {
    data,
    release() {
      if (released) return;
      released = true;
      held = undefined;
      heldEnd = 0;
    },
  };
}

/**
 * Bytes of scratch that every pass over a held weight of `elements` elements stays within, when it has at
 * most `parameters` scales (per tensor 1, per channel the channels, per group the groups) and its statistics
 * at most `channels` channels: the largest piece of a walk (at most the whole weight, one byte an element),
 * 16 bytes per parameter and 72 per statistics channel (error statistics), 8 per parameter (min/max, quantize).
 *
 * @example
 * ```ts
 * scratchBoundOf(4096 * 1024, 1024, 1024); // about 4.4 MB
 * ```
 */
export function scratchBoundOf(elements: number, parameters: number, channels: number): number {
  return elements + 96 * parameters + 72 * channels + 65536 + 2 * 4096; // two copied regions' alignment
}

/** About how many elements one piece of a walk holds: its input and output stay in the cache while they are copied. */
export const PIECE_ELEMENTS = 1 << 15;

/** A contiguous piece of a walk: its first element, element count, first parameter index, and its own layout. */
export interface WalkPiece { first: number; count: number; paramBase: number; layout: WalkLayout }

/**
 * Splits a walk into pieces of contiguous elements, each starting a parameter group, of about
 * `PIECE_ELEMENTS` elements (more where one run along `inner` is longer). Each piece's layout indexes its
 * parameters from `paramBase`.
 *
 * @example
 * ```ts
 * walkPieces({ outer: 1, channels: 4096, inner: 4096, groupSize: 1, strideOuter: 0, strideGroup: 1, strideInner: 0 }).length; // 512
 * ```
 */
export function walkPieces(layout: WalkLayout, pieceElements = PIECE_ELEMENTS): WalkPiece[] {
  const { outer, channels, inner, strideOuter, strideGroup } = layout;
  const rowElements = channels * inner;
  const pieces: WalkPiece[] = [];
  if (rowElements <= pieceElements) {
    const rows = Math.max(1, Math.floor(pieceElements / Math.max(rowElements, 1)));
    for (let o = 0; o < outer; o += rows) {
      const count = Math.min(rows, outer - o);
      pieces.push({ first: o * rowElements, count: count * rowElements, paramBase: o * strideOuter, layout: { ...layout, outer: count } });
    }
    return pieces;
  }
  // Where every element of a row shares one parameter (strideGroup 0) the group size is free: one run per piece.
  const grouped = strideGroup !== 0;
  let block = Math.max(1, Math.floor(pieceElements / inner));
  if (grouped) block = Math.max(layout.groupSize, block - (block % layout.groupSize));
  for (let o = 0; o < outer; o++) {
    for (let a = 0; a < channels; a += block) {
      const count = Math.min(block, channels - a);
      pieces.push({
        first: (o * channels + a) * inner, count: count * inner,
        paramBase: o * strideOuter + (grouped ? (a / layout.groupSize) * strideGroup : 0),
        layout: { ...layout, outer: 1, channels: count, groupSize: grouped ? layout.groupSize : count },
      });
    }
  }
  return pieces;
}
