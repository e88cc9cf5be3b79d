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
import { MAX_SCALE, MIN_SCALE, checkScale } from '../../validate.js';
import { GROUPED_PARAMS, PER_TENSOR_PARAMS, packUniform } from '../common/uniforms.js';

/**
 * The parameter table's contents: rows in blocks of four, structure of arrays (shaders/elementwise/grouped_params.wgsl),
 * block b = [inv_scale × 4, fround(zero_point) × 4, fround(scale) × 4] for rows 4b .. 4b + 3, the last block
 * padded with zeros. With `out`, rows `first .. first + rows - 1` (`first` a multiple of 4) are written into
 * `out` from its start (every float of their blocks, padding included) and `out` is returned.
 *
 * @example
 * ```ts
 * paramTable(Float64Array.of(0.5), Int32Array.of(3)); // Float32Array [2, 0, 0, 0,  3, 0, 0, 0,  0.5, 0, 0, 0]
 * ```
 */
export function paramTable(
  scales: Float64Array, zeroPoints: Int32Array, first = 0, rows = scales.length - first,
  out: Float32Array<ArrayBuffer> = new Float32Array(paramTableFloats(rows)),
): Float32Array<ArrayBuffer> {
  const blocks = Math.ceil(rows / 4);
  let valid = 1; // every scale in range, as inScaleRange: checked once after the loop
  const lo = MIN_SCALE; // imported bindings read once, not per row
  const hi = MAX_SCALE;
  for (let b = 0; b < blocks; b++) {
    const base = 12 * b;
    for (let k = 0; k < 4; k++) {
      const r = first + 4 * b + k;
      const inside = 4 * b + k < rows;
      const scale32 = inside ? Math.fround(scales[r]!) : 1;
      valid &= +(scale32 >= lo) & +(scale32 <= hi);
      out[base + k] = inside ? Math.fround(1 / scale32) : 0;
      out[base + 4 + k] = inside ? zeroPoints[r]! : 0;
      out[base + 8 + k] = inside ? scales[r]! : 0;
    }
  }
  if (!valid) throwOutOfRange(scales, first, rows);
  return out;
}

/** Floats of {@link paramTable} for `rows` rows: whole blocks of four. */
export function paramTableFloats(rows: number): number {
  return 12 * Math.ceil(rows / 4);
}

/**
 * The parameter table of the stationary 'runs' kernels (dequantize) (shaders/elementwise/stationary_params.wgsl): one vec4 per row,
 * `(inv_scale, fround(zero_point), fround(scale), 0)`. With `out`, rows `first .. first + rows - 1` are written
 * into `out` from its start and `out` is returned.
 *
 * @example
 * ```ts
 * paramRows(Float64Array.of(0.5), Int32Array.of(3)); // Float32Array [2, 3, 0.5, 0]
 * ```
 */
export function paramRows(
  scales: Float64Array, zeroPoints: Int32Array, first = 0, rows = scales.length - first,
  out: Float32Array<ArrayBuffer> = new Float32Array(4 * rows),
): Float32Array<ArrayBuffer> {
  let valid = 1; // every scale in range, as inScaleRange: checked once after the loop
  const lo = MIN_SCALE; // imported bindings read once, not per row
  const hi = MAX_SCALE;
  for (let i = 0; i < rows; i++) {
    const r = first + i;
    const scale32 = Math.fround(scales[r]!);
    valid &= +(scale32 >= lo) & +(scale32 <= hi);
    out[4 * i] = Math.fround(1 / scale32);
    out[4 * i + 1] = zeroPoints[r]!;
    out[4 * i + 2] = scales[r]!;
    out[4 * i + 3] = 0;
  }
  if (!valid) throwOutOfRange(scales, first, rows);
  return out;
}

/**
 * The quantize parameter table of the stationary 'runs' and 'shortRuns' kernels: one vec4 per row,
 * `(inv_scale, qmin - zero_point, qmax - zero_point, bitcast<f32>(zero_point - ROUND_BITS))`, the form
 * shaders/common/numerics.wgsl quantize_small takes. With `out`, rows `first .. first + rows - 1` are
 * written into `out` from its start and `out` is returned.
 *
 * @example
 * ```ts
 * quantRows(Float64Array.of(0.5), Int32Array.of(3), { qmin: -128, qmax: 127 }); // [2, -131, 124, (bits of 3 - 0x4b400000)]
 * ```
 */
export function quantRows(
  scales: Float64Array, zeroPoints: Int32Array, range: ClampRange, first = 0, rows = scales.length - first,
  out: Float32Array<ArrayBuffer> = new Float32Array(4 * rows),
): Float32Array<ArrayBuffer> {
  const bits = new Int32Array(out.buffer, out.byteOffset, 4 * rows);
  const { qmin, qmax } = range;
  const roundBits = ROUND_BITS;
  let valid = 1; // every scale in range, as inScaleRange: checked once after the loop
  const lo = MIN_SCALE; // imported bindings read once, not per row
  const hi = MAX_SCALE;
  for (let i = 0; i < rows; i++) {
    const r = first + i;
    const zeroPoint = zeroPoints[r]!;
    const scale32 = Math.fround(scales[r]!);
    valid &= +(scale32 >= lo) & +(scale32 <= hi);
    out[4 * i] = Math.fround(1 / scale32);
    out[4 * i + 1] = qmin - zeroPoint;
    out[4 * i + 2] = qmax - zeroPoint;
    bits[4 * i + 3] = zeroPoint - roundBits;
  }
  if (!valid) throwOutOfRange(scales, first, rows);
  return out;
}

