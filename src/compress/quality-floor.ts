/**
 * The quality floor: no weight is handed back below it. After a weight is quantized as decided, its SQNR
 * (and, when `maxRelError` is set, its max |error| / max |weight|) is checked against the decision's floor;
 * below it, the weight is escalated one step up the ladder and tried again:
 *
 * 1. 4-bit (any granularity) → 8-bit per channel along the output axis (per tensor when there is none);
 * 2. 8-bit per tensor → 8-bit per channel along the output axis, when there is one;
 * 3. anything else → kept float.
 *
 * Each step is recorded with its reason, e.g. `conv2d_184.w_0: qint8 per tensor 9.4 dB < 25 dB floor →
 * qint8 per channel 30.5 dB`. The 8-bit step keeps the signedness and symmetry of the request and takes
 * the 8-bit default range ('narrow' for symmetric, unless 'torch' was asked for).
 *
 * {@link measureScheme} ("try scheme X on weight W, get its error") and {@link escalationOf} are the pieces
 * a size-budget allocator needs; {@link quantizeWithFloor} puts them together for the compressors.
 *
 * @example
 * ```ts
 * const outcome = await quantizeWithFloor({ data, shape: [64, 32, 3, 3] }, decision, {}, { backend: 'cpu' });
 * if (outcome.kind === 'quantized') outcome.result.stats.overall.sqnrDb; // >= floorOf(outcome.decision)
 * outcome.steps.map((s) => s.text); // ['w: qint8 per tensor 9.4 dB < 25 dB floor → qint8 per channel 38.1 dB']
 * ```
 * @module
 */
import type { OpOptions } from '../ops/backend.js';
import type { Tensor } from '../tensor.js';
import { maxAbs, scanFinite } from '../kernels/cpu/cpu-scan.js';
import { type CompressDType, type WeightDecision, floorOf, resolveRange } from './policy.js';
import { type QuantizeWeightOptions, type QuantizedWeight, nonFiniteReason, quantizeFiniteWeight, quantizeScanningOnDevice, quantizeWeight } from './quantize-weight.js';

/** One escalation: the scheme that fell below the floor, by how much, and what was tried next. */
export interface EscalationStep {
  /** The scheme that was below the floor, e.g. 'qint8 per tensor'. */
  from: string;
  /** Its SQNR in dB. */
  sqnrDb: number;
  /** Its max |error| / max |weight|. */
  relError: number;
  /** Why it failed, e.g. '9.4 dB < 25 dB floor'. */
  reason: string;
  /** The next scheme ('float (kept)' when none is left). */
  to: string;
  /** One line for reports: `name: from 9.4 dB < 15 dB floor → to 38.1 dB`. */
  text: string;
}

/** What {@link quantizeWithFloor} ends with. */
export type FloorOutcome =
  | { kind: 'quantized'; decision: WeightDecision; result: QuantizedWeight; steps: EscalationStep[] }
  /** `nonFinite`: kept because the weight holds NaN or ±Infinity (the reason names the first such element). */
  | { kind: 'keep'; reason: string; steps: EscalationStep[]; nonFinite?: true };

/** A scheme's error on one weight. */
export interface SchemeMeasurement {
  /** The quantized weight, or why it cannot be quantized so. */
  result: Awaited<ReturnType<typeof quantizeWeight>>;
  sqnrDb: number;
  /** max |error| / max |weight| (0 for an all-zero weight). */
  relError: number;
  /** Undefined when the scheme meets the decision's floor; else why not ('9.4 dB < 25 dB floor'). */
  belowFloor: string | undefined;
}

const fourBit = (dtype: CompressDType) => dtype === 'qint4' || dtype === 'quint4';

/**
 * A short name of a decision's scheme for escalation reports.
 *
 * @example
 * ```ts
 * shortScheme({ dtype: 'qint4', granularity: 'group', groupSize: 32 } as WeightDecision); // 'qint4 per group of 32'
 * ```
 */
export function shortScheme(d: Pick<WeightDecision, 'dtype' | 'granularity' | 'groupSize'>): string {
  const granularity = d.granularity === 'tensor' ? 'per tensor' : d.granularity === 'channel' ? 'per channel' : `per group of ${d.groupSize}`;
  return `${d.dtype} ${granularity}`;
}

/**
 * The next scheme up the ladder (module documentation) for a weight of `shape`, or undefined when the
 * weight should be kept float.
 *
 * @example
 * ```ts
 * escalationOf({ dtype: 'qint4', granularity: 'group', outputAxis: 0, ... }, [64, 128]); // qint8 per channel along axis 0
 * escalationOf({ dtype: 'qint8', granularity: 'channel', ... }, [64, 128]);              // undefined: keep float
 * ```
 */
export function escalationOf(decision: WeightDecision, shape: readonly number[]): WeightDecision | undefined {
  const out = decision.outputAxis;
  const channel = out !== undefined && shape[out]! > 1;
  if (fourBit(decision.dtype)) {
    const dtype: CompressDType = decision.dtype === 'qint4' ? 'qint8' : 'quint8';
    const range = resolveRange(decision.range === 'torch' ? 'torch' : 'auto', dtype, decision.symmetric, decision.method);
    const { quantMin: _min, quantMax: _max, ...rest } = decision;
    return {
      ...rest, dtype, range, granularity: channel ? 'channel' : 'tensor', axis: channel ? out : undefined, groupSize: undefined,
      reason: `${decision.reason}; escalated to 8 bits`,
    };
  }
  if (decision.granularity === 'tensor' && channel) {
    return { ...decision, granularity: 'channel', axis: out, groupSize: undefined, reason: `${decision.reason}; escalated to per channel` };
  }
  return undefined;
}

