/**
 * Host side of the error-statistics kernel (shaders/error-stats/error_stats.wgsl). Arguments arrive validated.
 *
 * Accumulation, deterministic and accurate for 1e8 elements and more:
 * 1. The tensor is cut into tiles by a fixed plan (error-stats-plan.ts); each invocation (each of its four
 *    components, in the vec4 kernel) sums at most 256 elements of one bucket sequentially in float32 with Kahan compensation and writes one partial
 *    (relative error about 2⁻²³ whatever the count, since no lane's sum grows with the tensor).
 * 2. The partials are read back and added in float64 into their buckets, in chunk, tile, lane order.
 * No float atomics, no order that depends on timing: the same call gives the same bits every time.
 * Values are scaled by a power of two (exact) so that every finite |x| and |x̂| is below 4 and the largest
 * is near 1: squares cannot overflow float32 whatever the tensor's magnitude.
 *
 * Per chunk (at most `maxStorageBufferBindingSize` bytes of each input, or `maxChunkElements`) it uploads
 * the original values, the quantized values (x̂ as float32, or the integers: int8 / uint8 as stored where
 * the vec4 kernel runs, else widened to int32), the chunk's window of the parameter table and its tile
 * list, then runs one dispatch through {@link runOnGpu}. Where the partition allows (planQuadTiles: runs
 * of a multiple of 4 elements per bucket) the vec4 kernel `error_stats_quads` reads 4 elements per load
 * and writes one partial per element of a lane's quads; elsewhere `error_stats` reads one at a time. For a
 * weight resident on the GPU, `error_stats_quantize_quads` computes the 8-bit integers itself and writes them
 * (see {@link StoredIntegers}; src/kernels/weight/resident-weight.ts).
 *
 * @example
 * ```ts
 * const stats = await errorStatsKernel(manager, checkErrorStatsArguments(x, q, { axis: 0 }), {});
 * stats.perChannel?.mse;
 * ```
 * @module
 */
import type { GpuManager } from '../../gpu/device.js';
import { dispatchSize } from '../../gpu/dispatch.js';
import { runOnGpu } from '../../gpu/gpu-run.js';
import { channelLayout } from '../../layout.js';
import type { ErrorStatsRequest } from '../../stats/arguments.js';
import { assembleErrorStats } from '../../stats/assemble.js';
import { BucketSums } from '../../stats/bucket-sums.js';
import { type IndexMap, channelIndexMap, groupIndexMap, indexWindow, tensorIndexMap } from '../../stats/index-map.js';
import { largestScale } from '../../stats/quant-grid.js';
import type { ErrorStats } from '../../stats/types.js';
import type { GpuRun } from '../../gpu/gpu-run.js';
import {
  ERROR_STATS_PARAMS, ERROR_STATS_WORKGROUP_SIZE, type ErrorStatsScheme, PARAM_WORDS, PARTIAL_WORDS, type QuadLayout, clipBounds,
  errorStatsVariant, paramTableWords, smallRangeClip,
} from './error-stats-shader.js';
import {
  type ChunkLimits, type PlannedChunk, type StatsPartition, type TilePlan, planChunks, planQuadTiles, planTiles,
} from './error-stats-plan.js';
import { addChunkPartials } from './chunk-partials.js';
import type { KernelOptions } from '../common/kernel-options.js';
import { packUniform } from '../common/uniforms.js';

/**
 * The power of two that brings the larger of the largest finite |x| and a bound on |x̂| into [1, 2), within
 * the float32 normal range [2^-126, 2^126]; 1 when everything is zero. `largestOriginal`, when given, is the
 * largest finite |x| of the original (it is then not scanned).
 *
 * @example
 * ```ts
 * prescaleFor(checkErrorStatsArguments(tensor([3, -1000]), tensor([3, -1000]), undefined)); // 2^-9
 * ```
 */
