// The reductions of the benchmark page: the observers' min/max reductions (per tensor, per channel, per
// group), errorStats with a QTensor, and chooseQParams 'mse'. Each reduction is timed end to end through
// the public API (upload + passes + readback), then device-only: its passes are built by the library's own
// host code (encodePass, planBoxes, planTiles, packUniform, the pipeline cache) through a GpuRun that
// records the dispatches instead of submitting them, and the recorded passes are encoded once per
// repetition. The device-only output is decoded as the library decodes it and must equal the public API's
// result bit for bit, so the timed passes are the library's. chooseQParams 'mse' is timed end to end only.
// The read reference (runRead) is in bench/page.ts beside the copies.
import {
  type ErrorStats, type ErrorStatsPerIndex, type GpuManager, MinMaxObserver, PerChannelMinMaxObserver,
  PerGroupMinMaxObserver, type QTensor, chooseQParams, errorStats, getDefaultManager, quantizePerChannel, quantizePerTensor, tensor,
} from 'webgpu-quant';
import { type ReductionLayout, reductionLayout } from '../src/calibration/granularity.js';
import { dispatchSize } from '../src/gpu/dispatch.js';
import type { GpuRun } from '../src/gpu/gpu-run.js';
import { addChunkPartials, prescaleFor } from '../src/kernels/error-stats-kernel.js';
import { type ChunkLimits, type StatsPartition, planChunks, planTiles } from '../src/kernels/error-stats-plan.js';
import {
  ERROR_STATS_PARAMS, ERROR_STATS_WORKGROUP_SIZE, PARAM_WORDS, PARTIAL_WORDS, clipBounds, errorStatsVariant, paramTableWords,
} from '../src/kernels/error-stats-shader.js';
import { bindingLimit, encodePass } from '../src/kernels/minmax-kernel.js';
import { laneFastest, lanesFor, planBoxes } from '../src/kernels/minmax-plan.js';
import { calibrationPipeline } from '../src/kernels/minmax-shaders.js';
import { packUniform } from '../src/kernels/uniforms.js';
import { channelLayout } from '../src/layout.js';
import { type ErrorStatsRequest, checkErrorStatsArguments } from '../src/stats/arguments.js';
import { assembleErrorStats } from '../src/stats/assemble.js';
import { BucketSums } from '../src/stats/bucket-sums.js';
import { channelIndexMap, indexWindow, tensorIndexMap } from '../src/stats/index-map.js';
import {
  type BenchLayout, type Encode, type RepeatOptions, type Timings, caseParams, expectSameBytes, inputData, passTimestampWrites, readBack,
  timeRepetitions, withErrorScopes,
} from './harness.js';

/** Per tensor, per channel along the first or last axis, or per group of `groupSize` along the last axis. */
export type ReductionLayoutName = BenchLayout | 'group';

export interface ReductionCase extends RepeatOptions {
  op: 'minmax' | 'errorStats';
  layout: ReductionLayoutName;
  /** 'group' only. */
  groupSize?: number;
  shape: number[];
  /** Timed calls of the public API (after one warm-up call). */
  e2eReps: number;
}

export interface ReductionResult extends Timings {
  /** The public call timed end to end. */
  api: string;
  /** Bytes of the tensor(s) the first pass reads: what the read reference reads. */
  bytesRead: number;
  /** Other device traffic per repetition: records / partials written and re-read, tables, tile lists. */
  extraBytes: number;
  /** Compute passes per repetition. */
  passes: number;
  pipelineKeys: string[];
  /** Per call of the public API, ms. */
  e2eMs: number[];
}

export interface ChooseQParamsCase {
  shape: number[];
  axis: number;
  e2eReps: number;
}

export interface ChooseQParamsResult {
  api: string;
  bytesRead: number;
  outputs: number;
  candidates: number;
  e2eMs: number[];
}

const elementCount = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Calls `call` once to warm up (pipelines, pooled buffers), then `reps` timed times. */
async function timeApi<T>(reps: number, call: () => Promise<T>): Promise<{ result: T; e2eMs: number[] }> {
  let result = await call();
  const e2eMs: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    result = await call();
    e2eMs.push(performance.now() - t0);
  }
  return { result, e2eMs };
}

// ---- recording the library's passes ------------------------------------------------------------

interface RecordedPass { pipeline: GPUComputePipeline; bindGroup: GPUBindGroup; grid: { x: number; y: number }; role: string }

/**
 * A GpuRun whose buffers are the bench's own (pushed on `owned`, destroyed by the caller) and whose
 * dispatches are recorded, not submitted: the library's host code builds the passes, the bench times them.
 */
