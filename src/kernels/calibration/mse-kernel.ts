/**
 * Host side of the MSE clipping search (shaders/calibration/mse_search.wgsl). The tensor goes up box by box
 * (src/kernels/calibration/minmax-plan.ts); per box, one submit: `mse_blocks` sums the squared errors of every
 * (output, block, candidate), `mse_accumulate` adds finished blocks to the running totals of the window,
 * and, when the box ends its window, `mse_pick` chooses each output's candidate and reads back three words
 * per output. The running totals live in a GPU buffer for the whole window; a block cut by a box boundary
 * continues from its stored partial sum, so the sums follow the reference's order exactly whatever the
 * boxes, and GPU and CPU choose the same candidates.
 *
 * @example
 * ```ts
 * const search = await mseSearchKernel(manager, x.data, layout, mins, maxs, resolved, {});
 * search.picks; // Uint32Array: index into resolved.clipRatios, per output
 * ```
 * @module
 */
import type { KernelOptions } from '../common/kernel-options.js';
import type { ReductionLayout } from '../../calibration/granularity.js';
import { LimitExceededError } from '../../errors.js';
import type { GpuManager } from '../../gpu/device.js';
import { runOnGpu } from '../../gpu/gpu-run.js';
import { MSE_BLOCK, type MseSearchResult } from '../../reference/calibration.js';
import { FLOAT32_EPS, type QuantRange } from '../../calibration/qparams.js';
import { bindingLimit, encodePass } from './minmax-kernel.js';
import { type ReductionBox, planBoxes } from './minmax-plan.js';
import type { PassFields } from './minmax-uniforms.js';

/** What the search needs besides the data: the integer range, the scheme and the candidate clip ratios. */
export interface MseSearchSpec {
  range: QuantRange;
  symmetric: boolean;
  clipRatios: Float32Array;
}

/** The running sums of one window, held across the boxes that share it. */
interface Window {
  start: number;
  count: number;
  state: GPUBuffer;
  ranges: GPUBuffer;
}

const kPickBytes = 16;

/**
 * For every output of `layout`, the candidate (index into `spec.clipRatios`) whose range
 * [alpha * mins[w], alpha * maxs[w]] gives the smallest float32 error sum, with that sum and the sum of
 * candidate 0. Same contract as the CPU reference's `mseSearchOfLayout`; `mins` / `maxs` must be finite.
 *
 * @example
 * ```ts
 * const { picks, best, first } = await mseSearchKernel(manager, x.data, layout, mins, maxs,
 *   { range: { qmin: -8, qmax: 7, symmetricZeroPoint: 0 }, symmetric: true, clipRatios: mseClipRatios(100, 0.2) }, {});
 * ```
 */
export async function mseSearchKernel(
  manager: GpuManager, data: Float32Array, layout: ReductionLayout, mins: Float32Array, maxs: Float32Array,
  spec: MseSearchSpec, options: KernelOptions,
): Promise<MseSearchResult> {
  const candidates = spec.clipRatios.length;
  const result: MseSearchResult = {
    picks: new Uint32Array(layout.outputs), best: new Float32Array(layout.outputs), first: new Float32Array(layout.outputs),
  };
  const { device, pool } = manager;
  const limit = bindingLimit(device);
  // Running sums take 8 bytes and block sums at most ~12 bytes per (element, candidate) of a box.
  const maxElements = Math.max(1, Math.min(Math.floor(limit / (16 * candidates)), options.maxChunkElements ?? Infinity));
  const fields: PassFields = {
    invocations: 0, candidates, block: MSE_BLOCK, symmetric: spec.symmetric, qmin: spec.range.qmin, qmax: spec.range.qmax,
    symmetricZeroPoint: spec.range.symmetricZeroPoint, eps: FLOAT32_EPS,
  };
  const clipRatios = pool.acquire(candidates * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, 'mse.clipRatios');
  let window: Window | undefined;
  const releaseWindow = (): void => {
    if (window) { pool.release(window.state); pool.release(window.ranges); }
    window = undefined;
  };
  try {
    device.queue.writeBuffer(clipRatios, 0, spec.clipRatios as Float32Array<ArrayBuffer>);
    const job: BoxJob = { manager, data, layout, clipRatios, fields, result, limit, options };
    const boxes = planBoxes(layout, maxElements);
    let current = boxes.next();
    while (!current.done) {
      const box = current.value;
      const next = boxes.next();
      const opens = window?.start !== box.windowStart;
      if (opens) {
        releaseWindow();
        window = openWindow(manager, box, mins, maxs, candidates, limit);
      }
      const closes = next.done === true || next.value.windowStart !== box.windowStart;
      await runBox(job, box, window!, opens, closes);
      current = next;
    }
  } finally {
    releaseWindow();
    pool.release(clipRatios);
  }
  return result;
}

