/**
 * `compressOnnx`: an ONNX model in, a smaller QDQ ONNX model and a report out. One weight at a time: read
 * it (converted to float32), choose parameters, quantize (on the GPU when the backend options allow),
 * measure the error against the original, and write `W_quantized` / `W_scale` / `W_zero_point` feeding a
 * `DequantizeLinear` named `W`; then raise the opset where the schemes need it (refusing when the rest of
 * the graph would change meaning), record `webgpu-quant` in `metadata_props`, and encode. `compressOnnx`
 * returns the model in memory; `compressOnnxParts` can write it to a file as planned while the weights are
 * compressed (onnx-planned-write.ts). Float32 copies exist one at a time.
 *
 * Each weight is held to the policy's quality floor (quality-floor.ts): below it, it is escalated (4-bit →
 * 8-bit per channel, per tensor → per channel, then kept float) and each step is in the report. A model
 * below opset 13 gets 8-bit per-channel weights as DequantizeLinear → Mul (onnx-plan.ts), with no upgrade.
 *
 * With `onnxOps: 'contrib'`, MatMul weights that fit (matmul-nbits-plan.ts) are written as onnxruntime's
 * `com.microsoft.MatMulNBits` instead (io/onnx/matmul-nbits-writer.ts), and Gather embedding tables as
 * `com.microsoft.GatherBlockQuantized` (gather-block-plan.ts, io/onnx/gather-block-writer.ts), needing no opset upgrade; the rest
 * stay QDQ, and each report line says which (`onnxOp`) and why.
 *
 * With `pool` (createCpuWorkerPool) and the weights computed on the CPU, weights of 256 KiB of float32 or more
 * run on its workers (the quality floor included), several at once, and are written in weight order: the same
 * model bytes and report as on one thread. A float32 weight in a file on disk is read by its worker (or, on one
 * thread, by this one) a block of rows at a time where that gives the same outcome (weight-file-blocks.ts).
 *
 * Weights that cannot be quantized (NaN or ±Infinity, a range too wide for a float32 scale, a dequantized
 * range beyond float32) are kept float with the reason in the report, or, with `nonFinite: 'error'`, raise a FormatError naming them.
 * Weights kept in external data stay there (the output refers to the same files); quantized ones are
 * written inline. With `externalDataLocation`, a model past protobuf's 2 GB (or any model, with
 * `writeExternalData: 'always'`) is written with its weights in one external data file of its own
 * (returned as `externalData`; the input's external weights are copied into it): write its `parts` to
 * `externalDataLocation` beside the model, or pass `externalDataSink` to have each weight written there as
 * soon as it is done.
 *
 * @example
 * ```ts
 * import { readFile, writeFile } from 'node:fs/promises';
 * import { compressOnnx } from 'webgpu-quant';
 * const { model, report } = await compressOnnx(await readFile('silero_vad_legacy.onnx'), { dtype: 'qint8' });
 * await writeFile('silero_vad.int8.onnx', model);
 * report.totals.compressionRatio; // weight bytes before / after
 * ```
 * @module
 */
