/**
 * One ONNX `TensorProto`'s data as little-endian bytes, from wherever the file keeps it: `raw_data`, the
 * typed fields (`float_data`, `int32_data`, `int64_data`, `double_data`, `uint64_data`), or an external
 * file (`data_location = EXTERNAL`, `external_data` location / offset / length) read through a resolver.
 * {@link describeTensor} checks the shape against the stored length before anything is read, so a damaged
 * file is a FormatError naming the tensor, never a huge allocation.
 *
 * @example
 * ```ts
 * const layout = describeTensor(tensorProto, 'initializer "w"');
 * layout.shape;       // [258, 1, 5]
 * layout.byteLength;  // 5160
 * const bytes = await tensorBytes(tensorProto, layout, 'initializer "w"');
 * ```
 * @module
 */
import { FormatError } from '../../errors.js';
import { type ByteInput, readByteRange } from './byte-source.js';
import { type OnnxDTypeInfo, onnxDTypeInfo, storedByteLength } from './dtypes.js';
import type { ExternalDataResolver, ExternalRef } from './onnx-types.js';
import { DATA_LOCATION_EXTERNAL, type ProtoInt, type StringStringEntryProto, type TensorProto, toSafeInt } from './proto.js';

export type { ExternalDataResolver, ExternalRef } from './onnx-types.js';

/** A checked description of a TensorProto's data. */
export interface TensorLayout {
  readonly info: OnnxDTypeInfo;
  readonly shape: number[];
  readonly count: number;
  /** Bytes of the data as little-endian raw bytes; undefined for types with no fixed size (STRING). */
  readonly byteLength: number | undefined;
  readonly storage: 'raw' | 'typed' | 'external' | 'empty';
  readonly external?: ExternalRef;
}

const kTypedFields = ['floatData', 'int32Data', 'int64Data', 'doubleData', 'uint64Data', 'stringData'] as const;

/** Parses an external_data integer: decimal digits only, a safe integer. */
function parseExternalInt(text: string, key: string, what: string): number {
  if (!/^[0-9]{1,16}$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new FormatError(`${what}: external_data ${key} is ${JSON.stringify(text)}; it must be a non-negative decimal integer`);
  }
  return Number(text);
}

function externalRef(tensor: TensorProto, what: string): ExternalRef {
  let location: string | undefined;
  let offset = 0;
  let length: number | undefined;
  for (const entry of tensor.externalData as StringStringEntryProto[]) {
    if (entry.key === 'location') location = entry.value;
    else if (entry.key === 'offset') offset = parseExternalInt(entry.value, 'offset', what);
    else if (entry.key === 'length') length = parseExternalInt(entry.value, 'length', what);
  }
  if (!location) throw new FormatError(`${what}: data_location is EXTERNAL but external_data has no "location" entry`);
  if (location.startsWith('/') || /^[a-zA-Z]:/.test(location) || location.split(/[\\/]/).includes('..')) {
    throw new FormatError(`${what}: external_data location ${JSON.stringify(location)} is not a plain relative path inside the `
      + 'model\'s folder (ONNX forbids absolute paths and "..")');
  }
  return { location, offset, length };
}

/** The number of values the typed field holds for `count` elements. */
function typedCount(info: OnnxDTypeInfo, count: number): number {
  if (info.bits === 4) return Math.ceil(count / 2);
  if (info.onnxName.startsWith('COMPLEX')) return 2 * count;
  return count;
}

/**
 * Checks a tensor's dims, data type and stored length, and says where its data is. Throws FormatError
 * naming `what` (e.g. `initializer "w" in graph`) for negative or overflowing dims, an UNDEFINED type,
 * raw or typed data whose length disagrees with the shape, and malformed external_data.
 *
 * @example
 * ```ts
 * describeTensor(onnx.TensorProto.create({ dims: [2, 3], dataType: 1, rawData: new Uint8Array(24) }), 't');
 * // { shape: [2, 3], count: 6, byteLength: 24, storage: 'raw', ... }
 * ```
 */
