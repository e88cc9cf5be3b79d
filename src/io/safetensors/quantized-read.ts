/**
 * Reads files in the "webgpu-quant/1" layout (see `quantized-layout.ts`) back into QTensors, so a compressed
 * model can be inspected and dequantized. Descriptions come from `__metadata__` alone; the tensors they
 * name are checked against the layout (dtype, shape) before anything is read, and the integers and
 * parameters are validated as `fromIntRepr` does. Every inconsistency is a {@link FormatError} naming
 * the file and the tensor.
 *
 * @example
 * ```ts
 * import { openSafetensors, readQuantizedSafetensors, dequantize } from 'webgpu-quant';
 * const reader = await openSafetensors(await nodeFileSource('model.int8.safetensors'));
 * const { quantized, passthrough } = await readQuantizedSafetensors(reader);
 * const w = await dequantize(quantized.get('fc.weight')!);
 * ```
 * @module
 */
import { QDTYPES, type QDType, dtypeInfo } from '../../dtype.js';
import { FormatError, WebGpuQuantError } from '../../errors.js';
import { QTensor, checkQParams, fromIntRepr } from '../../qtensor.js';
import type { StoredQuantizedWeight } from '../stored-quantized.js';
import { halfToFloat } from '../float-convert.js';
import { type WeightInfo, readWeightInto } from '../weights.js';
import { describeShape, describeValue, quoteName } from './header-parse.js';
import {
  QUANTIZED_FORMAT, QUANTIZED_METADATA_PREFIX, type QuantizedLayout, type QuantizedTensorMetadata, quantizedLayout,
} from './quantized-layout.js';
import type { SafetensorsReader } from './reader.js';

/** What the quantized readers need of a reader. */
export type QuantizedSource = Pick<SafetensorsReader, 'name' | 'metadata' | 'list' | 'has' | 'info' | 'read'>;

/** One quantized tensor as described in the file. */
export interface QuantizedTensorDescription extends QuantizedTensorMetadata {
  name: string;
  /** The file's three entries for it (data, scale, zero point). */
  layout: QuantizedLayout;
}

