/**
 * Host side of the 'lsq' calibration search (shaders/calibration/lsq_search.wgsl). The tensor goes up in
 * boxes of whole outputs: the whole tensor for per tensor and per channel (every channel spans it, so
 * `maxChunkElements` does not apply), runs of rows (the dimensions before the axis) within
 * `maxChunkElements` for per group, whose outputs own disjoint contiguous runs of the tensor. Per box, one
 * submit: `lsq_candidates` scores every (output, candidate: the clip ratios, then for an affine search the
 * signed extreme, then with `signedExtreme` the ratios on Q4_0's grid), `lsq_pick` chooses per output (per
 * family, then the margin between them), and eight words
 * per output come back. Each (output, candidate) is summed by one invocation in j order, so the sums are the
 * CPU reference's (src/reference/lsq-search.ts) whatever the boxes.
 *
 * @example
 * ```ts
 * const search = await lsqSearchKernel(manager, x.data, layout, mins, maxs,
 *   { range: { qmin: -8, qmax: 7, symmetricZeroPoint: 0 }, symmetric: true, clipRatios: lsqClipRatios() }, {});
 * search.scales; search.zeroPoints;
 * ```
 * @module
 */
import type { KernelOptions } from '../common/kernel-options.js';
import type { ReductionLayout } from '../../calibration/granularity.js';
import { LimitExceededError } from '../../errors.js';
import type { GpuManager } from '../../gpu/device.js';
import { runOnGpu } from '../../gpu/gpu-run.js';
import type { LsqSearchResult } from '../../reference/lsq-search.js';
import { FLOAT32_EPS } from '../../calibration/qparams.js';
import { lsqCandidateCount } from '../../calibration/spec.js';
import type { MseSearchSpec } from './mse-kernel.js';
import { bindingLimit, encodePass } from './minmax-kernel.js';
import type { ReductionBox } from './minmax-plan.js';
import type { PassFields } from './minmax-uniforms.js';

const kRecordBytes = 16;
const kPickBytes = 32;

/**
 * The boxes of whole outputs: one for the channel family, runs of rows for the group family, each within
 * `maxElements` elements and `maxOutputs` outputs (a single row may exceed neither).
 */
function planOutputBoxes(layout: ReductionLayout, maxElements: number, maxOutputs: number): ReductionBox[] {
  const whole = (start: number, count: number, wStart: number, wCount: number): ReductionBox => ({
    start, count, wStart, wCount, jStart: 0, jEnd: 0xffffffff, windowStart: wStart, windowCount: wCount,
  });
  const size = layout.outer * layout.n * layout.inner;
  if (layout.family === 'channel') {
    if (size > maxElements || layout.outputs > maxOutputs) {
      throw new LimitExceededError(`the 'lsq' search binds the whole tensor per channel (${size} elements, ${layout.outputs} outputs), `
        + 'more than this device binds; use per group, or backend \'cpu\'');
    }
    return [whole(0, size, 0, layout.outputs)];
  }
  const rowElements = layout.n * layout.inner;
  const rowOutputs = layout.groups * layout.inner;
  const rowsPerBox = Math.min(Math.floor(maxElements / rowElements), Math.floor(maxOutputs / rowOutputs));
  if (rowsPerBox < 1) {
    throw new LimitExceededError(`an 'lsq' search row needs ${rowElements} elements and ${rowOutputs} outputs, more than this device `
      + 'binds (or options.maxChunkElements allows); use backend \'cpu\'');
  }
  const boxes: ReductionBox[] = [];
  for (let row = 0; row < layout.outer; row += rowsPerBox) {
    const rows = Math.min(rowsPerBox, layout.outer - row);
    boxes.push(whole(row * rowElements, rows * rowElements, row * rowOutputs, rows * rowOutputs));
  }
  return boxes;
}

/**
 * For every output of `layout`, the 'lsq' scale and zero point (see src/reference/lsq-search.ts), with the
 * candidate it came from, its error sum and the min/max error sum. Same contract as the CPU reference's
 * `lsqSearchOfLayout`; `mins` / `maxs` must be finite.
 *
 * @example
 * ```ts
 * const { scales, zeroPoints, picks } = await lsqSearchKernel(manager, x.data, layout, mins, maxs,
 *   { range, symmetric: true, clipRatios: lsqClipRatios() }, {});
 * ```
 */
