/**
 * A resident weight reduced, calibrated, quantized and measured in one submit with one readback: the min/max
 * passes (minmax_reduce.wgsl) leave one record per output on the device, the parameter passes
 * (minmax_to_params.wgsl) turn them into the quantize kernel's table, the statistics' table and prescale, and
 * the quantize and error-statistics kernels read those where they lie (for 8-bit integers the statistics kernel
 * quantizes itself, as in `ResidentWeight.quantizeWithStats`). The readback brings the records (the
 * ranges, from which the host computes the parameters again), the device's scales and zero points (compared with
 * the host's), the prescale, the statistics' partials and the integers.
 *
 * The kernels run with the pipelines the host would choose for the real parameters: the plans are made with
 * placeholder parameters (scale 1, zero point 0), and nothing in them depends on the values for scales of at
 * least 2^-23 (every min/max scale) and zero points in the dtype's range; the statistics check this again with
 * the real parameters, and their prescale against the host's. Undefined, before anything runs, for what the
 * chain does not cover: a weight needing more than one reduction box, quantize chunk or statistics chunk,
 * statistics in scalar runs (a size not a multiple of 4), a quantize kernel without a parameter table.
 *
 * @example
 * ```ts
 * const result = await calibrateQuantizeWithStats(weight, layout, { kind: 'extreme', qmin: -8, qmax: 7 }, dtypeInfo('qint4'),
 *   { axis: 1, groupSize: 32 }, {}, {}, (ranges) => signedExtremeOfRanges(ranges.mins, ranges.maxs, 'qint4'));
 * result?.deviceAgrees; result?.stats(params);
 * ```
 * @module
 */
import type { Granularity, ReductionLayout } from '../../calibration/granularity.js';
import type { DTypeInfo, IntReprArray } from '../../dtype.js';
import { runOnGpu } from '../../gpu/gpu-run.js';
import { type PackedNibbles, type QParams, QTensor, checkQParams } from '../../qtensor.js';
import type { MinMaxResult } from '../../reference/minmax.js';
import { checkErrorStatsArguments } from '../../stats/arguments.js';
import { keepGridTable } from '../../stats/quant-grid.js';
import { assembleErrorStats } from '../../stats/assemble.js';
import { BucketSums } from '../../stats/bucket-sums.js';
import { channelIndexMap, tensorIndexMap } from '../../stats/index-map.js';
import type { QuantGrid } from '../../stats/quant-grid.js';
import type { ErrorStats } from '../../stats/types.js';
import { encodeMinMaxBox, mergeRecords, minMaxBoxElements } from '../calibration/minmax-kernel.js';
import { planBoxes } from '../calibration/minmax-plan.js';
import type { KernelOptions } from '../common/kernel-options.js';
import { deviceIntegerBytes } from '../elementwise/gpu-resident.js';
import { STATIONARY_KIND } from '../elementwise/stationary.js';
import { addChunkPartials } from '../error-stats/chunk-partials.js';
import { encodeStatsChunk, planStatsPass, prescaleFor } from '../error-stats/error-stats-kernel.js';
import { planChunks } from '../error-stats/error-stats-plan.js';
import { quantizesFromOriginal } from '../error-stats/error-stats-shader.js';
import { PRESCALE_OFFSET, type RangeRule, encodeParamsFromRanges, paramsFromRangesCovers } from './params-from-ranges.js';
import { type QuantizeJob, type ResidentWeight, encodeQuantize, integerTarget, quantizeJob, statsPartition } from './resident-weight.js';

/** What {@link calibrateQuantizeWithStats} read back. */
export interface CalibratedWeight {
  /** The host's scales and zero points for those ranges (what `expect` gave), in the quantize functions' order. */
  expected: { scales: Float32Array; zeroPoints: Int32Array };
  /** Whether the device's scales and zero points, which the integers and statistics used, have those bits. */
  deviceAgrees: boolean;
  /** The stored integers quantized with those parameters (as resident-weight.ts integerTarget keeps them). */
  values: IntReprArray | PackedNibbles;
  /**
   * The error statistics, given the parameters as checked QParams (the device's scales and zero points) and
   * the largest |x|; undefined when the device's prescale or the pipelines differ from what the host
   * chooses for them (then the caller takes the separate calls).
   */
  stats: (params: QParams, largestAbs: number) => ErrorStats | undefined;
}

/** The placeholders made, per shape, dtype and granularity, held while something uses them (see placeholderParams). */
const placeholders = new Map<string, WeakRef<QParams>>();

/**
 * The last placeholder made, held until another takes its place: a model's weights come one after another, most
 * of one shape, and a placeholder in groups of 32 of a [4096, 4096] weight is 12 MiB of new arrays (its
 * parameters and table) and about 14 ms of checks and page faults each time it is made again.
 */
let lastPlaceholder: { key: string; params: QParams } | undefined;

