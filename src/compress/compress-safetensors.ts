/**
 * Compresses the weights of any reader (safetensors, or an ONNX model's weights) into a quantized
 * safetensors file (layout `webgpu-quant/1`, see io/safetensors/quantized-layout.ts), one tensor at a time.
 * Each weight is planned: read and held to the quality floor (quality-floor.ts; escalations decide its final
 * scheme, or keep it), float64 weights outside float32's range kept (float64-range.ts). The header must say
 * what every weight became, so:
 * - where the sink can start again (`restart()`: nodeFileSink, memorySink), the header is written first as the
 *   decisions say, and each weight as soon as its plan matches it: one pass over the input, the disk busy
 *   while the rest is planned. The first plan that differs empties the sink and the rest goes as below.
 * - otherwise the whole file is planned first, then each weight written, its quantized form held from
 *   planning (up to 256 MiB of packed integers in all) or read and quantized again, so memory stays bounded.
 * The bytes are the same either way. With a worker pool, both run on it, weights per channel along axis 0 in
 * blocks of whole rows (safetensors-weight-write.ts writes each weight); a float32, float16 or bfloat16 weight of a
 * reader that knows where it lies on disk (floatFileRangeOf: an ONNX model's or a safetensors file's float32 ones,
 * a safetensors file's 16-bit ones) is read by its worker itself (`planWeightFile`, a block of rows at a time where that gives the same outcome), with no copy on
 * this thread; without a pool such a weight is planned the same way on this thread (safetensors-weight-plan.ts).
 *
 * A safetensors input keeps its `__metadata__` keys (all but `format` and `generator`, which describe the
 * output). Weights it already holds quantized ("webgpu-quant/1") are kept as they are, with their
 * `webgpu_quant.*` metadata; to quantize them again under a new policy, compress `dequantizedReader(reader)`.
 *
 * @example
 * ```ts
 * const reader = await openSafetensorsFile('model.safetensors');
 * const decisions = decideWeights(reader.list(), { dtype: 'qint8' });
 * const report = await compressToSafetensors(reader, decisions, await nodeFileSink('model.q8.safetensors'));
 * report.totals.compressionRatio; // ≈ 3.9 for float32 weights
 * ```
 * @module
 */
import { type OpOptions, checkOpOptions, getBackend } from '../ops/backend.js';
import { toSafetensorsDType } from '../io/safetensors/dtypes.js';
import { quoteName } from '../io/safetensors/header-parse.js';
import {
  QUANTIZED_METADATA_PREFIX, quantizedDataByteLength, quantizedFileMetadata, quantizedLayout,
} from '../io/safetensors/quantized-layout.js';
import { type QuantizedSource, type QuantizedTensorDescription, describeQuantized } from '../io/safetensors/quantized-read.js';
import type { SafetensorsReader } from '../io/safetensors/reader.js';
import type { ByteSink } from '../io/safetensors/sinks.js';
import { COPY_PIECE_BYTES, copyFileRange } from '../io/safetensors/node-file-source.js';
import { type SafetensorsWriter, createSafetensorsWriter } from '../io/safetensors/writer.js';
import type { SafetensorsEntry } from '../io/safetensors/header-encode.js';
import { FLOAT_WEIGHT_DTYPES, type WeightInfo, type WeightReader, floatFileRangeOf, isFileWeightDType } from '../io/weights.js';
import { dtypeInfo } from '../dtype.js';
import type { ResolvedBackend } from '../tensor.js';
import { type CompressionTotals, type TensorReport, compressionTotals } from './compress-report.js';
import { type CpuWorkerPool, POOL_IN_FLIGHT_BYTES, POOL_MIN_BYTES, checkPool, poolTasksInFlight } from './cpu-worker-pool.js';
import { lookahead } from './lookahead.js';
import { readAhead } from './read-ahead.js';
import { spareIntegers } from './spare-integers.js';
import type { WeightDecision } from './policy.js';
import { FILE_BLOCK_BYTES, fileBlocking, sharedIntegerBytes } from './file-blocking.js';
import { integersBufferOf } from './weight-buffers.js';
import type { QuantizedWeight } from './quantize-weight.js';
import { ROW_BLOCK_BYTES, type RowBlocking, SlotRing, planRowBlocks, rangeReaderOf, rowBlocking } from './row-block-stream.js';
import {
  type KeptPlan, type Plan, type WeightWriteContext, assumedLayouts, keptReport, sameLayout, schemeOf, writeQuantizedWeight,
} from './safetensors-weight-write.js';
import { NON_FINITE_KEPT, type PlannedSafetensorsWeight, ownFloat32, planSafetensorsWeight } from './safetensors-weight-plan.js';
import { WEBGPU_QUANT_VERSION } from './version.js';

