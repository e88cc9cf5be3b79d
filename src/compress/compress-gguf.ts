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
 * Planned weights GGUF cannot block-quantize (rows not a multiple of 32, rank other than 2, NaN / ±Infinity,
 * a block scale past float16's range) fall back to F16 (F32 when float16 cannot hold the values), with the
 * reason and the error in the report.
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
import { toFloat32 } from '../io/float-convert.js';
import { quantizeRowQ4_0, quantizeRowQ8_0 } from '../io/gguf/ggml-blocks.js';
import { GGUF_DEFAULT_ALIGNMENT, GGUF_FILE_TYPE, type GgmlType, ggmlTensorBytes, ggmlTypeInfo } from '../io/gguf/ggml-types.js';
import { ggmlToFloat32 } from '../io/gguf/reader.js';
import { type GgufMetadataEntry, type GgufTensorPlan, createGgufWriter, encodeGgufHeader } from '../io/gguf/writer.js';
import { floatToHalfBits } from '../io/half.js';
import type { ByteSink } from '../io/safetensors/sinks.js';
import { FLOAT_WEIGHT_DTYPES, type WeightDType, type WeightInfo, type WeightReader } from '../io/weights.js';
import { errorStats } from '../reference/error-stats.js';
import type { ResolvedBackend } from '../tensor.js';
import { type CompressionTotals, type TensorReport, compressionTotals } from './compress-report.js';
import { ggufSchemeProblem } from './gguf-scheme.js';
import type { WeightDecision } from './policy.js';

/** Options of {@link compressToGguf}. */
export interface CompressToGgufOptions {
  /** `general.name`; default 'model'. */
  name?: string;
  /** `general.architecture`; default 'generic' (see docs/gguf.md for what llama.cpp expects). */
  architecture?: string;
  /** Called after each tensor. */
  onProgress?: (progress: { done: number; total: number; name: string }) => void;
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

const kIntTypes: Partial<Record<WeightDType, GgmlType>> = { int8: 'I8', int16: 'I16', int32: 'I32', int64: 'I64' };
const kMaxHalf = 65504;

interface Plan {
  info: WeightInfo;
  type: GgmlType;
  ne: number[];
  transposed: boolean;
  action: 'quantize' | 'keep';
  reason: string;
  scheme: string;
}

/** The type a kept weight is stored as. */
function storedType(info: WeightInfo): { type: GgmlType; note: string } {
  if (info.dtype === 'float32') return { type: 'F32', note: '' };
  if (info.dtype === 'float16') return { type: 'F16', note: '' };
  if (info.dtype === 'bfloat16') return { type: 'BF16', note: '' };
  if (info.dtype === 'float64') return { type: 'F32', note: '; float64 stored as F32 (GGUF runtimes have no float64 weights)' };
  const int = kIntTypes[info.dtype];
  if (int) return { type: int, note: '' };
  throw new FormatError(`${info.name}: GGUF has no ${info.dtype} tensor type; convert that tensor to a supported type (float, int8/16/32/64) first`);
}

function maxAbs(data: Float32Array): number {
  let m = 0;
  for (let i = 0; i < data.length; i++) m = Math.max(m, Math.abs(data[i]!));
  return m; // NaN when any element is NaN
}

async function planWeight(reader: WeightReader, info: WeightInfo, decision: WeightDecision): Promise<Plan> {
  const reversed = [...info.shape].reverse();
  const ne = reversed.length ? reversed : [1];
  const keep = (reason: string): Plan => {
    const { type, note } = storedType(info);
    return { info, type, ne, transposed: false, action: 'keep', reason: reason + note, scheme: `${type} (kept)` };
  };
  if (decision.action !== 'quantize' || !FLOAT_WEIGHT_DTYPES.includes(info.dtype)) return keep(decision.reason);
  const problem = ggufSchemeProblem({
    dtype: decision.dtype, granularity: decision.granularity, groupSize: decision.groupSize, symmetric: decision.symmetric, calibrate: decision.method,
    ...(decision.range === 'custom' ? { quantMin: decision.quantMin, quantMax: decision.quantMax } : { range: decision.range }),
  });
  if (problem) throw new InvalidArgumentError('decisions', decision, `${info.name}: ${problem}`);
  const transposed = info.shape.length === 2 && decision.axis === 0;
  const rowNe = transposed ? [info.shape[0]!, info.shape[1]!] : ne;
  const data = toFloat32(await reader.read(info.name), info.dtype, info.name);
  const peak = maxAbs(data);
  const blockType: GgmlType = decision.dtype === 'qint4' ? 'Q4_0' : 'Q8_0';
  const fallback = (why: string): Plan => {
    if (!(peak <= kMaxHalf)) return { ...keep(`${why}; kept`), transposed, ne: rowNe };
    const type: GgmlType = info.dtype === 'bfloat16' ? 'BF16' : 'F16';
    return { info, type, ne: rowNe, transposed, action: 'keep', reason: `${why}; stored as ${type}`, scheme: `${type} (fallback)` };
  };
  if (info.shape.length !== 2) return { ...fallback(`rank ${info.shape.length}: GGUF blocks are for 2-D weights`), ne, transposed: false };
  if (rowNe[0]! % 32 !== 0) return fallback(`rows of ${rowNe[0]} elements are not a multiple of 32`);
  if (Number.isNaN(peak) || peak === Infinity) return fallback('non-finite values');
  if (floatToHalfBits(Math.fround(peak / (blockType === 'Q4_0' ? 8 : 127))) === 0x7c00) return fallback(`max |x| ${peak} gives a block scale past float16's range`);
  return {
    info, type: blockType, ne: rowNe, transposed, action: 'quantize', reason: decision.reason,
    scheme: `${blockType}: ${decision.dtype} symmetric blocks of 32 along axis ${transposed ? 0 : info.shape.length - 1}, float16 scales (ggml reference rounding)`,
  };
}

/** The ggml type whose bytes are the weight's own (no conversion). */
const kNativeTypes: Partial<Record<WeightDType, GgmlType>> = { float32: 'F32', float16: 'F16', bfloat16: 'BF16', ...kIntTypes };

/** Element (i, j) of a [k, n] row-major tensor moved to (j, i), `size` bytes per element. */
function transposeBytes(raw: Uint8Array, k: number, n: number, size: number): Uint8Array {
  const out = new Uint8Array(raw.byteLength);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < n; j++) out.set(raw.subarray((i * n + j) * size, (i * n + j + 1) * size), (j * k + i) * size);
  }
  return out;
}

