/**
 * Host side of the quantize and fake-quantize kernels (shaders/elementwise/quantize_entries.wgsl): every scheme, every
 * dtype. Arguments arrive validated; this file only moves data.
 *
 * @example
 * ```ts
 * const values = await quantizeKernel(manager, input, dtypeInfo('qint8'),
 *   { scheme: 'per_tensor_affine', scale: 0.5, zeroPoint: 0 }, {});
 * ```
 * @module
 */
import type { DTypeInfo, IntReprArray } from '../../dtype.js';
import type { GpuManager } from '../../gpu/device.js';
import type { PackedNibbles, QParams } from '../../qtensor.js';
import { type GpuTensor, type Tensor, isGpuTensor } from '../../tensor.js';
import type { KernelOptions } from '../common/kernel-options.js';
import type { ChunkedJob } from '../common/run-chunked.js';
import { runElementwise } from './plan-elementwise.js';
import type { ClampRange } from './scheme-params.js';

export type { KernelOptions };

/**
 * The fields of a float32-input job that do not depend on the op. A {@link GpuTensor} input (checked by the
 * caller: float32, same device, COPY_SRC) is copied chunk by chunk on the GPU; a {@link Tensor} is written (or,
 * in one chunk, uploaded through staging buffers: ChunkedJob's `hostInput`).
 */
export function floatInputJob(input: Tensor | GpuTensor, options: KernelOptions):
  Pick<ChunkedJob, 'size' | 'maxChunkElements' | 'maxWorkgroupsPerDimension' | 'writeInput' | 'hostInput'> {
  const common = { maxChunkElements: options.maxChunkElements, maxWorkgroupsPerDimension: options.maxWorkgroupsPerDimension };
  if (isGpuTensor(input)) {
    return {
      ...common,
      size: input.shape.reduce((a, b) => a * b, 1),
      writeInput: (_queue, buffer, start, count, encoder) => encoder.copyBufferToBuffer(input.buffer, input.offset + 4 * start, buffer, 0, 4 * count),
    };
  }
  return {
    ...common,
    size: input.data.length,
    hostInput: input.data,
    writeInput: (queue, buffer, start, count) => queue.writeBuffer(buffer, 0, input.data as Float32Array<ArrayBuffer>, start, count),
  };
}

/**
 * Quantizes `input` on the GPU; returns the stored integers: one per element, or for 4-bit dtypes packed two to
 * a byte as the kernel writes them (the QTensor unpacks them when asked for one per element).
 */
export async function quantizeKernel(
  manager: GpuManager, input: Tensor | GpuTensor, info: DTypeInfo, params: QParams, options: KernelOptions,
): Promise<IntReprArray | PackedNibbles> {
  const job = floatInputJob(input, options);
  if (job.size === 0) return info.makeArray(0);
  const nibbles = info.bits === 4 ? new Uint8Array(Math.ceil(job.size / 2)) : undefined;
  const result = nibbles ? undefined : info.makeArray(job.size);
  await runElementwise(manager, { op: 'quantize', info, params, range: info, shape: input.shape, packed4x8: manager.features.packed4x8 }, {
    ...job,
    ...vecGeometry('quantize', info),
    readOutput: (bytes, start, count) => {
      // Chunks start on whole vecs (32 elements for 4-bit), so a chunk's nibbles start on a byte.
      if (nibbles) nibbles.set(new Uint8Array(bytes, 0, Math.ceil(count / 2)), start / 2);
      else if (info.bits === 8) result!.set(info.signed ? new Int8Array(bytes, 0, count) : new Uint8Array(bytes, 0, count), start);
      else result!.set(new Int32Array(bytes, 0, count), start);
    },
  });
  return nibbles ? { nibbles } : result!;
}

/**
 * Elements per vec of the quantize and dequantize kernels: what one vec4 of packed output (quantize) or
 * input (dequantize) holds. 16 for 8-bit types, 32 for 4-bit, 4 for qint32 (shaders/elementwise/quantize_entries.wgsl).
 *
 * @example
 * ```ts
 * elementsPerVec(dtypeInfo('qint4')); // 32
 * ```
 */
export function elementsPerVec(info: DTypeInfo): number {
  return info.bits === 32 ? 4 : 128 / info.bits;
}

/**
 * The vec geometry of the quantize or dequantize kernel for `info`: elements per vec and the bytes each
 * vec reads and writes (float32 on one side, one vec4 of stored integers on the other).
 *
 * @example
 * ```ts
 * vecGeometry('quantize', dtypeInfo('qint8')); // { elementsPerVec: 16, inputBytesPerVec: 64, outputBytesPerVec: 16 }
 * ```
 */
export function vecGeometry(op: 'quantize' | 'dequantize', info: DTypeInfo):
  { elementsPerVec: number; inputBytesPerVec: number; outputBytesPerVec: number } {
  const n = elementsPerVec(info);
  return op === 'quantize'
    ? { elementsPerVec: n, inputBytesPerVec: 4 * n, outputBytesPerVec: 16 }
    : { elementsPerVec: n, inputBytesPerVec: 16, outputBytesPerVec: 4 * n };
}

/** Fake-quantizes `input` on the GPU (quantize, clamp to `range`, dequantize with the float32 scale). */
export async function fakeQuantizeKernel(
  manager: GpuManager, input: Tensor, info: DTypeInfo, params: QParams, range: ClampRange, options: KernelOptions,
): Promise<Float32Array> {
  const result = new Float32Array(input.data.length);
  if (result.length === 0) return result;
  await runElementwise(manager, { op: 'fakeQuantize', info, params, range, shape: input.shape, packed4x8: manager.features.packed4x8 }, {
    ...floatInputJob(input, options),
    elementsPerVec: 4,
    inputBytesPerVec: 16,
    outputBytesPerVec: 16,
    readOutput: (bytes, start, count) => result.set(new Float32Array(bytes, 0, count), start),
  });
  return result;
}
