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
import { packNibblesInto } from '../../pack-nibbles.js';
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
  const nibbles = q.packedNibbles;
  if (nibbles) return { writeInput: (queue, buffer, start, count) => writeWords(queue, buffer, 0, nibbles.subarray(start / 2, Math.ceil((start + count) / 2))) };
  const values = q.intReprView();
  const bytes = new Uint8Array(values.buffer as ArrayBuffer, values.byteOffset, values.byteLength);
  return {
    writeInput: info.bits === 4
      ? (queue, buffer, start, count) => writePackedNibbles(queue, buffer, values, start, count)
      : (queue, buffer, start, count) => writeWords(queue, buffer, 0, bytes.subarray(start * (info.bits / 8), (start + count) * (info.bits / 8))),
  };
}

/**
 * Bytes of 4-bit values packed per queue write: packed into one reused scratch array a slice at a time
 * (writeBuffer copies its data before it returns), so a call allocates no copy of its integers.
 */
const PACK_SLICE_BYTES = 1 << 20;
let packScratch: Uint8Array<ArrayBuffer> | undefined;

/** Packs `values[start, start + count)` two to a byte and writes them to `buffer` from offset 0, a slice at a time. */
function writePackedNibbles(queue: GPUQueue, buffer: GPUBuffer, values: ArrayLike<number>, start: number, count: number): void {
  packScratch ??= new Uint8Array(PACK_SLICE_BYTES);
  const sliceElements = 2 * PACK_SLICE_BYTES;
  for (let done = 0; done < count; done += sliceElements) {
    const n = Math.min(sliceElements, count - done);
    const slice = packScratch.subarray(0, Math.ceil(n / 2));
    packNibblesInto(values, start + done, n, slice, 0);
    writeWords(queue, buffer, done / 2, slice);
  }
}

/**
 * Writes `chunk` at byte `offset` (a multiple of 4) of `buffer`. writeBuffer takes whole 4-byte words, so a
 * last partial word is sent zero-padded.
 */
function writeWords(queue: GPUQueue, buffer: GPUBuffer, offset: number, chunk: Uint8Array): void {
  const whole = chunk.byteLength - (chunk.byteLength % 4);
  if (whole > 0) queue.writeBuffer(buffer, offset, chunk as Uint8Array<ArrayBuffer>, 0, whole);
  if (whole < chunk.byteLength) {
    const tail = new Uint8Array(4);
    tail.set(chunk.subarray(whole));
    queue.writeBuffer(buffer, offset + whole, tail);
  }
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