function recordingRun(device: GPUDevice, label: string, owned: GPUBuffer[]): { run: GpuRun; passes: RecordedPass[] } {
  const passes: RecordedPass[] = [];
  const run: GpuRun = {
    device,
    get encoder(): GPUCommandEncoder {
      throw new Error(`${label}: the library's host code used run.encoder, which the bench's recording run does not provide`);
    },
    buffer(size, usage, role) {
      const buffer = device.createBuffer({ label: `${label}.${role}`, size: Math.max(4, Math.ceil(size / 4) * 4), usage });
      owned.push(buffer);
      return buffer;
    },
    upload(data, usage, role) {
      const buffer = run.buffer(data.byteLength, usage | GPUBufferUsage.COPY_DST, role);
      device.queue.writeBuffer(buffer, 0, data as GPUAllowSharedBufferSource);
      return buffer;
    },
    dispatch(pipeline, entries, grid, role = 'pass') {
      const bindGroup = device.createBindGroup({ label: `${label}.${role}.bindGroup`, layout: pipeline.getBindGroupLayout(0), entries });
      passes.push({ pipeline, bindGroup, grid: { x: grid.x, y: grid.y }, role });
    },
    read() {
      throw new Error(`${label}: the bench reads results back itself; the recording run does not read`);
    },
  };
  return { run, passes };
}

/** Encodes the recorded passes in order, timed from the first's beginning to the last's end. */
function encodeRecorded(passes: RecordedPass[], label: string): Encode {
  return (encoder, slots) => {
    passes.forEach((recorded, index) => {
      const pass = encoder.beginComputePass({ label: `${label}.${recorded.role}`, timestampWrites: passTimestampWrites(slots, index, passes.length) });
      pass.setPipeline(recorded.pipeline);
      pass.setBindGroup(0, recorded.bindGroup);
      pass.dispatchWorkgroups(recorded.grid.x, recorded.grid.y);
      pass.end();
    });
  };
}

// ---- min/max ------------------------------------------------------------------------------------

const kRecordBytes = 16;
const kNoNaN = 0xffffffff;

/** minMaxKernel's passes over `data` (one box), timed device-only; the result must equal `expected`. */
async function timeMinMax(
  manager: GpuManager, layout: ReductionLayout, data: Float32Array, options: RepeatOptions,
  expected: { mins: Float32Array; maxs: Float32Array },
): Promise<Omit<ReductionResult, 'api' | 'e2eMs'>> {
  const device = manager.device;
  const label = `bench.minmax|${layout.family}`;
  const boxes = [...planBoxes(layout, Math.max(1, Math.floor(bindingLimit(device) / kRecordBytes)))];
  if (boxes.length !== 1) {
    throw new Error(`${label}: ${data.length} elements need ${boxes.length} boxes on this device; the device-only timing covers one: `
      + 'pass a smaller --elements');
  }
  const box = boxes[0]!;
  const owned: GPUBuffer[] = [];
  try {
    return await withErrorScopes(device, label, async () => {
      // The body of minMaxKernel's runOnGpu, with the same calls in the same order.
      const { run, passes } = recordingRun(device, label, owned);
      const input = run.upload(data.subarray(box.start, box.start + box.count) as Float32Array<ArrayBuffer>, GPUBufferUsage.STORAGE, 'input');
      let lanes = lanesFor(box.jEnd - box.jStart);
      let records = run.buffer(box.wCount * lanes * kRecordBytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, 'records');
      let extraBytes = box.wCount * lanes * kRecordBytes;
      encodePass(run, manager, layout, box, 'minmax_input', { lanes, laneFastest: laneFastest(layout), invocations: box.wCount * lanes },
        { 1: { buffer: input, size: box.count * 4 }, 2: { buffer: records, size: box.wCount * lanes * kRecordBytes } }, {});
      while (lanes > 1) {
        const next = lanesFor(lanes);
        const combined = run.buffer(box.wCount * next * kRecordBytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, 'records');
        encodePass(run, manager, layout, box, 'minmax_combine', { lanes: next, inLanes: lanes, invocations: box.wCount * next },
          { 2: { buffer: combined, size: box.wCount * next * kRecordBytes }, 3: { buffer: records, size: box.wCount * lanes * kRecordBytes } }, {});
        extraBytes += box.wCount * (lanes + next) * kRecordBytes;
        records = combined;
        lanes = next;
      }
      const timings = await timeRepetitions(device, label, options, encodeRecorded(passes, label));
      // Decoded as minMaxKernel decodes a record (one box: no merging).
      const words = new Int32Array(await readBack(device, label, records, box.wCount * kRecordBytes));
      const mins = new Int32Array(box.wCount);
      const maxs = new Int32Array(box.wCount);
      for (let w = 0; w < box.wCount; w++) {
        const [lo, hi, nan] = [words[4 * w]!, words[4 * w + 1]!, words[4 * w + 2]! >>> 0];
        if (nan !== kNoNaN) throw new Error(`${label}: record ${w} reports a NaN at ${nan}; the bench input has none`);
        mins[w] = lo < 0 ? lo ^ 0x7fffffff : lo;
        maxs[w] = hi < 0 ? hi ^ 0x7fffffff : hi;
      }
      expectSameBytes(mins.buffer, expected.mins, `${label}: device-only minima vs the observer's`);
      expectSameBytes(maxs.buffer, expected.maxs, `${label}: device-only maxima vs the observer's`);
      const { pipelineKey: inputKey } = calibrationPipeline('minmax_input');
      const pipelineKeys = passes.length > 1 ? [inputKey, calibrationPipeline('minmax_combine').pipelineKey] : [inputKey];
      return { ...timings, bytesRead: data.length * 4, extraBytes, passes: passes.length, pipelineKeys };
    });
  } finally {
    for (const buffer of owned) buffer.destroy();
  }
}

