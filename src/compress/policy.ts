/**
 * The compression policy: which weights are quantized, and how. The rule, in order (the first that applies
 * decides):
 *
 * 1. Only float weights (float32, float16, bfloat16, float64) can be quantized; other dtypes are kept.
 * 2. `exclude` patterns keep a weight; with `include` patterns, a weight none of them matches is kept.
 * 3. The first `overrides` entry whose `pattern` matches the name replaces the global settings for that
 *    weight (`keep: true` keeps it).
 * 3b. Weights of the first layer (applied to the model's inputs; ONNX models where other layers are
 *    quantized too) are kept float unless `firstLayer: 'quantize'` or an override names them: their error
 *    reaches every later layer.
 * 4. Weights of rank < 2 (biases, norms, scales) or with fewer than `minElements` (default 1024) elements
 *    are kept.
 * 5. The consumers decide the axis (see `operator-axes.ts`): Conv W axis 0, ConvTranspose W axis 1, Gemm B
 *    axis 0 with transB else 1, MatMul B the last axis, LSTM/GRU/RNN W and R axis 1, Gather data its
 *    `axis` (one scale per embedding row). Biases, recurrent initial states and graph outputs are kept;
 *    a weight with no consumer is kept; unknown operators and consumers that disagree give per tensor.
 *    Without graph information (`consumers` undefined, e.g. safetensors) axis 0 is used: PyTorch's
 *    `[out, in, …]` layout.
 * 6. Granularity: 'channel' (default) along that axis (or `axis` when given); a channel axis of size 1
 *    gives per tensor (the same thing, and ONNX needs a lower opset for it). 'group': groups of
 *    `groupSize` (default 32) along `axis` when given, else along the largest axis other than the output
 *    axis (the reduction axis: `in` of Conv / Gemm / MatMul / LSTM weights), so each group shares one
 *    output channel. 'tensor': one scale.
 * 7. `symmetric` defaults to true for qint8 / qint4 and false for quint8 / quint4; `calibrate` ('minmax'
 *    default, 'mse', 'percentile', 'lsq') goes to `chooseQParams`.
 * 8. The integer range (`range`, docs/quality.md has the measurements): 'auto' (default) is 'narrow' for
 *    symmetric 8-bit weights (scale = absmax / 127, integers in [-127, 127], as onnxruntime's quantizer,
 *    TensorRT and llama.cpp's Q8_0 do), 'extreme' for symmetric 4-bit weights calibrated by 'minmax'
 *    (llama.cpp Q4_0's rule: scale = |signed extreme| / 8, so the extreme is exact and all 16 levels are
 *    used) or 'lsq' (scales searched on Q4_0's grid and refit by least squares, the zero point moved only
 *    where that clearly pays: never worse than Q4_0 per group; docs/calibration.md), 'narrow' for
 *    symmetric 4-bit weights under 'mse' and 'percentile', and 'torch' for affine schemes.
 *    'torch' is PyTorch's observer range (the dtype's full range: absmax / 127.5 for qint8). `quantMin` /
 *    `quantMax` (both or neither) give any other range, as in `chooseQParams`.
 * 9. The quality floor (`minSqnrDb`, default {@link DEFAULT_MIN_SQNR_DB}: 25 dB for 8-bit schemes, 15 dB
 *    for 4-bit ones; `maxRelError` optional) is applied after quantizing (see quality-floor.ts): a weight
 *    below it is escalated.
 *
 * @example
 * ```ts
 * const decision = decideWeight(
 *   { name: 'conv.weight', dtype: 'float32', shape: [64, 32, 3, 3], consumers: [{ opType: 'Conv', inputIndex: 1 }] }, {});
 * decision; // { action: 'quantize', dtype: 'qint8', granularity: 'channel', axis: 0, symmetric: true, method: 'minmax', ... }
 * decideWeight({ name: 'x', dtype: 'float32', shape: [512] }, {}).reason; // 'rank 1 < 2 (biases, norms and scales stay float)'
 * ```
 * @module
 */
import type { CalibrationMethod } from '../calibration/spec.js';
import { InvalidArgumentError } from '../errors.js';
import { FLOAT_WEIGHT_DTYPES, type WeightDType } from '../io/weights.js';
import { type ConsumerRole, type PolicyConsumer, combineRoles, consumerRole } from './operator-axes.js';

