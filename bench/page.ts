// Runs in the page that bench/run.mjs serves (Vite, with 'webgpu-quant' aliased to src/index.ts, so no
// dist/ is needed). Times each kernel device-only, built exactly as the library builds it (its pipeline
// cache, uniform packing, channel table and dispatch grid, on the library's own device), beside a
// copyBufferToBuffer and a vec4 copy shader that move the same bytes; then times the public API end to
// end (upload + kernel + readback). Every case runs inside error scopes, and the device-only output is
// checked byte for byte against the public API's, so the timed dispatch is the library's kernel. It also
// holds the reductions' reference, a vec4 read of the same bytes; the reductions themselves (observers,
// errorStats, chooseQParams) are timed in bench/page-reductions.ts; shared helpers are in bench/harness.ts.
import {
  type GpuManager, type QDType, type QTensor, dequantize, dtypeInfo, getDefaultManager, packNibbles, quantizePerChannel, quantizePerGroup, quantizePerTensor, tensor,
} from 'webgpu-quant';
import {
  CALIBRATION_WORKGROUP_SIZE, chunkElements, dispatchSize, type ElementwiseRequest, entryKey, planElementwise, type QParams, vecGeometry, VECS_PER_THREAD, WORKGROUP_SIZE,
} from 'webgpu-quant/internals';
import copyVec4Source from './copy-vec4.wgsl?raw';
import {
  type BenchLayout, type CaseParams, type Encode, type RepeatOptions, type Timings, caseParams, expectSameBytes, inputData, readBack,
  timeInterleaved, timeRepetitions, timestampWrites, withErrorScopes,
} from './harness.js';
import { runOrtCase } from './page-ort.js';
import { plumbOnce } from './page-plumbing.js';
import { runCompressCompare, runCompressProfile } from './page-profile.js';
import { runChooseQParamsCase, runErrorStatsCase, runMinMaxCase } from './page-reductions.js';
import readVec4Source from './read-vec4.wgsl?raw';

export type CopyKind = 'copyBufferToBuffer' | 'copyVec4Shader';

export interface KernelCase extends RepeatOptions {
  op: ElementwiseRequest['op'];
  dtype: QDType;
  layout: BenchLayout;
  shape: number[];
  /** Timed calls of the public API (after one warm-up call); 0 skips the end-to-end number. */
  e2eReps: number;
}

export interface KernelResult extends Timings {
  /** The vec4 copy of (bytesRead + bytesWritten) / 2 bytes, timed interleaved with the kernel's repetitions. */
  pairedCopy: Timings;
  bytesRead: number;
  bytesWritten: number;
  /** Per call of the public API, ms (upload + kernel + readback, and the library's own bookkeeping). */
  e2eMs: number[];
  /**
   * The plumbing limit of the same bytes (bench/page-plumbing.ts), one call after each public call, ms;
   * 8-bit and 4-bit dtypes only.
   */
  plumbingMs: number[];
  /**
   * 4-bit quantize only: the plumbing limit with the output the call returns to JS, one byte per element (a
   * QTensor holds one integer per element; the GPU reads back half a byte each), one call after each public call.
   */
  plumbingIntsMs?: number[];
  pipelineKey: string;
  grid: { x: number; y: number };
}

export interface BenchInfo {
  adapter: { vendor: string; architecture: string; device: string; description: string };
  features: { packed4x8: boolean; timestampQuery: boolean; subgroups: boolean };
  limits: { maxStorageBufferBindingSize: number; maxBufferSize: number; maxComputeWorkgroupsPerDimension: number };
  userAgent: string;
}

function quantizeApi(c: KernelCase, p: CaseParams, x: ReturnType<typeof tensor>): Promise<QTensor> {
  if (p.groupSize) return quantizePerGroup(x, p.scales, p.zeroPoints, p.axis, p.groupSize, c.dtype, { backend: 'webgpu' });
  return c.layout === 'perTensor'
    ? quantizePerTensor(x, p.scale, p.zeroPoint, c.dtype, { backend: 'webgpu' })
    : quantizePerChannel(x, p.scales, p.zeroPoints, p.axis, c.dtype, { backend: 'webgpu' });
}

