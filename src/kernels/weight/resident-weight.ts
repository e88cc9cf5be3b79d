/**
 * A float32 weight kept on the GPU for the length of its compression: uploaded once, then reduced (min/max
 * per output, {@link ResidentWeight.minMax}), then quantized with its error statistics computed in the same
 * submit ({@link ResidentWeight.quantizeWithStats}), and the integers and the statistics' partials come back in
 * one readback. Two submits and one upload per weight, where separate calls take three of each. The
 * parameters are computed on the host between the two submits, by the same code as `chooseQParams`, so every
 * bit is the separate calls' bits.
 *
 * 8-bit integers are computed by the statistics kernel itself as it reads the weight
 * (`error_stats_quantize_quads`, shaders/error-stats/error_stats.wgsl), where that gives the quantize kernel's
 * bits (`quantizesFromOriginal`: ordinary scales and zero points, finite levels): one kernel, one read of
 * the weight. 4-bit integers (two quads share a word, so lanes would share it) and the rare parameters outside
 * those conditions take the quantize kernel, whose output the statistics kernel then reads on the device.
 *
 * The same kernels, plans and pipelines as the public operations: only where their inputs come from
 * changes. A weight whose statistics need the scalar kernel (a run that is not a multiple of 4), or whose
 * quantize or statistics need more than one chunk (more than the device binds at once), gets `undefined` from
 * quantizeWithStats, and the caller takes the separate calls.
 *
 * @example
 * ```ts
 * const weight = await ResidentWeight.upload(manager, x);
 * try {
 *   const { mins, maxs } = await weight.minMax(reductionLayout(x.shape, { axis: 0 }), {});
 *   const result = await weight.quantizeWithStats(dtypeInfo('qint8'), params, { axis: 0 }, largest, {});
 * } finally { weight.release(); }
 * ```
 * @module
 */
import type { ReductionLayout } from '../../calibration/granularity.js';
import type { DTypeInfo, IntReprArray } from '../../dtype.js';
import type { GpuManager } from '../../gpu/device.js';
import { type GpuRun, runOnGpu } from '../../gpu/gpu-run.js';
import { uploadFloat32 } from '../../gpu/staged-upload.js';
import { channelLayout } from '../../layout.js';
import { type PackedNibbles, type QParams, QTensor } from '../../qtensor.js';
import type { MinMaxResult } from '../../reference/minmax.js';
import { checkErrorStatsArguments } from '../../stats/arguments.js';
import { assembleErrorStats } from '../../stats/assemble.js';
import { BucketSums } from '../../stats/bucket-sums.js';
import { channelIndexMap, tensorIndexMap } from '../../stats/index-map.js';
import type { ErrorStats } from '../../stats/types.js';
import type { Tensor } from '../../tensor.js';
import { minMaxKernel } from '../calibration/minmax-kernel.js';
import type { KernelOptions } from '../common/kernel-options.js';
import { type ChunkedJob, chunkElements, encodeChunk } from '../common/run-chunked.js';
import { deviceIntegerBytes } from '../elementwise/gpu-resident.js';
import { planElementwise } from '../elementwise/plan-elementwise.js';
import { buildsTableOnDevice, encodeParamTable } from '../elementwise/param-table-kernel.js';
import { type TableSource, tableBytes, writeTable } from '../elementwise/scheme-params.js';
import { vecGeometry } from '../elementwise/quantize-kernel.js';
import { addChunkPartials } from '../error-stats/chunk-partials.js';
import { encodeStatsChunk, planStatsPass, prescaleFor } from '../error-stats/error-stats-kernel.js';
import { planChunks } from '../error-stats/error-stats-plan.js';
import { paramTableWords, quantizesFromOriginal } from '../error-stats/error-stats-shader.js';

/** Bytes of the resident copy: whole vecs of the widest kernel step (32 float32 values), so a chunk binds it as is. */
function residentBytes(size: number): number {
  return Math.max(1, Math.ceil(size / 32)) * 128;
}

/**
 * The quantize kernel's chunk job on the resident values, with the source of the parameter table it binds at 3
 * (described, not built: the device may write it, else it is written in slices when the job is encoded).
 */
export type QuantizeJob = ChunkedJob & { tableSource?: TableSource; info: DTypeInfo };

/**
 * What {@link ResidentWeight.quantizeWithStats} returns: the stored integers (8-bit one per element, 4-bit packed
 * two to a byte as the device wrote them: see {@link integerTarget}) and the statistics.
 */
export interface QuantizedWithStats { values: IntReprArray | PackedNibbles; stats: ErrorStats }

/** See the module documentation. */
export class ResidentWeight {
  readonly #manager: GpuManager;
  readonly #x: Tensor;
  #buffer: GPUBuffer | undefined;

  private constructor(manager: GpuManager, x: Tensor, buffer: GPUBuffer) {
    this.#manager = manager;
    this.#x = x;
    this.#buffer = buffer;
  }