export type { PolicyConsumer } from './operator-axes.js';

/** The dtypes a weight can be compressed to. */
export type CompressDType = 'qint8' | 'quint8' | 'qint4' | 'quint4';
/** One scale per tensor, per output channel, or per group of consecutive elements along an axis. */
export type CompressGranularity = 'tensor' | 'channel' | 'group';

/**
 * How the integer range of a weight is chosen (module documentation, rule 8): 'auto', 'narrow'
 * (symmetric: one level dropped at the low end, so scale = absmax / (2^(b-1) - 1)), 'torch' (the dtype's
 * full range, PyTorch's formulas) or 'extreme' (symmetric: scale = |signed extreme| / 2^(b-1), the zero
 * point shifted by one when the extreme is positive, llama.cpp Q4_0's rule; with 'lsq', that rule is the
 * search's starting candidate and the zero point is searched too; 'minmax' and 'lsq' only).
 */
export type WeightRange = 'auto' | 'narrow' | 'torch' | 'extreme';

/** The range rule a decision resolved to ('auto' never appears here; 'custom' means quantMin / quantMax). */
export type ResolvedRange = Exclude<WeightRange, 'auto'> | 'custom';

/**
 * The default quality floors, in dB of SQNR per weight, by the bits of the scheme (docs/quality.md has the
 * measurements). 8-bit: 25 dB, below every 8-bit per-channel weight of the measured models (lowest 30.5 dB)
 * and above the per-tensor weights that break PaddleOCR v4 rec (conv2d_184.w_0 9.4 dB, conv2d_180.w_0
 * 10.8 dB, …). 4-bit: 15 dB, below every int4 group-of-32 weight measured (lowest 17.2 dB), so a 4-bit
 * request stays 4-bit unless a weight is pathological. A `minSqnrDb` given in the policy applies to both.
 */
export const DEFAULT_MIN_SQNR_DB = { bits8: 25, bits4: 15 } as const;

/**
 * The quality floor of a decision: its `minSqnrDb`, else the default for its bits.
 *
 * @example
 * ```ts
 * floorOf({ dtype: 'qint4', minSqnrDb: undefined }); // 15
 * floorOf({ dtype: 'qint8', minSqnrDb: 30 });        // 30
 * ```
 */
export function floorOf(decision: Pick<WeightDecision, 'dtype' | 'minSqnrDb'>): number {
  if (decision.minSqnrDb !== undefined) return decision.minSqnrDb;
  return decision.dtype === 'qint4' || decision.dtype === 'quint4' ? DEFAULT_MIN_SQNR_DB.bits4 : DEFAULT_MIN_SQNR_DB.bits8;
}

/** How to quantize; every field optional (defaults in the module documentation). */
export interface QuantizeSettings {
  /** Default 'qint8'. */
  dtype?: CompressDType;
  /** Default 'channel'. */
  granularity?: CompressGranularity;
  /** The channel axis ('channel') or the axis groups run along ('group'), instead of the consumers' choice. */
  axis?: number;
  /** Group size for 'group'; default 32. */
  groupSize?: number;
  /** Default true for signed dtypes, false for unsigned. */
  symmetric?: boolean;
  /** Calibration method; default 'minmax'. */
  calibrate?: CalibrationMethod;
  /** Weights with fewer elements stay float; default 1024. */
  minElements?: number;
  /** The integer range rule; default 'auto' (module documentation, rule 8). */
  range?: WeightRange;
  /** A custom integer range (both or neither), inside the dtype's range and containing 0; overrides `range`. */
  quantMin?: number;
  quantMax?: number;
  /** The quality floor in dB of SQNR for every scheme; default {@link DEFAULT_MIN_SQNR_DB} (by bits); -Infinity turns it off. */
  minSqnrDb?: number;
  /** Optional second floor: the largest |error| / max |weight| allowed, e.g. 0.05. */
  maxRelError?: number;
}

/** Settings for the weights whose name matches `pattern`; `keep: true` keeps them float. */
export interface PolicyOverride extends QuantizeSettings {
  pattern: RegExp;
  keep?: boolean;
}

