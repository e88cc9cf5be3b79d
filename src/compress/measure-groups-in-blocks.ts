/**
 * The size budget's 4-bit options in groups (int4 groups of 32, 64 and 128: along the rows of a MatMul weight, along
 * the last axis of a weight with no ONNX consumer), measured together from one read of the weight's file, a block of
 * rows at a time: each block is checked for NaN and ±Infinity once, its groups' mins and maxes found once for the
 * smallest group size, and those of the larger sizes merged from them (group-ranges.ts: to the bit). Each option's
 * parameters come from its ranges by the signed extremes, as rowParams chooses them, and each option is quantized
 * and measured in one pass into sums of its own (cpuQuantizeErrorSums), the first two side by side in one pass where
 * their groups run along the rows (cpuQuantizeErrorsPair: their errors only, in about the time of one): each option's
 * mean square error, SQNR, max |e| and the weight's mean square are measureWeightInBlocks' to the bit (what the budget
 * compares and its floors judge; cosine and clipping are not measured), from one read, one scan and one min/max pass
 * where they took three. No
 * option's parameters are kept past their block: how each option's would be stored comes from its blocks'
 * ({@link storedOfBlocks}). A whole weight's parameters for each option, megabytes each, were arrays a worker freed
 * into its allocator's arena, which kept them resident.
 *
 * The same pass gives every channel's range along a later axis (the channels of int8 per channel, the budget's other
 * option), merged from the groups' ranges: its first read, scan and min/max pass are not needed either.
 *
 * Undefined where an option does not apply (see {@link groupsMeasuredTogether}) or the blocks give way to the
 * whole weight (a NaN or ±Infinity, a scale past what the kernels take, no WebAssembly SIMD): the caller measures
 * each option as before.
 *
 * @example
 * ```ts
 * const blocking = fileBlocking([4096, 4096], groups32, FILE_BLOCK_BYTES)!;
 * const got = await measureGroupsInBlocks(range, [4096, 4096], [groups32, groups64, groups128], {}, blocking, 'float32', storedOf, 1);
 * got?.measured[1].overall.mse; // measureWeightInBlocks' for groups64, to the bit (and its sqnrDb, maxAbsError)
 * got?.channels?.mins;           // each column's minimum
 * ```
 * @module
 */
import { reductionLayout } from '../calibration/granularity.js';
import { dtypeInfo } from '../dtype.js';
import { InvalidArgumentError } from '../errors.js';
import type { FileRange } from '../io/byte-source.js';
import type { FileWeightDType } from '../io/weights.js';
import { cpuMinMax } from '../kernels/cpu/cpu-minmax.js';
import { cpuQuantizeErrorSums, cpuQuantizeErrorsPair } from '../kernels/cpu/cpu-quantize-measure.js';
import { scanFinite } from '../kernels/cpu/cpu-scan.js';
import type { QParams } from '../qtensor.js';
import { blockScratchTaker } from './block-scratch.js';
import { type FileBlockReader, openFileBlocks } from './file-block-reader.js';
import { groupLayoutOf, mergeGroupRanges, rangesMerge } from './group-ranges.js';
import type { FileBlocking } from './file-blocking.js';
import type { WeightDecision } from './policy.js';
import { belowFloorOf } from './quality-floor.js';
import { type QuantizeWeightOptions, nonFiniteStats, paramShapeOf } from './quantize-weight.js';
import { storedScales } from './stored-scales.js';
import { overallOfSums } from './measure-weight.js';
import type { BlockMeasurements, ChannelRanges } from './weight-file-blocks.js';
import type { ErrorStats } from '../stats/types.js';
import type { StoredOf, StoredParameters } from './budget-measure.js';
import { holdWeight } from './weight-buffers.js';
import { signedExtremeOfRanges } from './weight-range.js';

/** One option as {@link measureGroupsInBlocks} measures it: its errors (the overall statistics but cosine and clipping). */
export interface GroupOptionMeasured extends Pick<BlockMeasurements, 'meanSquare'> {
  overall: Pick<ErrorStats['overall'], 'mse' | 'sqnrDb' | 'maxAbsError' | 'count'>;
  /** How its parameters are stored: `storedOf` of the whole weight's parameters (from its blocks', see {@link storedOfBlocks}). */
  stored?: StoredParameters;
}

/** What {@link measureGroupsInBlocks} gives. */
export interface GroupsMeasured {
  /** Each option's measurements, in the order given: measureWeightInBlocks' to the bit. */
  measured: GroupOptionMeasured[];
  /** Each channel's range along the `channelAxis` asked for (another axis than the groups'). */
  channels?: ChannelRanges;
}

