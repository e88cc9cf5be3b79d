/**
 * The size budget's data-driven error estimate for ONNX models: an {@link OutputErrorProbe}-shaped function
 * that runs the model in an onnxruntime the caller passes (`onnxruntime-node`, `onnxruntime-web`) on sample
 * inputs with one weight replaced, and returns how far its outputs moved from the original's.
 *
 * - **Measure**: the mean, over samples and outputs, of |Δy|² / |y|² (relative squared error; |Δy|² alone
 *   where an output is all zeros). A non-finite value where the original's is finite gives Infinity. Or
 *   the caller's `measure` of the end task (e.g. text decoded from a recognizer's outputs).
 * - **Cost**: one run per sample for each weight probed, in a session of the model with its main graph's float
 *   weights as graph inputs, fed on every run (`fed-weights.ts`): replacing a weight is feeding other values,
 *   and the session is created from the graph alone (on a 1.07 GB MLP about 0.09 s a weight, where re-encoding
 *   the model and creating a session from it took 13–16 s). A weight in a subgraph (an `If` branch) cannot be
 *   fed: for those the model is re-encoded with the weight replaced, and compared with the original's outputs.
 *   A model under 64 MiB is also run as given once, and the fed model is used only where it gives those outputs.
 *   On PaddleOCR v4 rec (10.8 MB, 41 weights) about 0.07 s a weight with one text line.
 * - The inputs must represent the data the model will see: the sensitivities are measured on them. A
 *   branch the inputs never take (Silero VAD's 8 kHz path on 16 kHz audio) measures 0, and the budget
 *   gives its weights the cheapest option.
 * - `original` is the model's bytes, or an `OnnxModel` (e.g. opened with `OnnxModel.loadDeferred`, its tensors left in
 *   the file: the fed weights are read from there, and the whole model only for a weight that cannot be fed). Give
 *   the probe a model of its own: the compressor changes the model it writes.
 * - A model with external data needs `externalData` (a resolver of its files): its weights are read and fed, and
 *   a weight that cannot be fed (in a subgraph) is refused, as the model cannot run from memory.
 *
 * @example
 * ```ts
 * import * as ort from 'onnxruntime-node';
 * import { compressOnnx, outputErrorProbe } from 'webgpu-quant/models';
 * const probe = await outputErrorProbe(original, { runtime: ort, inputs: samples });
 * const { report } = await compressOnnx(original, { targetBits: 5, outputError: probe });
 * report.budget.errorSource; // 'outputs'
 * ```
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { halfToFloat } from '../io/float-convert.js';
import { floatToHalfBits } from '../io/half.js';
import { OnnxModel } from '../io/onnx/onnx-model.js';
import type { ExternalDataResolver } from '../io/onnx/onnx-types.js';
import type { GraphProto } from '../io/onnx/proto.js';
import { checkSample } from './input-files.js';
import { type FedDType, type FedWeights, fedArray, fedWeights } from './fed-weights.js';
import { graphSignature, readModelSignature } from './model-signature.js';
import { type OnnxRuntimeLike, type RuntimeTensor, type Sample, toRuntimeTensor } from './runtime.js';

/** One run's outputs, by name, as numbers (float16 converted, int64 as numbers). */
export type ProbeOutputs = Record<string, { dims: readonly number[]; data: ArrayLike<number> }>;

