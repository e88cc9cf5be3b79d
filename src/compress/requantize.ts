/**
 * A quantized weight's stored bytes computed again, for a compressor that does not hold every weight's integers
 * until the file is written: the weight is read again from its model and quantized on the CPU with the
 * parameters the first pass chose. Quantizing is exact and the same on every backend, so these are the bytes
 * the first pass produced (the tests compare them).
 *
 * @example
 * ```ts
 * const produce = requantizeLater(model, 'fc1.weight', result.q); // holds the parameters, not the integers
 * tensor.rawData = producedLater(ints.byteLength, produce);        // written by writeParts
 * ```
 * {@link heldIntegers} decides which weights keep their integers in memory.
 * @module
 */
import { dtypeInfo } from '../dtype.js';
import { FormatError } from '../errors.js';
import type { OnnxModel, OnnxWeightInfo } from '../io/onnx/onnx-model.js';
import { quantizePerChannel, quantizePerGroup, quantizePerTensor } from '../ops/quantize.js';
import type { QTensor } from '../qtensor.js';
import { holdFloat32, scratchBoundOf } from '../kernels/cpu/simd-module.js';
import { producedLater } from '../io/onnx/deferred-raw-data.js';
import type { WeightDecision } from './policy.js';
import { type QuantizedWeight, quantizeFiniteWeight } from './quantize-weight.js';
import { type ScaleRounding, scaleRounder } from './scale-storage.js';
import { reusedFloat32 } from './weight-buffers.js';

/**
 * A function giving the bytes a QDQ initializer stores for `q`: one byte per 8-bit integer, two 4-bit integers
 * per byte (`packedData()`), quantized again from weight `name` of `model`. Keeps `q`'s parameters, not `q`.
 * The weight is read into the CPU kernels' memory, where the quantize pass reads it in place; where it cannot be
 * held there, into `scratch` (one array reused by every function sharing it; they run one at a time, as
 * `writeParts` runs them).
 *
 * @example
 * ```ts
 * const bytes = await requantizeLater(model, 'fc1.weight', q)(); // equal to q's stored bytes
 * ```
 */
export function requantizeLater(
  model: OnnxModel, name: string, q: QTensor, scratch: (count: number) => Float32Array = reusedFloat32(), scales32?: Float32Array,
  paramsAgain?: ParamsAgain,
): () => Promise<Uint8Array> {
  const again = quantizeAgainLater(model, name, q, scratch, scales32, paramsAgain);
  const bits = dtypeInfo(q.dtype).bits;
  return async () => {
    const requantized = await again();
    if (bits !== 8) return requantized.packedData();
    const ints = requantized.intReprView();
    return new Uint8Array(ints.buffer, ints.byteOffset, ints.byteLength);
  };
}

/**
 * A function giving `q` quantized again from weight `name` of `model` on the CPU, with `q`'s parameters (the
 * same integers: see the module documentation). Keeps the parameters, not `q`: its scales as `scales32` where
 * that holds the same values (an array the caller keeps anyway, such as the bytes of a written scales tensor), or
 * for channels and groups, `paramsAgain` alone where it makes the same values again (from the bytes a writer
 * wrote: the model holds them anyway).
 *
 * @example
 * ```ts
 * const ints = (await quantizeAgainLater(model, 'fc1.weight', q)()).intReprView(); // equal to q.intReprView()
 * ```
 */
export function quantizeAgainLater(
  model: OnnxModel, name: string, q: QTensor, scratch: (count: number) => Float32Array = reusedFloat32(), scales32?: Float32Array,
  paramsAgain?: ParamsAgain,
): () => Promise<QTensor> {
  const { dtype } = q;
  const params = keptParams(q.params, dtype, scales32, paramsAgain);
  const shape = [...q.shape];
  const elements = q.size;
  const parameters = q.params.scheme === 'per_tensor_affine' ? 1 : q.params.scales.length;
  return async () => {
    const slot = holdFloat32(elements, scratchBoundOf(elements, parameters, 1));
    try {
      const viewed = await model.readFloat32View(name, slot ? (count) => (count === elements ? slot.data : scratch(count)) : scratch);
      if (slot && viewed !== slot.data) slot.data.set(viewed);
      const x = { data: slot?.data ?? viewed, shape };
      const cpu = { backend: 'cpu' } as const;
      if (params.scheme === 'per_tensor_affine') return await quantizePerTensor(x, params.scale, params.zeroPoint, dtype, cpu);
      const { scales, zeroPoints } = params.again ? params.again() : params;
      return params.scheme === 'per_group_affine'
        ? await quantizePerGroup(x, scales, zeroPoints, params.axis, params.groupSize, dtype, cpu)
        : await quantizePerChannel(x, scales, zeroPoints, params.axis, dtype, cpu);
    } finally {
      slot?.release();
    }
  };
}

