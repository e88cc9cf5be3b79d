/**
 * A float32 weight in a file, quantized as quantizeWithFloor would quantize it whole, while only a block of its
 * rows is in memory at a time: what a CPU worker (cpu-worker.ts), or the calling thread on one thread
 * (compress-onnx.ts), does with a large ONNX weight, so that each holds a block and the weight's integers, not
 * the whole float32 weight.
 *
 * The weight is read a block of whole rows (along the first axis) at a time, into the same place in the CPU
 * kernels' memory:
 *
 * - **Each block its own parameters** (`'rows'`: per channel along axis 0, groups along another axis, or groups
 *   along axis 0 in blocks of whole groups): one read. Each block is checked for NaN and ±Infinity, its max |x|
 *   taken, its parameters chosen from it as the whole weight's would be (by any calibration: min/max, or a
 *   search, 'mse', 'lsq' or 'percentile', whose outputs each lie in one block), and it is quantized and measured.
 * - **Per channel along a later axis** (`'columns'`, the default of MatMul weights): every block has every
 *   channel, so two reads. The first scans and merges each channel's min and max across blocks (exact: min/max
 *   order -0 below +0 in every order), and the parameters are chosen from a [2, C] tensor of the mins and maxes,
 *   which has the same per-channel range; the second quantizes and measures.
 * - **A searched range per channel along a later axis** (`'columns'` with `bands`: 'mse', 'lsq', 'percentile'):
 *   a search needs all of a channel's values at once, so the channels are taken a band at a time (at least
 *   BAND_BLOCKS blocks' bytes, at most MAX_BANDS bands: column-bands.ts). For each band the weight is read a block
 *   at a time and each block's slice of the band's channels is copied out, into a [outer, width, inner] tensor
 *   held in the kernels' memory: every channel's values in the weight's order, so the search finds what it finds
 *   on the whole weight. Then the second read quantizes and measures, as above. A worker holds a band, not the
 *   weight: a quarter or less of it, for a few more reads of a file that is in the page cache by then.
 *
 * Each block is quantized into its place in the weight's integer buffer, and its error sums go on from the
 * block before (cpuErrorSums' carries): the statistics are the whole weight's, to the bit. With `packNibbles`, a
 * 4-bit weight's integers go in packed two to a byte as each block is measured (a block's integers, a byte each,
 * in a block-sized array first): the weight's integers then take half the memory, and the writer packs nothing.
 * Measured only (`measureWeightInBlocks`, the size budget's options), no integers are kept: each block's go into
 * the block-sized array, over the block before's.
 *
 * Anything out of the ordinary (a non-finite value, parameters that cannot be stored, statistics below the
 * quality floor, which escalate) gives undefined, and the caller runs the whole weight as before: the outcome
 * is then quantizeWithFloor's in every case. `weight-file-blocks.test.ts` compares the two for each layout.
 *
 * @example
 * ```ts
 * const blocking = fileBlocking([4096, 4096], decision, FILE_BLOCK_BYTES);
 * const outcome = blocking && await floorWeightInBlocks(range, [4096, 4096], decision, {}, new ArrayBuffer(blockIntegerBytes(decision, blocking, false)), blocking);
 * // outcome ?? await quantizeWithFloor(wholeWeight, decision, {}, { backend: 'cpu' })
 * ```
 * @module
 */
import { type Granularity, reductionLayout } from '../calibration/granularity.js';
import { type DTypeInfo, dtypeInfo } from '../dtype.js';
import { InvalidArgumentError } from '../errors.js';
import type { FileRange } from '../io/byte-source.js';
import { FILE_WEIGHT_BYTES, type FileWeightDType } from '../io/weights.js';
import { cpuErrorSums } from '../kernels/cpu/cpu-error-stats.js';
import { cpuMinMax } from '../kernels/cpu/cpu-minmax.js';
import { cpuQuantize } from '../kernels/cpu/cpu-quantize.js';
import { cpuQuantizeErrorSums } from '../kernels/cpu/cpu-quantize-measure.js';
import { scanFinite } from '../kernels/cpu/cpu-scan.js';
import { packNibblesInto } from '../pack-nibbles.js';
import { type QParams, QTensor } from '../qtensor.js';
import { checkErrorStatsArguments } from '../stats/arguments.js';
import { assembleErrorStats } from '../stats/assemble.js';
import type { ErrorStats } from '../stats/types.js';
import { BucketSums } from '../stats/bucket-sums.js';
import { fillGridTable, keepGridTable, shareGridTable } from '../stats/quant-grid.js';
import { blockScratchTaker } from './block-scratch.js';
import type { WeightDecision } from './policy.js';
import { type FloorOutcome, belowFloorOf } from './quality-floor.js';
import { type QuantizeWeightOptions, type QuantizedWeight, calibrationGranularity, granularityQParams, paramShapeOf, statsAxisOf } from './quantize-weight.js';
import { rowParams } from './row-block-task.js';
import { searchInBands } from './column-bands.js';
import { type FileBlocking, blockIntegerBytes, blockPacksNibbles } from './file-blocking.js';
import { holdWeight } from './weight-buffers.js';
import { type FileBlockReader, openFileBlocks } from './file-block-reader.js';

