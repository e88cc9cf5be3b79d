/**
 * `compressToGguf`: the weights of any reader (an ONNX model, safetensors) into a GGUF v3 file for ggml
 * runtimes (llama.cpp and the tools built on it). 2-D weights the policy quantizes become Q8_0 (`qint8`) or
 * Q4_0 (`qint4`) blocks of 32, computed as ggml's reference quantizer does (io/gguf/ggml-blocks.ts); the
 * rest is stored as float (F32, F16, BF16) or integer (I8…I64) tensors. The report measures every
 * quantized weight against the original (SQNR, MSE, max |error|, per output channel) with the library's
 * error statistics, on the values the file holds.
 *
 * Layout (docs/gguf.md): ggml's `mul_mat` wants weights as rows of the input dimension (ne[0] = in,
 * ne[1] = out). A PyTorch / safetensors Linear weight `[out, in]` already is; an ONNX MatMul weight
 * `[K, N]` (K = in) is transposed to `[N, K]`, i.e. ne = [K, N]. In general the policy's group axis (the
 * reduction axis) becomes the row; a 2-D weight grouped along axis 0 is transposed. Weights the policy
 * keeps are written as stored.
 *
 * A tensor without elements (a dimension of 0, such as an ONNX model's empty constant) is left out of the file and
 * listed in the report as such: ggml's loader needs every dimension to be at least 1.
 *
 * Planned weights GGUF cannot block-quantize (rows not a multiple of 32, rank other than 2, NaN / ±Infinity,
 * a block scale past float16's range) fall back to F16 (F32 when float16 cannot hold the values), with the
 * reason and the error in the report.
 *
 * The header names every tensor's type, and a weight's type depends on its values (above). Where the sink can
 * start again (`restart()`: nodeFileSink, memorySink), the header is written first as the decisions say (every
 * weight finite, its block scales within float16) and each tensor right after its plan, from the same read; the
 * first plan that differs empties the sink, the rest is planned, and the file is written after planning, as it
 * always is for a sink without `restart()` (weights then read twice: once to plan, once to write). The same bytes
 * either way.
 *
 * With a CPU worker pool (`options.pool`), tensors of 256 KiB and more whose values are computed are encoded
 * and measured on the workers (gguf-encode.ts, the same function as on the calling thread), up to
 * `poolTasksInFlight(pool)` at once (one per worker, and one queued on a host with a core to spare) within 256 MiB
 * of float32, and their results held for writing (up to 256 MiB of encoded bytes; past that, read and encoded again
 * while the file is written). A float32, float16 or bfloat16
 * weight whose reader knows where it lies on disk (`float32FileRange`: an ONNX model or a safetensors file read
 * from disk; `tensorFileRange` for the 16-bit ones, safetensors) is read, planned and encoded by its worker (the
 * `ggufWeightFile` task, gguf-plan.ts for the plan), with no copy on this thread; any other is read once into a
 * SharedArrayBuffer used again from weight to weight (buffer-slots.ts), planned here, and read by a worker where it
 * lies. Tensors are written in order: the file and the report are those of one thread. Such a weight whose rows
 * are the file's (not written transposed) is read a block of rows at a time (gguf-row-stream.ts; 16-bit values
 * converted block by block), by its worker from the file, or on this thread from a reader that reads ranges
 * (`readRangeInto`: a safetensors reader): the whole weight is held only where a block changes its plan. One
 * written transposed (an ONNX MatMul weight [K, N] of more than two bands of 16 MiB) is encoded a band of columns
 * at a time from its file (streamedGgufColumns), by its worker or on this thread.
 *
 * @example
 * ```ts
 * const model = await OnnxModel.load(bytes);
 * const { decisions } = planOnnxCompression(model, { dtype: 'qint4', granularity: 'group' });
 * const report = await compressToGguf(model, decisions, await nodeFileSink('model.q4_0.gguf'), { name: 'mlp' });
 * report.totals.fileBytesAfter;
 * ```
 * @module
 */
