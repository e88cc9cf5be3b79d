/**
 * Host side of the dequantize kernels (shaders/dequantize_*.wgsl): per-tensor and per-channel, every dtype.
 *
 * @example
 * ```ts
 * const data = await dequantizeKernel(manager, q, {});
 * ```
 * @module
 */
import { dtypeInfo } from '../dtype.js';
import type { GpuManager } from '../gpu/device.js';
import type { QTensor } from '../qtensor.js';
import type { KernelOptions } from './quantize-kernel.js';
import { runWithScheme } from './scheme-params.js';
import { kernelVariant } from './shader-sources.js';

/** Dequantizes `q` on the GPU; returns the float32 values. */
export async function dequantizeKernel(manager: GpuManager, q: QTensor, options: KernelOptions): Promise<Float32Array> {
  const info = dtypeInfo(q.dtype);
  const values = q.intReprView();
  const size = values.length;
  const result = new Float32Array(size);
  if (size === 0) return result;
  const scheme = q.params.scheme === 'per_tensor_affine' ? 'perTensor' : 'perChannel';
  const packed = info.perWord === 4;
  const bytes = new Uint8Array(values.buffer as ArrayBuffer, values.byteOffset, values.byteLength);
  const bytesPerElement = packed ? 1 : 4;
  await runWithScheme(manager, {
    ...kernelVariant('dequantize', scheme, info, manager.features.packed4x8),
    size,
    inputBytesPerVec: packed ? 4 : 16,
    outputBytesPerVec: 16,
    maxChunkElements: options.maxChunkElements,
    maxWorkgroupsPerDimension: options.maxWorkgroupsPerDimension,
    writeInput: (queue, buffer, start, count) => {
      // writeBuffer takes whole 4-byte words: send those, then the last partial word zero-padded.
      const byteStart = start * bytesPerElement;
      const byteCount = count * bytesPerElement;
      const whole = byteCount - (byteCount % 4);
      if (whole > 0) queue.writeBuffer(buffer, 0, bytes, byteStart, whole);
      if (whole < byteCount) {
        const tail = new Uint8Array(4);
        tail.set(bytes.subarray(byteStart + whole, byteStart + byteCount));
        queue.writeBuffer(buffer, whole, tail);
      }
    },
    readOutput: (output, start, count) => result.set(new Float32Array(output, 0, count), start),
  }, q.params, info, q.shape);
  return result;
}
