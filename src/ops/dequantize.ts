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
import { cpuDequantize } from '../kernels/cpu/cpu-quantize.js';
import { dequantizeKernel } from '../kernels/elementwise/dequantize-kernel.js';
import { QTensor } from '../qtensor.js';
import type { Tensor } from '../tensor.js';

/**
 * Maps stored integers back to float32, as `torch.dequantize`. Per tensor:
 * `fround(int32(q - zp)) * fround(scale)`. Per channel: `fround(fround(q) - fround(zp)) * scale`; the GPU uses
 * the float32 scale, which gives identical results whenever the scales are float32 values (always true for
 * observer scales) and within 1 ulp otherwise. -0 never appears: q = zp gives +0.
 *
 * @example
 * ```ts
 * const q = await quantizePerTensor(tensor([-1.52, 0.01, 1.501, 3.0001]), 0.5, 0, 'qint8');
 * (await dequantize(q)).data; // Float32Array [-1.5, 0, 1.5, 3]
 * ```
 */
export async function dequantize(q: QTensor, options?: OpOptions): Promise<Tensor> {
  if (!(q instanceof QTensor)) {
    throw new InvalidArgumentError('q', q, 'q must be a QTensor from quantizePerTensor, quantizePerChannel or fromIntRepr');
  }
  const manager = await selectManager(options);
  if (!manager) return cpuDequantize(q);
  const data = await dequantizeKernel(manager, q, options ?? {});
  return { data, shape: [...q.shape], backend: 'webgpu' };
}
