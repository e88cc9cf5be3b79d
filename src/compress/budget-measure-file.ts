/**
 * The size budget's measurements of a weight in a file on disk, a block of rows at a time: the int4 group options
 * together from one read (measureGroupsInBlocks, measure-groups-in-blocks.ts, which also finds the int8 option's
 * channel ranges), each other option by measureWeightInBlocks (weight-file-blocks.ts); both give the whole weight's
 * statistics to the bit while holding a block, and the weight's mean square summed in the same order as
 * `meanSquare` over the whole array. A worker measuring a [4096, 4096] weight held it whole in its kernels' memory, with room for the passes of
 * its widest option (int4 groups of 32: half a million parameters), and every option's results until the last:
 * about 200 MiB a worker. Here it holds a block, a block's integers (the options' integers are measured and not
 * kept, 1 MiB where the weight's would take 16), and one option's parameters in memory used again from option to
 * option and weight to weight.
 *
 * @example
 * ```ts
 * const measured = await measureFileInBlocks(range, 'float32', [4096, 4096], options, {});
 * measured?.relativeErrors; // measureOptions' numbers for the same weight, or undefined: measure it whole
 * ```
 * @module
 */
import type { FileRange } from '../io/byte-source.js';
import { toFloat32Into } from '../io/float-convert.js';
import { openFileRange } from '../io/safetensors/node-file-source.js';
import { FILE_WEIGHT_BYTES, type FileWeightDType, type WeightInfo, type WeightReader, floatFileRangeOf, isFileWeightDType } from '../io/weights.js';
import { type MeasuredOptions, type StoredOf, budgetOptionDecisions, measureOnCpu } from './budget-measure.js';
import type { CompressionPolicy, PolicyWeight, WeightDecision } from './policy.js';
import { type QuantizeWeightOptions, paramShapeOf } from './quantize-weight.js';
import { FILE_BLOCK_BYTES, type FileBlocking, blockIntegerBytes, fileBlocking } from './file-blocking.js';
import { type BlockMeasurements, type BlockWeightOptions, type ParamsMemory, floorWeightInBlocks, measureWeightInBlocks } from './weight-file-blocks.js';
import { groupsMeasuredTogether, measureGroupsInBlocks } from './measure-groups-in-blocks.js';
import { rangeSharers } from './group-ranges.js';
import { reusedFloat32 } from './weight-buffers.js';

/** Where a block is converted to float32 for the mean square: one array a thread, reused. */
let blockValues = reusedFloat32();

/** The parameters of each option measured and not kept: one memory a thread, grown as needed, reused. */
let paramsMemory: ParamsMemory = { scales: new Float32Array(0), zeroPoints: new Int32Array(0), scales64: new Float64Array(0) };

/**
 * Lets go of this thread's measuring memory (the options' parameters: 8 MiB for a [4096, 4096] weight's groups of
 * 32; a block's values: 4 MiB). A worker calls it when a task other than measuring comes: the chosen schemes are
 * being written, and that memory would otherwise sit beside theirs to the end.
 *
 * @example
 * ```ts
 * if (request.task !== 'measureBudgetOptions') releaseMeasuringMemory();
 * ```
 */
export function releaseMeasuringMemory(): void {
  if (paramsMemory.scales.length) paramsMemory = { scales: new Float32Array(0), zeroPoints: new Int32Array(0), scales64: new Float64Array(0) };
  blockValues = reusedFloat32();
}

/**
 * The bytes of measuring memory this thread holds now (what {@link releaseMeasuringMemory} lets go of).
 *
 * @example
 * ```ts
 * releaseMeasuringMemory();
 * measuringMemoryBytes(); // 0
 * ```
 */
export function measuringMemoryBytes(): number {
  return paramsMemory.scales.byteLength + paramsMemory.zeroPoints.byteLength + paramsMemory.scales64.byteLength + blockValues(0).buffer.byteLength;
}

function paramsMemoryOf(count: number): ParamsMemory {
  if (paramsMemory.scales.length < count) paramsMemory = { scales: new Float32Array(count), zeroPoints: new Int32Array(count), scales64: new Float64Array(count) };
  return paramsMemory;
}

/**
 * The options measured together (measure-groups-in-blocks.ts): every group option but `keep` that goes in the
 * smallest one's blocks along its axis, smallest group first (each group size a multiple of it), and the channel
 * axis of a per-channel option whose first read their pass makes (`'columns'` without bands, along another axis).
 * Undefined where there is none.
 */