/** Kept tensors up to this size are read into one reused buffer (the writer copies them on). */
const kScratchBytes = 64 * 1024;

/** Quantized weights held from the planning pass for the writing pass (packed bytes); beyond it, computed again. */
const kHeldBytes = 256 * 2 ** 20;

/** The most shared memory for blocks of rows in flight (the ring's slots). */
const kRingBytes = 256 * 2 ** 20;

/** Times a sink written as planned starts again before the file is written only after planning. */
const kMaxRestarts = 2;

/** Integers of weights planned in row blocks kept for writing (within heldBytes): beyond it, quantized again block by block. */
const kBlockHeldBytes = 32 * 2 ** 20;

/** Options of {@link compressToSafetensors}. */
export interface CompressSafetensorsOptions {
  /**
   * CPU worker threads (createCpuWorkerPool): when the backend resolves to the CPU, weights of 256 KiB and
   * more are quantized on them, several at once, and written in order: the same bytes and the same report as
   * without a pool. Weights per channel along axis 0 of a reader with `readRangeInto` (a SafetensorsReader)
   * stream in blocks of whole rows through shared memory (row-block-stream.ts), so memory stays at a few blocks
   * per worker whatever their size; others go whole. The caller owns the pool (closes it). A worker that dies
   * fails the call with WorkerError; the sink is aborted, so nothing is written.
   */
  pool?: CpuWorkerPool;
  /** @internal Quantized bytes held from planning for writing (default 256 MiB); tests lower it to reach the recompute path. */
  heldBytes?: number;
  /** @internal Float32 bytes per block of rows (default 8 MiB); tests lower it to stream small weights in blocks. */
  rowBlockBytes?: number;
  /**
   * @internal Counted here: weights planned in row blocks, and of those, written from blocks quantized again;
   * and how often a sink written as planned had to start again.
   */
  rowBlockCounts?: { planned: number; rewritten: number; restarts?: number };
  /** @internal Write as planned where the sink can restart (default true); false writes only after planning. */
  speculate?: boolean;
}

/** The report of {@link compressToSafetensors}. */
export interface SafetensorsCompressionReport {
  format: 'safetensors';
  tensors: TensorReport[];
  totals: CompressionTotals & { fileBytesAfter: number };
  /** As OnnxCompressionReport.backend: 'webgpu' if any weight ran there. */
  backend: ResolvedBackend | undefined;
  seconds: number;
}

/** What the output takes over from an input that has safetensors metadata (a SafetensorsReader or a dequantizedReader). */
interface InputMetadata {
  /** Tensor name → the input's quantized weight it belongs to (data, scale or zero point). */
  quantizedBy: Map<string, QuantizedTensorDescription>;
  /** The input's `webgpu_quant.*` pairs, copied verbatim. */
  quantizedPairs: [string, string][];
  /** Every other key but `format` and `generator`, which describe the output file itself. */
  userKeys: Record<string, string>;
}

function inputMetadata(reader: WeightReader): InputMetadata {
  const out: InputMetadata = { quantizedBy: new Map(), quantizedPairs: [], userKeys: {} };
  const source = reader as Partial<QuantizedSource>;
  if (!(source.metadata instanceof Map)) return out;
  for (const [key, value] of source.metadata) {
    if (key === 'format' || key === 'generator' || key.startsWith(QUANTIZED_METADATA_PREFIX)) continue;
    Object.defineProperty(out.userKeys, key, { value, enumerable: true, writable: true, configurable: true }); // any key, even '__proto__'
  }
  if (typeof source.info !== 'function' || typeof source.has !== 'function') return out;
  for (const d of describeQuantized(source as QuantizedSource).values()) {
    out.quantizedPairs.push([`${QUANTIZED_METADATA_PREFIX}${d.name}`, source.metadata.get(`${QUANTIZED_METADATA_PREFIX}${d.name}`)!]);
    for (const entry of d.layout.entries) out.quantizedBy.set(entry.name, d);
  }
  return out;
}

