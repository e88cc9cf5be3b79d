/**
 * The channels of a weight quantized per channel along a later axis (a MatMul weight's columns) with a searched
 * range ('mse', 'lsq', 'percentile'), taken a band of channels at a time while the weight is read from its file a
 * block of rows at a time (weight-file-blocks.ts): a search needs all of a channel's values at once, and a band
 * holds them for a few channels, not the whole weight.
 *
 * Each band is [outer, width, inner] about the channel axis, filled by reading every block of the weight and
 * copying out its slice of the band's channels: each channel's values in the weight's order, so the per-channel
 * search finds, to the bit, what it finds on the whole weight. Each band costs one more read of the weight
 * (from the page cache by then), so bands are at least {@link BAND_BLOCKS} blocks' bytes and at most
 * {@link MAX_BANDS}: a worker holds at most a quarter of a weight of 64 MiB, an eighth of a larger one.
 *
 * @example
 * ```ts
 * const bands = columnBands([4096, 4096], 1, 4 * 2 ** 20); // { channels: 1024, count: 4, outer: 4096, inner: 1 }
 * const searched = await searchInBands(bands!, 4096, 16, 4 * 2 ** 20, readBlock, 'float32', decision, {});
 * searched?.params.scales; // 4096 scales, as quantizeWeight chooses them from the whole weight
 * ```
 * @module
 */
import { toFloat32Into } from '../io/float-convert.js';
import { FILE_WEIGHT_BYTES, type FileWeightDType } from '../io/weights.js';
import { scanFinite } from '../kernels/cpu/cpu-scan.js';
import type { WeightDecision } from './policy.js';
import type { QuantizeWeightOptions } from './quantize-weight.js';
import { rowParams } from './row-block-task.js';
import { holdWeight, reusedFloat32 } from './weight-buffers.js';

/** Where a block is read before its band's slice is copied out: one array a thread, reused (no garbage a weight). */
const blockScratch = reusedFloat32();

/** A band of channels holds at least this many blocks' bytes (each band costs a read of the weight). */
export const BAND_BLOCKS = 4;

/** At most this many bands (and reads) for a searched weight per channel along a later axis. */
export const MAX_BANDS = 8;

/**
 * The channels of a weight quantized per channel along a later axis with a searched range, taken a band at a
 * time: `channels` a band (the last may have fewer), `count` bands; the weight is [outer, channels, inner] about
 * its channel axis.
 */
export interface ColumnBands { channels: number; count: number; outer: number; inner: number }

/**
 * The bands of channels a searched weight of `shape` per channel along `axis` (≥ 1) is searched in: each at
 * least {@link BAND_BLOCKS} × `blockBytes` of float32, at most {@link MAX_BANDS} of them, of equal width; or
 * undefined where that makes fewer than two (the weight is read whole).
 *
 * @example
 * ```ts
 * columnBands([4096, 4096], 1, 4 * 2 ** 20);  // { channels: 1024, count: 4, outer: 4096, inner: 1 }
 * columnBands([4096, 32000], 1, 4 * 2 ** 20); // { channels: 4000, count: 8, ... }: eight bands of 62.5 MiB
 * columnBands([1024, 1024], 1, 4 * 2 ** 20);  // undefined: 4 MiB, one band
 * ```
 */
export function columnBands(shape: readonly number[], axis: number, blockBytes: number): ColumnBands | undefined {
  const at = axis < 0 ? axis + shape.length : axis;
  const channels = shape[at]!;
  const outer = shape.slice(0, at).reduce((a, b) => a * b, 1);
  const inner = shape.slice(at + 1).reduce((a, b) => a * b, 1);
  const bytes = 4 * outer * channels * inner;
  const bandBytes = Math.max(BAND_BLOCKS * blockBytes, Math.ceil(bytes / MAX_BANDS));
  const perBand = Math.ceil(channels / Math.ceil(bytes / bandBytes));
  const count = Math.ceil(channels / perBand);
  return count >= 2 ? { channels: perBand, count, outer, inner } : undefined;
}

