/**
 * A float32, float16 or bfloat16 weight for a GGUF file read a block of whole rows at a time, so the whole weight is never in memory:
 * its largest |x| for the plan ({@link streamedPeak}), and where the file's rows are the GGUF rows (a safetensors
 * Linear weight [out, in], not an ONNX MatMul weight written transposed) its blocks and statistics too, each
 * block encoded as it comes ({@link streamedGgufWeight}, ggufRowBlockEncoder). A weight written transposed
 * (an ONNX MatMul weight [K, N], rows of K in the file) is encoded a band of columns at a time
 * ({@link streamedGgufColumns}): the stored rows are read once for each band, and the band's columns, which are
 * the next rows of the file, kept. The same plan, bytes and statistics as the whole weight read at once. A CPU
 * worker reads the blocks from the file (cpu-worker.ts); the calling thread from a reader that reads ranges
 * (compress-gguf.ts).
 *
 * @example
 * ```ts
 * const buffer = new ArrayBuffer(streamBlockBytes(info));
 * const done = await streamedGgufWeight(info, decision, (offset, target) => reader.readRangeInto(info.name, offset, target), buffer);
 * if (!done) { ... } // read it whole: another layout, or a block that changes the plan
 * ```
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import type { FileRange } from '../io/byte-source.js';
import { toFloat32Into } from '../io/float-convert.js';
import { openFileRange } from '../io/safetensors/node-file-source.js';
import { FILE_WEIGHT_BYTES, type FileWeightDType, type WeightInfo, isFileWeightDType } from '../io/weights.js';
import { maxAbs } from '../kernels/cpu/cpu-scan.js';
import { copyColumns } from './column-bands.js';
import { type GgufEncoded, ggufRowBlockEncoder } from './gguf-encode.js';
import { type GgufPlan, ggufEncodePlanOf, ggufPlanOf, sameGgufPlan } from './gguf-plan.js';
import type { WeightDecision } from './policy.js';

/** About how many bytes of a weight one block holds. */
export const GGUF_STREAM_BLOCK_BYTES = 4 * 2 ** 20;

/** Reads `target.byteLength` bytes of a weight's stored bytes, from `byteOffset` bytes into them, into `target`. */
export type ReadWeightRange = (byteOffset: number, target: Uint8Array) => Promise<unknown>;

/** Whole rows of `rowElements` elements in a block of about {@link GGUF_STREAM_BLOCK_BYTES} of float32 (one row at least). */
function blockElementsOf(elements: number, rowElements: number): number {
  return Math.min(elements, Math.max(1, Math.floor(GGUF_STREAM_BLOCK_BYTES / (4 * rowElements))) * rowElements);
}

/**
 * The buffer size {@link streamedGgufWeight} (`rowElements`: the weight's row length, the default) and
 * {@link streamedPeak} (any whole rows; 1 for a plan alone) need for a float32, float16 or bfloat16 weight: a
 * block's float32 values, and for the 16-bit dtypes its stored bytes beside them.
 *
 * @example
 * ```ts
 * streamBlockBytes({ dtype: 'float32', shape: [4096, 4096], byteLength: 4096 * 4096 * 4 }); // 4 MiB: 256 rows
 * ```
 */
export function streamBlockBytes(info: Pick<WeightInfo, 'shape' | 'byteLength' | 'dtype'>, rowElements = info.shape.at(-1) || 1): number {
  const stored = isFileWeightDType(info.dtype) ? FILE_WEIGHT_BYTES[info.dtype] : 4;
  const blockElements = blockElementsOf(info.byteLength / stored, rowElements);
  return blockElements * (stored === 4 ? 4 : 4 + stored);
}

/**
 * The largest |x| of a float32, float16 or bfloat16 weight (NaN when it holds a NaN), read in blocks of whole rows
 * of `rowElements` into `buffer` (at least {@link streamBlockBytes} long), 16-bit values converted to float32 as
 * toFloat32 does. Each block also goes to `onBlock` as float32 with its own largest |x| (valid until the next
 * block); when it answers false, the reading stops and the answer is undefined.
 *
 * @example
 * ```ts
 * const peak = await streamedPeak(info, 1, read, new ArrayBuffer(streamBlockBytes(info, 1)));
 * ```
 */
