/**
 * Quantizes one weight as a policy decision says: `chooseQParams` (granularity 'channel' → `{ axis }`,
 * 'group' → `{ axis, groupSize }`), then `quantizePerTensor` / `PerChannel` / `PerGroup`, then
 * `errorStats` against the original, all on the backend the options select. Format-independent: the ONNX
 * and safetensors writers both take its result.
 *
 * Under backend 'auto' (the default) and no caller's device, a weight smaller than the measured crossover
 * ({@link autoCrossover}: where the device's round trips stop costing more than the work, never below
 * {@link AUTO_GPU_MIN_ELEMENTS}; `Infinity` on a GPU that is never faster, such as a software adapter) is
 * computed on the CPU. The results are the same bits either way; each result's `q.backend` says where it
 * ran. 'webgpu' asks for the GPU for every weight.
 *
 * The integer range follows `decision.range` (see weight-range.ts): 'narrow' and 'custom' go to
 * `chooseQParams` as `quantMin` / `quantMax`, 'extreme' computes its parameters from per-output minima and
 * maxima under 'minmax'; under 'lsq' it is chooseQParams' 'lsq' with `signedExtreme` over the dtype's full
 * range: scales on Q4_0's grid and affine candidates, never worse per output than Q4_0's parameters
 * (docs/calibration.md).
 *
 * Data that cannot be quantized is reported, not thrown: a NaN or ±Infinity (the first one's index and
 * value), a range too wide for a float32 scale, or parameters whose dequantized range overflows float32
 * (weights near ±3.4e38: `qmin × scale` would be -Infinity); the caller keeps such a weight float.
 *
 * @example
 * ```ts
 * const result = await quantizeWeight(tensor(w, [64, 32]), decision, { backend: 'cpu' });
 * if (result.ok) { result.q.packedData(); result.stats.overall.sqnrDb; result.paramShape; }
 * else console.log(result.reason); // 'element 17 is NaN'
 * ```
 * @module
 */
import type { OpOptions } from '../ops/backend.js';
import { chooseQParams } from '../ops/choose-qparams.js';
import type { Granularity } from '../calibration/granularity.js';
import type { CalibrationSpec } from '../calibration/spec.js';
import { InvalidArgumentError } from '../errors.js';
import { type QParams, type QTensor, checkQParams } from '../qtensor.js';
import { dtypeInfo } from '../dtype.js';
import { cpuQuantize } from '../kernels/cpu/cpu-quantize.js';
import { quantizePerChannel, quantizePerGroup, quantizePerTensor } from '../ops/quantize.js';
import { errorStatsOfScanned } from '../ops/error-stats.js';
import { firstNonFinite } from '../kernels/cpu/cpu-scan.js';
import type { ErrorStats } from '../stats/types.js';
import { type Tensor, checkTensor } from '../tensor.js';
import type { WeightDecision } from './policy.js';
import { rangeOptions, signedExtremeOfRanges, signedExtremeParams } from './weight-range.js';
import { ChainedWeight } from './gpu-weight-chain.js';
import { AUTO_GPU_MIN_ELEMENTS, autoCrossover } from './auto-crossover.js';
import { lostToUnderflow } from '../stats/underflow.js';
import { storedScales } from './stored-scales.js';

export { AUTO_GPU_MIN_ELEMENTS, autoCrossover } from './auto-crossover.js';

/** The backend options for one weight: 'auto' sends weights below the measured crossover to the CPU. */
async function weightBackend(x: Tensor, backend: OpOptions | undefined): Promise<OpOptions | undefined> {
  const auto = (backend?.backend ?? 'auto') === 'auto' && backend?.device === undefined;
  // Below the floor no GPU wins: decided without acquiring (or measuring) one.
  const onCpu = auto && (x.data.length < AUTO_GPU_MIN_ELEMENTS || x.data.length < await autoCrossover(backend));
  return onCpu ? { ...backend, backend: 'cpu' } : backend;
}

