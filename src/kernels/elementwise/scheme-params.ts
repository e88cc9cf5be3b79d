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
import type { GpuManager } from '../../gpu/device.js';
import { type ParamLayout, paramLayout } from '../../layout.js';
import type { QParams } from '../../qtensor.js';
import { checkScale } from '../../validate.js';
import type { DTypeInfo } from '../../dtype.js';
import { type ChunkedJob, chunkElements, runChunked } from '../common/run-chunked.js';
import { kernelVariant } from './shader-sources.js';
import { type StationaryLayout, perTensorStationary, stationaryChunk, stationaryLayout } from './stationary.js';
import { GROUPED_PARAMS, PER_TENSOR_PARAMS, packUniform } from '../common/uniforms.js';

/**
 * The parameter table's contents: rows in blocks of four, structure of arrays (shaders/elementwise/grouped_params.wgsl),
 * block b = [inv_scale × 4, fround(zero_point) × 4, fround(scale) × 4] for rows 4b .. 4b + 3, the last block
 * padded with zeros.
 *
 * @example
 * ```ts
 * paramTable(Float64Array.of(0.5), Int32Array.of(3)); // Float32Array [2, 0, 0, 0,  3, 0, 0, 0,  0.5, 0, 0, 0]
 * ```
 */
export function paramTable(scales: Float64Array, zeroPoints: Int32Array): Float32Array<ArrayBuffer> {
  const table = new Float32Array(Math.ceil(scales.length / 4) * 12);
  for (let r = 0; r < scales.length; r++) {
    const base = 12 * Math.floor(r / 4) + (r % 4);
    table[base] = checkScale(scales[r]!);
    table[base + 4] = zeroPoints[r]!;
    table[base + 8] = scales[r]!;
  }
  return table;
}

/**
 * The parameter table of the stationary kind-1 kernels (shaders/elementwise/stationary_params.wgsl): one vec4 per row,
 * `(inv_scale, fround(zero_point), fround(scale), 0)`.
 *
 * @example
 * ```ts
 * paramRows(Float64Array.of(0.5), Int32Array.of(3)); // Float32Array [2, 3, 0.5, 0]
 * ```
 */
export function paramRows(scales: Float64Array, zeroPoints: Int32Array): Float32Array<ArrayBuffer> {
  const table = new Float32Array(4 * scales.length);
  for (let r = 0; r < scales.length; r++) {
    table[4 * r] = checkScale(scales[r]!);
    table[4 * r + 1] = zeroPoints[r]!;
    table[4 * r + 2] = scales[r]!;
  }
  return table;
}

/**
 * The quantize parameter table of the stationary kind-1 and kind-3 kernels: one vec4 per row,
 * `(inv_scale, qmin - zero_point, qmax - zero_point, bitcast<f32>(zero_point - ROUND_BITS))`, the form
 * shaders/common/numerics.wgsl quantize_small takes.
 *
 * @example
 * ```ts
 * quantRows(Float64Array.of(0.5), Int32Array.of(3), { qmin: -128, qmax: 127 }); // [2, -131, 124, (bits of 3 - 0x4b400000)]
 * ```
 */
export function quantRows(scales: Float64Array, zeroPoints: Int32Array, range: ClampRange): Float32Array<ArrayBuffer> {
  const table = new Float32Array(4 * scales.length);
  const bits = new Int32Array(table.buffer);
  for (let r = 0; r < scales.length; r++) {
    const zeroPoint = zeroPoints[r]!;
    table[4 * r] = checkScale(scales[r]!);
    table[4 * r + 1] = range.qmin - zeroPoint;
    table[4 * r + 2] = range.qmax - zeroPoint;
    bits[4 * r + 3] = zeroPoint - ROUND_BITS;
  }
  return table;
}

/** The integer range the kernel clamps to: the dtype's, or fake quantization's quant_min / quant_max. */
export interface ClampRange { qmin: number; qmax: number }

/**
 * What a kernel needs for a scheme: the uniform bytes of each chunk and, unless per tensor, the table and
 * the override constants that pick how the four elements of a word find their rows (see
 * shaders/elementwise/grouped_params.wgsl); those constants join the pipeline key, the shape never does.
 */
export interface SchemeBindings {
  uniform: (start: number, vecCount: number, threadCount: number) => ArrayBuffer;
  table?: Float32Array<ArrayBuffer>;
  constants?: { ROW_LAYOUT: 0 | 1 | 2; PER_GROUP: 0 | 1 };
}

