/**
 * Committing compressed weights into an ONNX model: a weight kept float, or written as QDQ
 * (`DequantizeLinear`), onnxruntime's `MatMulNBits` or `GatherBlockQuantized` as its outcome and layout say,
 * with its report line; then the opset raised for the schemes and webgpu-quant's `metadata_props`. The
 * compressor commits into the model it writes, and, to plan a file written while it works, into a copy as the
 * plan assumes (onnx-planned-write.ts): the same function, so the two lay out the same tensors.
 *
 * @example
 * ```ts
 * const line = commitWeight(context, { model, names, held, keepIntegers: () => false, opset: 0 }, info, decision, outcome);
 * finishModel(target, [line]);
 * ```
 * @module
 */
import { FormatError } from '../errors.js';
import { dtypeInfo } from '../dtype.js';
import { packNibblesInto } from '../pack-nibbles.js';
import type { QTensor } from '../qtensor.js';
import { markOwnPart } from '../io/onnx/deferred-raw-data.js';
import { type GatherBlockTensor, gatherBlockBytes, writeGatherBlockQuantized } from '../io/onnx/gather-block-writer.js';
import type { BlockIntegers } from '../io/onnx/matmul-nbits-blocks.js';
import { type GroupParameters, type MatMulNBitsTensor, matMulNBitsBytes, writeMatMulNBits } from '../io/onnx/matmul-nbits-writer.js';
import type { NameAllocator } from '../io/onnx/names.js';
import type { OnnxModel, OnnxWeightInfo } from '../io/onnx/onnx-model.js';
import { upgradeOpset } from '../io/onnx/opset-upgrade.js';
import { type TensorProto, onnx } from '../io/onnx/proto.js';
import { type ScaleType, scaleBytes, storedParameters, writeQdq, zeroPointBytes } from '../io/onnx/qdq-writer.js';
import { type TensorReport, describeScheme } from './compress-report.js';
import { contribLayout } from './contrib-layout.js';
import { type OnnxOps, nbitsNote } from './matmul-nbits-plan.js';
import type { CompressOnnxOptions } from './onnx-options.js';
import { requiredOpsetFor } from './onnx-plan.js';
import type { WeightDecision } from './policy.js';
import { parametersInIntegers } from './lent-parameters.js';
import type { FloorOutcome } from './quality-floor.js';
import type { QuantizedWeight } from './quantize-weight.js';
import type { HeldIntegers } from './requantize.js';
import { type ScaleDType, storesHalfScales } from './scale-storage.js';
import { ONNX_METADATA_KEY, WEBGPU_QUANT_VERSION } from './version.js';

/**
 * `tensors`, their bytes marked as parts of their own in the model's encoding (as the planned file has them).
 *
 * @example
 * ```ts
 * await planned.commit(i, ownParts(addedSince(model, before)), drop);
 * ```
 */
export function ownParts(tensors: TensorProto[]): TensorProto[] {
  for (const t of tensors) markOwnPart(t.rawData);
  return tensors;
}

/**
 * A model weights are committed into: its names, the integers it holds for writing (`keepIntegers()`: held whatever
 * the bound, while the file is written as planned), the opset its schemes need.
 */
export interface CommitTarget {
  model: OnnxModel;
  names: NameAllocator;
  held: HeldIntegers;
  keepIntegers: () => boolean;
  opset: number;
  /**
   * Called when a commit keeps nothing of the outcome's integers and parameters but in the model's tensors (held to
   * be written at once, as planned: computed anew from the weight should the file be written a second time), so
   * that their memory can go to a later weight once the model lets go of it.
   */
  released?: () => void;
}