/** A successfully quantized weight. */
export interface QuantizedWeight {
  ok: true;
  q: QTensor;
  /** The scales used (float32 values, after `roundScale`), row-major in `paramShape`. */
  scales: Float32Array;
  zeroPoints: Int32Array;
  /** [] per tensor, [C] per channel, the weight's shape with the axis split into groups per group. */
  paramShape: number[];
  stats: ErrorStats;
}

/** A weight that could not be quantized, and why. */
export interface UnquantizableWeight { ok: false; reason: string }

/** Options of {@link quantizeWeight}. */
export interface QuantizeWeightOptions {
  /**
   * Rounds each scale to what the output format stores (float16, say) before quantizing, so the integers
   * are computed with the scale the file holds. Must return a finite positive number, else the weight is
   * reported unquantizable.
   */
  roundScale?: (scale: number) => number;
  /**
   * On the CPU path, memory for the integers of 8- and 4-bit types: a buffer of at least `byteLength` bytes whose
   * first bytes the QTensor views (compressors lend memory used again from weight to weight; integer-lender.ts).
   * The caller hands a buffer out again only once nothing holds the QTensor or its integers.
   */
  integers?: (byteLength: number) => ArrayBuffer;
}

/**
 * The granularity argument of chooseQParams for a decision.
 *
 * @example
 * ```ts
 * calibrationGranularity({ granularity: 'group', axis: 1, groupSize: 32 } as WeightDecision); // { axis: 1, groupSize: 32 }
 * ```
 */
export function calibrationGranularity(decision: WeightDecision): Granularity {
  if (decision.granularity === 'tensor' || decision.axis === undefined) return 'per_tensor';
  if (decision.granularity === 'group') return { axis: decision.axis, groupSize: decision.groupSize ?? 32 };
  return { axis: decision.axis };
}

/**
 * The shape of the scale and zero-point tensors of a decision applied to `shape`.
 *
 * @example
 * ```ts
 * paramShapeOf([64, 100], { granularity: 'group', axis: 1, groupSize: 32 } as WeightDecision); // [64, 4]
 * paramShapeOf([64, 100], { granularity: 'channel', axis: 0 } as WeightDecision);              // [64]
 * ```
 */
export function paramShapeOf(shape: readonly number[], decision: WeightDecision): number[] {
  const granularity = calibrationGranularity(decision);
  if (granularity === 'per_tensor') return [];
  if (!('groupSize' in granularity)) return [shape[granularity.axis]!];
  return shape.map((d, i) => (i === granularity.axis ? Math.ceil(d / granularity.groupSize) : d));
}

/**
 * Quantizes `x` as `decision` says (see the module documentation). Invalid decisions (an axis out of
 * range) throw InvalidArgumentError; data that cannot be quantized gives `{ ok: false, reason }`.
 *
 * @example
 * ```ts
 * await quantizeWeight(tensor([NaN, 1, 2, 3], [2, 2]), decision); // { ok: false, reason: 'element 0 is NaN' }
 * ```
 */
export async function quantizeWeight(
  x: Tensor, decision: WeightDecision, options: QuantizeWeightOptions = {}, backend?: OpOptions,
): Promise<QuantizedWeight | UnquantizableWeight> {
  const bad = firstNonFinite(x.data);
  if (bad >= 0) return { ok: false, reason: nonFiniteReason(x.data, bad) };
  return quantizeFiniteWeight(x, decision, options, backend);
}

/**
 * Why a weight whose element `index` is NaN or ±Infinity is not quantized.
 *
 * @example
 * ```ts
 * nonFiniteReason(Float32Array.of(1, NaN), 1); // 'non-finite weight: element 1 is NaN'
 * ```
 */
export function nonFiniteReason(data: Float32Array, index: number): string {
  return `non-finite weight: element ${index} is ${data[index]}`;
}

/**
 * {@link quantizeWeight} for a weight already known to hold no NaN or ±Infinity (the caller scanned it):
 * the same result without scanning it again.
 *
 * @example
 * ```ts
 * if (firstNonFinite(w) < 0) await quantizeFiniteWeight(tensor(w, [64, 32]), decision, {}, { backend: 'cpu' });
 * ```
 */