import { FormatError, InvalidArgumentError } from '../errors.js';
import type { FileRange } from '../io/byte-source.js';
import { float32View } from '../io/float-convert.js';
import { GGUF_DEFAULT_ALIGNMENT, GGUF_FILE_TYPE, type GgmlType, ggmlTensorBytes } from '../io/gguf/ggml-types.js';
import { type GgufMetadataEntry, type GgufTensorPlan, type GgufWriter, createGgufWriter } from '../io/gguf/writer.js';
import type { ByteSink } from '../io/safetensors/sinks.js';
import { FLOAT_WEIGHT_DTYPES, type FileWeightDType, type WeightInfo, type WeightReader, floatFileRangeOf, isFileWeightDType, readWeightInto } from '../io/weights.js';
import { COPY_PIECE_BYTES, copyFileRange } from '../io/safetensors/node-file-source.js';
import { maxAbs } from '../kernels/cpu/cpu-scan.js';
import type { ResolvedBackend } from '../tensor.js';
import { type CompressionTotals, type TensorReport, compressionTotals } from './compress-report.js';
import { type CpuWorkerPool, POOL_IN_FLIGHT_BYTES, POOL_MIN_BYTES, checkPool, poolTasksInFlight } from './cpu-worker-pool.js';
import { type GgufEncoded, encodeGgufTensor, ggufEncodeComputes } from './gguf-encode.js';
import { type GgufPlan, ggufEncodePlanOf, ggufPlanOf, ggufPlanReads, sameGgufPlan } from './gguf-plan.js';
import { lookahead } from './lookahead.js';
import { writtenOutputs } from './written-outputs.js';
import { readAhead } from './read-ahead.js';
import { bufferSlots } from './buffer-slots.js';
import { GGUF_STREAM_BLOCK_BYTES, ggufBandColumns, ggufColumnsBytes, streamBlockBytes, type ReadWeightRange, streamedGgufColumns, streamedGgufWeight, streamedPeak, withFileRange } from './gguf-row-stream.js';
import { rangeReaderOf } from './row-block-stream.js';
import type { WeightDecision } from './policy.js';

/** Options of {@link compressToGguf}. */
export interface CompressToGgufOptions {
  /** `general.name`; default 'model'. */
  name?: string;
  /** `general.architecture`; default 'generic' (see docs/gguf.md for what llama.cpp expects). */
  architecture?: string;
  /** Called after each tensor. */
  onProgress?: (progress: { done: number; total: number; name: string }) => void;
  /**
   * CPU worker threads (createCpuWorkerPool): tensors of 256 KiB and more whose values are computed (blocks,
   * float conversions) are encoded and measured on them, several at once, and written in order: the same
   * bytes and report as without a pool. The caller owns the pool (closes it). A worker that dies fails the
   * call with WorkerError; the sink is aborted, so nothing is written.
   */
  pool?: CpuWorkerPool;
  /** @internal Encoded bytes held from planning for writing, with a pool (default 256 MiB); tests lower it to reach the read-again path. */
  heldBytes?: number;
  /** @internal Write as planned where the sink can restart (default true); false writes only after planning. */
  speculate?: boolean;
  /** @internal The bytes of a band of columns of a weight written transposed (default GGUF_BAND_BYTES); tests lower it. */
  bandBytes?: number;
}

/** One tensor's line: the common report plus what the GGUF file holds. */
export interface GgufTensorReport extends TensorReport {
  ggmlType: GgmlType;
  /** ggml dims, ne[0] the row length. */
  ne: number[];
  /** True when rows were taken along axis 0 (an ONNX MatMul weight [K, N] stored as ne = [K, N]). */
  transposed: boolean;
}

