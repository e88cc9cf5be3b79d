/**
 * The script each CPU worker runs (a Node `worker_threads` worker or a module Web Worker; built to
 * `dist/cpu-worker.js`): it answers {@link TaskRequest}s from cpu-worker-pool.ts with the library's CPU path,
 * one task at a time, in the order they arrive. Its WebAssembly kernels are its own instance, so workers never
 * share scratch memory.
 *
 * @example
 * ```ts
 * new Worker(new URL('./cpu-worker.js', import.meta.url), { type: 'module' }); // cpu-worker-pool.ts does this
 * ```
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import type { FileRange } from '../io/byte-source.js';
import { type OpenFileRange, openFileRange, readFileRange } from '../io/safetensors/node-file-source.js';
import { FILE_WEIGHT_BYTES, type FileWeightDType, type WeightInfo, isFileWeightDType } from '../io/weights.js';
import { float32View, toFloat32Into } from '../io/float-convert.js';
import { firstNonFinite, maxAbs } from '../kernels/cpu/cpu-scan.js';
import { chooseQParams } from '../ops/choose-qparams.js';
import { quantizePerChannel, quantizePerGroup, quantizePerTensor } from '../ops/quantize.js';
import type { Tensor } from '../tensor.js';
import {
  type CpuTaskArgs, type CpuTaskName, type CpuTaskResults, type FileWeight, type PlannedWeight, type TaskAnswer, type TaskRequest,
  encodeError, encodeResult,
} from './cpu-worker-tasks.js';
import { type MeasuredOptions, type StoredOf, measureOnCpu } from './budget-measure.js';
import { type LentParameters, lentMemory } from './lent-parameters.js';
import { measureFileInBlocks, releaseMeasuringMemory } from './budget-measure-file.js';
import { type GgufEncoded, encodeGgufTensor, ggufEncodeComputes } from './gguf-encode.js';
import { type GgufPlan, ggufEncodePlanOf, ggufPlanOf } from './gguf-plan.js';
import { ggufBandColumns, ggufColumnsBytes, streamBlockBytes, streamedGgufColumns, streamedGgufWeight, streamedPeak, withFileRange } from './gguf-row-stream.js';
import type { WeightDecision } from './policy.js';
import { type FloorOutcome, quantizeWithFloor } from './quality-floor.js';
import { paramShapeOf, quantizeWeight } from './quantize-weight.js';
import { runRowBlock } from './row-block-task.js';
import { FILE_BLOCK_BYTES, blockIntegerBytes, fileBlocking, packedWithParameters, parametersAfter } from './file-blocking.js';
import { floorWeightInBlocks } from './weight-file-blocks.js';
import { type ScaleDType, type ScaleRounding, scaleRounder, storedParametersOf } from './scale-storage.js';
import { holdWeight, integersBufferOf } from './weight-buffers.js';
import { smallestFitting } from './buffer-slots.js';

const cpu = { backend: 'cpu' } as const;

/**
 * Buffers for the integers of the next weights: those the calling thread sent back, and candidates the quality
 * floor rejected here. At most {@link kSpareBuffers} are kept.
 */
const spare: ArrayBuffer[] = [];
const kSpareBuffers = 2;

/**
 * A spare buffer of at least `byteLength` bytes (the smallest that fits), else a new one of `freshBytes` (at least
 * `byteLength`), and then the largest spare (too small) is let go: weights that grew (or a second model's, with
 * larger integers) leave no spares behind that no weight fits.
 */
function takeSpare(byteLength: number, freshBytes = byteLength): ArrayBuffer {
  const best = smallestFitting(spare, byteLength);
  if (best >= 0) return spare.splice(best, 1)[0]!;
  spare.sort((a, b) => a.byteLength - b.byteLength).pop();
  return new ArrayBuffer(Math.max(byteLength, freshBytes));
}

/** Keeps `buffer` for a later weight, letting the smallest go past the limit. */
function keepSpare(buffer: ArrayBuffer): void {
  spare.push(buffer);
  if (spare.length > kSpareBuffers) spare.sort((a, b) => b.byteLength - a.byteLength).pop();
}

