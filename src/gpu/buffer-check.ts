/**
 * Checks a caller's `GPUBuffer` before the library reads or writes it: the usage flag the operation needs,
 * and that it belongs to the device the operation runs on (WebGPU would otherwise fail the whole submit
 * with a validation error far from the cause). Both failures are {@link InvalidArgumentError}s naming the
 * argument and the fix.
 *
 * @example
 * ```ts
 * await checkCallerBuffer(manager, buffer, 'input.buffer', 'COPY_SRC');
 * ```
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import type { GpuManager } from './device.js';

/** The usage a caller's buffer needs: COPY_SRC when the library reads it, COPY_DST when it writes it. */
export type CallerBufferUsage = 'COPY_SRC' | 'COPY_DST';

/** See the module documentation. */
export async function checkCallerBuffer(manager: GpuManager, buffer: GPUBuffer, argument: string, usage: CallerBufferUsage): Promise<void> {
  const flag = usage === 'COPY_SRC' ? GPUBufferUsage.COPY_SRC : GPUBufferUsage.COPY_DST;
  if ((buffer.usage & flag) === 0) {
    throw new InvalidArgumentError(argument, buffer,
      `${argument} ("${buffer.label}") lacks GPUBufferUsage.${usage}: the library ${usage === 'COPY_SRC' ? 'copies out of' : 'copies into'} it; `
      + `create it with usage including GPUBufferUsage.${usage}`);
  }
  if (buffer.mapState !== 'unmapped') {
    throw new InvalidArgumentError(argument, buffer, `${argument} ("${buffer.label}") is ${buffer.mapState}; unmap it first`);
  }
  const device = manager.device;
  const scratch = manager.pool.acquire(4, GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, 'bufferCheck.scratch');
  device.pushErrorScope('validation');
  let error: GPUError | null;
  try {
    // An empty copy still validates that both buffers belong to this device.
    const encoder = device.createCommandEncoder({ label: 'bufferCheck.encoder' });
    if (usage === 'COPY_SRC') encoder.copyBufferToBuffer(buffer, 0, scratch, 0, 0);
    else encoder.copyBufferToBuffer(scratch, 0, buffer, 0, 0);
    encoder.finish({ label: 'bufferCheck.commands' });
  } finally {
    error = await device.popErrorScope();
    manager.pool.release(scratch);
  }
  if (error) {
    throw new InvalidArgumentError(argument, buffer,
      `${argument} ("${buffer.label}") cannot be used on the device the operation runs on (${error.message.split('\n')[0]}); `
      + 'create the buffer on that device, or pass its device as options.device');
  }
}