/** Options of {@link outputErrorProbe}. */
export interface OutputErrorProbeOptions {
  /** The onnxruntime to run the model in: `import * as ort from 'onnxruntime-node'` (or `-web`). */
  runtime: OnnxRuntimeLike;
  /** The sample inputs, one {@link Sample} per run (at least one); they should look like the model's real data. */
  inputs: Sample[];
  /** Passed to `InferenceSession.create` (e.g. `{ logSeverityLevel: 3 }`). */
  sessionOptions?: object;
  /**
   * The error of one model's outputs against the original's, one entry per sample (a finite number >= 0,
   * 0 for equal outputs). Default: the mean over samples and outputs of |Δy|² / |y|². Give the end task's
   * own measure where the outputs' squared error does not rank the damage (e.g. decoded text; see
   * docs/size-budget.md).
   */
  measure?: (reference: ProbeOutputs[], outputs: ProbeOutputs[]) => number;
  /**
   * Reads the model's external data files (`OnnxModel.load`'s `externalData`): a model with weights in external
   * data runs from memory with those weights read and fed as inputs (held in memory while the probe lives).
   */
  externalData?: ExternalDataResolver;
}

function relativeSquaredErrors(reference: ProbeOutputs[], outputs: ProbeOutputs[]): number {
  let total = 0;
  let count = 0;
  outputs.forEach((sample, k) => {
    for (const [name, value] of Object.entries(sample)) { total += relativeSquaredError(reference[k]![name]!.data, value.data); count++; }
  });
  return count ? total / count : 0;
}

function floatData(tensor: RuntimeTensor): ArrayLike<number> {
  if (tensor.type === 'float16' && tensor.data instanceof Uint16Array) return Array.from(tensor.data, halfToFloat);
  const data = tensor.data;
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Array.from(data, Number);
  if (ArrayBuffer.isView(data) || Array.isArray(data)) return data as unknown as ArrayLike<number>;
  throw new InvalidArgumentError('outputs', tensor.type, `an output of type ${tensor.type} cannot be compared numerically`);
}

/** |Δy|² / |y|² of one output (|Δy|² where y is all zeros); Infinity where a finite value became non-finite. */
function relativeSquaredError(reference: ArrayLike<number>, value: ArrayLike<number>): number {
  if (reference.length !== value.length) return Infinity;
  let diff = 0;
  let energy = 0;
  for (let i = 0; i < reference.length; i++) {
    const [r, v] = [reference[i]!, value[i]!];
    if (!Number.isFinite(r)) continue;
    if (!Number.isFinite(v)) return Infinity;
    diff += (v - r) ** 2;
    energy += r * r;
  }
  return energy > 0 ? diff / energy : diff;
}