export async function lsqSearchKernel(
  manager: GpuManager, data: Float32Array, layout: ReductionLayout, mins: Float32Array, maxs: Float32Array,
  spec: MseSearchSpec & { signedExtreme?: boolean }, options: KernelOptions,
): Promise<LsqSearchResult> {
  const ratios = spec.clipRatios.length;
  // The shader tells the families apart by the count: more than ratios + 1 means Q4_0's grid follows.
  const candidates = lsqCandidateCount(spec.clipRatios, spec.symmetric, spec.signedExtreme ?? false);
  const outputs = layout.outputs;
  const result: LsqSearchResult = {
    scales: new Float32Array(outputs), zeroPoints: new Int32Array(outputs), picks: new Uint32Array(outputs),
    best: new Float32Array(outputs), first: new Float32Array(outputs),
  };
  const { device, pool } = manager;
  const limit = bindingLimit(device);
  // Every channel spans the whole tensor, so only the group family can honour a smaller chunk limit.
  const chunkLimit = layout.family === 'group' ? options.maxChunkElements ?? Infinity : Infinity;
  const maxElements = Math.max(1, Math.min(Math.floor(limit / 4), chunkLimit));
  const maxOutputs = Math.floor(limit / (kRecordBytes * candidates));
  const fields: PassFields = {
    invocations: 0, candidates, symmetric: spec.symmetric, qmin: spec.range.qmin, qmax: spec.range.qmax,
    symmetricZeroPoint: spec.range.symmetricZeroPoint, eps: FLOAT32_EPS,
  };
  const clipRatios = pool.acquire(ratios * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, 'lsq.clipRatios');
  try {
    device.queue.writeBuffer(clipRatios, 0, spec.clipRatios as Float32Array<ArrayBuffer>);
    for (const box of planOutputBoxes(layout, maxElements, maxOutputs)) {
      const ranges = new Float32Array(box.wCount * 2);
      for (let i = 0; i < box.wCount; i++) {
        ranges[2 * i] = mins[box.wStart + i]!;
        ranges[2 * i + 1] = maxs[box.wStart + i]!;
      }
      await runOnGpu(manager, `lsq|${layout.family}`, (run) => {
        const input = run.upload(data.subarray(box.start, box.start + box.count) as Float32Array<ArrayBuffer>, GPUBufferUsage.STORAGE, 'input');
        const rangeBuffer = run.upload(ranges, GPUBufferUsage.STORAGE, 'ranges');
        const recordBytes = box.wCount * candidates * kRecordBytes;
        const records = { buffer: run.buffer(recordBytes, GPUBufferUsage.STORAGE, 'records'), size: recordBytes };
        const pickBytes = box.wCount * kPickBytes;
        const picks = run.buffer(pickBytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, 'picks');
        encodePass(run, manager, layout, box, 'lsq_candidates', { ...fields, invocations: box.wCount * candidates }, {
          1: { buffer: input, size: box.count * 4 },
          2: { buffer: rangeBuffer, size: ranges.byteLength },
          3: { buffer: clipRatios, size: ratios * 4 }, // exactly: the shader counts the ratios with arrayLength
          4: records,
        }, options);
        encodePass(run, manager, layout, box, 'lsq_pick', { ...fields, invocations: box.wCount }, {
          3: { buffer: clipRatios, size: ratios * 4 }, 4: records, 5: { buffer: picks, size: pickBytes },
        }, options);
        run.read(picks, pickBytes, (bytes) => {
          const words = new Uint32Array(bytes, 0, box.wCount * 8);
          const floats = new Float32Array(bytes, 0, box.wCount * 8);
          const ints = new Int32Array(bytes, 0, box.wCount * 8);
          for (let i = 0; i < box.wCount; i++) {
            const w = box.wStart + i;
            result.scales[w] = floats[8 * i]!;
            result.zeroPoints[w] = ints[8 * i + 1]!;
            result.best[w] = floats[8 * i + 2]!;
            result.first[w] = floats[8 * i + 3]!;
            result.picks[w] = words[8 * i + 4]!;
          }
        });
      });
    }
  } finally {
    pool.release(clipRatios);
  }
  return result;
}
