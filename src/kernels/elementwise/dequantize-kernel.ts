/**
 * Host side of the dequantize kernels (shaders/elementwise/dequantize_entries.wgsl): every scheme, every dtype.
 *
 * @example
 * ```ts
 * const data = await dequantizeKernel(manager, q, {});
 * ```
 * @module
 */
import { dtypeInfo } from '../../dtype.js';
import type { GpuManager } from '../../gpu/device.js';
import { packNibbles } from '../../pack-nibbles.js';
import type { QTensor } from '../../qtensor.js';
import type { ChunkedJob } from '../common/run-chunked.js';
import { type KernelOptions, elementsPerVec, vecGeometry } from './quantize-kernel.js';
import { runElementwise } from './plan-elementwise.js';

/**
 * The input side of a dequantize job: the QTensor's integers, on the GPU already or written from the CPU.
 */
export function integerInput(q: QTensor): Pick<ChunkedJob, 'writeInput'> {
  const info = dtypeInfo(q.dtype);
  const device = q.deviceIntegers;
  if (device) {
    const bytesPerElement = info.bits / 8;
    return {
      writeInput: (_queue, buffer, start, count, encoder) => encoder.copyBufferToBuffer(
        device.buffer, start * bytesPerElement, buffer, 0, Math.ceil(count / elementsPerVec(info)) * 16),
    };
  }
  const values = q.intReprView();
  const bytes = new Uint8Array(values.buffer as ArrayBuffer, values.byteOffset, values.byteLength);
  return {
    writeInput: (queue, buffer, start, count) => {
      // 4-bit values are packed here; writeBuffer takes whole 4-byte words, so the last partial word is
      // sent zero-padded.
      const chunk = info.bits === 4 ? packNibbles(values.subarray(start, start + count))
        : bytes.subarray(start * (info.bits / 8), (start + count) * (info.bits / 8));
      const whole = chunk.byteLength - (chunk.byteLength % 4);
      if (whole > 0) queue.writeBuffer(buffer, 0, chunk as Uint8Array<ArrayBuffer>, 0, whole);
      if (whole < chunk.byteLength) {
        const tail = new Uint8Array(4);
        tail.set(chunk.subarray(whole));
        queue.writeBuffer(buffer, whole, tail);
      }
    },
  };
}

/** Dequantizes `q` on the GPU; returns the float32 values. */
export async function dequantizeKernel(manager: GpuManager, q: QTensor, options: KernelOptions): Promise<Float32Array> {
  const info = dtypeInfo(q.dtype);
  const result = new Float32Array(q.size);
  if (result.length === 0) return result;
  const request = { op: 'dequantize', info, params: q.params, range: info, shape: q.shape, packed4x8: manager.features.packed4x8 } as const;
  await runElementwise(manager, request, {
    size: q.size,
    ...vecGeometry('dequantize', info),
    maxChunkElements: options.maxChunkElements,
    maxWorkgroupsPerDimension: options.maxWorkgroupsPerDimension,
    ...integerInput(q),
    readOutput: (output, start, count) => result.set(new Float32Array(output, 0, count), start),
  });
  return result;
}
