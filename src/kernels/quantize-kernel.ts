/**
 * Host side of the quantize and fake-quantize kernels (shaders/quantize_entries.wgsl): every scheme, every
 * dtype. Arguments arrive validated; this file only moves data.
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
import { unpackNibbles } from '../pack-nibbles.js';
import type { QParams } from '../qtensor.js';
import type { Tensor } from '../tensor.js';
import type { ChunkedJob } from './run-chunked.js';
import { type ClampRange, runWithScheme } from './scheme-params.js';
import { kernelVariant } from './shader-sources.js';

/** Tuning and testing knobs shared by the GPU kernels. */
export interface KernelOptions {
  /** At most this many elements per dispatch (rounded down to whole words); tests force small chunks. */
  maxChunkElements?: number;
  /** Fold dispatches into 2-D past this many workgroups (default: the device limit); tests force the fold. */
  maxWorkgroupsPerDimension?: number;
}

/** The fields of a float32-input job that do not depend on the op. */
function floatInputJob(input: Tensor, elementsPerVec: 4 | 8, options: KernelOptions):
  Pick<ChunkedJob, 'size' | 'elementsPerVec' | 'inputBytesPerVec' | 'maxChunkElements' | 'maxWorkgroupsPerDimension' | 'writeInput'> {
  return {
    size: input.data.length,
    elementsPerVec,
    inputBytesPerVec: 4 * elementsPerVec,
    maxChunkElements: options.maxChunkElements,
    maxWorkgroupsPerDimension: options.maxWorkgroupsPerDimension,
    writeInput: (queue, buffer, start, count) => queue.writeBuffer(buffer, 0, input.data as Float32Array<ArrayBuffer>, start, count),
  };
}

/** Quantizes `input` on the GPU; returns the stored integers (one per element). */
export async function quantizeKernel(
  manager: GpuManager, input: Tensor, info: DTypeInfo, params: QParams, options: KernelOptions,
): Promise<IntReprArray> {
  const result = info.makeArray(input.data.length);
  if (result.length === 0) return result;
  const elementsPerVec = info.perWord === 8 ? 8 : 4;
  await runWithScheme(manager, {
    ...kernelVariant('quantize', params.scheme === 'per_tensor_affine' ? 'perTensor' : 'grouped', info, manager.features.packed4x8),
    ...floatInputJob(input, elementsPerVec, options),
    outputBytesPerVec: info.perWord === 1 ? 16 : 4,
    readOutput: (bytes, start, count) => {
      if (info.bits === 4) result.set(unpackNibbles(new Uint8Array(bytes, 0, Math.ceil(count / 2)), count, info.signed), start);
      else if (info.bits === 8) result.set(info.signed ? new Int8Array(bytes, 0, count) : new Uint8Array(bytes, 0, count), start);
      else result.set(new Int32Array(bytes, 0, count), start);
    },
  }, params, info, input.shape);
  return result;
}

/** Fake-quantizes `input` on the GPU (quantize, clamp to `range`, dequantize with the float32 scale). */
export async function fakeQuantizeKernel(
  manager: GpuManager, input: Tensor, info: DTypeInfo, params: QParams, range: ClampRange, options: KernelOptions,
): Promise<Float32Array> {
  const result = new Float32Array(input.data.length);
  if (result.length === 0) return result;
  await runWithScheme(manager, {
    ...kernelVariant('fakeQuantize', params.scheme === 'per_tensor_affine' ? 'perTensor' : 'grouped', info, manager.features.packed4x8),
    ...floatInputJob(input, 4, options),
    outputBytesPerVec: 16,
    readOutput: (bytes, start, count) => result.set(new Float32Array(bytes, 0, count), start),
  }, params, range, input.shape);
  return result;
}
