/**
 * Host side of shaders/calibration/minmax_to_params.wgsl: turns the min/max reduction's records (one per
 * output, still on the device) into the scales and zero points, written straight into the quantize kernel's
 * parameter table and the error-statistics table, plus the statistics' prescale. The float steps run on bit
 * patterns with integer arithmetic (shaders/common/exact_float.wgsl), so the scales are the host's
 * `paramsFromRanges` / `signedExtremeOfRanges` bits for every input (docs/numerics.md, "Parameters on the
 * device").
 *
 * @example
 * ```ts
 * const rule = rangeRule({ kind: 'minmax', range: resolved.range, symmetric: resolved.symmetric });
 * const tables = encodeParamsFromRanges(run, manager, records, { rule, outputs, clamp: info, rowsTable: true, span: 512 });
 * run.read(tables.statsTable, tables.statsTableBytes, decode);
 * ```
 * @module
 */
import type { QuantRange } from '../../calibration/qparams.js';
import type { GpuManager } from '../../gpu/device.js';
import { dispatchSize } from '../../gpu/dispatch.js';
import type { GpuRun } from '../../gpu/gpu-run.js';
import type { PipelineSpec } from '../../gpu/pipeline-cache.js';
import { type UniformLayout, packUniform } from '../common/uniforms.js';
import { ROUND_BITS } from '../elementwise/scheme-params.js';
import exactFloat from '../../../shaders/common/exact_float.wgsl?raw';
import indexing from '../../../shaders/common/indexing.wgsl?raw';
import minmaxToParams from '../../../shaders/calibration/minmax_to_params.wgsl?raw';

/** Invocations per workgroup of `params_from_ranges`. */
export const PARAMS_FROM_RANGES_WORKGROUP_SIZE = 64;

/** Mirrors `struct RangeParams` in shaders/calibration/minmax_to_params.wgsl. */
export const RANGE_PARAMS = {
  struct: 'RangeParams',
  fields: [
    ['outputs', 'u32'], ['rule', 'u32'], ['qmin', 'i32'], ['qmax', 'i32'],
    ['divisor', 'u32'], ['zero_point', 'i32'], ['positive_zero_point', 'i32'], ['clamp_min', 'i32'],
    ['clamp_max', 'i32'], ['rows_table', 'u32'], ['table_rows', 'u32'], ['span', 'u32'],
    ['round_bits', 'i32'], ['_pad0', 'u32'], ['_pad1', 'u32'], ['_pad2', 'u32'],
  ],
} as const satisfies UniformLayout<string>;

/** The raw shader files, for the tests that check the host's view of them and run the arithmetic alone. */
export const PARAMS_FROM_RANGES_SHADER_FILES = { exactFloat, minmaxToParams } as const;

const kSource = [indexing, exactFloat, minmaxToParams].join('\n');

/** The pipelines of the two entry points. */
function pipeline(entryPoint: 'params_from_ranges' | 'prescale_from_maxima'): PipelineSpec {
  return {
    label: `calibration|${entryPoint}`, code: kSource, entryPoint,
    constants: entryPoint === 'params_from_ranges' ? { WORKGROUP_SIZE: PARAMS_FROM_RANGES_WORKGROUP_SIZE } : {},
  };
}

/**
 * How the scales and zero points follow from a range: PyTorch's observer formulas ('minmax', affine or
 * symmetric, on the calibration range) or the policy's 'extreme' rule on the dtype's range.
 */
export type RangeRule =
  | { kind: 'minmax'; range: QuantRange; symmetric: boolean }
  | { kind: 'extreme'; qmin: number; qmax: number };

const kScratch = new DataView(new ArrayBuffer(4));

/** The bits of `value` as a float32. */
function float32Bits(value: number): number {
  kScratch.setFloat32(0, value, true);
  return kScratch.getUint32(0, true);
}

/** The rule's fields of the uniform: the formula, its range, its divisor (float32 bits) and zero points. */
function ruleFields(rule: RangeRule): { rule: number; qmin: number; qmax: number; divisor: number; zero_point: number; positive_zero_point: number } {
  if (rule.kind === 'extreme') {
    // signedExtremeCandidate: h = floor((qmax - qmin + 1) / 2), an integer, so a float32 exactly.
    const half = Math.floor((rule.qmax - rule.qmin + 1) / 2);
    return { rule: 2, qmin: rule.qmin, qmax: rule.qmax, divisor: float32Bits(half), zero_point: rule.qmin + half, positive_zero_point: rule.qmax - half };
  }
  const { qmin, qmax, symmetricZeroPoint } = rule.range;
  // qparamsFromMinMax's divisors, rounded to float32 as it rounds them.
  const divisor = rule.symmetric ? Math.fround((qmax - qmin) / 2) : Math.fround(qmax - qmin);
  return { rule: rule.symmetric ? 1 : 0, qmin, qmax, divisor: float32Bits(divisor), zero_point: symmetricZeroPoint, positive_zero_point: symmetricZeroPoint };
}

