/**
 * The one driver every elementwise kernel goes through: splits the tensor into chunks that fit the
 * device's binding and dispatch limits, uploads each chunk, dispatches, reads the result back, and
 * returns every pooled buffer, on success and on failure. GPU validation and out-of-memory errors are
 * caught in error scopes and rethrown as typed errors; a lost device becomes a DeviceLostError.
 *
 * @example
 * ```ts
 * await runChunked(manager, job); // see ChunkedJob
 * ```
 * @module
 */
import { GpuExecutionError } from '../errors.js';
import type { GpuManager } from '../gpu/device.js';
import { dispatchSize } from '../gpu/dispatch.js';
import type { PipelineSpec } from '../gpu/pipeline-cache.js';
import { encodeReadback, finishReadback, type PendingReadback } from '../gpu/readback.js';
import { VECS_PER_THREAD, WORKGROUP_SIZE } from './workgroup.js';


/** What one elementwise kernel call needs the driver to do. Elements travel in groups of 4 ("vecs"). */
export interface ChunkedJob {
  /** Names the kernel and variant, e.g. 'quantize|perChannel|qint8'; used in labels and the pipeline key. */
  label: string;
  /** The pipeline cache key: only what changes the code. */
  pipelineKey: string;
  pipeline: PipelineSpec;
  /** Element count of the whole tensor. */
  size: number;
  /** Bytes per vec of input and output (16 for f32 / i32, 4 for 8-bit packed). */
  inputBytesPerVec: number;
  outputBytesPerVec: number;
  /** Upper bound on elements per chunk (tests force small chunks); rounded down to a multiple of 4. */
  maxChunkElements?: number;
  /** Fold the dispatch into 2-D past this many workgroups (at most the device limit). */
  maxWorkgroupsPerDimension?: number;
  /** Uploads elements [start, start + count) into `buffer` (already big enough). */
  writeInput: (queue: GPUQueue, buffer: GPUBuffer, start: number, count: number) => void;
  /** The uniform bytes for a chunk (set by runWithScheme). */
  uniform?: (start: number, vecCount: number, threadCount: number) => ArrayBuffer;
  /** Bindings beyond 0 (uniform), 1 (input) and 2 (output), e.g. the per-channel table at 3. */
  extraEntries?: GPUBindGroupEntry[];
  /** Copies the chunk's results out of the mapped bytes. */
  readOutput: (bytes: ArrayBuffer, start: number, count: number) => void;
}

/** Largest chunk (in elements, a multiple of 4) the device's limits allow for `job`. */
export function chunkElements(device: GPUDevice, job: ChunkedJob): number {
  const bytesPerVec = Math.max(job.inputBytesPerVec, job.outputBytesPerVec);
  const limitBytes = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  const maxGroups = Math.min(job.maxWorkgroupsPerDimension ?? Infinity, device.limits.maxComputeWorkgroupsPerDimension);
  let vecs = Math.min(Math.floor(limitBytes / bytesPerVec), maxGroups * maxGroups * WORKGROUP_SIZE * VECS_PER_THREAD);
  if (job.maxChunkElements !== undefined) vecs = Math.min(vecs, Math.floor(job.maxChunkElements / 4));
  return Math.max(1, vecs) * 4;
}

/** Runs `job` over the whole tensor. Resolves when every chunk's results have been read out. */
export async function runChunked(manager: GpuManager, job: ChunkedJob): Promise<void> {
  if (job.size === 0) return;
  try {
    const chunk = chunkElements(manager.device, job);
    for (let start = 0; start < job.size; start += chunk) {
      await runChunk(manager, job, start, Math.min(chunk, job.size - start));
    }
  } catch (error) {
    await manager.throwIfLostAfterFailure(error);
    throw error;
  }
}

async function runChunk(manager: GpuManager, job: ChunkedJob, start: number, count: number): Promise<void> {
  const device = manager.device;
  const { pool } = manager;
  const vecCount = Math.ceil(count / 4);
  const inputBytes = vecCount * job.inputBytesPerVec;
  const outputBytes = vecCount * job.outputBytesPerVec;
  const grid = dispatchSize(Math.ceil(vecCount / VECS_PER_THREAD), WORKGROUP_SIZE,
    Math.min(job.maxWorkgroupsPerDimension ?? Infinity, device.limits.maxComputeWorkgroupsPerDimension));

  const input = pool.acquire(inputBytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, `${job.label}.input`);
  const output = pool.acquire(outputBytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, `${job.label}.output`);
  const uniform = pool.acquire(32, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, `${job.label}.uniform`);
  let pending: PendingReadback | undefined;
  let scopes: Promise<GPUError | null>[] = [];
  try {
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    try {
      job.writeInput(device.queue, input, start, count);
      device.queue.writeBuffer(uniform, 0, job.uniform!(start, vecCount, grid.threadCount));
      const pipeline = manager.pipelines.get(job.pipelineKey, job.pipeline);
      const bindGroup = device.createBindGroup({
        label: `${job.label}.bindGroup`,
        layout: pipeline.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: { buffer: uniform, size: 32 } },
          { binding: 1, resource: { buffer: input, size: inputBytes } },
          { binding: 2, resource: { buffer: output, size: outputBytes } },
          ...(job.extraEntries ?? []),
        ],
      });
      const encoder = device.createCommandEncoder({ label: `${job.label}.encoder` });
      const pass = encoder.beginComputePass({ label: `${job.label}.pass` });
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(grid.x, grid.y);
      pass.end();
      pending = encodeReadback(pool, encoder, output, outputBytes, job.label);
      device.queue.submit([encoder.finish({ label: `${job.label}.commands` })]);
    } finally {
      scopes = [device.popErrorScope(), device.popErrorScope()];
    }
  } catch (error) {
    if (pending) pool.discard(pending.staging);
    throw error;
  } finally {
    // Safe to reuse right away: later work on these buffers is queued after this submit.
    pool.release(input);
    pool.release(output);
    pool.release(uniform);
  }
  let gpuError: GPUError | null = null;
  try {
    for (const error of await Promise.all(scopes)) gpuError ??= error;
  } catch {
    // popErrorScope rejects only when the device is gone; the readback below then fails and says why.
  }
  if (gpuError) {
    if (pending) pool.discard(pending.staging);
    throw new GpuExecutionError(`${job.label}: the GPU rejected the kernel (${gpuError.constructor.name}): ${gpuError.message}`);
  }
  await finishReadback(pool, pending!, (bytes) => job.readOutput(bytes, start, count));
}
