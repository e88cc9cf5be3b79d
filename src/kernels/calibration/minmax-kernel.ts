/**
 * Host side of the min/max reductions (shaders/calibration/minmax_reduce.wgsl): per tensor, per channel on any axis,
 * per group. The tensor goes up box by box (src/kernels/calibration/minmax-plan.ts), each box in one submit: a first
 * pass where every invocation reduces a fixed strided share of one output, then combine passes until one
 * record per output is left, read back and merged on the host in box order. Min and max are exact, so the
 * result is identical bit for bit on every run, device and chunk size, and equals the CPU reference.
 *
 * @example
 * ```ts
 * const { mins, maxs, firstNaN } = await minMaxKernel(manager, x.data, reductionLayout(x.shape, { axis: 0 }), {});
 * ```
 * @module
 */
import type { KernelOptions } from '../common/kernel-options.js';
import type { ReductionLayout } from '../../calibration/granularity.js';
import type { GpuManager } from '../../gpu/device.js';
import { dispatchSize } from '../../gpu/dispatch.js';
import { type GpuRun, runOnGpu } from '../../gpu/gpu-run.js';
import { type MinMaxResult, lessThan } from '../../reference/minmax.js';
import { type ReductionBox, combineLanesFor, firstPass, planBoxes } from './minmax-plan.js';
import { CALIBRATION_WORKGROUP_SIZE, type CalibrationEntry, calibrationPipeline } from './minmax-shaders.js';
import { CALIBRATION_PARAMS_BYTES, type PassFields, packCalibrationParams } from './minmax-uniforms.js';

const kRecordBytes = 16;
const kNoNaN = 0xffffffff;
const kEmptyMin = 0x7fffffff;
const kEmptyMax = -0x80000000;

/**
 * The largest storage binding the device allows, in bytes.
 *
 * @example
 * ```ts
 * bindingLimit(device); // e.g. 134217728
 * ```
 */
export function bindingLimit(device: GPUDevice): number {
  return Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
}

/**
 * Encodes one pass of a calibration kernel over `box`: its uniform, bind group and dispatch. A pass with
 * more invocations than one dispatch can launch (maxComputeWorkgroupsPerDimension squared, or the forced
 * `maxWorkgroupsPerDimension`) is split into several dispatches, each told its first invocation.
 *
 * @example
 * ```ts
 * encodePass(run, manager, layout, box, 'minmax_combine', { lanes: 1, inLanes: 8, invocations: box.wCount },
 *   { 2: { buffer: out, size: 16 * box.wCount }, 3: { buffer: records, size: 128 * box.wCount } }, {});
 * ```
 */
export function encodePass(
  run: GpuRun, manager: GpuManager, layout: ReductionLayout, box: ReductionBox, entry: CalibrationEntry,
  fields: PassFields, buffers: Record<number, { buffer: GPUBuffer; size: number }>, options: KernelOptions,
): void {
  const pipeline = calibrationPipeline(entry);
  const maxPerDimension = Math.min(options.maxWorkgroupsPerDimension ?? Infinity, run.device.limits.maxComputeWorkgroupsPerDimension);
  const capacity = Math.min(maxPerDimension * maxPerDimension, 2 ** 24) * CALIBRATION_WORKGROUP_SIZE;
  for (let offset = 0; offset < fields.invocations; offset += capacity) {
    const pass = { ...fields, invocationOffset: offset };
    const uniform = run.upload(packCalibrationParams(layout, box, pass), GPUBufferUsage.UNIFORM, `${entry}.uniform`);
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: uniform, size: CALIBRATION_PARAMS_BYTES } }];
    for (const [binding, resource] of Object.entries(buffers)) entries.push({ binding: Number(binding), resource });
    const grid = dispatchSize(Math.min(capacity, fields.invocations - offset), CALIBRATION_WORKGROUP_SIZE, maxPerDimension);
    run.dispatch(manager.pipelines.get(pipeline), entries, grid, entry);
  }
}

/**
 * The most elements one box of the min/max reduction takes on `device` (see `planBoxes`).
 *
 * @example
 * ```ts
 * [...planBoxes(layout, minMaxBoxElements(device, {}))].length; // 1 for a weight that fits one box
 * ```
 */
export function minMaxBoxElements(device: GPUDevice, options: KernelOptions): number {
  return Math.max(1, Math.min(Math.floor(bindingLimit(device) / kRecordBytes), options.maxChunkElements ?? Infinity));
}

/** What {@link encodeMinMaxBox} encoded. */
export interface EncodedMinMax {
  /** One record per output of the box: (min key, max key, first NaN index or 0xffffffff, 0). */
  records: GPUBuffer;
  /** The entry points of the passes, in order. */
  entries: CalibrationEntry[];
  /** Bytes of records written and read back by the passes. */
  recordBytes: number;
}

/**
 * Encodes the min/max passes over one box whose elements are in `input`: a first pass (vec4 or scalar,
 * see {@link firstPass}) and combine passes down to one record per output.
 *
 * @example
 * ```ts
 * const { records } = encodeMinMaxBox(run, manager, layout, box, input, {});
 * run.read(records, box.wCount * 16, decode);
 * ```
 */
