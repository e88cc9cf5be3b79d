// Runs in the page that bench/run.mjs serves (Vite, with 'webgpu-quant' aliased to src/index.ts, so no
// dist/ is needed). Times each kernel device-only, built exactly as the library builds it (its pipeline
// cache, uniform packing, channel table and dispatch grid, on the library's own device), beside a
// copyBufferToBuffer and a vec4 copy shader that move the same bytes; then times the public API end to
// end (upload + kernel + readback). Every case runs inside error scopes, and the device-only output is
// checked byte for byte against the public API's, so the timed dispatch is the library's kernel.
import {
  type GpuManager, type QDType, type QTensor, dequantize, dtypeInfo, getDefaultManager, quantizePerChannel,
  quantizePerTensor, tensor,
} from 'webgpu-quant';
import { dispatchSize } from '../src/gpu/dispatch.js';
import { type ChunkedJob, chunkElements } from '../src/kernels/run-chunked.js';
import { schemeBindings } from '../src/kernels/scheme-params.js';
import { type KernelOp, kernelVariant } from '../src/kernels/shader-sources.js';
import { VECS_PER_THREAD, WORKGROUP_SIZE } from '../src/kernels/workgroup.js';
import type { QParams } from '../src/qtensor.js';
import copyVec4Source from './copy-vec4.wgsl?raw';

/** Which quantization parameters a case uses: one pair, or one per index along the first or last axis. */
export type BenchLayout = 'perTensor' | 'axis0' | 'axisLast';
export type CopyKind = 'copyBufferToBuffer' | 'copyVec4Shader';
export type TimingMethod = 'timestamp-query' | 'onSubmittedWorkDone';

export interface RepeatOptions {
  reps: number;
  warmup: number;
  /** Ignore timestamp queries even when the device has them. */
  forceWall?: boolean;
}

export interface KernelCase extends RepeatOptions {
  op: KernelOp;
  dtype: QDType;
  layout: BenchLayout;
  shape: number[];
  /** Timed calls of the public API (after one warm-up call); 0 skips the end-to-end number. */
  e2eReps: number;
}

export interface Timings {
  /** Per repetition, device time in ms: from timestamps, or equal to wallMs without them. */
  deviceMs: number[];
  /** Per repetition, ms from submit to onSubmittedWorkDone (one submit per repetition). */
  wallMs: number[];
  method: TimingMethod;
  /** Why the method is not timestamp-query, when it is not. */
  note?: string;
}

export interface KernelResult extends Timings {
  bytesRead: number;
  bytesWritten: number;
  /** Per call of the public API, ms (upload + kernel + readback, and the library's own bookkeeping). */
  e2eMs: number[];
  pipelineKey: string;
  grid: { x: number; y: number };
}

export interface BenchInfo {
  adapter: { vendor: string; architecture: string; device: string; description: string };
  features: { packed4x8: boolean; timestampQuery: boolean; subgroups: boolean };
  limits: { maxStorageBufferBindingSize: number; maxBufferSize: number; maxComputeWorkgroupsPerDimension: number };
  userAgent: string;
}

// ---- inputs -------------------------------------------------------------------------------------

/** Deterministic uniform floats in [-2, 2) (mulberry32): every run quantizes the same data. */
const inputCache = new Map<number, Float32Array<ArrayBuffer>>();
function inputData(n: number): Float32Array<ArrayBuffer> {
  let data = inputCache.get(n);
  if (data) return data;
  data = new Float32Array(n);
  let a = 0x5eed;
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    data[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 4 - 2;
  }
  inputCache.clear(); // one size at a time: 16M floats are 64 MiB
  inputCache.set(n, data);
  return data;
}

interface CaseParams {
  axis: number;
  scale: number;
  zeroPoint: number;
  scales: Float64Array;
  zeroPoints: Int32Array;
}