/** The report of {@link compressToGguf}. */
export interface GgufCompressionReport {
  format: 'gguf';
  tensors: GgufTensorReport[];
  totals: CompressionTotals & { fileBytesAfter: number };
  /** 'cpu' when anything was quantized (ggml's block quantizer runs on the CPU), else undefined. */
  backend: ResolvedBackend | undefined;
  seconds: number;
}

/** With a pool: encoded tensors held from planning for writing (bytes); beyond it, read and encoded again. */
const kHeldBytes = 256 * 2 ** 20;

/** With a pool: written tensors' buffers kept to go back to the workers. */
const kSpentOutputs = 2;

/**
 * A weight's plan; `read` gives its stored bytes, called only when the plan depends on the values (after the
 * decision's own checks, so a decision GGUF cannot hold fails before any read).
 */
async function planWeight(info: WeightInfo, decision: WeightDecision, read: () => Promise<Uint8Array>): Promise<GgufPlan> {
  const assumed = ggufPlanOf(info, decision, 0);
  if (!ggufPlanReads(info, decision)) return assumed;
  return ggufPlanOf(info, decision, maxAbs(float32View(await read(), info.dtype, info.name))); // only read: float32 bytes where they lie
}

/** Whether the file holds `plan`'s tensor exactly as stored (no conversion, not transposed), and it is big. */
function copiedAsStored(plan: GgufPlan): boolean {
  return !plan.omitted && !plan.transposed && plan.info.byteLength >= 2 * COPY_PIECE_BYTES && !ggufEncodeComputes(ggufEncodePlanOf(plan));
}

function fileType(plans: readonly GgufPlan[]): number {
  const bytes = (t: GgmlType): number => plans.filter((p) => p.type === t).reduce((a, p) => a + p.info.byteLength, 0);
  const q8 = bytes('Q8_0');
  const q4 = bytes('Q4_0');
  if (q8 || q4) return q8 >= q4 ? GGUF_FILE_TYPE.MOSTLY_Q8_0 : GGUF_FILE_TYPE.MOSTLY_Q4_0;
  return bytes('F16') > bytes('F32') ? GGUF_FILE_TYPE.MOSTLY_F16 : GGUF_FILE_TYPE.ALL_F32;
}

/**
 * Writes `reader`'s weights to `sink` as a GGUF v3 file; `decisions` in `reader.list()` order (from
 * `decideWeights` or `planOnnxCompression` with `{ dtype: 'qint8' | 'qint4', granularity: 'group' }`).
 * Throws InvalidArgumentError for a decision GGUF cannot hold (naming the schemes it can) and FormatError
 * for a damaged input or a tensor type GGUF lacks, before anything is written; the sink is aborted on any
 * failure (WorkerError when a worker of `options.pool` died: nothing is written).
 *
 * @example
 * ```ts
 * const reader = await openSafetensorsFile('model.safetensors');
 * const decisions = decideWeights(reader.list(), { dtype: 'qint8', granularity: 'group' });
 * const report = await compressToGguf(reader, decisions, await nodeFileSink('model.q8_0.gguf'));
 * report.tensors.filter((t) => t.ggmlType === 'Q8_0').map((t) => t.sqnrDb);
 * ```
 */
