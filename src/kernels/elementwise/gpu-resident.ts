/**
 * The GPU-resident paths of quantize and dequantize: integers that stay in a pooled GPU buffer
 * ({@link DeviceIntegers}, held by a QTensor until `destroy()`), and float32 or float16 results copied
 * straight into a caller's buffer. Same plans and kernels as the CPU-facing paths; only where the chunk's
 * input comes from and where its output goes differ.
 *
 * @example
 * ```ts
 * const integers = await quantizeToDevice(manager, input, dtypeInfo('qint8'), params, {});
 * await dequantizeToDevice(manager, q, { buffer, offset: 0, dtype: 'float16' }, {});
 * ```
 * @module
 */
import { type DTypeInfo, dtypeInfo } from '../../dtype.js';
import type { GpuManager } from '../../gpu/device.js';
import { runOnGpu } from '../../gpu/gpu-run.js';
import type { DeviceIntegers, QParams, QTensor } from '../../qtensor.js';
import type { GpuFloatDType, GpuTensor, Tensor } from '../../tensor.js';
import type { KernelOptions } from '../common/kernel-options.js';
import { integerInput } from './dequantize-kernel.js';
import { encodeFloat16, float16Bytes } from './float16-convert.js';
import { runElementwise } from './plan-elementwise.js';
import { elementsPerVec, floatInputJob, vecGeometry } from './quantize-kernel.js';

/** Where a GPU-resident dequantize writes: a caller's buffer at `offset` bytes, as float32 or float16. */
export interface DeviceOutput { buffer: GPUBuffer; offset: number; dtype: GpuFloatDType }

/**
 * Bytes the integers of `size` elements of `info` take on the GPU: the packed bytes in whole 16-byte vecs
 * (at least one).
 */
export function deviceIntegerBytes(size: number, info: DTypeInfo): number {
  return Math.max(1, Math.ceil(size / elementsPerVec(info))) * 16;
}

/** A pooled buffer for the integers of `size` elements, wrapped as {@link DeviceIntegers}. */
function allocateIntegers(manager: GpuManager, size: number, info: DTypeInfo): DeviceIntegers {
  const byteLength = deviceIntegerBytes(size, info);
  const buffer = manager.pool.acquire(byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    `qtensor|${info.name}.integers`);
  let released = false;
  return {
    buffer,
    device: manager.device,
    byteLength,
    async read() {
      let bytes = new Uint8Array(0);
      await runOnGpu(manager, `qtensor|${info.name}.read`, (run) => run.read(buffer, byteLength, (mapped) => { bytes = new Uint8Array(mapped.slice(0)); }));
      return bytes;
    },
    release() {
      if (released) return;
      released = true;
      manager.pool.release(buffer);
    },
  };
}

/** Quantizes `input` on the GPU and keeps the integers there. A failure hands the buffer back. */
export async function quantizeToDevice(
  manager: GpuManager, input: Tensor | GpuTensor, info: DTypeInfo, params: QParams, options: KernelOptions,
): Promise<DeviceIntegers> {
  const job = floatInputJob(input, options);
  const integers = allocateIntegers(manager, job.size, info);
  if (job.size === 0) return integers;
  const bytesPerElement = info.bits / 8;
  try {
    await runElementwise(manager, { op: 'quantize', info, params, range: info, shape: input.shape, packed4x8: manager.features.packed4x8 }, {
      ...job,
      ...vecGeometry('quantize', info),
      keepOutput: (run, output, start, count) => {
        const bytes = Math.ceil(count / elementsPerVec(info)) * 16;
        run.encoder.copyBufferToBuffer(output, 0, integers.buffer, start * bytesPerElement, bytes);
      },
    });
  } catch (error) {
    integers.release();
    throw error;
  }
  return integers;
}

/** Dequantizes `q` on the GPU into `output` (checked by the caller: same device, COPY_DST, big enough). */
export async function dequantizeToDevice(manager: GpuManager, q: QTensor, output: DeviceOutput, options: KernelOptions): Promise<void> {
  if (q.size === 0) return;
  const info = dtypeInfo(q.dtype);
  await runElementwise(manager, { op: 'dequantize', info, params: q.params, range: info, shape: q.shape, packed4x8: manager.features.packed4x8 }, {
    size: q.size,
    ...vecGeometry('dequantize', info),
    maxChunkElements: options.maxChunkElements,
    maxWorkgroupsPerDimension: options.maxWorkgroupsPerDimension,
    ...integerInput(q),
    keepOutput: (run, floats, start, count) => {
      if (output.dtype === 'float32') {
        run.encoder.copyBufferToBuffer(floats, 0, output.buffer, output.offset + 4 * start, 4 * count);
        return;
      }
      const halves = encodeFloat16(run, manager.pipelines, floats, count);
      run.encoder.copyBufferToBuffer(halves, 0, output.buffer, output.offset + 2 * start, float16Bytes(count));
    },
  });
}