/**
 * Writes `reader`'s weights to `sink` as a quantized safetensors file, quantizing those whose decision
 * says so. `decisions` are in `reader.list()` order. Weights with NaN / ±Infinity are kept as they are and
 * reported. Throws FormatError for a damaged input; the sink is aborted on any failure.
 */
export async function compressToSafetensors(
  reader: WeightReader, decisions: readonly WeightDecision[], sink: ByteSink, backend?: OpOptions,
  onProgress?: (progress: { done: number; total: number; name: string }) => void, options: CompressSafetensorsOptions = {},
): Promise<SafetensorsCompressionReport> {
  const started = performance.now();
  try {
    checkPool(options.pool, 'options.pool');
  } catch (error) {
    await sink.abort(error);
    throw error;
  }
  const weights = reader.list();
  const input = inputMetadata(reader);
  // With a pool on the CPU path, big weights are planned (and, when not held, quantized again) on the workers,
  // up to poolTasksInFlight(pool) at once, and committed here in order. 'auto' with a pool is the CPU path, and acquires no
  // device (autoComputesOnCpu); its options are checked all the same.
  const autoOnPool = (backend?.backend ?? 'auto') === 'auto' && backend?.device === undefined && options.pool !== undefined;
  if (autoOnPool) checkOpOptions(backend);
  const onCpu = autoOnPool || (await getBackend(backend)) === 'cpu';
  const pool = options.pool && onCpu ? options.pool : undefined;
  const toPool = (i: number): boolean => pool !== undefined && decisions[i]!.action === 'quantize' && !input.quantizedBy.has(weights[i]!.name)
    && FLOAT_WEIGHT_DTYPES.includes(weights[i]!.dtype) && weights[i]!.byteLength >= POOL_MIN_BYTES;
  // Weights per channel along axis 0 stream through the pool in blocks of whole rows (row-block-stream.ts), but for
  // float32, float16 and bfloat16 ones in a file on disk, which each worker reads itself (planWeightFile, in blocks of its own: no shared
  // ring, and no integers held for the whole block stream).
  const rangeReader = pool && rangeReaderOf(reader);
  const blockings: (RowBlocking | undefined)[] = [];
  let slotBytes = 0; // a loop, not Math.max(...): a file may hold 100k tensors
  for (let i = 0; rangeReader && i < weights.length; i++) {
    const onDisk = toPool(i) && (await floatFileRangeOf(reader, weights[i]!)) !== undefined;
    const blocking = toPool(i) && !onDisk ? rowBlocking(weights[i]!, decisions[i]!, options.rowBlockBytes ?? ROW_BLOCK_BYTES) : undefined;
    blockings[i] = blocking;
    if (blocking) slotBytes = Math.max(slotBytes, blocking.rowsPerBlock * blocking.rowBytes);
  }
  // Two blocks per worker and two more, within kRingBytes (at least two slots).
  const slots = Math.max(2, Math.min(2 * (pool?.size ?? 0) + 2, Math.floor(kRingBytes / Math.max(1, slotBytes))));
  const rows = rangeReader && pool && slotBytes > 0 ? { reader: rangeReader, pool, ring: new SlotRing(slots, slotBytes) } : undefined;
  // Where the sink can start again (restart()), the header is written first as the decisions say and each weight
  // right after its plan, so the disk works while the rest is planned; the first plan that differs (a weight
  // escalated or kept) empties the sink, and the file is written again after planning, as a sink without
  // restart() always is (the weights written so far are quantized again).
  let assumed = options.speculate !== false && typeof sink.restart === 'function' ? assumedLayouts(weights, decisions, input) : undefined;
  const fileMetadata = (pairs: [string, string][]) => quantizedFileMetadata(pairs, { ...input.userKeys, generator: `webgpu-quant ${WEBGPU_QUANT_VERSION}` });
  let writer: SafetensorsWriter | undefined;
  if (assumed) writer = await createSafetensorsWriter(sink, assumed.entries, fileMetadata(assumed.pairs));
  let restarts = 0;
  // Integers of row-block weights kept from planning, up to kBlockHeldBytes; while written as planned, three times
  // that: the weight being written and the two being planned (a plan starts before the weight before it is written,
  // and one not kept is read and quantized again to be written).
  let blockHeld = 0;
  const planRows = async (i: number, blocking: RowBlocking): Promise<PlannedSafetensorsWeight> => {
    const info = weights[i]!;
    const elements = blocking.rows * blocking.rest.reduce((a, b) => a * b, 1);
    const packed = dtypeInfo(decisions[i]!.dtype).bits === 4 ? Math.ceil(elements / 2) : elements;
    const keep = blockHeld + packed <= Math.min(options.heldBytes ?? kHeldBytes, (writer ? 3 : 1) * kBlockHeldBytes);
    if (keep) blockHeld += packed;
    const planned = await planRowBlocks(rows!, info, decisions[i]!, blocking, keep);
    if (keep && (planned === 'nonFinite' || !planned)) blockHeld -= packed; // nothing kept after all
    if (planned === 'nonFinite') return { keep: NON_FINITE_KEPT, steps: [] };
    if (!planned) return planSafetensorsWeight(reader, info, decisions[i]!, backend, pool); // escalated or kept on the whole weight
    if (options.rowBlockCounts) options.rowBlockCounts.planned++;
    return { decision: decisions[i]!, steps: [], result: planned };
  };
  const floatBytes = (i: number): number => (blockings[i] ? POOL_IN_FLIGHT_BYTES / 2
    : (weights[i]!.byteLength / (weights[i]!.dtype === 'float32' ? 4 : weights[i]!.dtype === 'float64' ? 8 : 2)) * 4);
  const spares = onCpu ? spareIntegers() : undefined;
  // A worker's fresh buffer for a weight's integers as large as any weight of as many elements needs (sharedIntegerBytes).
  const freshBytes = pool ? sharedIntegerBytes(weights, decisions, FILE_BLOCK_BYTES, true) : [];
  const planAhead = lookahead(weights.length, (i) => (blockings[i] ? planRows(i, blockings[i]!) : toPool(i) ? planSafetensorsWeight(reader, weights[i]!, decisions[i]!, backend, pool, undefined, spares, false, freshBytes[i]) : undefined),
    floatBytes, poolTasksInFlight(pool), POOL_IN_FLIGHT_BYTES);
  // Per weight: the quantized layout, or the reason it is kept. Kept weights need nothing else here, so a
  // file of many small tensors costs one header entry and one report each; a kept weight with no
  // escalation is just its reason.
  const plans: Plan[] = [];
  let heldBytes = 0; // quantized results kept from planning for writing, up to kHeldBytes; the rest are computed again
  let entries: SafetensorsEntry[] = [];
  const metadataPairs: [string, string][] = [];
  // Small kept tensors are read into one scratch buffer when the reader can (no buffer per tensor).
  const readInto = (reader as Partial<Pick<SafetensorsReader, 'readInto'>>).readInto?.bind(reader);
  const scratch = new Uint8Array(readInto ? kScratchBytes : 0);
  const tensors: TensorReport[] = [];
  const used: { backend: ResolvedBackend | undefined } = { backend: undefined };
  const written = { weights: 0 };
  // Quantized weights not held from planning are quantized again, on the pool when there is one.
  const quantizeAgain = (i: number): Promise<QuantizedWeight | { ok: false; reason: string }> | undefined => {
    const plan = plans[i]!;
    if (!pool || typeof plan === 'string' || 'keep' in plan || plan.result || !toPool(i)) return undefined;
    return ownFloat32(reader, weights[i]!).then((data) => pool.run('quantizeWeight', [{ data, shape: [...weights[i]!.shape] }, plan.decision], [data.buffer as ArrayBuffer]));
  };
  const out: WeightWriteContext = { writer: writer!, reader, rows, backend, counts: options.rowBlockCounts, tensors, used };
  const progress = (i: number): void => onProgress?.({ done: ++written.weights, total: weights.length, name: weights[i]!.name });
  // A kept weight is a read and a write in the caller's loop (no async helper: a file of 200k small tensors
  // feels every promise): keptBytes reads it, keptDone reports it.
  const keptBytes = (info: WeightInfo): Promise<Uint8Array> => (readInto && info.byteLength <= kScratchBytes ? readInto(info.name, scratch) : reader.read(info.name));
  /** A kept weight of 8 MiB or more stored in a file is copied from it a piece at a time (writeKept). */
  const copied = (info: WeightInfo): boolean => info.byteLength >= 2 * COPY_PIECE_BYTES;
  const writeKept = async (to: SafetensorsWriter, info: WeightInfo): Promise<void> => {
    const range = await floatFileRangeOf(reader, info);
    if (range) await copyFileRange(range, (piece) => to.writeChunk(info.name, piece));
    else await to.write(info.name, await keptBytes(info));
  };
  const keptDone = (i: number, plan: KeptPlan): void => {
    tensors.push(keptReport(weights[i]!, plan));
    progress(i);
  };
  const write = async (i: number, plan: Exclude<Plan, KeptPlan>, pooled: Promise<QuantizedWeight | { ok: false; reason: string }> | undefined): Promise<void> => {
    const held = plan.result;
    await writeQuantizedWeight(out, weights[i]!, plan, blockings[i], pooled);
    // What was held is written: its memory goes back to the budgets (a row-block plan keeps its parameters).
    if (held && 'q' in held) {
      heldBytes -= quantizedDataByteLength(held.q);
      plan.result = undefined;
      // Integers and parameters from the CPU workers go back to the spares (those the GPU returned were never theirs: not adopted).
      spares?.written(integersBufferOf(held.q));
      spares?.writtenParameters(held);
    } else if (held?.data) {
      blockHeld -= held.data.reduce((n, d) => n + d.byteLength, 0);
      held.data = undefined;
    }
    progress(i);
  };
  // Planned on this thread (no pool): the next such weight is read while this one is planned (float64 ones are
  // read as they come: they are checked for what float32 would lose first).
  // A float32 (float16, bfloat16) weight of a reader that knows where it lies on disk is read a block of rows at a time instead, where
  // its layout allows (planInBlocks).
  const blocksHere = !pool && onCpu && typeof (reader as { float32FileRange?: unknown }).float32FileRange === 'function';
  const inBlocks = (i: number): boolean => blocksHere && isFileWeightDType(weights[i]!.dtype) && fileBlocking(weights[i]!.shape, decisions[i]!, FILE_BLOCK_BYTES) !== undefined;
  const planInputs = pool ? undefined : readAhead(reader, weights, (i) => !input.quantizedBy.has(weights[i]!.name)
    && decisions[i]!.action === 'quantize' && FLOAT_WEIGHT_DTYPES.includes(weights[i]!.dtype) && weights[i]!.dtype !== 'float64' && !inBlocks(i));
  // A failure while planning (a damaged input, a worker that died) aborts the sink: nothing is written.
  try {
    for (let i = 0; i < weights.length; i++) {
      const info = weights[i]!;
      const decision = decisions[i]!;
      const quantizedBy = input.quantizedBy.get(info.name);
      const pooled = planAhead.take(i);
      const before = entries.length;
      if (quantizedBy !== undefined) {
        plans.push(`part of ${quoteName(quantizedBy.name)}, already ${quantizedBy.dtype} ${quantizedBy.scheme}: kept as it is (requantize to change it)`);
        entries.push({ name: info.name, dtype: toSafetensorsDType(info.dtype, info.name), shape: info.shape });
      } else {
        const planned = pooled ? await pooled : decision.action === 'quantize' && FLOAT_WEIGHT_DTYPES.includes(info.dtype)
          ? await planSafetensorsWeight(reader, info, decision, backend, undefined, planInputs?.take(i), spares, blocksHere).finally(() => planInputs?.release(i)) : decision.reason;
        if (typeof planned === 'string' || 'keep' in planned) {
          plans.push(typeof planned === 'string' || planned.steps.length ? planned : planned.keep);
          entries.push({ name: info.name, dtype: toSafetensorsDType(info.dtype, info.name), shape: info.shape });
        } else {
          const { result, steps } = planned;
          const final = planned.decision;
          const packed = 'q' in result ? quantizedDataByteLength(result.q) : 0; // row blocks: kept or not while planning
          const held = 'q' in result ? (heldBytes + packed <= (options.heldBytes ?? kHeldBytes) ? result : undefined) : result;
          if (held) heldBytes += packed;
          const layout = quantizedLayout(info.name, { dtype: final.dtype, shape: info.shape, ...schemeOf(final), originalDType: info.dtype });
          metadataPairs.push(layout.metadata);
          plans.push({ decision: final, steps, entries: layout.entries, ...(held ? { result: held } : {}) });
          entries.push(...layout.entries);
        }
      }
      if (!writer || !assumed) continue;
      if (sameLayout(assumed, i, entries, before, metadataPairs)) {
        const plan = plans[i]!;
        if (typeof plan === 'string' || 'keep' in plan) {
          if (copied(info)) await writeKept(out.writer, info);
          else await out.writer.write(info.name, await keptBytes(info));
          keptDone(i, plan);
        } else await write(i, plan, quantizeAgain(i));
        continue;
      }
      // A plan other than assumed: empty the sink and start again with the plans so far, the weights written
      // before it quantized again; after kMaxRestarts, the file is written once everything is planned.
      await sink.restart!();
      tensors.length = 0;
      used.backend = undefined;
      written.weights = 0;
      if (options.rowBlockCounts) options.rowBlockCounts.restarts = (options.rowBlockCounts.restarts ?? 0) + 1;
      if (++restarts > kMaxRestarts) {
        writer = undefined;
        continue;
      }
      assumed = assumedLayouts(weights, decisions, input, { count: i + 1, entries, pairs: metadataPairs });
      writer = out.writer = await createSafetensorsWriter(sink, assumed.entries, fileMetadata(assumed.pairs));
      for (let k = 0; k <= i; k++) {
        const plan = plans[k]!;
        if (typeof plan === 'string' || 'keep' in plan) {
          if (copied(weights[k]!)) await writeKept(writer, weights[k]!);
          else await writer.write(weights[k]!.name, await keptBytes(weights[k]!));
          keptDone(k, plan);
        } else await write(k, plan, quantizeAgain(k));
      }
    }
  } catch (error) {
    await (writer ? writer.abort(error) : sink.abort(error));
    throw error;
  }
  if (!writer) {
    for (const pair of input.quantizedPairs) metadataPairs.push(pair); // a loop: push(...) of 100k pairs would overflow the stack
    const metadata = fileMetadata(metadataPairs);
    try {
      writer = out.writer = await createSafetensorsWriter(sink, entries, metadata);
    } catch (error) {
      await sink.abort(error);
      throw error;
    }
    entries = []; // the writer has its own placed copies
    const writeAhead = lookahead(weights.length, quantizeAgain, floatBytes, poolTasksInFlight(pool), POOL_IN_FLIGHT_BYTES);
    try {
      for (let i = 0; i < weights.length; i++) {
        const plan = plans[i]!;
        const pooled = writeAhead.take(i);
        if (typeof plan === 'string' || 'keep' in plan) {
          if (copied(weights[i]!)) await writeKept(writer, weights[i]!);
          else await writer.write(weights[i]!.name, await keptBytes(weights[i]!));
          keptDone(i, plan);
        } else await write(i, plan, pooled);
      }
    } catch (error) {
      await writer.abort(error);
      throw error;
    }
  }
  try {
    await writer.close();
  } catch (error) {
    await writer.abort(error);
    throw error;
  }
  return {
    format: 'safetensors', tensors, totals: { ...compressionTotals(tensors), fileBytesAfter: writer.byteLength },
    backend: used.backend, seconds: (performance.now() - started) / 1000,
  };
}