/**
 * How the four elements of a word relate to the parameter rows: 1 all the same row, 2 consecutive rows,
 * 0 anything (general). Words start at multiples of 4 elements.
 *
 * @example
 * ```ts
 * rowLayout(paramLayout([64, 128], { axis: 0 }));               // 1: a row of 128 shares a channel
 * rowLayout(paramLayout([64, 128], { axis: 1 }));               // 2: channels c .. c + 3
 * rowLayout(paramLayout([64, 128], { axis: 1, groupSize: 32 })); // 1: one group
 * ```
 */
export function rowLayout(layout: ParamLayout): 0 | 1 | 2 {
  const perGroup = layout.strideInner !== 0;
  if (!perGroup) {
    if (layout.inner % 4 === 0) return 1;
    return layout.inner === 1 && layout.channels % 4 === 0 ? 2 : 0;
  }
  if (layout.inner % 4 === 0) return 2;
  return layout.inner === 1 && layout.channels % 4 === 0 && layout.groupSize % 4 === 0 ? 1 : 0;
}

/**
 * The uniform and parameter table for `params` over a tensor of `shape`, clamping to `range`.
 *
 * @example
 * ```ts
 * const { uniform, table } = schemeBindings(q.params, dtypeInfo('qint8'), q.shape);
 * ```
 */
export function schemeBindings(params: QParams, range: ClampRange, shape: readonly number[], elementsPerVec: number): SchemeBindings {
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
    constants: { ROW_LAYOUT: rowLayout(layout), PER_GROUP: params.scheme === 'per_group_affine' ? 1 : 0 },
    uniform: (start, vecCount, threadCount) => {
      const word = splitStep(elementsPerVec * threadCount, layout);
      const four = splitStep(4, layout);
      return packUniform(GROUPED_PARAMS, {
        vec_count: vecCount, thread_count: threadCount, start_element: start, inner: layout.inner, channels: layout.channels,
        group_size: layout.groupSize, stride_outer: layout.strideOuter, stride_group: layout.strideGroup,
        stride_inner: layout.strideInner, qmin: range.qmin, qmax: range.qmax, _pad0: 0,
        word_step_k: word.k, word_step_a: word.a, word_step_o: word.o, word_step_pad: 0,
        four_step_k: four.k, four_step_a: four.a, four_step_o: four.o, four_step_pad: 0,
      });
    },
  };
}

/**
 * A step of `elements` in the `[outer, channels, inner]` view, split into (k, a, o) so the shaders can walk
 * without dividing (shaders/elementwise/grouped_params.wgsl `advance`).
 *
 * @example
 * ```ts
 * splitStep(10, { inner: 4, channels: 3 }); // { k: 2, a: 2, o: 0 }
 * ```
 */
export function splitStep(elements: number, layout: { inner: number; channels: number }): { k: number; a: number; o: number } {
  const rows = Math.floor(elements / layout.inner);
  return { k: elements % layout.inner, a: rows % layout.channels, o: Math.floor(rows / layout.channels) };
}

/** bitcast<i32>(1.5 * 2^23), shaders/common/numerics.wgsl kRoundBits: quantRows' offset column is zero_point minus it. */
export const ROUND_BITS = 0x4b400000;

/**
 * Inverse scales above this need the quantize kernels' subnormal path (override EXACT_SUBNORMALS): below
 * it a subnormal input, flushed to zero by the hardware or not, quantizes to the zero point either way.
 */
export const SUBNORMAL_INVERSE_SCALE = 2 ** 125;

/** What specialiseJob needs to know of a kernel to offer the stationary variant (quantize and dequantize). */
export interface StationaryOffer {
  op: 'quantize' | 'dequantize';
  info: DTypeInfo;
  packed4x8: boolean;
}

/**
 * Specialises `job` for `params`: sets its uniform, and joins the scheme's override constants (row layout,
 * per group, and EXACT_SUBNORMALS where `subnormalOverride` says the job's shader declares it: the quantize
 * kernels) to its pipeline and pipeline key. With `stationary`, a per-channel or per-group 8-bit or 4-bit
 * job whose rows line up with its vecs becomes the stationary kernel (src/kernels/elementwise/stationary.ts). Returns
 * the parameter table to bind at 3, if any. The bench builds its device-only dispatches with this too, so
 * they run the library's exact pipelines.
 *
 * @example
 * ```ts
 * const table = specialiseJob(device, job, q.params, dtypeInfo(q.dtype), q.shape, false);
 * ```
 */
