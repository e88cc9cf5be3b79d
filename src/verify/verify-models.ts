/**
 * End-task verification: runs the original and the compressed ONNX model on the same inputs in an
 * onnxruntime the caller passes (`onnxruntime-node` in Node, `onnxruntime-web` in the browser), and compares
 * every output (see {@link OutputComparison}). The inputs are the caller's, or generated to the declared
 * shapes and element types, one sample per seed.
 *
 * Pass criterion, per output over all samples together: cosine similarity ≥ `minCosine` (default 0.99),
 * or, for an output with a class axis (its last axis has more than one entry, and at least
 * {@link MIN_ARGMAX_ROWS} rows were compared), the index of the largest value agreeing on at least
 * `minArgmaxAgreement` of the rows (default 0.95): a classifier or CTC recognizer whose probabilities move
 * near ties but whose decisions hold passes. In both cases no value may be finite in one model but not in
 * the other. A compressed model that onnxruntime refuses to
 * load or run fails; models whose inputs or outputs differ are refused with an {@link InvalidArgumentError}
 * naming them, as are inputs the original itself cannot run.
 *
 * @example
 * ```ts
 * import * as ort from 'onnxruntime-web';
 * import { compressOnnx, verifyModels } from 'webgpu-quant/models';
 * const { model } = await compressOnnx(original);
 * const report = await verifyModels(original, model, { runtime: ort });
 * report.passed; // true
 * report.outputs.map((o) => [o.name, o.cosine.toFixed(5)]);
 * ```
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { halfToFloat } from '../io/float-convert.js';
import { sessionModel } from './session-model.js';
import { type GenerateOptions, generateSamples } from './input-samples.js';
import { checkSample } from './input-files.js';
import { NotDeferrable } from '../io/onnx/deferred-raw-data.js';
import { OnnxModel } from '../io/onnx/onnx-model.js';
import type { GraphProto } from '../io/onnx/proto.js';
import { nodeFileSource } from '../io/safetensors/node-file-source.js';
import { type ModelSignature, graphSignature, readModelSignature, signatureDifferences } from './model-signature.js';
import { OutputAccumulator, type OutputComparison } from './output-metrics.js';
import { type OnnxRuntimeLike, type RuntimeSession, type RuntimeTensor, type Sample, toRuntimeTensor } from './runtime.js';

/** The cosine similarity each output must reach when no other is given. */
export const DEFAULT_MIN_COSINE = 0.99;

/** The fraction of class-axis rows whose argmax must agree when the cosine falls short. */
export const DEFAULT_MIN_ARGMAX_AGREEMENT = 0.95;

/** The fewest last-axis rows for which the argmax agreement may stand in for the cosine. */
export const MIN_ARGMAX_ROWS = 16;

/** Options of {@link verifyModels}. */
export interface VerifyOptions extends GenerateOptions {
  /** The onnxruntime to run both models in: `import * as ort from 'onnxruntime-web'` (or `-node`). */
  runtime: OnnxRuntimeLike;
  /** The inputs, one {@link Sample} per run; default: generated (see `seeds`, `dims`). */
  inputs?: Sample[];
  /** Pass when every output's cosine similarity is at least this (default {@link DEFAULT_MIN_COSINE}). */
  minCosine?: number;
  /**
   * An output with at least {@link MIN_ARGMAX_ROWS} last-axis rows whose cosine falls short still passes
   * when the argmax agrees on at least this fraction of them (default {@link DEFAULT_MIN_ARGMAX_AGREEMENT});
   * 1 (or more) turns the argmax criterion off.
   */
  minArgmaxAgreement?: number;
  /**
   * Passed to `InferenceSession.create` (e.g. `{ executionProviders: ['webgpu'] }`): one object for both
   * models, or a pair, the original's and the compressed model's, where they differ (e.g. where each one's
   * external data is: onnxruntime-web's `externalData`, onnxruntime-node's
   * `extra.session.model_external_initializers_file_folder_path`).
   */
  sessionOptions?: object | readonly [object, object];
  /** How messages name the two models (default 'the original', 'the compressed model'). */
  names?: [string, string];
}

/** What {@link verifyModels} found. */
export interface VerifyReport {
  /** Whether the inputs were the caller's or generated. */
  inputs: 'given' | 'generated';
  samples: number;
  /** Each input's dims in the first sample. */
  inputDims: Record<string, number[]>;
  outputs: OutputComparison[];
  minCosine: number;
  minArgmaxAgreement: number;
  /** How each output passed ('cosine' or 'argmax'), by name; outputs that failed are absent. */
  passedBy: Record<string, 'cosine' | 'argmax'>;
  /** True when the pass criterion holds for every output. */
  passed: boolean;
  /** One sentence per reason the verification failed (empty when it passed). */
  failures: string[];
  seconds: number;
}

