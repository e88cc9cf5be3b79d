/**
 * What compressToGguf does with one weight: its ggml type, dims and layout, and the reason, from its decision
 * and, for a weight to quantize from floats, its largest |x| (NaN / ±Infinity and block scales past float16
 * fall back to F16 or F32). Plain data and pure functions, so the calling thread and a CPU worker (which reads
 * a weight from its file and plans it there) come to the same plan.
 *
 * @example
 * ```ts
 * const info = { name: 'fc.weight', dtype: 'float32', shape: [64, 32], byteLength: 8192 } as const;
 * const plan = ggufPlanOf(info, decision, 0.5); // { type: 'Q8_0', ne: [32, 64], transposed: false, action: 'quantize', … }
 * ggufEncodePlanOf(plan); // what encodeGgufTensor needs
 * ```
 * @module
 */
import { FormatError, InvalidArgumentError } from '../errors.js';
import type { GgmlType } from '../io/gguf/ggml-types.js';
import { floatToHalfBits } from '../io/half.js';
import { FLOAT_WEIGHT_DTYPES, type WeightInfo } from '../io/weights.js';
import { GGML_NATIVE_TYPES, type GgufEncodePlan } from './gguf-encode.js';
import { ggufSchemeProblem } from './gguf-scheme.js';
import type { WeightDecision } from './policy.js';

/** The largest float16 value. */
const kMaxHalf = 65504;

/** One weight's plan in a GGUF file. */
export interface GgufPlan {
  info: WeightInfo;
  type: GgmlType;
  ne: number[];
  transposed: boolean;
  action: 'quantize' | 'keep';
  reason: string;
  scheme: string;
  /** A tensor without elements: listed in the report, left out of the file. */
  omitted?: boolean;
}

/** The type a kept weight is stored as. */
function storedType(info: WeightInfo): { type: GgmlType; note: string } {
  if (info.dtype === 'float64') return { type: 'F32', note: '; float64 stored as F32 (GGUF runtimes have no float64 weights)' };
  const native = GGML_NATIVE_TYPES[info.dtype];
  if (native) return { type: native, note: '' };
  throw new FormatError(`${info.name}: GGUF has no ${info.dtype} tensor type; convert that tensor to a supported type (float, int8/16/32/64) first`);
}

/**
 * Whether a weight's plan depends on its values (a weight to quantize from floats): only then does
 * {@link ggufPlanOf} need its largest |x|.
 *
 * @example
 * ```ts
 * ggufPlanReads({ dtype: 'float32' }, { action: 'quantize' }); // true
 * ggufPlanReads({ dtype: 'int8' }, { action: 'quantize' });    // false
 * ```
 */
export function ggufPlanReads(info: Pick<WeightInfo, 'dtype'>, decision: Pick<WeightDecision, 'action'> | undefined): boolean {
  return decision?.action === 'quantize' && FLOAT_WEIGHT_DTYPES.includes(info.dtype);
}

/**
 * A weight's plan when its largest |x| is `peak` (NaN when it holds a NaN, Infinity for ±Infinity without one),
 * which only a weight to quantize from floats depends on: with 0, the plan of a finite weight of moderate
 * values (what a header written ahead assumes). Throws InvalidArgumentError for a decision GGUF cannot hold,
 * FormatError for a tensor type GGUF lacks.
 *
 * @example
 * ```ts
 * ggufPlanOf({ name: 'w', dtype: 'float32', shape: [8, 64], byteLength: 2048 }, decision, NaN).scheme; // 'F16 (fallback)'
 * ```
 */
export function ggufPlanOf(info: WeightInfo, decision: WeightDecision, peak: number): GgufPlan {
  const reversed = [...info.shape].reverse();
  const ne = reversed.length ? reversed : [1];
  if (info.shape.includes(0)) {
    // ggml's loader divides by each dimension past the first (a zero there is a crash, not an error), and a
    // tensor without elements holds nothing to load: it is left out, whatever its type.
    return {
      info, type: GGML_NATIVE_TYPES[info.dtype] ?? 'F32', ne, transposed: false, action: 'keep', omitted: true, scheme: 'left out (no elements)',
      reason: `${decision.reason}; no elements: left out of the file (ggml tensors have every dimension at least 1)`,
    };
  }
  const keep = (reason: string): GgufPlan => {
    const { type, note } = storedType(info);
    return { info, type, ne, transposed: false, action: 'keep', reason: reason + note, scheme: `${type} (kept)` };
  };
  if (!ggufPlanReads(info, decision) || decision.action !== 'quantize') return keep(decision.reason);
  const problem = ggufSchemeProblem({
    dtype: decision.dtype, granularity: decision.granularity, groupSize: decision.groupSize, symmetric: decision.symmetric, calibrate: decision.method,
    ...(decision.range === 'custom' ? { quantMin: decision.quantMin, quantMax: decision.quantMax } : { range: decision.range }),
  });
  if (problem) throw new InvalidArgumentError('decisions', decision, `${info.name}: ${problem}`);
  const transposed = info.shape.length === 2 && decision.axis === 0;
  const rowNe = transposed ? [info.shape[0]!, info.shape[1]!] : ne;
  const blockType: GgmlType = decision.dtype === 'qint4' ? 'Q4_0' : 'Q8_0';
  const fallback = (why: string): GgufPlan => {
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

/**
 * What encoding a plan's tensor needs (plain data: it may be sent to a worker).
 *
 * @example
 * ```ts
 * encodeGgufTensor(ggufEncodePlanOf(plan), raw);
 * ```
 */
export function ggufEncodePlanOf(plan: GgufPlan): GgufEncodePlan {
  return { name: plan.info.name, dtype: plan.info.dtype, shape: plan.info.shape, type: plan.type, ne: plan.ne, transposed: plan.transposed };
}

/**
 * Whether two plans of a weight give the same bytes in the file (type, dims, layout).
 *
 * @example
 * ```ts
 * sameGgufPlan(ggufPlanOf(info, decision, 0), ggufPlanOf(info, decision, peak)); // false when the weight falls back
 * ```
 */
export function sameGgufPlan(a: GgufPlan, b: GgufPlan): boolean {
  return a.omitted === b.omitted && a.type === b.type && a.transposed === b.transposed && a.ne.length === b.ne.length && a.ne.every((d, k) => d === b.ne[k]);
}