/** One min/max case: the observer's observe() end to end, then its passes device-only. */
async function runMinMaxCase(c: ReductionCase): Promise<ReductionResult> {
  const manager = await getDefaultManager();
  const last = c.shape.length - 1;
  const x = tensor(inputData(elementCount(c.shape)), c.shape);
  const observe = { backend: 'webgpu' } as const;
  let observer: MinMaxObserver | PerChannelMinMaxObserver | PerGroupMinMaxObserver;
  let api: string;
  if (c.layout === 'perTensor') {
    observer = new MinMaxObserver({ dtype: 'qint8' });
    api = 'MinMaxObserver.observe';
  } else if (c.layout === 'group') {
    observer = new PerGroupMinMaxObserver({ axis: last, groupSize: c.groupSize!, dtype: 'qint8' });
    api = 'PerGroupMinMaxObserver.observe';
  } else {
    observer = new PerChannelMinMaxObserver({ chAxis: c.layout === 'axis0' ? 0 : last, dtype: 'qint8' });
    api = 'PerChannelMinMaxObserver.observe';
  }
  return withErrorScopes(manager.device, `bench.minmax.${c.layout}`, async () => {
    // Observing the same batch again leaves the running range at this batch's range.
    const { e2eMs } = await timeApi(c.e2eReps, () => observer.observe(x, observe));
    const expected = observer instanceof MinMaxObserver
      ? { mins: Float32Array.of(observer.minVal), maxs: Float32Array.of(observer.maxVal) }
      : { mins: observer.minVals, maxs: observer.maxVals };
    const granularity = c.layout === 'perTensor' ? 'per_tensor' as const
      : c.layout === 'group' ? { axis: last, groupSize: c.groupSize! } : { axis: c.layout === 'axis0' ? 0 : last };
    const timed = await timeMinMax(manager, reductionLayout(c.shape, granularity), x.data, c, expected);
    return { ...timed, api, e2eMs };
  });
}

// ---- error statistics ---------------------------------------------------------------------------

/** errorStatsKernel's chunk caps (its chunkLimits, with no test options). */
function errorStatsLimits(device: GPUDevice, request: ErrorStatsRequest): ChunkLimits & { maxPerDimension: number } {
  const bindLimit = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  const maxPerDimension = device.limits.maxComputeWorkgroupsPerDimension;
  const q = request.quantized;
  return {
    maxPerDimension,
    maxElements: Math.floor(bindLimit / 4),
    maxLanes: Math.min(Math.floor(bindLimit / (PARTIAL_WORDS * 4)), maxPerDimension * maxPerDimension * ERROR_STATS_WORKGROUP_SIZE),
    maxTiles: Math.floor(bindLimit / 8),
    ...(q.kind === 'grid' ? {
      fits: (start: number, end: number) => {
        const [lo, hi] = indexWindow(q.grid.map, start, end);
        return (hi - lo) * PARAM_WORDS * 4 <= bindLimit;
      },
    } : {}),
  };
}