function togetherOf(options: readonly WeightDecision[], blockings: readonly FileBlocking[], keep: number | undefined) {
  const sharers = rangeSharers(options, (k) => k !== keep && groupsMeasuredTogether(options[k]!, blockings[k]));
  const first = sharers[0];
  if (first === undefined) return undefined;
  const chosen = sharers.filter((k) => blockings[k]!.rowsPerBlock === blockings[first]!.rowsPerBlock);
  const { axis } = options[first]!;
  const columns = blockings.findIndex((b, k) => k !== keep && b.mode === 'columns' && !b.bands && options[k]!.axis !== axis);
  return { options: chosen, ...(columns >= 0 ? { channelAxis: options[columns]!.axis! } : {}) };
}

/**
 * The mean of the squares of the weight at `range` (`elements` values stored as `dtype`), summed in order in
 * float64 a block at a time: `meanSquare` of the whole array, to the bit.
 *
 * @example
 * ```ts
 * await meanSquareOfFile(range, 'float32', 4096 * 4096); // meanSquare(wholeWeight)
 * ```
 */
export async function meanSquareOfFile(range: FileRange, dtype: FileWeightDType, elements: number): Promise<number> {
  const stored = FILE_WEIGHT_BYTES[dtype];
  const per = FILE_BLOCK_BYTES / 4;
  const values = blockValues(Math.min(per, elements));
  const bytes = stored === 4 ? undefined : new Uint8Array(stored * values.length);
  const file = await openFileRange(range);
  let sum = 0;
  try {
    for (let first = 0; first < elements; first += per) {
      const count = Math.min(per, elements - first);
      const data = values.subarray(0, count);
      if (!bytes) await file.read(4 * first, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      else {
        const raw = bytes.subarray(0, stored * count);
        await file.read(stored * first, raw);
        toFloat32Into(raw, dtype, data, range.path);
      }
      for (let i = 0; i < count; i++) sum += data[i]! * data[i]!;
    }
  } finally {
    await file.close();
  }
  return elements ? sum / elements : 0;
}

/**
 * Each option with the quality floor off (measured whatever its quality: the floor is the allocator's to judge, and
 * quantizeWeight applies none) and how it goes in blocks of about `blockBytes`; undefined where there are no options
 * or one does not go in blocks.
 */
function blockedOptions(shape: readonly number[], options: readonly WeightDecision[], blockBytes: number): { judged: WeightDecision[]; blockings: FileBlocking[] } | undefined {
  const judged = options.map((d) => ({ ...d, minSqnrDb: -Infinity, maxRelError: Infinity }));
  const blockings = judged.map((d) => fileBlocking(shape, d, blockBytes));
  return options.length === 0 || blockings.some((b) => b === undefined) ? undefined : { judged, blockings: blockings as FileBlocking[] };
}

/**
 * measureOnCpu's measurements of the weight at `range` (`shape`, stored as `dtype`) under each of `options`, read a
 * block of rows at a time (blocks of about `blockBytes` of float32; module documentation); undefined where one
 * option does not go in blocks (fileBlocking),
 * or where the blocks give way to the whole weight (a NaN or ±Infinity, parameters past what float32 stores):
 * measure it whole then. No option's integers are kept (each block's are measured in a block's memory), but the
 * option `keep`'s, in memory of its own, which come back as `kept`.
 *
 * @example
 * ```ts
 * const measured = await measureFileInBlocks(range, 'float16', [4096, 11008], options, { roundScale }, storedOf, 1);
 * measured?.kept?.q; // the int4 groups of 32 integers, as measureOptions keeps them
 * ```
 */
export async function measureFileInBlocks(
  range: FileRange, dtype: FileWeightDType, shape: readonly number[], options: readonly WeightDecision[],
  quantizeOptions: Pick<BlockWeightOptions, 'roundScale' | 'readAhead'>,
  storedOf?: StoredOf, keep?: number, blockBytes = FILE_BLOCK_BYTES,
): Promise<MeasuredOptions | undefined> {
  const blocked = blockedOptions(shape, options, blockBytes);
  if (!blocked) return undefined;
  const { judged, blockings } = blocked;
  // The weight's mean square comes with an option's error sums (the same bits as meanSquareOfFile's pass).
  let energy: number | undefined;
  const mses: number[] = [];
  const measured: MeasuredOptions = { relativeErrors: [], stored: [] };
  // The group options (but the kept one) measured together from one read, with the channels' ranges of a per-channel
  // option, where they go in the same blocks (measure-groups-in-blocks.ts).
  const together = togetherOf(judged, blockings, keep);
  const groups = together && await measureGroupsInBlocks(range, shape, together.options.map((k) => judged[k]!), quantizeOptions, blockings[together.options[0]!]!, dtype,
    storedOf && ((result, decision) => storedOf(result, options[judged.indexOf(decision)]!)), together.channelAxis);
  for (const [k, decision] of judged.entries()) {
    const fromGroups = groups?.measured[together!.options.indexOf(k)];
    if (fromGroups) {
      energy ??= fromGroups.meanSquare;
      mses.push(fromGroups.overall.mse);
      measured.stored.push(fromGroups.stored);
      continue;
    }
    const blocking = blockings[k]!;
    // The kept option's integers and parameters in memory of their own; every other option's parameters in the
    // memory of the one before, and its integers not kept (a block's at a time): a worker's results are freed when
    // they are sent, these only when the worker next collects.
    let result: Omit<BlockMeasurements, 'meanSquare'> | undefined;
    if (k === keep) {
      const outcome = await floorWeightInBlocks(range, shape, decision, quantizeOptions, new ArrayBuffer(blockIntegerBytes(decision, blocking, false)), blocking, dtype);
      if (outcome?.kind === 'quantized') measured.kept = { index: k, q: outcome.result.q };
      result = outcome?.kind === 'quantized' ? { ...outcome.result, overall: outcome.result.stats.overall } : undefined;
    } else {
      const reuse = paramsMemoryOf(paramShapeOf(shape, decision).reduce((a, b) => a * b, 1));
      const channelRanges = groups?.channels;
      const blocks = await measureWeightInBlocks(range, shape, decision, { ...quantizeOptions, reuse, ...(channelRanges ? { channelRanges } : {}) }, blocking, dtype);
      energy ??= blocks?.meanSquare;
      result = blocks;
    }
    if (!result) return undefined;
    mses.push(result.overall.mse);
    measured.stored.push(storedOf?.(result, options[k]!));
  }
  energy ??= await meanSquareOfFile(range, dtype, shape.reduce((a, b) => a * b, 1)); // the kept option alone
  measured.relativeErrors = mses.map((mse) => (energy > 0 ? mse / energy : 0));
  return measured;
}

/**
 * What allocateBudget takes as `measuredElsewhere` on one thread, without a probe, on the CPU path: weight i's
 * measurements, a block of rows at a time from its file ({@link measureFileInBlocks}, on this thread), where
 * `reader` knows where it lies on disk and every option goes in blocks; else undefined, and the allocator measures
 * it itself. A weight the blocks give way to (a NaN, a weight of zeros) is measured whole from `read(i)`, as the
 * allocator would. `weights` are `reader`'s; `rounding` rounds scales before quantizing; `storedOf` how the
 * output stores an option's parameters.
 *
 * @example
 * ```ts
 * const measured = budgetFromFiles(model, weights, decisions, policy, (i) => model.readFloat32(weights[i].name), { roundScale }, storedOf);
 * await allocateBudget(weights, decisions, policy, 6, read, { roundScale }, { backend: 'cpu' }, 'onnx', undefined, storedOf, measured);
 * ```
 */
export function budgetFromFiles(
  reader: WeightReader, weights: readonly (PolicyWeight & WeightInfo)[], decisions: readonly WeightDecision[], policy: CompressionPolicy,
  read: (index: number) => Promise<Float32Array>, quantizeOptions: Pick<QuantizeWeightOptions, 'roundScale'>,
  storedOf?: StoredOf,
): (index: number) => Promise<MeasuredOptions | undefined> | undefined {
  let spare: ArrayBuffer | undefined;
  const integers = (byteLength: number) => (spare && spare.byteLength >= byteLength ? spare : (spare = new ArrayBuffer(byteLength)));
  return (index) => {
    const info = weights[index]!;
    if (decisions[index]!.action !== 'quantize' || !isFileWeightDType(info.dtype)) return undefined;
    const options = budgetOptionDecisions(info, policy).map(([, d]) => d);
    if (!blockedOptions(info.shape, options, FILE_BLOCK_BYTES)) return undefined;
    const dtype = info.dtype;
    return (async () => {
      const range = await floatFileRangeOf(reader, info);
      const inBlocks = range && await measureFileInBlocks(range, dtype, info.shape, options, { ...quantizeOptions, readAhead: true }, storedOf);
      if (inBlocks) return inBlocks;
      const data = await read(index);
      return measureOnCpu(info.shape, options, (held) => held.set(data), data, quantizeOptions, integers, storedOf);
    })();
  };
}
