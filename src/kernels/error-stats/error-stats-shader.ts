/**
 * The host's view of `shaders/error-stats/error_stats.wgsl`: its uniform layout, its parameter-table encoding, the
 * clipping bounds it compares with, and its pipeline variants (one per `SCHEME` override).
 *
 * @example
 * ```ts
 * const pipeline = errorStatsVariant('indexedIntegers');
 * pipeline.constants.SCHEME; // 2
 * ```
 * @module
 */
import type { PipelineSpec } from '../../gpu/pipeline-cache.js';
import { type QuantGrid, largestScale, smallParameters } from '../../stats/quant-grid.js';
import type { UniformLayout } from '../common/uniforms.js';
import errorStats from '../../../shaders/error-stats/error_stats.wgsl?raw';
import indexing from '../../../shaders/common/indexing.wgsl?raw';
import numerics from '../../../shaders/common/numerics.wgsl?raw';

/** Invocations per workgroup of the error-statistics kernel (`override WORKGROUP_SIZE`). */
export const ERROR_STATS_WORKGROUP_SIZE = 64;
/** Words (u32) per partial result the kernel writes. */
export const PARTIAL_WORDS = 8;
/** Words (u32) per parameter-table entry. */
export const PARAM_WORDS = 4;

/** Mirrors `struct ErrorStatsParams` in shaders/error-stats/error_stats.wgsl. */
export const ERROR_STATS_PARAMS = {
  struct: 'ErrorStatsParams',
  fields: [
    ['lane_count', 'u32'], ['width', 'u32'], ['rows', 'u32'], ['chunk_start', 'u32'],
    ['prescale', 'f32'], ['clip_low', 'f32'], ['clip_high', 'f32'], ['clamp_low', 'f32'], ['clamp_high', 'f32'],
    ['param_base', 'u32'],
    ['q_inner', 'u32'], ['q_axis_len', 'u32'], ['q_group_size', 'u32'], ['q_stride_outer', 'u32'],
    ['q_stride_group', 'u32'], ['q_stride_inner', 'u32'], ['one', 'f32'],
  ],
} as const satisfies UniformLayout<string>;

/** The raw shader, for the test that checks the uniform layout against it. */
export const ERROR_STATS_SHADER = errorStats;

const kSource = [numerics, indexing, errorStats].join('\n');

/**
 * What the kernel compares with: 'floats' (x̂ given as float32 values), 'perTensorIntegers' (stored integers
 * with one scale and zero point: a wrapping subtraction) or 'indexedIntegers' (stored integers with a scale
 * and zero point per channel or group, looked up in the parameter table).
 */
export type ErrorStatsScheme = 'floats' | 'perTensorIntegers' | 'indexedIntegers';

/** `override SCHEME` of shaders/error-stats/error_stats.wgsl, per named scheme. */
export const ERROR_STATS_SCHEME: Readonly<Record<ErrorStatsScheme, number>> = Object.freeze({ floats: 0, perTensorIntegers: 1, indexedIntegers: 2 });

/** The vec4 kernel (`error_stats_quads`): how the integers travel, one i32 each or packed bytes. */
export interface QuadLayout {
  quantizedBytes: 1 | 4;
  signed: boolean;
  /** With `quantizedBytes` 1: 4-bit integers packed two to a byte (`QUANTIZED_NIBBLES`), as the quantize kernels store them. */
  nibbles?: boolean;
  /** 'indexedIntegers': each lane component's parameter is looked up once (`LANE_PARAMS`). */
  laneParams?: boolean;
  /** 'perTensorIntegers' and 'indexedIntegers': the short clipping test (`SMALL_RANGE_CLIP`; see {@link smallRangeClip}). */
  smallRangeClip?: boolean;
  /**
   * 8-bit 'perTensorIntegers' and 'indexedIntegers': the kernel computes the integers from the original itself and
   * writes them, packed as the quantize kernels store them (`error_stats_quantize_quads`, binding 6); nothing is
   * read from binding 2. Only where its conditions hold (see the shader).
   */
  quantizeFromOriginal?: boolean;
}