/**
 * The whole weight's parameters as a QTensor holds them (float64 scales), filled a block at a time, and a
 * block's statistics table (its scales and zero points viewed in place, reciprocals in a block-sized array);
 * `fill` returns the block's QParams, views of them with the table shared (quantGrid makes none), or undefined
 * for parameters a QTensor would refuse (the whole-weight path then says why); `whole` the weight's QParams.
 */
function wholeParamViews(
  params: Parameters, granularity: Exclude<Granularity, 'per_tensor'>, info: DTypeInfo, inverse: Float32Array, reuse?: ParamsMemory,
) {
  const blockMax = inverse.length; // the reciprocals are read only while their block is measured
  const scales64 = reuse && reuse.scales64.length >= params.scales.length ? reuse.scales64.subarray(0, params.scales.length) : new Float64Array(params.scales.length);
  const qParams = (scales: Float64Array, zeroPoints: Int32Array): QParams => ('groupSize' in granularity
    ? { scheme: 'per_group_affine', scales, zeroPoints, axis: granularity.axis, groupSize: granularity.groupSize }
    : { scheme: 'per_channel_affine', scales, zeroPoints, axis: granularity.axis });
  return {
    fill(own: Parameters, at: number): QParams | undefined {
      const end = at + own.scales.length;
      if (own.scales.length > blockMax) return undefined;
      const { qmin, qmax } = info;
      const ownZeroPoints = own.zeroPoints; // an indexed loop: a typed array's iterator took 6 ns an entry
      for (let p = 0; p < ownZeroPoints.length; p++) if (!(ownZeroPoints[p]! >= qmin && ownZeroPoints[p]! <= qmax)) return undefined;
      const table = { scales: params.scales.subarray(at, end), inverseScales: inverse.subarray(0, own.scales.length), zeroPoints: params.zeroPoints.subarray(at, end) };
      try {
        fillGridTable(own.scales, own.zeroPoints, table);
      } catch (error) {
        if (error instanceof InvalidArgumentError) return undefined;
        throw error;
      }
      scales64.set(own.scales, at);
      const [scales, zeroPoints] = [scales64.subarray(at, end), params.zeroPoints.subarray(at, end)];
      const blockParams = qParams(scales, zeroPoints);
      shareGridTable(blockParams, table);
      return blockParams;
    },
    /** The whole weight's QParams, once every block is filled (checkQParams' for the same parameters). */
    whole: () => qParams(scales64, params.zeroPoints),
  };
}

/** Whether `a` orders below `b` as the min/max kernels order floats (-0 below +0). */
const below = (a: number, b: number) => a < b || (a === 0 && b === 0 && Object.is(a, -0) && !Object.is(b, -0));

/** The parameters of the whole weight, filled block by block (rows) or chosen once (columns). */
interface Parameters { scales: Float32Array; zeroPoints: Int32Array }

/** Memory for a weight's parameters, used again from call to call (BlockWeightOptions.reuse). */
export interface ParamsMemory { scales: Float32Array; zeroPoints: Int32Array; scales64: Float64Array }

/** Options of {@link floorWeightInBlocks}. */
export interface BlockWeightOptions extends Pick<QuantizeWeightOptions, 'roundScale'> {
  /**
   * The parameters' memory where it is long enough (rows mode): the result's scales, zero points and QTensor
   * parameters are views of it, valid until the next call given the same memory. For a caller that keeps only
   * the result's measurements (the size budget's), or a worker given memory of exactly the weight's parameter count
   * (lent by the calling thread, and sent back with the result), so that a worker makes no parameter arrays a weight.
   */
  reuse?: ParamsMemory;
  /** A 4-bit weight's integers packed two to a byte into `integers` (where {@link blockPacksNibbles}): a QTensor of packed nibbles. */
  packNibbles?: boolean;
  /**
   * Reads the next block of float32 rows while one is worked on, into a second block's memory: for a thread that
   * would otherwise wait on its reads alone (the calling thread without workers; 7–20 % faster on the 1 GB MLP and
   * safetensors file). Workers, as many as the cores, keep each other busy while one reads: there it was no faster,
   * and each held 10–20 MiB more.
   */
  readAhead?: boolean;
  /**
   * Per channel along a later axis with min/max parameters (`'columns'` without bands): every channel's range and
   * the weight's max |x|, found already (measure-groups-in-blocks.ts finds them with the group options' ranges), so
   * the first read is not needed. Ignored for another axis or channel count.
   */
  channelRanges?: ChannelRanges;
}

