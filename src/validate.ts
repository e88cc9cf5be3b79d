/**
 * Argument checks shared by the CPU reference and the GPU path, so both reject exactly the same inputs with
 * the same typed errors. PyTorch accepts several of these silently and produces garbage; we do not.
 * @module
 */
import type { DTypeInfo } from './dtype.js';
import { InvalidArgumentError } from './errors.js';

/**
 * Checks a quantization scale: finite, > 0, and with a finite float32 reciprocal (the kernels multiply by
 * `fround(1 / fround(scale))`). Returns that reciprocal.
 *
 * @example
 * ```ts
 * checkScale(0.5, 'scale');   // 2
 * checkScale(0, 'scale');     // throws InvalidArgumentError: scale must be > 0
 * ```
 */
export function checkScale(scale: number, argument = 'scale'): number {
  if (typeof scale !== 'number' || !Number.isFinite(scale) || !(scale > 0)) {
    throw new InvalidArgumentError(argument, scale,
      `${argument} is ${String(scale)}; a scale must be a finite number > 0`);
  }
  const scale32 = Math.fround(scale);
  if (!Number.isFinite(scale32) || scale32 === 0) {
    throw new InvalidArgumentError(argument, scale,
      `${argument} ${scale} rounds to ${scale32} in float32; use a scale between about 3e-39 and 3.4e38`);
  }
  const inverse = Math.fround(1 / scale32);
  if (!Number.isFinite(inverse)) {
    throw new InvalidArgumentError(argument, scale,
      `${argument} ${scale} is so small that its float32 reciprocal overflows; use a scale >= 2.95e-39`);
  }
  return inverse;
}

/**
 * Checks that a zero point is an integer within the dtype's range.
 *
 * @example
 * ```ts
 * checkZeroPoint(-128, dtypeInfo('qint8'), 'zeroPoint'); // ok
 * checkZeroPoint(128, dtypeInfo('qint8'), 'zeroPoint');  // throws InvalidArgumentError
 * ```
 */
export function checkZeroPoint(zeroPoint: number, info: DTypeInfo, argument = 'zeroPoint'): void {
  if (typeof zeroPoint !== 'number' || !Number.isInteger(zeroPoint) || zeroPoint < info.qmin || zeroPoint > info.qmax) {
    throw new InvalidArgumentError(argument, zeroPoint,
      `${argument} is ${String(zeroPoint)}; for ${info.name} it must be an integer in [${info.qmin}, ${info.qmax}]`);
  }
}

/**
 * Resolves an axis (negative counts from the end, unlike PyTorch, which rejects it) and checks its range.
 *
 * @example
 * ```ts
 * normalizeAxis(-1, 3); // 2
 * normalizeAxis(3, 3);  // throws InvalidArgumentError
 * ```
 */
export function normalizeAxis(axis: number, rank: number, argument = 'axis'): number {
  if (typeof axis !== 'number' || !Number.isInteger(axis) || axis < -rank || axis >= rank) {
    const hint = rank === 0 ? 'a rank-0 tensor has no axis to quantize along; use per-tensor quantization'
      : `use an integer in [${-rank}, ${rank - 1}]`;
    throw new InvalidArgumentError(argument, axis, `${argument} ${String(axis)} is out of range for a rank-${rank} tensor; ${hint}`);
  }
  return axis < 0 ? axis + rank : axis;
}

/**
 * Reads per-channel scales and zero points: checks their lengths against the axis size and every value,
 * and returns float64 scales, int32 zero points and the float32 reciprocals the kernels use.
 *
 * @example
 * ```ts
 * checkChannelParams([0.1, 0.2], [0, 0], 2, dtypeInfo('qint8'));
 * // { scales: Float64Array [0.1, 0.2], zeroPoints: Int32Array [0, 0], inverseScales: Float32Array [10, 5] }
 * ```
 */
export function checkChannelParams(
  scales: ArrayLike<number>, zeroPoints: ArrayLike<number>, channels: number, info: DTypeInfo,
): { scales: Float64Array; zeroPoints: Int32Array; inverseScales: Float32Array } {
  for (const [name, values] of [['scales', scales], ['zeroPoints', zeroPoints]] as const) {
    if (values === null || typeof values !== 'object' || typeof values.length !== 'number') {
      throw new InvalidArgumentError(name, values, `${name} must be an array or typed array with one value per channel`);
    }
    if (values.length !== channels) {
      throw new InvalidArgumentError(name, values,
        `${name} has ${values.length} values but the quantization axis has size ${channels}; give one per channel`);
    }
  }
  const scales64 = new Float64Array(channels);
  const zeroPoints32 = new Int32Array(channels);
  const inverseScales = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    inverseScales[c] = checkScale(scales[c] as number, `scales[${c}]`);
    scales64[c] = Number(scales[c]);
    checkZeroPoint(zeroPoints[c] as number, info, `zeroPoints[${c}]`);
    zeroPoints32[c] = Number(zeroPoints[c]);
  }
  return { scales: scales64, zeroPoints: zeroPoints32, inverseScales };
}
