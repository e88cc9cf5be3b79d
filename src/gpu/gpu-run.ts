/**
 * One submit's worth of GPU work, with everything every kernel needs done once: error scopes around the
 * encoding, pooled buffers handed back after submit, readbacks mapped and their staging buffers returned
 * in every case, GPU validation / out-of-memory errors rethrown as {@link GpuExecutionError}, and a lost
 * device reported as {@link DeviceLostError}. Kernels describe their work in `body`; they never touch
 * error scopes, staging buffers or submit themselves.
 *
 * @example
 * ```ts
 * await runOnGpu(manager, 'minmax|perTensor', (run) => {
 *   const input = run.upload(data, GPUBufferUsage.STORAGE, 'input');
 *   const output = run.buffer(16, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, 'output');
 *   run.dispatch(pipeline, [{ binding: 0, resource: { buffer: input } }, { binding: 1, resource: { buffer: output } }], { x: 1, y: 1 });
 *   run.read(output, 16, (bytes) => result.set(new Float32Array(bytes)));
 * });
 * ```
 * @module
 */
import { GpuExecutionError } from '../errors.js';
import type { GpuManager } from './device.js';
import { encodeReadback, finishReadback, type PendingReadback } from './readback.js';

/** What a kernel's `body` can do within one submit. Buffers it gets here go back to the pool after submit. */
export interface GpuRun {
  readonly device: GPUDevice;
  readonly encoder: GPUCommandEncoder;
  /** A pooled buffer of at least `size` bytes; `role` completes its label. */
  buffer(size: number, usage: GPUBufferUsageFlags, role: string): GPUBuffer;
  /** A pooled buffer holding `data` (its byte length must be a multiple of 4). COPY_DST is added. */
  upload(data: BufferSource, usage: GPUBufferUsageFlags, role: string): GPUBuffer;
  /** One compute pass with one bind group (group 0) and one dispatch. */
  dispatch(pipeline: GPUComputePipeline, entries: GPUBindGroupEntry[], grid: { x: number; y: number }, role?: string): void;
  /** Copies `byteLength` bytes of `buffer` out after the submit and hands them to `consume`. */
  read(buffer: GPUBuffer, byteLength: number, consume: (bytes: ArrayBuffer) => void): void;
}

/** Encodes `body`, submits it, waits for the readbacks. See the module documentation. */
export async function runOnGpu(manager: GpuManager, label: string, body: (run: GpuRun) => void): Promise<void> {
  try {
    await runOnce(manager, label, body);
  } catch (error) {
    await manager.throwIfLostAfterFailure(error);
    throw error;
  }
}

async function runOnce(manager: GpuManager, label: string, body: (run: GpuRun) => void): Promise<void> {
  const device = manager.device;
  const { pool } = manager;
  const transient: GPUBuffer[] = [];
  const reads: { pending: PendingReadback; consume: (bytes: ArrayBuffer) => void }[] = [];
  let scopes: Promise<GPUError | null>[] = [];
  try {
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    try {
      const encoder = device.createCommandEncoder({ label: `${label}.encoder` });
      const run: GpuRun = {
        device,
        encoder,
        buffer(size, usage, role) {
          const buffer = pool.acquire(size, usage, `${label}.${role}`);
          transient.push(buffer);
          return buffer;
        },
        upload(data, usage, role) {
          const buffer = run.buffer(data.byteLength, usage | GPUBufferUsage.COPY_DST, role);
          device.queue.writeBuffer(buffer, 0, data as GPUAllowSharedBufferSource);
          return buffer;
        },
        dispatch(pipeline, entries, grid, role = 'pass') {
          const bindGroup = device.createBindGroup({ label: `${label}.${role}.bindGroup`, layout: pipeline.getBindGroupLayout(0), entries });
          const pass = encoder.beginComputePass({ label: `${label}.${role}` });
          pass.setPipeline(pipeline);
          pass.setBindGroup(0, bindGroup);
          pass.dispatchWorkgroups(grid.x, grid.y);
          pass.end();
        },
        read(buffer, byteLength, consume) {
          reads.push({ pending: encodeReadback(pool, encoder, buffer, byteLength, label), consume });
        },
      };
      body(run);
      device.queue.submit([encoder.finish({ label: `${label}.commands` })]);
    } finally {
      scopes = [device.popErrorScope(), device.popErrorScope()];
    }
  } catch (error) {
    for (const { pending } of reads) pool.discard(pending.staging);
    throw error;
  } finally {
    // Safe to reuse right away: later work on these buffers is queued after this submit.
    for (const buffer of transient) pool.release(buffer);
  }
  let gpuError: GPUError | null = null;
  try {
    for (const error of await Promise.all(scopes)) gpuError ??= error;
  } catch {
    // popErrorScope rejects only when the device is gone; the readbacks below then fail and say why.
  }
  if (gpuError) {
    for (const { pending } of reads) pool.discard(pending.staging);
    throw new GpuExecutionError(`${label}: the GPU rejected the work (${gpuError.constructor.name}): ${gpuError.message}`);
  }
  let firstError: unknown;
  for (const { pending, consume } of reads) {
    try {
      await finishReadback(pool, pending, consume);
    } catch (error) {
      firstError ??= error;
    }
  }
  if (firstError !== undefined) throw firstError;
}
