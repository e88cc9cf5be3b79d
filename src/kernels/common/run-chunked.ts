/**
 * The one driver every elementwise kernel goes through: splits the tensor into chunks that fit the
 * device's binding and dispatch limits, and runs each chunk (upload, dispatch, readback) through
 * {@link runOnGpu}, which owns error scopes, pooled buffers and device-loss reporting.
 *
 * @example
 * ```ts
 * await runChunked(manager, job); // see ChunkedJob
 * ```
 * @module
 */
import type { GpuManager } from '../../gpu/device.js';
import { dispatchSize } from '../../gpu/dispatch.js';
import type { PipelineSpec } from '../../gpu/pipeline-cache.js';
import { type GpuRun, runOnGpu } from '../../gpu/gpu-run.js';
import { VECS_PER_THREAD, WORKGROUP_SIZE } from './workgroup.js';


/**
 * The chunking geometry of an elementwise call. Elements travel in "vecs": the elements one invocation step
 * stores (quantize) or loads (dequantize) as one vec4: 16 for 8-bit types, 32 for 4-bit, 4 for qint32 and
 * float32.
 */
export interface ChunkGeometry {
  /** Elements per vec (4, 16 or 32: see elementsPerVec in quantize-kernel.ts). Chunks start at multiples of it. */
  readonly elementsPerVec: number;
  /** Bytes per vec of input and output (e.g. 16 for 4 f32, 4 for a packed word). */
  readonly inputBytesPerVec: number;
  readonly outputBytesPerVec: number;
  /** Upper bound on elements per chunk (tests force small chunks); rounded down to a whole number of vecs. */
  readonly maxChunkElements?: number | undefined;
  /** Fold the dispatch into 2-D past this many workgroups (at most the device limit). */
  readonly maxWorkgroupsPerDimension?: number | undefined;
  /**
   * Invocations for a chunk of `vecCount` vecs, when not ceil(vecCount / VECS_PER_THREAD) (the stationary
   * kernels). Such a job's invocations each take at least one vec.
   */
  readonly threadsFor?: ((vecCount: number) => number) | undefined;
  /** Chunks hold a multiple of this many elements (the stationary kernels: whole runs or rows). */
  readonly chunkAlign?: number | undefined;
}

/** What one elementwise kernel call needs the driver to do: a plan (planElementwise) and its data. */
export interface ChunkedJob extends ChunkGeometry {
  /** The pipeline; its label names the kernel and variant in every GPU object. */
  readonly pipeline: PipelineSpec;
  /** Element count of the whole tensor. */
  readonly size: number;
  /**
   * Puts elements [start, start + count) into `buffer` (already big enough): a queue write, or a copy
   * encoded on `encoder` (the input is already on the GPU).
   */
  readonly writeInput: (queue: GPUQueue, buffer: GPUBuffer, start: number, count: number, encoder: GPUCommandEncoder) => void;
  /**
   * The whole input already in a GPU buffer from offset 0 (a resident weight): a chunk starting at 0 binds it
   * directly when it holds the chunk's whole vecs, instead of a copy through `writeInput`.
   */
  readonly inputBuffer?: GPUBuffer;
  /**
   * The input as float32 values on the host, when it is (a Tensor's data): runElementwise then uploads a job of one
   * chunk through the pool's staging buffers where the manager says so (src/gpu/staged-upload.ts) and binds it
   * as `inputBuffer`, instead of `writeInput`'s writeBuffer.
   */
  readonly hostInput?: Float32Array;
  /** The uniform bytes for a chunk. */
  readonly uniform: (start: number, vecCount: number, threadCount: number) => ArrayBuffer;
  /** Bindings beyond 0 (uniform), 1 (input) and 2 (output), e.g. the per-channel table at 3. */
  readonly extraEntries?: readonly GPUBindGroupEntry[];
  /** Copies the chunk's results out of the mapped bytes. */
  readonly readOutput?: (bytes: ArrayBuffer, start: number, count: number) => void;
  /**
   * Instead of a readback: encodes what keeps the chunk's results on the GPU (copies out of `output`, or
   * more passes from it through `run`), for results that stay on the device.
   */
  readonly keepOutput?: (run: GpuRun, output: GPUBuffer, start: number, count: number) => void;
  /** Encoded into the first chunk's submit before its work: what every chunk reads, built on the device (its parameter table). */
  readonly prepare?: (run: GpuRun) => void;
}

