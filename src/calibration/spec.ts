/**
 * The calibration spec of `chooseQParams`, validated once and resolved for a shape: the reduction view, the
 * integer range, the method and its parameters.
 *
 * @example
 * ```ts
 * const resolved = resolveCalibrationSpec([64, 256], { dtype: 'qint4', granularity: { axis: 1, groupSize: 32 },
 *   symmetric: true, method: 'mse' });
 * resolved.layout.outputs;     // 512
 * resolved.clipRatios.length;  // 100
 * ```
 * @module
 */
import type { QDType } from '../dtype.js';
import { InvalidArgumentError } from '../errors.js';
import { type QuantRangeOptions, checkKnownKeys, checkOptionalBoolean, resolveQuantRange } from './quant-range.js';
import type { QuantRange } from './qparams.js';
import { type Granularity, type ReductionLayout, reductionLayout } from './granularity.js';

/**
 * How the parameters are chosen: from the range ('minmax'), by clipping the range ('mse', 'percentile'), or
 * by searching scales and refitting them by least squares ('lsq', src/reference/lsq-search.ts).
 */
export type CalibrationMethod = 'minmax' | 'mse' | 'percentile' | 'lsq';

/** What `chooseQParams` computes. */
export interface CalibrationSpec extends QuantRangeOptions {
  /** The dtype the parameters are for (its range, unless quantMin / quantMax narrow it). */
  dtype: QDType;
  /** 'per_tensor' (default), `{ axis }` or `{ axis, groupSize }`. */
  granularity?: Granularity;
  /** Symmetric (zero point fixed, scale from max |x|) or affine (default). */
  symmetric?: boolean;
  /** 'minmax' (default), 'mse', 'percentile' or 'lsq' (8-bit and 4-bit dtypes). */
  method?: CalibrationMethod;
  /** 'percentile': the percentile to clip at, in (50, 100]; default 99.99. */
  percentile?: number;
  /** 'mse': how many clip ratios to try, 1..1000; default 100. */
  mseSteps?: number;
  /** 'mse': the smallest clip ratio, in (0, 1]; default 0.2. The ratios go evenly from 1 down to it. */
  mseMinRatio?: number;
  /**
   * 'lsq', affine only: also search llama.cpp Q4_0's grid (the zero point set by the sign of the element of
   * largest magnitude, scales `ratio × |extreme| / h`, each refit by least squares), and keep an affine
   * candidate only where its squared error is below 0.7 × the grid's best (LSQ_AFFINE_MARGIN). The result
   * is never worse than Q4_0's own parameters. Default false. What the compression policy uses for 4-bit
   * weights under 'lsq' (docs/calibration.md has the measurements).
   */
  signedExtreme?: boolean;
}

/** A spec checked and applied to a shape. */
export interface ResolvedCalibration {
  readonly dtype: QDType;
  readonly layout: ReductionLayout;
  readonly range: QuantRange;
  readonly symmetric: boolean;
  readonly method: CalibrationMethod;
  readonly percentile: number;
  /** 'mse' and 'lsq': the candidate clip ratios, float32, the first exactly 1. */
  readonly clipRatios: Float32Array;
  /** 'lsq': search Q4_0's grid too (CalibrationSpec.signedExtreme). */
  readonly signedExtreme: boolean;
}

const kKeys = ['dtype', 'granularity', 'symmetric', 'method', 'percentile', 'mseSteps', 'mseMinRatio', 'signedExtreme', 'reduceRange', 'quantMin', 'quantMax'];
const kMethods: readonly CalibrationMethod[] = ['minmax', 'mse', 'percentile', 'lsq'];

/** The 'lsq' candidates: how many, and the range the ratios after the first (1) span. */
export const LSQ_STEPS = 40;
export const LSQ_MIN_RATIO = 0.5;
export const LSQ_MAX_RATIO = 1.2;

/**
 * The candidate clip ratios of the 'mse' search: `fround(1 - i * (1 - lowest) / (steps - 1))` for
 * i = 0 .. steps - 1, so the first is exactly 1 (min/max) and the last is `lowest`.
 *
 * @example
 * ```ts
 * mseClipRatios(5, 0.2); // Float32Array [1, 0.8, 0.6, 0.4, 0.2] (as float32 values)
 * ```
 */
export function mseClipRatios(steps: number, lowest: number): Float32Array {
  const ratios = new Float32Array(steps);
  for (let i = 0; i < steps; i++) ratios[i] = steps === 1 ? 1 : 1 - (i * (1 - lowest)) / (steps - 1);
  return ratios;
}

/**
 * The candidate clip ratios of the 'lsq' search: 1 first (min/max), then `steps - 1` ratios evenly from
 * `highest` down to `lowest`, `fround(highest - (i - 1) * (highest - lowest) / (steps - 2))`. Ratios above 1
 * widen the range: with PyTorch's symmetric int4 scale (max |x| / 7.5) the largest positive weight rounds
 * to 8 and clips to 7; a slightly larger scale avoids that.
 *
 * @example
 * ```ts
 * lsqClipRatios(4, 0.5, 1.2); // Float32Array [1, 1.2, 0.85, 0.5] (as float32 values)
 * ```
 */
