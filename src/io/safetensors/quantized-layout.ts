/**
 * How webgpu-quant stores quantized tensors in safetensors ("webgpu-quant/1"). For a quantized weight `W`:
 *
 * - `W`: the integers. qint8 → I8, quint8 → U8, qint32 → I32, each with W's logical shape. qint4 / quint4 →
 *   U8 of shape `[ceil(n / 2)]` (n = element count): two values per byte, element 0 in the low nibble,
 *   row-major over the logical shape, an odd count padded with a zero nibble (ONNX int4 order,
 *   `QTensor.packedData()`).
 * - `W.scale`: F32 (F16 on request), shaped like the parameters: `[]` per tensor, `[C]` per channel
 *   (C = size of the axis), per group the logical shape with the axis dimension n replaced by
 *   `ceil(n / groupSize)` (the ONNX `block_size` layout).
 * - `W.zero_point`: the same shape, in the dtype's storage type: I8 (qint8, qint4), U8 (quint8, quint4),
 *   I32 (qint32); one value per element, never packed.
 * - `__metadata__`: `"format": "webgpu-quant/1"`, and for each quantized weight the key `webgpu_quant.W`
 *   holding JSON `{ "dtype", "scheme", "axis"?, "group_size"?, "shape", "original_dtype", "scale_dtype" }`
 *   (axis non-negative; shape = the logical shape; original_dtype = the safetensors name of the weight's
 *   dtype before quantization).
 *
 * Unquantized tensors are written unchanged under their own names. Since the header comes first, the
 * layout is computed from a {@link QuantizedPlan} (known before quantizing); {@link quantizedEntries}
 * derives the plan from a finished QTensor.
 *
 * @example
 * ```ts
 * import { quantizedLayout } from 'webgpu-quant';
 * const { entries, metadata } = quantizedLayout('fc.weight', { dtype: 'qint4', shape: [4, 6], scheme: 'per_group_affine', axis: 1, groupSize: 4 });
 * entries.map((e) => [e.name, e.dtype, e.shape]);
 * // [['fc.weight', 'U8', [12]], ['fc.weight.scale', 'F32', [4, 2]], ['fc.weight.zero_point', 'I8', [4, 2]]]
 * ```
 * @module
 */
import { type QDType, dtypeInfo } from '../../dtype.js';
import { InvalidArgumentError } from '../../errors.js';
import type { QScheme, QTensor } from '../../qtensor.js';
import { shapeSize } from '../../tensor.js';
import { checkGroupSize, normalizeAxis } from '../../validate.js';
import type { WeightDType } from '../weights.js';
import { type SafetensorsDType, toSafetensorsDType } from './dtypes.js';
import { floatToHalfBits } from '../half.js';
import type { SafetensorsTensor } from './writer.js';

/** The `format` metadata value of files in this layout. */
export const QUANTIZED_FORMAT = 'webgpu-quant/1';
/** Prefix of the per-tensor metadata keys: `webgpu_quant.<name>`. */
export const QUANTIZED_METADATA_PREFIX = 'webgpu_quant.';

/** What the layout of one quantized tensor depends on, all known before quantizing. */
export interface QuantizedPlan {
  dtype: QDType;
  /** The logical (unpacked) shape. */
  shape: readonly number[];
  scheme: QScheme;
  /** Channel or group axis; negative counts from the end. Ignored per tensor. */
  axis?: number;
  /** Per group only. */
  groupSize?: number;
  /** The weight's dtype before quantization (default 'F32'). */
  originalDType?: SafetensorsDType | WeightDType;
  /** 'F32' (default) or 'F16'. */
  scaleDType?: 'F32' | 'F16';
}

/** The JSON stored under `webgpu_quant.<name>`. */
export interface QuantizedTensorMetadata {
  dtype: QDType;
  scheme: QScheme;
  axis?: number;
  group_size?: number;
  shape: number[];
  original_dtype: SafetensorsDType;
  scale_dtype: 'F32' | 'F16';
}

