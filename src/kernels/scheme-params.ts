/**
 * Fills in the scheme-dependent part of a kernel call, shared by quantize, dequantize and fake-quantize:
 * the uniform of the per-tensor family, or for per-channel and per-group the grouped uniform and the
 * parameter table at binding 3, one vec4<f32> per channel or group, `(inv_scale, fround(zero_point),
 * fround(scale), 0)`, uploaded once per call and shared by every chunk.
 *
 * @example
 * ```ts
 * await runWithScheme(manager, job, q.params, { qmin: -128, qmax: 127 }, q.shape);
 * ```
 * @module
 */
import type { GpuManager } from '../gpu/device.js';
import { paramLayout } from '../layout.js';
import type { QParams } from '../qtensor.js';
import { checkScale } from '../validate.js';
import { type ChunkedJob, runChunked } from './run-chunked.js';
import { GROUPED_PARAMS, PER_TENSOR_PARAMS, packUniform } from './uniforms.js';

/**
 * The parameter table's contents.
 *
 * @example
 * ```ts
 * paramTable(Float64Array.of(0.5), Int32Array.of(3)); // Float32Array [2, 3, 0.5, 0]
 * ```
 */
export function paramTable(scales: Float64Array, zeroPoints: Int32Array): Float32Array<ArrayBuffer> {
  const table = new Float32Array(scales.length * 4);
  for (let c = 0; c < scales.length; c++) {
    table[4 * c] = checkScale(scales[c]!);
    table[4 * c + 1] = zeroPoints[c]!;
    table[4 * c + 2] = scales[c]!;
  }
  return table;
}

/** The integer range the kernel clamps to: the dtype's, or fake quantization's quant_min / quant_max. */
export interface ClampRange { qmin: number; qmax: number }

/** What a kernel needs for a scheme: the uniform bytes of each chunk and, unless per tensor, the table. */
export interface SchemeBindings {
  uniform: (start: number, vecCount: number, threadCount: number) => ArrayBuffer;
  table?: Float32Array<ArrayBuffer>;
}

/**
 * The uniform and parameter table for `params` over a tensor of `shape`, clamping to `range`.
 *
 * @example
 * ```ts
 * const { uniform, table } = schemeBindings(q.params, dtypeInfo('qint8'), q.shape);
 * ```
 */
export function schemeBindings(params: QParams, range: ClampRange, shape: readonly number[]): SchemeBindings {
  if (params.scheme === 'per_tensor_affine') {
    const inverseScale = checkScale(params.scale);
    return {
      uniform: (_start, vecCount, threadCount) => packUniform(PER_TENSOR_PARAMS, {
        vec_count: vecCount, thread_count: threadCount, inv_scale: inverseScale, zero_point_f32: params.zeroPoint,
        qmin: range.qmin, qmax: range.qmax, scale: params.scale, zero_point: params.zeroPoint,
      }),
    };
  }
  const layout = paramLayout(shape, params);
  return {
    table: paramTable(params.scales, params.zeroPoints),
    uniform: (start, vecCount, threadCount) => packUniform(GROUPED_PARAMS, {
      vec_count: vecCount, thread_count: threadCount, start_element: start, inner: layout.inner, channels: layout.channels,
      group_size: layout.groupSize, stride_outer: layout.strideOuter, stride_group: layout.strideGroup,
      stride_inner: layout.strideInner, qmin: range.qmin, qmax: range.qmax, _pad: 0,
    }),
  };
}

/** Sets `job.uniform` (and binds the parameter table) for `params`, then runs the job. */
export async function runWithScheme(
  manager: GpuManager, job: ChunkedJob, params: QParams, range: ClampRange, shape: readonly number[],
): Promise<void> {
  const { uniform, table } = schemeBindings(params, range, shape);
  job.uniform = uniform;
  if (!table) {
    await runChunked(manager, job);
    return;
  }
  const buffer = manager.pool.acquire(table.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, `${job.label}.paramTable`);
  try {
    manager.device.queue.writeBuffer(buffer, 0, table);
    job.extraEntries = [{ binding: 3, resource: { buffer, size: table.byteLength } }];
    await runChunked(manager, job);
  } finally {
    manager.pool.release(buffer);
  }
}