export async function compressToGguf(
  reader: WeightReader, decisions: readonly WeightDecision[], sink: ByteSink, options: CompressToGgufOptions = {},
): Promise<GgufCompressionReport> {
  const started = performance.now();
  const weights = reader.list();
  let writer: GgufWriter | undefined;
  const plans: GgufPlan[] = [];
  // With a pool, big weights are planned and, where their values are computed, encoded on the workers, up to
  // poolTasksInFlight(pool) at once, their results held for writing (up to heldBytes); the rest are read again and encoded
  // on the workers while the file is written. All in order. A worker reads a float32 weight from the file itself
  // where the reader says where it lies; other weights are read here into shared slots and planned here.
  const { pool } = options;
  const held: (GgufEncoded | undefined)[] = [];
  let heldBytes = 0;
  const float32Bytes = (i: number): number => weights[i]!.shape.reduce((a, b) => a * b, 4);
  const computed = (i: number): boolean => ggufEncodeComputes(ggufEncodePlanOf(plans[i]!)) && weights[i]!.byteLength >= POOL_MIN_BYTES;
  const slots = bufferSlots('shared');
  /** A weight the decisions keep as it is stored, big enough to be copied a piece at a time (not read ahead whole). */
  const keptAsStored = (i: number): boolean => decisions[i]?.action === 'keep' && copiedAsStored(ggufPlanOf(weights[i]!, decisions[i]!, 0));
  const readSlots = bufferSlots('local'); // without a pool: the buffers the passes read weights into
  // Where the sink can start again, the header is written first as the decisions say (every weight finite, its
  // block scales within float16), and each tensor as soon as its plan agrees: one read of each weight. The first
  // plan that differs empties the sink; the rest is planned, then the file written after (as for any sink).
  let assumed = options.speculate !== false && typeof sink.restart === 'function' ? [] as GgufPlan[] : undefined;
  // Encodes on the pool from a slot holding the weight's bytes, and gives the slot back once the worker is done.
  const encodeFrom = (plan: GgufPlan, raw: Uint8Array): Promise<GgufEncoded> =>
    pool!.run('encodeGgufTensor', [ggufEncodePlanOf(plan), raw], slots.transfer(raw)).finally(() => slots.give(raw));
  const heldMax = options.heldBytes ?? kHeldBytes;
  // Buffers of bytes a worker encoded, once written: each goes back with a later task, for that tensor's bytes
  // (no fresh memory for each tensor's bytes, on either side; a task waits for the write of a result that came).
  const outputs = writtenOutputs(kSpentOutputs);
  const fromFile = async (range: FileRange, i: number, encode: boolean) => {
    const out = encode ? await outputs.take(i) : undefined;
    const answer = await pool!.run('ggufWeightFile', [range, weights[i]!, decisions[i]!, encode, out, options.bandBytes], out ? [out] : []);
    if (answer.encoded) outputs.arrived(i, answer.encoded.bytes.buffer);
    return answer;
  };
  // A float32 weight in a file on disk is read by its worker itself (no copy here), planned there, and encoded
  // when the assumed plan's bytes fit within heldMax (reserved now, trued up with the answer).
  const planFromFile = async (i: number, range: FileRange): Promise<{ plan: GgufPlan; encoded?: GgufEncoded }> => {
    const info = weights[i]!;
    const assumedPlan = ggufPlanOf(info, decisions[i]!, 0); // a decision GGUF cannot hold fails before any read
    const reserved = ggmlTensorBytes(assumedPlan.type, assumedPlan.ne);
    const encode = heldBytes + reserved <= heldMax;
    if (encode) heldBytes += reserved;
    try {
      const answer = await fromFile(range, i, encode);
      if (encode) heldBytes += answer.encoded?.bytes.byteLength ?? 0;
      return answer;
    } finally {
      if (encode) heldBytes -= reserved;
    }
  };
  const planFromSlot = async (i: number): Promise<{ plan: GgufPlan; encoded?: GgufEncoded }> => {
    const info = weights[i]!;
    const raw = slots.take(info.byteLength);
    let read = false;
    const plan = await planWeight(info, decisions[i]!, async () => {
      read = true;
      return readWeightInto(reader, info, raw);
    }).catch((error: unknown) => {
      slots.give(raw);
      throw error;
    });
    const bytes = ggmlTensorBytes(plan.type, plan.ne);
    if (!read || !ggufEncodeComputes(ggufEncodePlanOf(plan)) || heldBytes + bytes > heldMax) {
      slots.give(raw);
      return { plan };
    }
    heldBytes += bytes;
    return { plan, encoded: await encodeFrom(plan, raw) };
  };
  const planOnPool = (i: number): Promise<{ plan: GgufPlan; encoded?: GgufEncoded }> | undefined => {
    const info = weights[i]!;
    if (!pool || decisions[i]?.action !== 'quantize' || !FLOAT_WEIGHT_DTYPES.includes(info.dtype) || info.byteLength < POOL_MIN_BYTES) return undefined;
    return (async () => {
      const range = await floatFileRangeOf(reader, info);
      return range ? planFromFile(i, range) : planFromSlot(i);
    })();
  };
  const encodeOnPool = (i: number): Promise<GgufEncoded> | undefined => {
    if (!pool || held[i] || !computed(i)) return undefined;
    const info = weights[i]!;
    return (async () => {
      const range = await floatFileRangeOf(reader, info);
      if (range) {
        const { plan, encoded } = await fromFile(range, i, true);
        if (!encoded || !sameGgufPlan(plan, plans[i]!)) {
          throw new FormatError(`${info.name}: ${range.path} changed while it was being compressed (its values no longer give the type its header names); compress it again`);
        }
        return encoded;
      }
      const raw = slots.take(info.byteLength);
      await readWeightInto(reader, info, raw).catch((error: unknown) => {
        slots.give(raw);
        throw error;
      });
      return encodeFrom(plans[i]!, raw);
    })();
  };
  // Without a pool, a float32 weight whose rows are the file's (not written transposed), from a reader that reads
  // ranges, is read a block of rows at a time (gguf-row-stream.ts): planned from its blocks, and encoded from them
  // into outBytes as it is written; the whole weight is read only where a block changes its plan.
  // A weight written transposed (an ONNX MatMul weight [K, N] of more than two bands) whose reader knows where it
  // lies on disk is encoded from the file a band of columns at a time (`bands`, filled before planning), and planned
  // from its blocks where it is planned before it is written.
  const ranges = pool ? undefined : rangeReaderOf(reader);
  const bands = new Map<number, { range: FileRange; columns: number; bytes: number }>();
  const streams = (i: number): boolean => {
    const info = weights[i]!;
    const decision = decisions[i];
    return bands.has(i) || (ranges !== undefined && decision?.action === 'quantize' && isFileWeightDType(info.dtype) && info.shape.length === 2
      && decision.axis !== 0 && info.shape[0]! * info.shape[1]! * 4 > GGUF_STREAM_BLOCK_BYTES);
  };
  const rangesOf = (i: number) => (offset: number, target: Uint8Array) => ranges!.readRangeInto(weights[i]!.name, offset, target);
  /** Weight i's largest |x|, read in blocks: from its range reader, or for one in `bands` from its file (opened once). */
  const streamedPeakOf = (i: number) => {
    const band = bands.get(i);
    const peak = (read: ReadWeightRange) => streamedPeak(weights[i]!, 1, read, streamBuffer(i, 1));
    return band ? withFileRange(band.range, peak) : peak(rangesOf(i));
  };
  let streamArea = new ArrayBuffer(0);
  const streamBuffer = (i: number, rowElements?: number, byteLength = streamBlockBytes(weights[i]!, rowElements)): ArrayBuffer => {
    if (streamArea.byteLength < byteLength) streamArea = new ArrayBuffer(byteLength);
    return streamArea;
  };
  const streamHere = (i: number) => {
    const columns = bands.get(i);
    return columns ? withFileRange(columns.range, (read) => streamedGgufColumns(weights[i]!, decisions[i]!, read, streamBuffer(i, undefined, columns.bytes), columns.columns, outBytes))
      : streamedGgufWeight(weights[i]!, decisions[i]!, rangesOf(i), streamBuffer(i), outBytes);
  };
  const tensors: GgufTensorReport[] = [];
  // Tensors encoded on this thread go into one buffer used again from tensor to tensor: each is written (and the
  // sink done with it) before the next is encoded.
  let out = new Uint8Array(0);
  const outBytes = (byteLength: number): Uint8Array<ArrayBuffer> => {
    if (out.byteLength < byteLength) out = new Uint8Array(byteLength);
    return out.subarray(0, byteLength);
  };
  /** Writes tensor i (its bytes from planning, the pool, or `bytes` encoded here) and its report line. */
  const writeTensor = async (i: number, pooled: Promise<GgufEncoded> | undefined, bytesOf: () => Promise<Uint8Array>, release: () => unknown): Promise<void> => {
    const plan = plans[i]!;
    const { info } = plan;
    const kept = held[i];
    // A big tensor kept as it is stored in a file goes from the input file to the output a piece at a time.
    const range = !kept && !pooled && copiedAsStored(plan) ? await floatFileRangeOf(reader, info) : undefined;
    if (range) await copyFileRange(range, (piece) => writer!.writeChunk(info.name, piece)).finally(release);
    const { bytes, stats }: GgufEncoded = plan.omitted || range ? { bytes: new Uint8Array(0) }
      : kept ?? (pooled ? await pooled : encodeGgufTensor(ggufEncodePlanOf(plan), await bytesOf(), outBytes));
    held[i] = undefined;
    if (kept) heldBytes -= kept.bytes.byteLength;
    // bytes may be the buffer itself (a tensor kept as it is)
    if (!range) await (plan.omitted ? Promise.resolve() : writer!.write(info.name, bytes)).finally(release);
    // A worker's bytes, written: their memory goes back to a worker for a later tensor's bytes.
    if (pool && (kept ?? pooled)) outputs.written(i, bytes.buffer);
    const line: GgufTensorReport = {
      name: info.name, shape: [...info.shape], dtypeIn: info.dtype, action: plan.action, reason: plan.reason, scheme: plan.scheme,
      dtypeOut: plan.type === 'Q8_0' ? 'qint8' : plan.type === 'Q4_0' ? 'qint4' : info.dtype,
      bytesBefore: info.byteLength, bytesAfter: range ? range.byteLength : bytes.byteLength, ggmlType: plan.type, ne: plan.ne, transposed: plan.transposed,
    };
    if (stats) Object.assign(line, stats, { backend: 'cpu' as const });
    tensors.push(line);
    options.onProgress?.({ done: i + 1, total: weights.length, name: info.name });
  };
  try {
    checkPool(options.pool, 'options.pool');
    if (decisions.length !== weights.length) {
      throw new InvalidArgumentError('decisions', decisions.length, `${decisions.length} decisions for ${weights.length} weights; decide each weight of reader.list()`);
    }
    for (const [i, info] of weights.entries()) {
      const decision = decisions[i]!;
      const columns = !pool && decision.action === 'quantize' && isFileWeightDType(info.dtype) && decision.axis === 0 ? ggufBandColumns(info.shape, options.bandBytes) : undefined;
      const range = columns && await floatFileRangeOf(reader, info);
      if (range) bands.set(i, { range, columns: columns!, bytes: ggufColumnsBytes(info.shape, columns!, info.dtype as FileWeightDType) });
    }
    if (assumed) {
      for (const [i, info] of weights.entries()) assumed.push(ggufPlanOf(info, decisions[i]!, 0));
      writer = await createGgufWriter(sink, ...headerOf(assumed, options));
      outputs.writing();
    }
    const planAhead = lookahead(weights.length, planOnPool, float32Bytes, poolTasksInFlight(pool), POOL_IN_FLIGHT_BYTES);
    // Without a pool, the next weight whose plan reads its values (every weight, while written as planned) is read
    // while this one is planned, but for those read a block of rows at a time.
    const planInputs = pool ? undefined
      : readAhead(reader, weights, (i) => (assumed !== undefined || ggufPlanReads(weights[i]!, decisions[i])) && !streams(i) && !keptAsStored(i), readSlots);
    for (const [i, info] of weights.entries()) {
      const pooled = planAhead.take(i);
      const early = planInputs?.take(i);
      let bytes: Promise<Uint8Array> | undefined; // read once, for the plan and for writing as planned
      const bytesOf = () => (bytes ??= early ?? reader.read(info.name));
      const release = () => planInputs?.release(i);
      // Read a block of rows at a time here: planned and, while written as planned, encoded.
      const here: { plan: GgufPlan; encoded?: GgufEncoded } | undefined = pooled || !streams(i) ? undefined
        : assumed ? await streamHere(i) : { plan: ggufPlanOf(info, decisions[i]!, (await streamedPeakOf(i))!) };
      const planned = pooled ? await pooled : here ?? { plan: await planWeight(info, decisions[i]!, bytesOf).catch(async (error: unknown) => {
        await release();
        throw error;
      }) };
      plans.push(planned.plan);
      held.push(pooled ? planned.encoded : undefined);
      if (assumed && sameGgufPlan(assumed[i]!, planned.plan)) {
        await writeTensor(i, here?.encoded ? Promise.resolve(here.encoded) : encodeOnPool(i), bytesOf, release);
        continue;
      }
      await release();
      if (!assumed) continue;
      // A plan other than assumed: the file is written again once everything is planned.
      assumed = undefined;
      outputs.stop();
      await sink.restart!();
      writer = undefined;
      tensors.length = 0;
    }
    if (!writer) writer = await createGgufWriter(sink, ...headerOf(plans, options));
  } catch (error) {
    outputs.stop();
    await (writer ? writer.abort(error) : sink.abort(error));
    throw error;
  }
  if (!assumed) {
    // Written after planning: the tensors not held from planning are read (again) and encoded.
    const writeAhead = lookahead(plans.length, encodeOnPool, float32Bytes, poolTasksInFlight(pool), POOL_IN_FLIGHT_BYTES);
    // Without a pool, the next tensor is read while this one is encoded and written.
    const writeInputs = pool ? undefined : readAhead(reader, weights, (i) => !streams(i) && !keptAsStored(i), readSlots);
    outputs.writing();
    for (const [i, encoded] of held.entries()) if (encoded) outputs.arrived(i, encoded.bytes.buffer);
    try {
      for (const [i, { info }] of plans.entries()) {
        const here = streams(i) && plans[i]!.action === 'quantize' ? (await streamHere(i))?.encoded : undefined;
        const pooled = writeAhead.take(i) ?? (here && Promise.resolve(here));
        const early = held[i] || pooled ? undefined : writeInputs?.take(i);
        await writeTensor(i, pooled, () => early ?? reader.read(info.name), () => writeInputs?.release(i));
      }
    } catch (error) {
      outputs.stop();
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
    format: 'gguf', tensors, totals: { ...compressionTotals(tensors), fileBytesAfter: writer.byteLength },
    backend: tensors.some((t) => t.action === 'quantize') ? 'cpu' : undefined, seconds: (performance.now() - started) / 1000,
  };
}

/** The header of a file of these plans: its metadata and tensors (validated by createGgufWriter before the sink sees a byte). */
function headerOf(plans: readonly GgufPlan[], options: CompressToGgufOptions): [GgufMetadataEntry[], GgufTensorPlan[]] {
  const metadata: GgufMetadataEntry[] = [
    { key: 'general.architecture', type: 'string', value: options.architecture ?? 'generic' },
    { key: 'general.name', type: 'string', value: options.name ?? 'model' },
    { key: 'general.file_type', type: 'uint32', value: fileType(plans) },
    { key: 'general.quantization_version', type: 'uint32', value: 2 },
    { key: 'general.alignment', type: 'uint32', value: GGUF_DEFAULT_ALIGNMENT },
  ];
  return [metadata, plans.filter((p) => !p.omitted).map((p) => ({ name: p.info.name, type: p.type, ne: p.ne }))];
}
