/**
 * One GPU round trip per weight: how {@link quantizeWeight} runs a weight calibrated by min/max on the GPU.
 * The float32 weight is uploaded once and stays on the device; min/max reduction, scales and zero points
 * (computed on the device, bit for bit the host's), quantize and error statistics run in one submit whose single
 * readback brings the ranges, the parameters, the integers and the statistics' partials
 * (src/kernels/weight/calibrate-quantize.ts). The host recomputes the parameters from the ranges with
 * `chooseQParams`' own code (or the 'extreme' rule), which raises the same errors, and uses the device's
 * result only when every bit agrees. Where the one submit does not apply (scales rounded for the output
 * format by `roundScale`, a weight larger than one reduction box or one chunk, a bit that differs), the chain
 * takes two submits: min/max with a small readback, the parameters on the host, then quantize plus statistics
 * (src/kernels/weight/resident-weight.ts). The separate calls (`chooseQParams`, a quantize function,
 * `errorStats`) upload the weight three times and wait on three readbacks; the results are the same bits.
 *
 * Other calibration methods ('mse', 'percentile', 'lsq') take the separate calls.
 *
 * @example
 * ```ts
 * const chain = await ChainedWeight.open(x, decision, { backend: 'webgpu' }); // undefined: take the separate calls
 * try { const p = await chain?.chooseQParams(spec); } finally { chain?.release(); }
 * ```
 * @module
 */
import { type Granularity, type ReductionLayout, reductionLayout } from '../calibration/granularity.js';
import { throwIfNaN } from '../calibration/checks.js';
import { type CalibrationResult, shapeCalibration } from '../calibration/result.js';
import { type CalibrationSpec, type ResolvedCalibration, resolveCalibrationSpec } from '../calibration/spec.js';
import { dtypeInfo } from '../dtype.js';
import type { GpuManager } from '../gpu/device.js';
import { calibrateQuantizeWithStats } from '../kernels/weight/calibrate-quantize.js';
import type { RangeRule } from '../kernels/weight/params-from-ranges.js';
import { ResidentWeight } from '../kernels/weight/resident-weight.js';
import { type OpOptions, selectManager } from '../ops/backend.js';
import { type QParams, QTensor, checkQParams } from '../qtensor.js';
import { checkNotEmpty, paramsFromRanges } from '../reference/calibration.js';
import type { ErrorStats } from '../stats/types.js';
import type { Tensor } from '../tensor.js';
import type { WeightDecision } from './policy.js';
import { signedExtremeOfRanges } from './weight-range.js';

/**
 * When `enabled` is false, every weight takes the separate calls; when `oneSubmit` is false, the chain takes
 * two submits (parameters on the host between them): for the benchmark's before-and-after comparison in one
 * run. Not part of the API.
 */
export const gpuWeightChain = { enabled: true, oneSubmit: true };

/** A weight resident on the GPU for its compression; see the module documentation. */
export class ChainedWeight {
  readonly #weight: ResidentWeight;
  readonly #x: Tensor;
  readonly #options: OpOptions;
  /** What the last min/max reduction found, once one has run: the first NaN's index (or -1) and the largest |x|. */
  #scan: { firstNaN: number; largestAbs: number } | undefined;

  private constructor(weight: ResidentWeight, x: Tensor, options: OpOptions) {
    this.#weight = weight;
    this.#x = x;
    this.#options = options;
  }

  /**
   * The chained path for `x` under `decision` and `backend`, with the weight uploaded; undefined when the
   * weight takes the separate calls (the CPU, a calibration method other than 'minmax', an empty weight).
   *
   * @example
   * ```ts
   * const chain = await ChainedWeight.open(x, decision, backend);
   * ```
   */
  static async open(x: Tensor, decision: WeightDecision, backend: OpOptions | undefined): Promise<ChainedWeight | undefined> {
    if (!gpuWeightChain.enabled || decision.method !== 'minmax' || x.data.length === 0) return undefined;
    const manager: GpuManager | undefined = await selectManager(backend);
    if (!manager) return undefined;
    return new ChainedWeight(await ResidentWeight.upload(manager, x), x, backend ?? {});
  }

