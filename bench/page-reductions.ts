// The reductions of the benchmark page: the observers' min/max reductions (per tensor, per channel, per
// group), errorStats with a QTensor, and chooseQParams 'mse'. Each reduction is timed end to end through
// the public API (upload + passes + readback), then device-only: its passes are built by the library's own
// host code (planBoxes and encodeMinMaxBox; planStatsPass, planChunks and encodeStatsChunk; the pipeline
// cache) through a GpuRun that records the dispatches instead of submitting them, and the recorded passes
// are encoded once per repetition. The device-only output is decoded as the library decodes it and must
// equal the public API's result bit for bit, so the timed passes are the library's. chooseQParams 'mse' is
// timed end to end only. The read reference (runRead) is in bench/page.ts beside the copies.
import {
  type ErrorStats, type ErrorStatsPerIndex, type GpuManager, MinMaxObserver, PerChannelMinMaxObserver, PerGroupMinMaxObserver, type QTensor, chooseQParams, errorStats, getDefaultManager, quantizePerChannel, quantizePerTensor, tensor,
} from 'webgpu-quant';
import {
  addChunkPartials, assembleErrorStats, bindingLimit, BucketSums, calibrationPipeline, entryKey, channelIndexMap, channelLayout, checkErrorStatsArguments, encodeMinMaxBox, encodeStatsChunk, type ErrorStatsRequest, type GpuRun, paramTableWords, planBoxes, planChunks, planStatsPass, prescaleFor, reductionLayout, type ReductionLayout, type StatsPartition, tensorIndexMap,
} from 'webgpu-quant/internals';
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
      const { records, entries, recordBytes: extraBytes } = encodeMinMaxBox(run, manager, layout, box, input, {});
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
      const pipelineKeys = [...new Set(entries)].map((entry) => { const p = calibrationPipeline(entry); return `${p.label} ${entryKey(p.entryPoint, p.constants)}`; });
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
  const { shape, axis, size } = request;
  let partition: StatsPartition = { kind: 'tensor', outer: 1, axisLen: 1, inner: size };
  if (axis !== undefined) {
    const { outer, channels, inner } = channelLayout(shape, axis);
    partition = { kind: 'channel', outer, axisLen: channels, inner };
  }
  const bucketMap = axis === undefined ? tensorIndexMap() : channelIndexMap(shape, axis);
  const pass = planStatsPass(device, request, {}, grid.integerSubtract ? 'perTensorIntegers' : 'indexedIntegers', partition);
  const { plan, variant } = pass;
  const label = `bench.${variant.label}`;
  const chunks = [...planChunks(plan, pass.limits)];
  if (chunks.length !== 1) {
    throw new Error(`${label}: ${size} elements need ${chunks.length} chunks on this device; the device-only timing covers one: `
      + 'pass a smaller --elements');
  }
  const chunk = chunks[0]!;
  const prescale = prescaleFor(request);
  const owned: GPUBuffer[] = [];
  try {
    return await withErrorScopes(device, label, async () => {
      // The body of errorStatsKernel's runChunk, with the same calls in the same order (the uploads untimed).
      const { run, passes } = recordingRun(device, label, owned);
      const { partials, partialBytes, bytesRead, tableBytes } = encodeStatsChunk(run, manager, request, pass, chunk, paramTableWords(grid), prescale);
      const timings = await timeRepetitions(device, label, options, encodeRecorded(passes, label));
      // Summed and assembled as errorStatsKernel does.
      const overall = new BucketSums(1);
      const sums = axis === undefined ? overall : new BucketSums(bucketMap.count);
      addChunkPartials(await readBack(device, label, partials, partialBytes), plan, chunk, bucketMap, sums, axis === undefined ? undefined : overall);
      for (const s of new Set([overall, sums])) s.rescale(1 / prescale);
      const stats = assembleErrorStats(request, overall, axis === undefined ? undefined : sums, undefined, 'webgpu');
      expectSameStats(stats, expected, `${label}: device-only statistics vs errorStats()'s`);
      return { ...timings, bytesRead, extraBytes: partialBytes + tableBytes, passes: passes.length, pipelineKeys: [`${variant.label} ${entryKey(variant.entryPoint, variant.constants)}`] };
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
