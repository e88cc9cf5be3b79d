/**
 * What the public operations share for GPU-resident tensors: validating a {@link GpuTensor} input (its
 * device, dtype and usage), the `output` option of quantize, and choosing the device such an input lives on.
 *
 * @example
 * ```ts
 * const manager = await managerForInput(input, options); // undefined: run on the CPU
 * ```
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { checkCallerBuffer } from '../gpu/buffer-check.js';
import type { GpuManager } from '../gpu/device.js';
import { type GpuTensor, type Tensor, checkTensor, isGpuTensor, shapeSize } from '../tensor.js';
import { type OpOptions, selectManager } from './backend.js';

/** Options of the quantize operations. */
export interface QuantizeOptions extends OpOptions {
  /**
   * 'cpu' (default): the integers are read back into the QTensor. 'gpu': they stay in a GPU buffer
   * (`q.gpuBuffer`) until `await q.read()`; release it with `q.destroy()`. Needs the WebGPU backend.
   */
  output?: 'cpu' | 'gpu';
}

/**
 * Checks `input` (a Tensor or a float32 GpuTensor) and the `output` option, and returns the manager to run
 * on (undefined: the CPU). A GpuTensor runs on its own device (`options.device`, else the one given to
 * gpuTensor), must be float32 and needs `GPUBufferUsage.COPY_SRC`.
 */
export async function managerForInput(input: Tensor | GpuTensor, options: QuantizeOptions | undefined): Promise<GpuManager | undefined> {
  const output = options?.output ?? 'cpu';
  if (output !== 'cpu' && output !== 'gpu') {
    throw new InvalidArgumentError('options.output', output, `options.output is ${String(output)}; use 'cpu' or 'gpu'`);
  }
  if (!isGpuTensor(input)) {
    checkTensor(input);
    const manager = await selectManager(options);
    if (!manager && output === 'gpu') throw cpuWithGpu('options.output', "output 'gpu'");
    return manager;
  }
  shapeSize(input.shape, 'input.shape');
  if (input.dtype !== 'float32') {
    throw new InvalidArgumentError('input.dtype', input.dtype, `quantize reads float32 GPU tensors; input is ${input.dtype}`);
  }
  const device = options?.device ?? input.device;
  const manager = await selectManager(device ? { ...options, device } : options);
  if (!manager) throw cpuWithGpu('input', 'a GPU tensor input');
  await checkCallerBuffer(manager, input.buffer, 'input.buffer', 'COPY_SRC');
  return manager;
}

function cpuWithGpu(argument: string, what: string): InvalidArgumentError {
  return new InvalidArgumentError(argument, 'cpu', `${what} needs the WebGPU backend, but this call runs on the CPU; `
    + "drop backend: 'cpu' (or pass the device) to run on the GPU");
}
