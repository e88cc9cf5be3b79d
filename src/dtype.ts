/**
 * The quantized dtypes and every fact the host and the kernels need about them, in one table, so that a new
 * dtype (4-bit packed, say) is one more row rather than a change to every kernel's host code.
 *
 * @example
 * ```ts
 * import { dtypeInfo } from 'webgpu-quant';
 * dtypeInfo('quint8'); // { name: 'quint8', bits: 8, signed: false, qmin: 0, qmax: 255, ... }
 * ```
 * @module
 */
import { InvalidArgumentError } from './errors.js';

/**
 * The quantized dtypes, named as in PyTorch; the 4-bit ones follow ONNX int4/uint4 (two per byte, element 0
 * in the low nibble).
 */
export type QDType = 'qint8' | 'quint8' | 'qint32' | 'qint4' | 'quint4';

/** The typed array `intRepr()` returns for a dtype. */
export type IntReprArray = Int8Array | Uint8Array | Int32Array;

/** Facts about one quantized dtype. */
export interface DTypeInfo {
  readonly name: QDType;
  /** Bits per stored integer. */
  readonly bits: 4 | 8 | 32;
  readonly signed: boolean;
  /** Smallest and largest representable integer (PyTorch's quant_min / quant_max for the full range). */
  readonly qmin: number;
  readonly qmax: number;
  /** How many integers the GPU packs into one 32-bit word (8 for 4-bit, 4 for 8-bit, 1 for 32-bit types). */
  readonly perWord: 1 | 4 | 8;
  /** Makes an `intRepr()` array of `length` elements (one value per element, also for 4-bit types). */
  readonly makeArray: (length: number) => IntReprArray;
}

const kDTypes: Readonly<Record<QDType, DTypeInfo>> = {
  qint8: {
    name: 'qint8', bits: 8, signed: true, qmin: -128, qmax: 127, perWord: 4,
    makeArray: (n) => new Int8Array(n),
  },
  quint8: {
    name: 'quint8', bits: 8, signed: false, qmin: 0, qmax: 255, perWord: 4,
    makeArray: (n) => new Uint8Array(n),
  },
  qint32: {
    name: 'qint32', bits: 32, signed: true, qmin: -2147483648, qmax: 2147483647, perWord: 1,
    makeArray: (n) => new Int32Array(n),
  },
  qint4: {
    name: 'qint4', bits: 4, signed: true, qmin: -8, qmax: 7, perWord: 8,
    makeArray: (n) => new Int8Array(n),
  },
  quint4: {
    name: 'quint4', bits: 4, signed: false, qmin: 0, qmax: 15, perWord: 8,
    makeArray: (n) => new Uint8Array(n),
  },
};

/** Every supported dtype name, in table order. */
export const QDTYPES: readonly QDType[] = Object.keys(kDTypes) as QDType[];

/**
 * Looks up a dtype, rejecting unknown names with an {@link InvalidArgumentError}.
 *
 * @example
 * ```ts
 * dtypeInfo('qint8').qmax; // 127
 * dtypeInfo('int8' as QDType); // throws InvalidArgumentError naming 'dtype'
 * ```
 */
export function dtypeInfo(dtype: QDType, argument = 'dtype'): DTypeInfo {
  const info = typeof dtype === 'string' && Object.hasOwn(kDTypes, dtype) ? kDTypes[dtype] : undefined;
  if (!info) {
    throw new InvalidArgumentError(argument, dtype,
      `${argument} ${JSON.stringify(dtype)} is not a quantized dtype; use one of ${QDTYPES.join(', ')}`);
  }
  return info;
}