  /**
   * Uploads `x` (non-empty, float32) into a pooled buffer: the weight's one upload (a big one through a pooled
   * staging buffer, src/gpu/staged-upload.ts). Call {@link release} when done.
   *
   * @example
   * ```ts
   * const weight = await ResidentWeight.upload(manager, tensor(w, [64, 32]));
   * weight.release();
   * ```
   */
  static async upload(manager: GpuManager, x: Tensor): Promise<ResidentWeight> {
    const buffer = manager.pool.acquire(residentBytes(x.data.length), GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      'weight|resident.values');
    try {
      await uploadFloat32(manager, buffer, x.data, 'weight|resident');
    } catch (error) {
      manager.pool.release(buffer);
      throw error;
    }
    return new ResidentWeight(manager, x, buffer);
  }

  /** The resident buffer; throws once released. */
  get #values(): GPUBuffer {
    if (!this.#buffer) throw new Error('ResidentWeight: used after release()');
    return this.#buffer;
  }

  /**
   * The device, the weight and its resident buffer, for kernels that read the weight where it lies
   * (`calibrateQuantizeWithStats`); throws once released.
   *
   * @example
   * ```ts
   * const { manager, x, buffer } = weight.resident;
   * ```
   */
  get resident(): { manager: GpuManager; x: Tensor; buffer: GPUBuffer } {
    return { manager: this.#manager, x: this.#x, buffer: this.#values };
  }

  /**
   * Min and max of every output of `layout`, and the first NaN: `minMaxKernel` on the resident values (one
   * submit, a readback of one record per output).
   *
   * @example
   * ```ts
   * const { mins, maxs, firstNaN } = await weight.minMax(reductionLayout(x.shape, 'per_tensor'), {});
   * ```
   */
  minMax(layout: ReductionLayout, options: KernelOptions): Promise<MinMaxResult> {
    return minMaxKernel(this.#manager, this.#values, layout, options);
  }

  /**
   * Quantizes the weight with `params` and computes its error statistics (overall, and per channel along
   * `statsAxis` when given) in one submit with one readback. `largestAbs` is the largest |x| (all finite),
   * known from {@link minMax}. Undefined when this weight's statistics cannot run in one vec4 dispatch
   * next to the integers (see the module documentation): nothing was run then.
   *
   * @example
   * ```ts
   * const result = await weight.quantizeWithStats(dtypeInfo('qint4'), params, { axis: 0 }, 2.5, {});
   * result?.stats.overall.sqnrDb;
   * ```
   */
  async quantizeWithStats(
    info: DTypeInfo, params: QParams, statsOptions: { axis?: number }, largestAbs: number, options: KernelOptions,
  ): Promise<QuantizedWithStats | undefined> {
    const manager = this.#manager;
    const { device } = manager;
    const x = this.#x;
    const size = x.data.length;
    if (info.bits === 32 || size === 0) return undefined;
    const target = integerTarget(info, size);
    const request = checkErrorStatsArguments(x, new QTensor(target.planning, x.shape, info.name, params, 'webgpu'), statsOptions, () => -1);
    const grid = request.quantized.kind === 'grid' ? request.quantized.grid : undefined;
    if (!grid) return undefined;
    const axis = request.axis;
    const partition = statsPartition(x.shape, axis);
    const scheme = grid.integerSubtract ? 'perTensorIntegers' : 'indexedIntegers';
    // 8-bit: the statistics kernel computes the integers itself as it reads the weight (no quantize kernel),
    // where that gives the quantize kernel's bits (quantizesFromOriginal; x finite, as minMax found it).
    const quantizeFromOriginal = info.bits === 8 && Number.isFinite(largestAbs) && quantizesFromOriginal(grid);
    const pass = planStatsPass(device, request, options, scheme, partition, { bits: info.bits, signed: info.signed, quantizeFromOriginal });
    const statsChunks = [...planChunks(pass.plan, pass.limits)];
    if (pass.plan.unit !== 4 || statsChunks.length !== 1) return undefined;
    const quantize = pass.writesIntegers ? undefined : quantizeJob(manager, x, this.#values, info, params, options);
    if (quantize === null) return undefined;

    const bucketMap = axis === undefined ? tensorIndexMap() : channelIndexMap(x.shape, axis);
    const overall = new BucketSums(1);
    const perChannel = axis === undefined ? undefined : new BucketSums(bucketMap.count);
    const prescale = prescaleFor(request, largestAbs);
    const integerBytes = deviceIntegerBytes(size, info);
    await runOnGpu(manager, `weight|${info.name}.quantizeWithStats`, (run) => {
      const stored = quantize ? encodeQuantize(run, manager, quantize)
        : run.buffer(integerBytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, 'integers');
      const { partials, partialBytes } = encodeStatsChunk(run, manager, request, pass, statsChunks[0]!, paramTableWords(grid), prescale,
        { original: this.#values, quantized: stored });
      run.read(partials, partialBytes, (bytes) => addChunkPartials(bytes, pass.plan, statsChunks[0]!, bucketMap, perChannel ?? overall, perChannel && overall));
      run.read(stored, integerBytes, target.read);
    });
    for (const sums of [overall, perChannel]) sums?.rescale(1 / prescale);
    return { values: target.result, stats: assembleErrorStats(request, overall, perChannel, undefined, 'webgpu') };
  }

  /**
   * Hands the resident buffer back to the pool (safe to call twice).
   *
   * @example
   * ```ts
   * weight.release();
   * ```
   */
  release(): void {
    if (!this.#buffer) return;
    this.#manager.pool.release(this.#buffer);
    this.#buffer = undefined;
  }
}

/**
 * The statistics' partition of a weight of `shape`: one bucket, or one per channel along `axis`.
 *
 * @example
 * ```ts
 * statsPartition([4, 6], 1); // { kind: 'channel', outer: 4, axisLen: 6, inner: 1 }
 * ```
 */
export function statsPartition(shape: readonly number[], axis: number | undefined):
  { kind: 'tensor' | 'channel'; outer: number; axisLen: number; inner: number } {
  if (axis === undefined) return { kind: 'tensor', outer: 1, axisLen: 1, inner: shape.reduce((a, b) => a * b, 1) };
  const layout = channelLayout(shape, axis);
  return { kind: 'channel', outer: layout.outer, axisLen: layout.channels, inner: layout.inner };
}

/**
 * Where a weight's integers read back from the device go: 8-bit bytes into one integer per element; 4-bit nibbles
 * kept two to a byte as the device wrote them (the QTensor unpacks them if one per element is asked for, and the
 * writers take them as they are). `planning` is an integer array of the result's type for the statistics' plan,
 * which reads its type only (the statistics read the integers on the device); `read` consumes the readback.
 *
 * @example
 * ```ts
 * const target = integerTarget(dtypeInfo('qint4'), size);
 * run.read(stored, integerBytes, target.read);
 * new QTensor(target.result, shape, 'qint4', params, 'webgpu');
 * ```
 */
export function integerTarget(info: DTypeInfo, size: number):
  { planning: IntReprArray; result: IntReprArray | PackedNibbles; read: (bytes: ArrayBuffer) => void } {
  if (info.bits === 4) {
    const nibbles = new Uint8Array(Math.ceil(size / 2));
    return {
      planning: info.makeArray(0),
      result: { nibbles },
      read: (bytes) => nibbles.set(new Uint8Array(bytes, 0, nibbles.length)),
    };
  }
  const values = info.makeArray(size);
  return { planning: values, result: values, read: (bytes) => values.set(info.signed ? new Int8Array(bytes, 0, size) : new Uint8Array(bytes, 0, size)) };
}

/**
 * The quantize kernel's job on a weight resident in `input`, with its parameter table; null when it needs more
 * than one chunk (the statistics then could not read its output buffer where it lies).
 *
 * @example
 * ```ts
 * const job = quantizeJob(manager, x, resident, dtypeInfo('qint8'), params, {});
 * ```
 */
export function quantizeJob(
  manager: GpuManager, x: Tensor, input: GPUBuffer, info: DTypeInfo, params: QParams, options: KernelOptions,
): QuantizeJob | null {
  const { device, features } = manager;
  const geometry = {
    ...vecGeometry('quantize', info), maxChunkElements: options.maxChunkElements, maxWorkgroupsPerDimension: options.maxWorkgroupsPerDimension,
  };
  const plan = planElementwise(device, { op: 'quantize', info, params, range: info, shape: x.shape, packed4x8: features.packed4x8 }, geometry,
    { table: 'source' });
  if (chunkElements(device, { ...geometry, ...plan }) < x.data.length) return null;
  return {
    ...geometry, ...plan, size: x.data.length, info,
    inputBuffer: input,
    writeInput: () => { throw new Error('quantizeJob: the chunk binds the resident values'); },
  };
}

/**
 * Encodes the quantize kernel of `job` (one chunk) and returns the buffer that holds its integers. Its parameter
 * table is `table` where the device wrote it, else built from `job.tableSource` in the same submit: by the device
 * where buildsTableOnDevice allows (param-table-kernel.ts), else written from the host
 * in slices (writeTable).
 *
 * @example
 * ```ts
 * const integers = encodeQuantize(run, manager, job);
 * ```
 */
export function encodeQuantize(run: GpuRun, manager: GpuManager, job: QuantizeJob, table?: GPUBuffer): GPUBuffer {
  const source = job.tableSource;
  const bytes = source ? tableBytes(source) : 0;
  let bound = table;
  if (source && !bound) {
    bound = run.buffer(bytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, 'paramTable');
    if (buildsTableOnDevice(manager, source, job.info)) encodeParamTable(run, manager, source, bound, job.maxWorkgroupsPerDimension);
    else writeTable(run.device.queue, bound, source);
  }
  let integers: GPUBuffer | undefined;
  encodeChunk(run, manager, {
    ...job,
    ...(bound && source ? { extraEntries: [{ binding: 3, resource: { buffer: bound, size: bytes } }] } : {}),
    keepOutput: (_run, output) => { integers = output; },
  }, 0, job.size);
  return integers!;
}