/**
 * Every channel's parameters of a weight searched per channel along a later axis, chosen a band of channels at a
 * time (module documentation), and the weight's largest |x|; undefined for a NaN or ±Infinity, or parameters
 * that cannot be chosen (the whole-weight path says why). `read(b, into)` reads block b's stored bytes (`dtype`,
 * at most `blockBytes`) into the front of `into` and returns them; a 16-bit weight's band slices are converted
 * to float32 as they are copied out (toFloat32Into, messages naming `what`), so each value is converted once.
 *
 * @example
 * ```ts
 * const file = await openFileRange(range); // a [4096, 4096] float32 weight, blocks of 256 rows
 * const read = async (b: number, into: Uint8Array) => {
 *   await file.read(b * 4 * 2 ** 20, into.subarray(0, 4 * 2 ** 20));
 *   return into.subarray(0, 4 * 2 ** 20);
 * };
 * const searched = await searchInBands(columnBands([4096, 4096], 1, 4 * 2 ** 20)!, 4096, 16, 4 * 2 ** 20, read, 'float32', decision, {});
 * searched?.params.scales; // the 4096 columns' scales, as quantizeWeight chooses them from the whole weight
 * ```
 */
export async function searchInBands(
  bands: ColumnBands, channels: number, blockCount: number, blockBytes: number, read: (b: number, into: Uint8Array) => Promise<Uint8Array>,
  dtype: FileWeightDType, decision: WeightDecision, options: Pick<QuantizeWeightOptions, 'roundScale'>, what = 'tensor',
): Promise<{ params: { scales: Float32Array; zeroPoints: Int32Array }; peak: number } | undefined> {
  const { outer, inner } = bands;
  const params = { scales: new Float32Array(channels), zeroPoints: new Int32Array(channels) };
  const bandDecision = { ...decision, axis: 1 };
  const scratch = blockScratch(Math.ceil(blockBytes / 4));
  const into = new Uint8Array(scratch.buffer, scratch.byteOffset, blockBytes);
  let peak = 0;
  for (let c0 = 0; c0 < channels; c0 += bands.channels) {
    const width = Math.min(bands.channels, channels - c0);
    const shape = inner === 1 ? [outer, width] : [outer, width, inner];
    const held = holdWeight(shape, bandDecision);
    try {
      const band = held?.data ?? new Float32Array(outer * width * inner);
      let to = 0;
      for (let b = 0; b < blockCount; b++) to = copyColumns(await read(b, into), dtype, band, to, c0, width, channels, inner, what);
      const scan = scanFinite(band);
      if (scan.firstNonFinite >= 0) return undefined;
      peak = Math.max(peak, scan.maxAbs);
      const own = await rowParams({ data: band, shape }, bandDecision, options);
      if (!own || own.scales.length !== width) return undefined;
      params.scales.set(own.scales, c0);
      params.zeroPoints.set(own.zeroPoints, c0);
    } finally {
      held?.release();
    }
  }
  return { params, peak };
}

/**
 * Copies channels [c0, c0 + width) of whole stored rows `bytes` (`dtype`; each row `channels` × `inner`
 * values, the channel axis in the middle) into `band` from element `to`, width × inner values a row, 16-bit ones
 * converted as toFloat32 does (messages naming `what`); returns where the next rows go.
 *
 * @example
 * ```ts
 * const band = new Float32Array(4);
 * copyColumns(new Uint8Array(Float32Array.of(1, 2, 3, 4, 5, 6).buffer), 'float32', band, 0, 1, 2, 3, 1); // 4: band [2, 3, 5, 6]
 * ```
 */
export function copyColumns(
  bytes: Uint8Array, dtype: FileWeightDType, band: Float32Array, to: number, c0: number, width: number, channels: number, inner: number, what = 'tensor',
): number {
  const stored = FILE_WEIGHT_BYTES[dtype];
  const count = bytes.byteLength / stored;
  const [stride, run] = [channels * inner, width * inner];
  if (stored === 4) {
    const data = new Float32Array(bytes.buffer, bytes.byteOffset, count);
    for (let from = c0 * inner; from < count; from += stride, to += run) {
      if (run >= 64) band.set(data.subarray(from, from + run), to);
      else for (let i = 0; i < run; i++) band[to + i] = data[from + i]!;
    }
  } else {
    for (let from = c0 * inner; from < count; from += stride, to += run) {
      toFloat32Into(bytes.subarray(stored * from, stored * (from + run)), dtype, band.subarray(to, to + run), what);
    }
  }
  return to;
}