/**
 * The storage of a weight's parameters from its blocks' ({@link StoredOf} of each block's parameters in turn, `so
 * far` the blocks' before): float16 scales where every block's are, zero points where any block's are stored. What
 * StoredOf gives the whole weight, whose rules hold for every parameter (storedParametersOf: every scale a float16
 * value; every zero point of a 4-bit weight 0).
 *
 * @example
 * ```ts
 * storedOfBlocks({ scaleBits: 16, zeroPoints: false }, { zeroPoints: true }); // { zeroPoints: true }
 * ```
 */
export function storedOfBlocks(soFar: StoredParameters | undefined, block: StoredParameters): StoredParameters {
  if (!soFar) return block;
  const scaleBits = soFar.scaleBits === block.scaleBits ? block.scaleBits : undefined;
  return { ...(scaleBits !== undefined ? { scaleBits } : {}), zeroPoints: (soFar.zeroPoints ?? true) || (block.zeroPoints ?? true) };
}

/**
 * Whether `decision` is an option {@link measureGroupsInBlocks} measures with others read in `blocking`: groups, each
 * block with groups of its own (`'rows'`: along a later axis, or along the rows in blocks of whole groups), with the
 * signed extremes' parameters from each group's min and max (symmetric 'extreme' range, min/max calibration).
 *
 * @example
 * ```ts
 * groupsMeasuredTogether(int4Groups32, fileBlocking([4096, 4096], int4Groups32, FILE_BLOCK_BYTES)); // true
 * groupsMeasuredTogether(int8PerChannel, fileBlocking([4096, 4096], int8PerChannel, FILE_BLOCK_BYTES)); // false
 * ```
 */
export function groupsMeasuredTogether(decision: WeightDecision, blocking: FileBlocking | undefined): boolean {
  return blocking?.mode === 'rows' && rangesMerge(decision) && (decision.axis !== 0 || blocking.rowsPerBlock % decision.groupSize! === 0);
}

/**
 * Measures `options` of the weight at `range` of `shape` (stored as `dtype`), every one of them
 * {@link groupsMeasuredTogether} in `blocking` along the same axis, each group size a multiple of the first's (the
 * smallest), from one read (module documentation), with `storedOf` their parameters' storage, and with `channelAxis`
 * (≥ 1, not the groups' axis) the channels' ranges along that axis. No option's parameters are kept (each block's go
 * into memory of a block's size, used again by the next). Undefined where the caller must measure each option alone.
 * Rejects with the file's errors.
 *
 * @example
 * ```ts
 * const got = await measureGroupsInBlocks(range, shape, options, { roundScale }, blocking, 'float16', storedOf, 1);
 * got?.measured[0].stored; // { scaleBits: 16, zeroPoints: true }
 * ```
 */