/**
 * QParams of `granularity` with every scale 1 and zero point 0: the plans' stand-in for the device's values. The
 * same object for the same shape, dtype and granularity while one is alive, so the statistics' parameter table
 * made for it (stats/quant-grid.ts) serves every weight of that shape.
 */
function placeholderParams(shape: readonly number[], info: DTypeInfo, granularity: Granularity, outputs: number): QParams {
  const key = JSON.stringify([shape, info.name, granularity, outputs]);
  if (lastPlaceholder?.key === key) return lastPlaceholder.params;
  const alive = placeholders.get(key)?.deref();
  if (alive) return alive;
  const params = granularity === 'per_tensor' ? checkQParams(shape, info.name, { scale: 1, zeroPoint: 0 }) : checkQParams(shape, info.name, {
    scales: new Float32Array(outputs).fill(1), zeroPoints: new Int32Array(outputs), axis: granularity.axis,
    ...('groupSize' in granularity ? { groupSize: granularity.groupSize } : {}),
  });
  keepGridTable(params);
  for (const [k, ref] of placeholders) if (!ref.deref()) placeholders.delete(k);
  placeholders.set(key, new WeakRef(params));
  lastPlaceholder = { key, params };
  return params;
}

/** The pipeline of a plan as a comparable string. */
function pipelineKey(plan: Pick<QuantizeJob, 'pipeline'>): string {
  return `${plan.pipeline.label}|${JSON.stringify(plan.pipeline.constants ?? {})}`;
}

/** Whether the quantize job for the real parameters differs from the one planned (or there is none for them). */
function differentPipeline(planned: QuantizeJob | undefined, real: QuantizeJob | null | undefined): boolean {
  return planned !== undefined && (!real || pipelineKey(real) !== pipelineKey(planned));
}

/**
 * Runs the chain on `weight` (see the module documentation); undefined when it does not cover the weight.
 * `expect` gives the host's scales and zero points for the ranges read back (and may throw, for a NaN say: the
 * call then throws that); they are compared with the device's where the readback lies, without a copy. The
 * ranges' arrays are `expect`'s: it may write its parameters over them.
 *
 * @example
 * ```ts
 * const result = await calibrateQuantizeWithStats(weight, reductionLayout(x.shape, { axis: 0 }),
 *   { kind: 'minmax', range, symmetric: true }, dtypeInfo('qint8'), { axis: 0 }, { axis: 0 }, {});
 * ```
 */