export async function streamedPeak(
  info: Pick<WeightInfo, 'name' | 'byteLength' | 'dtype'>, rowElements: number, read: ReadWeightRange, buffer: ArrayBuffer,
  onBlock?: (values: Float32Array, peak: number) => boolean,
): Promise<number | undefined> {
  if (!isFileWeightDType(info.dtype)) throw new InvalidArgumentError('info.dtype', info.dtype, `${info.name}: ${info.dtype} weights are not read in blocks; read it whole`);
  const stored = FILE_WEIGHT_BYTES[info.dtype];
  const elements = info.byteLength / stored;
  const blockElements = blockElementsOf(elements, rowElements);
  let peak = 0;
  for (let first = 0; first < elements; first += blockElements) {
    const count = Math.min(blockElements, elements - first);
    const values = new Float32Array(buffer, 0, count);
    if (stored === 4) await read(4 * first, new Uint8Array(buffer, 0, 4 * count));
    else {
      const raw = new Uint8Array(buffer, 4 * blockElements, stored * count);
      await read(stored * first, raw);
      toFloat32Into(raw, info.dtype, values, info.name);
    }
    const blockPeak = maxAbs(values);
    if (onBlock && !onBlock(values, blockPeak)) return undefined;
    peak = Math.max(peak, blockPeak); // NaN once any block holds one
  }
  return peak;
}

/**
 * A float32, float16 or bfloat16 weight's plan, bytes and statistics for a GGUF file, read and encoded a block of
 * rows at a time (16-bit values converted to float32 block by block) into
 * `buffer` (at least {@link streamBlockBytes} long), the bytes into `out(byteLength)` when given: undefined when
 * the plan is not one whose rows are the stored rows (Q8_0 / Q4_0, not transposed), the WebAssembly kernels do
 * not run, or a block changes the plan (NaN, ±Infinity, a block scale past float16): then read the weight whole.
 *
 * @example
 * ```ts
 * const done = await streamedGgufWeight(info, decision, read, buffer);
 * done?.encoded.bytes; // the weight's Q8_0 / Q4_0 blocks
 * ```
 */
export async function streamedGgufWeight(
  info: WeightInfo, decision: WeightDecision, read: ReadWeightRange, buffer: ArrayBuffer, out?: (byteLength: number) => Uint8Array<ArrayBuffer>,
): Promise<{ plan: GgufPlan; encoded: GgufEncoded } | undefined> {
  if (!isFileWeightDType(info.dtype) || info.shape.length !== 2) return undefined;
  const assumed = ggufPlanOf(info, decision, 0);
  const encoder = ggufRowBlockEncoder(ggufEncodePlanOf(assumed), out);
  if (!encoder) return undefined;
  const peak = await streamedPeak(info, info.shape[1]!, read, buffer, (values, blockPeak) => {
    if (!sameGgufPlan(ggufPlanOf(info, decision, blockPeak), assumed)) return false;
    encoder.add(values);
    return true;
  });
  return peak === undefined ? undefined : { plan: ggufPlanOf(info, decision, peak), encoded: encoder.finish() };
}

/** About how many bytes of float32 one band of columns of a transposed weight holds ({@link streamedGgufColumns}). */
export const GGUF_BAND_BYTES = 16 * 2 ** 20;

/**
 * The columns of one band of a transposed weight of `shape` ([k, n], float32) that {@link streamedGgufColumns}
 * reads, a multiple of 8 of about `bandBytes`; undefined where the weight is read whole: not 2-D, or not more
 * than two bands (reading it once for each band would then save little).
 *
 * @example
 * ```ts
 * ggufBandColumns([4096, 4096]); // 1024: four bands of 16 MiB, the file's 64 MiB read four times
 * ggufBandColumns([4096, 2048]); // undefined: 32 MiB, read whole
 * ```
 */
export function ggufBandColumns(shape: readonly number[], bandBytes = GGUF_BAND_BYTES): number | undefined {
  if (shape.length !== 2) return undefined;
  const [k, n] = shape as [number, number];
  const columns = Math.floor(bandBytes / (4 * k) / 8) * 8;
  return columns >= 8 && n > 2 * columns ? columns : undefined;
}