/** The policy options. */
export interface CompressionPolicy extends QuantizeSettings {
  /** Only weights whose name matches one of these are quantized. */
  include?: RegExp | RegExp[];
  /** Weights whose name matches one of these stay float. */
  exclude?: RegExp | RegExp[];
  /** Per-name settings; the first matching entry wins. */
  overrides?: PolicyOverride[];
  /**
   * The weights of the first layer (applied to the model's inputs, see io/onnx/input-layer.ts): 'keep'
   * (default) keeps them float unless an override names them; 'quantize' treats them as any other weight.
   */
  firstLayer?: 'keep' | 'quantize';
  /**
   * A size budget: average stored bits per quantized weight element (scales and zero points included); the
   * allocator of budget.ts then chooses each weight's precision, replacing dtype and granularity.
   */
  targetBits?: number;
}

/** A weight as the policy sees it. */
export interface PolicyWeight {
  name: string;
  dtype: WeightDType;
  shape: readonly number[];
  /** Its uses in the graph; undefined when there is no graph (then axis 0 is the output axis). */
  consumers?: readonly PolicyConsumer[];
  /** True when the graph applies it to the model's inputs (the first layer). */
  firstLayer?: boolean;
  /** True when its result reaches a model output through no other weighted operator (the size budget floors it at int4 groups of 32). */
  outputLayer?: boolean;
}

/** What the policy decided for one weight. */
export interface WeightDecision {
  name: string;
  action: 'quantize' | 'keep';
  /** Why, in words (which rule decided, which consumer gave the axis). */
  reason: string;
  dtype: CompressDType;
  granularity: CompressGranularity;
  /** The channel axis, or the axis groups run along; undefined per tensor. */
  axis: number | undefined;
  /** The group size ('group' only). */
  groupSize: number | undefined;
  symmetric: boolean;
  method: CalibrationMethod;
  /** The output-channel axis the consumers give (for per-channel error statistics), when there is one. */
  outputAxis: number | undefined;
  /** The integer range rule (module documentation, rule 8). */
  range: ResolvedRange;
  /** The custom range when `range` is 'custom'. */
  quantMin?: number;
  quantMax?: number;
  /** The quality floor in dB given by the policy (-Infinity: none); undefined: the default for the scheme's bits ({@link floorOf}). */
  minSqnrDb: number | undefined;
  /** The largest max |error| / max |weight| allowed (Infinity: none). */
  maxRelError: number;
}

const kDTypes: readonly CompressDType[] = ['qint8', 'quint8', 'qint4', 'quint4'];
const kGranularities: readonly CompressGranularity[] = ['tensor', 'channel', 'group'];
const kMethods: readonly CalibrationMethod[] = ['minmax', 'mse', 'percentile', 'lsq'];
const kRanges: readonly WeightRange[] = ['auto', 'narrow', 'torch', 'extreme'];
const kRangeLimits: Record<CompressDType, [number, number]> = { qint8: [-128, 127], quint8: [0, 255], qint4: [-8, 7], quint4: [0, 15] };

/**
 * The range rule 'auto' resolves to, and the rule for the explicit ones (module documentation, rule 8).
 *
 * @example
 * ```ts
 * resolveRange('auto', 'qint8', true, 'minmax');  // 'narrow'
 * resolveRange('auto', 'qint4', true, 'minmax');  // 'extreme'
 * resolveRange('auto', 'qint4', true, 'lsq');     // 'extreme' (scale and zero point searched)
 * resolveRange('auto', 'qint4', true, 'mse');     // 'narrow'
 * resolveRange('auto', 'quint8', false, 'minmax'); // 'torch'
 * ```
 */
export function resolveRange(range: WeightRange, dtype: CompressDType, symmetric: boolean, method: CalibrationMethod): Exclude<WeightRange, 'auto'> {
  if (!symmetric) return 'torch'; // affine schemes use the full range: min and max are both exact already
  const extremeMethod = method === 'minmax' || method === 'lsq';
  if (range === 'extreme' && !extremeMethod) return 'narrow';
  if (range !== 'auto') return range;
  const fourBit = dtype === 'qint4' || dtype === 'quint4';
  return fourBit && extremeMethod ? 'extreme' : 'narrow';
}