export function encodeMinMaxBox(
  run: GpuRun, manager: GpuManager, layout: ReductionLayout, box: ReductionBox, input: GPUBuffer, options: KernelOptions,
): EncodedMinMax {
  const first = firstPass(layout, box);
  let lanes = first.lanes;
  let records = run.buffer(box.wCount * lanes * kRecordBytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, 'records');
  let recordBytes = box.wCount * lanes * kRecordBytes;
  const entries: CalibrationEntry[] = [first.entry];
  encodePass(run, manager, first.layout, box, first.entry,
    { lanes, laneFastest: first.laneFastest, outputsPerLane: first.outputsPerLane, invocations: first.invocations },
    { 1: { buffer: input, size: box.count * 4 }, 2: { buffer: records, size: box.wCount * lanes * kRecordBytes } }, options);
  while (lanes > 1) {
    const next = combineLanesFor(lanes);
    const combined = run.buffer(box.wCount * next * kRecordBytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, 'records');
    encodePass(run, manager, layout, box, 'minmax_combine', { lanes: next, inLanes: lanes, invocations: box.wCount * next },
      { 2: { buffer: combined, size: box.wCount * next * kRecordBytes }, 3: { buffer: records, size: box.wCount * lanes * kRecordBytes } }, options);
    entries.push('minmax_combine');
    recordBytes += box.wCount * (lanes + next) * kRecordBytes;
    records = combined;
    lanes = next;
  }
  return { records, entries, recordBytes };
}

/** The buffer holding `box`'s elements from its offset 0: uploaded, the device buffer itself, or copied out of it. */
function boxInput(run: GpuRun, data: Float32Array | GPUBuffer, box: ReductionBox): GPUBuffer {
  if (data instanceof Float32Array) return run.upload(data.subarray(box.start, box.start + box.count) as Float32Array<ArrayBuffer>, GPUBufferUsage.STORAGE, 'input');
  if (box.start === 0) return data;
  const input = run.buffer(box.count * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, 'input');
  run.encoder.copyBufferToBuffer(data, box.start * 4, input, 0, box.count * 4);
  return input;
}

/**
 * Merges the records one box's passes left (`box.wCount` of them, read back as `bytes`) into `mins` and
 * `maxs` (filled with Infinity and -Infinity before the first box); returns the box's first NaN (-1 when none).
 * The order keys of minmax_reduce.wgsl are decoded in place: `bytes` then holds the float32 values.
 *
 * @example
 * ```ts
 * run.read(records, box.wCount * 16, (bytes) => { firstNaN = mergeRecords(bytes, box, mins, maxs); });
 * ```
 */
export function mergeRecords(bytes: ArrayBuffer, box: ReductionBox, mins: Float32Array, maxs: Float32Array): number {
  const words = new Int32Array(bytes, 0, box.wCount * 4);
  const floats = new Float32Array(bytes, 0, box.wCount * 4);
  let firstNaN = -1;
  // Each key turned back into its float's bits where it lies, and read as a float: a weight in groups of 32 has
  // 524,288 records (through a one-element scratch array, twice the time).
  for (let r = 0, w = box.wStart; r < box.wCount; r++, w++) {
    const lo = words[4 * r]!;
    const hi = words[4 * r + 1]!;
    const nan = words[4 * r + 2]! >>> 0;
    if (lo !== kEmptyMin) {
      words[4 * r] = lo < 0 ? lo ^ 0x7fffffff : lo;
      const value = floats[4 * r]!;
      if (lessThan(value, mins[w]!)) mins[w] = value;
    }
    if (hi !== kEmptyMax) {
      words[4 * r + 1] = hi < 0 ? hi ^ 0x7fffffff : hi;
      const value = floats[4 * r + 1]!;
      if (lessThan(maxs[w]!, value)) maxs[w] = value;
    }
    if (nan !== kNoNaN && (firstNaN < 0 || nan < firstNaN)) firstNaN = nan;
  }
  return firstNaN;
}

/**
 * Min and max of every output of `layout` over `data` on the GPU, with the flat index of the first NaN
 * (-1 when none). Same contract as the CPU reference's `minMaxOfLayout`. `data` may already be on the device
 * (a GPU buffer holding the float32 tensor from offset 0): then nothing is uploaded; a box that does not start
 * at 0 is copied out of it on the GPU.
 *
 * @example
 * ```ts
 * await minMaxKernel(manager, Float32Array.of(3, NaN, -1), reductionLayout([3], 'per_tensor'), {});
 * // { mins: Float32Array [-1], maxs: Float32Array [3], firstNaN: 1 }
 * ```
 */
export async function minMaxKernel(
  manager: GpuManager, data: Float32Array | GPUBuffer, layout: ReductionLayout, options: KernelOptions,
): Promise<MinMaxResult> {
  const mins = new Float32Array(layout.outputs).fill(Infinity);
  const maxs = new Float32Array(layout.outputs).fill(-Infinity);
  let firstNaN = -1;
  const maxElements = minMaxBoxElements(manager.device, options);
  const label = `minmax|${layout.family}`;
  for (const box of planBoxes(layout, maxElements)) {
    await runOnGpu(manager, label, (run) => {
      const input = boxInput(run, data, box);
      const { records } = encodeMinMaxBox(run, manager, layout, box, input, options);
      run.read(records, box.wCount * kRecordBytes, (bytes) => {
        const nan = mergeRecords(bytes, box, mins, maxs);
        if (nan >= 0 && (firstNaN < 0 || nan < firstNaN)) firstNaN = nan;
      });
    });
  }
  return { mins, maxs, firstNaN };
}