export function prescaleFor(request: ErrorStatsRequest, largestOriginal?: number): number {
  let largest = largestOriginal ?? 0;
  const scan = (data: Float32Array) => {
    for (let i = 0; i < data.length; i++) {
      const magnitude = Math.abs(data[i]!);
      if (magnitude > largest && magnitude !== Infinity) largest = magnitude;
    }
  };
  // The caller may know the largest finite |x| already (from a min/max pass): no second scan.
  if (largestOriginal === undefined) scan(request.original);
  const q = request.quantized;
  if (q.kind === 'values') {
    scan(q.data);
  } else {
    // |x̂| <= (qmax - qmin) * scale; twice that covers the float32 roundings.
    // (span times a float32 scale is exact: the largest product is span times the largest scale.)
    const span = 2 * (q.grid.qmax - q.grid.qmin + 1);
    largest = Math.max(largest, span * largestScale(q.grid));
  }
  if (largest === 0) return 1;
  const exponent = Math.min(126, Math.max(-126, Math.floor(Math.log2(largest))));
  return 2 ** -exponent;
}

/** Everything one pass over the tensor shares across its chunks. */
interface PassContext {
  manager: GpuManager;
  request: ErrorStatsRequest;
  options: KernelOptions;
  scheme: ErrorStatsScheme;
  table: Uint32Array<ArrayBuffer>;
  prescale: number;
}

/**
 * The device caps on one chunk, in elements (and lanes of one partial each).
 *
 * @example
 * ```ts
 * errorStatsLimits(device, request, {}).maxElements; // maxStorageBufferBindingSize / 4
 * ```
 */
export function errorStatsLimits(device: GPUDevice, request: ErrorStatsRequest, options: KernelOptions): ChunkLimits & { maxPerDimension: number } {
  const limits = device.limits;
  const bindLimit = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  const maxPerDimension = Math.min(options.maxWorkgroupsPerDimension ?? Infinity, limits.maxComputeWorkgroupsPerDimension);
  const q = request.quantized;
  return {
    maxPerDimension,
    maxElements: Math.min(Math.floor(bindLimit / 4), options.maxChunkElements ?? Infinity),
    maxLanes: Math.min(Math.floor(bindLimit / (PARTIAL_WORDS * 4)), maxPerDimension * maxPerDimension * ERROR_STATS_WORKGROUP_SIZE),
    maxTiles: Math.floor(bindLimit / 8),
    ...(q.kind === 'grid' ? {
      fits: (start: number, end: number) => {
        const [lo, hi] = indexWindow(q.grid.map, start, end);
        return (hi - lo) * PARAM_WORDS * 4 <= bindLimit;
      },
    } : {}),
  };
}

/**
 * Integers the quantize kernels left in a GPU buffer: 8-bit bytes or 4-bit nibbles, packed as `QTensor.packedData()`.
 * With `quantizeFromOriginal` (8-bit only), the statistics kernel computes them from the original itself and
 * writes them into that buffer (`error_stats_quantize_quads`): the caller runs no quantize kernel.
 */
export interface StoredIntegers { bits: 4 | 8; signed: boolean; quantizeFromOriginal?: boolean }

/** One pass's plan (over elements or quads), its chunk caps in plan units, and its kernel variant. */
export interface StatsPass {
  plan: TilePlan;
  limits: ChunkLimits & { maxPerDimension: number };
  variant: ReturnType<typeof errorStatsVariant>;
  /** The kernel writes the integers (bound at 6) instead of reading them (at 2). */
  writesIntegers: boolean;
}

/**
 * How the vec4 kernel reads `request`'s quantized input: as uploaded from the host, or (`stored`) as the quantize
 * kernels left it in a GPU buffer, 8-bit bytes or 4-bit nibbles.
 */
function quadLayout(request: ErrorStatsRequest, stored?: StoredIntegers): QuadLayout {
  if (stored) return { quantizedBytes: 1, signed: stored.signed, nibbles: stored.bits === 4 };
  const q = request.quantized;
  if (q.kind === 'values' || q.ints instanceof Int32Array) return { quantizedBytes: 4, signed: true };
  return { quantizedBytes: 1, signed: q.ints instanceof Int8Array };
}

/**
 * Whether every element a lane component of `plan` meets has the same quantization parameter: per tensor
 * parameters, or per channel parameters on the statistics' own axis ([outer, axisLen, inner] alike) where
 * a lane keeps its channel (runs: one run; columns: one column).
 */
