/**
 * Argument checks shared by the CPU reference and the GPU path, so both reject exactly the same inputs with
 * the same typed errors. PyTorch accepts several of these silently and produces garbage; we do not.
 * @module
 */
import type { DTypeInfo } from './dtype.js';
import { InvalidArgumentError } from './errors.js';

/** The smallest and largest float32 scale accepted: the float32 normal range, with a normal reciprocal. */
export const MIN_SCALE = 2 ** -126;
export const MAX_SCALE = 2 ** 126;

/**
 * Checks a quantization scale: finite, > 0, and, once rounded to float32, within [2^-126, 2^126]
 * (about 1.18e-38 to 8.5e37), so that the scale and its float32 reciprocal are both normal numbers: GPUs
 * may flush subnormals to zero, which would break bit-exactness (PyTorch accepts such scales; we reject
 * them). Returns the reciprocal the kernels multiply by, `fround(1 / fround(scale))`.
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
  if (scale32 < MIN_SCALE || scale32 > MAX_SCALE) {
    throw new InvalidArgumentError(argument, scale,
      `${argument} ${scale} is outside the supported range [1.1754944e-38, 8.507059e37] (float32 normal numbers `
      + 'with a normal reciprocal; GPUs flush subnormals); rescale the tensor or choose a scale in range');
  }
  return Math.fround(1 / scale32);
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
  return axis < 0 ? axis + rank : axis + 0; // + 0 turns -0 into 0
}

/**
 * Reads per-channel scales and zero points: checks their lengths against the axis size and every value,
 * and returns float64 scales and int32 zero points (copies: the caller may change its arrays afterwards).
 *
 * @example
 * ```ts
 * checkChannelParams([0.1, 0.2], [0, 0], 2, dtypeInfo('qint8'));
 * // { scales: Float64Array [0.1, 0.2], zeroPoints: Int32Array [0, 0] }
 * ```
 */
export function checkChannelParams(
  scales: ArrayLike<number>, zeroPoints: ArrayLike<number>, channels: number, info: DTypeInfo,
  need = `the quantization axis has size ${channels}; give one per channel`,
): { scales: Float64Array; zeroPoints: Int32Array } {
  for (const [name, values] of [['scales', scales], ['zeroPoints', zeroPoints]] as const) {
    if (values === null || typeof values !== 'object' || typeof values.length !== 'number') {
      throw new InvalidArgumentError(name, values, `${name} must be an array or typed array with one value per channel`);
    }
    if (values.length !== channels) {
      throw new InvalidArgumentError(name, values,
        `${name} has ${values.length} values but ${need}`);
    }
  }
  const scales64 = new Float64Array(channels);
  const zeroPoints32 = new Int32Array(channels);
  // Float and integer typed arrays are copied in bulk (float64 and int32 hold each of their values exactly) and
  // checked from the copy; anything else goes value by value. A failing value is reported as given.
  const bulkScales = scales instanceof Float64Array || scales instanceof Float32Array;
  const bulkZeroPoints = zeroPoints instanceof Int32Array || zeroPoints instanceof Int16Array || zeroPoints instanceof Int8Array
    || zeroPoints instanceof Uint16Array || zeroPoints instanceof Uint8Array || zeroPoints instanceof Uint8ClampedArray;
  if (bulkScales) scales64.set(scales);
  if (bulkZeroPoints) zeroPoints32.set(zeroPoints);
  if (bulkScales && bulkZeroPoints) {
    // Typed arrays, the common case: one pass without a branch per value (bounds read once), and the loop
    // below only to report a value that fails.
    const [lo, hi, qmin, qmax] = [MIN_SCALE, MAX_SCALE, info.qmin, info.qmax];
    let valid = 1;
    let smallest = Infinity;
    let largest = 0;
    for (let c = 0; c < channels; c++) {
      const scale = scales64[c]!;
      const scale32 = Math.fround(scale);
      const zeroPoint = zeroPoints32[c]!;
      valid &= +(scale32 >= lo) & +(scale32 <= hi) & +(zeroPoint >= qmin) & +(zeroPoint <= qmax);
      if (scale < smallest) smallest = scale;
      if (scale > largest) largest = scale;
    }
    if (valid) {
      scaleRanges.set(scales64, { smallest, largest });
      return { scales: scales64, zeroPoints: zeroPoints32 };
    }
  }
  let smallest = Infinity;
  let largest = 0;
  for (let c = 0; c < channels; c++) {
    const scale = bulkScales ? scales64[c]! : scales[c] as number;
    const zeroPoint = bulkZeroPoints ? zeroPoints32[c]! : zeroPoints[c] as number;
    // The argument names are built only for a value that fails (a string per channel costs more than the checks).
    const scale32 = Math.fround(scale);
    const scaleOk = typeof scale === 'number' && scale32 >= MIN_SCALE && scale32 <= MAX_SCALE;
    if (!scaleOk) checkScale(scale, `scales[${c}]`);
    if (!bulkScales) scales64[c] = Number(scale);
    if (scales64[c]! < smallest) smallest = scales64[c]!;
    if (scales64[c]! > largest) largest = scales64[c]!;
    if (!(typeof zeroPoint === 'number' && Number.isInteger(zeroPoint) && zeroPoint >= info.qmin && zeroPoint <= info.qmax)) {
      checkZeroPoint(zeroPoint, info, `zeroPoints[${c}]`);
    }
    if (!bulkZeroPoints) zeroPoints32[c] = Number(zeroPoint);
  }
  scaleRanges.set(scales64, { smallest, largest });
  return { scales: scales64, zeroPoints: zeroPoints32 };
}