/**
 * quantizeWithFloor of a weight held in the kernels' memory, where every pass reads one copy in place
 * (compress-onnx.ts does the same): `fill` puts its values there (or into `whole`'s place, a new array when
 * none is given, where it cannot be held). The integers go into spare memory (`integers` joins it); the result's
 * buffer is transferred back with it, the others stay spare. With `nonFinite`, a weight with NaN or ±Infinity is
 * `{ kind: 'nonFinite' }` (planWeight's answer).
 */
async function floorHeld(shape: number[], decision: WeightDecision, rounding: ScaleRounding | undefined,
  fill: (data: Float32Array) => void | Promise<void>, whole?: Tensor, integers?: ArrayBuffer, nonFinite = false): Promise<PlannedWeight> {
  const roundScale = scaleRounder(rounding);
  const slot = holdWeight(shape, decision);
  if (integers) keepSpare(integers);
  const taken: ArrayBuffer[] = [];
  let outcome: FloorOutcome | undefined;
  try {
    const data = slot?.data ?? whole?.data ?? new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (data !== whole?.data) await fill(data);
    const take = (byteLength: number) => {
      const buffer = takeSpare(byteLength);
      taken.push(buffer);
      return buffer;
    };
    if (nonFinite && firstNonFinite(data) >= 0) return { kind: 'nonFinite' }; // as planWeight
    outcome = await quantizeWithFloor({ data, shape }, decision, { ...(roundScale ? { roundScale } : {}), integers: take }, cpu);
    return outcome;
  } finally {
    slot?.release();
    const kept = outcome?.kind === 'quantized' ? integersBufferOf(outcome.result.q) : undefined;
    for (const buffer of taken) if (buffer !== kept) keepSpare(buffer);
  }
}

/**
 * A float32 weight (or a float16 or bfloat16 one, `dtype`, converted as toFloat32 does) that a worker reads from
 * its file itself: a block of rows at a time where that gives the whole weight's outcome (weight-file-blocks.ts),
 * else whole, straight into the kernels' memory. With `nonFinite`, a weight with NaN or ±Infinity is
 * `{ kind: 'nonFinite' }` (as planWeight says), not kept by the quality floor.
 */
async function weightFromFile(
  range: FileRange, shape: number[], decision: WeightDecision, rounding: ScaleRounding | undefined, integers: ArrayBuffer | undefined,
  blockBytes = FILE_BLOCK_BYTES, nonFinite = false, dtype: FileWeightDType = 'float32', packNibbles = false, parameters?: LentParameters,
  freshBytes?: number,
): Promise<PlannedWeight> {
  checkFileWeight(range, dtype, shape);
  // A weight of many rows, a block at a time (weight-file-blocks.ts), where it goes as the whole would.
  const blocking = fileBlocking(shape, decision, blockBytes);
  if (blocking) {
    if (integers) keepSpare(integers);
    integers = undefined;
    const paramCount = paramShapeOf(shape, decision).reduce((a, b) => a * b, 1);
    const lent = parameters && lentMemory(parameters, paramCount);
    // A weight packed two to a byte: its parameters after its integers, in one buffer (packedWithParameters), unless
    // the calling thread lent it their own.
    const tail = packNibbles && !lent ? packedWithParameters(decision, blocking, paramCount) : undefined;
    const buffer = takeSpare(tail?.bytes ?? blockIntegerBytes(decision, blocking, packNibbles), freshBytes);
    const roundScale = scaleRounder(rounding);
    const reuse = tail ? parametersAfter(buffer, tail.at, paramCount) : lent;
    let outcome: FloorOutcome | undefined;
    try {
      outcome = await floorWeightInBlocks(range, shape, decision, { ...(roundScale ? { roundScale } : {}), packNibbles, ...(reuse ? { reuse } : {}) }, buffer, blocking, dtype);
    } finally {
      if (!outcome) keepSpare(buffer);
    }
    if (outcome) return outcome;
  }
  return floorHeld(shape, decision, rounding, (data) => fillFromFile(range, dtype, data), undefined, integers, nonFinite);
}