/** The three entries of one quantized tensor and its metadata pair. */
export interface QuantizedLayout {
  /** Data, scale, zero point, in that order. */
  entries: [SafetensorsTensorEntry, SafetensorsTensorEntry, SafetensorsTensorEntry];
  /** `[webgpu_quant.<name>, JSON]`. */
  metadata: [string, string];
  /** The normalized description. */
  description: QuantizedTensorMetadata;
}

/** An entry with a concrete safetensors dtype and byte length. */
export interface SafetensorsTensorEntry { name: string; dtype: SafetensorsDType; shape: number[]; byteLength: number }

const kStorage: Readonly<Record<QDType, { data: SafetensorsDType; zeroPoint: SafetensorsDType; bytes: number }>> = {
  qint8: { data: 'I8', zeroPoint: 'I8', bytes: 1 },
  quint8: { data: 'U8', zeroPoint: 'U8', bytes: 1 },
  qint32: { data: 'I32', zeroPoint: 'I32', bytes: 4 },
  qint4: { data: 'U8', zeroPoint: 'I8', bytes: 1 },
  quint4: { data: 'U8', zeroPoint: 'U8', bytes: 1 },
};

const kSchemes: readonly QScheme[] = ['per_tensor_affine', 'per_channel_affine', 'per_group_affine'];

/**
 * Validates a plan and returns its normalized metadata (axis non-negative, fields per scheme).
 *
 * @example
 * ```ts
 * describePlan({ dtype: 'qint8', shape: [3, 4], scheme: 'per_channel_affine', axis: -2 }).axis; // 0
 * ```
 */
export function describePlan(plan: QuantizedPlan, argument = 'plan'): QuantizedTensorMetadata {
  if (plan === null || typeof plan !== 'object') throw new InvalidArgumentError(argument, plan, `${argument} must be { dtype, shape, scheme, axis?, groupSize? }`);
  dtypeInfo(plan.dtype, `${argument}.dtype`);
  shapeSize(plan.shape as number[], `${argument}.shape`);
  if (!kSchemes.includes(plan.scheme)) {
    throw new InvalidArgumentError(`${argument}.scheme`, plan.scheme, `${argument}.scheme ${JSON.stringify(plan.scheme)} is not one of ${kSchemes.join(', ')}`);
  }
  const scaleDType = plan.scaleDType ?? 'F32';
  if (scaleDType !== 'F32' && scaleDType !== 'F16') {
    throw new InvalidArgumentError(`${argument}.scaleDType`, scaleDType, `${argument}.scaleDType must be 'F32' or 'F16'`);
  }
  const description: QuantizedTensorMetadata = {
    dtype: plan.dtype, scheme: plan.scheme, shape: [...plan.shape],
    original_dtype: toSafetensorsDType(plan.originalDType ?? 'F32', `${argument}.originalDType`), scale_dtype: scaleDType,
  };
  if (plan.scheme !== 'per_tensor_affine') {
    description.axis = normalizeAxis(plan.axis as number, plan.shape.length, `${argument}.axis`);
    if (plan.scheme === 'per_group_affine') {
      description.group_size = checkGroupSize(plan.groupSize as number, plan.shape[description.axis]!, `${argument}.groupSize`);
    }
  }
  return description;
}

/**
 * The shape of the scale and zero-point tensors: `[]`, `[C]`, or the group-parameter shape.
 *
 * @example
 * ```ts
 * paramShape({ dtype: 'qint4', scheme: 'per_group_affine', axis: 1, group_size: 4, shape: [2, 6], original_dtype: 'F32', scale_dtype: 'F32' }); // [2, 2]
 * ```
 */
export function paramShape(d: QuantizedTensorMetadata): number[] {
  if (d.scheme === 'per_tensor_affine') return [];
  if (d.scheme === 'per_channel_affine') return [d.shape[d.axis!]!];
  return d.shape.map((dim, i) => (i === d.axis ? Math.ceil(dim / d.group_size!) : dim));
}

/**
 * The entries and metadata of quantized tensor `name` under `plan`, for the writer's header.
 *
 * @example
 * ```ts
 * const layout = quantizedLayout('w', { dtype: 'qint8', shape: [3, 4], scheme: 'per_channel_affine', axis: 0 });
 * layout.entries[1]; // { name: 'w.scale', dtype: 'F32', shape: [3], byteLength: 12 }
 * ```
 */
