/**
 * The writing half of compress-safetensors.ts: one planned weight into the safetensors writer (quantized from
 * what planning held, quantized again, or streamed in blocks of rows), with its report, or a kept weight's
 * report; and
 * the layout a file would have if every weight were written as decided, which lets the compressor write the
 * header before planning and each weight as soon as its plan matches.
 *
 * @example
 * ```ts
 * const assumed = assumedLayouts(weights, decisions, { quantizedBy: new Map(), quantizedPairs: [] });
 * const writer = await createSafetensorsWriter(sink, assumed.entries, quantizedFileMetadata(assumed.pairs, {}));
 * // for each weight i, once planned:
 * if (sameLayout(assumed, i, entries, before, metadataPairs)) await writeQuantizedWeight(out, weights[i], plans[i], blockings[i], undefined);
 * ```
 * @module
 */
import { FormatError } from '../errors.js';
import { float32View } from '../io/float-convert.js';
import { toSafetensorsDType } from '../io/safetensors/dtypes.js';
import type { SafetensorsEntry } from '../io/safetensors/header-encode.js';
import { quantizedLayout, quantizedParamBytes, quantizedTensorBytes } from '../io/safetensors/quantized-layout.js';
import type { QuantizedTensorDescription } from '../io/safetensors/quantized-read.js';
import type { SafetensorsWriter } from '../io/safetensors/writer.js';
import { FLOAT_WEIGHT_DTYPES, type WeightInfo, type WeightReader } from '../io/weights.js';
import type { OpOptions } from '../ops/backend.js';
import type { QScheme } from '../qtensor.js';
import type { ErrorStats } from '../stats/types.js';
import type { ResolvedBackend } from '../tensor.js';
import { type TensorReport, describeScheme } from './compress-report.js';
import type { WeightDecision } from './policy.js';
import type { EscalationStep } from './quality-floor.js';
import { type QuantizedWeight, calibrationGranularity, quantizeWeight } from './quantize-weight.js';
import { type RowBlockContext, type RowBlockPlan, type RowBlocking, writeRowBlocks } from './row-block-stream.js';

/**
 * A weight's plan: the reason it is kept (a string, or with the escalations that led there), or its final
 * decision, entries and, when held from planning, its result.
 */
export type Plan = string | { keep: string; steps: EscalationStep[] }
  | { decision: WeightDecision; entries: SafetensorsEntry[]; result?: QuantizedWeight | RowBlockPlan; steps: EscalationStep[] };

/** The safetensors scheme fields of a decision. */
export function schemeOf(decision: WeightDecision): { scheme: QScheme; axis?: number; groupSize?: number } {
  const granularity = calibrationGranularity(decision);
  if (granularity === 'per_tensor') return { scheme: 'per_tensor_affine' };
  if ('groupSize' in granularity) return { scheme: 'per_group_affine', axis: granularity.axis, groupSize: granularity.groupSize };
  return { scheme: 'per_channel_affine', axis: granularity.axis };
}

/** What writing a quantized weight needs. `tensors` and `used` collect the report. */
export interface WeightWriteContext {
  writer: SafetensorsWriter;
  reader: WeightReader;
  /** Row-block streaming, for a weight planned in blocks whose integers were not held. */
  rows: RowBlockContext | undefined;
  backend: OpOptions | undefined;
  counts: { rewritten: number } | undefined;
  tensors: TensorReport[];
  /** 'webgpu' once any weight ran there. */
  used: { backend: ResolvedBackend | undefined };
}

/** A plan that keeps its weight. */
export type KeptPlan = string | { keep: string; steps: EscalationStep[] };

/**
 * The report of kept weight `info`. Writing it is a read and a write in the caller's loop (an async function
 * here would cost promises per tensor, which a file of 200k small tensors feels).
 */
export function keptReport(info: WeightInfo, plan: KeptPlan): TensorReport {
  // A literal rather than a spread: V8 gives it in-object fields, a third of the memory per kept tensor.
  const kept: TensorReport = {
    name: info.name, shape: info.shape, dtypeIn: info.dtype, bytesBefore: info.byteLength, dtypeOut: info.dtype, action: 'keep',
    reason: typeof plan === 'string' ? plan : plan.keep, scheme: 'float (kept)', bytesAfter: info.byteLength,
  };
  if (typeof plan !== 'string') kept.escalations = plan.steps;
  return kept;
}

/**
 * Writes quantized weight `info` as `plan` says and adds its report; `blocking` is how it was planned in
 * blocks of rows, if it was; `pooled` its result quantized again on a worker, if started. Throws FormatError
 * for a weight that cannot be quantized after all.
 */