function firstLine(error: unknown): string {
  return String((error as Error)?.message ?? error).split('\n')[0]!.trim();
}

function hostData(tensor: RuntimeTensor, name: string): unknown {
  if (tensor.type === 'string') throw new InvalidArgumentError('outputs', name, `output '${name}' holds strings, which cannot be compared numerically`);
  if (tensor.type === 'float16' && tensor.data instanceof Uint16Array) return Array.from(tensor.data, halfToFloat);
  return tensor.data;
}

async function runAll(runtime: OnnxRuntimeLike, model: ModelInput, samples: Sample[], sessionOptions: object | undefined,
  outputNames: string[]): Promise<Array<Record<string, RuntimeTensor>>> {
  // A big model file as its graph with its tensor data referenced in place (session-model.ts); an onnxruntime that
  // cannot take that (no external-data folder option) gets the file as it is.
  const fast = await sessionModel(model, sessionOptions);
  let session: RuntimeSession;
  try {
    session = await runtime.InferenceSession.create(fast.model, fast.options);
  } catch (error) {
    if (fast.model === model) throw error;
    session = await runtime.InferenceSession.create(model, sessionOptions);
  }
  try {
    const results: Array<Record<string, RuntimeTensor>> = [];
    for (const sample of samples) {
      const feeds = Object.fromEntries(Object.entries(sample).map(([name, t]) => [name, toRuntimeTensor(runtime, t)]));
      const out = await session.run(feeds);
      results.push(Object.fromEntries(outputNames.map((n) => [n, out[n]!])));
    }
    return results;
  } finally {
    await session.release?.();
  }
}

/**
 * A model to run: its bytes, or (in Node) the path of its file, which onnxruntime-node loads itself, finding
 * external data files beside it; only the graph is read here, so neither model is held in memory by this
 * library.
 */
export type ModelInput = Uint8Array | string;

/**
 * A model's inputs and outputs ({@link readModelSignature}), from its bytes or from its file (only the graph is
 * read).
 *
 * @example
 * ```ts
 * (await modelSignature('big.onnx', 'big.onnx')).inputs.map((v) => v.name); // ['x']
 * ```
 */
export async function modelSignature(model: ModelInput, name: string): Promise<ModelSignature> {
  if (typeof model !== 'string') return readModelSignature(model, name);
  const source = await nodeFileSource(model).catch((error: unknown) => {
    throw new InvalidArgumentError('model', model, `${name}: ${model} cannot be opened (${firstLine(error)}); give the path of an ONNX file, or its bytes`);
  });
  try {
    return graphSignature((await OnnxModel.loadDeferred(source, { name: model })).proto.graph as GraphProto | null | undefined, name);
  } catch (error) {
    if (!(error instanceof NotDeferrable)) throw error;
    return readModelSignature(await source.read(0, source.size), name); // read whole: that says what is wrong
  } finally {
    await source.close();
  }
}

/** One model's session options: the pair's entry, or the one object for both. */
function sessionOptionsOf(options: VerifyOptions['sessionOptions'], which: 0 | 1): object | undefined {
  return Array.isArray(options) ? options[which] : options as object | undefined;
}

function describeInputs(sample: Sample): string {
  return Object.entries(sample).map(([n, t]) => `${n}: ${t.dtype} [${t.dims.join(', ')}]`).join(', ');
}

/**
 * Runs both models on the same inputs and compares their outputs; see the module documentation.
 *
 * @example
 * ```ts
 * import * as ort from 'onnxruntime-node';
 * const report = await verifyModels(readFileSync('vad.onnx'), readFileSync('vad.q8.onnx'), { runtime: ort, dims: { sequence: 512 } });
 * if (!report.passed) console.error(report.failures.join('\n'));
 * await verifyModels('big.onnx', 'big.q8.onnx', { runtime: ort }); // by path: onnxruntime-node loads the files (and their external data)
 * ```
 */