/** What {@link encodeParamsFromRanges} needs besides the records. */
export interface ParamsFromRangesRequest {
  readonly rule: RangeRule;
  /** Outputs of the reduction: one scale and zero point each, in the quantize functions' order. */
  readonly outputs: number;
  /** The quantize kernel's clamp range (the dtype's), for the 'rows' table. */
  readonly clamp: { qmin: number; qmax: number };
  /** The quantize table is `quantRows`' (stationary 'runs' and 'shortRuns'); otherwise `paramTable`'s blocks. */
  readonly rowsTable: boolean;
  /** The statistics' `2 * (qmax - qmin + 1)` of the dtype (prescaleFor); at most 2^19. */
  readonly span: number;
}

/** Whether {@link encodeParamsFromRanges} covers `rule` with this `span` (the integer steps stay within a u32). */
export function paramsFromRangesCovers(rule: RangeRule, span: number): boolean {
  const { qmin, qmax } = rule.kind === 'extreme' ? rule : rule.range;
  return span >= 2 && span <= 2 ** 19 && qmin < qmax && Math.abs(qmin) <= 2 ** 16 && Math.abs(qmax) <= 2 ** 16;
}

/**
 * The uniform of `request`.
 *
 * @example
 * ```ts
 * rangeParamsUniform({ rule: { kind: 'extreme', qmin: -8, qmax: 7 }, outputs: 3, clamp: { qmin: -8, qmax: 7 }, rowsTable: false, span: 32 }).byteLength; // 64
 * ```
 */
export function rangeParamsUniform(request: ParamsFromRangesRequest): ArrayBuffer {
  return packUniform(RANGE_PARAMS, {
    ...ruleFields(request.rule), outputs: request.outputs, clamp_min: request.clamp.qmin, clamp_max: request.clamp.qmax,
    rows_table: request.rowsTable ? 1 : 0, table_rows: Math.ceil(request.outputs / 4) * 4, span: request.span, round_bits: ROUND_BITS,
    _pad0: 0, _pad1: 0, _pad2: 0,
  });
}

/** The buffers {@link encodeParamsFromRanges} fills (pooled for the run). */
export interface ParamTables {
  /** Per output `(inverse scale, fround(zero point), scale, zero point)` as the statistics read it: `paramTableWords`. */
  statsTable: GPUBuffer;
  statsTableBytes: number;
  /** The quantize kernel's table: `quantRows` or `paramTable` of the scales and zero points. */
  quantTable: GPUBuffer;
  quantTableBytes: number;
  /** Four words: largest |min| or |max|, largest scale, the prescale (float32 bits, at {@link PRESCALE_OFFSET}), unused. */
  maxima: GPUBuffer;
}

/** Byte offset of the prescale in {@link ParamTables.maxima}. */
export const PRESCALE_OFFSET = 8;

/**
 * Encodes the parameter passes over `records` (one `(min key, max key, first NaN, 0)` record per output, as
 * `encodeMinMaxBox` leaves them).
 *
 * @example
 * ```ts
 * const { records } = encodeMinMaxBox(run, manager, layout, box, resident, options);
 * const tables = encodeParamsFromRanges(run, manager, records, request, 65535);
 * ```
 */
export function encodeParamsFromRanges(
  run: GpuRun, manager: GpuManager, records: GPUBuffer, request: ParamsFromRangesRequest, maxWorkgroupsPerDimension: number,
): ParamTables {
  const storage = GPUBufferUsage.STORAGE;
  const rows = Math.ceil(request.outputs / 4) * 4;
  const statsTableBytes = request.outputs * 16;
  const quantTableBytes = request.rowsTable ? request.outputs * 16 : rows * 12;
  const statsTable = run.buffer(statsTableBytes, storage | GPUBufferUsage.COPY_SRC, 'statsTable');
  const quantTable = run.buffer(quantTableBytes, storage, 'quantTable');
  const maxima = run.upload(new Uint32Array(4), storage | GPUBufferUsage.COPY_SRC, 'maxima');
  const uniform = rangeParamsUniform(request);
  const entries: GPUBindGroupEntry[] = [
    { binding: 0, resource: { buffer: run.upload(uniform, GPUBufferUsage.UNIFORM, 'rangeParams'), size: uniform.byteLength } },
    { binding: 1, resource: { buffer: records, size: request.outputs * 16 } },
    { binding: 2, resource: { buffer: statsTable, size: statsTableBytes } },
    { binding: 3, resource: { buffer: quantTable, size: quantTableBytes } },
    { binding: 4, resource: { buffer: maxima, size: 16 } },
  ];
  const maxPerDimension = Math.min(maxWorkgroupsPerDimension, run.device.limits.maxComputeWorkgroupsPerDimension);
  run.dispatch(manager.pipelines.get(pipeline('params_from_ranges')), entries,
    dispatchSize(rows, PARAMS_FROM_RANGES_WORKGROUP_SIZE, maxPerDimension), 'paramsFromRanges');
  run.dispatch(manager.pipelines.get(pipeline('prescale_from_maxima')), [entries[0]!, entries[4]!], { x: 1, y: 1 }, 'prescale');
  return { statsTable, statsTableBytes, quantTable, quantTableBytes, maxima };
}