/**
 * The pipeline of one variant: `error_stats` one element at a time, `error_stats_quads` when `quads` is
 * given, `error_stats_quantize_quads` when it also says `quantizeFromOriginal`.
 *
 * @example
 * ```ts
 * errorStatsVariant('floats').entryPoint; // 'error_stats'
 * errorStatsVariant('indexedIntegers', { quantizedBytes: 1, signed: true }).label; // 'errorStats|indexedIntegers|quads|i8'
 * errorStatsVariant('indexedIntegers', { quantizedBytes: 1, signed: true, quantizeFromOriginal: true }).entryPoint; // 'error_stats_quantize_quads'
 * ```
 */
export function errorStatsVariant(scheme: ErrorStatsScheme, quads?: QuadLayout): PipelineSpec {
  if (quads?.quantizeFromOriginal) {
    return {
      label: `errorStats|${scheme}|quads|quantize${quads.laneParams ? '|laneParams' : ''}`,
      code: kSource,
      entryPoint: 'error_stats_quantize_quads',
      constants: { WORKGROUP_SIZE: ERROR_STATS_WORKGROUP_SIZE, SCHEME: ERROR_STATS_SCHEME[scheme], LANE_PARAMS: quads.laneParams ? 1 : 0 },
    };
  }
  const integers = quads
    ? `|quads|${quads.quantizedBytes === 4 ? 'i32' : quads.nibbles ? (quads.signed ? 'i4' : 'u4') : quads.signed ? 'i8' : 'u8'}${quads.laneParams ? '|laneParams' : ''}${quads.smallRangeClip ? '|smallClip' : ''}`
    : '';
  return {
    label: `errorStats|${scheme}${integers}`,
    code: kSource,
    entryPoint: quads ? 'error_stats_quads' : 'error_stats',
    constants: {
      WORKGROUP_SIZE: ERROR_STATS_WORKGROUP_SIZE, SCHEME: ERROR_STATS_SCHEME[scheme],
      ...(quads ? {
        QUANTIZED_BYTES: quads.quantizedBytes, QUANTIZED_SIGNED: quads.signed ? 1 : 0,
        ...(quads.nibbles ? { QUANTIZED_NIBBLES: 1 } : {}), LANE_PARAMS: quads.laneParams ? 1 : 0,
        SMALL_RANGE_CLIP: quads.smallRangeClip ? 1 : 0,
      } : {}),
    },
  };
}

/**
 * Whether the vec4 kernel may count clipped elements as `round(x * inverseScale)` outside
 * `[qmin - zp, qmax - zp]` (override `SMALL_RANGE_CLIP`): exact when |qmin|, |qmax| <= 2^16, every
 * |zp| <= 2^22 and every inverse scale <= 2^125 (see shaders/error-stats/error_stats.wgsl).
 *
 * @example
 * ```ts
 * smallRangeClip(grid); // true for int8 / uint8 / int4 grids with ordinary scales
 * ```
 */
export function smallRangeClip(grid: QuantGrid): boolean {
  if (Math.max(Math.abs(grid.qmin), Math.abs(grid.qmax)) > 2 ** 16) return false;
  return smallParameters(grid); // found as the table was made, for quantGrid's tables
}

/**
 * Whether `error_stats_quantize_quads` gives the separate kernels' bits for `grid` (on a finite original): the
 * conditions of {@link smallRangeClip}, and every level `(q − zp) · scale` at qmin and qmax finite in float32, so
 * no x̂ is ±Infinity (the kernel counts no non-finite elements).
 *
 * @example
 * ```ts
 * quantizesFromOriginal(grid); // true for int8 / uint8 grids with ordinary scales
 * ```
 */
