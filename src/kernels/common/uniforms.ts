/**
 * The uniform structs of the kernel families, described once as field lists that mirror the WGSL structs
 * (`shaders/elementwise/per_tensor_params.wgsl`, `shaders/elementwise/grouped_params.wgsl`) and packed by one function. A unit
 * test parses the WGSL and checks the lists match it field by field.
 *
 * @example
 * ```ts
 * const bytes = packUniform(PER_TENSOR_PARAMS, { vec_count: 1, thread_count: 256, inv_scale: 2,
 *   zero_point_f32: 0, qmin: -128, qmax: 127, scale: 0.5, zero_point: 0 });
 * bytes.byteLength; // 32
 * ```
 * @module
 */

/** A 4-byte scalar type of a uniform field. */
export type UniformScalar = 'u32' | 'i32' | 'f32';

/** A uniform struct: its WGSL name and its 4-byte fields in order. */
export interface UniformLayout<F extends string> {
  readonly struct: string;
  readonly fields: readonly (readonly [F, UniformScalar])[];
}

/** Mirrors `struct PerTensorParams` in shaders/elementwise/per_tensor_params.wgsl. */
export const PER_TENSOR_PARAMS = {
  struct: 'PerTensorParams',
  fields: [
    ['vec_count', 'u32'], ['thread_count', 'u32'], ['inv_scale', 'f32'], ['zero_point_f32', 'f32'],
    ['qmin', 'f32'], ['qmax', 'f32'], ['scale', 'f32'], ['zero_point', 'i32'],
  ],
} as const satisfies UniformLayout<string>;

/** Mirrors `struct GroupedParams` in shaders/elementwise/grouped_params.wgsl (per-channel and per-group kernels). */
export const GROUPED_PARAMS = {
  struct: 'GroupedParams',
  fields: [
    ['vec_count', 'u32'], ['thread_count', 'u32'], ['start_element', 'u32'], ['inner', 'u32'],
    ['channels', 'u32'], ['group_size', 'u32'], ['stride_outer', 'u32'], ['stride_group', 'u32'],
    ['stride_inner', 'u32'], ['qmin', 'f32'], ['qmax', 'f32'], ['_pad0', 'u32'],
    ['word_step_k', 'u32'], ['word_step_a', 'u32'], ['word_step_o', 'u32'], ['word_step_pad', 'u32'],
    ['four_step_k', 'u32'], ['four_step_a', 'u32'], ['four_step_o', 'u32'], ['four_step_pad', 'u32'],
  ],
} as const satisfies UniformLayout<string>;

/** Mirrors `struct StationaryParams` in shaders/elementwise/stationary_params.wgsl (the stationary 8-bit and 4-bit kernels). */
export const STATIONARY_PARAMS = {
  struct: 'StationaryParams',
  fields: [
    ['thread_count', 'u32'], ['vec_count', 'u32'], ['run_vecs', 'u32'], ['run_threads', 'u32'],
    ['runs_per_thread', 'u32'], ['chunk_runs', 'u32'], ['first_run', 'u32'], ['rows', 'u32'],
    ['qmin', 'f32'], ['qmax', 'f32'], ['_pad0', 'u32'], ['_pad1', 'u32'],
  ],
} as const satisfies UniformLayout<string>;

/** Mirrors `struct Float16Params` in shaders/elementwise/float16_convert.wgsl. */
export const FLOAT16_PARAMS = {
  struct: 'Float16Params',
  fields: [['count', 'u32'], ['thread_count', 'u32'], ['_pad0', 'u32'], ['_pad1', 'u32']],
} as const satisfies UniformLayout<string>;

type FieldNames<L> = L extends { fields: readonly (readonly [infer F, UniformScalar])[] } ? F & string : never;

/**
 * Packs `values` into the byte layout of `layout` (little-endian, 4 bytes a field, padded to 16 bytes).
 * Every field must be given.
 */
export function packUniform<L extends UniformLayout<string>>(layout: L, values: Record<FieldNames<L>, number>): ArrayBuffer {
  const bytes = new ArrayBuffer(Math.ceil(layout.fields.length / 4) * 16);
  const view = new DataView(bytes);
  layout.fields.forEach(([name, type], i) => {
    const value = (values as Record<string, number>)[name];
    if (value === undefined) throw new Error(`packUniform(${layout.struct}): field ${name} is missing`);
    if (type === 'u32') view.setUint32(i * 4, value, true);
    else if (type === 'i32') view.setInt32(i * 4, value, true);
    else view.setFloat32(i * 4, value, true);
  });
  return bytes;
}