/** Throws InvalidArgumentError where `range` does not hold exactly a `dtype` weight of `shape`. */
function checkFileWeight(range: FileRange, dtype: FileWeightDType, shape: readonly number[]): void {
  const bytes = FILE_WEIGHT_BYTES[dtype] * shape.reduce((a, b) => a * b, 1);
  if (range.byteLength !== bytes) {
    throw new InvalidArgumentError('range', range.byteLength, `${range.path}: ${range.byteLength} bytes for a ${dtype} weight of shape [${shape.join(', ')}] (${bytes} bytes)`);
  }
}

/** Reads a weight from its file straight into `data` (16-bit values read as stored into spare memory, then converted there). */
async function fillFromFile(range: FileRange, dtype: FileWeightDType, data: Float32Array): Promise<void> {
  if (dtype === 'float32') {
    await readFileRange(range, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return;
  }
  const buffer = takeSpare(range.byteLength);
  try {
    const raw = new Uint8Array(buffer, 0, range.byteLength);
    await readFileRange(range, raw);
    toFloat32Into(raw, dtype, data, range.path);
  } finally {
    keepSpare(buffer);
  }
}

/**
 * The size budget's measurement of one weight (measureOptions, budget-measure.ts) on the CPU: the weight held once in
 * the kernels' memory (room for the option with the most parameters) and every option quantized from it in place,
 * each option's integers in the memory of the one before (only the measurements go back, and the integers of option
 * `keep`, quantized into memory of their own).
 */
async function measureBudgetOptions(
  source: Tensor | FileWeight, options: WeightDecision[], rounding: ScaleRounding | undefined, scaleDtype: ScaleDType | undefined, keep?: number,
): Promise<MeasuredOptions | undefined> {
  const shape = [...source.shape];
  if ('range' in source) checkFileWeight(source.range, source.dtype, shape);
  let integers: ArrayBuffer | undefined;
  const take = (byteLength: number) => {
    if (integers) keepSpare(integers);
    return integers = takeSpare(byteLength);
  };
  try {
    const given = 'data' in source ? source.data : undefined;
    const fill = 'range' in source ? (data: Float32Array) => fillFromFile(source.range, source.dtype, data) : (data: Float32Array) => data.set(given!);
    const roundScale = scaleRounder(rounding);
    const storedOf: StoredOf | undefined = scaleDtype ? (result, decision) => storedParametersOf(result, decision, scaleDtype) : undefined;
    // In a file: a block of rows at a time where every option goes so (budget-measure-file.ts), else whole.
    const inBlocks = 'range' in source ? await measureFileInBlocks(source.range, source.dtype, shape, options, roundScale ? { roundScale } : {}, storedOf, keep) : undefined;
    return inBlocks ?? await measureOnCpu(shape, options, fill, given, roundScale ? { roundScale } : {}, take, storedOf, keep);
  } finally {
    if (integers) keepSpare(integers);
  }
}

/** Memory for a tensor's bytes: a spare buffer not much longer than they are, else a new one (it goes to the calling thread). */
function outputBytes(byteLength: number): Uint8Array<ArrayBuffer> {
  const best = smallestFitting(spare, byteLength);
  const taken = best >= 0 && spare[best]!.byteLength <= 2 * byteLength ? spare.splice(best, 1)[0]! : new ArrayBuffer(byteLength);
  return new Uint8Array(taken, 0, byteLength);
}

/**
 * A float32, float16 or bfloat16 weight for a GGUF file that the worker reads from its file itself: its plan from
 * its largest |x|, and with `encode`, where the plan computes values, its bytes in the file (a buffer of their own, transferred)
 * and their statistics. Only what it needs is held: a plan alone, and a weight whose rows are the file's (a
 * safetensors Linear weight [out, in]), are read a block of rows at a time (one spare block; the rows encoded as
 * they come, ggufRowBlockEncoder); a weight written transposed (an ONNX MatMul weight [K, N]), or one whose plan
 * a block changes (NaN, ±Infinity, a block scale past float16), is read whole into spare memory used again from
 * weight to weight.
 */
async function ggufWeightFile(
  range: FileRange, info: WeightInfo, decision: WeightDecision, encode: boolean, out?: ArrayBuffer, bandBytes?: number,
): Promise<{ plan: GgufPlan; encoded?: GgufEncoded }> {
  if (!isFileWeightDType(info.dtype) || range.byteLength !== info.byteLength) {
    throw new InvalidArgumentError('range', range.byteLength, `${range.path}: ${range.byteLength} bytes for ${info.name}, a ${info.dtype} weight of ${info.byteLength} bytes; give the range of its float32, float16 or bfloat16 values`);
  }
  if (out) keepSpare(out);
  // A block at a time where that gives the whole weight's answer, into one spare block: a plan alone, or rows that
  // are the file's; rows that are the file's columns a band of columns at a time.
  if (encode && ggufPlanOf(info, decision, 0).transposed) return (await ggufColumnsFile(range, info, decision, bandBytes)) ?? ggufWeightWhole(range, info, decision);
  const block = takeSpare(streamBlockBytes(info, encode ? undefined : 1));
  let file: OpenFileRange | undefined;
  try {
    file = await openFileRange(range);
    const read = (offset: number, target: Uint8Array) => file!.read(offset, target);
    if (!encode) return { plan: ggufPlanOf(info, decision, (await streamedPeak(info, 1, read, block))!) };
    const streamed = await streamedGgufWeight(info, decision, read, block, outputBytes);
    if (streamed) return streamed;
  } finally {
    await file?.close();
    keepSpare(block);
  }
  return ggufWeightWhole(range, info, decision);
}

/**
 * ggufWeightFile of a float32, float16 or bfloat16 weight written transposed, large enough to go in bands of columns
 * (streamedGgufColumns, gguf-row-stream.ts): a band of columns and a block of stored rows in one spare buffer
 * instead of the whole weight. Undefined where the weight goes whole.
 */
async function ggufColumnsFile(
  range: FileRange, info: WeightInfo, decision: WeightDecision, bandBytes?: number,
): Promise<{ plan: GgufPlan; encoded?: GgufEncoded } | undefined> {
  const columns = isFileWeightDType(info.dtype) ? ggufBandColumns(info.shape, bandBytes) : undefined;
  if (!columns) return undefined;
  const buffer = takeSpare(ggufColumnsBytes(info.shape, columns, info.dtype as FileWeightDType)); // one spare: the output bytes take another
  try {
    return await withFileRange(range, (read) => streamedGgufColumns(info, decision, read, buffer, columns, outputBytes));
  } finally {
    keepSpare(buffer);
  }
}

/** ggufWeightFile of the weight read whole into spare memory: its plan, and its bytes where the plan computes values. */
async function ggufWeightWhole(range: FileRange, info: WeightInfo, decision: WeightDecision): Promise<{ plan: GgufPlan; encoded?: GgufEncoded }> {
  const buffer = takeSpare(range.byteLength);
  try {
    const raw = new Uint8Array(buffer, 0, range.byteLength);
    await readFileRange(range, raw);
    const plan = ggufPlanOf(info, decision, maxAbs(float32View(raw, info.dtype, info.name)));
    const encodePlan = ggufEncodePlanOf(plan);
    return ggufEncodeComputes(encodePlan) ? { plan, encoded: encodeGgufTensor(encodePlan, raw, outputBytes) } : { plan };
  } finally {
    keepSpare(buffer);
  }
}

/** The tasks, each on the CPU path. */
const kTasks: { [K in CpuTaskName]: (...args: CpuTaskArgs[K]) => Promise<CpuTaskResults[K]> } = {
  quantizeWeight: (x, decision) => quantizeWeight(x, decision, {}, cpu),
  async planWeight(x: Tensor, decision) {
    if (firstNonFinite(x.data) >= 0) return { kind: 'nonFinite' };
    return quantizeWithFloor(x, decision, {}, cpu);
  },
  floorWeight: (x, decision, rounding, integers) => floorHeld(x.shape, decision, rounding, (data) => data.set(x.data), x, integers) as Promise<FloorOutcome>,
  floorWeightFile: (range, shape, decision, rounding, integers, blockBytes, packNibbles, dtype, parameters, freshBytes) =>
    weightFromFile(range, shape, decision, rounding, integers, blockBytes, false, dtype, packNibbles, parameters, freshBytes) as Promise<FloorOutcome>,
  planWeightFile: (range, shape, decision, integers, dtype, parameters, freshBytes) =>
    weightFromFile(range, shape, decision, undefined, integers, FILE_BLOCK_BYTES, true, dtype, true, parameters, freshBytes),
  chooseQParams: (x, spec) => chooseQParams(x, spec, cpu),
  quantizePerChannel: (x, scales, zeroPoints, axis, dtype) => quantizePerChannel(x, scales, zeroPoints, axis, dtype, cpu),
  async calibrateAndQuantize(x, spec) {
    const params = await chooseQParams(x, spec, cpu);
    const q = 'groupSize' in params ? await quantizePerGroup(x, params.scales, params.zeroPoints, params.axis, params.groupSize, spec.dtype, cpu)
      : 'scales' in params ? await quantizePerChannel(x, params.scales, params.zeroPoints, params.axis, spec.dtype, cpu)
        : await quantizePerTensor(x, params.scale, params.zeroPoint, spec.dtype, cpu);
    return { params, q };
  },
  measureBudgetOptions,
  rowBlock: (block) => runRowBlock(block),
  encodeGgufTensor: async (plan, raw) => encodeGgufTensor(plan, raw),
  ggufWeightFile,
};

/**
 * Answers requests one after another, in the order they arrive: a task that awaits never lets the next one
 * start (a row block waiting for its turn blocks the thread, and must not block one that came before it).
 */
function inOrder(post: (message: unknown, transfer: ArrayBuffer[]) => void): (request: TaskRequest) => void {
  let queue: Promise<void> = Promise.resolve();
  return (request) => {
    queue = queue.then(() => answer(request)).then(({ answer: message, transfer }) => post(message, transfer)).catch(() => undefined);
  };
}

/** Answers one request. */
async function answer(request: TaskRequest): Promise<{ answer: TaskAnswer; transfer: ArrayBuffer[] }> {
  // Past the size budget's measuring, its memory goes (the chosen schemes' work takes memory of its own).
  if (request.task !== 'measureBudgetOptions') releaseMeasuringMemory();
  try {
    const run = kTasks[request.task] as (...args: unknown[]) => Promise<unknown>;
    const encoded = encodeResult(request.task, (await run(...request.args)) as never);
    return { answer: { id: request.id, ok: true, result: encoded.message }, transfer: encoded.transfer };
  } catch (error) {
    return { answer: { id: request.id, ok: false, error: encodeError(error) }, transfer: [] };
  }
}

interface NodeParentPort {
  on(event: 'message', listener: (request: TaskRequest) => void): void;
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
}

const scope = globalThis as unknown as {
  process?: { versions?: { node?: string } };
  addEventListener(type: 'message', listener: (event: { data: TaskRequest }) => void): void;
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
};
if (typeof scope.process?.versions?.node === 'string') {
  // A port queues what arrives before its listener, so the import may take its time.
  const moduleName = 'node:worker_threads'; // not a literal: the browser build leaves it alone
  const { parentPort } = await (import(/* @vite-ignore */ moduleName) as Promise<{ parentPort: NodeParentPort | null }>);
  if (!parentPort) throw new Error('cpu-worker.js runs as a worker thread: start it with createCpuWorkerPool()');
  parentPort.on('message', inOrder((message, transfer) => parentPort.postMessage(message, transfer)));
} else {
  // Registered while the script runs, so no request is missed.
  const handle = inOrder((message, transfer) => scope.postMessage(message, transfer));
  scope.addEventListener('message', (event) => handle(event.data));
}
