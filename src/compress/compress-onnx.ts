/**
 * `compressOnnx`: an ONNX model in, a smaller QDQ ONNX model and a report out. One weight at a time: read
 * it (converted to float32), choose parameters, quantize (on the GPU when the backend options allow),
 * measure the error against the original, and write `W_quantized` / `W_scale` / `W_zero_point` feeding a
 * `DequantizeLinear` named `W`; then raise the opset where the schemes need it (refusing when the rest of
 * the graph would change meaning), record `webgpu-quant` in `metadata_props`, and encode. The protobuf
 * model is held in memory (ONNX has no other way); float32 copies exist one at a time.
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
 * Weights that cannot be quantized (NaN or ±Infinity, a range too wide for a float32 scale, a dequantized
 * range beyond float32) are kept float with the reason in the report, or, with `nonFinite: 'error'`, raise a FormatError naming them.
 * Weights kept in external data stay there (the output refers to the same files); quantized ones are
 * written inline. With `externalDataLocation`, a model past protobuf's 2 GB (or any model, with
 * `writeExternalData: 'always'`) is written with its weights in one external data file of its own
 * (returned as `externalData`; the input's external weights are copied into it): write its `parts` to
 * `externalDataLocation` beside the model.
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
import { halfToFloat } from '../io/float-convert.js';
import type { ByteInput } from '../io/onnx/byte-source.js';
import { PROTOBUF_LIMIT_BYTES, inlineTensorBytes, moveToExternalData } from '../io/onnx/external-data-write.js';
import { NameAllocator } from '../io/onnx/names.js';
import { OnnxModel, type OnnxWeightInfo } from '../io/onnx/onnx-model.js';
import { checkOpsetUpgrade, upgradeOpset } from '../io/onnx/opset-upgrade.js';
import { outputLayerWeights } from '../io/onnx/output-layer.js';
import { type GraphProto, onnx } from '../io/onnx/proto.js';
import { type ScaleDType, halfScale, storedParametersOf, storesHalfScales } from './scale-storage.js';
import { type ScaleType, writeQdq } from '../io/onnx/qdq-writer.js';
import { writeMatMulNBits } from '../io/onnx/matmul-nbits-writer.js';
import { writeGatherBlockQuantized } from '../io/onnx/gather-block-writer.js';
import type { ExternalDataFile, ExternalDataResolver } from '../io/onnx/onnx-types.js';
import { floatToHalfBits } from '../io/half.js';
import { dtypeInfo } from '../dtype.js';
import type { ResolvedBackend } from '../tensor.js';
import { type BudgetAllocation, type OutputErrorProbe, allocateBudget } from './budget.js';
import { type CompressionTotals, type TensorReport, compressionTotals, describeScheme } from './compress-report.js';
import { contribLayout } from './contrib-layout.js';
import { type OnnxOps, nbitsNote } from './matmul-nbits-plan.js';
import { type OnnxPlan, planOnnxCompression, requiredOpsetFor } from './onnx-plan.js';
import type { CompressionPolicy, WeightDecision } from './policy.js';
import { type FloorOutcome, quantizeWithFloor } from './quality-floor.js';
import { WEBGPU_QUANT_VERSION } from './version.js';

/** Weights past this (protobuf's limit less 64 MiB for the graph) go to external data. */
const kExternalDataAbove = PROTOBUF_LIMIT_BYTES - 64 * 2 ** 20;

/**
 * Weights read and quantized at once, and the float32 bytes they may hold together (each holds a float32
 * copy of its weight; one weight may always run alone). 8 measured about 17 % faster than 4 with backend
 * 'webgpu' on the default model (docs/performance.md).
 */
const kInFlight = 8;
const kInFlightBytes = 256 * 2 ** 20;

/** A growing array handed out again for each weight that needs a converted copy (CPU runs, one weight at a time). */
function reusedFloat32(): (count: number) => Float32Array {
  let array: Float32Array | undefined;
  return (count) => {
    if (!array || array.length < count) array = new Float32Array(count);
    return array.subarray(0, count);
  };
}

/** The `metadata_props` key webgpu-quant records itself under. */
export const ONNX_METADATA_KEY = 'webgpu-quant';