export function quantizedLayout(name: string, plan: QuantizedPlan): QuantizedLayout {
  if (typeof name !== 'string') throw new InvalidArgumentError('name', name, 'name must be the tensor name, a string');
  const d = describePlan(plan);
  const storage = kStorage[d.dtype];
  const elements = d.shape.reduce((a, b) => a * b, 1);
  const packed = dtypeInfo(d.dtype).bits === 4;
  const params = paramShape(d);
  const paramCount = params.reduce((a, b) => a * b, 1);
  return {
    entries: [
      { name, dtype: storage.data, shape: packed ? [Math.ceil(elements / 2)] : [...d.shape], byteLength: packed ? Math.ceil(elements / 2) : elements * storage.bytes },
      { name: `${name}.scale`, dtype: d.scale_dtype, shape: params, byteLength: paramCount * (d.scale_dtype === 'F16' ? 2 : 4) },
      { name: `${name}.zero_point`, dtype: storage.zeroPoint, shape: [...params], byteLength: paramCount * storage.bytes },
    ],
    metadata: [`${QUANTIZED_METADATA_PREFIX}${name}`, JSON.stringify(d)],
    description: d,
  };
}

/** Options of {@link quantizedEntries}. */
export interface QuantizedEntriesOptions {
  scaleDType?: 'F32' | 'F16';
  originalDType?: SafetensorsDType | WeightDType;
}

/**
 * The plan a finished QTensor follows.
 *
 * @example
 * ```ts
 * planOf(q, { originalDType: 'BF16' }); // { dtype: q.dtype, shape, scheme, axis?, groupSize?, originalDType: 'BF16' }
 * ```
 */
export function planOf(q: QTensor, options: QuantizedEntriesOptions = {}): QuantizedPlan {
  const params = q.params;
  return {
    dtype: q.dtype, shape: q.shape, scheme: params.scheme,
    ...(params.scheme === 'per_tensor_affine' ? {} : { axis: params.axis }),
    ...(params.scheme === 'per_group_affine' ? { groupSize: params.groupSize } : {}),
    originalDType: options.originalDType ?? 'F32', scaleDType: options.scaleDType ?? 'F32',
  };
}

/**
 * The bytes of a QTensor's three tensors in the layout: data, scale, zero point. 8- and 32-bit data is a
 * view of the QTensor's integers (no copy; little-endian platforms, which is every WebGPU platform); 4-bit
 * data is packed. F16 scales that would round to 0 or overflow throw {@link InvalidArgumentError}.
 *
 * @example
 * ```ts
 * const [data, scale, zeroPoint] = quantizedTensorBytes(q);
 * ```
 */
export function quantizedTensorBytes(q: QTensor, options: QuantizedEntriesOptions = {}): [Uint8Array, Uint8Array, Uint8Array] {
  const params = q.params;
  const scales = params.scheme === 'per_tensor_affine' ? [params.scale] : params.scales;
  const zeroPoints = params.scheme === 'per_tensor_affine' ? [params.zeroPoint] : params.zeroPoints;
  return [quantizedDataBytes(q), ...quantizedParamBytes(q.dtype, scales, zeroPoints, options)];
}

/**
 * The data tensor's bytes of a QTensor in the layout (see {@link quantizedTensorBytes}): a view of 8- and
 * 32-bit integers, 4-bit ones packed two to a byte (a view too where the tensor holds them packed, as the GPU
 * returns them: not unpacked and packed again).
 *
 * @example
 * ```ts
 * quantizedDataBytes(q).byteLength; // q.size for qint8, ceil(q.size / 2) for qint4
 * ```
 */