/** A weight's values in its stored type, as raw little-endian bytes (float32: a view of `values`, not a copy). */
function rawBytes(values: Float32Array, dtype: string): Uint8Array {
  if (dtype === 'float16') {
    const half = new Uint16Array(values.length);
    for (let i = 0; i < values.length; i++) half[i] = floatToHalfBits(values[i]!);
    return new Uint8Array(half.buffer);
  }
  if (dtype === 'bfloat16') {
    const bits = new Uint32Array(Float32Array.from(values).buffer);
    return new Uint8Array(Uint16Array.from(bits, (b) => ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff).buffer);
  }
  if (dtype === 'float64') return new Uint8Array(Float64Array.from(values).buffer);
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/**
 * Builds the probe for `original` (see the module documentation): runs the original once on `inputs` for
 * the reference outputs, then measures each call's replaced weight. Throws InvalidArgumentError when the
 * inputs are empty, do not fit the model or do not run, or the model keeps weights in external data without
 * `externalData` to read them (or where they cannot be fed).
 *
 * @example
 * ```ts
 * const probe = await outputErrorProbe(bytes, { runtime: ort, inputs: [{ x: { dtype: 'float32', dims: [1, 3, 48, 320], data } }] });
 * await probe('conv2d_184.w_0', dequantizedValues); // e.g. 0.0124
 * ```
 */
export async function outputErrorProbe(original: Uint8Array | OnnxModel, options: OutputErrorProbeOptions): Promise<(name: string, values: Float32Array) => Promise<number>> {
  const { runtime, inputs, sessionOptions } = options;
  if (!runtime?.InferenceSession || !runtime.Tensor) {
    throw new InvalidArgumentError('runtime', runtime, 'runtime must be an onnxruntime module (onnxruntime-node, onnxruntime-web), passed as { runtime: ort }');
  }
  if (!Array.isArray(inputs) || inputs.length === 0) {
    throw new InvalidArgumentError('inputs', inputs, 'inputs is empty: give at least one sample input that looks like the model\'s real data');
  }
  const given = original instanceof OnnxModel ? original : undefined;
  if (!given && !(original instanceof Uint8Array)) {
    throw new InvalidArgumentError('original', original, 'original must be the model\'s bytes (a Uint8Array) or an OnnxModel');
  }
  const signature = given ? graphSignature(given.proto.graph as GraphProto, given.name) : readModelSignature(original as Uint8Array, 'the model');
  inputs.forEach((s, k) => checkSample(s, signature, `inputs[${k}]`));
  const { externalData } = options;
  if (externalData !== undefined && typeof externalData !== 'function') {
    throw new InvalidArgumentError('externalData', externalData, 'externalData must be a function (location) => the data file\'s bytes, as OnnxModel.load takes it');
  }
  const model = given ?? OnnxModel.decode(original as Uint8Array, externalData ? { externalData } : {});
  // The model's bytes, for the weights that are not fed: an OnnxModel read whole and encoded, once, when first needed.
  let whole: Promise<Uint8Array> | undefined;
  const modelBytes = () => (whole ??= given ? given.materialize().then(() => given.encode()) : Promise.resolve(original as Uint8Array));
  const external = model.list().find((w) => w.external);
  if (external && !externalData && !given) {
    throw new InvalidArgumentError('original', external.name, `weight ${JSON.stringify(external.name)} is in external data, which a model run from memory cannot read; `
      + 'pass externalData (a resolver of its data files; the command line does) or measure the budget from the weights alone (no inputs)');
  }
  const outputNames = signature.outputs.map((v) => v.name);
  const feeds = inputs.map((sample) => Object.fromEntries(Object.entries(sample).map(([name, t]) => [name, toRuntimeTensor(runtime, t)])));
  const measure = options.measure ?? relativeSquaredErrors;
  if (typeof measure !== 'function') throw new InvalidArgumentError('measure', measure, 'measure must be a function (reference, outputs) => number');
  const runAll = async (bytes: Uint8Array, weights?: Record<string, RuntimeTensor>): Promise<ProbeOutputs[]> => {
    const session = await runtime.InferenceSession.create(bytes, sessionOptions);
    try {
      const results: ProbeOutputs[] = [];
      for (const feed of feeds) {
        const out = await session.run(weights ? { ...feed, ...weights } : feed);
        results.push(Object.fromEntries(outputNames.map((n) => [n, { dims: out[n]!.dims, data: floatData(out[n]!) }])));
      }
      return results;
    } finally {
      await session.release?.();
    }
  };
  // The original's outputs, from the model as given: the reference of weights the fed model cannot take.
  let originalOutputs: Promise<ProbeOutputs[]> | undefined;
  const reference = (): Promise<ProbeOutputs[]> => (originalOutputs ??= modelBytes().then((bytes) => runAll(bytes)).catch((error: unknown) => {
    if (error instanceof InvalidArgumentError) throw error;
    throw new InvalidArgumentError('inputs', inputs.length, `the model does not run on the given inputs: ${String((error as Error)?.message ?? error).split('\n')[0]}`);
  }));
  let fed = await fedProbe(model, runtime, runAll);
  // Where the whole model is cheap to run, the fed model must give its outputs (else every weight is re-encoded).
  if (fed && !external && model.byteLength < kFedCheckBytes && !sameOutputs(await reference(), fed.reference)) fed = undefined;
  // A model with external data runs from memory only with its weights fed.
  const notFed = (name: string) => new InvalidArgumentError('original', name, `weight ${JSON.stringify(name)} is in a model with external data and cannot be fed `
    + '(it is in a subgraph, or not float32, float16 or float64 of rank 2 or more), so the model cannot run from memory with it replaced; '
    + 'measure the budget from the weights alone (no inputs)');
  if (!fed && external) throw notFed(external.name);
  if (!fed) await reference(); // the inputs checked on the model as given
  return async (name: string, values: Float32Array): Promise<number> => {
    const { info, indexed } = model.entry(name);
    if (values.length !== info.shape.reduce((a, b) => a * b, 1)) {
      throw new InvalidArgumentError('values', values.length, `weight ${JSON.stringify(name)} has ${info.shape.reduce((a, b) => a * b, 1)} elements, values ${values.length}`);
    }
    const input = fed?.weights.inputOf.get(name);
    if (fed && input !== undefined) {
      const dtype = info.dtype as FedDType;
      const replaced = toRuntimeTensor(runtime, { dtype, dims: [...info.shape], data: dtype === 'float32' ? values : fedArray(rawBytes(values, dtype), dtype) });
      return measure(fed.reference, await runAll(fed.weights.bytes, { ...fed.weights.feeds, [input]: replaced }));
    }
    if (external) throw notFed(name);
    await modelBytes(); // an OnnxModel read whole first
    const tensor = indexed.tensor;
    const saved = { rawData: tensor.rawData, floatData: tensor.floatData, int32Data: tensor.int32Data, doubleData: tensor.doubleData };
    tensor.rawData = rawBytes(values, info.dtype);
    tensor.floatData = [];
    tensor.int32Data = [];
    tensor.doubleData = [];
    let bytes: Uint8Array;
    try {
      bytes = model.encode();
    } finally {
      Object.assign(tensor, saved);
    }
    return measure(await reference(), await runAll(bytes));
  };
}

/** Models smaller than this are also run as given, once, to check the fed model's outputs against. */
const kFedCheckBytes = 64 * 2 ** 20;

/**
 * Whether two runs' outputs agree up to the rounding of another order of operations (onnxruntime fuses and packs
 * constant weights, not fed ones): every element within 1e-4 of its output's largest |y|, plus 1e-6 (outputs near 0,
 * such as a saturated sigmoid's, differ by more than 1e-4 of themselves).
 */
function sameOutputs(reference: ProbeOutputs[], outputs: ProbeOutputs[]): boolean {
  return reference.every((sample, k) => Object.entries(sample).every(([name, { data: r }]) => {
    const v = outputs[k]?.[name]?.data;
    if (!v || v.length !== r.length) return false;
    let largest = 0;
    for (let i = 0; i < r.length; i++) if (Number.isFinite(r[i]!)) largest = Math.max(largest, Math.abs(r[i]!));
    const tolerance = 1e-4 * largest + 1e-6;
    for (let i = 0; i < r.length; i++) {
      if (Number.isFinite(r[i]!) ? !(Math.abs(v[i]! - r[i]!) <= tolerance) : !Object.is(r[i], v[i]) && !(Number.isNaN(r[i]!) && Number.isNaN(v[i]!))) return false;
    }
    return true;
  }));
}

/**
 * The model with its weights fed (`fed-weights.ts`) and its outputs on the samples with the original's weights
 * fed (the reference its probes compare with); undefined where no weight can be fed or it does not run, and the
 * probe re-encodes the model for every weight.
 */
async function fedProbe(model: OnnxModel, runtime: OnnxRuntimeLike,
  runAll: (bytes: Uint8Array, weights?: Record<string, RuntimeTensor>) => Promise<ProbeOutputs[]>): Promise<{ weights: FedWeights; reference: ProbeOutputs[] } | undefined> {
  try {
    const weights = await fedWeights(model, runtime);
    return weights && { weights, reference: await runAll(weights.bytes, weights.feeds) };
  } catch {
    return undefined; // a runtime that takes these weights as no inputs, or inputs that do not run: as the model is given
  }
}