export async function quantizeFiniteWeight(
  x: Tensor, decision: WeightDecision, options: QuantizeWeightOptions = {}, backend?: OpOptions,
): Promise<QuantizedWeight | UnquantizableWeight> {
  if (options.integers !== undefined && typeof options.integers !== 'function') {
    throw new InvalidArgumentError('options.integers', options.integers, 'options.integers must be a function (byteLength) => ArrayBuffer, or left out');
  }
  backend = await weightBackend(x, backend);
  // On the GPU, min/max calibration runs with the weight uploaded once (gpu-weight-chain.ts): same bits.
  const chain = await ChainedWeight.open(x, decision, backend);
  try {
    return await quantizeWithBackend(x, decision, options, backend, chain);
  } finally {
    chain?.release();
  }
}

/**
 * {@link quantizeFiniteWeight} for a weight not scanned yet, where the GPU's min/max chain runs
 * (gpu-weight-chain.ts): its reduction finds NaN and ±Infinity and the largest |x| on the device, so the host does
 * not read the whole weight once more to scan it. Gives the result and that largest |x| (what `maxAbs(x.data)`
 * gives) when the device saw every element finite; undefined in every other case (the CPU, another calibration
 * method, integers into a caller's buffer, a NaN or ±Infinity, an error), where the caller scans on the host and
 * calls quantizeFiniteWeight: the same outcome as without this step, which costs a second try only for a weight
 * that is not finite or cannot be quantized.
 *
 * @example
 * ```ts
 * const tried = await quantizeScanningOnDevice(x, decision, {}, { backend: 'webgpu' });
 * if (tried) tried.largestAbs; // max |x|, and tried.result is quantizeFiniteWeight's
 * ```
 */
export async function quantizeScanningOnDevice(
  x: Tensor, decision: WeightDecision, options: QuantizeWeightOptions = {}, backend?: OpOptions,
): Promise<{ result: QuantizedWeight | UnquantizableWeight; largestAbs: number } | undefined> {
  if (decision.method !== 'minmax' || options.integers !== undefined || x.data.length === 0) return undefined;
  let chain: ChainedWeight | undefined;
  try {
    const resolved = await weightBackend(x, backend);
    chain = await ChainedWeight.open(x, decision, resolved);
    if (!chain) return undefined;
    const result = await quantizeWithBackend(x, decision, options, resolved, chain);
    const scanned = chain.scanned();
    return scanned?.finite ? { result, largestAbs: scanned.largestAbs } : undefined;
  } catch {
    return undefined; // the host's scan and quantizeFiniteWeight say what is wrong, as they would have
  } finally {
    chain?.release();
  }
}

/**
 * The chooseQParams spec of a decision (the path other than 'extreme' symmetric min/max, which
 * {@link signedExtremeParams} computes).
 *
 * @example
 * ```ts
 * calibrationSpecOf(decision); // { dtype: 'qint8', granularity: { axis: 0 }, symmetric: true, method: 'minmax', quantMin: -127, quantMax: 127 }
 * ```
 */
export function calibrationSpecOf(decision: WeightDecision): CalibrationSpec & { dtype: WeightDecision['dtype'] } {
  // 'extreme' under 'lsq': Q4_0's grid searched, and the zero point too where that clearly pays.
  const signedExtreme = decision.symmetric && decision.range === 'extreme' && decision.method === 'lsq';
  return {
    dtype: decision.dtype, granularity: calibrationGranularity(decision), symmetric: decision.symmetric && !signedExtreme, method: decision.method,
    ...(signedExtreme ? { signedExtreme } : {}), ...rangeOptions(decision),
  };
}

/**
 * The axis a weight's per-channel error statistics run along: the consumers' output axis, else the channel axis
 * of a per-channel decision; undefined for none.
 *
 * @example
 * ```ts
 * statsAxisOf({ granularity: 'group', axis: 0, outputAxis: 1 } as WeightDecision); // 1
 * ```
 */
export function statsAxisOf(decision: WeightDecision): number | undefined {
  return decision.outputAxis ?? (decision.granularity === 'channel' ? decision.axis : undefined);
}