export function quantizedDataBytes(q: QTensor): Uint8Array {
  if (dtypeInfo(q.dtype).bits === 4) return q.packedNibbles?.subarray(0, Math.ceil(q.size / 2)) ?? q.packedData();
  const values = q.intReprView();
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/**
 * The byte length of {@link quantizedDataBytes}(q), without making them.
 *
 * @example
 * ```ts
 * quantizedDataByteLength(q); // ceil(q.size / 2) for qint4
 * ```
 */
export function quantizedDataByteLength(q: QTensor): number {
  const bits = dtypeInfo(q.dtype).bits;
  return bits === 4 ? Math.ceil(q.size / 2) : q.size * (bits / 8);
}

/**
 * The scale and zero-point tensors' bytes in the layout (see {@link quantizedTensorBytes}) of parameters
 * for `dtype`, one scale and zero point per channel or group, or one in all per tensor.
 *
 * @example
 * ```ts
 * const [scale, zeroPoint] = quantizedParamBytes('qint8', Float32Array.of(0.5, 0.25), Int32Array.of(0, 0)); // 8 and 2 bytes
 * ```
 */
export function quantizedParamBytes(
  dtype: QDType, scales: ArrayLike<number>, zeroPoints: ArrayLike<number>, options: QuantizedEntriesOptions = {},
): [Uint8Array, Uint8Array] {
  let scaleBytes: Uint8Array;
  if ((options.scaleDType ?? 'F32') === 'F16') {
    const halves = Uint16Array.from(scales, (s, i) => {
      const h = floatToHalfBits(s);
      if ((h & 0x7fff) === 0 || (h & 0x7c00) === 0x7c00) {
        throw new InvalidArgumentError(`scales[${i}]`, s, `scale ${s} (index ${i}) does not fit float16 (it rounds to ${(h & 0x7fff) === 0 ? '0' : 'Infinity'}); use scaleDType 'F32'`);
      }
      return h;
    });
    scaleBytes = new Uint8Array(halves.buffer);
  } else {
    scaleBytes = new Uint8Array(Float32Array.from(scales).buffer);
  }
  const storage = kStorage[dtype];
  const zp = storage.zeroPoint === 'I32' ? Int32Array.from(zeroPoints) : storage.zeroPoint === 'I8' ? Int8Array.from(zeroPoints) : Uint8Array.from(zeroPoints);
  return [scaleBytes, new Uint8Array(zp.buffer)];
}

/**
 * Everything needed to write QTensor `q` as `name`: the three tensors with their bytes, and the metadata
 * pair. Add `{ format: QUANTIZED_FORMAT }` (see {@link quantizedFileMetadata}) to the file's metadata.
 *
 * @example
 * ```ts
 * const { tensors, metadata } = quantizedEntries('fc.weight', q);
 * await writeSafetensors(sink, [...tensors, ...passthrough], quantizedFileMetadata([metadata]));
 * ```
 */
export function quantizedEntries(name: string, q: QTensor, options: QuantizedEntriesOptions = {}): { tensors: SafetensorsTensor[]; metadata: [string, string] } {
  const layout = quantizedLayout(name, planOf(q, options));
  const bytes = quantizedTensorBytes(q, options);
  return { tensors: layout.entries.map((entry, i) => ({ ...entry, data: bytes[i]! })), metadata: layout.metadata };
}

/**
 * The file's `__metadata__`: `format` plus each quantized tensor's pair, plus `extra` (which may not
 * override those keys).
 *
 * @example
 * ```ts
 * quantizedFileMetadata([quantizedLayout('w', plan).metadata], { source: 'model.onnx' });
 * // { format: 'webgpu-quant/1', 'webgpu_quant.w': '{"dtype":...}', source: 'model.onnx' }
 * ```
 */
export function quantizedFileMetadata(pairs: Iterable<readonly [string, string]>, extra: Readonly<Record<string, string>> = {}): Map<string, string> {
  const out = new Map<string, string>([['format', QUANTIZED_FORMAT]]);
  for (const [key, value] of pairs) out.set(key, value);
  for (const [key, value] of Object.entries(extra)) {
    if (key === 'format' || key.startsWith(QUANTIZED_METADATA_PREFIX)) {
      throw new InvalidArgumentError(`extra[${JSON.stringify(key)}]`, value, `metadata key ${JSON.stringify(key)} is reserved for the quantized layout; choose another`);
    }
    out.set(key, value);
  }
  return out;
}
