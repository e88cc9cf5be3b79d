/**
 * The public dequantize operation.
 *
 * @example
 * ```ts
 * import { dequantize } from 'webgpu-quant';
 * (await dequantize(q)).data; // Float32Array
 * ```
 * @module
 */
import { selectManager, type OpOptions } from './backend.js';
import { InvalidArgumentError } from '../errors.js';
import { checkCallerBuffer } from '../gpu/buffer-check.js';
import { cpuDequantize } from '../kernels/cpu/cpu-quantize.js';
import { dequantizeKernel } from '../kernels/elementwise/dequantize-kernel.js';
import { float16Bytes } from '../kernels/elementwise/float16-convert.js';
import { dequantizeToDevice } from '../kernels/elementwise/gpu-resident.js';
import { QTensor } from '../qtensor.js';
import { type GpuFloatDType, type GpuTensor, type Tensor, gpuTensor } from '../tensor.js';

/** Options of a dequantize that writes on the GPU. */
export interface DequantizeToGpuOptions extends OpOptions {
  /**
   * A caller's `GPUBuffer` (needs `GPUBufferUsage.COPY_DST`, on the device the call runs on) to write into,
   * or 'gpu' for a new buffer (STORAGE | COPY_SRC | COPY_DST) that the caller then owns and destroys.
   */
  output: GPUBuffer | 'gpu';
  /** 'float32' (default) or 'float16' (exact round-to-nearest-even, the same bits on every device). */
  dtype?: GpuFloatDType;
  /** Byte offset in a caller's buffer (a multiple of 4, default 0). */
  outputOffset?: number;
}

/**
 * Maps stored integers back to float32, as `torch.dequantize`. Per tensor:
 * `fround(int32(q - zp)) * fround(scale)`. Per channel: `fround(fround(q) - fround(zp)) * scale`; the GPU uses
 * the float32 scale, which gives identical results whenever the scales are float32 values (always true for
 * observer scales) and within 1 ulp otherwise. -0 never appears: q = zp gives +0.
 *
 * With `output` (a GPUBuffer or 'gpu') the values are written on the GPU, as float32 or float16, and the
 * result is a {@link GpuTensor} view of that buffer: nothing goes through the CPU when `q` was quantized
 * with `{ output: 'gpu' }`. float16 needs `ceil(size / 2) × 4` bytes (an odd size also writes the 2 bytes after
 * the last element, as zero).
 *
 * @example
 * ```ts
 * const q = await quantizePerTensor(tensor([-1.52, 0.01, 1.501, 3.0001]), 0.5, 0, 'qint8');
 * (await dequantize(q)).data; // Float32Array [-1.5, 0, 1.5, 3]
 * const halves = await dequantize(q, { output: 'gpu', dtype: 'float16' });
 * halves.buffer; // a GPUBuffer holding 0xbe00, 0x0000, 0x3e00, 0x4200
 * ```
 */
export async function dequantize(q: QTensor, options?: OpOptions & { output?: 'cpu' }): Promise<Tensor>;
export async function dequantize(q: QTensor, options: DequantizeToGpuOptions): Promise<GpuTensor>;
export async function dequantize(q: QTensor, options?: OpOptions & { output?: GPUBuffer | 'gpu' | 'cpu'; dtype?: GpuFloatDType; outputOffset?: number }): Promise<Tensor | GpuTensor> {
  if (!(q instanceof QTensor)) {
    throw new InvalidArgumentError('q', q, 'q must be a QTensor from quantizePerTensor, quantizePerChannel or fromIntRepr');
  }
  const output = options?.output ?? 'cpu';
  const device = options?.device ?? q.deviceIntegers?.device;
  const manager = await selectManager(device ? { ...options, device } : options);
  if (output === 'cpu') {
    if (options?.dtype !== undefined && options.dtype !== 'float32') {
      throw new InvalidArgumentError('options.dtype', options.dtype, `dtype ${String(options.dtype)} needs output 'gpu' or a GPUBuffer; CPU results are float32`);
    }
    if (!manager) return cpuDequantize(await q.read());
    const data = await dequantizeKernel(manager, q, options ?? {});
    return { data, shape: [...q.shape], backend: 'webgpu' };
  }
  if (!manager) {
    throw new InvalidArgumentError('options.output', output, "a GPU output needs the WebGPU backend, but this call runs on the CPU; drop backend: 'cpu'");
  }
  const dtype = options?.dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'float16') {
    throw new InvalidArgumentError('options.dtype', dtype, `options.dtype is ${String(dtype)}; use 'float32' or 'float16'`);
  }
  const bytes = dtype === 'float16' ? float16Bytes(q.size) : 4 * q.size;
  let buffer: GPUBuffer;
  if (output === 'gpu') {
    buffer = manager.device.createBuffer({
      label: `dequantize|${q.dtype}.${dtype}Output`,
      size: Math.max(4, bytes),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
  } else {
    buffer = output;
  }
  const offset = output === 'gpu' ? 0 : options?.outputOffset ?? 0;
  const view = gpuTensor(buffer, q.shape, { device: manager.device, offset, dtype });
  if (buffer.size < offset + bytes) {
    throw new InvalidArgumentError('options.output', buffer,
      `options.output ("${buffer.label}") has ${buffer.size} bytes; ${q.size} float16 values at offset ${offset} are written as ${bytes} bytes (whole words); create a bigger buffer`);
  }
  try {
    if (output !== 'gpu') await checkCallerBuffer(manager, buffer, 'options.output', 'COPY_DST');
    await dequantizeToDevice(manager, q, { buffer, offset, dtype }, options ?? {});
  } catch (error) {
    if (output === 'gpu') buffer.destroy();
    throw error;
  }
  return view;
}