/** Throws listing up to 10 fields of `actual` whose bits differ from `expected`'s. */
function expectSameStats(actual: ErrorStats, expected: ErrorStats, what: string): void {
  const rows: string[] = [];
  let total = 0;
  const check = (name: string, a: number, e: number) => {
    if (Object.is(a, e)) return;
    total++;
    if (rows.length < 10) rows.push(`  ${name}: expected ${e}, got ${a}`);
  };
  const fields = ['mse', 'maxAbsError', 'sqnrDb', 'cosine', 'clipFraction', 'count'] as const;
  for (const f of fields) check(`overall.${f}`, actual.overall[f], expected.overall[f]);
  const a: ErrorStatsPerIndex | undefined = actual.perChannel;
  const e: ErrorStatsPerIndex | undefined = expected.perChannel;
  if (!a !== !e) throw new Error(`${what}: perChannel is ${a ? 'present' : 'missing'}, expected ${e ? 'present' : 'missing'}`);
  if (a && e) {
    for (const f of fields) {
      if (a[f].length !== e[f].length) throw new Error(`${what}: perChannel.${f} has ${a[f].length} entries, expected ${e[f].length}`);
      for (let i = 0; i < e[f].length; i++) check(`perChannel.${f}[${i}]`, a[f][i]!, e[f][i]!);
    }
  }
  if (total > 0) throw new Error(`${what}: ${total} statistics differ\n${rows.join('\n')}`);
}

/** errorStatsKernel's pass over the tensor (one chunk), timed device-only; the statistics must equal `expected`. */
async function timeErrorStats(
  manager: GpuManager, request: ErrorStatsRequest, options: RepeatOptions, expected: ErrorStats,
): Promise<Omit<ReductionResult, 'api' | 'e2eMs'>> {
  const device = manager.device;
  const q = request.quantized;
  if (q.kind !== 'grid') throw new Error('bench.errorStats: the bench times QTensor inputs only');
  const { grid } = q;
  const variant = errorStatsVariant(grid.integerSubtract ? 1 : 2);
  const label = `bench.${variant.label}`;
  const { shape, axis, size } = request;
  let partition: StatsPartition = { kind: 'tensor', outer: 1, axisLen: 1, inner: size };
  if (axis !== undefined) {
    const { outer, channels, inner } = channelLayout(shape, axis);
    partition = { kind: 'channel', outer, axisLen: channels, inner };
  }
  const bucketMap = axis === undefined ? tensorIndexMap() : channelIndexMap(shape, axis);
  const limits = errorStatsLimits(device, request);
  const plan = planTiles(partition, Math.min(limits.maxElements, limits.maxLanes));
  const chunks = [...planChunks(plan, limits)];
  if (chunks.length !== 1) {
    throw new Error(`${label}: ${size} elements need ${chunks.length} chunks on this device; the device-only timing covers one: `
      + 'pass a smaller --elements');
  }
  const chunk = chunks[0]!;
  const prescale = prescaleFor(request);
  const owned: GPUBuffer[] = [];
  try {
    return await withErrorScopes(device, label, async () => {
      // The body of errorStatsKernel's runChunk, with the same calls in the same order.
      const { run, passes } = recordingRun(device, label, owned);
      const [paramBase, paramEnd] = indexWindow(grid.map, chunk.start, chunk.end);
      const bounds = clipBounds(grid.qmin, grid.qmax);
      const lanes = chunk.tileCount * plan.width;
      const partialBytes = lanes * PARTIAL_WORDS * 4;
      const storage = GPUBufferUsage.STORAGE;
      const original = request.original.subarray(chunk.start, chunk.end) as Float32Array<ArrayBuffer>;
      // The integers widened to int32, as the library uploads them (untimed here, as the upload is).
      const quantized = q.ints instanceof Int32Array ? q.ints.subarray(chunk.start, chunk.end) as Int32Array<ArrayBuffer>
        : Int32Array.from(q.ints.subarray(chunk.start, chunk.end));
      const table = paramTableWords(grid).subarray(paramBase * PARAM_WORDS, paramEnd * PARAM_WORDS);
      const uniform = packUniform(ERROR_STATS_PARAMS, {
        lane_count: lanes, width: plan.width, rows: plan.rows, chunk_start: chunk.start, prescale,
        clip_low: bounds.low, clip_high: bounds.high, clamp_low: bounds.clampLow, clamp_high: bounds.clampHigh, param_base: paramBase,
        q_inner: Math.max(1, grid.map.inner), q_axis_len: Math.max(1, grid.map.axisLen), q_group_size: grid.map.groupSize,
        q_stride_outer: grid.map.strideOuter, q_stride_group: grid.map.strideGroup, q_stride_inner: grid.map.strideInner,
      });
      const partials = run.buffer(partialBytes, storage | GPUBufferUsage.COPY_SRC, 'partials');
      run.dispatch(manager.pipelines.get(variant.pipelineKey, variant.pipeline), [
        { binding: 0, resource: { buffer: run.upload(uniform, GPUBufferUsage.UNIFORM, 'uniform'), size: uniform.byteLength } },
        { binding: 1, resource: { buffer: run.upload(original, storage, 'original'), size: original.byteLength } },
        { binding: 2, resource: { buffer: run.upload(quantized, storage, 'quantized'), size: quantized.byteLength } },
        { binding: 3, resource: { buffer: run.upload(table, storage, 'paramTable'), size: table.byteLength } },
        { binding: 4, resource: { buffer: run.upload(chunk.tiles, storage, 'tiles'), size: chunk.tiles.byteLength } },
        { binding: 5, resource: { buffer: partials, size: partialBytes } },
      ], dispatchSize(lanes, ERROR_STATS_WORKGROUP_SIZE, limits.maxPerDimension));
      const timings = await timeRepetitions(device, label, options, encodeRecorded(passes, label));
      // Summed and assembled as errorStatsKernel does.
      const overall = new BucketSums(1);
      const sums = axis === undefined ? overall : new BucketSums(bucketMap.count);
      addChunkPartials(await readBack(device, label, partials, partialBytes), plan, chunk, bucketMap, sums, axis === undefined ? undefined : overall);
      for (const s of new Set([overall, sums])) s.rescale(1 / prescale);
      const stats = assembleErrorStats(request, overall, axis === undefined ? undefined : sums, undefined, 'webgpu');
      expectSameStats(stats, expected, `${label}: device-only statistics vs errorStats()'s`);
      return {
        ...timings, bytesRead: original.byteLength + quantized.byteLength,
        extraBytes: partialBytes + table.byteLength + chunk.tiles.byteLength, passes: passes.length, pipelineKeys: [variant.pipelineKey],
      };
    });
  } finally {
    for (const buffer of owned) buffer.destroy();
  }
}

