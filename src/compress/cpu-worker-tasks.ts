/**
 * What a CPU worker (cpu-worker.ts) can run, and how arguments, results and errors cross the thread
 * boundary. Each task is one of the library's own CPU-path functions, called with `{ backend: 'cpu' }`, so a
 * worker's result is the bits the calling thread would compute (the same WebAssembly kernels, the same
 * reference fallbacks).
 *
 * Structured clone carries plain objects and typed arrays; a {@link QTensor} is a class with private fields,
 * so it travels as its integers, shape, dtype and parameters, and is rebuilt on the other side. The integers
 * are transferred, not copied.
 *
 * @example
 * ```ts
 * const { message, transfer } = encodeResult('quantizeWeight', await quantizeWeight(x, decision, {}, { backend: 'cpu' }));
 * port.postMessage(message, transfer);
 * decodeResult('quantizeWeight', message); // on the other side: a QuantizedWeight with a QTensor again
 * ```
 * @module
 */
import type { CalibrationResult } from '../calibration/result.js';
import type { CalibrationSpec } from '../calibration/spec.js';
import { FormatError, InvalidArgumentError, LimitExceededError, WorkerError } from '../errors.js';
import type { IntReprArray, QDType } from '../dtype.js';
import { type QParams, QTensor } from '../qtensor.js';
import type { FileRange } from '../io/byte-source.js';
import type { FileWeightDType, WeightInfo } from '../io/weights.js';
import type { Tensor } from '../tensor.js';
import type { GgufEncodePlan, GgufEncoded } from './gguf-encode.js';
import type { GgufPlan } from './gguf-plan.js';
import type { LentParameters } from './lent-parameters.js';
import type { WeightDecision } from './policy.js';
import type { FloorOutcome } from './quality-floor.js';
import type { QuantizedWeight, UnquantizableWeight } from './quantize-weight.js';
import type { RowBlockArgs, RowBlockResult } from './row-block-task.js';
import type { ScaleDType, ScaleRounding } from './scale-storage.js';
import type { MeasuredOptions } from './budget-measure.js';

/** A weight planned for compression: kept for NaN / ±Infinity, or the quality floor's outcome. */
export type PlannedWeight = { kind: 'nonFinite' } | FloorOutcome;

/** A weight a worker reads from its file itself: where its stored bytes lie, their type, and the weight's shape. */
export interface FileWeight {
  range: FileRange;
  dtype: FileWeightDType;
  shape: number[];
}

/** The arguments of each task (a tensor's data may sit on a SharedArrayBuffer: then nothing is copied). */