function describeOne(file: string, name: string, json: string): QuantizedTensorDescription {
  // Built only for a message: a file of many quantized weights quotes no name.
  const where = (): string => `${file}: quantized tensor ${quoteName(name)} (metadata ${quoteName(QUANTIZED_METADATA_PREFIX + name)})`;
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (error) {
    throw new FormatError(`${where()}: not valid JSON (${(error as Error).message})`, { cause: error });
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new FormatError(`${where()}: must be a JSON object`);
  const d = raw as Record<string, unknown>;
  if (!QDTYPES.includes(d.dtype as QDType)) throw new FormatError(`${where()}: dtype ${describeValue(d.dtype)} is not one of ${QDTYPES.join(', ')}`);
  // Types first, without recursing into the values (a deeply nested array would overflow String()).
  const fieldChecks: [string, (v: unknown) => boolean, string][] = [
    ['shape', (v) => Array.isArray(v) && v.length <= 64 && v.every((x) => typeof x === 'number'), 'an array of at most 64 numbers'],
    ['scheme', (v) => typeof v === 'string', 'a string'],
    ['axis', (v) => v === undefined || typeof v === 'number', 'a number'],
    ['group_size', (v) => v === undefined || typeof v === 'number', 'a number'],
    ['original_dtype', (v) => v === undefined || typeof v === 'string', 'a string'],
    ['scale_dtype', (v) => v === undefined || typeof v === 'string', 'a string'],
  ];
  for (const [field, ok, what] of fieldChecks) {
    if (!ok(d[field])) throw new FormatError(`${where()}: "${field}" must be ${what}, found ${describeValue(d[field])}`);
  }
  try {
    const layout = quantizedLayout(name, {
      dtype: d.dtype as QDType, shape: d.shape as number[], scheme: d.scheme as QuantizedTensorMetadata['scheme'],
      axis: d.axis as number, groupSize: d.group_size as number,
      originalDType: d.original_dtype as QuantizedTensorMetadata['original_dtype'], scaleDType: d.scale_dtype as 'F32' | 'F16',
    });
    return { ...layout.description, name, layout };
  } catch (error) {
    if (error instanceof WebGpuQuantError) throw new FormatError(`${where()}: ${error.message}`, { cause: error });
    throw error;
  }
}

/**
 * The quantized tensors a file describes, checked against its entries; no tensor data is read.
 *
 * @example
 * ```ts
 * for (const d of describeQuantized(reader).values()) console.log(d.name, d.dtype, d.scheme, d.shape);
 * ```
 */
export function describeQuantized(reader: QuantizedSource): Map<string, QuantizedTensorDescription> {
  const out = new Map<string, QuantizedTensorDescription>();
  const keys = [...reader.metadata.keys()].filter((k) => k.startsWith(QUANTIZED_METADATA_PREFIX));
  if (keys.length === 0) return out;
  const format = reader.metadata.get('format');
  if (format !== QUANTIZED_FORMAT) {
    throw new FormatError(`${reader.name}: has ${QUANTIZED_METADATA_PREFIX}* metadata but format ${describeValue(format)}; `
      + `this version reads ${JSON.stringify(QUANTIZED_FORMAT)}`);
  }
  const claimedBy = new Map<string, string>();
  for (const key of keys) {
    const name = key.slice(QUANTIZED_METADATA_PREFIX.length);
    const d = describeOne(reader.name, name, reader.metadata.get(key)!);
    const where = (): string => `${reader.name}: quantized tensor ${quoteName(name)}`;
    for (const entry of d.layout.entries) {
      const other = claimedBy.get(entry.name);
      if (other !== undefined) throw new FormatError(`${where()}: tensor ${quoteName(entry.name)} also belongs to quantized tensor ${quoteName(other)}`);
      claimedBy.set(entry.name, name);
      if (!reader.has(entry.name)) throw new FormatError(`${where()}: the file has no tensor ${quoteName(entry.name)}, which the layout needs`);
      const info = reader.info(entry.name);
      if (info.safetensorsDType !== entry.dtype || info.shape.join(',') !== entry.shape.join(',')) {
        throw new FormatError(`${where()}: tensor ${quoteName(entry.name)} is ${info.safetensorsDType} ${describeShape(info.shape)} `
          + `at file offset ${info.fileOffset}; the layout needs ${entry.dtype} ${describeShape(entry.shape)}`);
      }
    }
    out.set(name, d);
  }
  return out;
}

/** Little-endian integers of `dtype` from bytes at any alignment. */
function integers(bytes: Uint8Array, dtype: string): Int8Array | Uint8Array | Int32Array {
  if (dtype === 'I8') return new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === 'U8') return bytes;
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  return new Int32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4);
}

function floats(bytes: Uint8Array, dtype: 'F32' | 'F16'): Float64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = dtype === 'F16' ? 2 : 4;
  const out = new Float64Array(bytes.byteLength / size);
  for (let i = 0; i < out.length; i++) out[i] = size === 2 ? halfToFloat(view.getUint16(2 * i, true)) : view.getFloat32(4 * i, true);
  return out;
}

/**
 * Reads one quantized tensor (its three entries) into a QTensor.
 *
 * @example
 * ```ts
 * const q = await readQuantizedTensor(reader, describeQuantized(reader).get('fc.weight')!);
 * q.qPerChannelScales();
 * ```
 */
export async function readQuantizedTensor(reader: QuantizedSource, d: QuantizedTensorDescription): Promise<QTensor> {
  return (await storedQuantizedTensor(reader, d)).load();
}