export function describeTensor(tensor: TensorProto, what: string): TensorLayout {
  const info = onnxDTypeInfo(tensor.dataType);
  if (tensor.dataType === 0) throw new FormatError(`${what}: data_type is UNDEFINED (0); the file is damaged`);
  if (tensor.segment) throw new FormatError(`${what}: segmented tensors (TensorProto.segment) are not supported`);
  const shape = (tensor.dims as ProtoInt[]).map((dim, i) => {
    const value = toSafeInt(dim, `${what}: dims[${i}]`);
    if (value < 0) throw new FormatError(`${what}: dims[${i}] is ${value}; dimensions must be non-negative`);
    return value;
  });
  let count = 1;
  for (const dim of shape) {
    count *= dim;
    if (count > Number.MAX_SAFE_INTEGER / 16) {
      throw new FormatError(`${what}: shape [${shape.join(', ')}] has more elements than any file can hold; the dims are damaged`);
    }
  }
  const byteLength = storedByteLength(info, count);
  const typed = kTypedFields.filter((field) => (tensor[field] as unknown[]).length > 0);
  const raw = tensor.rawData.byteLength > 0;
  const base = { info, shape, count, byteLength };
  if (tensor.dataLocation === DATA_LOCATION_EXTERNAL) {
    if (raw || typed.length) throw new FormatError(`${what}: data_location is EXTERNAL but the tensor also holds data inline`);
    if (byteLength === undefined) throw new FormatError(`${what}: ${info.onnxName} tensors cannot be stored externally`);
    const external = externalRef(tensor, what);
    if (external.length !== undefined && external.length !== byteLength) {
      throw new FormatError(`${what}: external_data length is ${external.length} bytes but shape [${shape.join(', ')}] of `
        + `${info.onnxName} needs ${byteLength}`);
    }
    return { ...base, storage: 'external', external };
  }
  if (raw && typed.length) throw new FormatError(`${what}: holds both raw_data and ${typed.join(', ')}; a tensor has one or the other`);
  if (raw) {
    if (byteLength !== undefined && tensor.rawData.byteLength !== byteLength) {
      throw new FormatError(`${what}: raw_data has ${tensor.rawData.byteLength} bytes but shape [${shape.join(', ')}] of `
        + `${info.onnxName} needs ${byteLength}`);
    }
    return { ...base, storage: 'raw' };
  }
  if (typed.length > 1 || (typed.length === 1 && typed[0] !== info.typedField)) {
    throw new FormatError(`${what}: ${info.onnxName} values belong in ${info.typedField ?? 'raw_data'}, found ${typed.join(', ')}`);
  }
  if (typed.length === 0) {
    if (count !== 0) throw new FormatError(`${what}: shape [${shape.join(', ')}] has ${count} elements but the tensor holds no data`);
    return { ...base, storage: 'empty' };
  }
  const held = (tensor[info.typedField!] as unknown[]).length;
  if (held !== typedCount(info, count)) {
    throw new FormatError(`${what}: ${info.typedField} has ${held} values but shape [${shape.join(', ')}] of ${info.onnxName} `
      + `needs ${typedCount(info, count)}`);
  }
  return { ...base, storage: 'typed' };
}

/** Writes one int64/uint64 protobuf value little-endian at `offset`. */
function setInt64(view: DataView, offset: number, value: ProtoInt): void {
  if (typeof value === 'number') {
    view.setBigInt64(offset, BigInt.asIntN(64, BigInt(Math.trunc(value))), true);
  } else {
    view.setUint32(offset, value.low >>> 0, true);
    view.setUint32(offset + 4, value.high >>> 0, true);
  }
}

/** The typed-field values of a tensor as little-endian raw bytes. */
function typedToBytes(tensor: TensorProto, layout: TensorLayout, what: string): Uint8Array {
  const { info } = layout;
  const out = new Uint8Array(layout.byteLength!);
  const view = new DataView(out.buffer);
  switch (info.typedField) {
    case 'floatData': tensor.floatData.forEach((v, i) => view.setFloat32(4 * i, v, true)); break;
    case 'doubleData': tensor.doubleData.forEach((v, i) => view.setFloat64(8 * i, v, true)); break;
    case 'int64Data': (tensor.int64Data as ProtoInt[]).forEach((v, i) => setInt64(view, 8 * i, v)); break;
    case 'uint64Data':
      if (info.bits === 32) (tensor.uint64Data as ProtoInt[]).forEach((v, i) => view.setUint32(4 * i, toSafeInt(v, what) >>> 0, true));
      else (tensor.uint64Data as ProtoInt[]).forEach((v, i) => setInt64(view, 8 * i, v));
      break;
    case 'int32Data': {
      // Narrow types keep their bit pattern in the low bits of each int32 (float16/bfloat16 as uint16 bits,
      // 4-bit types as one byte holding two nibbles).
      const bytesPer = info.bits === 4 ? 1 : info.bits! / 8;
      tensor.int32Data.forEach((v, i) => {
        if (bytesPer === 1) view.setUint8(i, v & 0xff);
        else if (bytesPer === 2) view.setUint16(2 * i, v & 0xffff, true);
        else view.setInt32(4 * i, v, true);
      });
      break;
    }
    default:
      throw new FormatError(`${what}: ${info.onnxName} values have no raw byte form`);
  }
  return out;
}

/**
 * The tensor's data as little-endian bytes: a view of raw_data (no copy), the typed fields converted, or
 * the external range read through `resolve`. A missing resolver, a missing file, or a range past the end
 * of the file is a FormatError naming `what`, the location and the range.
 *
 * @example
 * ```ts
 * const bytes = await tensorBytes(t, describeTensor(t, 'w'), 'w', (location) => files[location]);
 * ```
 */
export async function tensorBytes(
  tensor: TensorProto, layout: TensorLayout, what: string, resolve?: ExternalDataResolver,
): Promise<Uint8Array> {
  if (layout.storage === 'raw') return tensor.rawData;
  if (layout.storage === 'empty') return new Uint8Array(0);
  if (layout.storage === 'typed') return typedToBytes(tensor, layout, what);
  const { location, offset } = layout.external!;
  if (!resolve) {
    throw new FormatError(`${what}: its data is in the external file ${JSON.stringify(location)}; pass options.externalData, `
      + 'a function (location) => bytes, Blob or byte source');
  }
  let source: ByteInput | undefined;
  try {
    source = await resolve(location);
  } catch (error) {
    throw new FormatError(`${what}: external data file ${JSON.stringify(location)} could not be opened (${
      error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
  if (source === undefined || source === null) {
    throw new FormatError(`${what}: external data file ${JSON.stringify(location)} was not found; place it next to the model`);
  }
  return readByteRange(source, offset, layout.byteLength!, `${what}: external data ${JSON.stringify(location)}`);
}
