/**
 * Host side of shaders/elementwise/param_table.wgsl: the parameter table of a per-channel or per-group call
 * built on the device, bit for bit the host's (`paramTable`, `paramRows`, `quantRows` in scheme-params.ts).
 * The host uploads the scales as float32 (4 bytes a row, rounded a slice at a time through one reused array)
 * and the zero points as they are (4 bytes), instead of building and uploading 12–16 bytes a row in a loop of
 * its own; the inverse scales are exact_float.wgsl's correctly rounded divisions. Encoded into the first
 * chunk's submit (ChunkedJob's `prepare`, run-chunked.ts), so the table costs no round trip of its own.
 *
 * @example
 * ```ts
 * const source = tableSource('quantRows', params.scales, params.zeroPoints, dtypeInfo('qint4'));
 * if (buildsTableOnDevice(manager, source, dtypeInfo('qint4'))) encodeParamTable(run, manager, source, tableBuffer);
 * ```
 * @module
 */
import type { DTypeInfo } from '../../dtype.js';
import type { GpuManager } from '../../gpu/device.js';
import { dispatchSize } from '../../gpu/dispatch.js';
import type { GpuRun } from '../../gpu/gpu-run.js';
import type { PipelineSpec } from '../../gpu/pipeline-cache.js';
import { knownSmallestScale } from '../../validate.js';
import { type UniformLayout, packUniform } from '../common/uniforms.js';
import { ROUND_BITS, type TableKind, type TableSource, tableBytes } from './scheme-params.js';
import exactFloat from '../../../shaders/common/exact_float.wgsl?raw';
import indexing from '../../../shaders/common/indexing.wgsl?raw';
import paramTableShader from '../../../shaders/elementwise/param_table.wgsl?raw';

/** Mirrors `struct ParamTableParams` in shaders/elementwise/param_table.wgsl. */
export const PARAM_TABLE_PARAMS = {
  struct: 'ParamTableParams',
  fields: [
    ['rows', 'u32'], ['table_rows', 'u32'], ['qmin', 'i32'], ['qmax', 'i32'],
    ['round_bits', 'i32'], ['_pad0', 'u32'], ['_pad1', 'u32'], ['_pad2', 'u32'],
  ],
} as const satisfies UniformLayout<string>;

/** The raw shader file, for the test that checks the host's view of its uniform. */
export const PARAM_TABLE_SHADER_FILES = { paramTable: paramTableShader } as const;

/**
 * Rows from which a call's table is built on the device: below it (256 KiB of table at most) the host's loop
 * and upload take well under a millisecond, less than what one more pass and its pipeline would cost.
 */
export const DEVICE_TABLE_MIN_ROWS = 16384;

/** Invocations per workgroup of `param_table`. */
export const PARAM_TABLE_WORKGROUP_SIZE = 64;

/** `override TABLE_KIND` per table (shaders/elementwise/param_table.wgsl). */
const kTableKind: Readonly<Record<TableKind, number>> = { table: 0, rows: 1, quantRows: 2 };

const kSource = [indexing, exactFloat, paramTableShader].join('\n');

/** Rows of float32 scales converted per queue write, through one reused array (writeBuffer copies before it returns). */
const SCALE_SLICE_ROWS = 1 << 16;
let scaleScratch: Float32Array<ArrayBuffer> | undefined;

/**
 * Whether the device builds `source`'s table for a call of dtype `info`: where `manager.deviceTables` holds (a
 * GPU, not a software adapter), for at least `minRows` rows, zero points of an 8- or 4-bit dtype (WGSL's
 * f32(i32) need not round a 32-bit one to nearest), and scales that checkChannelParams validated (the host's
 * loops refuse a scale out of range; the device would not).
 *
 * @example
 * ```ts
 * const checked = checkQParams([4096, 4096], 'qint4', { scales, zeroPoints, axis: 1, groupSize: 32 });
 * buildsTableOnDevice(manager, tableSource('quantRows', checked.scales, checked.zeroPoints, dtypeInfo('qint4')), dtypeInfo('qint4')); // true on a GPU
 * ```
 */
export function buildsTableOnDevice(
  manager: Pick<GpuManager, 'deviceTables'>, source: TableSource, info: DTypeInfo, minRows = DEVICE_TABLE_MIN_ROWS,
): boolean {
  return manager.deviceTables && info.bits !== 32 && source.rows >= minRows && knownSmallestScale(source.scales) !== undefined;
}

/** The pipeline of one table kind. */
function pipeline(kind: TableKind): PipelineSpec {
  return {
    label: `paramTable|${kind}`, code: kSource, entryPoint: 'param_table',
    constants: { WORKGROUP_SIZE: PARAM_TABLE_WORKGROUP_SIZE, TABLE_KIND: kTableKind[kind] },
  };
}

/**
 * Encodes into `run` the writes of `source`'s scales and zero points and the pass that builds its table in
 * `table` (at least tableBytes(source) bytes, STORAGE): the same bytes as writeTable(queue, table, source).
 *
 * @example
 * ```ts
 * await runOnGpu(manager, 'table', (run) => encodeParamTable(run, manager, source, table));
 * ```
 */
export function encodeParamTable(
  run: GpuRun, manager: GpuManager, source: TableSource, table: GPUBuffer, maxWorkgroupsPerDimension = Infinity,
): void {
  const { rows, kind } = source;
  const queue = run.device.queue;
  const upload = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
  const scales = run.buffer(4 * rows, upload, 'paramTable.scales');
  scaleScratch ??= new Float32Array(SCALE_SLICE_ROWS);
  for (let first = 0; first < rows; first += SCALE_SLICE_ROWS) {
    const count = Math.min(SCALE_SLICE_ROWS, rows - first);
    const slice = scaleScratch.subarray(0, count);
    slice.set(source.scales.subarray(first, first + count)); // float64 to float32 rounds to nearest even, as Math.fround
    queue.writeBuffer(scales, 4 * first, slice);
  }
  const zeroPoints = run.buffer(4 * rows, upload, 'paramTable.zeroPoints');
  queue.writeBuffer(zeroPoints, 0, source.zeroPoints as Int32Array<ArrayBuffer>, 0, rows);
  const tableRows = kind === 'table' ? Math.ceil(rows / 4) * 4 : rows;
  const uniform = packUniform(PARAM_TABLE_PARAMS, {
    rows, table_rows: tableRows, qmin: source.range?.qmin ?? 0, qmax: source.range?.qmax ?? 0, round_bits: ROUND_BITS,
    _pad0: 0, _pad1: 0, _pad2: 0,
  });
  const maxPerDimension = Math.min(maxWorkgroupsPerDimension, run.device.limits.maxComputeWorkgroupsPerDimension);
  run.dispatch(manager.pipelines.get(pipeline(kind)), [
    { binding: 0, resource: { buffer: run.upload(uniform, GPUBufferUsage.UNIFORM, 'paramTable.uniform'), size: uniform.byteLength } },
    { binding: 1, resource: { buffer: scales, size: 4 * rows } },
    { binding: 2, resource: { buffer: zeroPoints, size: 4 * rows } },
    { binding: 3, resource: { buffer: table, size: tableBytes(source) } },
  ], dispatchSize(tableRows, PARAM_TABLE_WORKGROUP_SIZE, maxPerDimension), 'paramTable');
}
