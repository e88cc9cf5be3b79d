/**
 * The common view of a model file's weights that every reader gives (ONNX, safetensors): names, dtypes,
 * shapes and the raw little-endian bytes of one tensor at a time, so a model is never held in memory twice.
 *
 * @example
 * ```ts
 * for (const info of reader.list()) {
 *   if (info.dtype === 'float32') console.log(info.name, info.shape, (await reader.read(info.name)).byteLength);
 * }
 * ```
 * @module
 */
import type { FileRange } from './byte-source.js';

/** Element types a weight may have. Float types can be quantized; the others pass through unchanged. */
export type WeightDType =
  | 'float32' | 'float16' | 'bfloat16' | 'float64'
  | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'bool'
  | 'int4' | 'uint4' | 'other';

/** One weight's description. */
export interface WeightInfo {
  name: string;
  dtype: WeightDType;
  shape: number[];
  /** Bytes of its data as stored. */
  byteLength: number;
}

/** Reads one weight at a time. */
export interface WeightReader {
  list(): WeightInfo[];
  /** The raw little-endian bytes of `name`. Throws FormatError when the file is damaged. */
  read(name: string): Promise<Uint8Array>;
}

/** The float dtypes webgpu-quant can quantize (converted to float32 first). */
export const FLOAT_WEIGHT_DTYPES: readonly WeightDType[] = ['float32', 'float16', 'bfloat16', 'float64'];

/**
 * `info`'s stored bytes read into `into` (exactly its byte length): straight from the file where the reader can
 * (SafetensorsReader.readInto), else copied from `read`, whose bytes may be a view of memory the reader keeps
 * (so never the reader's own memory: `into` may be sent to a worker).
 *
 * @example
 * ```ts
 * const bytes = await readWeightInto(reader, info, new Uint8Array(info.byteLength));
 * ```
 */
export async function readWeightInto(reader: WeightReader, info: WeightInfo, into: Uint8Array): Promise<Uint8Array> {
  const direct = reader as WeightReader & { readInto?: (name: string, buffer: Uint8Array) => Promise<Uint8Array> };
  if (typeof direct.readInto === 'function') return direct.readInto(info.name, into);
  into.set(await reader.read(info.name));
  return into;
}

/** The float dtypes read from a file a block at a time: float32, and 16-bit values converted to float32 as read. */
export type FileWeightDType = 'float32' | 'float16' | 'bfloat16';

/** Bytes of one stored element of each {@link FileWeightDType}. */
export const FILE_WEIGHT_BYTES: Readonly<Record<FileWeightDType, number>> = { float32: 4, float16: 2, bfloat16: 2 };

/**
 * Whether a weight of `dtype` is read from a file a block at a time (float32, float16, bfloat16).
 *
 * @example
 * ```ts
 * isFileWeightDType('bfloat16'); // true
 * isFileWeightDType('float64');  // false
 * ```
 */
export function isFileWeightDType(dtype: WeightDType): dtype is FileWeightDType {
  return Object.hasOwn(FILE_WEIGHT_BYTES, dtype);
}

/**
 * Where weight `name`'s float32 values lie on disk, when `reader` knows (an ONNX model or a safetensors file
 * read from disk gives `float32FileRange`), so a CPU worker can read them itself; else undefined (read them
 * with `reader`).
 *
 * @example
 * ```ts
 * const range = await float32FileRangeOf(model, 'fc1.weight'); // { path: 'model.onnx', offset, byteLength } or undefined
 * ```
 */
export async function float32FileRangeOf(reader: WeightReader, name: string): Promise<FileRange | undefined> {
  const withRanges = reader as WeightReader & { float32FileRange?: (name: string) => Promise<FileRange | undefined> };
  return typeof withRanges.float32FileRange === 'function' ? withRanges.float32FileRange(name) : undefined;
}

/**
 * Where a float32, float16 or bfloat16 weight's stored bytes lie on disk, when `reader` knows: float32 through
 * {@link float32FileRangeOf}, the 16-bit dtypes through a reader's `tensorFileRange` (an ONNX model or a
 * safetensors file read from disk); else undefined.
 *
 * @example
 * ```ts
 * const range = await floatFileRangeOf(reader, info); // a bfloat16 weight of a safetensors file: its bytes on disk
 * ```
 */
export async function floatFileRangeOf(reader: WeightReader, info: WeightInfo): Promise<FileRange | undefined> {
  if (info.dtype === 'float32') return float32FileRangeOf(reader, info.name);
  if (!isFileWeightDType(info.dtype)) return undefined;
  const withRanges = reader as WeightReader & { tensorFileRange?: (name: string) => Promise<FileRange | undefined> };
  return typeof withRanges.tensorFileRange === 'function' ? withRanges.tensorFileRange(info.name) : undefined;
}