export interface CpuTaskArgs {
  /** quantizeWeight(x, decision) on the CPU. */
  quantizeWeight: [x: Tensor, decision: WeightDecision];
  /** The safetensors compressor's planning step: a scan for NaN / ±Infinity, then quantizeWithFloor(x, decision). */
  planWeight: [x: Tensor, decision: WeightDecision];
  /**
   * The ONNX compressor's step: quantizeWithFloor(x, decision, { roundScale }), the rounding named. `integers`, a
   * buffer the calling thread is done with (transferred), is memory for the result's integers where it is large
   * enough (QuantizeWeightOptions.integers), so the worker does not touch fresh memory for them.
   */
  floorWeight: [x: Tensor, decision: WeightDecision, rounding: ScaleRounding | undefined, integers?: ArrayBuffer];
  /**
   * floorWeight on a weight the worker reads from a file itself, straight into its kernels' memory (the calling
   * thread holds no copy of it); a weight of many rows a block of about `blockBytes` at a time where that gives
   * the same outcome (weight-file-blocks.ts); with `packNibbles`, a 4-bit weight read in blocks comes back packed
   * two to a byte (blockIntegerBytes: what `integers` needs). `dtype` is the stored values' (default float32;
   * float16 and bfloat16 converted to float32 as they are read). `parameters` (transferred), memory for exactly the
   * weight's parameter count, is where a weight read in blocks gets its parameters: they come back in it.
   * `freshBytes` is how large to make the buffer for its integers where no spare fits (sharedIntegerBytes), at least
   * what it needs.
   */
  floorWeightFile: [
    range: FileRange, shape: number[], decision: WeightDecision, rounding: ScaleRounding | undefined, integers?: ArrayBuffer, blockBytes?: number,
    packNibbles?: boolean, dtype?: FileWeightDType, parameters?: LentParameters, freshBytes?: number,
  ];
  /**
   * planWeight on a float32 weight the worker reads from a file itself (as floorWeightFile reads it): the same
   * answer, with no copy of the weight on the calling thread. `integers` as for floorWeight; `dtype` the stored
   * values' (float16 and bfloat16 converted to float32 as they are read). A 4-bit weight read in blocks comes back
   * packed two to a byte (floorWeightFile's `packNibbles`); `parameters` and `freshBytes` as floorWeightFile's.
   */
  planWeightFile: [
    range: FileRange, shape: number[], decision: WeightDecision, integers?: ArrayBuffer, dtype?: FileWeightDType, parameters?: LentParameters, freshBytes?: number,
  ];
  /**
   * The size budget's measurement of one weight's options (measureOptions, budget-measure.ts) on the CPU, of the
   * weight given (its buffer transferred) or read by the worker from its file; `rounding` as floorWeight's,
   * `scaleDtype` how an ONNX file stores each option's scales (left out: no storage counted); option `keep`'s
   * integers come back too (`MeasuredOptions.kept`, transferred). Undefined where the weight holds a NaN or ±Infinity.
   */
  measureBudgetOptions: [source: Tensor | FileWeight, options: WeightDecision[], rounding: ScaleRounding | undefined, scaleDtype?: ScaleDType, keep?: number];
  /** chooseQParams(x, spec) on the CPU. */
  chooseQParams: [x: Tensor, spec: CalibrationSpec];
  /** quantizePerChannel(x, scales, zeroPoints, axis, dtype) on the CPU. */
  quantizePerChannel: [x: Tensor, scales: ArrayLike<number>, zeroPoints: ArrayLike<number>, axis: number, dtype: QDType];
  /** chooseQParams(x, spec), then quantizePerTensor / PerChannel / PerGroup with those parameters: one round trip. */
  calibrateAndQuantize: [x: Tensor, spec: CalibrationSpec & { dtype: QDType }];
  /** One block of whole rows of a weight quantized per channel along axis 0 (row-block-task.ts). */
  rowBlock: [block: RowBlockArgs];
  /** The GGUF compressor's per-tensor work: encodeGgufTensor(plan, raw), raw being the weight's stored bytes. */
  encodeGgufTensor: [plan: GgufEncodePlan, raw: Uint8Array];
  /**
   * The GGUF compressor's steps for a float32 weight the worker reads from a file itself (the calling thread
   * holds no copy of it): its plan from its largest |x| (ggufPlanOf, as the calling thread plans), and with
   * `encode`, where the plan computes values, encodeGgufTensor of it. `out`, a buffer the calling thread is done
   * with (transferred), is memory for those bytes where it is large enough; they come back in a buffer of their
   * own (transferred), which may be longer than they are. A weight written transposed goes in bands of columns of
   * about `bandBytes` where it is larger than two (gguf-row-stream.ts; default GGUF_BAND_BYTES).
   */
  ggufWeightFile: [range: FileRange, info: WeightInfo, decision: WeightDecision, encode: boolean, out?: ArrayBuffer, bandBytes?: number];
}

/** What each task resolves to. */
export interface CpuTaskResults {
  quantizeWeight: QuantizedWeight | UnquantizableWeight;
  planWeight: PlannedWeight;
  floorWeight: FloorOutcome;
  floorWeightFile: FloorOutcome;
  planWeightFile: PlannedWeight;
  measureBudgetOptions: MeasuredOptions | undefined;
  chooseQParams: CalibrationResult;
  quantizePerChannel: QTensor;
  calibrateAndQuantize: { params: CalibrationResult; q: QTensor };
  rowBlock: RowBlockResult;
  encodeGgufTensor: GgufEncoded;
  ggufWeightFile: { plan: GgufPlan; encoded?: GgufEncoded };
}

