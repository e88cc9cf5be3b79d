/**
 * Host side of the quantize kernels (shaders/quantize_*.wgsl): per-tensor and per-channel, every dtype.
 * Arguments arrive validated; this file only moves data.
 *
 * @example
 * ```ts
 * const values = await quantizeKernel(manager, input, dtypeInfo('qint8'),
 *   { scheme: 'per_tensor_affine', scale: 0.5, zeroPoint: 0 }, {});
 * ```
 * @module
 */
import type { DTypeInfo, IntReprArray } from '../dtype.js';
import type { GpuManager } from '../gpu/device.js';
import type { QParams } from '../qtensor.js';
import type { Tensor } from '../tensor.js';
import { runWithScheme } from './scheme-params.js';
import { kernelVariant } from './shader-sources.js';

/** Tuning and testing knobs shared by the GPU kernels. */
export interface KernelOptions {
  /** At most this many elements per dispatch (rounded down to a multiple of 4); tests force small chunks. */
  maxChunkElements?: number;
  /** Fold dispatches into 2-D past this many workgroups (default: the device limit); tests force the fold. */
  maxWorkgroupsPerDimension?: number;
}

/** Quantizes `input` on the GPU; returns the stored integers. */
export async function quantizeKernel(
  manager: GpuManager, input: Tensor, info: DTypeInfo, params: QParams, options: KernelOptions,
): Promise<IntReprArray> {
  const size = input.data.length;
  const result = info.makeArray(size);
  if (size === 0) return result;
  const scheme = params.scheme === 'per_tensor_affine' ? 'perTensor' : 'perChannel';
  const packed = info.perWord === 4;
  await runWithScheme(manager, {
    ...kernelVariant('quantize', scheme, info, manager.features.packed4x8),
    size,
    inputBytesPerVec: 16,
    outputBytesPerVec: packed ? 4 : 16,
    maxChunkElements: options.maxChunkElements,
    maxWorkgroupsPerDimension: options.maxWorkgroupsPerDimension,
    writeInput: (queue, buffer, start, count) => queue.writeBuffer(buffer, 0, input.data as Float32Array<ArrayBuffer>, start, count),
    readOutput: (bytes, start, count) => {
      const view = packed
        ? (info.signed ? new Int8Array(bytes, 0, count) : new Uint8Array(bytes, 0, count))
        : new Int32Array(bytes, 0, count);
      result.set(view, start);
    },
  }, params, info, input.shape);
  return result;
}
