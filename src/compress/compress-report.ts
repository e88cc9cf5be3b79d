/**
 * What a compression reports: one entry per weight (kept or quantized, why, the scheme, bytes before and
 * after, and for quantized weights the error against the original: SQNR, MSE, max |error|, SQNR per
 * output channel), and totals (tensors quantized / kept, weight bytes before / after, compression ratio).
 *
 * @example
 * ```ts
 * const { report } = await compressOnnx(bytes);
 * report.totals.compressionRatio;                  // e.g. 3.6
 * report.tensors.filter((t) => t.action === 'quantize').sort((a, b) => a.sqnrDb! - b.sqnrDb!)[0]; // the worst tensor
 * ```
 * @module
 */
import type { QDType } from '../dtype.js';
import type { WeightDType } from '../io/weights.js';
import type { ResolvedBackend } from '../tensor.js';
import type { WeightDecision } from './policy.js';
import type { EscalationStep } from './quality-floor.js';

/** One weight's line in the report. */
export interface TensorReport {
  /** The weight's name as the reader lists it. */
  name: string;
  shape: number[];
  dtypeIn: WeightDType;
  /** The stored type afterwards: the quantized dtype, or `dtypeIn` when kept. */
  dtypeOut: QDType | WeightDType;
  action: 'quantize' | 'keep';
  /** Why: the policy's reason, or what made a planned quantization fall back to float. */
  reason: string;
  /** E.g. 'qint8 per channel (axis 0), symmetric, minmax'; 'float (kept)' when kept. */
  scheme: string;
  bytesBefore: number;
  /** Data + scales + zero points for quantized weights; `bytesBefore` when kept. */
  bytesAfter: number;
  sqnrDb?: number;
  mse?: number;
  maxAbsError?: number;
  /** SQNR per index along `statsAxis` (the output-channel axis), when there is one. */
  perChannelSqnrDb?: Float64Array;
  statsAxis?: number;
  /** Which backend quantized it. */
  backend?: ResolvedBackend;
  /** The ONNX operator that dequantizes it (ONNX output): 'DequantizeLinear' (QDQ) or onnxruntime's 'MatMulNBits'. */
  onnxOp?: 'DequantizeLinear' | 'MatMulNBits' | 'GatherBlockQuantized';
  /** The steps up the quality-floor ladder from the scheme the policy chose, when it was below the floor. */
  escalations?: EscalationStep[];
}

/** Sums over every weight. */
export interface CompressionTotals {
  tensorsQuantized: number;
  tensorsKept: number;
  /** Bytes of every weight (kept ones included) before and after. */
  bytesBefore: number;
  bytesAfter: number;
  /** bytesBefore / bytesAfter. */
  compressionRatio: number;
  /** Weights escalated by the quality floor (to a finer scheme, or kept float). */
  tensorsEscalated: number;
}

/**
 * The scheme text of a decision.
 *
 * @example
 * ```ts
 * describeScheme({ dtype: 'qint4', granularity: 'group', axis: 1, groupSize: 32, symmetric: true, method: 'mse' } as WeightDecision);
 * // 'qint4 per group (axis 1, groupSize 32), symmetric, mse'
 * describeScheme({ dtype: 'qint8', granularity: 'channel', axis: 0, symmetric: true, method: 'minmax', range: 'narrow' } as WeightDecision);
 * // 'qint8 per channel (axis 0), symmetric (narrow range), minmax'
 * ```
 */
export function describeScheme(d: Pick<WeightDecision, 'dtype' | 'granularity' | 'axis' | 'groupSize' | 'symmetric' | 'method'>
  & Partial<Pick<WeightDecision, 'range' | 'quantMin' | 'quantMax'>>): string {
  const granularity = d.granularity === 'tensor' ? 'per tensor'
    : d.granularity === 'channel' ? `per channel (axis ${d.axis})` : `per group (axis ${d.axis}, groupSize ${d.groupSize})`;
  const range = d.range === undefined || !d.symmetric ? ''
    : d.range === 'custom' ? ` [${d.quantMin}, ${d.quantMax}]` : d.range === 'torch' ? ' (torch range)' : ` (${d.range} range)`;
  return `${d.dtype} ${granularity}, ${d.symmetric ? 'symmetric' : 'affine'}${range}, ${d.method}`;
}

/**
 * Totals of a list of tensor reports.
 *
 * @example
 * ```ts
 * compressionTotals(report.tensors).compressionRatio; // e.g. 3.6
 * ```
 */
export function compressionTotals(tensors: readonly TensorReport[]): CompressionTotals {
  let bytesBefore = 0;
  let bytesAfter = 0;
  let tensorsQuantized = 0;
  let tensorsEscalated = 0;
  for (const t of tensors) {
    if (t.escalations?.length) tensorsEscalated++;
    bytesBefore += t.bytesBefore;
    bytesAfter += t.bytesAfter;
    if (t.action === 'quantize') tensorsQuantized++;
  }
  return {
    tensorsQuantized, tensorsKept: tensors.length - tensorsQuantized, tensorsEscalated, bytesBefore, bytesAfter,
    compressionRatio: bytesAfter > 0 ? bytesBefore / bytesAfter : 1,
  };
}