/** Each channel's minimum and maximum along axis `axis` of a weight, and its max |x| (all finite). */
export interface ChannelRanges { axis: number; mins: Float32Array; maxs: Float32Array; peak: number }

/**
 * Quantizes the float32 weight at `range` of `shape` as `decision` says, in blocks (module documentation; a
 * float16 or bfloat16 weight, `dtype`, converted to float32 a block at a time as toFloat32 does), its
 * integers into the first bytes of `integers` (at least {@link blockIntegerBytes}: one byte an element, or with
 * `packNibbles` two 4-bit ones a byte); undefined when the caller must run the whole weight. Rejects with the
 * file's errors.
 *
 * @example
 * ```ts
 * const outcome = await floorWeightInBlocks(range, shape, decision, { roundScale }, buffer, fileBlocking(shape, decision, FILE_BLOCK_BYTES)!);
 * if (outcome?.kind === 'quantized') outcome.result.stats.overall.sqnrDb; // the whole weight's, to the bit
 * // { packNibbles: true } and a qint4 weight: outcome.result.q.packedNibbles, in `buffer`
 * ```
 */
export async function floorWeightInBlocks(
  range: FileRange, shape: readonly number[], decision: WeightDecision, options: BlockWeightOptions,
  integers: ArrayBuffer, blocking: FileBlocking, dtype: FileWeightDType = 'float32',
): Promise<FloorOutcome | undefined> {
  const packs = options.packNibbles === true && blockPacksNibbles(decision, blocking);
  if (integers.byteLength < blockIntegerBytes(decision, blocking, packs)) return undefined;
  const measured = await quantizeInBlocks(range, shape, decision, options, { integers, packs }, blocking, dtype);
  if (!measured) return undefined;
  const { stats, scales, zeroPoints, qParams } = measured;
  const info = dtypeInfo(decision.dtype);
  const elements = blocking.rows * blocking.rowElements;
  const values = packs ? { nibbles: new Uint8Array(integers, 0, Math.ceil(elements / 2)) }
    : info.signed ? new Int8Array(integers, 0, elements) : new Uint8Array(integers, 0, elements);
  const q = new QTensor(values, [...shape], info.name, qParams, 'cpu');
  return { kind: 'quantized', decision, steps: [], result: { ok: true, q, scales, zeroPoints, paramShape: paramShapeOf(shape, decision), stats } };
}

/** What {@link measureWeightInBlocks} gives: the whole weight's overall statistics and its parameters, to the bit. */
export interface BlockMeasurements extends Pick<QuantizedWeight, 'scales' | 'zeroPoints'> {
  overall: ErrorStats['overall'];
  /**
   * The weight's mean square, Σx² / n: the error sums' Σx², which the kernels add in the elements' order in
   * float64 (as `loopErrorSums` does), so `meanSquare`'s value to the bit.
   */
  meanSquare: number;
}

/**
 * The overall statistics and the parameters {@link floorWeightInBlocks} gives for the weight at `range`, with none
 * of its integers kept and no per-channel sums: each block's integers go into scratch of a block's size, used
 * again by the next (the size budget measures every option of a weight, by its overall error, and keeps the
 * integers of none). Undefined where floorWeightInBlocks gives undefined.
 *
 * @example
 * ```ts
 * const measured = await measureWeightInBlocks(range, [4096, 4096], decision, { roundScale }, fileBlocking([4096, 4096], decision, FILE_BLOCK_BYTES)!);
 * measured?.overall.mse; // floorWeightInBlocks' for the same weight, holding 1 MiB of integers, not 16
 * ```
 */
export async function measureWeightInBlocks(
  range: FileRange, shape: readonly number[], decision: WeightDecision, options: Omit<BlockWeightOptions, 'packNibbles'>,
  blocking: FileBlocking, dtype: FileWeightDType = 'float32',
): Promise<BlockMeasurements | undefined> {
  const measured = await quantizeInBlocks(range, shape, decision, options, undefined, blocking, dtype);
  return measured && { overall: measured.stats.overall, scales: measured.scales, zeroPoints: measured.zeroPoints, meanSquare: measured.meanSquare };
}