/** Options of {@link compressOnnx}: the policy, plus how to read and write. */
export interface CompressOnnxOptions extends CompressionPolicy {
  /** Resolves external data files by their relative location (models that use them). */
  externalData?: ExternalDataResolver;
  /** The model's name in messages; default 'ONNX model'. */
  name?: string;
  /** Raise the default-domain opset when a scheme needs it (default true); false makes that a FormatError. */
  allowOpsetUpgrade?: boolean;
  /** Weights with NaN / ±Infinity: 'keep' (default; reported) or 'error' (FormatError naming the weight). */
  nonFinite?: 'keep' | 'error';
  /**
   * How quantized weights are written: 'qdq' (default; DequantizeLinear, portable) or 'contrib':
   * onnxruntime's `com.microsoft.MatMulNBits` for MatMul weights that fit it (matmul-nbits-plan.ts) and
   * `com.microsoft.GatherBlockQuantized` for Gather embedding tables (gather-block-plan.ts), QDQ
   * for the rest. Each weight's report says which, and why a MatMul weight stayed QDQ.
   */
  onnxOps?: OnnxOps;
  /** MatMulNBits `accuracy_level` (0-4; onnxruntime: 0 unset, 1 fp32, 2 fp16, 3 bf16, 4 int8 compute); omitted by default. */
  accuracyLevel?: number;
  /**
   * With `onnxOps: 'contrib'`: write 8-bit MatMul weights as MatMulNBits (true, default) or as QDQ (false).
   * onnxruntime-web 1.30's WebGPU EP refuses a model with an 8-bit MatMulNBits (it takes 2 and 4 bits), so a
   * file for it keeps 8-bit weights (a 4-bit weight escalated by the quality floor, say) as QDQ.
   */
  matMulNBits8?: boolean;
  /**
   * With `targetBits`: measures each weight's sensitivity from the model's outputs (see budget.ts), e.g.
   * `await outputErrorProbe(bytes, { runtime: ort, inputs })`. Without it the budget's estimate comes from
   * the weights alone. With it, first layers join the budget (their sensitivity is measured) unless
   * `firstLayer` is given.
   */
  outputError?: OutputErrorProbe;
  /**
   * The float type of float32 weights' scales in QDQ: 'float32', or 'float16' (2 bytes a scale, cast to
   * float32 in the graph; scale-storage.ts). Default 'float16' with `targetBits`, else 'float32'. Needs
   * `onnxOps: 'qdq'` (MatMulNBits takes its scales in the activations' type).
   */
  scaleDtype?: ScaleDType;
  /** Called after each weight. */
  onProgress?: (progress: { done: number; total: number; name: string }) => void;
  /**
   * Where the output's external data file goes, relative to the output model (e.g. `'model.q8.onnx.data'`).
   * With it, weights of 1 KiB or more are written there (returned as `externalData`) when the model would
   * pass protobuf's 2 GB, or always with `writeExternalData: 'always'`. Without it, such a model is a
   * LimitExceededError.
   */
  externalDataLocation?: string;
  /** 'auto' (default): external data only past 2 GB; 'always': whenever `externalDataLocation` is given. */
  writeExternalData?: 'auto' | 'always';
}