/** The name of a task. */
export type CpuTaskName = keyof CpuTaskArgs;

/** A QTensor as it crosses a thread boundary: its integers a value each, or 4-bit ones packed two to a byte. */
interface WireQTensor { wire: 'qtensor'; values?: IntReprArray; nibbles?: Uint8Array; shape: number[]; dtype: QDType; params: QParams }

/** A request: the task, its arguments, and the id its answer carries. */
export interface TaskRequest { id: number; task: CpuTaskName; args: unknown[] }

/** An error as it crosses a thread boundary. */
export interface WireError { name: string; message: string; argument?: string; value?: string }

/** An answer: the result, or the error the task threw. */
export type TaskAnswer = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: WireError };

function toWire(q: QTensor, transfer: ArrayBuffer[]): WireQTensor {
  const nibbles = q.packedNibbles; // held packed: sent as they are, never unpacked here
  const integers = nibbles ? { nibbles } : { values: q.intReprView() };
  const { buffer } = nibbles ?? integers.values!;
  if (buffer instanceof ArrayBuffer && !transfer.includes(buffer)) transfer.push(buffer);
  return { wire: 'qtensor', ...integers, shape: [...q.shape], dtype: q.dtype, params: q.params as QParams };
}

function fromWire(w: WireQTensor): QTensor {
  return new QTensor(w.nibbles ? { nibbles: w.nibbles } : w.values!, w.shape, w.dtype, w.params, 'cpu');
}

/**
 * A weight's result as a message: its integers, and its parameter arrays where each has a buffer of its own,
 * are transferred (a weight of many groups has arrays of megabytes, which a copy would hold twice, and the
 * serialization a third time). The worker made them for this result and keeps no reference to them.
 */
function encodeWeight(result: QuantizedWeight | UnquantizableWeight, transfer: ArrayBuffer[]): unknown {
  if (!result.ok) return result;
  const q = toWire(result.q, transfer);
  const params = result.q.params;
  for (const array of [result.scales, result.zeroPoints, ...(params.scheme === 'per_tensor_affine' ? [] : [params.scales, params.zeroPoints])]) {
    const { buffer } = array;
    if (buffer instanceof ArrayBuffer && array.byteOffset === 0 && array.byteLength === buffer.byteLength && !transfer.includes(buffer)) transfer.push(buffer);
  }
  return { ...result, q };
}

function decodeWeight(result: QuantizedWeight | UnquantizableWeight): QuantizedWeight | UnquantizableWeight {
  return result.ok ? { ...result, q: fromWire(result.q as unknown as WireQTensor) } : result;
}

/**
 * A task's result as a message, with the buffers to transfer (the integers: the worker has no further use of them).
 *
 * @example
 * ```ts
 * const { message, transfer } = encodeResult('quantizePerChannel', q);
 * ```
 */
