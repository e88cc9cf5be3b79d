/**
 * The uniform of the calibration kernels (min/max reductions and the MSE search), described once as a
 * field list that mirrors `struct CalibrationParams` in shaders/calibration/minmax_params.wgsl and packed by
 * `packUniform`. A unit test parses the WGSL and checks the list field by field.
 *
 * @example
 * ```ts
 * const bytes = packCalibrationParams(layout, box, { lanes: 4, invocations: 64 });
 * bytes.byteLength; // 128
 * ```
 * @module
 */
import type { ReductionLayout } from '../../calibration/granularity.js';
import type { ReductionBox } from './minmax-plan.js';
import { type UniformLayout, packUniform } from '../common/uniforms.js';

/** The uniform's `family` field of shaders/calibration/minmax_params.wgsl, per reduction family. */
export const CALIBRATION_FAMILY: Readonly<Record<ReductionLayout['family'], number>> = Object.freeze({ channel: 0, group: 1 });

/** Mirrors `struct CalibrationParams` in shaders/calibration/minmax_params.wgsl. */
export const CALIBRATION_PARAMS = {
  struct: 'CalibrationParams',
  fields: [
    ['family', 'u32'], ['n', 'u32'], ['inner', 'u32'], ['group_size', 'u32'],
    ['groups', 'u32'], ['channel_length', 'u32'], ['box_start', 'u32'], ['w_start', 'u32'],
    ['w_count', 'u32'], ['j_start', 'u32'], ['j_end', 'u32'], ['lanes', 'u32'],
    ['in_lanes', 'u32'], ['lane_fastest', 'u32'], ['invocations', 'u32'], ['invocation_offset', 'u32'],
    ['candidates', 'u32'], ['block', 'u32'], ['first_block', 'u32'], ['box_blocks', 'u32'],
    ['window_start', 'u32'], ['symmetric', 'u32'], ['qmin', 'f32'], ['qmax', 'f32'],
    ['qrange', 'f32'], ['half_range', 'f32'], ['symmetric_zero_point', 'f32'], ['eps', 'f32'],
    ['opaque_zero', 'u32'], ['outputs_per_lane', 'u32'],
  ],
} as const satisfies UniformLayout<string>;

/** Bytes of the packed uniform (fields padded to 16 bytes). */
export const CALIBRATION_PARAMS_BYTES = Math.ceil(CALIBRATION_PARAMS.fields.length / 4) * 16;

/** The per-pass fields; the rest come from the layout and the box. */
export interface PassFields {
  lanes?: number;
  inLanes?: number;
  /** minmax_input_along: consecutive outputs per invocation; default 1. */
  outputsPerLane?: number;
  laneFastest?: boolean;
  invocations: number;
  /** Index of the dispatch's first invocation; default 0. */
  invocationOffset?: number;
  /** MSE only. */
  candidates?: number;
  block?: number;
  firstBlock?: number;
  boxBlocks?: number;
  symmetric?: boolean;
  qmin?: number;
  qmax?: number;
  symmetricZeroPoint?: number;
  eps?: number;
}

/**
 * Packs the uniform of one pass over `box` of a reduction with `layout`.
 *
 * @example
 * ```ts
 * packCalibrationParams(layout, box, { lanes: 4, invocations: 4 * box.wCount }).byteLength; // CALIBRATION_PARAMS_BYTES
 * ```
 */
export function packCalibrationParams(layout: ReductionLayout, box: ReductionBox, pass: PassFields): ArrayBuffer {
  const qmin = pass.qmin ?? 0;
  const qmax = pass.qmax ?? 0;
  return packUniform(CALIBRATION_PARAMS, {
    family: CALIBRATION_FAMILY[layout.family],
    n: layout.n,
    inner: layout.inner,
    group_size: layout.groupSize,
    groups: layout.groups,
    channel_length: layout.family === 'channel' ? layout.outer * layout.inner : 0,
    box_start: box.start,
    w_start: box.wStart,
    w_count: box.wCount,
    j_start: box.jStart,
    j_end: box.jEnd,
    lanes: pass.lanes ?? 1,
    in_lanes: pass.inLanes ?? 1,
    lane_fastest: pass.laneFastest ? 1 : 0,
    invocations: pass.invocations,
    invocation_offset: pass.invocationOffset ?? 0,
    candidates: pass.candidates ?? 1,
    block: pass.block ?? 1,
    first_block: pass.firstBlock ?? 0,
    box_blocks: pass.boxBlocks ?? 1,
    window_start: box.windowStart,
    symmetric: pass.symmetric ? 1 : 0,
    qmin,
    qmax,
    qrange: Math.fround(qmax - qmin),
    half_range: Math.fround((qmax - qmin) / 2),
    symmetric_zero_point: pass.symmetricZeroPoint ?? 0,
    eps: pass.eps ?? 0,
    opaque_zero: 0,
    outputs_per_lane: pass.outputsPerLane ?? 1,
  });
}
