/**
 * Loads a quantized safetensors file ("webgpu-quant/1" layout) straight into GPU buffers for an inference
 * engine: tensor by tensor, the integers are read from the source (a `Blob`, a Node file, bytes: only one
 * tensor is in memory at a time), validated, uploaded packed and dequantized on the device into a new
 * float32 or float16 buffer. Unquantized tensors (biases, norms, kept layers) are converted on the CPU and
 * uploaded; tensors that are not floats (integer counters, masks) are left out. On any failure every buffer made so far is destroyed: no half result.
 *
 * @example
 * ```ts
 * import { blobSource, loadQuantizedSafetensors } from 'webgpu-quant/models';
 * const weights = await loadQuantizedSafetensors(blobSource(await (await fetch('model.int8.safetensors')).blob()), device, { dtype: 'float16' });
 * weights.get('fc.weight')!.buffer; // a GPUBuffer (STORAGE | COPY_SRC | COPY_DST) the caller owns
 * ```
 * @module
 */
import { InvalidArgumentError } from '../../errors.js';
import { dequantize } from '../../ops/dequantize.js';
import type { GpuFloatDType, GpuTensor } from '../../tensor.js';
import type { ByteSource } from '../byte-source.js';
import { toFloat32 } from '../float-convert.js';
import { FLOAT_WEIGHT_DTYPES } from '../weights.js';
import { floatToHalfBits } from '../half.js';
import { describeQuantized, readQuantizedTensor } from './quantized-read.js';
import { type OpenSafetensorsOptions, openSafetensors } from './reader.js';

/** Options of {@link loadQuantizedSafetensors}. */
export interface LoadQuantizedOptions extends OpenSafetensorsOptions {
  /** The element type of every buffer: 'float32' (default) or 'float16' (exact round-to-nearest-even). */
  dtype?: GpuFloatDType;
}

/**
 * Reads `source` and returns a Map of tensor name → {@link GpuTensor} (its `buffer` is a new GPUBuffer on
 * `device`, owned by the caller). Quantized tensors are dequantized on the device; the others are uploaded.
 * Malformed files give a `FormatError` naming the tensor.
 *
 * @example
 * ```ts
 * const weights = await loadQuantizedSafetensors(bytesSource(fileBytes), device);
 * for (const t of weights.values()) t.buffer.destroy();
 * ```
 */
export async function loadQuantizedSafetensors(
  source: ByteSource, device: GPUDevice, options: LoadQuantizedOptions = {},
): Promise<Map<string, GpuTensor>> {
  const dtype = options.dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'float16') {
    throw new InvalidArgumentError('options.dtype', dtype, `options.dtype is ${String(dtype)}; use 'float32' or 'float16'`);
  }
  const reader = await openSafetensors(source, options);
  const result = new Map<string, GpuTensor>();
  try {
    const descriptions = describeQuantized(reader);
    const claimed = new Set([...descriptions.values()].flatMap((d) => d.layout.entries.map((e) => e.name)));
    for (const d of descriptions.values()) {
      const q = await readQuantizedTensor(reader, d);
      result.set(d.name, await dequantize(q, { device, output: 'gpu', dtype }));
    }
    for (const info of reader.list()) {
      if (claimed.has(info.name) || !FLOAT_WEIGHT_DTYPES.includes(info.dtype)) continue;
      const floats = toFloat32(await reader.read(info.name), info.dtype, `${reader.name}: tensor ${info.name}`);
      const bytes = dtype === 'float32' ? floats : halves(floats);
      const buffer = device.createBuffer({
        label: `loadQuantizedSafetensors.${info.name}`,
        size: Math.max(4, Math.ceil(bytes.byteLength / 4) * 4),
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      });
      result.set(info.name, { buffer, shape: Object.freeze([...info.shape]), dtype, offset: 0, device });
      device.queue.writeBuffer(buffer, 0, bytes.buffer as ArrayBuffer, bytes.byteOffset, Math.ceil(bytes.byteLength / 4) * 4);
    }
  } catch (error) {
    for (const t of result.values()) t.buffer.destroy();
    throw error;
  }
  return result;
}

/** float16 bits of `floats`, in a buffer padded to whole 4-byte words. */
function halves(floats: Float32Array): Uint16Array {
  const out = new Uint16Array(Math.ceil(floats.length / 2) * 2);
  for (let i = 0; i < floats.length; i++) out[i] = floatToHalfBits(floats[i]!);
  return out;
}
