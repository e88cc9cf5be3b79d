/**
 * The options of `compressOnnx` (the policy, plus how to read and write) and their checks: an unknown key
 * or a bad value is an InvalidArgumentError naming it, before any work.
 *
 * @example
 * ```ts
 * checkOptions({ dtype: 'qint8', onnxOps: 'contrib' }); // fine
 * checkOptions({ dtpye: 'qint8' } as CompressOnnxOptions); // throws: options.dtpye is not an option; use dtype, ...
 * ```
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import type { ExternalDataResolver } from '../io/onnx/onnx-types.js';
import type { OutputErrorProbe } from './budget.js';
import { type CpuWorkerPool, checkPool } from './cpu-worker-pool.js';
import type { OnnxOps } from './matmul-nbits-plan.js';
import type { CompressionPolicy } from './policy.js';
import type { ByteSink } from '../io/safetensors/sinks.js';
import type { ScaleDType } from './scale-storage.js';

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
  /**
   * With `writeExternalData: 'always'`: where the external data file's bytes go while the model is compressed
   * (a `nodeFileSink` for `externalDataLocation`, say). Each weight's tensors are written to it as soon as the
   * weight is done, so the compressed weights are never all in memory at once; the returned `externalData`
   * then holds in its `parts` only what is left to write after them (kept weights, subgraphs' tensors), and
   * its `byteLength` and `tensors` count the whole file. The caller closes the sink, or aborts it when the
   * call fails.
   */
  externalDataSink?: { write(chunk: Uint8Array): Promise<void> };
  /**
   * A pool from `createCpuWorkerPool`: when the weights are computed on the CPU, those of 256 KiB of float32
   * or more (`POOL_MIN_BYTES`) are quantized on its workers, up to `pool.size + 1` (and 256 MiB of float32)
   * at once, and written in weight order: the same model bytes and report as without it. The caller owns the
   * pool (closes it). A worker that dies fails the call with WorkerError. Ignored on the GPU path.
   */
  pool?: CpuWorkerPool;
}

const kOptionKeys = new Set(['dtype', 'granularity', 'axis', 'groupSize', 'symmetric', 'calibrate', 'minElements', 'include', 'exclude',
  'overrides', 'targetBits', 'range', 'quantMin', 'quantMax', 'minSqnrDb', 'maxRelError', 'firstLayer', 'externalData', 'name', 'allowOpsetUpgrade', 'nonFinite', 'onnxOps', 'accuracyLevel', 'matMulNBits8', 'onProgress',
  'externalDataLocation', 'writeExternalData', 'externalDataSink', 'outputError', 'scaleDtype', 'pool']);

/**
 * Throws InvalidArgumentError for options that are not options of compressOnnx or hold a bad value.
 *
 * @example
 * ```ts
 * checkOptions({ nonFinite: 'drop' } as never); // throws: options.nonFinite is "drop"; use 'keep' or 'error'
 * ```
 */
export function checkOptions(options: CompressOnnxOptions): void {
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
  checkPool(options.pool, 'options.pool');
  const dataSink = options.externalDataSink;
  if (dataSink !== undefined && (dataSink === null || typeof dataSink !== 'object' || typeof dataSink.write !== 'function')) {
    throw new InvalidArgumentError('options.externalDataSink', dataSink, 'options.externalDataSink must be an object with write(chunk): Promise<void>, e.g. from nodeFileSink');
  }
  if (dataSink !== undefined && (options.externalDataLocation === undefined || options.writeExternalData !== 'always')) {
    throw new InvalidArgumentError('options.externalDataSink', 'given',
      "options.externalDataSink writes the external data file as the weights are done: it needs externalDataLocation and writeExternalData: 'always'");
  }
  const level = options.accuracyLevel;
  if (level !== undefined && !(Number.isInteger(level) && level >= 0 && level <= 4)) {
    throw new InvalidArgumentError('options.accuracyLevel', level, `options.accuracyLevel is ${JSON.stringify(level)}; use an integer from 0 to 4`);
  }
  if (level !== undefined && options.onnxOps !== 'contrib') {
    throw new InvalidArgumentError('options.accuracyLevel', level, "options.accuracyLevel is MatMulNBits's; it needs onnxOps: 'contrib'");
  }
}

/** Internal options of `compressOnnxParts`: how its output is written. */
export interface PartsOutput {
  /** Integers held for writing with a loaded model (default 256 MiB); tests lower it. */
  heldIntegerBytes?: number;
  /** The float32 bytes a worker reads a large weight from its file in (default FILE_BLOCK_BYTES); tests lower it. */
  fileBlockBytes?: number;
  /** Integers in memory used again from weight to weight from this size (default LEND_FROM_BYTES); tests lower it. */
  lendFromBytes?: number;
  /**
   * A sink that can start again (`restart()`): the file is written to it as planned while the weights are
   * compressed, and the result says `written: true` (its `parts` empty; close the sink); otherwise (a weight other
   * than planned) the sink is emptied and the parts are returned as usual. Abort it when the call fails.
   */
  sink?: ByteSink;
}