/** Largest chunk (in elements, a whole number of vecs) the device's limits allow for `job`. */
export function chunkElements(device: GPUDevice, job: ChunkGeometry): number {
  const bytesPerVec = Math.max(job.inputBytesPerVec, job.outputBytesPerVec);
  const limitBytes = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  const maxGroups = Math.min(job.maxWorkgroupsPerDimension ?? Infinity, device.limits.maxComputeWorkgroupsPerDimension);
  const maxThreads = maxGroups * maxGroups * WORKGROUP_SIZE;
  let vecs = Math.min(Math.floor(limitBytes / bytesPerVec), job.threadsFor ? Infinity : maxThreads * VECS_PER_THREAD);
  if (job.maxChunkElements !== undefined) vecs = Math.min(vecs, Math.floor(job.maxChunkElements / job.elementsPerVec));
  const elements = Math.max(1, vecs) * job.elementsPerVec;
  if (job.threadsFor && job.chunkAlign) {
    // Whole runs, as many as the dispatch limits allow (invocations grow about linearly with runs); 0 when
    // not even one fits (the caller then picks another kernel).
    const align = job.chunkAlign;
    const threads = (runs: number): number => job.threadsFor!((runs * align) / job.elementsPerVec);
    let runs = Math.floor(elements / align);
    while (runs > 0 && threads(runs) > maxThreads) runs = Math.min(runs - 1, Math.floor((runs * maxThreads) / threads(runs)));
    return runs * align;
  }
  return elements;
}

/** Runs `job` over the whole tensor. Resolves when every chunk's results have been read out. */
export async function runChunked(manager: GpuManager, job: ChunkedJob): Promise<void> {
  if (job.size === 0) return;
  const chunk = chunkElements(manager.device, job);
  if (chunk === 0) throw new Error(`${job.pipeline.label}: a chunk cannot hold one run of ${job.chunkAlign} elements`);
  for (let start = 0; start < job.size; start += chunk) {
    await runChunk(manager, job, start, Math.min(chunk, job.size - start));
  }
}

function runChunk(manager: GpuManager, job: ChunkedJob, start: number, count: number): Promise<void> {
  return runOnGpu(manager, job.pipeline.label, (run) => {
    if (start === 0) job.prepare?.(run);
    encodeChunk(run, manager, job, start, count);
  });
}

/**
 * Encodes one chunk of `job` into `run`: its input, its dispatch, and its readback or `keepOutput`. Callers
 * that chain more work after a kernel in the same submit encode its chunks here (chunk sizes from
 * {@link chunkElements}).
 *
 * @example
 * ```ts
 * await runOnGpu(manager, label, (run) => { encodeChunk(run, manager, job, 0, job.size); run.read(more, bytes, use); });
 * ```
 */
export function encodeChunk(run: GpuRun, manager: GpuManager, job: ChunkedJob, start: number, count: number): void {
  const vecCount = Math.ceil(count / job.elementsPerVec);
  const inputBytes = vecCount * job.inputBytesPerVec;
  const outputBytes = vecCount * job.outputBytesPerVec;
  {
    const grid = dispatchSize(job.threadsFor ? job.threadsFor(vecCount) : Math.ceil(vecCount / VECS_PER_THREAD), WORKGROUP_SIZE,
      Math.min(job.maxWorkgroupsPerDimension ?? Infinity, run.device.limits.maxComputeWorkgroupsPerDimension));
    let input = start === 0 && job.inputBuffer && job.inputBuffer.size >= inputBytes ? job.inputBuffer : undefined;
    if (!input) {
      input = run.buffer(inputBytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, 'input');
      job.writeInput(run.device.queue, input, start, count, run.encoder);
    }
    const output = run.buffer(outputBytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, 'output');
    const uniformBytes = job.uniform(start, vecCount, grid.threadCount);
    const uniform = run.upload(uniformBytes, GPUBufferUsage.UNIFORM, 'uniform');
    run.dispatch(manager.pipelines.get(job.pipeline), [
      { binding: 0, resource: { buffer: uniform, size: uniformBytes.byteLength } },
      { binding: 1, resource: { buffer: input, size: inputBytes } },
      { binding: 2, resource: { buffer: output, size: outputBytes } },
      ...(job.extraEntries ?? []),
    ], grid);
    if (job.keepOutput) job.keepOutput(run, output, start, count);
    else run.read(output, outputBytes, (bytes) => job.readOutput!(bytes, start, count));
  }
}
