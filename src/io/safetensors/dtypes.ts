/**
 * The safetensors dtype names (`"F32"`, `"BF16"`, ...), their element sizes and how they map to the
 * library's {@link WeightDType}. One table, in the order of the reference implementation's `Dtype` enum.
 *
 * @example
 * ```ts
 * import { safetensorsDTypeInfo, toSafetensorsDType } from 'webgpu-quant';
 * safetensorsDTypeInfo('BF16');   // { name: 'BF16', bits: 16, weightDType: 'bfloat16' }
 * toSafetensorsDType('float32');  // 'F32'
 * ```
 * @module
 */
import { InvalidArgumentError } from '../../errors.js';
import type { WeightDType } from '../weights.js';

/** Every dtype name the safetensors format defines (as of safetensors 0.6). */
export type SafetensorsDType =
  | 'BOOL' | 'F4' | 'F6_E2M3' | 'F6_E3M2' | 'U8' | 'I8' | 'F8_E5M2' | 'F8_E4M3' | 'F8_E8M0'
  | 'I16' | 'U16' | 'F16' | 'BF16' | 'I32' | 'U32' | 'F32' | 'F64' | 'C64' | 'I64' | 'U64';

/** Facts about one safetensors dtype. */
export interface SafetensorsDTypeInfo {
  readonly name: SafetensorsDType;
  /** Bits per element. The sub-byte types (F4, F6_*) need a whole number of bytes per tensor. */
  readonly bits: number;
  /** The library's name for it; `'other'` for types webgpu-quant carries through but does not interpret. */
  readonly weightDType: WeightDType;
}

const kTable: readonly SafetensorsDTypeInfo[] = [
  { name: 'BOOL', bits: 8, weightDType: 'bool' },
  { name: 'F4', bits: 4, weightDType: 'other' },
  { name: 'F6_E2M3', bits: 6, weightDType: 'other' },
  { name: 'F6_E3M2', bits: 6, weightDType: 'other' },
  { name: 'U8', bits: 8, weightDType: 'uint8' },
  { name: 'I8', bits: 8, weightDType: 'int8' },
  { name: 'F8_E5M2', bits: 8, weightDType: 'other' },
  { name: 'F8_E4M3', bits: 8, weightDType: 'other' },
  { name: 'F8_E8M0', bits: 8, weightDType: 'other' },
  { name: 'I16', bits: 16, weightDType: 'int16' },
  { name: 'U16', bits: 16, weightDType: 'uint16' },
  { name: 'F16', bits: 16, weightDType: 'float16' },
  { name: 'BF16', bits: 16, weightDType: 'bfloat16' },
  { name: 'I32', bits: 32, weightDType: 'int32' },
  { name: 'U32', bits: 32, weightDType: 'uint32' },
  { name: 'F32', bits: 32, weightDType: 'float32' },
  { name: 'F64', bits: 64, weightDType: 'float64' },
  { name: 'C64', bits: 64, weightDType: 'other' },
  { name: 'I64', bits: 64, weightDType: 'int64' },
  { name: 'U64', bits: 64, weightDType: 'uint64' },
];

const kByName: ReadonlyMap<string, SafetensorsDTypeInfo> = new Map(kTable.map((info) => [info.name, info]));
const kByWeightDType: ReadonlyMap<string, SafetensorsDType> = new Map(
  kTable.filter((info) => info.weightDType !== 'other').map((info) => [info.weightDType, info.name]),
);

/** Every safetensors dtype name, in the reference implementation's order. */
export const SAFETENSORS_DTYPES: readonly SafetensorsDType[] = kTable.map((info) => info.name);

/**
 * The facts about a safetensors dtype name, or `undefined` for a name the format does not define.
 *
 * @example
 * ```ts
 * safetensorsDTypeInfo('F16')?.bits; // 16
 * safetensorsDTypeInfo('F17');       // undefined
 * ```
 */
export function safetensorsDTypeInfo(name: string): SafetensorsDTypeInfo | undefined {
  return typeof name === 'string' ? kByName.get(name) : undefined;
}

/**
 * The safetensors name of a dtype given either way (`'float32'` or `'F32'`). Throws
 * {@link InvalidArgumentError} for `'int4'`, `'uint4'` and `'other'`, which safetensors cannot name
 * (store 4-bit data packed as U8, see `quantizedLayout`).
 *
 * @example
 * ```ts
 * toSafetensorsDType('bfloat16'); // 'BF16'
 * toSafetensorsDType('I8');       // 'I8'
 * ```
 */
export function toSafetensorsDType(dtype: WeightDType | SafetensorsDType, argument = 'dtype'): SafetensorsDType {
  const direct = safetensorsDTypeInfo(dtype);
  if (direct) return direct.name;
  const mapped = typeof dtype === 'string' ? kByWeightDType.get(dtype) : undefined;
  if (mapped) return mapped;
  throw new InvalidArgumentError(argument, dtype,
    `${argument} ${JSON.stringify(dtype)} has no safetensors name; use one of ${SAFETENSORS_DTYPES.join(', ')} or `
    + `${[...kByWeightDType.keys()].join(', ')} (4-bit data is stored packed as U8, see quantizedLayout)`);
}

/**
 * The byte length of `elements` elements of `dtype`, or `undefined` when a sub-byte dtype does not fill
 * whole bytes (the reference implementation rejects such tensors).
 *
 * @example
 * ```ts
 * dtypeByteLength('F32', 6); // 24
 * dtypeByteLength('F4', 3);  // undefined (12 bits)
 * ```
 */
export function dtypeByteLength(dtype: SafetensorsDTypeInfo, elements: number): number | undefined {
  const bits = elements * dtype.bits;
  return bits % 8 === 0 ? bits / 8 : undefined;
}
