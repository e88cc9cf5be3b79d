/**
 * A float32 weight for a GGUF file read a block of whole rows at a time, so the whole weight is never in memory:
 * its largest |x| for the plan ({@link streamedPeak}), and where the file's rows are the GGUF rows (a safetensors
 * Linear weight [out, in], not an ONNX MatMul weight written transposed) its blocks and statistics too, each
 * block encoded as it comes ({@link streamedGgufWeight}, ggufRowBlockEncoder). The same plan, bytes and statistics
 * as the whole weight read at once. A CPU worker reads the blocks from the file (cpu-worker.ts); the calling
 * thread from a reader that reads ranges (compress-gguf.ts).
 *
 * @example
 * ```ts
 * const buffer = new ArrayBuffer(streamBlockBytes(info));
 * const done = await streamedGgufWeight(info, decision, (offset, target) => reader.readRangeInto(info.name, offset, target), buffer);
 * if (!done) { ... } // read it whole: another layout, or a block that changes the plan
 * ```
 * @module
 */
import type { WeightInfo } from '../io/weights.js';
import { maxAbs } from '../kernels/cpu/cpu-scan.js';
import { type GgufEncoded, ggufRowBlockEncoder } from './gguf-encode.js';
import { type GgufPlan, ggufEncodePlanOf, ggufPlanOf, sameGgufPlan } from './gguf-plan.js';
import type { WeightDecision } from './policy.js';

/** About how many bytes of a weight one block holds. */
export const GGUF_STREAM_BLOCK_BYTES = 4 * 2 ** 20;

/** Reads `target.byteLength` bytes of a weight's stored bytes, from `byteOffset` bytes into them, into `target`. */
export type ReadWeightRange = (byteOffset: number, target: Uint8Array) => Promise<unknown>;

/** Whole rows of `rowElements` float32 values in a block of about {@link GGUF_STREAM_BLOCK_BYTES} (one row at least). */
function blockBytesOf(byteLength: number, rowElements: number): number {
  const rowBytes = 4 * rowElements;
  return Math.min(byteLength, Math.max(1, Math.floor(GGUF_STREAM_BLOCK_BYTES / rowBytes)) * rowBytes);
}

/**
 * The buffer size {@link streamedGgufWeight} and {@link streamedPeak} need for `info`.
 *
 * @example
 * ```ts
 * streamBlockBytes({ shape: [4096, 4096], byteLength: 4096 * 4096 * 4 }); // 4 MiB: 256 rows
 * ```
 */
export function streamBlockBytes(info: Pick<WeightInfo, 'shape' | 'byteLength'>): number {
  return blockBytesOf(info.byteLength, info.shape.at(-1) || 1);
}

/**
 * The largest |x| of a float32 weight of `byteLength` bytes (NaN when it holds a NaN), read in blocks of whole rows
 * of `rowElements` into `buffer` (at least one block long). Each block also goes to `onBlock` with its own largest
 * |x| (the values are `buffer`'s, valid until the next block); when it answers false, the reading stops and the
 * answer is undefined.
 *
 * @example
 * ```ts
 * const peak = await streamedPeak(info.byteLength, 1, read, new ArrayBuffer(4 * 2 ** 20));
 * ```
 */
export async function streamedPeak(
  byteLength: number, rowElements: number, read: ReadWeightRange, buffer: ArrayBuffer, onBlock?: (values: Float32Array, peak: number) => boolean,
): Promise<number | undefined> {
  const blockBytes = blockBytesOf(byteLength, rowElements);
  let peak = 0;
  for (let at = 0; at < byteLength; at += blockBytes) {
    const length = Math.min(blockBytes, byteLength - at);
    await read(at, new Uint8Array(buffer, 0, length));
    const values = new Float32Array(buffer, 0, length / 4);
    const blockPeak = maxAbs(values);
    if (onBlock && !onBlock(values, blockPeak)) return undefined;
    peak = Math.max(peak, blockPeak); // NaN once any block holds one
  }
  return peak;
}

/**
 * A float32 weight's plan, bytes and statistics for a GGUF file, read and encoded a block of rows at a time into
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
  if (info.dtype !== 'float32' || info.shape.length !== 2) return undefined;
  const assumed = ggufPlanOf(info, decision, 0);
  const encoder = ggufRowBlockEncoder(ggufEncodePlanOf(assumed), out);
  if (!encoder) return undefined;
  const peak = await streamedPeak(info.byteLength, info.shape[1]!, read, buffer, (values, blockPeak) => {
    if (!sameGgufPlan(ggufPlanOf(info, decision, blockPeak), assumed)) return false;
    encoder.add(values);
    return true;
  });
  return peak === undefined ? undefined : { plan: ggufPlanOf(info, decision, peak), encoded: encoder.finish() };
}