function patterns(value: RegExp | RegExp[] | undefined): RegExp[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

function matches(pattern: RegExp, name: string): boolean {
  pattern.lastIndex = 0; // a /g or /y pattern keeps state between test() calls
  return pattern.test(name);
}

function checkSettings(settings: QuantizeSettings, where: string): void {
  const fail = (field: string, value: unknown, fix: string): never => {
    throw new InvalidArgumentError(`${where}.${field}`, value, `${where}.${field} is ${JSON.stringify(value)}; ${fix}`);
  };
  const s = settings;
  if (s.dtype !== undefined && !kDTypes.includes(s.dtype)) fail('dtype', s.dtype, `use one of ${kDTypes.join(', ')}`);
  if (s.granularity !== undefined && !kGranularities.includes(s.granularity)) fail('granularity', s.granularity, `use one of ${kGranularities.join(', ')}`);
  if (s.axis !== undefined && !Number.isInteger(s.axis)) fail('axis', s.axis, 'use an integer axis (negative counts from the end)');
  if (s.groupSize !== undefined && !(Number.isSafeInteger(s.groupSize) && s.groupSize >= 1)) fail('groupSize', s.groupSize, 'use a positive integer, e.g. 32');
  if (s.symmetric !== undefined && typeof s.symmetric !== 'boolean') fail('symmetric', s.symmetric, 'use true or false');
  if (s.calibrate !== undefined && !kMethods.includes(s.calibrate)) fail('calibrate', s.calibrate, `use one of ${kMethods.join(', ')}`);
  if (s.minElements !== undefined && !(Number.isSafeInteger(s.minElements) && s.minElements >= 0)) fail('minElements', s.minElements, 'use a non-negative integer');
  if (s.range !== undefined && !kRanges.includes(s.range)) fail('range', s.range, `use one of ${kRanges.join(', ')}`);
  if ((s.quantMin === undefined) !== (s.quantMax === undefined)) {
    fail(s.quantMin === undefined ? 'quantMin' : 'quantMax', undefined, 'give quantMin and quantMax together, or neither');
  }
  if (s.quantMin !== undefined) {
    if (!Number.isInteger(s.quantMin) || s.quantMin > 0) fail('quantMin', s.quantMin, 'use an integer <= 0, e.g. -127');
    if (!Number.isInteger(s.quantMax) || s.quantMax! < 0 || s.quantMax! <= s.quantMin) fail('quantMax', s.quantMax, 'use an integer >= 0 and > quantMin, e.g. 127');
    const [lo, hi] = kRangeLimits[s.dtype ?? 'qint8'];
    if (s.dtype !== undefined && (s.quantMin < lo || s.quantMax! > hi)) fail('quantMin', s.quantMin, `for ${s.dtype} stay inside [${lo}, ${hi}]`);
  }
  if (s.minSqnrDb !== undefined && (typeof s.minSqnrDb !== 'number' || Number.isNaN(s.minSqnrDb) || s.minSqnrDb === Infinity)) {
    fail('minSqnrDb', s.minSqnrDb, 'use a number of dB, e.g. 25 (or -Infinity for no floor)');
  }
  if (s.maxRelError !== undefined && !(typeof s.maxRelError === 'number' && s.maxRelError > 0)) {
    fail('maxRelError', s.maxRelError, 'use a positive number, e.g. 0.05 (5 % of the largest |weight|)');
  }
}

/**
 * Checks every field of a policy; throws InvalidArgumentError naming the field (e.g. `policy.overrides[1].dtype`).
 *
 * @example
 * ```ts
 * checkPolicy({ dtype: 'int8' as never }); // throws: policy.dtype is "int8"; use one of qint8, quint8, qint4, quint4
 * ```
 */
export function checkPolicy(policy: CompressionPolicy, where = 'policy'): void {
  if (policy === null || typeof policy !== 'object') {
    throw new InvalidArgumentError(where, policy, `${where} must be an object like { dtype: 'qint8', granularity: 'channel' }`);
  }
  checkSettings(policy, where);
  for (const field of ['include', 'exclude'] as const) {
    const list = policy[field];
    if (list !== undefined && !patterns(list).every((p) => p instanceof RegExp)) {
      throw new InvalidArgumentError(`${where}.${field}`, list, `${where}.${field} must be a RegExp or an array of RegExps`);
    }
  }
  if (policy.firstLayer !== undefined && policy.firstLayer !== 'keep' && policy.firstLayer !== 'quantize') {
    throw new InvalidArgumentError(`${where}.firstLayer`, policy.firstLayer, `${where}.firstLayer is ${JSON.stringify(policy.firstLayer)}; use 'keep' or 'quantize'`);
  }
  if (policy.overrides !== undefined) {
    if (!Array.isArray(policy.overrides)) {
      throw new InvalidArgumentError(`${where}.overrides`, policy.overrides, `${where}.overrides must be an array of { pattern: RegExp, ... }`);
    }
    policy.overrides.forEach((entry, i) => {
      const at = `${where}.overrides[${i}]`;
      if (entry === null || typeof entry !== 'object' || !(entry.pattern instanceof RegExp)) {
        throw new InvalidArgumentError(`${at}.pattern`, entry?.pattern, `${at}.pattern must be a RegExp, e.g. /lstm/`);
      }
      if (entry.keep !== undefined && typeof entry.keep !== 'boolean') {
        throw new InvalidArgumentError(`${at}.keep`, entry.keep, `${at}.keep must be true or false`);
      }
      checkSettings(entry, at);
    });
  }
}

/** The consumers' verdict for a weight. */
function roleOf(weight: PolicyWeight): ConsumerRole {
  const rank = weight.shape.length;
  if (weight.consumers === undefined) return { kind: 'channel', axis: 0, why: 'no graph: PyTorch [out, in, …] layout' };
  return combineRoles(weight.consumers.map((c) => consumerRole(c, rank)));
}

/** The largest axis other than `outputAxis` (ties: the lower index); the last axis of a rank-1 tensor. */
function groupAxisOf(shape: readonly number[], outputAxis: number | undefined): number {
  let best = -1;
  shape.forEach((dim, i) => {
    if (i !== outputAxis && (best < 0 || dim > shape[best]!)) best = i;
  });
  return best < 0 ? shape.length - 1 : best;
}

/**
 * Decides what happens to one weight (see the module documentation for the rule). Throws
 * InvalidArgumentError for malformed options, or an `axis` outside the weight's rank.
 *
 * @example
 * ```ts
 * decideWeight({ name: 'lstm.W', dtype: 'float32', shape: [1, 256, 64], consumers: [{ opType: 'LSTM', inputIndex: 1 }] },
 *   { dtype: 'qint4', granularity: 'group' });
 * // { action: 'quantize', granularity: 'group', axis: 2, groupSize: 32, outputAxis: 1, ... }
 * ```
 */
export function decideWeight(weight: PolicyWeight, policy: CompressionPolicy = {}): WeightDecision {
  const { name, dtype: weightDType, shape } = weight;
  const override = policy.overrides?.find((o) => matches(o.pattern, name));
  const s: QuantizeSettings = override ? { ...policy, ...override } : policy;
  const dtype = s.dtype ?? 'qint8';
  const symmetric = s.symmetric ?? (dtype === 'qint8' || dtype === 'qint4');
  const method = s.calibrate ?? 'minmax';
  const custom = s.quantMin !== undefined && s.quantMax !== undefined;
  if (custom) {
    const [lo, hi] = kRangeLimits[dtype];
    if (s.quantMin! < lo || s.quantMax! > hi) {
      throw new InvalidArgumentError('quantMin', s.quantMin, `quantMin / quantMax [${s.quantMin}, ${s.quantMax}] do not fit ${dtype} [${lo}, ${hi}]`);
    }
  }
  const base = {
    name, dtype, symmetric, method, granularity: s.granularity ?? 'channel',
    axis: undefined, groupSize: undefined, outputAxis: undefined,
    range: custom ? 'custom' as const : resolveRange(s.range ?? 'auto', dtype, symmetric, method),
    ...(custom ? { quantMin: s.quantMin, quantMax: s.quantMax } : {}),
    minSqnrDb: s.minSqnrDb, maxRelError: s.maxRelError ?? Infinity,
  } as const;
  // A literal, not a spread of `base`: V8 stores it in a third of the memory, which counts with many small weights.
  const keep = (reason: string): WeightDecision => ({
    name, dtype, symmetric, method: base.method, granularity: base.granularity, axis: undefined, groupSize: undefined, outputAxis: undefined,
    range: base.range, quantMin: base.quantMin, quantMax: base.quantMax, minSqnrDb: base.minSqnrDb, maxRelError: base.maxRelError,
    action: 'keep', reason,
  });
  if (!FLOAT_WEIGHT_DTYPES.includes(weightDType)) return keep(`${weightDType} is not a float type`);
  const excluded = patterns(policy.exclude).find((p) => matches(p, name));
  if (excluded) return keep(`excluded by ${excluded}`);
  const include = patterns(policy.include);
  if (include.length && !include.some((p) => matches(p, name))) return keep(`matches no include pattern (${include.join(', ')})`);
  if (override?.keep) return keep(`kept by override ${override.pattern}`);
  if (weight.firstLayer && !override && (policy.firstLayer ?? 'keep') === 'keep') {
    return keep('first layer (applied to the model input; its error reaches every later layer): kept float; firstLayer: \'quantize\' or an override quantizes it');
  }
  const size = shape.reduce((a, b) => a * b, 1);
  const minElements = s.minElements ?? 1024;
  if (shape.length < 2) return keep(`rank ${shape.length} < 2 (biases, norms and scales stay float)`);
  if (size < minElements) return keep(`${size} elements < ${minElements} (small tensors stay float)`);
  const role = roleOf(weight);
  if (role.kind === 'keep') return keep(role.why);
  const outputAxis = role.kind === 'channel' ? role.axis : undefined;
  const rank = shape.length;
  let axis = s.axis;
  if (axis !== undefined) {
    if (axis < -rank || axis >= rank) {
      throw new InvalidArgumentError(override ? 'overrides.axis' : 'axis', axis,
        `axis ${axis} does not fit weight ${JSON.stringify(name)} of rank ${rank} (shape [${shape.join(', ')}]); use -${rank}..${rank - 1} `
        + 'or an override with a pattern that matches only weights of that rank');
    }
    axis = axis < 0 ? axis + rank : axis;
  }
  const via = override ? ` (override ${override.pattern})` : '';
  const quantize = (granularity: CompressGranularity, chosenAxis: number | undefined, groupSize: number | undefined, reason: string) => ({
    ...base, action: 'quantize' as const, granularity, axis: chosenAxis, groupSize, outputAxis, reason: reason + via,
  });
  const granularity = base.granularity;
  if (granularity === 'tensor') return quantize('tensor', undefined, undefined, `per tensor as requested; ${role.why}`);
  if (granularity === 'group') {
    const groupAxis = axis ?? groupAxisOf(shape, outputAxis);
    const groupSize = s.groupSize ?? 32;
    return quantize('group', groupAxis, groupSize, `groups of ${groupSize} along axis ${groupAxis}${
      axis === undefined ? ` (the largest axis besides the output axis${outputAxis === undefined ? '' : ` ${outputAxis}`})` : ''}; ${role.why}`);
  }
  const channelAxis = axis ?? outputAxis;
  if (channelAxis === undefined) return quantize('tensor', undefined, undefined, `per tensor: ${role.why}`);
  if (shape[channelAxis] === 1) {
    return quantize('tensor', undefined, undefined, `per tensor: channel axis ${channelAxis} has size 1 (${role.why})`);
  }
  return quantize('channel', channelAxis, undefined, `per channel along axis ${channelAxis}: ${axis === undefined ? role.why : 'axis option'}`);
}

/**
 * Checks the policy once, then decides every weight.
 *
 * @example
 * ```ts
 * const plan = decideWeights(model.list(), { dtype: 'qint8', exclude: /feature_extractor/ });
 * plan.filter((d) => d.action === 'quantize').length;
 * ```
 */
export function decideWeights(weights: readonly PolicyWeight[], policy: CompressionPolicy = {}): WeightDecision[] {
  checkPolicy(policy);
  return weights.map((w) => decideWeight(w, policy));
}