export function specialiseJob(
  device: GPUDevice, job: ChunkedJob, params: QParams, range: ClampRange, shape: readonly number[],
  subnormalOverride: boolean, stationary?: StationaryOffer,
): Float32Array<ArrayBuffer> | undefined {
  const exactSubnormals = subnormalOverride && largestInverseScale(params) > SUBNORMAL_INVERSE_SCALE;
  const s = stationary && stationaryFor(device, job, params, range, shape, stationary.info);
  if (!s) {
    const { uniform, table, constants } = schemeBindings(params, range, shape, job.elementsPerVec);
    job.uniform = uniform;
    const extra = { ...(exactSubnormals ? { EXACT_SUBNORMALS: 1 } : {}), ...constants };
    job.pipelineKey += `${exactSubnormals ? '|subnormals' : ''}${constants ? `|rows${constants.ROW_LAYOUT}|${constants.PER_GROUP ? 'group' : 'channel'}` : ''}`;
    job.pipeline = { ...job.pipeline, constants: { ...job.pipeline.constants, ...extra } };
    return table;
  }
  const vecElements = job.elementsPerVec;
  const runVecs = s.kind === 3 ? s.runElements / vecElements : 0;
  const variant = kernelVariant(stationary!.op, 'stationary', stationary!.info, stationary!.packed4x8);
  job.label = variant.label;
  job.pipelineKey = `${variant.pipelineKey}|kind${s.kind}${s.kind === 3 ? `|runs${runVecs}` : ''}${exactSubnormals ? '|subnormals' : ''}`;
  job.pipeline = {
    ...variant.pipeline,
    constants: {
      ...variant.pipeline.constants, STATIONARY_KIND: s.kind, ...(s.kind === 3 ? { RUN_VECS: runVecs } : {}),
      ...(exactSubnormals ? { EXACT_SUBNORMALS: 1 } : {}),
    },
  };
  job.chunkAlign = s.alignElements;
  job.threadsFor = (vecCount) => stationaryChunk(s, vecElements, 0, vecCount * vecElements, range).threads;
  job.uniform = (start, vecCount) => stationaryChunk(s, vecElements, start, vecCount * vecElements, range).uniform;
  const [scales, zeroPoints] = params.scheme === 'per_tensor_affine'
    ? [Float64Array.of(params.scale), Int32Array.of(params.zeroPoint)] : [params.scales, params.zeroPoints];
  if (s.kind === 2) return paramTable(scales, zeroPoints);
  return stationary!.op === 'quantize' ? quantRows(scales, zeroPoints, range) : paramRows(scales, zeroPoints);
}

/**
 * The largest fround(1 / fround(scale)) of `params`: the inverse of the smallest scale (the inverse never
 * grows with the scale). Decides EXACT_SUBNORMALS.
 *
 * @example
 * ```ts
 * largestInverseScale({ scheme: 'per_tensor_affine', scale: 0.5, zeroPoint: 0 }); // 2
 * ```
 */
export function largestInverseScale(params: QParams): number {
  if (params.scheme === 'per_tensor_affine') return checkScale(params.scale);
  let smallest = Infinity;
  for (const scale of params.scales) smallest = Math.min(smallest, scale);
  return params.scales.length ? checkScale(smallest) : 0;
}

/** The stationary layout `job` can run with (its chunks hold at least one run), or undefined. */
function stationaryFor(
  device: GPUDevice, job: ChunkedJob, params: QParams, range: ClampRange, shape: readonly number[], info: DTypeInfo,
): StationaryLayout | undefined {
  if (info.bits === 32) return undefined;
  const vecElements = job.elementsPerVec;
  const s = params.scheme === 'per_tensor_affine' ? perTensorStationary(vecElements) : stationaryLayout(paramLayout(shape, params), vecElements);
  if (!s) return undefined;
  const threadsFor = (vecCount: number): number => stationaryChunk(s, vecElements, 0, vecCount * vecElements, range).threads;
  return chunkElements(device, { ...job, chunkAlign: s.alignElements, threadsFor }) > 0 ? s : undefined;
}

/**
 * Specialises `job` for `params` (specialiseJob), binds the parameter table if any, then runs the job.
 * `subnormalOverride`: the job's shader declares `override EXACT_SUBNORMALS` (the quantize kernels);
 * `stationary`: the kernel has a stationary variant.
 */
export async function runWithScheme(
  manager: GpuManager, job: ChunkedJob, params: QParams, range: ClampRange, shape: readonly number[],
  subnormalOverride = false, stationary?: StationaryOffer,
): Promise<void> {
  const table = specialiseJob(manager.device, job, params, range, shape, subnormalOverride, stationary);
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