import { type OpOptions, getBackend } from '../ops/backend.js';
import { FormatError, InvalidArgumentError, LimitExceededError } from '../errors.js';
import type { ByteInput } from '../io/onnx/byte-source.js';
import { EXTERNAL_DATA_ABOVE_BYTES, PROTOBUF_LIMIT_BYTES, externalTensorBytes, inlineTensorBytes, moveToExternalData } from '../io/onnx/external-data-write.js';
import { NameAllocator } from '../io/onnx/names.js';
import { OnnxModel, type OnnxWeightInfo } from '../io/onnx/onnx-model.js';
import { checkOpsetUpgrade } from '../io/onnx/opset-upgrade.js';
import type { GraphProto, TensorProto } from '../io/onnx/proto.js';
import { concatParts, filledLater } from '../io/onnx/deferred-raw-data.js';
import type { ByteSink } from '../io/safetensors/sinks.js';
import { warmFileRange } from '../io/safetensors/node-file-source.js';
import { type AssumedParameters, PlannedWrite, addedSince, assumedOutcome, cloneModel, initializerMark } from './onnx-planned-write.js';
import { type CommitContext, type CommitTarget, commitWeight, finishModel, ownParts, scaleTypeOf } from './onnx-commit.js';
import { autoComputesOnCpu } from './auto-crossover.js';
import { type ScaleDType, type ScaleRounding, scaleRounder } from './scale-storage.js';
import { POOL_IN_FLIGHT_BYTES, POOL_MIN_BYTES } from './cpu-worker-pool.js';
import type { ExternalDataFile } from '../io/onnx/onnx-types.js';
import { type FileWeightDType, floatFileRangeOf } from '../io/weights.js';
import type { ResolvedBackend } from '../tensor.js';
import type { BudgetAllocation } from './budget.js';
import { type CompressionTotals, type TensorReport, compressionTotals, describeScheme } from './compress-report.js';
import { externalDataStream } from './external-data-stream.js';
import { type OnnxPlan, planOnnxBudget, planOnnxCompression, requiredOpsetFor } from './onnx-plan.js';
import type { WeightDecision } from './policy.js';
import { type FloorOutcome, quantizeWithFloor } from './quality-floor.js';
import { holdWeight, reusedFloat32 } from './weight-buffers.js';
import { heldIntegers, weightsAgain } from './requantize.js';
import { bufferSlots } from './buffer-slots.js';
import { type IntegerLender, integerLender } from './integer-lender.js';
import { paramShapeOf } from './quantize-weight.js';
import { lentBuffers } from './lent-parameters.js';
import { type CompressOnnxOptions, type PartsOutput, checkOptions } from './onnx-options.js';
import { FILE_BLOCK_BYTES, blockIntegerBytes, fileBlocking, fileIntegerBytes, sharedIntegerBytes } from './file-blocking.js';
import { floorWeightInBlocks } from './weight-file-blocks.js';

export type { CompressOnnxOptions, PartsOutput } from './onnx-options.js';

/**
 * On the GPU, weights read and quantized at once, and the float32 bytes they may hold together (each holds a
 * float32 copy of its weight, and the device's upload staging another; one weight may always run alone). 8 measured
 * about 17 % faster than 4 on the default model (34 small weights; docs/performance.md); 64 MiB rather than 256 MiB
 * of float32 halved the peak memory of a 512 MiB model of 64 MiB weights (828 to 361–374 MiB on SwiftShader), in
 * the same time; on an H200, 1 GB of 64 MiB weights in about 7 % more time for half the memory (645 to 314 MiB).
 */
const kInFlight = 8;
const kInFlightBytes = 64 * 2 ** 20;

/**
 * compressOnnxParts with a loaded model: the quantized integers held in memory until the model is written
 * (bytes); past that, a QDQ weight's integers are quantized again when written (requantize.ts).
 */
const kHeldIntegerBytes = 256 * 2 ** 20;

export { ONNX_METADATA_KEY } from './version.js';

/** The report of {@link compressOnnx}. */
export interface OnnxCompressionReport {
  format: 'onnx';
  tensors: TensorReport[];
  /**
   * With the model's sizes: `modelBytesBefore` counts the input's bytes and those its tensors keep in external data
   * files, `modelBytesAfter` the output's and its own external data file's.
   */
  totals: CompressionTotals & { modelBytesBefore: number; modelBytesAfter: number; modelCompressionRatio: number };
  /** The default-domain opset before and after, and the nodes rewritten to raise it. */
  opset: { before: number | undefined; after: number | undefined; rewritten: string[] };
  irVersion: { before: number; after: number };
  /**
   * The backend that quantized: 'webgpu' if any weight ran there ('auto' computes weights below
   * AUTO_GPU_MIN_ELEMENTS on the CPU; each tensor's report says where it ran), undefined when nothing was
   * quantized.
   */
  backend: ResolvedBackend | undefined;
  seconds: number;
  /** With `targetBits`: the precision chosen per weight, with every option's bits and error estimate. */
  budget?: BudgetAllocation;
}