export function encodeResult<K extends CpuTaskName>(task: K, result: CpuTaskResults[K]): { message: unknown; transfer: ArrayBuffer[] } {
  const transfer: ArrayBuffer[] = [];
  let message: unknown = result;
  if (task === 'quantizePerChannel') message = toWire(result as QTensor, transfer);
  else if (task === 'calibrateAndQuantize') {
    const both = result as CpuTaskResults['calibrateAndQuantize'];
    message = { params: both.params, q: toWire(both.q, transfer) };
  }
  else if (task === 'encodeGgufTensor') {
    const { bytes } = result as GgufEncoded;
    if (bytes.buffer instanceof ArrayBuffer) transfer.push(bytes.buffer);
  } else if (task === 'ggufWeightFile') {
    const bytes = (result as CpuTaskResults['ggufWeightFile']).encoded?.bytes;
    if (bytes?.buffer instanceof ArrayBuffer) transfer.push(bytes.buffer); // the worker made or took it for these bytes
  }
  else if (task === 'quantizeWeight') message = encodeWeight(result as QuantizedWeight | UnquantizableWeight, transfer);
  else if (task === 'measureBudgetOptions') {
    const measured = result as MeasuredOptions | undefined;
    if (measured?.kept) message = { ...measured, kept: { index: measured.kept.index, q: toWire(measured.kept.q, transfer) } };
  }
  else if (task === 'planWeight' || task === 'floorWeight' || task === 'floorWeightFile' || task === 'planWeightFile') {
    const planned = result as PlannedWeight;
    if (planned.kind === 'quantized') message = { ...planned, result: encodeWeight(planned.result, transfer) };
  } else if (task === 'rowBlock') {
    const block = result as RowBlockResult;
    if (block.kind === 'planned') transfer.push(block.rowSums.buffer as ArrayBuffer);
    if ((block.kind === 'planned' || block.kind === 'written') && block.data) transfer.push(block.data.buffer as ArrayBuffer);
  }
  return { message, transfer };
}

/**
 * The inverse of {@link encodeResult}: QTensors rebuilt around the transferred integers.
 *
 * @example
 * ```ts
 * const q = decodeResult('quantizePerChannel', message); // QTensor
 * ```
 */
export function decodeResult<K extends CpuTaskName>(task: K, message: unknown): CpuTaskResults[K] {
  if (task === 'quantizePerChannel') return fromWire(message as WireQTensor) as CpuTaskResults[K];
  if (task === 'calibrateAndQuantize') {
    const both = message as { params: CalibrationResult; q: WireQTensor };
    return { params: both.params, q: fromWire(both.q) } as CpuTaskResults[K];
  }
  if (task === 'quantizeWeight') return decodeWeight(message as QuantizedWeight) as CpuTaskResults[K];
  if (task === 'measureBudgetOptions') {
    const measured = message as (Omit<MeasuredOptions, 'kept'> & { kept?: { index: number; q: WireQTensor } }) | undefined;
    if (measured?.kept) return { ...measured, kept: { index: measured.kept.index, q: fromWire(measured.kept.q) } } as CpuTaskResults[K];
  }
  if (task === 'planWeight' || task === 'floorWeight' || task === 'floorWeightFile' || task === 'planWeightFile') {
    const planned = message as PlannedWeight;
    if (planned.kind === 'quantized') return { ...planned, result: decodeWeight(planned.result) as QuantizedWeight } as CpuTaskResults[K];
  }
  return message as CpuTaskResults[K];
}

/**
 * An error thrown in a worker, as a message.
 *
 * @example
 * ```ts
 * encodeError(new FormatError('bad')); // { name: 'FormatError', message: 'bad' }
 * ```
 */
export function encodeError(error: unknown): WireError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const wire: WireError = { name: error.name, message: error.message };
  if (error instanceof InvalidArgumentError) {
    wire.argument = error.argument;
    wire.value = String(error.value);
  }
  return wire;
}

/**
 * The typed error for an error a worker reported: the library's own error classes as they were thrown
 * (InvalidArgumentError, FormatError, LimitExceededError), anything else as a {@link WorkerError}.
 *
 * @example
 * ```ts
 * decodeError({ name: 'FormatError', message: 'bad' }, 'quantizeWeight') instanceof FormatError; // true
 * ```
 */
export function decodeError(wire: WireError, task: CpuTaskName): Error {
  if (wire.name === 'InvalidArgumentError') return new InvalidArgumentError(wire.argument ?? 'argument', wire.value, wire.message);
  if (wire.name === 'FormatError') return new FormatError(wire.message);
  if (wire.name === 'LimitExceededError') return new LimitExceededError(wire.message);
  return new WorkerError(`a CPU worker failed in ${task}: ${wire.name}: ${wire.message}`);
}