/**
 * One quantized tensor with its integers left in the file: its scale and zero point entries are read and
 * checked (a FormatError names the file and the tensor), and `load()` reads the integers.
 *
 * @example
 * ```ts
 * const w = await storedQuantizedTensor(reader, describeQuantized(reader).get('fc.weight')!);
 * w.qscheme;                // 'per_channel_affine'
 * const q = await w.load(); // the QTensor readQuantizedTensor gives
 * ```
 */
export async function storedQuantizedTensor(reader: QuantizedSource, d: QuantizedTensorDescription): Promise<StoredQuantizedWeight> {
  const [dataEntry, scaleEntry, zeroPointEntry] = d.layout.entries;
  const formatError = (error: unknown): unknown => (error instanceof WebGpuQuantError
    ? new FormatError(`${reader.name}: quantized tensor ${quoteName(d.name)}: ${error.message}`, { cause: error }) : error);
  // Read and checked now, and again on load: a listing keeps no parameter arrays.
  const paramsOf = async () => {
    const scales = floats(await reader.read(scaleEntry.name), d.scale_dtype);
    const zeroPoints = integers(await reader.read(zeroPointEntry.name), zeroPointEntry.dtype);
    const params = d.scheme === 'per_tensor_affine' ? { scale: scales[0]!, zeroPoint: zeroPoints[0]! }
      : d.scheme === 'per_channel_affine' ? { scales, zeroPoints, axis: d.axis! } : { scales, zeroPoints, axis: d.axis!, groupSize: d.group_size! };
    try {
      return { params, checked: checkQParams(d.shape, d.dtype, params) };
    } catch (error) {
      throw formatError(error);
    }
  };
  const { checked: described } = await paramsOf();
  const info = dtypeInfo(d.dtype);
  const load = async (): Promise<QTensor> => {
    const { params, checked } = await paramsOf();
    // 4-bit data is stored as packedData() lays it out: held packed, every nibble a value of the dtype, nothing to
    // check; read into an array of its own (the reader's bytes untouched: the tensor clears an odd count's padding nibble).
    if (info.bits === 4) {
      const stored = reader.info(dataEntry.name);
      return new QTensor({ nibbles: await readWeightInto(reader, stored, new Uint8Array(stored.byteLength)) }, d.shape, d.dtype, checked, 'cpu');
    }
    const dataBytes = await reader.read(dataEntry.name);
    try {
      return fromIntRepr(integers(dataBytes, dataEntry.dtype), d.shape, d.dtype, params);
    } catch (error) {
      throw formatError(error);
    }
  };
  return {
    dtype: d.dtype, shape: [...d.shape], qscheme: described.scheme,
    ...(described.scheme === 'per_tensor_affine' ? {} : { axis: described.axis }),
    ...(described.scheme === 'per_group_affine' ? { groupSize: described.groupSize } : {}),
    load,
  };
}

/**
 * Reads every quantized tensor of a "webgpu-quant/1" file into memory, and lists the other tensors
 * (unchanged float weights, biases; read them with `reader.read`). A file without the layout's metadata
 * gives no quantized tensors and every tensor as passthrough.
 *
 * @example
 * ```ts
 * const { quantized, passthrough } = await readQuantizedSafetensors(reader);
 * quantized.get('fc.weight')!.qscheme(); // 'per_channel_affine'
 * passthrough.map((t) => t.name);        // ['fc.bias', ...]
 * ```
 */
export async function readQuantizedSafetensors(reader: QuantizedSource): Promise<{ quantized: Map<string, QTensor>; passthrough: WeightInfo[] }> {
  const descriptions = describeQuantized(reader);
  const claimed = new Set([...descriptions.values()].flatMap((d) => d.layout.entries.map((e) => e.name)));
  const quantized = new Map<string, QTensor>();
  for (const d of descriptions.values()) quantized.set(d.name, await readQuantizedTensor(reader, d));
  const passthrough = reader.list().filter((t) => !claimed.has(t.name)).map(({ name, dtype, shape, byteLength }) => ({ name, dtype, shape, byteLength }));
  return { quantized, passthrough };
}