function lanesKeepParams(request: ErrorStatsRequest, partition: StatsPartition, plan: TilePlan): boolean {
  const q = request.quantized;
  if (q.kind !== 'grid') return false;
  const map = q.grid.map;
  if (map.strideOuter === 0 && map.strideGroup === 0 && map.strideInner === 0) return true;
  const perChannel = map.groupSize === 1 && map.strideOuter === 0 && map.strideInner === 0;
  return perChannel && partition.kind !== 'group' && (plan.mode === 'runs' || plan.mode === 'columns')
    && map.axisLen === partition.axisLen && map.inner === partition.inner;
}

/**
 * Plans one pass over `partition`: quads and the vec4 kernel where the partition and limits allow
 * (planQuadTiles), else elements one at a time. `stored`: the integers will be bound from a GPU buffer as the
 * quantize kernels store them (only the vec4 kernel reads that layout), or written there by the kernel
 * (`stored.quantizeFromOriginal`, 8-bit and a plan over quads only: see `writesIntegers`).
 *
 * @example
 * ```ts
 * const pass = planStatsPass(device, request, {}, scheme, { kind: 'tensor', outer: 1, axisLen: 1, inner: request.size });
 * pass.plan.unit; // 4 when the size is a multiple of 4
 * ```
 */
export function planStatsPass(
  device: GPUDevice, request: ErrorStatsRequest, options: KernelOptions, scheme: ErrorStatsScheme, partition: StatsPartition,
  stored?: StoredIntegers,
): StatsPass {
  const limits = errorStatsLimits(device, request, options);
  const maxTile = Math.min(limits.maxElements, limits.maxLanes);
  const quads = planQuadTiles(partition, maxTile);
  if (!quads) return { plan: planTiles(partition, maxTile), limits, variant: errorStatsVariant(scheme), writesIntegers: false };
  const writesIntegers = stored?.quantizeFromOriginal === true && stored.bits === 8 && scheme !== 'floats';
  const fits = limits.fits;
  return {
    plan: quads,
    limits: {
      maxPerDimension: limits.maxPerDimension, maxElements: Math.floor(limits.maxElements / 4), maxLanes: Math.floor(limits.maxLanes / 4),
      maxTiles: limits.maxTiles, ...(fits ? { fits: (start: number, end: number) => fits(4 * start, 4 * end) } : {}),
    },
    variant: errorStatsVariant(scheme, {
      ...quadLayout(request, stored),
      laneParams: scheme === 'indexedIntegers' && lanesKeepParams(request, partition, quads),
      smallRangeClip: request.quantized.kind === 'grid' && smallRangeClip(request.quantized.grid),
      ...(writesIntegers ? { quantizeFromOriginal: true } : {}),
    }),
    writesIntegers,
  };
}