/**
 * A channel or group weight's scales and zero points made again, in its order, from bytes a writer keeps (the
 * written scale and zero-point tensors, MatMulNBits' own arrays).
 */
export type ParamsAgain = () => { scales: ArrayLike<number>; zeroPoints: ArrayLike<number> };

/**
 * The parameters a function of {@link quantizeAgainLater} keeps: the values, or (`again`) a function making them
 * again from arrays the caller keeps anyway.
 */
type KeptParams =
  | { scheme: 'per_tensor_affine'; scale: number; zeroPoint: number }
  | {
    scheme: 'per_channel_affine' | 'per_group_affine'; axis: number; groupSize: number;
    scales: Float64Array | Float32Array; zeroPoints: Int32Array | Int8Array | Uint8Array; again?: undefined;
  }
  | { scheme: 'per_channel_affine' | 'per_group_affine'; axis: number; groupSize: number; again: ParamsAgain };

/** Whether `a` and `b` hold the same numbers (a loop: a callback per element costs more than the compare). */
function sameValues(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * {@link compactParams}, or for channels and groups whose parameters `paramsAgain` makes again (checked once here:
 * the same values), nothing but that function.
 */
function keptParams(
  params: QTensor['params'], dtype: QTensor['dtype'], given?: Float32Array, paramsAgain?: ParamsAgain,
): KeptParams {
  if (paramsAgain && params.scheme !== 'per_tensor_affine') {
    const again = paramsAgain();
    if (sameValues(again.scales, params.scales) && sameValues(again.zeroPoints, params.zeroPoints)) {
      return { scheme: params.scheme, axis: params.axis, groupSize: params.scheme === 'per_group_affine' ? params.groupSize : 0, again: paramsAgain };
    }
  }
  return compactParams(params, dtype, given);
}

/**
 * `params` in less memory, the same values: float32 scales where every scale is a float32 value (as written ones
 * are; `given`, an array kept anyway, where it holds them), zero points a byte each for 8- and 4-bit types (signed
 * or not, as the type; groups of 32 keep 5/32 of a byte a weight instead of 3/2, or 1/32 with the scales shared).
 */
function compactParams(params: QTensor['params'], dtype: QTensor['dtype'], given?: Float32Array): KeptParams {
  if (params.scheme === 'per_tensor_affine') return params;
  const same = (scales32: Float32Array) => sameValues(scales32, params.scales);
  let scales: Float32Array | Float64Array = params.scales;
  if (given && same(given)) {
    scales = given;
  } else {
    const copy = Float32Array.from(params.scales);
    if (same(copy)) scales = copy;
  }
  return {
    scheme: params.scheme, axis: params.axis, groupSize: params.scheme === 'per_group_affine' ? params.groupSize : 0,
    scales,
    zeroPoints: dtype === 'qint8' || dtype === 'qint4' ? Int8Array.from(params.zeroPoints)
      : dtype === 'quint8' || dtype === 'quint4' ? Uint8Array.from(params.zeroPoints) : params.zeroPoints,
  };
}

/** The integers a compressor holds for writing, up to a limit (see {@link heldIntegers}). */
export interface HeldIntegers {
  /**
   * `bytes` (q's stored bytes) when they fit within the limit, or with `keep` (counted either way), else a
   * placeholder quantized again when written.
   */
  store(name: string, q: QTensor, bytes: Uint8Array, keep?: boolean, scales32?: Float32Array, paramsAgain?: ParamsAgain): Uint8Array;
  /**
   * As `store`, for bytes laid out from q's integers by `pack` (MatMulNBits and GatherBlockQuantized blocks): the
   * placeholder quantizes the weight again and packs its integers.
   */
  storeBlocks(
    name: string, q: QTensor, bytes: Uint8Array, pack: (values: ArrayLike<number>) => Uint8Array, keep?: boolean,
    groupsAgain?: ParamsAgain,
  ): Uint8Array;
  /** Counts bytes held that cannot be produced again. */
  add(byteLength: number): void;
  /**
   * Holds a weight's written tensors (`parts`: its integers, counted as `store` counts them, then its scales and zero
   * points) that `again` computes anew, all of them, from the weight alone: once they are dropped, their placeholders
   * call it (once for all of them) and nothing holds the parameters. For integers held to be written at once (as
   * planned), in place of `store`, whose placeholder would keep the parameters. Where the model cannot be read again,
   * the integers are only counted.
   */
  rewritable(parts: readonly Uint8Array[], again: () => Promise<Uint8Array[]>): void;
  /**
   * For bytes `store` or `rewritable` was given: a placeholder that computes them again when written (they no longer
   * count); else undefined.
   */
  drop(bytes: Uint8Array): Uint8Array | undefined;
}

/**
 * Placeholder producers for each of `count` parts that `again` computes together: the first one called computes
 * them, and the parts are let go once each has been taken (a part taken again computes them anew).
 */
function sharedParts(count: number, again: () => Promise<Uint8Array[]>): (index: number) => () => Promise<Uint8Array> {
  let pending: Promise<Uint8Array[]> | undefined;
  let left = 0;
  return (index) => async () => {
    if (!pending) {
      pending = again();
      left = count;
    }
    const parts = pending;
    if (--left === 0) pending = undefined;
    return (await parts)[index]!;
  };
}

/**
 * Holds integers for writing up to `limitBytes`; past that (where `model` can be read again: `enabled`), a weight's
 * integers become a {@link producedLater} placeholder that {@link requantizeLater} fills when it is written.
 *
 * @example
 * ```ts
 * const held = heldIntegers(model, 256 * 2 ** 20, true);
 * writeQdq(model, name, { ...q, data: held.store(name, result.q, bytes) }, names);
 * ```
 */
export function heldIntegers(model: OnnxModel, limitBytes: number, enabled: boolean): HeldIntegers {
  let heldBytes = 0;
  const scratch = reusedFloat32(); // one array for every weight read again (one at a time)
  const counted = new WeakSet<Uint8Array>(); // integers held (heldBytes counts them)
  const again = new WeakMap<Uint8Array, () => Promise<Uint8Array>>();
  const rewrite = new WeakMap<Uint8Array, () => Promise<Uint8Array>>(); // parts a weight computes anew, together
  const count = (bytes: Uint8Array) => {
    heldBytes += bytes.byteLength;
    counted.add(bytes);
  };
  const hold = (bytes: Uint8Array, produce: (() => Promise<Uint8Array>) | undefined, keep: boolean): Uint8Array => {
    if (produce && !keep && heldBytes + bytes.byteLength > limitBytes) return producedLater(bytes.byteLength, produce);
    count(bytes);
    if (produce) again.set(bytes, produce);
    return bytes;
  };
  return {
    store(name, q, bytes, keep = false, scales32, paramsAgain) {
      return hold(bytes, enabled ? requantizeLater(model, name, q, scratch, scales32, paramsAgain) : undefined, keep);
    },
    storeBlocks(name, q, bytes, pack, keep = false, groupsAgain) {
      const quantized = enabled ? quantizeAgainLater(model, name, q, scratch, undefined, groupsAgain) : undefined;
      return hold(bytes, quantized && (async () => pack((await quantized()).intReprView())), keep);
    },
    add(byteLength) { heldBytes += byteLength; },
    rewritable(parts, computeAgain) {
      count(parts[0]!);
      if (!enabled) return;
      const part = sharedParts(parts.length, computeAgain);
      parts.forEach((bytes, index) => rewrite.set(bytes, part(index)));
    },
    drop(bytes) {
      const produce = rewrite.get(bytes) ?? again.get(bytes);
      if (!produce) return undefined;
      rewrite.delete(bytes);
      again.delete(bytes);
      if (counted.delete(bytes)) heldBytes -= bytes.byteLength;
      return producedLater(bytes.byteLength, produce);
    },
  };
}

/**
 * A function quantizing a weight of `model` again on the CPU, from the input alone, as the first pass did: its
 * decision (the one it came out as, after any escalation) with the scale rounding `roundingOf` gives it. The same bits
 * as the first time on any backend, so a written weight's scales and zero points need not be held to write it again;
 * a weight that does not quantize again (the input changed under it) throws FormatError. Weights are read one at a
 * time into one reused array where they are not aligned float32 views.
 *
 * @example
 * ```ts
 * const again = weightsAgain(model, () => undefined);
 * const result = await again(model.list()[0]!, decision); // result.scales: the first pass's scales
 * ```
 */
export function weightsAgain(
  model: OnnxModel, roundingOf: (info: OnnxWeightInfo) => ScaleRounding | undefined,
): (info: OnnxWeightInfo, decision: WeightDecision) => Promise<QuantizedWeight> {
  const scratch = reusedFloat32();
  return async (info, decision) => {
    const roundScale = scaleRounder(roundingOf(info));
    const data = await model.readFloat32View(info.name, scratch);
    const again = await quantizeFiniteWeight({ data, shape: info.shape }, decision, roundScale ? { roundScale } : {}, { backend: 'cpu' });
    if (!again.ok) throw new FormatError(`${model.name}: weight ${JSON.stringify(info.name)} quantized the first time, not again (${again.reason}); leave the input as it is while it is compressed`);
    return again;
  };
}