/**
 * The bytes {@link streamedGgufColumns} reads into for a weight of `shape` [k, n] stored as `dtype` in bands of
 * `columns`: the band ([k, columns] float32) and after it a block of whole stored rows (about 4 MiB as float32;
 * as stored, so half that for 16-bit values).
 *
 * @example
 * ```ts
 * ggufColumnsBytes([4096, 4096], 1024);            // 16 MiB + 4 MiB
 * ggufColumnsBytes([4096, 4096], 1024, 'float16'); // 16 MiB + 2 MiB
 * ```
 */
export function ggufColumnsBytes(shape: readonly number[], columns: number, dtype: FileWeightDType = 'float32'): number {
  const [k, n] = shape as [number, number];
  return 4 * k * columns + FILE_WEIGHT_BYTES[dtype] * blockElementsOf(k * n, n);
}

/**
 * A float32, float16 or bfloat16 weight [k, n] whose GGUF plan is transposed (rows of k: the stored columns),
 * planned, encoded and measured a band of `columns` columns at a time ({@link ggufBandColumns}): for each band
 * the stored rows are read a block at a time into `buffer` (past the band) and the band's columns copied into its
 * start (copyColumns, column-bands.ts: 16-bit values converted as toFloat32 does), a [k, columns] float32 array whose values are the file's next
 * rows (ggufRowBlockEncoder's addColumns). The plan, bytes and statistics of the whole weight read at once;
 * undefined where they would not come out that way: another plan or dtype, `buffer` shorter than
 * {@link ggufColumnsBytes}, the WebAssembly kernels not running, or a band that changes the plan (NaN, ±Infinity,
 * a block scale past float16; read the weight whole then). The bytes go into `out(byteLength)` when given.
 *
 * @example
 * ```ts
 * const columns = ggufBandColumns(info.shape)!;
 * const done = await streamedGgufColumns(info, decision, read, new ArrayBuffer(ggufColumnsBytes(info.shape, columns, info.dtype)), columns);
 * ```
 */
export async function streamedGgufColumns(
  info: WeightInfo, decision: WeightDecision, read: ReadWeightRange, buffer: ArrayBuffer, columns: number,
  out?: (byteLength: number) => Uint8Array<ArrayBuffer>,
): Promise<{ plan: GgufPlan; encoded: GgufEncoded } | undefined> {
  const { dtype } = info;
  if (!isFileWeightDType(dtype) || info.shape.length !== 2 || !(columns >= 1)) return undefined;
  const [k, n] = info.shape as [number, number];
  const stored = FILE_WEIGHT_BYTES[dtype];
  const assumed = ggufPlanOf(info, decision, 0);
  if (!assumed.transposed || buffer.byteLength < ggufColumnsBytes(info.shape, columns, dtype)) return undefined;
  const encoder = ggufRowBlockEncoder(ggufEncodePlanOf(assumed), out);
  if (!encoder) return undefined;
  const blockRows = blockElementsOf(k * n, n) / n;
  const blockAt = 4 * k * columns;
  let peak = 0;
  for (let first = 0; first < n; first += columns) {
    const width = Math.min(columns, n - first);
    const band = new Float32Array(buffer, 0, k * width);
    for (let row = 0; row < k; row += blockRows) {
      const rows = new Uint8Array(buffer, blockAt, stored * Math.min(blockRows, k - row) * n);
      await read(stored * row * n, rows);
      copyColumns(rows, dtype, band, row * width, first, width, n, 1, info.name);
    }
    const bandPeak = maxAbs(band);
    if (!sameGgufPlan(ggufPlanOf(info, decision, bandPeak), assumed)) return undefined;
    peak = Math.max(peak, bandPeak);
    encoder.addColumns(band, width);
  }
  return { plan: ggufPlanOf(info, decision, peak), encoded: encoder.finish() };
}

/**
 * `use` with a reader of a range of a file on disk, opened for the call (a file that no longer holds the range is
 * a FormatError naming it): {@link streamedGgufColumns} or {@link streamedPeak} of a weight in a file.
 *
 * @example
 * ```ts
 * const done = await withFileRange(range, (read) => streamedGgufColumns(info, decision, read, buffer, ggufBandColumns(info.shape)!));
 * ```
 */
export async function withFileRange<T>(range: FileRange, use: (read: ReadWeightRange) => Promise<T>): Promise<T> {
  const file = await openFileRange(range);
  try {
    return await use((offset, target) => file.read(offset, target));
  } finally {
    await file.close();
  }
}