/** The report of {@link compressOnnx}. */
export interface OnnxCompressionReport {
  format: 'onnx';
  tensors: TensorReport[];
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

const kOptionKeys = new Set(['dtype', 'granularity', 'axis', 'groupSize', 'symmetric', 'calibrate', 'minElements', 'include', 'exclude',
  'overrides', 'targetBits', 'range', 'quantMin', 'quantMax', 'minSqnrDb', 'maxRelError', 'firstLayer', 'externalData', 'name', 'allowOpsetUpgrade', 'nonFinite', 'onnxOps', 'accuracyLevel', 'matMulNBits8', 'onProgress',
  'externalDataLocation', 'writeExternalData', 'outputError', 'scaleDtype']);

function checkOptions(options: CompressOnnxOptions): void {
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError('options', options, "options must be an object like { dtype: 'qint8' }");
  }
  for (const key of Object.keys(options)) {
    if (!kOptionKeys.has(key)) throw new InvalidArgumentError(`options.${key}`, key, `options.${key} is not an option; use ${[...kOptionKeys].join(', ')}`);
  }
  if (options.nonFinite !== undefined && options.nonFinite !== 'keep' && options.nonFinite !== 'error') {
    throw new InvalidArgumentError('options.nonFinite', options.nonFinite, `options.nonFinite is ${JSON.stringify(options.nonFinite)}; use 'keep' or 'error'`);
  }
  if (options.onnxOps !== undefined && options.onnxOps !== 'qdq' && options.onnxOps !== 'contrib') {
    throw new InvalidArgumentError('options.onnxOps', options.onnxOps, `options.onnxOps is ${JSON.stringify(options.onnxOps)}; use 'qdq' or 'contrib'`);
  }
  if (options.matMulNBits8 !== undefined && typeof options.matMulNBits8 !== 'boolean') {
    throw new InvalidArgumentError('options.matMulNBits8', options.matMulNBits8, `options.matMulNBits8 is ${JSON.stringify(options.matMulNBits8)}; use true or false`);
  }
  if (options.scaleDtype !== undefined && options.scaleDtype !== 'float32' && options.scaleDtype !== 'float16') {
    throw new InvalidArgumentError('options.scaleDtype', options.scaleDtype, `options.scaleDtype is ${JSON.stringify(options.scaleDtype)}; use 'float32' or 'float16'`);
  }
  if (options.scaleDtype === 'float16' && options.onnxOps === 'contrib') {
    throw new InvalidArgumentError('options.scaleDtype', options.scaleDtype,
      "options.scaleDtype 'float16' is for QDQ weights (MatMulNBits takes its scales in the activations' type); drop it or use onnxOps: 'qdq'");
  }
  const level = options.accuracyLevel;
  if (level !== undefined && !(Number.isInteger(level) && level >= 0 && level <= 4)) {
    throw new InvalidArgumentError('options.accuracyLevel', level, `options.accuracyLevel is ${JSON.stringify(level)}; use an integer from 0 to 4`);
  }
  if (level !== undefined && options.onnxOps !== 'contrib') {
    throw new InvalidArgumentError('options.accuracyLevel', level, "options.accuracyLevel is MatMulNBits's; it needs onnxOps: 'contrib'");
  }
}