/** The integers as the kernels store them: 4-bit values two to a byte, low nibble first; others as they are. */
function storedInts(q: QTensor): ArrayBufferView {
  const ints = q.intRepr();
  return dtypeInfo(q.dtype).bits === 4 ? packNibbles(ints) : ints;
}

// ---- kernels ------------------------------------------------------------------------------------

/** The library's kernel for `c`, dispatched over `input` as runChunked would, timed device-only. */
async function timeKernel(
  manager: GpuManager, c: KernelCase, p: CaseParams, input: ArrayBufferView, expected: ArrayBufferView,
): Promise<Omit<KernelResult, 'e2eMs' | 'plumbingMs'>> {
  const device = manager.device;
  const info = dtypeInfo(c.dtype);
  const size = expected.byteLength / (c.op === 'quantize' ? info.bits / 8 : 4);
  const params: QParams = c.layout === 'perTensor'
    ? { scheme: 'per_tensor_affine', scale: p.scale, zeroPoint: p.zeroPoint }
    : p.groupSize ? { scheme: 'per_group_affine', scales: p.scales, zeroPoints: p.zeroPoints, axis: p.axis, groupSize: p.groupSize }
      : { scheme: 'per_channel_affine', scales: p.scales, zeroPoints: p.zeroPoints, axis: p.axis };
  // As the library's kernels do (quantizeKernel / dequantizeKernel): the same plan, so the same pipeline.
  const geometry = vecGeometry(c.op === 'dequantize' ? 'dequantize' : 'quantize', info);
  const { elementsPerVec, inputBytesPerVec, outputBytesPerVec } = geometry;
  const plan = planElementwise(device, { op: c.op, info, params, range: info, shape: c.shape, packed4x8: manager.features.packed4x8 }, geometry);
  const chunk = chunkElements(device, geometry);
  if (size % elementsPerVec !== 0 || chunk < size) {
    throw new Error(`${plan.pipeline.label}: ${size} elements need ${Math.ceil(size / chunk)} chunks on this device; `
      + 'the device-only timing covers one chunk: pass a smaller --elements');
  }
  const vecCount = size / elementsPerVec;
  const bytesRead = size * (c.op === 'quantize' ? 4 : info.bits / 8);
  const bytesWritten = size * (c.op === 'quantize' ? info.bits / 8 : 4);
  const label = `bench.${plan.pipeline.label}.${c.layout}`;
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
      const { table } = plan;
      const threads = plan.threadsFor ? plan.threadsFor(vecCount) : Math.ceil(vecCount / VECS_PER_THREAD);
      const grid = dispatchSize(threads, WORKGROUP_SIZE, device.limits.maxComputeWorkgroupsPerDimension);
      const uniformBytes = plan.uniform(0, vecCount, grid.threadCount);
      const uniformBuffer = buffer('uniform', uniformBytes.byteLength, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
      device.queue.writeBuffer(uniformBuffer, 0, uniformBytes);
      const extraEntries: GPUBindGroupEntry[] = [];
      if (table) {
        const tableBuffer = buffer('paramTable', table.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
        device.queue.writeBuffer(tableBuffer, 0, table);
        extraEntries.push({ binding: 3, resource: { buffer: tableBuffer, size: table.byteLength } });
      }
      const pipeline = manager.pipelines.get(plan.pipeline);
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
      // Beside every repetition, a vec4 copy of the same bytes ((read + written) / 2 each way): the ratio pairs
      // timings taken within the same round.
      const copyBytes = Math.ceil((bytesRead + bytesWritten) / 2 / 16) * 16;
      const copyUsage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
      const copy = vec4CopyEncode(device, `${label}.pairedCopy`, buffer('copySource', copyBytes, copyUsage), buffer('copyDestination', copyBytes, copyUsage), copyBytes);
      const [timings, pairedCopy] = await timeInterleaved(device, label, c, [(encoder, slots) => {
        const pass = encoder.beginComputePass({ label: `${label}.pass`, timestampWrites: timestampWrites(slots) });
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, bindGroup);
        pass.dispatchWorkgroups(grid.x, grid.y);
        pass.end();
      }, copy]);
      expectSameBytes(await readBack(device, label, outputBuffer, expected.byteLength), expected,
        `${label}: device-only output vs the public API's`);
      return { ...timings!, pairedCopy: pairedCopy!, bytesRead, bytesWritten, pipelineKey: `${plan.pipeline.label} ${entryKey(plan.pipeline.entryPoint, plan.pipeline.constants)}`, grid: { x: grid.x, y: grid.y } };
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
  const plumbingMs: number[] = [];
  const bits = c.dtype === 'qint32' ? 32 : c.dtype.endsWith('4') ? 4 : 8;
  const [inBytes, outBytes] = c.op === 'quantize' ? [size * 4, (size * bits) / 8] : [(size * bits) / 8, size * 4];
  const plumbingInput = bits < 32 && inBytes % 16 === 0 && outBytes % 16 === 0 ? new Uint8Array(inBytes) : undefined;
  const intsBytes = plumbingInput && c.op === 'quantize' && bits === 4 && size % 16 === 0 ? size : undefined;
  const plumbingIntsMs: number[] = [];
  const timeCall = async <T>(call: () => Promise<T>): Promise<T> => {
    let result = await call(); // warm-up: pipelines, pooled buffers
    if (plumbingInput) await plumbOnce(plumbingInput, outBytes);
    if (plumbingInput && intsBytes) await plumbOnce(plumbingInput, intsBytes);
    for (let i = 0; i < c.e2eReps; i++) {
      const t0 = performance.now();
      result = await call();
      e2eMs.push(performance.now() - t0);
      if (!plumbingInput) continue;
      const t1 = performance.now();
      await plumbOnce(plumbingInput, outBytes);
      plumbingMs.push(performance.now() - t1);
      if (!intsBytes) continue;
      const t2 = performance.now();
      await plumbOnce(plumbingInput, intsBytes);
      plumbingIntsMs.push(performance.now() - t2);
    }
    return result;
  };
  return withErrorScopes(manager.device, `bench.${c.op}.${c.dtype}.${c.layout}`, async () => {
    if (c.op === 'quantize') {
      const q = await timeCall(() => quantizeApi(c, p, x));
      const input = x.data;
      return { ...await timeKernel(manager, c, p, input, storedInts(q)), e2eMs, plumbingMs, ...(intsBytes ? { plumbingIntsMs } : {}) };
    }
    const q = await quantizeApi(c, p, x);
    const y = await timeCall(() => dequantize(q, { backend: 'webgpu' }));
    return { ...await timeKernel(manager, c, p, storedInts(q), y.data), e2eMs, plumbingMs };
  });
}

// ---- references ---------------------------------------------------------------------------------

/** vec4s each invocation of the copy shader moves (bench/copy-vec4.wgsl): the kernels' VECS_PER_THREAD. */
export const COPY_VECS_PER_INVOCATION = 16;

const copyPipelines = new WeakMap<GPUDevice, GPUComputePipeline>();

function copyVec4Pipeline(device: GPUDevice): GPUComputePipeline {
  let pipeline = copyPipelines.get(device);
  if (!pipeline) {
    const module = device.createShaderModule({ label: 'bench.copyVec4.module', code: copyVec4Source });
    pipeline = device.createComputePipeline({
      label: 'bench.copyVec4.pipeline', layout: 'auto',
      compute: { module, entryPoint: 'copy_vec4', constants: { WORKGROUP_SIZE, VECS_PER_INVOCATION: COPY_VECS_PER_INVOCATION } },
    });
    copyPipelines.set(device, pipeline);
  }
  return pipeline;
}

/** One dispatch of the vec4 copy shader moving `bytes` (a multiple of 16) from `source` to `destination`. */
function vec4CopyEncode(device: GPUDevice, label: string, source: GPUBuffer, destination: GPUBuffer, bytes: number): Encode {
  const pipeline = copyVec4Pipeline(device);
  const bindGroup = device.createBindGroup({
    label: `${label}.bindGroup`, layout: pipeline.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: { buffer: source, size: bytes } }, { binding: 1, resource: { buffer: destination, size: bytes } }],
  });
  const grid = dispatchSize(Math.ceil(bytes / 16 / COPY_VECS_PER_INVOCATION), WORKGROUP_SIZE, device.limits.maxComputeWorkgroupsPerDimension);
  return (encoder, slots) => {
    const pass = encoder.beginComputePass({ label: `${label}.pass`, timestampWrites: timestampWrites(slots) });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(grid.x, grid.y);
    pass.end();
  };
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
        encode = vec4CopyEncode(device, label, source, destination, bytes);
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