/**
 * The checked QParams of a tensor of `shape` (a weight, or a block of its rows) with the parameters laid out as
 * `granularity` says: one scale per tensor, per channel, or per group.
 *
 * @example
 * ```ts
 * granularityQParams([4, 64], 'qint8', { axis: 0 }, scales, zeroPoints); // { scheme: 'per_channel_affine', axis: 0, ... }
 * ```
 */
export function granularityQParams(
  shape: readonly number[], dtype: WeightDecision['dtype'], granularity: Granularity, scales: Float32Array, zeroPoints: Int32Array,
): QParams {
  return granularity === 'per_tensor' ? checkQParams(shape, dtype, { scale: scales[0]!, zeroPoint: zeroPoints[0]! })
    : 'groupSize' in granularity ? checkQParams(shape, dtype, { scales, zeroPoints, axis: granularity.axis, groupSize: granularity.groupSize })
      : checkQParams(shape, dtype, { scales, zeroPoints, axis: granularity.axis });
}

/**
 * The CPU path of quantizePerTensor / PerChannel / PerGroup (the same checks, the same kernel) with the integers
 * written into memory from `integers` (QuantizeWeightOptions.integers).
 */
function quantizeOnCpuInto(
  x: Tensor, granularity: Granularity, scales: Float32Array, zeroPoints: Int32Array, dtype: WeightDecision['dtype'],
  integers: (byteLength: number) => ArrayBuffer,
): QTensor {
  checkTensor(x);
  const params = granularityQParams(x.shape, dtype, granularity, scales, zeroPoints);
  const info = dtypeInfo(dtype);
  if (info.bits === 32) return cpuQuantize(x, params, info);
  const out: unknown = integers(x.data.length);
  if (!(out instanceof ArrayBuffer) || out.byteLength < x.data.length) {
    throw new InvalidArgumentError('options.integers', out, `options.integers returned ${out instanceof ArrayBuffer ? `an ArrayBuffer of ${out.byteLength} bytes` : String(out)}; `
      + `return an ArrayBuffer of at least the ${x.data.length} bytes it is asked for`);
  }
  return cpuQuantize(x, params, info, out);
}

/**
 * The scales (as `options` store them) and zero points quantizeFiniteWeight quantizes `x` with (known to hold no
 * NaN or ±Infinity), and where the GPU chain calibrated, quantized and measured in one submit, that submit's
 * result; unquantizable where quantizeFiniteWeight is for its parameters. `ranges`, on the CPU path: the ranges of
 * a signed-extreme decision's outputs, found already (group-ranges.ts), which the parameters then come from.
 *
 * @example
 * ```ts
 * const calibrated = await calibratedParams(tensor(w, [64, 32]), decision, {}, { backend: 'cpu' }, undefined);
 * if (calibrated.ok) calibrated.scales; // quantizeFiniteWeight's result.scales
 * ```
 */
