/**
 * The scheme-dependent data of an elementwise kernel call, shared by quantize, dequantize and fake-quantize:
 * the uniform of the per-tensor family, or for per-channel and per-group the grouped uniform and the
 * parameter table at binding 3, uploaded once per call and shared by every chunk; and the parameter rows of
 * the stationary kernels.
 *
 * @example
 * ```ts
 * const { uniform, table, constants } = schemeBindings(q.params, { qmin: -128, qmax: 127 }, q.shape, 16);
 * ```
 * @module
 */
import { type ParamLayout, paramLayout } from '../../layout.js';
import type { QParams } from '../../qtensor.js';
import { checkScale } from '../../validate.js';
import { GROUPED_PARAMS, PER_TENSOR_PARAMS, packUniform } from '../common/uniforms.js';

/**
 * The parameter table's contents: rows in blocks of four, structure of arrays (shaders/elementwise/grouped_params.wgsl),
 * block b = [inv_scale × 4, fround(zero_point) × 4, fround(scale) × 4] for rows 4b .. 4b + 3, the last block
 * padded with zeros.
 *
 * @example
 * ```ts
 * paramTable(Float64Array.of(0.5), Int32Array.of(3)); // Float32Array [2, 0, 0, 0,  3, 0, 0, 0,  0.5, 0, 0, 0]
 * ```
 */
export function paramTable(scales: Float64Array, zeroPoints: Int32Array): Float32Array<ArrayBuffer> {
  const table = new Float32Array(Math.ceil(scales.length / 4) * 12);
  for (let r = 0; r < scales.length; r++) {
    const base = 12 * Math.floor(r / 4) + (r % 4);
    table[base] = checkScale(scales[r]!);
    table[base + 4] = zeroPoints[r]!;
    table[base + 8] = scales[r]!;
  }
  return table;
}

/**
 * The parameter table of the stationary 'runs' kernels (dequantize) (shaders/elementwise/stationary_params.wgsl): one vec4 per row,
 * `(inv_scale, fround(zero_point), fround(scale), 0)`.
 *
 * @example
 * ```ts
 * paramRows(Float64Array.of(0.5), Int32Array.of(3)); // Float32Array [2, 3, 0.5, 0]
 * ```
 */
export function paramRows(scales: Float64Array, zeroPoints: Int32Array): Float32Array<ArrayBuffer> {
  const table = new Float32Array(4 * scales.length);
  for (let r = 0; r < scales.length; r++) {
    table[4 * r] = checkScale(scales[r]!);
    table[4 * r + 1] = zeroPoints[r]!;
    table[4 * r + 2] = scales[r]!;
  }
  return table;
}

/**
 * The quantize parameter table of the stationary 'runs' and 'shortRuns' kernels: one vec4 per row,
 * `(inv_scale, qmin - zero_point, qmax - zero_point, bitcast<f32>(zero_point - ROUND_BITS))`, the form
 * shaders/common/numerics.wgsl quantize_small takes.
 *
 * @example
 * ```ts
 * quantRows(Float64Array.of(0.5), Int32Array.of(3), { qmin: -128, qmax: 127 }); // [2, -131, 124, (bits of 3 - 0x4b400000)]
 * ```
 */
export function quantRows(scales: Float64Array, zeroPoints: Int32Array, range: ClampRange): Float32Array<ArrayBuffer> {
  const table = new Float32Array(4 * scales.length);
  const bits = new Int32Array(table.buffer);
  for (let r = 0; r < scales.length; r++) {
    const zeroPoint = zeroPoints[r]!;
    table[4 * r] = checkScale(scales[r]!);
    table[4 * r + 1] = range.qmin - zeroPoint;
    table[4 * r + 2] = range.qmax - zeroPoint;
    bits[4 * r + 3] = zeroPoint - ROUND_BITS;
  }
  return table;
}

/** The integer range the kernel clamps to: the dtype's, or fake quantization's quant_min / quant_max. */
export interface ClampRange { qmin: number; qmax: number }

/**
 * How the four elements of a word relate to the parameter rows: 'sameRow' (one row for all four),
 * 'consecutiveRows' (rows r .. r + 3) or 'general' (anything). Words start at multiples of 4 elements.
 */
export type RowLayout = 'general' | 'sameRow' | 'consecutiveRows';

/** `override ROW_LAYOUT` of shaders/elementwise/grouped_params.wgsl, per named layout. */
export const ROW_LAYOUT: Readonly<Record<RowLayout, number>> = Object.freeze({ general: 0, sameRow: 1, consecutiveRows: 2 });