export function quantizesFromOriginal(grid: QuantGrid): boolean {
  if (!smallRangeClip(grid)) return false;
  // Zero points lie in [qmin, qmax], so every |q - zp| is at most qmax - qmin: when that times the largest scale
  // is finite, so is every level (fround keeps order), and no pass over the table is needed.
  if (Number.isFinite(Math.fround((grid.qmax - grid.qmin) * largestScale(grid)))) return true;
  const { qmin, qmax, scales, zeroPoints } = grid; // no array per parameter: a weight in groups of 32 has 524,288
  for (let p = 0; p < scales.length; p++) {
    const zeroPoint = zeroPoints[p]!;
    const scale = scales[p]!;
    if (!Number.isFinite(Math.fround((qmin - zeroPoint) * scale)) || !Number.isFinite(Math.fround((qmax - zeroPoint) * scale))) return false;
  }
  return true;
}

const kScratch = new DataView(new ArrayBuffer(4));

/** The float32 next to `value` (a nonzero float32) towards +Infinity (`up`) or −Infinity. */
function nextFloat32(value: number, up: boolean): number {
  kScratch.setFloat32(0, value, true);
  const bits = kScratch.getInt32(0, true);
  // Sign-magnitude: away from zero is one more in the magnitude bits, whatever the sign.
  kScratch.setInt32(0, bits + ((value > 0) === up ? 1 : -1), true);
  return kScratch.getFloat32(0, true);
}

/**
 * The float32 bounds the kernel uses to find clipped elements. A float32 pre-clamp value `t` is below qmin
 * exactly when `t < low`, and above qmax exactly when `t > high` (they differ from qmin/qmax only where those
 * are not float32 values: qint32's qmax 2^31 − 1 gives high = 2147483520). The kernel clamps to
 * `[clampLow, clampHigh]`, the integer-valued float32 values just outside, so a clipped value stays outside.
 *
 * @example
 * ```ts
 * clipBounds(-128, 127);               // { low: -128, high: 127, clampLow: -129, clampHigh: 128 }
 * clipBounds(-(2 ** 31), 2 ** 31 - 1); // { low: -2147483648, high: 2147483520, clampLow: -2147483904, clampHigh: 2147483648 }
 * ```
 */
export function clipBounds(qmin: number, qmax: number): { low: number; high: number; clampLow: number; clampHigh: number } {
  let low = Math.fround(qmin);
  if (low < qmin) low = nextFloat32(low, true);
  let high = Math.fround(qmax);
  if (high > qmax) high = nextFloat32(high, false);
  // One integer further out where float32 has it (never a subnormal next to 0, which GPUs flush), else the
  // next float32: pre-clamp values are integers, so nothing lies in between.
  const below = Math.fround(low - 1);
  const above = Math.fround(high + 1);
  return { low, high, clampLow: below < low ? below : nextFloat32(low, false), clampHigh: above > high ? above : nextFloat32(high, true) };
}

/**
 * The parameter table as the shader reads it: per parameter `(inverse scale, fround(zp), fround(scale))` as
 * float32 bits and the zero point as an int32.
 *
 * @example
 * ```ts
 * paramTableWords(grid).length; // 4 * grid.scales.length
 * ```
 */
export function paramTableWords(grid: QuantGrid): Uint32Array<ArrayBuffer> {
  const n = grid.scales.length;
  const buffer = new ArrayBuffer(n * PARAM_WORDS * 4);
  const floats = new Float32Array(buffer);
  const ints = new Int32Array(buffer);
  for (let p = 0; p < n; p++) {
    floats[PARAM_WORDS * p] = grid.inverseScales[p]!;
    floats[PARAM_WORDS * p + 1] = grid.zeroPoints[p]!;
    floats[PARAM_WORDS * p + 2] = grid.scales[p]!;
    ints[PARAM_WORDS * p + 3] = grid.zeroPoints[p]!;
  }
  return new Uint32Array(buffer);
}