/** What the compressor decided once for every weight it commits. */
export interface CommitContext {
  options: CompressOnnxOptions;
  onnxOps: OnnxOps;
  scaleDtype: ScaleDType;
  /** Per-channel 8-bit weights as DequantizeLinear → Mul (opset below 13). */
  viaMul: boolean;
  opsetBefore: number | undefined;
  /**
   * The weight quantized again on the CPU as `decision` says, from the input alone (the same bits as the first
   * time): lets a weight written as planned let go of its scales too.
   */
  weightAgain: (info: OnnxWeightInfo, decision: WeightDecision) => Promise<QuantizedWeight>;
}

/**
 * A QDQ weight's stored integers, scales and (`zeroPoints`) zero points computed again by `weightAgain`. Made outside
 * the commit so that it holds nothing of the first result (a closure keeps its whole scope alive).
 */
function qdqAgain(
  weightAgain: CommitContext['weightAgain'], info: OnnxWeightInfo, decision: WeightDecision, scaleType: ScaleType, zeroPoints: boolean,
): () => Promise<Uint8Array[]> {
  return async () => {
    const again = await weightAgain(info, decision);
    return [again.q.packedData(), scaleBytes(again.scales, scaleType), ...(zeroPoints ? [zeroPointBytes(again.zeroPoints, decision.dtype)] : [])];
  };
}

/**
 * A QTensor's integers as the MatMulNBits and GatherBlockQuantized writers take them: 4-bit ones packed where the
 * QTensor holds them packed (no copy), else one a byte.
 */
function blockIntegersOf(q: QTensor, dtype: WeightDecision['dtype']): BlockIntegers {
  const nibbles = dtypeInfo(dtype).bits === 4 ? q.packedNibbles : undefined;
  return nibbles ? { nibbles } : q.intReprView();
}

/**
 * A MatMulNBits weight's B, or a GatherBlockQuantized table's data, with the scales and zero points, computed again
 * by `weightAgain` and laid out as the writer lays them out (see {@link qdqAgain}).
 */
function blocksAgain(
  weightAgain: CommitContext['weightAgain'], info: OnnxWeightInfo, decision: WeightDecision,
  layout: { op: 'MatMulNBits' | 'GatherBlockQuantized'; blockSize: number; parameters: string; scaleType: 'float32' | 'float16' },
): () => Promise<Uint8Array[]> {
  return async () => {
    const again = await weightAgain(info, decision);
    const [rows, columns] = info.shape as [number, number];
    const q = {
      dtype: decision.dtype as MatMulNBitsTensor['dtype'], scales: again.scales, zeroPoints: again.zeroPoints,
      blockSize: layout.blockSize, scaleType: layout.scaleType,
    };
    return layout.op === 'MatMulNBits'
      ? matMulNBitsBytes({ ...q, values: blockIntegersOf(again.q, decision.dtype), parameters: layout.parameters as MatMulNBitsTensor['parameters'] }, rows, columns)
      : gatherBlockBytes({ ...q, values: blockIntegersOf(again.q, decision.dtype), parameters: layout.parameters as GatherBlockTensor['parameters'] }, rows, columns);
  };
}

/**
 * The float type of a weight's scales in QDQ: its own type for float16 and bfloat16 weights, else float32.
 *
 * @example
 * ```ts
 * scaleTypeOf(model.list()[0]); // 'float32' for a float32 weight
 * ```
 */
export function scaleTypeOf(info: OnnxWeightInfo): ScaleType {
  return info.dtype === 'float16' ? 'float16' : info.dtype === 'bfloat16' ? 'bfloat16' : 'float32';
}

/**
 * The report line of a weight kept float.
 *
 * @example
 * ```ts
 * keptLine(info, 'rank 1 < 2 (biases, norms and scales stay float)').scheme; // 'float (kept)'
 * ```
 */
export function keptLine(info: OnnxWeightInfo, reason: string): TensorReport {
  return {
    name: info.name, shape: info.shape, dtypeIn: info.dtype, dtypeOut: info.dtype, action: 'keep', reason, scheme: 'float (kept)',
    bytesBefore: info.byteLength, bytesAfter: info.byteLength,
  };
}


