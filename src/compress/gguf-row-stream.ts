/**
 * A float32, float16 or bfloat16 weight for a GGUF file read a block of whole rows at a time, so the whole weight is never in memory:
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
import { InvalidArgumentError } from '../errors.js';
import { toFloat32Into } from '../io/float-convert.js';
import { FILE_WEIGHT_BYTES, type WeightInfo, isFileWeightDType } from '../io/weights.js';
import { maxAbs } from '../kernels/cpu/cpu-scan.js';
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
