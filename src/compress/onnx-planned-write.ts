/**
 * A single-file ONNX output written while its weights are compressed: "written as planned".
 *
 * A protobuf model states every length before the bytes it covers, and the quantized weights' tensors come after the
 * nodes and the kept weights, so a model file can only be written once its layout is known. The layout follows from
 * the plan when every weight comes out as decided (no escalation, no weight kept for its values, float16 scales where
 * the plan stores them so): the compressor commits each weight into a copy of the model ({@link cloneModel}) as
 * {@link assumedOutcome} says, with every new tensor's bytes a {@link filledLater} placeholder, and encodes it. Then,
 * as each real weight is committed, {@link PlannedWrite} checks its new tensors against the plan's (their count and
 * lengths) and writes the file up to and including their bytes; the compressor lets go of the integers (or
 * MatMulNBits / GatherBlockQuantized blocks) once written (they are quantized again from the input, and packed again,
 * if the file has to be written a second time). When every weight is in,
 * the real model's encoding is compared with what was written: the same structure byte for byte, and at each
 * placeholder the real tensor's bytes. A weight or a layout other than planned empties the sink (`restart()`), and
 * the file is written after the work, as for a sink that cannot start again. The same bytes either way.
 *
 * @example
 * ```ts
 * const planned = new PlannedWrite(sink, cloneOfModelAsPlanned.encodeParts(), fills);
 * await planned.commit(i, addedSince(model, mark), drop); // after each weight, in order
 * if (await planned.finish(model.encodeParts(), drop)) await sink.close();
 * ```
 * @module
 */
import { dtypeInfo } from '../dtype.js';
import { filledLater, isFilledLater, isPlaceholder, writeParts } from '../io/onnx/deferred-raw-data.js';
import { OnnxModel, type OnnxWeightInfo } from '../io/onnx/onnx-model.js';
import type { TensorProto } from '../io/onnx/proto.js';
import type { ByteSink } from '../io/safetensors/sinks.js';
import type { QTensor } from '../qtensor.js';
import type { ErrorStats } from '../stats/types.js';
import type { WeightDecision } from './policy.js';
import type { FloorOutcome } from './quality-floor.js';
import { paramShapeOf } from './quantize-weight.js';

/** A copy of a message tree: objects and arrays copied (prototypes kept), byte arrays shared. */
function cloneMessage<T>(value: T): T {
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return value;
  if (Array.isArray(value)) return value.map(cloneMessage) as T;
  const out = Object.create(Object.getPrototypeOf(value) as object) as Record<string, unknown>;
  for (const key of Object.keys(value)) out[key] = cloneMessage((value as Record<string, unknown>)[key]);
  return out as T;
}

/**
 * A copy of `model` to commit a plan into: its own messages, the tensors' bytes shared (tensors still in the input
 * file stay the same placeholders, so the copy's encoding passes them on as the model's does).
 *
 * @example
 * ```ts
 * const planned = cloneModel(model); // writing into planned leaves model as it was
 * ```
 */
export function cloneModel(model: OnnxModel): OnnxModel {
  return new OnnxModel(cloneMessage(model.proto), model.byteLength, { name: model.name });
}

/** Assumed parameters shared between weights, by count and zero point (they are only read). */
export type AssumedParameters = Map<string, { scales: Float32Array; zeroPoints: Int32Array }>;

/**
 * The outcome the plan assumes for a weight to quantize: quantized with `decision`, its integers a placeholder of
 * their stored length, scales 1 (a float16 value) and zero points 0 (symmetric) or 1 (affine), so that the commit
 * lays out the tensors the real outcome will. The statistics are not used. With `shared`, weights with as many
 * parameters share one array of each (a model's groups of 32 would otherwise fill fresh memory an eighth of its
 * float weights' size).
 *
 * @example
 * ```ts
 * const shared: AssumedParameters = new Map();
 * commit(planned, info, decision, assumedOutcome(info, decision, shared));
 * ```
 */
export function assumedOutcome(info: OnnxWeightInfo, decision: WeightDecision, shared: AssumedParameters = new Map()): FloorOutcome {
  const paramShape = paramShapeOf(info.shape, decision);
  const parameters = paramShape.reduce((a, b) => a * b, 1);
  const zeroPoint = assumedZeroPoint(decision);
  const key = `${parameters}:${zeroPoint}`;
  let assumed = shared.get(key);
  if (!assumed) shared.set(key, assumed = { scales: new Float32Array(parameters).fill(1), zeroPoints: new Int32Array(parameters).fill(zeroPoint) });
  const elements = info.shape.reduce((a, b) => a * b, 1);
  const stored = dtypeInfo(decision.dtype!).bits === 8 ? elements : Math.ceil(elements / 2);
  // The integers as placeholders: 4-bit ones packed (every writer takes them so), 8-bit ones a byte each.
  const q = { packedNibbles: filledLater(stored), intReprView: () => filledLater(elements), backend: 'cpu' } as unknown as QTensor;
  const stats = { overall: { sqnrDb: Infinity, mse: 0, maxAbsError: 0 } } as unknown as ErrorStats;
  return {
    kind: 'quantized', decision, steps: [],
    result: {
      ok: true, q, stats, paramShape, scales: assumed.scales, zeroPoints: assumed.zeroPoints,
    },
  };
}