const formatDb = (db: number) => (Number.isFinite(db) ? db.toFixed(1) : String(db));

/**
 * Quantizes `x` as `decision` says and measures it against the decision's floor: "try scheme X on weight
 * W, get its SQNR". `peak` (max |x|) may be passed when the caller tries several schemes.
 *
 * @example
 * ```ts
 * const m = await measureScheme(x, { ...decision, granularity: 'tensor', axis: undefined });
 * m.sqnrDb; m.belowFloor; // 9.4, '9.4 dB < 25 dB floor'
 * ```
 */
export async function measureScheme(
  x: Tensor, decision: WeightDecision, options: QuantizeWeightOptions = {}, backend?: OpOptions, peak = maxAbs(x.data),
): Promise<SchemeMeasurement> {
  return measure(decision, await quantizeWeight(x, decision, options, backend), peak);
}

/** A quantized weight measured against its decision's floor. */
function measure(decision: WeightDecision, result: Awaited<ReturnType<typeof quantizeWeight>>, peak: number): SchemeMeasurement {
  if (!result.ok) return { result, sqnrDb: NaN, relError: NaN, belowFloor: result.reason };
  const { sqnrDb, maxAbsError } = result.stats.overall;
  const relError = peak > 0 ? maxAbsError / peak : 0;
  return { result, sqnrDb, relError, belowFloor: belowFloorOf(decision, sqnrDb, relError) };
}

/**
 * Why a weight with this SQNR and max |error| / max |weight| is below its decision's floor, or undefined
 * when it meets it.
 *
 * @example
 * ```ts
 * belowFloorOf({ dtype: 'qint8', minSqnrDb: 25, maxRelError: undefined } as WeightDecision, 9.4, 0.1); // '9.4 dB < 25 dB floor'
 * ```
 */
export function belowFloorOf(decision: WeightDecision, sqnrDb: number, relError: number): string | undefined {
  const floor = floorOf(decision);
  if (sqnrDb < floor) return `${formatDb(sqnrDb)} dB < ${floor} dB floor`;
  if (relError > decision.maxRelError) return `max relative error ${relError.toPrecision(3)} > ${decision.maxRelError}`;
  return undefined;
}

/**
 * Quantizes `x` as `decision` says, escalating while it stays below the floor (module documentation).
 * A weight that cannot be quantized at all (non-finite data, a dequantized range beyond float32) is kept
 * with that reason, without escalation (`nonFinite: true` for NaN or ±Infinity). On the GPU the first scheme's
 * min/max reduction checks the weight for those and gives max |x|; elsewhere one scan on the host does.
 *
 * @example
 * ```ts
 * const outcome = await quantizeWithFloor(x, { ...decision, minSqnrDb: 25 });
 * outcome.kind; // 'quantized' (possibly as a later scheme: outcome.decision) or 'keep'
 * ```
 */
export async function quantizeWithFloor(
  x: Tensor, decision: WeightDecision, options: QuantizeWeightOptions = {}, backend?: OpOptions,
): Promise<FloorOutcome> {
  const steps: EscalationStep[] = [];
  // On the GPU the first scheme's min/max reduction says whether the weight is finite and gives max |x|
  // (quantizeScanningOnDevice); elsewhere one scan on the host does, before any scheme is tried.
  let first = await quantizeScanningOnDevice(x, decision, options, backend);
  let peak: number;
  if (first) peak = first.largestAbs;
  else {
    const scanned = scanFinite(x.data);
    if (scanned.firstNonFinite >= 0) return { kind: 'keep', reason: `${nonFiniteReason(x.data, scanned.firstNonFinite)}; kept float`, steps, nonFinite: true };
    peak = scanned.maxAbs;
  }
  let current = decision;
  for (;;) {
    const m = measure(current, first?.result ?? await quantizeFiniteWeight(x, current, options, backend), peak);
    first = undefined;
    if (!m.result.ok) return { kind: 'keep', reason: `${m.result.reason}; kept float`, steps };
    const last = steps[steps.length - 1];
    if (last) last.text += ` ${formatDb(m.sqnrDb)} dB`;
    if (m.belowFloor === undefined) return { kind: 'quantized', decision: current, result: m.result, steps };
    const next = escalationOf(current, x.shape);
    const to = next ? shortScheme(next) : 'float (kept)';
    steps.push({
      from: shortScheme(current), sqnrDb: m.sqnrDb, relError: m.relError, reason: m.belowFloor, to,
      text: `${decision.name}: ${shortScheme(current)} ${m.belowFloor} → ${to}`,
    });
    if (!next) return { kind: 'keep', reason: `below the quality floor as ${shortScheme(current)} (${m.belowFloor}); kept float`, steps };
    current = next;
  }
}