/**
 * The blocks' pass of {@link floorWeightInBlocks}: the integers into `into` (packed where `into.packs`), or,
 * without `into`, each block's into scratch over the block before's and the overall sums only (the error
 * kernel's overall sums are the same with or without its per-channel ones); the whole weight's statistics, its
 * parameters and its QParams.
 */
async function quantizeInBlocks(
  range: FileRange, shape: readonly number[], decision: WeightDecision, options: BlockWeightOptions,
  into: { integers: ArrayBuffer; packs: boolean } | undefined, blocking: FileBlocking, dtype: FileWeightDType,
): Promise<Pick<QuantizedWeight, 'stats' | 'scales' | 'zeroPoints'> & { qParams: QParams; meanSquare: number } | undefined> {
  const stored = FILE_WEIGHT_BYTES[dtype];
  const { rows, rowsPerBlock, count, rest, rowElements, mode } = blocking;
  const elements = rows * rowElements;
  const statsAxis = into ? statsAxisOf(decision) : undefined;
  const granularity = calibrationGranularity(decision);
  const paramCount = paramShapeOf(shape, decision).reduce((a, b) => a * b, 1);
  const info = dtypeInfo(decision.dtype);
  const scratchMemory = blockScratchTaker();
  let file: FileBlockReader | undefined;
  try {
    // A block's place in the kernels' memory, held once the bands (which hold their own) are searched; with
    // `readAhead`, two (file-block-reader.ts).
    file = await openFileBlocks(range, blocking, dtype, (placeShape) => holdWeight(placeShape, decision), { readAhead: options.readAhead, scratch: scratchMemory.bytes });
    const { read, readStored } = file;
    // Quantizes block b with `blockParams` into its place in `integers`, and its error sums go on from the block
    // before (the per-channel sums in place).
    const carry = new Float64Array(8);
    const perRow = statsAxis === 0 ? new BucketSums(rows) : undefined;
    let perChannel: BucketSums | undefined;
    // Packed, or not kept: each block's integers, a byte each, go into `blockInts` to be measured (then, packed, two
    // to a byte into their place).
    const integers = into?.integers;
    const blockInts = !into || into.packs ? scratchMemory.bytes(rowsPerBlock * rowElements).buffer as ArrayBuffer : undefined;
    const measure = (first: number, x: { data: Float32Array; shape: number[] }, blockParams: QParams) => {
      // Measured and not kept: quantized and measured in one pass, the same sums (cpu-quantize-measure.ts).
      if (!into && cpuQuantizeErrorSums(x, blockParams, info, carry)) return;
      const q = cpuQuantize(x, blockParams, info, blockInts ?? integers!, blockInts ? 0 : first * rowElements);
      const view = q.intReprView();
      if (integers && blockInts) packNibblesInto(view, 0, view.length, new Uint8Array(integers), (first * rowElements) / 2);
      else if (integers && (view.buffer !== integers || view.byteOffset !== first * rowElements)) new Uint8Array(integers, first * rowElements, x.data.length).set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
      const request = checkErrorStatsArguments(x, q, statsAxis === undefined ? {} : { axis: statsAxis }, () => -1); // scanned before
      const sums = cpuErrorSums(request, carry, perRow ? undefined : perChannel);
      if (perRow) perRow.setSums(sums.perChannel!, first);
      else perChannel = sums.perChannel;
    };
    // 1. Scan and calibrate (and, where each block has its own parameters, quantize and measure it at once).
    let peak = 0;
    const reuse = options.reuse && options.reuse.scales.length >= paramCount && options.reuse.zeroPoints.length >= paramCount ? options.reuse : undefined;
    let params: Parameters | undefined = mode !== 'rows' ? undefined : reuse ? { scales: reuse.scales.subarray(0, paramCount), zeroPoints: reuse.zeroPoints.subarray(0, paramCount) }
      : { scales: new Float32Array(paramCount), zeroPoints: new Int32Array(paramCount) };
    // Each block's QParams and statistics table are views of the whole weight's (filled block by block): a block
    // of thousands of groups makes no arrays of its own, which the worker would hold until its next collection.
    // A block's parameters are chosen straight into their place, from mins and maxs in these (the largest block's).
    const blockParamCount = (blockShape: number[]) => paramShapeOf(blockShape, decision).reduce((a, b) => a * b, 1);
    const blockMax = blockParamCount([rowsPerBlock, ...rest]);
    const scratch = params ? { mins: scratchMemory.float32(blockMax), maxs: scratchMemory.float32(blockMax) } : undefined;
    const views = params && granularity !== 'per_tensor' ? wholeParamViews(params, granularity, info, scratchMemory.float32(blockMax), reuse) : undefined;
    if (params && !views) return undefined; // per tensor: never by fileBlocking
    let paramAt = 0;
    const channels = mode === 'columns' ? shape[decision.axis!]! : 0;
    const bands = blocking.bands;
    if (bands) {
      const searched = await searchInBands(bands, channels, count, stored * rowsPerBlock * rowElements, readStored, dtype, decision, options, range.path);
      if (!searched) return undefined;
      ({ params, peak } = searched);
    }
    // Every block is scanned here, unless the bands were (as they were copied out), or the channels' ranges came found.
    const ranges = options.channelRanges;
    const given = mode === 'columns' && !bands && ranges && ranges.axis === decision.axis && ranges.mins.length === channels && ranges.maxs.length === channels
      ? ranges : undefined;
    const scanned = bands || given ? 0 : count;
    const mins = given?.mins ?? new Float32Array(bands ? 0 : channels).fill(Infinity);
    const maxs = given?.maxs ?? new Float32Array(bands ? 0 : channels).fill(-Infinity);
    if (given) peak = given.peak;
    for (let b = 0; b < scanned; b++) {
      const { first, x } = await read(b);
      const scan = scanFinite(x.data);
      if (scan.firstNonFinite >= 0) return undefined;
      peak = Math.max(peak, scan.maxAbs);
      if (mode === 'rows') {
        const k = blockParamCount(x.shape);
        if (paramAt + k > paramCount) return undefined; // blocks that do not tile the parameters: never by fileBlocking
        const into = { scales: params!.scales.subarray(paramAt, paramAt + k), zeroPoints: params!.zeroPoints.subarray(paramAt, paramAt + k), mins: scratch!.mins.subarray(0, k), maxs: scratch!.maxs.subarray(0, k) };
        const own = await rowParams(x, decision, options, into);
        if (!own || own.scales.length !== k) return undefined;
        const blockParams = views!.fill(own, paramAt);
        if (!blockParams) return undefined;
        paramAt += own.scales.length;
        measure(first, x, blockParams);
      } else {
        const range = cpuMinMax(x.data, reductionLayout(x.shape, { axis: decision.axis! }));
        for (let c = 0; c < channels; c++) {
          if (below(range.mins[c]!, mins[c]!)) mins[c] = range.mins[c]!;
          if (below(maxs[c]!, range.maxs[c]!)) maxs[c] = range.maxs[c]!;
        }
      }
    }
    if (mode === 'rows' && paramAt !== paramCount) return undefined;
    if (mode === 'columns') {
      if (!bands) {
        const extremes = new Float32Array(2 * channels);
        extremes.set(mins);
        extremes.set(maxs, channels);
        params = await rowParams({ data: extremes, shape: [2, channels] }, { ...decision, axis: 1 }, options);
        if (!params) return undefined;
      }
      // 2. Every channel's parameters known: read again, quantize and measure (every block with the same QParams,
      // their statistics table made once).
      const blockParams = granularityQParams([rowsPerBlock, ...rest], decision.dtype, granularity, params!.scales, params!.zeroPoints);
      keepGridTable(blockParams);
      for (let b = 0; b < count; b++) {
        const { first, x } = await read(b);
        measure(first, x, blockParams);
      }
    }
    const overall = new BucketSums(1);
    overall.setBucket(0, carry);
    overall.count[0] = elements;
    const channelSums = perRow ?? perChannel;
    channelSums?.count.fill(elements / channelSums.size);
    const stats = assembleErrorStats({ shape: [...shape], ...(statsAxis === undefined ? {} : { axis: statsAxis }), quantized: { kind: 'grid' } },
      overall, channelSums, undefined, 'cpu');
    // As quantizeWeight and the quality floor judge the whole weight: the whole-weight path decides the rest.
    const { sqnrDb, maxAbsError } = stats.overall;
    if (Number.isNaN(sqnrDb) || !Number.isFinite(maxAbsError)) return undefined;
    if (belowFloorOf(decision, sqnrDb, peak > 0 ? maxAbsError / peak : 0) !== undefined) return undefined;
    const { scales, zeroPoints } = params!;
    return { stats, scales, zeroPoints, qParams: views?.whole() ?? granularityQParams(shape, decision.dtype, granularity, scales, zeroPoints),
      meanSquare: elements ? overall.sumSquaredOriginal[0]! / elements : 0 };
  } finally {
    await file?.close();
    scratchMemory.release();
  }
}