export function lsqClipRatios(steps = LSQ_STEPS, lowest = LSQ_MIN_RATIO, highest = LSQ_MAX_RATIO): Float32Array {
  const ratios = new Float32Array(steps);
  ratios[0] = 1;
  for (let i = 1; i < steps; i++) ratios[i] = steps === 2 ? highest : highest - ((i - 1) * (highest - lowest)) / (steps - 2);
  return ratios;
}

/**
 * The 'lsq' search with `signedExtreme`: an affine candidate is kept only where its squared error is below
 * this fraction of the best on Q4_0's grid (float32: `fround(0.7)`). Measured on Silero VAD int4 groups of
 * 32 (docs/calibration.md): the affine grid alone lowers the weight MSE most but moves the model's
 * decisions more than Q4_0 does; with this margin, groups keep Q4_0's grid unless the shifted zero point
 * clearly pays.
 */
export const LSQ_AFFINE_MARGIN = Math.fround(0.7);

/**
 * How many candidates the 'lsq' search scores per output: one per clip ratio; for an affine search the
 * signed extreme next; with `signedExtreme`, one per clip ratio on Q4_0's grid last.
 *
 * @example
 * ```ts
 * lsqCandidateCount(lsqClipRatios(), true);        // 40
 * lsqCandidateCount(lsqClipRatios(), false);       // 41
 * lsqCandidateCount(lsqClipRatios(), false, true); // 81
 * ```
 */
export function lsqCandidateCount(clipRatios: Float32Array, symmetric: boolean, signedExtreme = false): number {
  return clipRatios.length + (symmetric ? 0 : 1) + (signedExtreme && !symmetric ? clipRatios.length : 0);
}

/**
 * Validates `spec` for a tensor of `shape`. Errors name `spec.<field>`.
 *
 * @example
 * ```ts
 * resolveCalibrationSpec([8], { dtype: 'qint8', method: 'kl' as never }); // throws: spec.method is "kl" ...
 * ```
 */
export function resolveCalibrationSpec(shape: readonly number[], spec: CalibrationSpec): ResolvedCalibration {
  if (spec === null || typeof spec !== 'object') {
    throw new InvalidArgumentError('spec', spec, "spec must be an object like { dtype: 'qint8', method: 'minmax' }");
  }
  checkKnownKeys(spec, kKeys, 'spec');
  const symmetric = checkOptionalBoolean(spec.symmetric, 'spec.symmetric');
  const range = resolveQuantRange(spec.dtype, spec, symmetric, 'spec');
  const layout = reductionLayout(shape, spec.granularity ?? 'per_tensor', 'spec.granularity');
  const method = spec.method ?? 'minmax';
  if (!kMethods.includes(method)) {
    throw new InvalidArgumentError('spec.method', method, `spec.method is ${JSON.stringify(method)}; use one of ${kMethods.join(', ')}`);
  }
  if (method === 'lsq' && spec.dtype === 'qint32') {
    throw new InvalidArgumentError('spec.method', method, "spec.method 'lsq' is for 8-bit and 4-bit dtypes; use 'minmax' or 'mse' for qint32");
  }
  const percentile = spec.percentile ?? 99.99;
  if (typeof percentile !== 'number' || !(percentile > 50 && percentile <= 100)) {
    throw new InvalidArgumentError('spec.percentile', percentile,
      `spec.percentile is ${String(percentile)}; use a number in (50, 100], e.g. 99.99`);
  }
  const steps = spec.mseSteps ?? 100;
  if (typeof steps !== 'number' || !Number.isInteger(steps) || steps < 1 || steps > 1000) {
    throw new InvalidArgumentError('spec.mseSteps', steps, `spec.mseSteps is ${String(steps)}; use an integer in [1, 1000], e.g. 100`);
  }
  const lowest = spec.mseMinRatio ?? 0.2;
  if (typeof lowest !== 'number' || !(lowest > 0 && lowest <= 1)) {
    throw new InvalidArgumentError('spec.mseMinRatio', lowest, `spec.mseMinRatio is ${String(lowest)}; use a number in (0, 1], e.g. 0.2`);
  }
  const signedExtreme = checkOptionalBoolean(spec.signedExtreme, 'spec.signedExtreme');
  if (signedExtreme && (method !== 'lsq' || symmetric)) {
    throw new InvalidArgumentError('spec.signedExtreme', true,
      `spec.signedExtreme is for method 'lsq' with symmetric false (it searches the zero point); here method is '${method}', `
      + `symmetric ${symmetric}`);
  }
  const clipRatios = method === 'lsq' ? lsqClipRatios() : mseClipRatios(steps, lowest);
  return { dtype: spec.dtype, layout, range, symmetric, method, percentile, clipRatios, signedExtreme };
}