export async function verifyModels(original: ModelInput, compressed: ModelInput, options: VerifyOptions): Promise<VerifyReport> {
  const started = performance.now();
  const names = options.names ?? ['the original', 'the compressed model'];
  const minCosine = options.minCosine ?? DEFAULT_MIN_COSINE;
  if (!(minCosine >= -1 && minCosine <= 1)) throw new InvalidArgumentError('minCosine', minCosine, `minCosine ${minCosine}: use a number in [-1, 1], e.g. 0.99`);
  const minArgmax = options.minArgmaxAgreement ?? DEFAULT_MIN_ARGMAX_AGREEMENT;
  if (!(minArgmax >= 0)) throw new InvalidArgumentError('minArgmaxAgreement', minArgmax, `minArgmaxAgreement ${minArgmax}: use a fraction in [0, 1], e.g. 0.95 (1 turns the argmax criterion off)`);
  if (!options.runtime?.InferenceSession || !options.runtime.Tensor) {
    throw new InvalidArgumentError('runtime', options.runtime, "runtime must be an onnxruntime module (onnxruntime-web in a page, onnxruntime-node in Node), passed as { runtime: ort }");
  }
  if (Array.isArray(options.sessionOptions) && options.sessionOptions.length !== 2) {
    throw new InvalidArgumentError('sessionOptions', options.sessionOptions.length,
      `sessionOptions has ${options.sessionOptions.length} entries: give one object for both models, or two, [the original's, the compressed model's]`);
  }
  const signature: ModelSignature = await modelSignature(original, names[0]);
  const differences = signatureDifferences(signature, await modelSignature(compressed, names[1]), names);
  if (differences.length) {
    throw new InvalidArgumentError('compressed', names[1], `${names[0]} and ${names[1]} do not have the same inputs and outputs: ${differences.join('; ')}`);
  }
  const given = options.inputs !== undefined;
  const samples = options.inputs ?? generateSamples(signature, options);
  if (samples.length === 0) throw new InvalidArgumentError('inputs', samples, 'inputs is empty: give at least one sample, or leave it out to generate inputs');
  if (given) samples.forEach((s, k) => checkSample(s, signature, `inputs[${k}]`));
  const outputNames = signature.outputs.map((v) => v.name);

  let reference;
  try {
    reference = await runAll(options.runtime, original, samples, sessionOptionsOf(options.sessionOptions, 0), outputNames);
  } catch (error) {
    const hint = given ? 'check the inputs' : 'give inputs, or sizes for the dynamic dimensions (dims)';
    throw new InvalidArgumentError('inputs', describeInputs(samples[0]!),
      `${names[0]} does not run on ${given ? 'the given' : 'generated'} inputs (${describeInputs(samples[0]!)}): ${firstLine(error)}; ${hint}`);
  }
  const failures: string[] = [];
  const accumulators = outputNames.map((n) => new OutputAccumulator(n));
  try {
    const results = await runAll(options.runtime, compressed, samples, sessionOptionsOf(options.sessionOptions, 1), outputNames);
    results.forEach((out, k) => accumulators.forEach((acc) => {
      const a = reference[k]![acc.name]!;
      const b = out[acc.name]!;
      if (a.dims.join() !== b.dims.join()) {
        failures.push(`output '${acc.name}' has dims [${b.dims.join(', ')}] in ${names[1]} but [${a.dims.join(', ')}] in ${names[0]} (sample ${k})`);
        return;
      }
      acc.add(hostData(a, acc.name), hostData(b, acc.name), a.dims);
    }));
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw error;
    failures.push(`${names[1]} does not run in onnxruntime: ${firstLine(error)}`);
  }
  const outputs = failures.length ? [] : accumulators.map((acc) => acc.result());
  const passedBy: Record<string, 'cosine' | 'argmax'> = {};
  for (const o of outputs) {
    const finite = o.nonFiniteMismatches === 0;
    if (!finite) failures.push(`output '${o.name}': ${o.nonFiniteMismatches} values are finite in one model and not in the other`);
    const byArgmax = o.argmaxAgreement !== undefined && o.argmaxRows >= MIN_ARGMAX_ROWS && minArgmax < 1 && o.argmaxAgreement >= minArgmax;
    if (o.cosine >= minCosine) {
      if (finite) passedBy[o.name] = 'cosine';
    } else if (byArgmax) {
      if (finite) passedBy[o.name] = 'argmax';
    } else {
      const argmax = o.argmaxAgreement !== undefined && o.argmaxRows >= MIN_ARGMAX_ROWS && minArgmax < 1
        ? ` and argmax agreement ${(100 * o.argmaxAgreement!).toFixed(2)} % < ${+(100 * minArgmax).toFixed(2)} %` : '';
      failures.push(`output '${o.name}': cosine ${o.cosine.toFixed(5)} < ${minCosine}${argmax}`);
    }
  }
  return {
    inputs: given ? 'given' : 'generated',
    samples: samples.length,
    inputDims: Object.fromEntries(Object.entries(samples[0]!).map(([n, t]) => [n, [...t.dims]])),
    outputs,
    minCosine,
    minArgmaxAgreement: minArgmax,
    passedBy,
    passed: failures.length === 0,
    failures,
    seconds: (performance.now() - started) / 1000,
  };
}