export async function measureGroupsInBlocks(
  range: FileRange, shape: readonly number[], options: readonly WeightDecision[], quantizeOptions: Pick<QuantizeWeightOptions, 'roundScale'> & { readAhead?: boolean },
  blocking: FileBlocking, dtype: FileWeightDType, storedOf?: StoredOf, channelAxis?: number,
): Promise<GroupsMeasured | undefined> {
  const { rowsPerBlock, count, rest } = blocking;
  const first = options[0];
  const [smallest, axis] = [first?.groupSize, first?.axis];
  if (smallest === undefined || axis === undefined
    || !options.every((d) => groupsMeasuredTogether(d, blocking) && d.axis === axis && d.groupSize! % smallest === 0)) return undefined;
  if (channelAxis !== undefined && !(channelAxis >= 1 && channelAxis < shape.length && channelAxis !== axis)) return undefined;
  const countOf = (blockShape: readonly number[], d: WeightDecision) => paramShapeOf(blockShape, d).reduce((a, b) => a * b, 1);
  const paramCounts = options.map((d) => countOf(shape, d));
  const blockMax = countOf([rowsPerBlock, ...rest], first!);
  const scratch = blockScratchTaker();
  let file: FileBlockReader | undefined;
  try {
    file = await openFileBlocks(range, blocking, dtype, (placeShape) => holdWeight(placeShape, first!), { readAhead: quantizeOptions.readAhead, scratch: scratch.bytes });
    const ranges = { mins: scratch.float32(blockMax), maxs: scratch.float32(blockMax) };
    const merged = { mins: scratch.float32(blockMax), maxs: scratch.float32(blockMax) };
    // Each option's parameters for the block, kept until every option is measured.
    const scales64 = options.map(() => scratch.float64(blockMax));
    const blockScales = options.map(() => scratch.float32(blockMax));
    const blockZeroPoints = options.map(() => scratch.int32(blockMax));
    // The first two options measured side by side where their groups run along the rows of a 2-D weight.
    const paired = options.length >= 2 && axis === 0 && shape.length === 2 && shape[1]! % 4 === 0 && options[0]!.dtype === options[1]!.dtype;
    const stored: (StoredParameters | undefined)[] = options.map(() => undefined);
    const carries = options.map(() => new Float64Array(8));
    const channels = channelAxis === undefined ? undefined : shape[channelAxis]!;
    const channelMins = new Float32Array(channels ?? 0).fill(Infinity);
    const channelMaxs = new Float32Array(channels ?? 0).fill(-Infinity);
    const paramAt = options.map(() => 0);
    let peak = 0;
    for (let b = 0; b < count; b++) {
      const { x } = await file.read(b);
      const scan = scanFinite(x.data);
      if (scan.firstNonFinite >= 0) return undefined;
      peak = Math.max(peak, scan.maxAbs);
      // The smallest groups' ranges, as a tensor of the block's shape with the groups' axis shortened to its groups.
      const groupShape = paramShapeOf(x.shape, first!);
      const outputs = groupShape.reduce((a, b) => a * b, 1);
      const found = cpuMinMax(x.data, reductionLayout(x.shape, { axis, groupSize: smallest }), { mins: ranges.mins.subarray(0, outputs), maxs: ranges.maxs.subarray(0, outputs) });
      const [mins, maxs] = [found.mins, found.maxs];
      if (channels !== undefined) {
        // A channel's range is its groups' (along another axis, each group lies in one channel).
        const low = cpuMinMax(mins, reductionLayout(groupShape, { axis: channelAxis! })).mins;
        const high = cpuMinMax(maxs, reductionLayout(groupShape, { axis: channelAxis! })).maxs;
        for (let c = 0; c < channels; c++) {
          channelMins[c] = Math.min(channelMins[c]!, low[c]!);
          channelMaxs[c] = Math.max(channelMaxs[c]!, high[c]!);
        }
      }
      const layout = groupLayoutOf(groupShape, axis);
      const params: QParams[] = [];
      for (const [k, decision] of options.entries()) {
        const merge = decision.groupSize! / smallest;
        const own = countOf(x.shape, decision);
        if (merge > 1) mergeGroupRanges(mins, maxs, layout, merge, merged);
        const into = { scales: blockScales[k]!.subarray(0, own), zeroPoints: blockZeroPoints[k]!.subarray(0, own) };
        const raw = signedExtremeOfRanges(merge > 1 ? merged.mins.subarray(0, own) : mins, merge > 1 ? merged.maxs.subarray(0, own) : maxs, decision.dtype, into);
        const scales = storedScales(raw.scales, raw.zeroPoints, decision, quantizeOptions, raw.scales);
        if (!(scales instanceof Float32Array) || raw.scales !== into.scales) return undefined;
        paramAt[k]! += own;
        if (storedOf) stored[k] = storedOfBlocks(stored[k], storedOf(into, decision));
        const blockScales64 = scales64[k]!.subarray(0, own);
        blockScales64.set(scales);
        params.push({ scheme: 'per_group_affine', scales: blockScales64, zeroPoints: into.zeroPoints, axis, groupSize: decision.groupSize! });
      }
      try {
        const info = dtypeInfo(first!.dtype);
        if (paired && !cpuQuantizeErrorsPair(x, params[0]!, params[1]!, info, [carries[0]!, carries[1]!])) return undefined;
        for (let k = paired ? 2 : 0; k < options.length; k++) {
          if (!cpuQuantizeErrorSums(x, params[k]!, dtypeInfo(options[k]!.dtype), carries[k]!)) return undefined;
        }
      } catch (error) {
        if (error instanceof InvalidArgumentError) return undefined; // a scale the kernels refuse: measured alone, it says why
        throw error;
      }
    }
    const measured: GroupOptionMeasured[] = [];
    for (const [k, decision] of options.entries()) {
      if (paramAt[k] !== paramCounts[k]) return undefined;
      const { overall: { mse, sqnrDb, maxAbsError, count: elements }, meanSquare } = overallOfSums(carries[k]!, shape);
      const overall = { mse, sqnrDb, maxAbsError, count: elements };
      if (nonFiniteStats(overall)) return undefined;
      if (belowFloorOf(decision, overall.sqnrDb, peak > 0 ? overall.maxAbsError / peak : 0) !== undefined) return undefined;
      measured.push({ overall, meanSquare, ...(stored[k] ? { stored: stored[k] } : {}) });
    }
    return { measured, ...(channels === undefined ? {} : { channels: { axis: channelAxis!, mins: channelMins, maxs: channelMaxs, peak } }) };
  } finally {
    await file?.close();
    scratch.release();
  }
}