/**
 * Compresses an ONNX model (see the module documentation). `input` is the model's bytes, a Blob / File or
 * a ByteSource; `backend` selects where quantization runs ('auto' default: WebGPU when available).
 * Throws FormatError for a damaged model or a scheme its opset cannot take, InvalidArgumentError for bad
 * options.
 *
 * @example
 * ```ts
 * const { model, report } = await compressOnnx(bytes, { dtype: 'qint4', granularity: 'group', groupSize: 32 }, { backend: 'cpu' });
 * report.opset; // { before: 16, after: 21, rewritten: ['ReduceMean node ...: axes attribute → input ...', ...] }
 * ```
 */
export async function compressOnnx(
  input: ByteInput, options: CompressOnnxOptions = {}, backend?: OpOptions,
): Promise<{ model: Uint8Array; report: OnnxCompressionReport; externalData?: ExternalDataFile }> {
  const { parts, byteLength, ...rest } = await compressOnnxParts(input, options, backend);
  return { model: concatParts(parts, byteLength), ...rest };
}

/** Whether `backend` leaves the choice to 'auto' (no backend named, no device given). */
const isAuto = (backend: OpOptions | undefined): boolean => (backend?.backend ?? 'auto') === 'auto' && backend?.device === undefined;

/**
 * {@link compressOnnx} with the model as consecutive parts (`encodeModelParts`): the quantized and kept
 * tensors' bytes are passed through, not copied into one buffer, for writing straight to a file. `input` may
 * also be a loaded model (changed in place), such as one from `OnnxModel.loadDeferred` whose tensors are
 * still in their file: write its parts with `writeParts` (io/onnx/deferred-raw-data.ts). With a loaded model
 * (and no `externalDataSink`), up to 256 MiB of quantized integers are held for writing; past that, a QDQ
 * weight's integers are left out of memory and quantized again from the model when `writeParts` writes them
 * (the same bytes: requantize.ts), so memory does not grow with the model. Keep the model's files open until
 * its parts are written. With `output.sink` (one that can `restart()`), a loaded model is written to it as
 * planned while its weights are compressed, and the result says `written: true` (see {@link PartsOutput}).
 *
 * @example
 * ```ts
 * const { parts, byteLength } = await compressOnnxParts(bytes, { dtype: 'qint8' }, { backend: 'cpu' });
 * for (const part of parts) await file.write(part); // byteLength bytes: the same file as compressOnnx's model
 * ```
 */