export async function calibrateQuantizeWithStats(
  weight: ResidentWeight, layout: ReductionLayout, rule: RangeRule, info: DTypeInfo, granularity: Granularity,
  statsOptions: { axis?: number }, options: KernelOptions,
  expect: (ranges: MinMaxResult) => { scales: Float32Array; zeroPoints: Int32Array },
): Promise<CalibratedWeight | undefined> {
  const { manager, x, buffer: resident } = weight.resident;
  const { device } = manager;
  const size = x.data.length;
  const boxes = [...planBoxes(layout, minMaxBoxElements(device, options))];
  const box = boxes[0];
  if (boxes.length !== 1 || !box || box.start !== 0 || box.count !== size || box.wStart !== 0 || box.wCount !== layout.outputs) return undefined;

  const placeholder = placeholderParams(x.shape, info, granularity, layout.outputs);
  const target = integerTarget(info, size);
  const request = checkErrorStatsArguments(x, new QTensor(target.planning, x.shape, info.name, placeholder, 'webgpu'), statsOptions, () => -1);
  const grid = request.quantized.kind === 'grid' ? request.quantized.grid : undefined;
  if (!grid) return undefined;
  const span = 2 * (grid.qmax - grid.qmin + 1);
  if (!paramsFromRangesCovers(rule, span)) return undefined;
  const axis = request.axis;
  const partition = statsPartition(x.shape, axis);
  const scheme = grid.integerSubtract ? 'perTensorIntegers' : 'indexedIntegers';
  // 8-bit: the statistics kernel quantizes as it reads the weight (resident-weight.ts); checked again below
  // with the real parameters and the largest |x|.
  const bits = info.bits;
  if (bits !== 8 && bits !== 4) return undefined;
  const storedFor = (grid8: QuantGrid, finite: boolean) => ({ bits, signed: info.signed, quantizeFromOriginal: info.bits === 8 && finite && quantizesFromOriginal(grid8) });
  const pass = planStatsPass(device, request, options, scheme, partition, storedFor(grid, true));
  const statsChunks = [...planChunks(pass.plan, pass.limits)];
  const statsChunk = statsChunks[0];
  if (pass.plan.unit !== 4 || statsChunks.length !== 1 || !statsChunk) return undefined;
  const jobFor = (params: QParams) => quantizeJob(manager, x, resident, info, params, options);
  const plan = pass.writesIntegers ? undefined : jobFor(placeholder);
  if (plan === null || (plan && !plan.tableSource)) return undefined;
  const stationaryKind = plan?.pipeline.constants?.STATIONARY_KIND;
  const rowsTable = stationaryKind !== undefined && stationaryKind !== STATIONARY_KIND.columns;

  const bucketMap = axis === undefined ? tensorIndexMap() : channelIndexMap(x.shape, axis);
  const overall = new BucketSums(1);
  const perChannel = axis === undefined ? undefined : new BucketSums(bucketMap.count);
  const mins = new Float32Array(layout.outputs).fill(Infinity);
  const maxs = new Float32Array(layout.outputs).fill(-Infinity);
  let expected: { scales: Float32Array; zeroPoints: Int32Array } | undefined;
  let deviceAgrees = false;
  let firstNaN = -1;
  let devicePrescale = 0;
  const integerBytes = deviceIntegerBytes(size, info);
  await runOnGpu(manager, `weight|${info.name}.calibrateQuantizeWithStats`, (run) => {
    const { records } = encodeMinMaxBox(run, manager, layout, box, resident, options);
    const tables = encodeParamsFromRanges(run, manager, records,
      { rule, outputs: layout.outputs, clamp: info, rowsTable, span }, options.maxWorkgroupsPerDimension ?? Infinity);
    const quantized = plan ? encodeQuantize(run, manager, plan, tables.quantTable)
      : run.buffer(integerBytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, 'integers');
    const { partials, partialBytes } = encodeStatsChunk(run, manager, request, pass, statsChunk, undefined, 1,
      { original: resident, quantized, table: tables.statsTable, prescale: { buffer: tables.maxima, offset: PRESCALE_OFFSET } });
    // The records, the statistics' table (scales and zero points) and the prescale come back in one readback.
    const recordBytes = layout.outputs * 16;
    const summary = run.buffer(2 * recordBytes + 16, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, 'summary');
    run.encoder.copyBufferToBuffer(records, 0, summary, 0, recordBytes);
    run.encoder.copyBufferToBuffer(tables.statsTable, 0, summary, recordBytes, tables.statsTableBytes);
    run.encoder.copyBufferToBuffer(tables.maxima, 0, summary, 2 * recordBytes, 16);
    run.read(summary, 2 * recordBytes + 16, (bytes) => {
      firstNaN = mergeRecords(bytes, box, mins, maxs);
      devicePrescale = new Float32Array(bytes, 2 * recordBytes + PRESCALE_OFFSET, 1)[0]!;
      expected = expect({ mins, maxs, firstNaN });
      deviceAgrees = sameTableBits(new Int32Array(bytes, recordBytes, layout.outputs * 4), expected);
    });
    run.read(partials, partialBytes, (bytes) => addChunkPartials(bytes, pass.plan, statsChunk, bucketMap, perChannel ?? overall, perChannel && overall));
    run.read(quantized, integerBytes, target.read);
  });

  const stats = (params: QParams, largestAbs: number): ErrorStats | undefined => {
    const real = checkErrorStatsArguments(x, new QTensor(target.planning, x.shape, info.name, params, 'webgpu'), statsOptions, () => -1);
    const realGrid = real.quantized.kind === 'grid' ? real.quantized.grid : undefined;
    const prescale = prescaleFor(real, largestAbs);
    if (!realGrid || prescale !== devicePrescale || differentPipeline(plan, plan && jobFor(params))) return undefined;
    const realPass = planStatsPass(device, real, options, scheme, partition, storedFor(realGrid, Number.isFinite(largestAbs)));
    if (realPass.variant.label !== pass.variant.label || realPass.writesIntegers !== pass.writesIntegers) return undefined;
    for (const sums of [overall, perChannel]) sums?.rescale(1 / prescale);
    return assembleErrorStats(real, overall, perChannel, undefined, 'webgpu');
  };
  if (!expected) throw new Error('calibrateQuantizeWithStats: the summary was not read back');
  return { expected, deviceAgrees, values: target.result, stats };
}

/**
 * Whether the statistics' table (four words an output, the scale's bits third and the zero point fourth) holds
 * `params`' bits: one pass without a branch per output, over the readback where it lies (no copy of 524,288
 * scales and zero points for a weight in groups of 32).
 */
function sameTableBits(table: Int32Array, params: { scales: Float32Array; zeroPoints: Int32Array }): boolean {
  const outputs = table.length / 4;
  if (params.scales.length !== outputs || params.zeroPoints.length !== outputs) return false;
  const scaleBits = new Int32Array(params.scales.buffer, params.scales.byteOffset, outputs);
  const zeroPoints = params.zeroPoints;
  let differ = 0;
  for (let w = 0; w < outputs; w++) differ |= (table[4 * w + 2]! ^ scaleBits[w]!) | (table[4 * w + 3]! ^ zeroPoints[w]!);
  return differ === 0;
}