/** A plan's values as float32, in the file's row-major layout (transposed when the plan says so). */
function rowsOf(plan: Plan, raw: Uint8Array): Float32Array {
  const data = toFloat32(raw, plan.info.dtype, plan.info.name);
  return plan.transposed ? new Float32Array(transposeBytes(new Uint8Array(data.buffer), plan.info.shape[0]!, plan.info.shape[1]!, 4).buffer) : data;
}

/** The tensor's bytes in the file, and its float32 values when they were computed (quantized or converted). */
function encode(plan: Plan, raw: Uint8Array): { bytes: Uint8Array; rows?: Float32Array } {
  if (kNativeTypes[plan.info.dtype] === plan.type) {
    const [k, n] = plan.info.shape as [number, number];
    return { bytes: plan.transposed ? transposeBytes(raw, k, n, ggmlTypeInfo(plan.type).blockBytes) : raw };
  }
  const rows = rowsOf(plan, raw);
  const bytes = new Uint8Array(ggmlTensorBytes(plan.type, plan.ne));
  const view = new DataView(bytes.buffer);
  if (plan.type === 'Q8_0') quantizeRowQ8_0(rows, bytes);
  else if (plan.type === 'Q4_0') quantizeRowQ4_0(rows, bytes);
  else if (plan.type === 'F16') rows.forEach((v, i) => view.setUint16(i * 2, floatToHalfBits(v), true));
  else if (plan.type === 'F32') rows.forEach((v, i) => view.setFloat32(i * 4, v, true));
  else throw new FormatError(`${plan.info.name}: cannot convert ${plan.info.dtype} to ${plan.type}`);
  return { bytes, rows };
}

function fileType(plans: readonly Plan[]): number {
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
 * failure.
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
  let writer;
  const plans: Plan[] = [];
  try {
    if (decisions.length !== weights.length) {
      throw new InvalidArgumentError('decisions', decisions.length, `${decisions.length} decisions for ${weights.length} weights; decide each weight of reader.list()`);
    }
    for (const [i, info] of weights.entries()) plans.push(await planWeight(reader, info, decisions[i]!));
    const metadata: GgufMetadataEntry[] = [
      { key: 'general.architecture', type: 'string', value: options.architecture ?? 'generic' },
      { key: 'general.name', type: 'string', value: options.name ?? 'model' },
      { key: 'general.file_type', type: 'uint32', value: fileType(plans) },
      { key: 'general.quantization_version', type: 'uint32', value: 2 },
      { key: 'general.alignment', type: 'uint32', value: GGUF_DEFAULT_ALIGNMENT },
    ];
    const tensorPlans: GgufTensorPlan[] = plans.map((p) => ({ name: p.info.name, type: p.type, ne: p.ne }));
    encodeGgufHeader(metadata, tensorPlans); // validates before the sink sees a byte
    writer = await createGgufWriter(sink, metadata, tensorPlans);
  } catch (error) {
    if (!writer) await sink.abort(error);
    throw error;
  }
  const tensors: GgufTensorReport[] = [];
  try {
    for (const [i, plan] of plans.entries()) {
      const { info } = plan;
      const raw = await reader.read(info.name);
      const { bytes, rows } = encode(plan, raw);
      await writer.write(info.name, bytes);
      const line: GgufTensorReport = {
        name: info.name, shape: [...info.shape], dtypeIn: info.dtype, action: plan.action, reason: plan.reason, scheme: plan.scheme,
        dtypeOut: plan.type === 'Q8_0' ? 'qint8' : plan.type === 'Q4_0' ? 'qint4' : info.dtype,
        bytesBefore: info.byteLength, bytesAfter: bytes.byteLength, ggmlType: plan.type, ne: plan.ne, transposed: plan.transposed,
      };
      if (rows) {
        const shape = [...plan.ne].reverse();
        const back = ggmlToFloat32(plan.type, bytes, rows.length, info.name);
        const stats = errorStats({ data: rows, shape }, { data: back, shape }, shape.length >= 2 ? { axis: 0 } : {});
        Object.assign(line, {
          sqnrDb: stats.overall.sqnrDb, mse: stats.overall.mse, maxAbsError: stats.overall.maxAbsError,
          perChannelSqnrDb: stats.perChannel?.sqnrDb, statsAxis: shape.length >= 2 ? (plan.transposed ? 1 : 0) : undefined,
          backend: 'cpu' as const,
        });
      }
      tensors.push(line);
      options.onProgress?.({ done: i + 1, total: plans.length, name: info.name });
    }
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
