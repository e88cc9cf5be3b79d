/**
 * The ggml tensor types webgpu-quant writes and reads in GGUF files, with ggml's type numbers (enum
 * ggml_type) and storage sizes, and the GGUF metadata value types (enum gguf_type).
 *
 * @example
 * ```ts
 * ggmlTypeInfo('Q4_0'); // { id: 2, blockSize: 32, blockBytes: 18 }
 * ggmlTensorBytes('Q8_0', [4096, 1024]); // 1024 rows × 128 blocks × 34 bytes = 4456448
 * ```
 * @module
 */
import { FormatError } from '../../errors.js';
import { GGML_BLOCK_SIZE, Q4_0_BLOCK_BYTES, Q8_0_BLOCK_BYTES } from './ggml-blocks.js';

/** The ggml tensor types of this module. */
export type GgmlType = 'F32' | 'F16' | 'Q4_0' | 'Q8_0' | 'I8' | 'I16' | 'I32' | 'I64' | 'F64' | 'BF16';

/** How a type is stored: `blockBytes` bytes for every `blockSize` consecutive elements of a row. */
export interface GgmlTypeInfo { id: number; blockSize: number; blockBytes: number }

const kTypes: Record<GgmlType, GgmlTypeInfo> = {
  F32: { id: 0, blockSize: 1, blockBytes: 4 },
  F16: { id: 1, blockSize: 1, blockBytes: 2 },
  Q4_0: { id: 2, blockSize: GGML_BLOCK_SIZE, blockBytes: Q4_0_BLOCK_BYTES },
  Q8_0: { id: 8, blockSize: GGML_BLOCK_SIZE, blockBytes: Q8_0_BLOCK_BYTES },
  I8: { id: 24, blockSize: 1, blockBytes: 1 },
  I16: { id: 25, blockSize: 1, blockBytes: 2 },
  I32: { id: 26, blockSize: 1, blockBytes: 4 },
  I64: { id: 27, blockSize: 1, blockBytes: 8 },
  F64: { id: 28, blockSize: 1, blockBytes: 8 },
  BF16: { id: 30, blockSize: 1, blockBytes: 2 },
};

/**
 * The id and sizes of a type.
 *
 * @example
 * ```ts
 * ggmlTypeInfo('Q8_0').blockBytes; // 34
 * ```
 */
export function ggmlTypeInfo(type: GgmlType): GgmlTypeInfo {
  return kTypes[type];
}

/**
 * The type with ggml id `id`, or undefined for one this module does not know.
 *
 * @example
 * ```ts
 * ggmlTypeOfId(8); // 'Q8_0'
 * ```
 */
export function ggmlTypeOfId(id: number): GgmlType | undefined {
  return (Object.keys(kTypes) as GgmlType[]).find((t) => kTypes[t].id === id);
}

/**
 * Bytes of a tensor of `type` with ggml dimensions `ne` (ne[0] innermost). Throws FormatError when ne[0]
 * is not a multiple of the block size.
 *
 * @example
 * ```ts
 * ggmlTensorBytes('F16', [7, 3]); // 42
 * ```
 */
export function ggmlTensorBytes(type: GgmlType, ne: readonly number[]): number {
  const info = kTypes[type];
  const rowLength = ne[0] ?? 1;
  if (rowLength % info.blockSize !== 0) {
    throw new FormatError(`a ${type} tensor needs rows of a multiple of ${info.blockSize} elements, got ${rowLength}`);
  }
  const rows = ne.slice(1).reduce((a, b) => a * b, 1);
  return rows * (rowLength / info.blockSize) * info.blockBytes;
}

/** GGUF metadata value types (enum gguf_type). */
export const GGUF_VALUE_TYPE = {
  UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9,
  UINT64: 10, INT64: 11, FLOAT64: 12,
} as const;

/** llama.cpp's `general.file_type` values (enum llama_ftype) for the files this module writes. */
export const GGUF_FILE_TYPE = { ALL_F32: 0, MOSTLY_F16: 1, MOSTLY_Q4_0: 2, MOSTLY_Q8_0: 7 } as const;

/** GGUF's magic ("GGUF" in ASCII, little-endian u32) and the version written. */
export const GGUF_MAGIC = 0x46554747;
export const GGUF_VERSION = 3;
/** `general.alignment` when a file does not set it, and what we write. */
export const GGUF_DEFAULT_ALIGNMENT = 32;