/** One errorStats case on a qint8 QTensor quantized with the same granularity: end to end, then device-only. */
async function runErrorStatsCase(c: ReductionCase): Promise<ReductionResult> {
  if (c.layout === 'group') throw new Error('bench.errorStats: per-group statistics are not benchmarked');
  const manager = await getDefaultManager();
  const x = tensor(inputData(elementCount(c.shape)), c.shape);
  const p = caseParams({ dtype: 'qint8', layout: c.layout, shape: c.shape });
  const gpu = { backend: 'webgpu' } as const;
  return withErrorScopes(manager.device, `bench.errorStats.${c.layout}`, async () => {
    const q: QTensor = c.layout === 'perTensor'
      ? await quantizePerTensor(x, p.scale, p.zeroPoint, 'qint8', gpu)
      : await quantizePerChannel(x, p.scales, p.zeroPoints, p.axis, 'qint8', gpu);
    const opts = c.layout === 'perTensor' ? undefined : { axis: p.axis };
    const { result, e2eMs } = await timeApi(c.e2eReps, () => errorStats(x, q, opts, gpu));
    const timed = await timeErrorStats(manager, checkErrorStatsArguments(x, q, opts), c, result);
    return { ...timed, api: 'errorStats', e2eMs };
  });
}

// ---- chooseQParams ------------------------------------------------------------------------------

/** chooseQParams 'mse' per channel (qint8, symmetric, 100 candidates), end to end only. */
async function runChooseQParamsCase(c: ChooseQParamsCase): Promise<ChooseQParamsResult> {
  const manager = await getDefaultManager();
  const x = tensor(inputData(elementCount(c.shape)), c.shape);
  const spec = { dtype: 'qint8', granularity: { axis: c.axis }, symmetric: true, method: 'mse', mseSteps: 100 } as const;
  return withErrorScopes(manager.device, 'bench.chooseQParams.mse', async () => {
    const { result, e2eMs } = await timeApi(c.e2eReps, () => chooseQParams(x, spec, { backend: 'webgpu' }));
    if (result.backend !== 'webgpu' || !result.search) throw new Error(`bench.chooseQParams.mse: ran on ${result.backend} without a search report`);
    return { api: "chooseQParams(method 'mse')", bytesRead: x.data.byteLength, outputs: result.scales.length, candidates: spec.mseSteps, e2eMs };
  });
}

export { runChooseQParamsCase, runErrorStatsCase, runMinMaxCase };