/**
 * The smallest scale of the scales {@link checkChannelParams} returned (validated parameters never change),
 * found in its pass over them; undefined for other arrays.
 *
 * @example
 * ```ts
 * knownSmallestScale(checkChannelParams([0.1, 0.2], [0, 0], 2, dtypeInfo('qint8')).scales); // 0.1
 * ```
 */
export function knownSmallestScale(scales: Float64Array): number | undefined {
  return scaleRanges.get(scales)?.smallest;
}

/**
 * The largest scale of the scales {@link checkChannelParams} returned, found in the same pass; undefined for
 * other arrays.
 *
 * @example
 * ```ts
 * knownLargestScale(checkChannelParams([0.1, 0.2], [0, 0], 2, dtypeInfo('qint8')).scales); // 0.2
 * ```
 */
export function knownLargestScale(scales: Float64Array): number | undefined {
  return scaleRanges.get(scales)?.largest;
}

/** See {@link knownSmallestScale} and {@link knownLargestScale}. */
const scaleRanges = new WeakMap<Float64Array, { smallest: number; largest: number }>();

/**
 * Checks a group size: a positive integer. A size at or above the axis length makes one group per row.
 *
 * @example
 * ```ts
 * checkGroupSize(32, 4096); // 32
 * checkGroupSize(0, 4096);  // throws InvalidArgumentError
 * ```
 */
export function checkGroupSize(groupSize: number, axisLength: number, argument = 'groupSize'): number {
  if (typeof groupSize !== 'number' || !Number.isSafeInteger(groupSize) || groupSize < 1) {
    throw new InvalidArgumentError(argument, groupSize,
      `${argument} is ${String(groupSize)}; use a positive integer (typical: 32, 64 or 128; the axis has ${axisLength} elements)`);
  }
  return groupSize;
}

/**
 * How many parameters a per-group tensor has: the element count with the axis dimension n replaced by
 * ceil(n / groupSize).
 *
 * @example
 * ```ts
 * groupParamCount([4, 10], 1, 4); // 4 * 3 = 12
 * ```
 */
export function groupParamCount(shape: readonly number[], axis: number, groupSize: number): number {
  let count = 1;
  shape.forEach((dim, d) => { count *= d === axis ? Math.ceil(dim / groupSize) : dim; });
  return count;
}

/**
 * Checks a fake-quantization range: integers in the int32 range with quantMin < quantMax, and every zero
 * point inside it (PyTorch asserts the same).
 *
 * @example
 * ```ts
 * checkQuantRange(0, 15, [3], () => 'zeroPoint');  // ok
 * checkQuantRange(0, 15, [16], () => 'zeroPoint'); // throws InvalidArgumentError naming zeroPoint
 * ```
 */
export function checkQuantRange(quantMin: number, quantMax: number, zeroPoints: ArrayLike<number>, zeroPointName: (i: number) => string): void {
  for (const [name, value] of [['quantMin', quantMin], ['quantMax', quantMax]] as const) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < -(2 ** 31) || value > 2 ** 31 - 1) {
      throw new InvalidArgumentError(name, value, `${name} is ${String(value)}; use an integer in the int32 range`);
    }
  }
  if (!(quantMin < quantMax)) {
    throw new InvalidArgumentError('quantMin', quantMin, `quantMin ${quantMin} must be less than quantMax ${quantMax}`);
  }
  for (let i = 0; i < zeroPoints.length; i++) {
    const zp = zeroPoints[i]!;
    if (typeof zp !== 'number' || !Number.isInteger(zp) || zp < quantMin || zp > quantMax) {
      throw new InvalidArgumentError(zeroPointName(i), zp,
        `${zeroPointName(i)} is ${String(zp)}; it must be an integer in [quantMin, quantMax] = [${quantMin}, ${quantMax}]`);
    }
  }
}