/** The nearest bfloat16 value (round to nearest even on the float32 bits). */
function roundBfloat16(x: number): number {
  const bits = new Uint32Array(Float32Array.of(x).buffer)[0]!;
  const rounded = ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) << 16;
  return new Float32Array(Uint32Array.of(rounded >>> 0).buffer)[0]!;
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
  const started = performance.now();
  checkOptions(options);
  const model = await OnnxModel.load(input, { externalData: options.externalData, name: options.name ?? 'ONNX model' });
  const weights = model.list();
  const onnxOps = options.onnxOps ?? 'qdq';
  if (options.outputError !== undefined && typeof options.outputError !== 'function') {
    throw new InvalidArgumentError('options.outputError', options.outputError, 'options.outputError must be a function (name, values) => Promise<number>, e.g. from outputErrorProbe');
  }
  let plan: OnnxPlan = planOnnxCompression(model, options, onnxOps);
  const scaleDtype: ScaleDType = options.scaleDtype ?? (options.targetBits !== undefined && onnxOps === 'qdq' ? 'float16' : 'float32');
  const float32Round = scaleDtype === 'float16' ? { roundScale: halfScale } : {};
  let budget: BudgetAllocation | undefined;
  if (options.targetBits !== undefined) {
    // Measured sensitivities cover the first layers too: they join the budget unless firstLayer says otherwise.
    const budgetPlan = options.outputError && options.firstLayer === undefined
      ? planOnnxCompression(model, { ...options, firstLayer: 'quantize' }, onnxOps) : plan;
    const outputs = outputLayerWeights(model.proto.graph as GraphProto);
    const marked = weights.map((w) => (w.graph === 'graph' && outputs.has(w.tensorName) ? { ...w, outputLayer: true } : w));
    const allocated = await allocateBudget(marked, budgetPlan.decisions, options, options.targetBits,
      (i) => model.readFloat32(weights[i]!.name), float32Round, backend, 'onnx', options.outputError,
      (result, decision) => storedParametersOf(result, decision, scaleDtype));
    budget = allocated.allocation;
    // As planOnnxCompression: per-channel int8 through DequantizeLinear → Mul when nothing else needs opset 13.
    const nbits = allocated.decisions.map((d, i) => (onnxOps === 'contrib' && d.action === 'quantize' ? contribLayout(d, weights[i]!) : undefined));
    const required = (viaMul: boolean) => allocated.decisions.reduce((opset, d, i) =>
      (d.action === 'quantize' && !nbits[i]?.ok ? Math.max(opset, requiredOpsetFor(d, weights[i]!.dtype, viaMul)) : opset), 0);
    const opset = model.defaultOpset();
    const channelScalesViaMul = opset !== undefined && opset < 13 && required(true) < 13;
    plan = { decisions: allocated.decisions, requiredOpset: required(channelScalesViaMul), channelScalesViaMul, nbits };
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
  const names = new NameAllocator(model.proto.graph as GraphProto);
  const tensors: TensorReport[] = [];
  let usedBackend: ResolvedBackend | undefined;
  let requiredOpset = 0;
  const kept = (info: OnnxWeightInfo, reason: string): TensorReport => ({
    name: info.name, shape: info.shape, dtypeIn: info.dtype, dtypeOut: info.dtype, action: 'keep', reason, scheme: 'float (kept)',
    bytesBefore: info.byteLength, bytesAfter: info.byteLength,
  });
  // On the CPU weights gain nothing from running together (the work is synchronous): one at a time, read as views
  // of the model's bytes where aligned and otherwise into one reused array, since touching fresh memory costs
  // more than the arithmetic on a large weight.
  const onCpu = (await getBackend(backend)) === 'cpu';
  const inFlight = onCpu ? 1 : kInFlight;
  const scratch = onCpu ? reusedFloat32() : undefined;
  const scaleTypeOf = (info: OnnxWeightInfo): ScaleType => (info.dtype === 'float16' ? 'float16' : info.dtype === 'bfloat16' ? 'bfloat16' : 'float32');
  /** Reads and quantizes one weight (the GPU round trips; several run at once). */
  const prepare = async (info: OnnxWeightInfo, decision: WeightDecision) => {
    if (decision.action === 'keep') return undefined;
    const data = await model.readFloat32View(info.name, scratch);
    const scaleType = scaleTypeOf(info);
    const roundScale = scaleType === 'float16' ? (s: number) => halfToFloat(floatToHalfBits(s))
      : scaleType === 'bfloat16' ? roundBfloat16 : float32Round.roundScale;
    return quantizeWithFloor({ data, shape: info.shape }, decision, roundScale ? { roundScale } : {}, backend);
  };
  /** Writes one prepared weight into the model (in weight order, so names and bytes never depend on timing). */
  const commit = (info: OnnxWeightInfo, planned: WeightDecision, outcome: FloorOutcome | undefined): TensorReport => {
    if (planned.action === 'keep' || !outcome) return kept(info, planned.reason);
    const escalations = outcome.steps.length ? { escalations: outcome.steps } : {};
    if (outcome.kind === 'keep') {
      if (options.nonFinite === 'error' && !outcome.steps.length) {
        throw new FormatError(`${model.name}: weight ${JSON.stringify(info.name)} in ${info.graph} cannot be quantized: ${outcome.reason}; `
          + "fix the weight, exclude it, or pass nonFinite: 'keep' to keep it float");
      }
      return { ...kept(info, outcome.reason), ...escalations };
    }
    const { decision, result } = outcome;
    const contrib = onnxOps === 'contrib' ? contribLayout(decision, info) : undefined;
    const eightBit = decision.dtype === 'qint8' || decision.dtype === 'quint8';
    const layout = contrib?.ok && contrib.op === 'MatMulNBits' && eightBit && options.matMulNBits8 === false
      ? { ok: false as const, reason: '8-bit, and matMulNBits8 is false (onnxruntime-web\'s WebGPU EP takes 4-bit MatMulNBits only)' } : contrib;
    const stats = () => {
      const { overall, perChannel, axis } = result.stats;
      usedBackend = usedBackend === 'webgpu' ? usedBackend : result.q.backend; // 'webgpu' if any weight ran there
      return {
        sqnrDb: overall.sqnrDb, mse: overall.mse, maxAbsError: overall.maxAbsError,
        ...(perChannel ? { perChannelSqnrDb: perChannel.sqnrDb, statsAxis: axis! } : {}), backend: result.q.backend, ...escalations,
      };
    };
    if (layout?.ok && layout.op === 'GatherBlockQuantized') {
      const note = `GatherBlockQuantized, block_size ${layout.blockSize}${layout.parameters === 'groups' ? '' : `, the ${layout.parameters === 'rows' ? 'row' : 'tensor'}'s scale repeated per block`}`;
      const written = writeGatherBlockQuantized(model, info.name, {
        values: result.q.intReprView(), dtype: decision.dtype, parameters: layout.parameters, scales: result.scales,
        zeroPoints: result.zeroPoints, blockSize: layout.blockSize, scaleType: info.dtype === 'float16' ? 'float16' : 'float32',
        docString: `webgpu-quant ${WEBGPU_QUANT_VERSION}: ${describeScheme(decision)}, ${note}`,
      }, names);
      return {
        name: info.name, shape: info.shape, dtypeIn: info.dtype, dtypeOut: decision.dtype, action: 'quantize',
        reason: `${decision.reason}; ${note}`, scheme: `${describeScheme(decision)}, GatherBlockQuantized`, onnxOp: 'GatherBlockQuantized',
        bytesBefore: info.byteLength, bytesAfter: written.byteLength, ...stats(),
      };
    }
    if (layout?.ok) {
      const note = nbitsNote(layout, info.shape[0]!);
      const written = writeMatMulNBits(model, info.name, {
        values: result.q.intReprView(), dtype: decision.dtype, parameters: layout.parameters, scales: result.scales,
        zeroPoints: result.zeroPoints, blockSize: layout.blockSize, scaleType: info.dtype === 'float16' ? 'float16' : 'float32',
        ...(options.accuracyLevel !== undefined ? { accuracyLevel: options.accuracyLevel } : {}),
        docString: `webgpu-quant ${WEBGPU_QUANT_VERSION}: ${describeScheme(decision)}, ${note}`,
      }, names);
      return {
        name: info.name, shape: info.shape, dtypeIn: info.dtype, dtypeOut: decision.dtype, action: 'quantize',
        reason: `${decision.reason}; ${note}`, scheme: `${describeScheme(decision)}, MatMulNBits`, onnxOp: 'MatMulNBits',
        bytesBefore: info.byteLength, bytesAfter: written.byteLength, ...stats(),
      };
    }
    const qdqNote = layout && !layout.ok && info.consumers.some((c) => c.opType === 'MatMul' || c.opType === 'Gather')
      ? `; QDQ, not ${info.consumers.some((c) => c.opType === 'Gather') ? 'GatherBlockQuantized' : 'MatMulNBits'}: ${layout.reason}` : '';
    const halfScales = info.dtype === 'float32' && scaleDtype === 'float16' && storesHalfScales(result.scales);
    const scheme = `${describeScheme(decision)}${halfScales ? ', float16 scales' : ''}`;
    const channelScalesViaMul = viaMul && decision.granularity === 'channel' && info.dtype === 'float32';
    const ints = result.q.intReprView();
    const written = writeQdq(model, info.name, {
      // 8-bit integers are their own bytes: the QTensor is not used again, so no copy.
      data: ints.BYTES_PER_ELEMENT === 1 && dtypeInfo(decision.dtype).bits === 8 ? new Uint8Array(ints.buffer, ints.byteOffset, ints.length) : result.q.packedData(), dtype: decision.dtype, scales: result.scales, zeroPoints: result.zeroPoints,
      paramShape: result.paramShape, docString: `webgpu-quant ${WEBGPU_QUANT_VERSION}: ${scheme}`,
      ...(halfScales ? { scaleType: 'float16' as const, scalesCastToFloat32: true } : { scaleType: scaleTypeOf(info) }),
      ...(decision.granularity !== 'tensor' ? { axis: decision.axis! } : {}),
      ...(decision.granularity === 'group' ? { blockSize: Math.min(decision.groupSize!, info.shape[decision.axis!]!) } : {}),
      ...(channelScalesViaMul ? { channelScalesViaMul } : {}),
    }, names);
    requiredOpset = Math.max(requiredOpset, requiredOpsetFor(decision, info.dtype, viaMul));
    return {
      name: info.name, shape: info.shape, dtypeIn: info.dtype, dtypeOut: decision.dtype, action: 'quantize',
      reason: (channelScalesViaMul ? `${decision.reason}; written as DequantizeLinear → Mul (opset ${opsetBefore} < 13)` : decision.reason) + qdqNote,
      scheme, onnxOp: 'DequantizeLinear', bytesBefore: info.byteLength, bytesAfter: written.byteLength, ...stats(),
    };
  };
  // Up to kInFlight weights (kInFlightBytes of float32) are read and quantized at once, so one weight's GPU
  // round trips overlap the next ones' instead of leaving the queue idle; results are committed strictly in
  // order.
  const pending: ReturnType<typeof prepare>[] = [];
  const floatBytes = (i: number) => (plan.decisions[i]!.action === 'keep' ? 0 : 4 * weights[i]!.shape.reduce((a, b) => a * b, 1));
  let next = 0;
  let inFlightBytes = 0;
  /** Starts weights in order while fewer than `inFlight` (and kInFlightBytes) are in flight after `committed`. */
  const fill = (committed: number) => {
    while (next < weights.length && next - committed < inFlight
      && (next === committed || inFlightBytes + floatBytes(next) <= kInFlightBytes)) {
      inFlightBytes += floatBytes(next);
      pending[next] = prepare(weights[next]!, plan.decisions[next]!);
      next++;
    }
  };
  fill(0);
  try {
    for (const [i, decision] of plan.decisions.entries()) {
      const result = await pending[i]!;
      inFlightBytes -= floatBytes(i);
      fill(i + 1);
      tensors.push(commit(weights[i]!, decision, result));
      options.onProgress?.({ done: i + 1, total: weights.length, name: weights[i]!.name });
    }
  } finally {
    // A failure leaves later weights in flight: let them settle so none rejects unobserved.
    await Promise.allSettled(pending);
  }
  const rewritten = requiredOpset > 0 ? upgradeOpset(model.proto, requiredOpset, names, model.name) : [];
  const quantized = tensors.filter((t) => t.action === 'quantize');
  const schemes: Record<string, number> = {};
  for (const t of quantized) schemes[t.scheme] = (schemes[t.scheme] ?? 0) + 1;
  const nbitsCount = quantized.filter((t) => t.onnxOp === 'MatMulNBits').length;
  const gatherCount = quantized.filter((t) => t.onnxOp === 'GatherBlockQuantized').length;
  const qdqCount = quantized.length - nbitsCount - gatherCount;
  const format = [qdqCount || !quantized.length ? 'QDQ' : '', nbitsCount ? 'MatMulNBits' : '', gatherCount ? 'GatherBlockQuantized' : ''].filter(Boolean).join('+');
  const metadata = JSON.stringify({ version: WEBGPU_QUANT_VERSION, format, quantized: quantized.length, schemes });
  model.proto.metadataProps = model.proto.metadataProps.filter((p) => p.key !== ONNX_METADATA_KEY);
  model.proto.metadataProps.push(onnx.StringStringEntryProto.create({ key: ONNX_METADATA_KEY, value: metadata }));
  let externalData: ExternalDataFile | undefined;
  const inline = inlineTensorBytes(model.proto);
  if (options.externalDataLocation !== undefined && (options.writeExternalData === 'always' || inline > kExternalDataAbove)) {
    externalData = await moveToExternalData(model.proto, options.externalDataLocation, options.externalData);
  } else if (inline > kExternalDataAbove) {
    throw new LimitExceededError(`${model.name}: the compressed model holds ${inline} bytes of weights, more than one ONNX file can `
      + `(protobuf's ${PROTOBUF_LIMIT_BYTES}-byte limit); write the weights as external data (externalDataLocation, or --external-data)`);
  }
  const bytes = model.encode();
  const totals = compressionTotals(tensors);
  const after = bytes.byteLength + (externalData?.byteLength ?? 0);
  return {
    model: bytes,
    ...(externalData ? { externalData } : {}),
    report: {
      format: 'onnx', tensors, backend: usedBackend, seconds: (performance.now() - started) / 1000,
      totals: { ...totals, modelBytesBefore: model.byteLength, modelBytesAfter: after, modelCompressionRatio: model.byteLength / after },
      opset: { before: opsetBefore, after: model.defaultOpset(), rewritten },
      irVersion: { before: irBefore, after: model.irVersion },
      ...(budget ? { budget } : {}),
    },
  };
}
