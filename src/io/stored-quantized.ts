/**
 * A quantized weight found in a model file with its integers still in the file: its dtype, shape and scheme
 * (its parameters already read and checked), and `load()` to read the integers into a QTensor. Listing a
 * large compressed model then reads only the small tensors (scales, zero points), and comparing it with its
 * original can hold one weight's integers at a time.
 *
 * @example
 * ```ts
 * const stored = await describeQdqWeights(await OnnxModel.load(await readFile('vad.q8.onnx')));
 * for (const [name, w] of stored) {
 *   console.log(name, w.dtype, w.qscheme, packedByteLength(w)); // no integers read yet
 *   const q = await w.load();                                     // this weight's integers, now
 * }
 * ```
 * @module
 */
import { type QDType, dtypeInfo } from '../dtype.js';
import type { QScheme, QTensor } from '../qtensor.js';

/** A quantized weight whose integers are read on `load()`. */
export interface StoredQuantizedWeight {
  dtype: QDType;
  shape: number[];
  qscheme: QScheme;
  /** The channel or group axis (per channel, per group). */
  axis?: number;
  /** The group size (per group). */
  groupSize?: number;
  /** Reads the integers and builds the QTensor (each call reads them again). */
  load(): Promise<QTensor>;
}

/**
 * Bytes of the weight's packed integers: what `QTensor.packedData()` holds once loaded (two 4-bit values a byte).
 *
 * @example
 * ```ts
 * packedByteLength({ dtype: 'qint4', shape: [3, 5] }); // 8
 * ```
 */
export function packedByteLength(w: Pick<StoredQuantizedWeight, 'dtype' | 'shape'>): number {
  const size = w.shape.reduce((a, b) => a * b, 1);
  return Math.ceil((size * dtypeInfo(w.dtype).bits) / 8);
}

/**
 * Every weight of `stored` loaded, one after another, by name.
 *
 * @example
 * ```ts
 * const weights = await loadStoredWeights(await describeQdqWeights(model)); // Map<name, QTensor>
 * ```
 */
export async function loadStoredWeights(stored: ReadonlyMap<string, StoredQuantizedWeight>): Promise<Map<string, QTensor>> {
  const out = new Map<string, QTensor>();
  for (const [name, w] of stored) out.set(name, await w.load());
  return out;
}