/**
 * After every weight is committed: raises the opset where the schemes need it and records webgpu-quant in the
 * model's `metadata_props` (format, count and schemes of `tensors`). Returns the nodes rewritten for the opset.
 *
 * @example
 * ```ts
 * const rewritten = finishModel(target, report.tensors); // ['ReduceMean node ...: axes attribute → input ...']
 * ```
 */
export function finishModel(to: CommitTarget, tensors: readonly TensorReport[]): string[] {
  const rewritten = to.opset > 0 ? upgradeOpset(to.model.proto, to.opset, to.names, to.model.name) : [];
  const quantized = tensors.filter((t) => t.action === 'quantize');
  const schemes: Record<string, number> = {};
  for (const t of quantized) schemes[t.scheme] = (schemes[t.scheme] ?? 0) + 1;
  const nbitsCount = quantized.filter((t) => t.onnxOp === 'MatMulNBits').length;
  const gatherCount = quantized.filter((t) => t.onnxOp === 'GatherBlockQuantized').length;
  const qdqCount = quantized.length - nbitsCount - gatherCount;
  const format = [qdqCount || !quantized.length ? 'QDQ' : '', nbitsCount ? 'MatMulNBits' : '', gatherCount ? 'GatherBlockQuantized' : ''].filter(Boolean).join('+');
  const metadata = JSON.stringify({ version: WEBGPU_QUANT_VERSION, format, quantized: quantized.length, schemes });
  const proto = to.model.proto;
  proto.metadataProps = proto.metadataProps.filter((p) => p.key !== ONNX_METADATA_KEY);
  proto.metadataProps.push(onnx.StringStringEntryProto.create({ key: ONNX_METADATA_KEY, value: metadata }));
  return rewritten;
}

/** 4-bit integers, a byte each, packed into `out` (every byte written): QTensor.packedData()'s bytes. */
function packedInto(values: ArrayLike<number>, out: Uint8Array): Uint8Array {
  packNibblesInto(values, 0, values.length, out, 0);
  return out;
}

/** A MatMulNBits layout's scratch (MatMulNBitsTensor.scratch): one array a thread, grown as needed, used again. */
let layoutBytes = new Uint8Array(0);
function layoutScratch(byteLength: number): Uint8Array {
  if (layoutBytes.byteLength < byteLength) layoutBytes = new Uint8Array(byteLength);
  return layoutBytes.subarray(0, byteLength);
}

/**
 * Writes one prepared weight into `to` (in weight order, so names and bytes never depend on timing): kept float, or
 * quantized as `outcome` says (QDQ, MatMulNBits or GatherBlockQuantized), and returns its report line. `packInto`,
 * where given, is memory used again from weight to weight for what the commit lays out from the integers: 4-bit QDQ
 * integers packed two to a byte, a MatMulNBits weight's B, a GatherBlockQuantized table's data.
 *
 * @example
 * ```ts
 * tensors.push(commitWeight(context, target, info, decision, await quantizeWithFloor(x, decision)));
 * ```
 */