/** Parameters that keep most values in range (a few clamp), so every branch of the kernel runs. */
function caseParams(c: KernelCase): CaseParams {
  const axis = c.layout === 'axis0' ? 0 : c.shape.length - 1;
  const channels = c.shape[axis]!;
  const wide = c.dtype === 'qint32';
  const scales = new Float64Array(channels);
  const zeroPoints = new Int32Array(channels);
  for (let ch = 0; ch < channels; ch++) {
    scales[ch] = (wide ? 1e-6 : 0.016) * (1 + ((ch * 37) % 16) / 16);
    zeroPoints[ch] = wide ? 0 : (ch % 9) - 4;
  }
  return { axis, scale: wide ? 1e-6 : 0.02, zeroPoint: wide ? 0 : 3, scales, zeroPoints };
}

function quantizeApi(c: KernelCase, p: CaseParams, x: ReturnType<typeof tensor>): Promise<QTensor> {
  return c.layout === 'perTensor'
    ? quantizePerTensor(x, p.scale, p.zeroPoint, c.dtype, { backend: 'webgpu' })
    : quantizePerChannel(x, p.scales, p.zeroPoints, p.axis, c.dtype, { backend: 'webgpu' });
}

// ---- timing -------------------------------------------------------------------------------------

interface TimestampSlots { querySet: GPUQuerySet; begin: number; end: number }
type Encode = (encoder: GPUCommandEncoder, slots: TimestampSlots | undefined) => void;

/**
 * Submits `warmup + reps` command buffers, one repetition each, waiting for each to finish. Timed
 * repetitions get two timestamp slots; every repetition's submit-to-done wall time is kept as well.
 */
async function timeRepetitions(device: GPUDevice, label: string, options: RepeatOptions, encode: Encode): Promise<Timings> {
  const useTimestamps = device.features.has('timestamp-query') && !options.forceWall;
  const querySet = useTimestamps
    ? device.createQuerySet({ label: `${label}.timestamps`, type: 'timestamp', count: 2 * options.reps })
    : undefined;
  const wallMs: number[] = [];
  try {
    for (let i = 0; i < options.warmup + options.reps; i++) {
      const timed = i >= options.warmup;
      const encoder = device.createCommandEncoder({ label: `${label}.encoder` });
      const rep = i - options.warmup;
      encode(encoder, timed && querySet ? { querySet, begin: 2 * rep, end: 2 * rep + 1 } : undefined);
      const commands = encoder.finish({ label: `${label}.commands` });
      const t0 = performance.now();
      device.queue.submit([commands]);
      await device.queue.onSubmittedWorkDone();
      if (timed) wallMs.push(performance.now() - t0);
    }
    if (!querySet) {
      return { deviceMs: wallMs.slice(), wallMs, method: 'onSubmittedWorkDone', note: options.forceWall ? 'forced' : 'no timestamp-query' };
    }
    const ticks = await resolveTimestamps(device, label, querySet, 2 * options.reps);
    const deviceMs: number[] = [];
    for (let r = 0; r < options.reps; r++) deviceMs.push(Number(ticks[2 * r + 1]! - ticks[2 * r]!) / 1e6);
    if (deviceMs.some((ms, r) => !(ms > 0) || ms > wallMs[r]! * 1.05 + 0.1)) {
      // Zero, negative or longer than the whole submit: the timestamps are not trustworthy here.
      return { deviceMs: wallMs.slice(), wallMs, method: 'onSubmittedWorkDone',
        note: `timestamps implausible (${deviceMs.map((ms) => ms.toFixed(3)).join(', ')} ms)` };
    }
    return { deviceMs, wallMs, method: 'timestamp-query' };
  } finally {
    querySet?.destroy();
  }
}