/**
 * What a kernel needs for a scheme: the uniform bytes of each chunk and, unless per tensor, the table and
 * the override constants that pick how the four elements of a word find their rows (see
 * shaders/elementwise/grouped_params.wgsl); those constants are part of the pipeline, the shape never is.
 */
export interface SchemeBindings {
  readonly uniform: (start: number, vecCount: number, threadCount: number) => ArrayBuffer;
  readonly table?: Float32Array<ArrayBuffer>;
  readonly constants?: Readonly<{ ROW_LAYOUT: number; PER_GROUP: 0 | 1 }>;
}

/**
 * The {@link RowLayout} of a per-channel or per-group tensor.
 *
 * @example
 * ```ts
 * rowLayout(paramLayout([64, 128], { axis: 0 }));               // 'sameRow': a row of 128 shares a channel
 * rowLayout(paramLayout([64, 128], { axis: 1 }));               // 'consecutiveRows': channels c .. c + 3
 * rowLayout(paramLayout([64, 128], { axis: 1, groupSize: 32 })); // 'sameRow': one group
 * ```
 */
export function rowLayout(layout: ParamLayout): RowLayout {
  const perGroup = layout.strideInner !== 0;
  if (!perGroup) {
    if (layout.inner % 4 === 0) return 'sameRow';
    return layout.inner === 1 && layout.channels % 4 === 0 ? 'consecutiveRows' : 'general';
  }
  if (layout.inner % 4 === 0) return 'consecutiveRows';
  return layout.inner === 1 && layout.channels % 4 === 0 && layout.groupSize % 4 === 0 ? 'sameRow' : 'general';
}

/**
 * The uniform and parameter table for `params` over a tensor of `shape`, clamping to `range`.
 *
 * @example
 * ```ts
 * const { uniform, table } = schemeBindings(q.params, dtypeInfo('qint8'), q.shape, 16);
 * ```
 */
export function schemeBindings(params: QParams, range: ClampRange, shape: readonly number[], elementsPerVec: number): SchemeBindings {
  if (params.scheme === 'per_tensor_affine') {
    const inverseScale = checkScale(params.scale);
    return {
      uniform: (_start, vecCount, threadCount) => packUniform(PER_TENSOR_PARAMS, {
        vec_count: vecCount, thread_count: threadCount, inv_scale: inverseScale, zero_point_f32: params.zeroPoint,
        qmin: range.qmin, qmax: range.qmax, scale: params.scale, zero_point: params.zeroPoint,
      }),
    };
  }
  const layout = paramLayout(shape, params);
  return {
    table: paramTable(params.scales, params.zeroPoints),
    constants: { ROW_LAYOUT: ROW_LAYOUT[rowLayout(layout)], PER_GROUP: params.scheme === 'per_group_affine' ? 1 : 0 },
    uniform: (start, vecCount, threadCount) => {
      const word = splitStep(elementsPerVec * threadCount, layout);
      const four = splitStep(4, layout);
      return packUniform(GROUPED_PARAMS, {
        vec_count: vecCount, thread_count: threadCount, start_element: start, inner: layout.inner, channels: layout.channels,
        group_size: layout.groupSize, stride_outer: layout.strideOuter, stride_group: layout.strideGroup,
        stride_inner: layout.strideInner, qmin: range.qmin, qmax: range.qmax, _pad0: 0,
        word_step_k: word.k, word_step_a: word.a, word_step_o: word.o, word_step_pad: 0,
        four_step_k: four.k, four_step_a: four.a, four_step_o: four.o, four_step_pad: 0,
      });
    },
  };
}

/**
 * A step of `elements` in the `[outer, channels, inner]` view, split into (k, a, o) so the shaders can walk
 * without dividing (shaders/elementwise/grouped_params.wgsl `advance`).
 *
 * @example
 * ```ts
 * splitStep(10, { inner: 4, channels: 3 }); // { k: 2, a: 2, o: 0 }
 * ```
 */
export function splitStep(elements: number, layout: { inner: number; channels: number }): { k: number; a: number; o: number } {
  const rows = Math.floor(elements / layout.inner);
  return { k: elements % layout.inner, a: rows % layout.channels, o: Math.floor(rows / layout.channels) };
}

/** bitcast<i32>(1.5 * 2^23), shaders/common/numerics.wgsl kRoundBits: quantRows' offset column is zero_point minus it. */
export const ROUND_BITS = 0x4b400000;