export function commitWeight(
  context: CommitContext, to: CommitTarget, info: OnnxWeightInfo, planned: WeightDecision, outcome: FloorOutcome | undefined,
  packInto?: (byteLength: number) => Uint8Array,
): TensorReport {
  const { options, onnxOps, scaleDtype, viaMul, opsetBefore } = context;
  if (planned.action === 'keep' || !outcome) return keptLine(info, planned.reason);
  const escalations = outcome.steps.length ? { escalations: outcome.steps } : {};
  if (outcome.kind === 'keep') {
    if (options.nonFinite === 'error' && !outcome.steps.length) {
      throw new FormatError(`${to.model.name}: weight ${JSON.stringify(info.name)} in ${info.graph} cannot be quantized: ${outcome.reason}; `
        + "fix the weight, exclude it, or pass nonFinite: 'keep' to keep it float");
    }
    return { ...keptLine(info, outcome.reason), ...escalations };
  }
  const { decision, result } = outcome;
  const contrib = onnxOps === 'contrib' ? contribLayout(decision, info) : undefined;
  const eightBit = decision.dtype === 'qint8' || decision.dtype === 'quint8';
  const layout = contrib?.ok && contrib.op === 'MatMulNBits' && eightBit && options.matMulNBits8 === false
    ? { ok: false as const, reason: '8-bit, and matMulNBits8 is false (onnxruntime-web\'s WebGPU EP takes 4-bit MatMulNBits only)' } : contrib;
  const stats = () => {
    const { overall, perChannel, axis } = result.stats;
    return {
      sqnrDb: overall.sqnrDb, mse: overall.mse, maxAbsError: overall.maxAbsError,
      ...(perChannel ? { perChannelSqnrDb: perChannel.sqnrDb, statsAxis: axis! } : {}), backend: result.q.backend, ...escalations,
    };
  };
  if (layout?.ok) {
    const note = layout.op === 'GatherBlockQuantized'
      ? `GatherBlockQuantized, block_size ${layout.blockSize}${layout.parameters === 'groups' ? '' : `, the ${layout.parameters === 'rows' ? 'row' : 'tensor'}'s scale repeated per block`}`
      : nbitsNote(layout, info.shape[0]!);
    // The blocks, written at once (as planned), are let go with the scales and zero points once written, all
    // computed again should the file be written a second time (rewritable, below); else held for writing as the
    // integers are (past the bound, a placeholder that quantizes the weight again and packs it).
    let dataBytes = 0;
    const anew = to.keepIntegers();
    const storeData = (data: Uint8Array, pack: (values: ArrayLike<number>) => Uint8Array, parameters?: () => GroupParameters) => {
      dataBytes = data.byteLength;
      return anew ? data : to.held.storeBlocks(info.name, result.q, data, pack, to.keepIntegers(), parameters);
    };
    // Written as planned, nothing keeps the layout's scratch, and its scales go where B goes (the model lets go of both).
    const reused = anew ? { scratch: layoutScratch, ...(packInto ? { scaleMemory: packInto } : {}) } : {};
    const blocks = {
      values: blockIntegersOf(result.q, decision.dtype), ...(packInto ? { dataMemory: packInto } : {}), ...reused, dtype: decision.dtype, scales: result.scales, zeroPoints: result.zeroPoints, blockSize: layout.blockSize,
      scaleType: info.dtype === 'float16' ? 'float16' as const : 'float32' as const, docString: `webgpu-quant ${WEBGPU_QUANT_VERSION}: ${describeScheme(decision)}, ${note}`,
      storeData,
    };
    const { blockSize, parameters } = layout;
    const written = layout.op === 'GatherBlockQuantized'
      ? writeGatherBlockQuantized(to.model, info.name, { ...blocks, parameters: layout.parameters }, to.names)
      : writeMatMulNBits(to.model, info.name, {
        ...blocks, parameters: layout.parameters, ...(options.accuracyLevel !== undefined ? { accuracyLevel: options.accuracyLevel } : {}),
      }, to.names);
    const { stored } = written;
    if (anew) {
      to.held.rewritable([stored.data.rawData, stored.scale.rawData, ...(stored.zeroPoint ? [stored.zeroPoint.rawData] : [])],
        blocksAgain(context.weightAgain, info, decision, { op: layout.op, blockSize, parameters, scaleType: blocks.scaleType }));
      to.released?.();
    }
    to.held.add(written.byteLength - dataBytes);
    return {
      name: info.name, shape: info.shape, dtypeIn: info.dtype, dtypeOut: decision.dtype, action: 'quantize',
      reason: `${decision.reason}; ${note}`, scheme: `${describeScheme(decision)}, ${layout.op}`, onnxOp: layout.op,
      bytesBefore: info.byteLength, bytesAfter: written.byteLength, ...stats(),
    };
  }
  const qdqNote = layout && !layout.ok && info.consumers.some((c) => c.opType === 'MatMul' || c.opType === 'Gather')
    ? `; QDQ, not ${info.consumers.some((c) => c.opType === 'Gather') ? 'GatherBlockQuantized' : 'MatMulNBits'}: ${layout.reason}` : '';
  const halfScales = info.dtype === 'float32' && scaleDtype === 'float16' && storesHalfScales(result.scales);
  const scheme = `${describeScheme(decision)}${halfScales ? ', float16 scales' : ''}`;
  const channelScalesViaMul = viaMul && decision.granularity === 'channel' && info.dtype === 'float32';
  const packed = result.q.packedNibbles;
  const ints = packed ? undefined : result.q.intReprView();
  // 8-bit integers are their own bytes, and 4-bit ones from the GPU come packed: the QTensor is not used
  // again, so no copy.
  // 4-bit ones a byte each are packed into memory from `packInto` where given (used again from weight to weight).
  const oneByte = ints?.BYTES_PER_ELEMENT === 1;
  const bytes = packed ?? (oneByte && dtypeInfo(decision.dtype).bits === 8 ? new Uint8Array(ints!.buffer, ints!.byteOffset, ints!.length)
    : oneByte && packInto ? packedInto(ints!, packInto(Math.ceil(ints!.length / 2))) : result.q.packedData());
  const scaleType = halfScales ? 'float16' as const : scaleTypeOf(info);
  const keep = to.keepIntegers();
  // The float32 scales kept for quantizing again are the written ones (the DequantizeLinear → Mul form); never those
  // lying after a worker's packed integers, whose buffer goes back to the workers once the model lets go of the
  // integers (a copy is kept then, where the written bytes do not give them again).
  const scales32 = result.scales instanceof Float32Array && !parametersInIntegers(result) ? result.scales : undefined;
  const written = writeQdq(to.model, info.name, {
    data: channelScalesViaMul ? to.held.store(info.name, result.q, bytes, keep, scales32) : bytes,
    dtype: decision.dtype, scales: result.scales, zeroPoints: result.zeroPoints,
    paramShape: result.paramShape, docString: `webgpu-quant ${WEBGPU_QUANT_VERSION}: ${scheme}`,
    ...(halfScales ? { scaleType, scalesCastToFloat32: true } : { scaleType }),
    ...(decision.granularity !== 'tensor' ? { axis: decision.axis! } : {}),
    ...(decision.granularity === 'group' ? { blockSize: Math.min(decision.groupSize!, info.shape[decision.axis!]!) } : {}),
    ...(channelScalesViaMul ? { channelScalesViaMul } : {}),
  }, to.names);
  const { stored } = written;
  if (stored && keep) {
    // Written at once (as planned): then the integers, scales and zero points are all let go, and a second write
    // computes them again from the weight.
    to.held.rewritable([bytes, stored.scale.rawData, ...(stored.zeroPoint ? [stored.zeroPoint.rawData] : [])],
      qdqAgain(context.weightAgain, info, decision, scaleType, stored.zeroPoint !== undefined));
    to.released?.();
  } else if (stored) {
    // Held for writing after the work; past the bound, quantized again when written, with the parameters read back
    // from the written scale and zero-point bytes, which the model holds anyway.
    stored.data.rawData = to.held.store(info.name, result.q, bytes, keep, scales32, storedParameters(stored, scaleType, decision.dtype));
  }
  to.opset = Math.max(to.opset, requiredOpsetFor(decision, info.dtype, viaMul));
  return {
    name: info.name, shape: info.shape, dtypeIn: info.dtype, dtypeOut: decision.dtype, action: 'quantize',
    reason: (channelScalesViaMul ? `${decision.reason}; written as DequantizeLinear → Mul (opset ${opsetBefore} < 13)` : decision.reason) + qdqNote,
    scheme, onnxOp: 'DequantizeLinear', bytesBefore: info.byteLength, bytesAfter: written.byteLength, ...stats(),
  };
}