async function resolveTimestamps(device: GPUDevice, label: string, querySet: GPUQuerySet, count: number): Promise<BigUint64Array> {
  const resolve = device.createBuffer({ label: `${label}.resolve`, size: 8 * count, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const staging = device.createBuffer({ label: `${label}.resolveStaging`, size: 8 * count, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    const encoder = device.createCommandEncoder({ label: `${label}.resolveEncoder` });
    encoder.resolveQuerySet(querySet, 0, count, resolve, 0);
    encoder.copyBufferToBuffer(resolve, 0, staging, 0, 8 * count);
    device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    return new BigUint64Array(staging.getMappedRange().slice(0));
  } finally {
    resolve.destroy();
    staging.destroy();
  }
}

function timestampWrites(slots: TimestampSlots | undefined): GPUComputePassTimestampWrites | undefined {
  return slots && { querySet: slots.querySet, beginningOfPassWriteIndex: slots.begin, endOfPassWriteIndex: slots.end };
}

/** Runs `body` inside validation, out-of-memory and internal error scopes; throws the first error caught. */
async function withErrorScopes<T>(device: GPUDevice, label: string, body: () => Promise<T>): Promise<T> {
  const filters: GPUErrorFilter[] = ['out-of-memory', 'internal', 'validation'];
  for (const filter of filters) device.pushErrorScope(filter);
  let outcome: { ok: true; value: T } | { ok: false; error: unknown };
  try {
    outcome = { ok: true, value: await body() };
  } catch (error) {
    outcome = { ok: false, error };
  }
  const scoped = (await Promise.all(filters.map(() => device.popErrorScope()))).find((e) => e !== null);
  // A GPU error explains a failure better than what it caused, so it wins.
  if (scoped) throw new Error(`${label}: GPU ${scoped.constructor.name}: ${scoped.message}`);
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}

async function readBack(device: GPUDevice, label: string, source: GPUBuffer, size: number): Promise<ArrayBuffer> {
  const staging = device.createBuffer({ label: `${label}.staging`, size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    const encoder = device.createCommandEncoder({ label: `${label}.readbackEncoder` });
    encoder.copyBufferToBuffer(source, 0, staging, 0, size);
    device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    return staging.getMappedRange().slice(0);
  } finally {
    staging.destroy();
  }
}

/** Throws with the first few differing 32-bit words when `actual` and `expected` differ. */
function expectSameBytes(actual: ArrayBuffer, expected: ArrayBufferView, what: string): void {
  const a = new Uint32Array(actual, 0, expected.byteLength / 4);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.byteLength / 4);
  const rows: string[] = [];
  let total = 0;
  for (let i = 0; i < e.length; i++) {
    if (a[i] !== e[i]) {
      total++;
      if (rows.length < 10) rows.push(`  word ${i}: expected 0x${e[i]!.toString(16)}, got 0x${a[i]!.toString(16)}`);
    }
  }
  if (total > 0) throw new Error(`${what}: ${total} of ${e.length} words differ\n${rows.join('\n')}`);
}

// ---- kernels ------------------------------------------------------------------------------------

/** The library's kernel for `c`, dispatched over `input` as runChunked would, timed device-only. */
async function timeKernel(
  manager: GpuManager, c: KernelCase, p: CaseParams, input: ArrayBufferView, expected: ArrayBufferView,
): Promise<Omit<KernelResult, 'e2eMs'>> {
  const device = manager.device;
  const info = dtypeInfo(c.dtype);
  const size = expected.byteLength / (c.op === 'quantize' ? info.bits / 8 : 4);
  const scheme = c.layout === 'perTensor' ? 'perTensor' : 'grouped';
  const variant = kernelVariant(c.op, scheme, info, manager.features.packed4x8);
  const packed = info.perWord === 4;
  const inputBytesPerVec = c.op === 'quantize' ? 16 : packed ? 4 : 16;
  const outputBytesPerVec = c.op === 'quantize' ? (packed ? 4 : 16) : 16;
  const job = { ...variant, size, elementsPerVec: 4, inputBytesPerVec, outputBytesPerVec } as ChunkedJob;
  const chunk = chunkElements(device, job);
  if (size % 4 !== 0 || chunk < size) {
    throw new Error(`${variant.label}: ${size} elements need ${Math.ceil(size / chunk)} chunks on this device; `
      + 'the device-only timing covers one chunk: pass a smaller --elements');
  }
  const vecCount = size / 4;
  const grid = dispatchSize(Math.ceil(vecCount / VECS_PER_THREAD), WORKGROUP_SIZE, device.limits.maxComputeWorkgroupsPerDimension);
  const label = `bench.${variant.label}.${c.layout}`;
  const buffers: GPUBuffer[] = [];
  const buffer = (name: string, bytes: number, usage: number): GPUBuffer => {
    const b = device.createBuffer({ label: `${label}.${name}`, size: bytes, usage });
    buffers.push(b);
    return b;
  };
  try {
    return await withErrorScopes(device, label, async () => {
      const inputBuffer = buffer('input', vecCount * inputBytesPerVec, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
      const outputBuffer = buffer('output', vecCount * outputBytesPerVec, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
      device.queue.writeBuffer(inputBuffer, 0, input.buffer, input.byteOffset, input.byteLength);
      const params: QParams = scheme === 'perTensor'
        ? { scheme: 'per_tensor_affine', scale: p.scale, zeroPoint: p.zeroPoint }
        : { scheme: 'per_channel_affine', scales: p.scales, zeroPoints: p.zeroPoints, axis: p.axis };
      const bindings = schemeBindings(params, info, c.shape, 4);
      const uniformBytes = bindings.uniform(0, vecCount, grid.threadCount);
      const uniformBuffer = buffer('uniform', uniformBytes.byteLength, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
      device.queue.writeBuffer(uniformBuffer, 0, uniformBytes);
      const extraEntries: GPUBindGroupEntry[] = [];
      if (bindings.table) {
        const tableBuffer = buffer('paramTable', bindings.table.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
        device.queue.writeBuffer(tableBuffer, 0, bindings.table);
        extraEntries.push({ binding: 3, resource: { buffer: tableBuffer, size: bindings.table.byteLength } });
      }
      const pipeline = bindings.constants
        ? manager.pipelines.get(`${variant.pipelineKey}|rows${bindings.constants.ROW_LAYOUT}|${bindings.constants.PER_GROUP ? 'group' : 'channel'}`,
          { ...variant.pipeline, constants: { ...variant.pipeline.constants, ...bindings.constants } })
        : manager.pipelines.get(variant.pipelineKey, variant.pipeline);
      const bindGroup = device.createBindGroup({
        label: `${label}.bindGroup`,
        layout: pipeline.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: { buffer: uniformBuffer, size: uniformBytes.byteLength } },
          { binding: 1, resource: { buffer: inputBuffer } },
          { binding: 2, resource: { buffer: outputBuffer } },
          ...extraEntries,
        ],
      });
      const timings = await timeRepetitions(device, label, c, (encoder, slots) => {
        const pass = encoder.beginComputePass({ label: `${label}.pass`, timestampWrites: timestampWrites(slots) });
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, bindGroup);
        pass.dispatchWorkgroups(grid.x, grid.y);
        pass.end();
      });
      expectSameBytes(await readBack(device, label, outputBuffer, expected.byteLength), expected,
        `${label}: device-only output vs the public API's`);
      const bytesRead = size * (c.op === 'quantize' ? 4 : info.bits / 8);
      const bytesWritten = size * (c.op === 'quantize' ? info.bits / 8 : 4);
      return { ...timings, bytesRead, bytesWritten, pipelineKey: variant.pipelineKey, grid: { x: grid.x, y: grid.y } };
    });
  } finally {
    for (const b of buffers) b.destroy();
  }
}

async function runKernelCase(c: KernelCase): Promise<KernelResult> {
  const manager = await getDefaultManager();
  const size = c.shape.reduce((a, b) => a * b, 1);
  const p = caseParams(c);
  const x = tensor(inputData(size), c.shape);
  const e2eMs: number[] = [];
  const timeCall = async <T>(call: () => Promise<T>): Promise<T> => {
    let result = await call(); // warm-up: pipelines, pooled buffers
    for (let i = 0; i < c.e2eReps; i++) {
      const t0 = performance.now();
      result = await call();
      e2eMs.push(performance.now() - t0);
    }
    return result;
  };
  return withErrorScopes(manager.device, `bench.${c.op}.${c.dtype}.${c.layout}`, async () => {
    if (c.op === 'quantize') {
      const q = await timeCall(() => quantizeApi(c, p, x));
      const input = x.data;
      return { ...await timeKernel(manager, c, p, input, q.intRepr()), e2eMs };
    }
    const q = await quantizeApi(c, p, x);
    const y = await timeCall(() => dequantize(q, { backend: 'webgpu' }));
    return { ...await timeKernel(manager, c, p, q.intRepr(), y.data), e2eMs };
  });
}

// ---- references ---------------------------------------------------------------------------------

const copyPipelines = new WeakMap<GPUDevice, GPUComputePipeline>();

function copyVec4Pipeline(device: GPUDevice): GPUComputePipeline {
  let pipeline = copyPipelines.get(device);
  if (!pipeline) {
    const module = device.createShaderModule({ label: 'bench.copyVec4.module', code: copyVec4Source });
    pipeline = device.createComputePipeline({
      label: 'bench.copyVec4.pipeline', layout: 'auto',
      compute: { module, entryPoint: 'copy_vec4', constants: { WORKGROUP_SIZE } },
    });
    copyPipelines.set(device, pipeline);
  }
  return pipeline;
}

/**
 * Copies `bytes` (a multiple of 16) from one buffer to another, reps times: with copyBufferToBuffer,
 * timed between an empty pass's end and the next empty pass's start (copies have no timestampWrites), or
 * with the vec4 copy shader, timed like a kernel. The destination is checked once afterwards.
 */
async function runCopy(kind: CopyKind, bytes: number, options: RepeatOptions): Promise<Timings> {
  const manager = await getDefaultManager();
  const device = manager.device;
  const label = `bench.${kind}`;
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const source = device.createBuffer({ label: `${label}.source`, size: bytes, usage });
  const destination = device.createBuffer({ label: `${label}.destination`, size: bytes, usage });
  try {
    return await withErrorScopes(device, label, async () => {
      const pattern = new Uint32Array(bytes / 4);
      for (let i = 0; i < pattern.length; i++) pattern[i] = (i * 2654435761) >>> 0;
      device.queue.writeBuffer(source, 0, pattern);
      let encode: Encode;
      if (kind === 'copyBufferToBuffer') {
        encode = (encoder, slots) => {
          if (slots) encoder.beginComputePass({ label: `${label}.before`, timestampWrites: { querySet: slots.querySet, endOfPassWriteIndex: slots.begin } }).end();
          encoder.copyBufferToBuffer(source, 0, destination, 0, bytes);
          if (slots) encoder.beginComputePass({ label: `${label}.after`, timestampWrites: { querySet: slots.querySet, beginningOfPassWriteIndex: slots.end } }).end();
        };
      } else {
        const pipeline = copyVec4Pipeline(device);
        const bindGroup = device.createBindGroup({
          label: `${label}.bindGroup`, layout: pipeline.getBindGroupLayout(0),
          entries: [{ binding: 0, resource: { buffer: source } }, { binding: 1, resource: { buffer: destination } }],
        });
        const grid = dispatchSize(bytes / 16, WORKGROUP_SIZE, device.limits.maxComputeWorkgroupsPerDimension);
        encode = (encoder, slots) => {
          const pass = encoder.beginComputePass({ label: `${label}.pass`, timestampWrites: timestampWrites(slots) });
          pass.setPipeline(pipeline);
          pass.setBindGroup(0, bindGroup);
          pass.dispatchWorkgroups(grid.x, grid.y);
          pass.end();
        };
      }
      const timings = await timeRepetitions(device, label, options, encode);
      expectSameBytes(await readBack(device, label, destination, bytes), pattern, `${label}: destination vs source`);
      return timings;
    });
  } finally {
    source.destroy();
    destination.destroy();
  }
}

async function init(): Promise<BenchInfo> {
  if (!navigator.gpu) throw new Error('navigator.gpu is undefined: Chromium needs --enable-unsafe-webgpu and a localhost page');
  const manager = await getDefaultManager();
  const info = manager.adapterInfo;
  const limits = manager.device.limits;
  return {
    adapter: { vendor: info?.vendor ?? '', architecture: info?.architecture ?? '', device: info?.device ?? '', description: info?.description ?? '' },
    features: { ...manager.features },
    limits: {
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize, maxBufferSize: limits.maxBufferSize,
      maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
    },
    userAgent: navigator.userAgent,
  };
}

declare global {
  interface Window {
    __bench: { init: typeof init; runKernelCase: typeof runKernelCase; runCopy: typeof runCopy };
  }
}

window.__bench = { init, runKernelCase, runCopy };