export async function compressOnnxParts(
  input: ByteInput | OnnxModel, options: CompressOnnxOptions = {}, backend?: OpOptions, output: PartsOutput = {},
): Promise<{ parts: Uint8Array[]; byteLength: number; report: OnnxCompressionReport; externalData?: ExternalDataFile; written?: boolean }> {
  const started = performance.now();
  checkOptions(options);
  const model = input instanceof OnnxModel ? input : await OnnxModel.load(input, { externalData: options.externalData, name: options.name ?? 'ONNX model' });
  const weights = model.list();
  const bytesBefore = model.byteLength + externalTensorBytes(model.proto); // before any weight is written
  const onnxOps = options.onnxOps ?? 'qdq';
  if (options.outputError !== undefined && typeof options.outputError !== 'function') {
    throw new InvalidArgumentError('options.outputError', options.outputError, 'options.outputError must be a function (name, values) => Promise<number>, e.g. from outputErrorProbe');
  }
  let plan: OnnxPlan = planOnnxCompression(model, options, onnxOps);
  const scaleDtype: ScaleDType = options.scaleDtype ?? (options.targetBits !== undefined && onnxOps === 'qdq' ? 'float16' : 'float32');
  // How a float32 weight's scales are rounded (float16 and bfloat16 weights round to their own type: roundingOf).
  const float32Rounding: ScaleRounding | undefined = scaleDtype === 'float16' ? 'halfScale' : undefined;
  let budget: BudgetAllocation | undefined;
  if (options.targetBits !== undefined) {
    // On a pool where the weights will be computed on the CPU ('auto' with a pool, or 'cpu'), it measures the budget's options too.
    const budgetPool = options.pool && (isAuto(backend) || (await getBackend(backend)) === 'cpu') ? options.pool : undefined;
    ({ plan, allocation: budget } = await planOnnxBudget(model, plan, options, options.targetBits, onnxOps, float32Rounding, scaleDtype, backend, budgetPool));
  }
  const opsetBefore = model.defaultOpset();
  const irBefore = model.irVersion;
  const viaMul = plan.channelScalesViaMul;
  const firstNeeding = (opset: number) => plan.decisions.find((d, i) => d.action === 'quantize' && !plan.nbits[i]?.ok
    && requiredOpsetFor(d, weights[i]!.dtype, viaMul) === opset);
  if (opsetBefore !== undefined && plan.requiredOpset > opsetBefore) {
    const needing = firstNeeding(plan.requiredOpset)!;
    const reason = `weight ${JSON.stringify(needing.name)} as ${describeScheme(needing)}`;
    if (options.allowOpsetUpgrade === false) {
      throw new FormatError(`${model.name}: ${reason} needs opset ${plan.requiredOpset}, the model is opset ${opsetBefore}, and `
        + 'allowOpsetUpgrade is false; allow the upgrade or choose a scheme the opset can take (per tensor int8 needs 10, per channel 13)');
    }
    checkOpsetUpgrade(model.proto, opsetBefore, plan.requiredOpset, model.name, reason);
  }
  // The model the weights are written into, its names, the integers it holds for writing (past heldIntegerBytes,
  // for a loaded model whose weights can be read again, a QDQ weight's are quantized again when written), and the
  // opset its schemes need.
  const real: CommitTarget = {
    model, names: new NameAllocator(model.proto.graph as GraphProto),
    held: heldIntegers(model, output.heldIntegerBytes ?? kHeldIntegerBytes, input instanceof OnnxModel && !options.externalDataSink),
    keepIntegers: () => asPlanned?.active ?? false, opset: 0,
    released: () => { released = true; },
  };
  let released = false; // the weight just committed keeps nothing of its outcome outside the model's tensors
  const tensors: TensorReport[] = [];
  let asPlanned: PlannedWrite | undefined; // the file written as planned, while the weights are compressed
  /** A written tensor lets go of its integers (quantized again should the file be written a second time). */
  const drop = (tensor: TensorProto) => { tensor.rawData = real.held.drop(tensor.rawData) ?? tensor.rawData; };
  // On the calling thread's CPU path weights gain nothing from running together (the work is synchronous): one at
  // a time, read as views of the model's bytes where aligned and otherwise into one reused array, since touching
  // fresh memory costs more than the arithmetic on a large weight.
  // 'auto' computes every weight on the CPU with a pool, or when the largest is below the measured crossover (every
  // weight on a GPU that is never faster, or on none), deciding without a GPU when the largest is below the floor.
  const auto = isAuto(backend);
  const largest = plan.decisions.reduce((most, d, i) => (d.action === 'quantize' ? Math.max(most, weights[i]!.shape.reduce((a, b) => a * b, 1)) : most), 0);
  const onCpu = auto ? await autoComputesOnCpu(backend, largest, options.pool) : (await getBackend(backend)) === 'cpu';
  // With a pool, weights of POOL_MIN_BYTES or more go to its workers, pool.size + 1 at once.
  const pool = onCpu ? options.pool : undefined;
  const inFlight = onCpu ? (pool ? pool.size + 1 : 1) : kInFlight;
  const inFlightLimit = pool ? POOL_IN_FLIGHT_BYTES : kInFlightBytes;
  const scratch = onCpu ? reusedFloat32() : undefined;
  // On the GPU several weights are in flight, each converted into an array of its own (where it is not an aligned
  // float32 view of the file); a weight done hands its memory to the next weights.
  const slots = onCpu ? undefined : bufferSlots('local');
  let lender: IntegerLender | undefined; // memory for the CPU path's integers, once the output is known to be written as it goes
  const roundingOf = (info: OnnxWeightInfo): ScaleRounding | undefined => {
    const scaleType = scaleTypeOf(info);
    return scaleType !== 'float32' ? scaleType : float32Rounding;
  };
  // A fresh buffer for a weight's integers is as large as any weight of as many elements needs (sharedIntegerBytes).
  const freshBytes = pool ? sharedIntegerBytes(weights, plan.decisions, output.fileBlockBytes ?? FILE_BLOCK_BYTES, true) : [];
  /**
   * Quantizes one weight on the pool: a float32, float16 or bfloat16 weight in a file on disk is read by the worker
   * itself, straight into its kernels' memory (16-bit values converted there as they are read; this thread holds no
   * copy); any other is read here into an array of its own and transferred.
   */
  const prepareOnPool = async (i: number, info: OnnxWeightInfo, decision: WeightDecision): Promise<FloorOutcome> => {
    const range = await floatFileRangeOf(model, info);
    // Memory for the integers: a buffer of an earlier weight's, written and let go (the worker touches no fresh pages),
    // half a byte an element, with the parameters after them, where a 4-bit weight read in blocks comes back packed
    // (every writer, QDQ, MatMulNBits and GatherBlockQuantized, takes them so).
    const integers = lender?.forPool(range ? fileIntegerBytes(info.shape, decision, output.fileBlockBytes ?? FILE_BLOCK_BYTES, true)
      : info.shape.reduce((a, b) => a * b, 1));
    const sent = integers ? [integers] : [];
    let outcome: FloorOutcome;
    if (range) {
      // And for its parameters where they do not come after packed integers (8-bit groups: megabytes of them), those of
      // an earlier weight's of as many.
      const parameters = lender?.forPoolParameters(paramShapeOf(info.shape, decision).reduce((a, b) => a * b, 1));
      outcome = await pool!.run('floorWeightFile', [
        range, [...info.shape], decision, roundingOf(info), integers, output.fileBlockBytes, true, info.dtype as FileWeightDType, parameters, freshBytes[i],
      ], [...sent, ...lentBuffers(parameters)]);
    } else {
      let own: Float32Array | undefined;
      const viewed = await model.readFloat32View(info.name, (count) => (own = new Float32Array(count)));
      const data = viewed === own ? viewed : viewed.slice(); // a view of the model's bytes is copied, never transferred
      outcome = await pool!.run('floorWeight', [{ data, shape: [...info.shape] }, decision, roundingOf(info), integers], [data.buffer as ArrayBuffer, ...sent]);
    }
    lender?.adopt(i, outcome);
    return outcome;
  };
  // Weights computed on this thread go one at a time even with a pool: they share its scratch memory.
  let localTurn: Promise<unknown> = Promise.resolve();
  /** Reads and quantizes one weight (the GPU round trips, or the pool's tasks; several run at once). */
  const prepare = (i: number): Promise<FloorOutcome | undefined> => {
    const info = weights[i]!;
    const decision = plan.decisions[i]!;
    if (decision.action === 'keep') return Promise.resolve(undefined);
    if (!pool) return prepareHere(i, info, decision);
    if (4 * info.shape.reduce((a, b) => a * b, 1) >= POOL_MIN_BYTES) return prepareOnPool(i, info, decision);
    const turn = localTurn.then(() => prepareHere(i, info, decision));
    localTurn = turn.catch(() => undefined);
    return turn;
  };
  /** On one thread, the next weight's bytes of 1 MiB or more are read from its file in the background meanwhile. */
  const warmNext = async (i: number): Promise<void> => {
    let j = i + 1;
    while (j < weights.length && plan.decisions[j]!.action !== 'quantize') j++;
    const range = j < weights.length ? await floatFileRangeOf(model, weights[j]!).catch(() => undefined) : undefined;
    if (range && range.byteLength >= 2 ** 20) void warmFileRange(range);
  };
  /** Reads and quantizes weight `i` on this thread (or the GPU). */
  const prepareHere = async (i: number, info: OnnxWeightInfo, decision: WeightDecision): Promise<FloorOutcome> => {
    const loan = lender?.forWeight(i);
    const roundScale = scaleRounder(roundingOf(info));
    let outcome: FloorOutcome | undefined;
    let slot: ReturnType<typeof holdWeight>;
    let converted: Uint8Array | undefined;
    const convertInto = (count: number) => {
      converted = slots!.take(4 * count);
      return new Float32Array(converted.buffer, 0, count);
    };
    try {
      // On one thread, a float32, float16 or bfloat16 weight in a file is read a block of rows at a time where that
      // gives the same outcome (weight-file-blocks.ts), as the workers read theirs.
      const range = onCpu && !pool ? await floatFileRangeOf(model, info) : undefined;
      const blocking = range && fileBlocking(info.shape, decision, output.fileBlockBytes ?? FILE_BLOCK_BYTES);
      if (blocking) {
        await warmNext(i);
        const bytes = blockIntegerBytes(decision, blocking, true);
        outcome = await floorWeightInBlocks(range!, info.shape, decision, { ...(roundScale ? { roundScale } : {}), packNibbles: true, readAhead: true },
          loan ? loan.take(bytes) : new ArrayBuffer(bytes), blocking, info.dtype as FileWeightDType);
        if (outcome) return outcome;
      }
      // On the CPU the weight goes once into the kernels' memory (converted straight there where it is not an
      // aligned float32 view of the file), and every pass reads it in place.
      slot = onCpu ? holdWeight(info.shape, decision) : undefined;
      const held = slot;
      const viewed = await model.readFloat32View(info.name, held ? (count) => (count === held.data.length ? held.data : new Float32Array(count))
        : slots ? convertInto : scratch);
      if (held && viewed !== held.data && viewed.length === held.data.length) held.data.set(viewed);
      const data = held && held.data.length === viewed.length ? held.data : viewed;
      if (onCpu && !pool && !blocking) await warmNext(i);
      const integers = loan ? { integers: loan.take } : {};
      return outcome = await quantizeWithFloor({ data, shape: info.shape }, decision, { ...(roundScale ? { roundScale } : {}), ...integers }, backend);
    } finally {
      loan?.keep(outcome);
      slot?.release();
      if (converted) slots!.give(converted);
    }
  };
  const context: CommitContext = { options, onnxOps, scaleDtype, viaMul, opsetBefore, weightAgain: weightsAgain(model, roundingOf) };
  const commit = (to: CommitTarget, info: OnnxWeightInfo, planned: WeightDecision, outcome: FloorOutcome | undefined, i?: number): TensorReport =>
    commitWeight(context, to, info, planned, outcome, lender && i !== undefined ? (byteLength) => lender!.forCommit(i, byteLength) : undefined);
  // Up to kInFlight weights (kInFlightBytes of float32) are read and quantized at once, so one weight's GPU
  // round trips overlap the next ones' instead of leaving the queue idle; results are committed strictly in
  // order.
  const pending: (ReturnType<typeof prepare> | undefined)[] = []; // a weight's entry is cleared once it is committed
  const floatBytes = (i: number) => (plan.decisions[i]!.action === 'keep' ? 0 : 4 * weights[i]!.shape.reduce((a, b) => a * b, 1));
  let next = 0;
  let inFlightBytes = 0;
  /** Starts weights in order while fewer than `inFlight` (and `inFlightLimit` bytes) are in flight after `committed`. */
  const fill = (committed: number) => {
    while (next < weights.length && next - committed < inFlight
      && (next === committed || inFlightBytes + floatBytes(next) <= inFlightLimit)) {
      inFlightBytes += floatBytes(next);
      const prepared = prepare(next);
      // Observed from the start: a later weight may fail while an earlier one is awaited (both workers reading
      // a file cut short); the loop below still meets its rejection in order.
      prepared.catch(() => undefined);
      pending[next] = prepared;
      next++;
    }
  };
  /**
   * The file as planned (onnx-planned-write.ts), where the sink can start again, the model was loaded (its weights
   * can be read again), every weight to quantize is the main graph's, and the weights stay inline.
   */
  const planWrite = (sink: ByteSink | undefined): PlannedWrite | undefined => {
    if (!sink?.restart || !(input instanceof OnnxModel) || options.externalDataSink
      || (options.externalDataLocation !== undefined && options.writeExternalData === 'always')
      || plan.decisions.some((d, i) => d.action === 'quantize' && weights[i]!.graph !== 'graph')) return undefined;
    const lines: TensorReport[] = [];
    const fills: Uint8Array[][] = [];
    const shared: AssumedParameters = new Map();
    let copy: OnnxModel;
    try {
      copy = cloneModel(model);
      const assumed: CommitTarget = { model: copy, names: new NameAllocator(copy.proto.graph as GraphProto), held: heldIntegers(copy, Infinity, false), keepIntegers: () => false, opset: 0 };
      for (const [i, decision] of plan.decisions.entries()) {
        const before = initializerMark(copy);
        lines.push(commit(assumed, weights[i]!, decision, decision.action === 'keep' ? undefined : assumedOutcome(weights[i]!, decision, shared)));
        fills.push(addedSince(copy, before).map((t) => (t.rawData = filledLater(t.rawData.byteLength))));
      }
      finishModel(assumed, lines);
    } catch {
      return undefined; // a plan the writers refuse: the real weights will say why
    }
    return inlineTensorBytes(copy.proto) > EXTERNAL_DATA_ABOVE_BYTES ? undefined : new PlannedWrite(sink, copy.encodeParts(), fills);
  };
  asPlanned = planWrite(output.sink);
  const stream = options.externalDataSink ? externalDataStream(model, options.externalDataLocation!, (chunk) => options.externalDataSink!.write(chunk)) : undefined;
  // Integers written as they are done (as planned, or to the data file) leave memory that the next weights use.
  lender = onCpu && (asPlanned || stream) ? integerLender(model.proto.graph as GraphProto, output.lendFromBytes) : undefined;
  fill(0);
  try {
    for (const [i, decision] of plan.decisions.entries()) {
      const result = await pending[i]!;
      pending[i] = undefined; // its integers are the model's now (or the data file's), not held twice
      inFlightBytes -= floatBytes(i);
      fill(i + 1);
      const mark = stream?.mark(weights[i]!.name);
      const before = asPlanned?.active ? initializerMark(model) : undefined;
      released = false;
      tensors.push(commit(real, weights[i]!, decision, result, i));
      if (released && pool) lender?.adoptParameters(i, result); // for the workers (the calling thread's would wait unused)
      if (mark) await stream!.flush(mark); // the weight's bytes to the data file while the next ones compute
      if (before) await asPlanned!.commit(i, ownParts(addedSince(model, before)), drop); // and to the file as planned
      lender?.settle(i);
      options.onProgress?.({ done: i + 1, total: weights.length, name: weights[i]!.name });
    }
  } finally {
    // A failure leaves later weights in flight: let them settle so none rejects unobserved.
    await Promise.allSettled(pending);
  }
  const rewritten = finishModel(real, tensors);
  const usedBackend: ResolvedBackend | undefined = tensors.some((t) => t.backend === 'webgpu') ? 'webgpu' : tensors.find((t) => t.backend)?.backend;
  let externalData: ExternalDataFile | undefined;
  const inline = inlineTensorBytes(model.proto);
  if (options.externalDataLocation !== undefined && (options.writeExternalData === 'always' || inline > EXTERNAL_DATA_ABOVE_BYTES)) {
    await model.materialize(); // tensors still in the input file (OnnxModel.loadDeferred) are copied out from memory
    externalData = await moveToExternalData(model.proto, options.externalDataLocation, options.externalData, undefined, stream?.file);
  } else if (inline > EXTERNAL_DATA_ABOVE_BYTES) {
    throw new LimitExceededError(`${model.name}: the compressed model holds ${inline} bytes of weights, more than one ONNX file can `
      + `(protobuf's ${PROTOBUF_LIMIT_BYTES}-byte limit); write the weights as external data (externalDataLocation, or --external-data)`);
  }
  const parts = model.encodeParts();
  const byteLength = parts.reduce((sum, part) => sum + part.byteLength, 0);
  const written = asPlanned ? await asPlanned.finish(parts, drop) : false;
  const totals = compressionTotals(tensors);
  // With its own data file, or the tensors it still reads from the input's (kept float weights beside the input).
  const after = byteLength + (externalData ? externalData.byteLength : externalTensorBytes(model.proto));
  return {
    parts: written ? [] : parts, byteLength, ...(written ? { written } : {}),
    ...(externalData ? { externalData } : {}),
    report: {
      format: 'onnx', tensors, backend: usedBackend, seconds: (performance.now() - started) / 1000,
      totals: { ...totals, modelBytesBefore: bytesBefore, modelBytesAfter: after, modelCompressionRatio: bytesBefore / after },
      opset: { before: opsetBefore, after: model.defaultOpset(), rewritten },
      irVersion: { before: irBefore, after: model.irVersion },
      ...(budget ? { budget } : {}),
    },
  };
}
