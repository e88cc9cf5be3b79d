/**
 * ONNX `TensorProto.DataType` codes and what webgpu-quant calls them: FLOAT → float32, FLOAT16 → float16,
 * BFLOAT16 → bfloat16, DOUBLE → float64, the integer types by their names, INT4 / UINT4 → int4 / uint4
 * (two per byte, element 0 in the low nibble), everything else (STRING, COMPLEX*, FLOAT8*, ...) 'other'.
 *
 * @example
 * ```ts
 * onnxDTypeInfo(1);  // { code: 1, onnxName: 'FLOAT', dtype: 'float32', bits: 32, typedField: 'floatData' }
 * onnxDTypeInfo(22); // { code: 22, onnxName: 'INT4', dtype: 'int4', bits: 4, typedField: 'int32Data' }
 * storedByteLength(onnxDTypeInfo(22), 5); // 3
 * ```
 * @module
 */
import type { QDType } from '../../dtype.js';
import type { WeightDType } from '../weights.js';

/** The TensorProto field a dtype's non-raw values live in. */
export type TypedField = 'floatData' | 'int32Data' | 'int64Data' | 'doubleData' | 'uint64Data' | 'stringData';

/** Facts about one ONNX data type. */
export interface OnnxDTypeInfo {
  readonly code: number;
  readonly onnxName: string;
  readonly dtype: WeightDType;
  /** Bits per element as stored in raw_data; undefined where raw_data cannot hold it (STRING) or it is unknown. */
  readonly bits: number | undefined;
  /** Where the values go when raw_data is not used. */
  readonly typedField: TypedField | undefined;
}

const kTable: ReadonlyArray<readonly [number, string, WeightDType, number | undefined, TypedField | undefined]> = [
  [1, 'FLOAT', 'float32', 32, 'floatData'],
  [2, 'UINT8', 'uint8', 8, 'int32Data'],
  [3, 'INT8', 'int8', 8, 'int32Data'],
  [4, 'UINT16', 'uint16', 16, 'int32Data'],
  [5, 'INT16', 'int16', 16, 'int32Data'],
  [6, 'INT32', 'int32', 32, 'int32Data'],
  [7, 'INT64', 'int64', 64, 'int64Data'],
  [8, 'STRING', 'other', undefined, 'stringData'],
  [9, 'BOOL', 'bool', 8, 'int32Data'],
  [10, 'FLOAT16', 'float16', 16, 'int32Data'],
  [11, 'DOUBLE', 'float64', 64, 'doubleData'],
  [12, 'UINT32', 'uint32', 32, 'uint64Data'],
  [13, 'UINT64', 'uint64', 64, 'uint64Data'],
  [14, 'COMPLEX64', 'other', 64, 'floatData'],
  [15, 'COMPLEX128', 'other', 128, 'doubleData'],
  [16, 'BFLOAT16', 'bfloat16', 16, 'int32Data'],
  [17, 'FLOAT8E4M3FN', 'other', 8, 'int32Data'],
  [18, 'FLOAT8E4M3FNUZ', 'other', 8, 'int32Data'],
  [19, 'FLOAT8E5M2', 'other', 8, 'int32Data'],
  [20, 'FLOAT8E5M2FNUZ', 'other', 8, 'int32Data'],
  [21, 'UINT4', 'uint4', 4, 'int32Data'],
  [22, 'INT4', 'int4', 4, 'int32Data'],
  [23, 'FLOAT4E2M1', 'other', 4, 'int32Data'],
];

const kByCode = new Map<number, OnnxDTypeInfo>(kTable.map(([code, onnxName, dtype, bits, typedField]) =>
  [code, { code, onnxName, dtype, bits, typedField }]));

/** ONNX code of FLOAT (webgpu-quant writes float32 scales with it). */
export const ONNX_FLOAT = 1;
/** ONNX code of FLOAT16 (scales of float16 weights). */
export const ONNX_FLOAT16 = 10;
/** ONNX code of BFLOAT16 (scales of bfloat16 weights). */
export const ONNX_BFLOAT16 = 16;
/** ONNX code of INT64 (the axes inputs an opset upgrade adds). */
export const ONNX_INT64 = 7;

/**
 * The facts of ONNX data type `code`; an unknown code gives an 'other' entry with unknown size (its raw_data
 * passes through untouched).
 *
 * @example
 * ```ts
 * onnxDTypeInfo(16).dtype; // 'bfloat16'
 * onnxDTypeInfo(99).dtype; // 'other'
 * ```
 */
export function onnxDTypeInfo(code: number): OnnxDTypeInfo {
  return kByCode.get(code) ?? { code, onnxName: `data type ${code}`, dtype: 'other', bits: undefined, typedField: undefined };
}

/**
 * Bytes `count` elements take in raw_data (4-bit types two per byte, rounded up); undefined when the type has
 * no fixed size.
 *
 * @example
 * ```ts
 * storedByteLength(onnxDTypeInfo(1), 10);  // 40
 * storedByteLength(onnxDTypeInfo(21), 3);  // 2
 * ```
 */
export function storedByteLength(info: OnnxDTypeInfo, count: number): number | undefined {
  if (info.bits === undefined) return undefined;
  return info.bits === 4 ? Math.ceil(count / 2) : count * (info.bits / 8);
}

/**
 * The ONNX code of the integer type a quantized dtype is stored as: qint8 → INT8, quint8 → UINT8,
 * qint4 → INT4, quint4 → UINT4, qint32 → INT32.
 *
 * @example
 * ```ts
 * onnxCodeOfQDType('qint4'); // 22
 * ```
 */
export function onnxCodeOfQDType(dtype: QDType): number {
  const codes: Record<QDType, number> = { qint8: 3, quint8: 2, qint4: 22, quint4: 21, qint32: 6 };
  return codes[dtype];
}
