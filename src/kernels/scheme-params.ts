/**
 * Fills in the scheme-dependent part of a kernel call, shared by quantize and dequantize: the uniform of
 * the per-tensor or per-channel family, and for per-channel the parameter table at binding 3, one
 * vec4<f32> per channel `(inv_scale, fround(zero_point), fround(scale), 0)`, uploaded once per call and
 * shared by every chunk.
 *
 * @example
 * ```ts
 * await runWithScheme(manager, job, q.params, dtypeInfo('qint8'), q.shape);
 * ```
 * @module
 */
import type { DTypeInfo } from '../dtype.js';
import type { GpuManager } from '../gpu/device.js';
import { channelLayout } from '../layout.js';
import type { QParams } from '../qtensor.js';
import { checkScale } from '../validate.js';
import { type ChunkedJob, runChunked } from './run-chunked.js';
import { PER_CHANNEL_PARAMS, PER_TENSOR_PARAMS, packUniform } from './uniforms.js';

/**
 * The per-channel table's contents.
 *
 * @example
 * ```ts
 * channelTable(Float64Array.of(0.5), Int32Array.of(3)); // Float32Array [2, 3, 0.5, 0]
 * ```
 */
export function channelTable(scales: Float64Array, zeroPoints: Int32Array): Float32Array<ArrayBuffer> {
  const table = new Float32Array(scales.length * 4);
  for (let c = 0; c < scales.length; c++) {
    table[4 * c] = checkScale(scales[c]!);
    table[4 * c + 1] = zeroPoints[c]!;
    table[4 * c + 2] = scales[c]!;
  }
  return table;
}

/**
 * Where element `start` lies in the `[outer, channels, inner]` view: the chunk-start fields of the
 * per-channel uniform.
 *
 * @example
 * ```ts
 * channelStart(10, 4, 3); // { start_inner: 2, start_channel: 2 }
 * ```
 */
export function channelStart(start: number, inner: number, channels: number): { start_inner: number; start_channel: number } {
  return { start_inner: start % inner, start_channel: Math.floor(start / inner) % channels };
}

/** Sets `job.uniform` (and the channel table) for `params`, then runs the job. */
export async function runWithScheme(
  manager: GpuManager, job: ChunkedJob, params: QParams, info: DTypeInfo, shape: readonly number[],
): Promise<void> {
  if (params.scheme === 'per_tensor_affine') {
    const inverseScale = checkScale(params.scale);
    job.uniform = (_start, vecCount, threadCount) => packUniform(PER_TENSOR_PARAMS, {
      vec_count: vecCount, thread_count: threadCount, inv_scale: inverseScale, zero_point_f32: params.zeroPoint,
      qmin: info.qmin, qmax: info.qmax, scale: params.scale, zero_point: params.zeroPoint,
    });
    await runChunked(manager, job);
    return;
  }
  const { channels, inner } = channelLayout(shape, params.axis);
  const table = channelTable(params.scales, params.zeroPoints);
  const buffer = manager.pool.acquire(table.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
    `${job.label}.channelTable`);
  try {
    manager.device.queue.writeBuffer(buffer, 0, table);
    job.extraEntries = [{ binding: 3, resource: { buffer, size: table.byteLength } }];
    job.uniform = (start, vecCount, threadCount) => packUniform(PER_CHANNEL_PARAMS, {
      vec_count: vecCount, thread_count: threadCount, inner, channels, ...channelStart(start, inner, channels),
      qmin: info.qmin, qmax: info.qmax,
    });
    await runChunked(manager, job);
  } finally {
    manager.pool.release(buffer);
  }
}