export async function calibratedParams(
  x: Tensor, decision: WeightDecision, options: QuantizeWeightOptions, backend: OpOptions | undefined, chain: ChainedWeight | undefined,
  ranges?: { mins: Float32Array; maxs: Float32Array },
): Promise<{ ok: true; scales: Float32Array; zeroPoints: Int32Array; single: Awaited<ReturnType<ChainedWeight['calibrateQuantizeWithStats']>> } | UnquantizableWeight> {
  const granularity = calibrationGranularity(decision);
  const statsAxis = statsAxisOf(decision);
  // With the scales used as computed, the GPU chain calibrates, quantizes and measures in one submit.
  const oneSubmit = chain && !options.roundScale ? chain : undefined;
  let single: Awaited<ReturnType<ChainedWeight['calibrateQuantizeWithStats']>>;
  let rawScales: Float32Array;
  let zeroPoints: Int32Array;
  if (decision.range === 'extreme' && decision.symmetric && decision.method === 'minmax') {
    single = await oneSubmit?.calibrateQuantizeWithStats({ extreme: true }, granularity, decision.dtype, statsAxis);
    ({ scales: rawScales, zeroPoints } = single ?? (chain ? await chain.signedExtremeParams(granularity, decision.dtype)
      : ranges ? signedExtremeOfRanges(ranges.mins, ranges.maxs, decision.dtype) : signedExtremeParams(x.data, x.shape, granularity, decision.dtype)));
  } else {
    let calibration;
    try {
      const spec = calibrationSpecOf(decision);
      single = decision.method === 'minmax' ? await oneSubmit?.calibrateQuantizeWithStats({ spec }, granularity, decision.dtype, statsAxis) : undefined;
      calibration = single ?? (chain ? await chain.chooseQParams(spec) : await chooseQParams(x, spec, backend));
    } catch (error) {
      // The data checks of calibration (a range too wide for a float32 scale) concern the weight, not the call.
      if (error instanceof InvalidArgumentError && error.argument.startsWith('x')) return { ok: false, reason: error.message.replace(/^x\b/, 'the weight') };
      throw error;
    }
    rawScales = 'scales' in calibration ? calibration.scales : Float32Array.of(calibration.scale);
    zeroPoints = 'zeroPoints' in calibration ? calibration.zeroPoints : Int32Array.of(calibration.zeroPoint);
  }
  // The calibration's scales are this call's own: without rounding they are stored as they are, not copied.
  const scales = storedScales(rawScales, zeroPoints, decision, options, options.roundScale ? undefined : rawScales);
  return scales instanceof Float32Array ? { ok: true, scales, zeroPoints, single } : scales;
}

/**
 * Why a weight whose overall statistics are these is not quantized (its SQNR not a number, or its largest error not
 * finite), or undefined where they are usable.
 *
 * @example
 * ```ts
 * nonFiniteStats(result.stats.overall); // undefined for a weight that quantized
 * ```
 */
export function nonFiniteStats(overall: Pick<ErrorStats['overall'], 'sqnrDb' | 'maxAbsError'>): UnquantizableWeight | undefined {
  if (!Number.isNaN(overall.sqnrDb) && Number.isFinite(overall.maxAbsError)) return undefined;
  return { ok: false, reason: `the error statistics are not finite (SQNR ${overall.sqnrDb} dB, max |error| ${overall.maxAbsError})` };
}

async function quantizeWithBackend(
  x: Tensor, decision: WeightDecision, options: QuantizeWeightOptions, backend: OpOptions | undefined, chain: ChainedWeight | undefined,
): Promise<QuantizedWeight | UnquantizableWeight> {
  const granularity = calibrationGranularity(decision);
  const statsAxis = statsAxisOf(decision);
  const calibrated = await calibratedParams(x, decision, options, backend, chain);
  if (!calibrated.ok) return calibrated;
  const { scales, zeroPoints, single } = calibrated;
  const chained = single ?? await chain?.quantizeWithStats(granularity, scales, zeroPoints, decision.dtype, statsAxis);
  let q: QTensor;
  if (chained) q = chained.q;
  else if (options.integers && backend?.backend === 'cpu') q = quantizeOnCpuInto(x, granularity, scales, zeroPoints, decision.dtype, options.integers);
  else if (granularity === 'per_tensor') q = await quantizePerTensor(x, scales[0]!, zeroPoints[0]!, decision.dtype, backend);
  else if ('groupSize' in granularity) q = await quantizePerGroup(x, scales, zeroPoints, granularity.axis, granularity.groupSize, decision.dtype, backend);
  else q = await quantizePerChannel(x, scales, zeroPoints, granularity.axis, decision.dtype, backend);
  // x was scanned for NaN and ±Infinity above (or by the caller of quantizeFiniteWeight): no second scan. Statistics
  // the GPU lost to float32 underflow (stats/underflow.ts) are computed again on the CPU.
  const chainedStats = chained && !lostToUnderflow(chained.stats) ? chained.stats : undefined;
  const stats = chainedStats ?? await errorStatsOfScanned(x, q, statsAxis === undefined ? {} : { axis: statsAxis }, chained ? { backend: 'cpu' } : backend);
  const unusable = nonFiniteStats(stats.overall);
  if (unusable) return unusable;
  return { ok: true, q, scales, zeroPoints, paramShape: paramShapeOf(x.shape, decision), stats };
}