export async function writeQuantizedWeight(
  out: WeightWriteContext, info: WeightInfo, plan: Exclude<Plan, KeptPlan>, blocking: RowBlocking | undefined,
  pooled: Promise<QuantizedWeight | { ok: false; reason: string }> | undefined,
): Promise<void> {
  const { writer } = out;
  const base = { name: info.name, shape: info.shape, dtypeIn: info.dtype, bytesBefore: info.byteLength, // info is list()'s own copy
    ...(plan.steps.length ? { escalations: plan.steps } : {}) };
  let stats: ErrorStats;
  let bytesAfter = 0;
  let ranOn: ResolvedBackend = 'cpu';
  if (plan.result && !('q' in plan.result)) {
    const planned = plan.result; // row blocks: the integers block by block, then the rows' parameters
    const blocks = planned.data;
    const stream = blocks ? undefined : writeRowBlocks(out.rows!, info, plan.decision, blocking!, planned);
    if (stream && out.counts) out.counts.rewritten++;
    for (let b = 0; b < blocking!.count; b++) {
      const data = blocks ? blocks[b]! : await stream!.take(b);
      await writer.writeChunk(plan.entries[0]!.name, data);
      bytesAfter += data.byteLength;
    }
    const [scale, zeroPoint] = quantizedParamBytes(plan.decision.dtype, planned.scales, planned.zeroPoints);
    await writer.write(plan.entries[1]!.name, scale);
    await writer.write(plan.entries[2]!.name, zeroPoint);
    bytesAfter += scale.byteLength + zeroPoint.byteLength;
    stats = planned.stats;
  } else {
    const result = plan.result ?? (pooled ? await pooled : undefined)
      ?? await quantizeWeight({ data: float32View(await out.reader.read(info.name), info.dtype, info.name), shape: [...info.shape] }, plan.decision, {}, out.backend);
    if (!result.ok) throw new FormatError(`${info.name}: cannot be quantized (${result.reason}); exclude it with --exclude`);
    const [data, scale, zeroPoint] = quantizedTensorBytes(result.q);
    for (const [entry, part] of [[plan.entries[0]!, data], [plan.entries[1]!, scale], [plan.entries[2]!, zeroPoint]] as const) {
      await writer.write(entry.name, part);
    }
    bytesAfter = data.byteLength + scale.byteLength + zeroPoint.byteLength;
    stats = result.stats;
    ranOn = result.q.backend;
  }
  out.used.backend = out.used.backend === 'webgpu' ? 'webgpu' : ranOn;
  out.tensors.push({
    ...base, dtypeOut: plan.decision.dtype, action: 'quantize', reason: plan.decision.reason, scheme: describeScheme(plan.decision),
    bytesAfter, sqnrDb: stats.overall.sqnrDb, mse: stats.overall.mse, maxAbsError: stats.overall.maxAbsError,
    perChannelSqnrDb: stats.perChannel?.sqnrDb, statsAxis: stats.axis, backend: ranOn,
  });
}

/** The file's layout if every weight were written as decided: its entries and metadata pairs, and where each weight's begin. */
export interface AssumedLayouts {
  entries: SafetensorsEntry[];
  /** Metadata pairs of the quantized weights, then the input's own quantized weights' pairs. */
  pairs: [string, string][];
  /** Weight i's entries are entries[first[i] .. first[i + 1] - 1]. */
  first: Int32Array;
  /** Weight i's metadata pair, or undefined when it is kept. */
  pair: ([string, string] | undefined)[];
}

/**
 * The layout of {@link AssumedLayouts}: a weight whose decision quantizes a float dtype is quantized as
 * decided, and every other weight (one the input already holds quantized, listed in `quantizedBy` with its
 * pairs in `quantizedPairs`) is kept. With `planned`, the first `planned.count` weights are as planned: their
 * final entries and metadata pairs, in order.
 *
 * @example
 * ```ts
 * const input = { quantizedBy: new Map(), quantizedPairs: [] };
 * assumedLayouts([{ name: 'w', dtype: 'float32', shape: [4, 8], byteLength: 128 }], [decision], input).entries.length; // 3
 * ```
 */
export function assumedLayouts(
  weights: readonly WeightInfo[], decisions: readonly WeightDecision[],
  input: { quantizedBy: Map<string, QuantizedTensorDescription>; quantizedPairs: [string, string][] },
  planned?: { count: number; entries: readonly SafetensorsEntry[]; pairs: readonly [string, string][] },
): AssumedLayouts {
  const entries: SafetensorsEntry[] = [];
  const pairs: [string, string][] = [];
  const first = new Int32Array(weights.length + 1);
  const pair: ([string, string] | undefined)[] = [];
  const from = planned?.count ?? 0;
  if (planned) {
    for (const entry of planned.entries) entries.push(entry); // loops: push(...) of 100k would overflow the stack
    for (const p of planned.pairs) pairs.push(p);
    pair.length = from;
    first.fill(0, 0, from);
  }
  for (let i = from; i < weights.length; i++) {
    const info = weights[i]!;
    const decision = decisions[i]!;
    first[i] = entries.length;
    if (!input.quantizedBy.has(info.name) && decision.action === 'quantize' && FLOAT_WEIGHT_DTYPES.includes(info.dtype)) {
      const layout = quantizedLayout(info.name, { dtype: decision.dtype, shape: info.shape, ...schemeOf(decision), originalDType: info.dtype });
      for (const entry of layout.entries) entries.push(entry);
      pairs.push(layout.metadata);
      pair.push(layout.metadata);
    } else {
      entries.push({ name: info.name, dtype: toSafetensorsDType(info.dtype, info.name), shape: info.shape });
      pair.push(undefined);
    }
  }
  first[weights.length] = entries.length;
  for (const p of input.quantizedPairs) pairs.push(p);
  return { entries, pairs, first, pair };
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, k) => d === b[k]);

/**
 * Whether weight i's final entries (`entries[before ..]`) and metadata pair (the last of `pairs` when it is
 * quantized) are those `assumed` wrote in the header.
 */
export function sameLayout(assumed: AssumedLayouts, i: number, entries: readonly SafetensorsEntry[], before: number, pairs: readonly [string, string][]): boolean {
  const from = assumed.first[i]!;
  const count = assumed.first[i + 1]! - from;
  if (entries.length - before !== count) return false;
  for (let k = 0; k < count; k++) {
    const a = assumed.entries[from + k]!;
    const e = entries[before + k]!;
    if (a.name !== e.name || a.dtype !== e.dtype || !sameShape(a.shape, e.shape)) return false;
  }
  const expected = assumed.pair[i];
  if (expected === undefined) return true;
  const last = pairs[pairs.length - 1];
  return last !== undefined && last[0] === expected[0] && last[1] === expected[1];
}