  /** Min and max per output on the resident weight; remembers the largest |x| for the statistics. */
  async #ranges(layout: ReductionLayout): Promise<{ mins: Float32Array; maxs: Float32Array; firstNaN: number }> {
    const result = await this.#weight.minMax(layout, this.#options);
    this.#scan = { firstNaN: result.firstNaN, largestAbs: largestMagnitude(result.mins, result.maxs) };
    return result;
  }

  /**
   * What the device's min/max reduction saw of the whole weight, once one has run: whether every element is finite
   * (no NaN, which the reduction finds by its bits, and a largest |x| below Infinity) and the largest |x|, the
   * same number `maxAbs(x.data)` gives. Undefined before any reduction. Lets a caller skip its own scan of the
   * weight on the host (quality-floor.ts).
   *
   * @example
   * ```ts
   * const scanned = chain.scanned(); // { finite: true, largestAbs: 3.5 } after chooseQParams
   * ```
   */
  scanned(): { finite: boolean; largestAbs: number } | undefined {
    const scan = this.#scan;
    return scan && { finite: scan.firstNaN < 0 && Number.isFinite(scan.largestAbs), largestAbs: scan.largestAbs };
  }

  /**
   * `chooseQParams(x, spec)` for method 'minmax', its reduction on the resident weight: the same result,
   * the same errors.
   *
   * @example
   * ```ts
   * const p = await chain.chooseQParams({ dtype: 'qint8', granularity: { axis: 0 }, symmetric: true });
   * ```
   */
  async chooseQParams(spec: CalibrationSpec): Promise<CalibrationResult> {
    const resolved = resolveCalibrationSpec(this.#x.shape, spec);
    checkNotEmpty(this.#x, 'x');
    const { mins, maxs, firstNaN } = await this.#ranges(resolved.layout);
    throwIfNaN(firstNaN, 'x');
    return shapeCalibration(resolved, paramsFromRanges(mins, maxs, resolved, 'x'), 'webgpu');
  }

  /**
   * `signedExtremeParams(x.data, x.shape, granularity, dtype)` from a reduction on the resident weight
   * (the weight is finite).
   *
   * @example
   * ```ts
   * const { scales, zeroPoints } = await chain.signedExtremeParams({ axis: 1, groupSize: 32 }, 'qint4');
   * ```
   */
  async signedExtremeParams(granularity: Granularity, dtype: WeightDecision['dtype']): Promise<{ scales: Float32Array; zeroPoints: Int32Array }> {
    const { mins, maxs } = await this.#ranges(reductionLayout(this.#x.shape, granularity));
    return signedExtremeOfRanges(mins, maxs, dtype);
  }

  /**
   * Calibration by min/max (`chooseQParams(x, spec)`, or the 'extreme' rule of `signedExtremeParams` for
   * `dtype`), then the quantize function of `granularity` and `errorStats` along `statsAxis`, all in one submit
   * (src/kernels/weight/calibrate-quantize.ts): the scales and zero points are computed on the device. The host
   * computes them again from the ranges read back (the same code as the separate calls, so the same errors),
   * and takes the device's result only when every bit agrees; undefined means take the two-submit path.
   *
   * @example
   * ```ts
   * const result = await chain.calibrateQuantizeWithStats({ spec }, { axis: 0 }, 'qint8', 0);
   * ```
   */
  async calibrateQuantizeWithStats(
    calibration: { spec: CalibrationSpec } | { extreme: true }, granularity: Granularity, dtype: WeightDecision['dtype'], statsAxis: number | undefined,
  ): Promise<{ scales: Float32Array; zeroPoints: Int32Array; q: QTensor; stats: ErrorStats } | undefined> {
    if (!gpuWeightChain.oneSubmit) return undefined;
    const shape = this.#x.shape;
    const info = dtypeInfo(dtype);
    let resolved: ResolvedCalibration | undefined;
    let rule: RangeRule;
    let layout: ReductionLayout;
    if ('spec' in calibration) {
      resolved = resolveCalibrationSpec(shape, calibration.spec);
      checkNotEmpty(this.#x, 'x');
      if (resolved.method !== 'minmax') return undefined;
      layout = resolved.layout;
      rule = { kind: 'minmax', range: resolved.range, symmetric: resolved.symmetric };
    } else {
      layout = reductionLayout(shape, granularity);
      rule = { kind: 'extreme', qmin: info.qmin, qmax: info.qmax };
    }
    // The host's parameters from the ranges, computed as the readback comes in and compared with the device's
    // where they lie; the scan is remembered first, as the separate calls do before an error. The 'extreme'
    // parameters are written over the ranges (read first, each output): no new arrays for 524,288 groups.
    const expect = ({ mins, maxs, firstNaN }: { mins: Float32Array; maxs: Float32Array; firstNaN: number }) => {
      this.#scan = { firstNaN, largestAbs: largestMagnitude(mins, maxs) };
      if (!resolved) return signedExtremeOfRanges(mins, maxs, dtype, { scales: mins, zeroPoints: new Int32Array(maxs.buffer, maxs.byteOffset, maxs.length) });
      throwIfNaN(firstNaN, 'x');
      return paramsFromRanges(mins, maxs, resolved, 'x');
    };
    const result = await calibrateQuantizeWithStats(this.#weight, layout, rule, info, granularity,
      statsAxis === undefined ? {} : { axis: statsAxis }, this.#options, expect);
    if (!result?.deviceAgrees || !this.#scan) return undefined;
    const expected = result.expected;
    const largest = this.#scan.largestAbs;
    let params: QParams;
    try {
      params = checkedParams(shape, granularity, expected.scales, expected.zeroPoints, dtype);
    } catch {
      return undefined; // parameters the quantize functions refuse: the two-submit path says so, in its order
    }
    const stats = result.stats(params, largest);
    return stats && { scales: expected.scales, zeroPoints: expected.zeroPoints, q: new QTensor(result.values, shape, dtype, params, 'webgpu'), stats };
  }

  /**
   * The quantize function of `granularity` with these parameters, then `errorStats` along `statsAxis`, in one
   * submit; undefined when the statistics need the separate call (module documentation of resident-weight.ts).
   *
   * @example
   * ```ts
   * const result = await chain.quantizeWithStats('per_tensor', scales, zeroPoints, 'qint8', undefined);
   * ```
   */
  async quantizeWithStats(
    granularity: Granularity, scales: Float32Array, zeroPoints: Int32Array, dtype: WeightDecision['dtype'], statsAxis: number | undefined,
  ): Promise<{ q: QTensor; stats: ErrorStats } | undefined> {
    const largest = this.#scan?.largestAbs;
    if (largest === undefined) return undefined;
    const shape = this.#x.shape;
    const params = checkedParams(shape, granularity, scales, zeroPoints, dtype);
    const result = await this.#weight.quantizeWithStats(dtypeInfo(dtype), params, statsAxis === undefined ? {} : { axis: statsAxis },
      largest, this.#options);
    return result && { q: new QTensor(result.values, shape, dtype, params, 'webgpu'), stats: result.stats };
  }

  /**
   * Hands the resident weight back to the pool.
   *
   * @example
   * ```ts
   * chain.release();
   * ```
   */
  release(): void {
    this.#weight.release();
  }
}

/** The largest |x| of a weight whose per-output minima and maxima these are. */
function largestMagnitude(mins: Float32Array, maxs: Float32Array): number {
  let largest = 0;
  for (let w = 0; w < mins.length; w++) largest = Math.max(largest, -mins[w]!, maxs[w]!);
  return largest;
}

/** The QParams of `granularity` with these scales and zero points, checked. */
function checkedParams(
  shape: readonly number[], granularity: Granularity, scales: Float32Array, zeroPoints: Int32Array, dtype: WeightDecision['dtype'],
): QParams {
  return granularity === 'per_tensor' ? checkQParams(shape, dtype, { scale: scales[0]!, zeroPoint: zeroPoints[0]! })
    : checkQParams(shape, dtype, { scales, zeroPoints, axis: granularity.axis, ...('groupSize' in granularity ? { groupSize: granularity.groupSize } : {}) });
}