function openWindow(manager: GpuManager, box: ReductionBox, mins: Float32Array, maxs: Float32Array, candidates: number, limit: number): Window {
  const stateBytes = box.windowCount * candidates * 8;
  if (stateBytes > limit) {
    throw new LimitExceededError(`the MSE search keeps running sums for ${box.windowCount} outputs x ${candidates} candidates `
      + `(${stateBytes} bytes), more than this device binds (${limit}); use fewer spec.mseSteps or a finer granularity`);
  }
  const ranges = new Float32Array(box.windowCount * 2);
  for (let i = 0; i < box.windowCount; i++) {
    ranges[2 * i] = mins[box.windowStart + i]!;
    ranges[2 * i + 1] = maxs[box.windowStart + i]!;
  }
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
  const window = {
    start: box.windowStart,
    count: box.windowCount,
    state: manager.pool.acquire(stateBytes, usage, 'mse.state'),
    ranges: manager.pool.acquire(ranges.byteLength, usage, 'mse.ranges'),
  };
  manager.device.queue.writeBuffer(window.ranges, 0, ranges);
  return window;
}

/** What one box's submit needs besides the box. */
interface BoxJob {
  manager: GpuManager;
  data: Float32Array;
  layout: ReductionLayout;
  clipRatios: GPUBuffer;
  fields: PassFields;
  result: MseSearchResult;
  limit: number;
  options: KernelOptions;
}

function runBox(job: BoxJob, box: ReductionBox, window: Window, opens: boolean, closes: boolean): Promise<void> {
  const { manager, layout, fields, options } = job;
  const candidates = fields.candidates!;
  const firstBlock = Math.floor(box.jStart / MSE_BLOCK);
  const boxBlocks = Math.floor((box.jEnd - 1) / MSE_BLOCK) - firstBlock + 1;
  const blockBytes = box.wCount * boxBlocks * candidates * 4;
  if (blockBytes > job.limit) {
    throw new LimitExceededError(`an MSE search box needs ${blockBytes} bytes of block sums, more than this device binds `
      + `(${job.limit}); use fewer spec.mseSteps or a smaller options.maxChunkElements`);
  }
  const stateBytes = window.count * candidates * 8;
  const state = { buffer: window.state, size: stateBytes };
  return runOnGpu(manager, `mse|${layout.family}`, (run) => {
    if (opens) run.encoder.clearBuffer(window.state, 0, stateBytes);
    const input = run.upload(job.data.subarray(box.start, box.start + box.count) as Float32Array<ArrayBuffer>, GPUBufferUsage.STORAGE, 'input');
    const blocks = { buffer: run.buffer(blockBytes, GPUBufferUsage.STORAGE, 'blockSums'), size: blockBytes };
    const perBox = { ...fields, firstBlock, boxBlocks };
    encodePass(run, manager, layout, box, 'mse_blocks', { ...perBox, invocations: box.wCount * boxBlocks * candidates }, {
      1: { buffer: input, size: box.count * 4 },
      2: { buffer: window.ranges, size: window.count * 8 },
      3: { buffer: job.clipRatios, size: candidates * 4 },
      4: blocks,
      5: state,
    }, options);
    encodePass(run, manager, layout, box, 'mse_accumulate', { ...perBox, invocations: box.wCount * candidates }, { 4: blocks, 5: state }, options);
    if (!closes) return;
    const pickBytes = window.count * kPickBytes;
    const picks = run.buffer(pickBytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, 'picks');
    encodePass(run, manager, layout, box, 'mse_pick', { ...perBox, invocations: window.count }, { 5: state, 6: { buffer: picks, size: pickBytes } }, options);
    run.read(picks, pickBytes, (bytes) => {
      const words = new Uint32Array(bytes, 0, window.count * 4);
      const floats = new Float32Array(bytes, 0, window.count * 4);
      for (let i = 0; i < window.count; i++) {
        const w = window.start + i;
        job.result.picks[w] = words[4 * i]!;
        job.result.best[w] = floats[4 * i + 1]!;
        job.result.first[w] = floats[4 * i + 2]!;
      }
    });
  });
}