/** Reads of the same bytes by read-vec4.wgsl: vec4s per invocation (the min/max first pass reads 64 floats per lane). */
export const READ_VECS_PER_INVOCATION = 64;

const readPipelines = new WeakMap<GPUDevice, GPUComputePipeline>();

function readVec4Pipeline(device: GPUDevice): GPUComputePipeline {
  let pipeline = readPipelines.get(device);
  if (!pipeline) {
    const module = device.createShaderModule({ label: 'bench.readVec4.module', code: readVec4Source });
    pipeline = device.createComputePipeline({
      label: 'bench.readVec4.pipeline', layout: 'auto',
      compute: {
        module, entryPoint: 'read_vec4',
        constants: { WORKGROUP_SIZE: CALIBRATION_WORKGROUP_SIZE, VECS_PER_INVOCATION: READ_VECS_PER_INVOCATION },
      },
    });
    readPipelines.set(device, pipeline);
  }
  return pipeline;
}

/** Reads `bytes` (a multiple of 16) with read-vec4.wgsl, reps times, timed like a kernel; the output is checked once. */
async function runRead(bytes: number, options: RepeatOptions): Promise<Timings> {
  const manager = await getDefaultManager();
  const device = manager.device;
  const label = 'bench.readVec4';
  const vecCount = bytes / 16;
  const invocations = Math.ceil(vecCount / READ_VECS_PER_INVOCATION);
  const source = device.createBuffer({ label: `${label}.source`, size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const destination = device.createBuffer({
    label: `${label}.destination`, size: invocations * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
  });
  try {
    return await withErrorScopes(device, label, async () => {
      const values = new Float32Array(bytes / 4);
      for (let i = 0; i < values.length; i++) values[i] = ((i * 2654435761) >>> 0) / 2 ** 31 - 1;
      device.queue.writeBuffer(source, 0, values);
      const pipeline = readVec4Pipeline(device);
      const bindGroup = device.createBindGroup({
        label: `${label}.bindGroup`, layout: pipeline.getBindGroupLayout(0),
        entries: [{ binding: 0, resource: { buffer: source } }, { binding: 1, resource: { buffer: destination } }],
      });
      const grid = dispatchSize(invocations, CALIBRATION_WORKGROUP_SIZE, device.limits.maxComputeWorkgroupsPerDimension);
      const timings = await timeRepetitions(device, label, options, (encoder, slots) => {
        const pass = encoder.beginComputePass({ label: `${label}.pass`, timestampWrites: timestampWrites(slots) });
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, bindGroup);
        pass.dispatchWorkgroups(grid.x, grid.y);
        pass.end();
      });
      const expected = new Float32Array(invocations).fill(-3.4028234663852886e38);
      for (let j = 0; j < vecCount; j++) {
        const i = j % invocations;
        for (let k = 4 * j; k < 4 * j + 4; k++) if (values[k]! > expected[i]!) expected[i] = values[k]!;
      }
      expectSameBytes(await readBack(device, label, destination, invocations * 4), expected, `${label}: per-invocation maxima`);
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
  // globalThis is the page's window; under `node bench/run.mjs --node` it is Node's.
  var __bench: {
    init: typeof init; runKernelCase: typeof runKernelCase; runCopy: typeof runCopy; runRead: typeof runRead;
    runMinMaxCase: typeof runMinMaxCase; runErrorStatsCase: typeof runErrorStatsCase; runChooseQParamsCase: typeof runChooseQParamsCase;
    runOrtCase: typeof runOrtCase; runCompressProfile: typeof runCompressProfile;
    runCompressCompare: typeof runCompressCompare;
  };
}

globalThis.__bench = { init, runKernelCase, runCopy, runRead, runMinMaxCase, runErrorStatsCase, runChooseQParamsCase, runOrtCase, runCompressProfile, runCompressCompare };