/**
 * A zero point as the real ones will be laid out: the symmetric one (0 for signed types: 4-bit ones then store
 * none), or, for the 'extreme' range (a positive extreme takes the zero point one lower) and affine schemes, one
 * that is not 0 (4-bit zero points are stored when any is not 0).
 */
function assumedZeroPoint(decision: WeightDecision): number {
  const unsigned = decision.dtype === 'quint8' || decision.dtype === 'quint4';
  const middle = unsigned ? (decision.dtype === 'quint8' ? 128 : 8) : 0;
  return decision.range === 'extreme' || !decision.symmetric ? middle - 1 : middle;
}

/** Whether two byte arrays hold the same bytes. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The main graph's initializers now, to tell those a commit adds ({@link addedSince}).
 *
 * @example
 * ```ts
 * const mark = initializerMark(model);
 * ```
 */
export function initializerMark(model: OnnxModel): Set<TensorProto> {
  return new Set((model.proto.graph?.initializer ?? []) as TensorProto[]);
}

/**
 * The main graph's initializers added since `mark`, in order.
 *
 * @example
 * ```ts
 * addedSince(model, mark).map((t) => t.name); // ['fc1.weight_quantized', 'fc1.weight_scale']
 * ```
 */
export function addedSince(model: OnnxModel, mark: Set<TensorProto>): TensorProto[] {
  return ((model.proto.graph?.initializer ?? []) as TensorProto[]).filter((t) => !mark.has(t));
}

/** Lets go of a written tensor's bytes (the compressor swaps held integers for a placeholder that computes them again). */
export type DropWritten = (tensor: TensorProto) => void;

/**
 * Writes a planned model's `parts` to `sink` as the real weights come in (see the module documentation). `fills`
 * holds, per weight, the {@link filledLater} placeholders of the tensors its commit adds, in order.
 */
export class PlannedWrite {
  readonly #sink: ByteSink;
  readonly #parts: readonly Uint8Array[];
  readonly #fills: readonly (readonly Uint8Array[])[];
  readonly #tensorOf = new Map<Uint8Array, TensorProto>();
  #next = 0;
  #active = true;

  constructor(sink: ByteSink, parts: readonly Uint8Array[], fills: readonly (readonly Uint8Array[])[]) {
    this.#sink = sink;
    this.#parts = parts;
    this.#fills = fills;
  }

  /** False once a weight or the layout differed from the plan (the sink was emptied). */
  get active(): boolean { return this.#active; }

  /**
   * Weight `i` is committed, adding `added` to the model: written up to and including their bytes when they are the
   * tensors planned (count and lengths), else the plan is given up.
   */
  async commit(i: number, added: readonly TensorProto[], drop: DropWritten): Promise<void> {
    if (!this.#active) return;
    const planned = this.#fills[i] ?? [];
    if (added.length !== planned.length || added.some((t, j) => t.rawData.byteLength !== planned[j]!.byteLength)) {
      await this.#abandon();
      return;
    }
    planned.forEach((fill, j) => this.#tensorOf.set(fill, added[j]!));
    await this.#writeForward(drop);
  }

  /**
   * Every weight is committed and the model finished: true when its encoding `parts` is what was planned (then the
   * rest is written and the file is complete), else false (the sink emptied: write `parts` to it).
   */
  async finish(parts: readonly Uint8Array[], drop: DropWritten): Promise<boolean> {
    if (!this.#active) return false;
    const same = parts.length === this.#parts.length && this.#parts.every((planned, k) => {
      const real = parts[k]!;
      if (isFilledLater(planned)) return this.#tensorOf.get(planned)?.rawData === real;
      return planned === real || (!isPlaceholder(planned) && !isPlaceholder(real) && sameBytes(planned, real));
    });
    if (!same) {
      await this.#abandon();
      return false;
    }
    await this.#writeForward(drop);
    return this.#next === this.#parts.length;
  }

  /** Writes parts in order while their bytes are known; each tensor filled in is then dropped. */
  async #writeForward(drop: DropWritten): Promise<void> {
    const write = (chunk: Uint8Array) => this.#sink.write(chunk);
    for (; this.#next < this.#parts.length; this.#next++) {
      const part = this.#parts[this.#next]!;
      if (!isFilledLater(part)) {
        await writeParts([part], write);
        continue;
      }
      const tensor = this.#tensorOf.get(part);
      if (!tensor) return; // a later weight's
      await writeParts([tensor.rawData], write);
      drop(tensor);
    }
  }

  async #abandon(): Promise<void> {
    this.#active = false;
    this.#tensorOf.clear();
    await this.#sink.restart!();
  }
}