/** The quantized input of elements [start, end) as the shader reads it: float32 bits, int32, or packed bytes. */
function quantizedWords(request: ErrorStatsRequest, start: number, end: number, unit: 1 | 4): BufferSource {
  const q = request.quantized;
  if (q.kind === 'values') return q.data.subarray(start, end) as Float32Array<ArrayBuffer>;
  if (q.ints instanceof Int32Array) return q.ints.subarray(start, end) as Int32Array<ArrayBuffer>;
  if (unit === 4) {
    // Bytes as stored, four to a word; the shader reads them 16 at a time.
    const bytes = q.ints.subarray(start, end);
    if (bytes.length % 16 === 0) return bytes as Int8Array<ArrayBuffer> | Uint8Array<ArrayBuffer>;
    const padded = new Uint8Array(Math.ceil(bytes.length / 16) * 16);
    padded.set(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
    return padded;
  }
  const widened = new Int32Array(end - start);
  widened.set(q.ints.subarray(start, end));
  return widened;
}

/**
 * Inputs of {@link encodeStatsChunk} already on the device: the original values and the stored integers,
 * and optionally the parameter table and the prescale (a float32 at `offset`), computed there.
 */
export interface StatsSources {
  original: GPUBuffer;
  quantized: GPUBuffer;
  table?: GPUBuffer;
  prescale?: { buffer: GPUBuffer; offset: number };
}

/** Byte offset of `prescale` in the uniform. */
const kPrescaleOffset = 4 * ERROR_STATS_PARAMS.fields.findIndex(([name]) => name === 'prescale');

/** What {@link encodeStatsChunk} encoded. */
export interface EncodedStatsChunk {
  partials: GPUBuffer;
  partialBytes: number;
  /** Bytes of the original and quantized inputs the kernel reads. */
  bytesRead: number;
  /** Bytes of the parameter table and tile list. */
  tableBytes: number;
}

/**
 * Uploads one chunk's inputs and encodes its dispatch; the partials are read back by the caller. With
 * `sources`, the original and the quantized integers are bound from those GPU buffers instead (the whole
 * tensor in one chunk, the integers as `stored` in {@link planStatsPass}): nothing is uploaded but the table.
 * Where `pass.writesIntegers`, the kernel writes the integers into `sources.quantized` instead of reading them.
 * With `sources.table` the table is bound from there too (`fullTable` is then not read and may be undefined), and with
 * `sources.prescale` the uniform's prescale is copied from that buffer on the device before the dispatch.
 *
 * @example
 * ```ts
 * const { partials, partialBytes } = encodeStatsChunk(run, manager, request, pass, chunk, table, prescale);
 * run.read(partials, partialBytes, (bytes) => addChunkPartials(bytes, pass.plan, chunk, bucketMap, sums));
 * ```
 */
export function encodeStatsChunk(
  run: GpuRun, manager: GpuManager, request: ErrorStatsRequest, pass: StatsPass, chunk: PlannedChunk,
  fullTable: Uint32Array<ArrayBuffer> | undefined, prescale: number, sources?: StatsSources,
): EncodedStatsChunk {
  const { plan, variant } = pass;
  const [start, end] = [chunk.start * plan.unit, chunk.end * plan.unit];
  const q = request.quantized;
  const grid = q.kind === 'grid' ? q.grid : undefined;
  const [paramBase, paramEnd] = grid ? indexWindow(grid.map, start, end) : [0, 1];
  const paramMap = grid?.map ?? tensorIndexMap();
  const bounds = clipBounds(grid?.qmin ?? 0, grid?.qmax ?? 0);
  const lanes = chunk.tileCount * plan.width;
  const partialBytes = lanes * plan.unit * PARTIAL_WORDS * 4;
  const storage = GPUBufferUsage.STORAGE;
  const original = sources ? undefined : request.original.subarray(start, end) as Float32Array<ArrayBuffer>;
  const quantized = sources ? undefined : quantizedWords(request, start, end, plan.unit);
  const originalBytes = (end - start) * 4;
  const quantizedBytes = quantized?.byteLength ?? Math.ceil((end - start) * ((pass.writesIntegers ? 8 : variantBits(variant)) / 8) / 16) * 16;
  const tableBytes = (paramEnd - paramBase) * PARAM_WORDS * 4;
  const table = (bound: GPUBuffer | undefined) => bound ?? run.upload(fullTable!.subarray(paramBase * PARAM_WORDS, paramEnd * PARAM_WORDS), storage, 'paramTable');
  const uniform = packUniform(ERROR_STATS_PARAMS, {
    lane_count: lanes, width: plan.width, rows: plan.rows, chunk_start: start, prescale,
    clip_low: bounds.low, clip_high: bounds.high, clamp_low: bounds.clampLow, clamp_high: bounds.clampHigh, param_base: paramBase,
    q_inner: Math.max(1, paramMap.inner), q_axis_len: Math.max(1, paramMap.axisLen), q_group_size: paramMap.groupSize,
    q_stride_outer: paramMap.strideOuter, q_stride_group: paramMap.strideGroup, q_stride_inner: paramMap.strideInner, one: 1,
  });
  const partials = run.buffer(partialBytes, storage | GPUBufferUsage.COPY_SRC, 'partials');
  const uniformBuffer = run.upload(uniform, GPUBufferUsage.UNIFORM, 'uniform');
  if (sources?.prescale) run.encoder.copyBufferToBuffer(sources.prescale.buffer, sources.prescale.offset, uniformBuffer, kPrescaleOffset, 4);
  run.dispatch(manager.pipelines.get(variant), [
    { binding: 0, resource: { buffer: uniformBuffer, size: uniform.byteLength } },
    { binding: 1, resource: { buffer: sources?.original ?? run.upload(original!, storage, 'original'), size: originalBytes } },
    { binding: pass.writesIntegers ? 6 : 2, resource: { buffer: sources?.quantized ?? run.upload(quantized!, storage, 'quantized'), size: quantizedBytes } },
    { binding: 3, resource: { buffer: table(sources?.table), size: tableBytes } },
    { binding: 4, resource: { buffer: run.upload(chunk.tiles, storage, 'tiles'), size: chunk.tiles.byteLength } },
    { binding: 5, resource: { buffer: partials, size: partialBytes } },
  ], dispatchSize(lanes, ERROR_STATS_WORKGROUP_SIZE, pass.limits.maxPerDimension));
  return { partials, partialBytes, bytesRead: originalBytes + quantizedBytes, tableBytes: tableBytes + chunk.tiles.byteLength };
}

/** Bits per element of the stored integers a quads variant binds (8 or 4; 32 for the other variants). */
function variantBits(variant: StatsPass['variant']): number {
  const constants = variant.constants ?? {};
  if (constants.QUANTIZED_BYTES !== 1) return 32;
  return constants.QUANTIZED_NIBBLES === 1 ? 4 : 8;
}

/** Runs one chunk and adds its partials into `sums` (and `overall`). */
function runChunk(
  context: PassContext, pass: StatsPass, chunk: PlannedChunk, bucketMap: IndexMap, sums: BucketSums, overall: BucketSums | undefined,
): Promise<void> {
  return runOnGpu(context.manager, pass.variant.label, (run) => {
    const { partials, partialBytes } = encodeStatsChunk(run, context.manager, context.request, pass, chunk, context.table, context.prescale);
    run.read(partials, partialBytes, (bytes) => addChunkPartials(bytes, pass.plan, chunk, bucketMap, sums, overall));
  });
}

/** One pass over the whole tensor for one partition, chunk after chunk. */
async function runPass(
  context: PassContext, partition: StatsPartition, bucketMap: IndexMap, sums: BucketSums, overall?: BucketSums,
): Promise<void> {
  const pass = planStatsPass(context.manager.device, context.request, context.options, context.scheme, partition);
  for (const chunk of planChunks(pass.plan, pass.limits)) {
    await runChunk(context, pass, chunk, bucketMap, sums, overall);
  }
}

/**
 * Computes the statistics `request` asks for on the GPU: one pass for the overall (or per-channel, which
 * also yields the overall) statistics, and a second for per-group statistics.
 *
 * @example
 * ```ts
 * const request = checkErrorStatsArguments(w, q, { axis: 1, groupSize: 32 });
 * const stats = await errorStatsKernel(await getDefaultManager(), request, { maxChunkElements: 1 << 20 });
 * stats.perGroup?.shape; // [rows, ceil(columns / 32)]
 * ```
 */
export async function errorStatsKernel(manager: GpuManager, request: ErrorStatsRequest, options: KernelOptions): Promise<ErrorStats> {
  const { shape, axis, groupSize, size } = request;
  const q = request.quantized;
  const overall = new BucketSums(1);
  const channelMap = axis === undefined ? undefined : channelIndexMap(shape, axis);
  const groupMap = axis === undefined || groupSize === undefined ? undefined : groupIndexMap(shape, axis, groupSize);
  const perChannel = channelMap && new BucketSums(channelMap.count);
  const perGroup = groupMap && new BucketSums(groupMap.count);
  if (size > 0) {
    const prescale = prescaleFor(request);
    const scheme: ErrorStatsScheme = q.kind === 'values' ? 'floats' : q.grid.integerSubtract ? 'perTensorIntegers' : 'indexedIntegers';
    const context: PassContext = {
      manager, request, options, prescale, scheme,
      table: q.kind === 'grid' ? paramTableWords(q.grid) : new Uint32Array(PARAM_WORDS),
    };
    if (axis === undefined) {
      await runPass(context, { kind: 'tensor', outer: 1, axisLen: 1, inner: size }, tensorIndexMap(), overall);
    } else {
      const { outer, channels, inner } = channelLayout(shape, axis);
      await runPass(context, { kind: 'channel', outer, axisLen: channels, inner }, channelMap!, perChannel!, overall);
      if (perGroup) await runPass(context, { kind: 'group', outer, axisLen: channels, inner, groupSize }, groupMap!, perGroup);
    }
    for (const sums of [overall, perChannel, perGroup]) sums?.rescale(1 / prescale);
  }
  return assembleErrorStats(request, overall, perChannel, perGroup, 'webgpu');
}