/**
 * 1 when a float32 scale lies in [MIN_SCALE, MAX_SCALE] (its inverse, fround(1 / scale), is then what
 * {@link checkScale} returns), else 0 (NaN included). The table loops compute the same, inline, AND it over
 * their rows and check once after the loop: a branch per row, and the imported bounds read per row, made
 * quantRows 3–4× slower in Chrome (11 against 3 ms for 524,288 rows).
 */
function inScaleRange(scale32: number): number {
  return +(scale32 >= MIN_SCALE) & +(scale32 <= MAX_SCALE);
}

/** Hands the first scale of rows `first .. first + rows - 1` out of range to checkScale, which throws (never one of a validated QParams). */
function throwOutOfRange(scales: Float64Array, first: number, rows: number): never {
  for (let r = first; r < first + rows; r++) {
    if (!inScaleRange(Math.fround(scales[r]!))) checkScale(scales[r]!, `scales[${r}]`);
  }
  throw new Error('unreachable: a scale out of range was flagged');
}

/**
 * A parameter table described rather than built: `rows` rows in blocks of `rowsPerBlock` rows taking
 * `bytesPerBlock` bytes (a multiple of 4); `build(first, count, out)` writes rows `first .. first + count - 1`
 * (`first` a multiple of `rowsPerBlock`) into `out` from its start. {@link buildTable} makes the whole
 * table, {@link writeTable} writes it to a GPU buffer without allocating it.
 */
export interface TableSource {
  /** Which table: see {@link tableSource}. */
  readonly kind: TableKind;
  /** The rows' scales and zero points, and the clamp range of a 'quantRows' table. */
  readonly scales: Float64Array;
  readonly zeroPoints: Int32Array;
  readonly range?: ClampRange;
  readonly rows: number;
  readonly rowsPerBlock: number;
  readonly bytesPerBlock: number;
  readonly build: (first: number, count: number, out: Float32Array<ArrayBuffer>) => void;
}

/**
 * The source of the table a stationary kernel or the grouped kernel binds at 3: {@link paramTable}
 * ('table'), {@link paramRows} ('rows') or {@link quantRows} ('quantRows', clamping to `range`).
 *
 * @example
 * ```ts
 * buildTable(tableSource('rows', Float64Array.of(0.5), Int32Array.of(3))); // Float32Array [2, 3, 0.5, 0]
 * ```
 */
export function tableSource(kind: TableKind, scales: Float64Array, zeroPoints: Int32Array, range?: ClampRange): TableSource {
  const rows = scales.length;
  const common = { kind, scales, zeroPoints, rows };
  if (kind === 'table') return { ...common, rowsPerBlock: 4, bytesPerBlock: 48, build: (first, count, out) => paramTable(scales, zeroPoints, first, count, out) };
  if (kind === 'rows') return { ...common, rowsPerBlock: 1, bytesPerBlock: 16, build: (first, count, out) => paramRows(scales, zeroPoints, first, count, out) };
  const clamp = range!;
  return { ...common, range: clamp, rowsPerBlock: 1, bytesPerBlock: 16, build: (first, count, out) => quantRows(scales, zeroPoints, clamp, first, count, out) };
}

/** The parameter tables: {@link paramTable}'s blocks ('table'), {@link paramRows} ('rows'), {@link quantRows} ('quantRows'). */
export type TableKind = 'table' | 'rows' | 'quantRows';

/** The byte length of `source`'s table. */
export function tableBytes(source: TableSource): number {
  return Math.ceil(source.rows / source.rowsPerBlock) * source.bytesPerBlock;
}

/** The whole table of `source`, in a fresh array. */
export function buildTable(source: TableSource): Float32Array<ArrayBuffer> {
  const out = new Float32Array(tableBytes(source) / 4);
  source.build(0, source.rows, out);
  return out;
}

/**
 * Bytes of parameter table built per queue write by {@link writeTable}: built into one reused scratch array
 * a slice at a time (writeBuffer copies its data before it returns), so a call allocates no table.
 */
export const TABLE_SLICE_BYTES = 1 << 18;
let tableScratch: Float32Array<ArrayBuffer> | undefined;

/**
 * Writes `source`'s table to `buffer` from offset 0, a slice of rows at a time through one reused scratch
 * array: the same bytes as writing {@link buildTable}'s array, without allocating it.
 *
 * @example
 * ```ts
 * writeTable(device.queue, buffer, tableSource('quantRows', scales, zeroPoints, dtypeInfo('qint4')));
 * ```
 */
export function writeTable(queue: GPUQueue, buffer: GPUBuffer, source: TableSource): void {
  tableScratch ??= new Float32Array(TABLE_SLICE_BYTES / 4);
  const { rows, rowsPerBlock, bytesPerBlock } = source;
  const sliceRows = rowsPerBlock * Math.floor(TABLE_SLICE_BYTES / bytesPerBlock);
  for (let first = 0; first < rows; first += sliceRows) {
    const count = Math.min(sliceRows, rows - first);
    const out = tableScratch.subarray(0, (Math.ceil(count / rowsPerBlock) * bytesPerBlock) / 4);
    source.build(first, count, out);
    queue.writeBuffer(buffer, (first / rowsPerBlock) * bytesPerBlock, out);
  }
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
 * What a kernel needs for a scheme: the uniform bytes of each chunk and, unless per tensor, the table's source and
 * the override constants that pick how the four elements of a word find their rows (see
 * shaders/elementwise/grouped_params.wgsl); those constants are part of the pipeline, the shape never is.
 */
export interface SchemeBindings {
  readonly uniform: (start: number, vecCount: number, threadCount: number) => ArrayBuffer;
  readonly table?: TableSource;
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
    table: tableSource('table', params.scales, params.zeroPoints),
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
