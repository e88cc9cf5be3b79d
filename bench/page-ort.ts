// onnxruntime-web's QuantizeLinear / DequantizeLinear beside ours, in the page bench/run.mjs serves. The
// package's dist/ files are served by the bench's Vite server from node_modules (no network): the
// `onnxruntime-web/webgpu` build (ort.webgpu.min.mjs: the native WebGPU EP, and the wasm EP) runs in the
// bench page on the library's own GPUDevice; the default build (ort.min.mjs: the older JSEP WebGPU EP) runs
// only in a second page, for the onnxruntime#32578 check, so two ORT builds never share one page.
//
// Each case is a one-node ONNX model built with onnx-proto (src/io/onnx/proto.ts). Timing: wall time
// around `session.run`, then `device.queue.onSubmittedWorkDone()` on the shared device (so the GPU work ORT
// submitted is finished), median of reps after warm-up. For the WebGPU EP the input is a GPU buffer
// (`Tensor.fromGpuBuffer`) and the output stays on the GPU (`preferredOutputLocation: 'gpu-buffer'`), so
// no upload or readback is timed; uint8 only, since ORT-web rejects int8 GPU tensors. The wasm EP takes and
// returns CPU tensors. Every output is compared bit for bit with our CPU reference.
import { type QTensor, dequantize, getDefaultManager, quantizePerChannel, quantizePerTensor, tensor } from 'webgpu-quant';
import { encodeModel, onnx } from 'webgpu-quant/internals';
import { type BenchLayout, type CaseParams, caseParams, inputData, readBack, withErrorScopes } from './harness.js';

type Ort = typeof import('onnxruntime-web');
export type OrtBundle = 'webgpu' | 'default';
export type OrtEp = 'webgpu' | 'wasm';

export interface OrtCase {
  op: 'quantize' | 'dequantize';
  dtype: 'qint8' | 'quint8';
  layout: BenchLayout;
  shape: number[];
  ep: OrtEp;
  bundle: OrtBundle;
  /** 'gpu-buffer': GPU-resident input and output (WebGPU EP, uint8 only); 'cpu': CPU tensors. */
  io: 'gpu-buffer' | 'cpu';
  reps: number;
  warmup: number;
}

export interface OrtResult {
  wallMs: number[];
  /** ORT's own log lines about node placement and EP assignment (verbose session log, captured in the page). */
  placementLog: string[];
  /** The QuantizeLinear / DequantizeLinear node ran on the CPU EP although the WebGPU EP was asked for. */
  cpuFallback: boolean | null;
  /** Output elements that differ from our CPU reference, and the first few. */
  mismatches: number;
  firstMismatches: string[];
  ortVersion: string;
  /** ORT's error and fatal log lines while the case ran. */
  ortErrors: string[];
}

const DIST = '/node_modules/onnxruntime-web/dist/';
const ortModules = new Map<OrtBundle, Promise<Ort>>();

function loadOrt(bundle: OrtBundle): Promise<Ort> {
  let module = ortModules.get(bundle);
  if (!module) {
    const file = bundle === 'webgpu' ? 'ort.webgpu.min.mjs' : 'ort.min.mjs';
    wrapConsole();
    module = (import(/* @vite-ignore */ `${DIST}${file}`) as Promise<Ort>).then((ort) => {
      ort.env.wasm.wasmPaths = DIST;
      // Threads need a cross-origin-isolated page (SharedArrayBuffer); the bench page is not one.
      ort.env.wasm.numThreads = 1;
      // Read when ORT initialises: without it no session logs below warning, whatever its own severity. The
      // timed sessions ask for errors only; the verbose probe session's log is captured (captureConsole).
      ort.env.logLevel = 'verbose';
      return ort;
    });
    ortModules.set(bundle, module);
  }
  return module;
}

const ONNX_FLOAT = 1;
const ONNX_UINT8 = 2;
const ONNX_INT8 = 3;

/** A one-node model: x -> QuantizeLinear / DequantizeLinear(scale, zero_point[, axis]) -> y, opset 13. */
export function buildModel(c: Pick<OrtCase, 'op' | 'dtype' | 'layout' | 'shape'>, p: CaseParams): Uint8Array {
  const intType = c.dtype === 'quint8' ? ONNX_UINT8 : ONNX_INT8;
  const perTensor = c.layout === 'perTensor';
  const scales = perTensor ? [Math.fround(p.scale)] : Array.from(p.scales, (s) => Math.fround(s));
  const zeroPoints = perTensor ? [p.zeroPoint] : Array.from(p.zeroPoints);
  const paramDims = perTensor ? [] : [scales.length];
  const zeroBytes = c.dtype === 'quint8' ? Uint8Array.from(zeroPoints) : new Uint8Array(Int8Array.from(zeroPoints).buffer);
  const valueInfo = (name: string, elemType: number) => onnx.ValueInfoProto.create({
    name, type: { tensorType: { elemType, shape: { dim: c.shape.map((d) => ({ dimValue: d })) } } },
  });
  const node = onnx.NodeProto.create({
    name: c.op, opType: c.op === 'quantize' ? 'QuantizeLinear' : 'DequantizeLinear',
    input: ['x', 'scale', 'zero_point'], output: ['y'],
    attribute: perTensor ? [] : [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: c.layout === 'axis0' ? 0 : c.shape.length - 1 }],
  });
  const graph = onnx.GraphProto.create({
    name: `bench.${c.op}.${c.dtype}.${c.layout}`,
    node: [node],
    initializer: [
      onnx.TensorProto.create({ name: 'scale', dataType: ONNX_FLOAT, dims: paramDims, floatData: scales }),
      onnx.TensorProto.create({ name: 'zero_point', dataType: intType, dims: paramDims, rawData: zeroBytes }),
    ],
    input: [valueInfo('x', c.op === 'quantize' ? ONNX_FLOAT : intType)],
    output: [valueInfo('y', c.op === 'quantize' ? intType : ONNX_FLOAT)],
  });
  return encodeModel(onnx.ModelProto.create({
    irVersion: 7, producerName: 'webgpu-quant-bench', opsetImport: [{ domain: '', version: 13 }], graph,
  }));
}

/** Our CPU reference for the case, as ONNX defines it: PyTorch's quantize_per_tensor / _per_channel and dequantize. */
async function reference(c: OrtCase, p: CaseParams, x: Float32Array<ArrayBuffer>): Promise<{ q: QTensor; out: ArrayBufferView }> {
  const t = tensor(x, c.shape);
  const scale = Math.fround(p.scale);
  const scales = Float64Array.from(p.scales, (s) => Math.fround(s));
  const q = c.layout === 'perTensor'
    ? await quantizePerTensor(t, scale, p.zeroPoint, c.dtype, { backend: 'cpu' })
    : await quantizePerChannel(t, scales, p.zeroPoints, c.layout === 'axis0' ? 0 : c.shape.length - 1, c.dtype, { backend: 'cpu' });
  if (c.op === 'quantize') return { q, out: q.intRepr() };
  return { q, out: (await dequantize(q, { backend: 'cpu' })).data };
}

// ORT logs through the console, and its Emscripten module binds console.log / console.error when it first
// initialises: so the console is wrapped once, before ORT loads, and the wrapper sends each line to the
// current sink (captureConsole) or, outside a capture, to the console as before.
let sink: string[] | undefined;
let consoleWrapped = false;
function wrapConsole(): void {
  if (consoleWrapped) return;
  consoleWrapped = true;
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    const original = console[method].bind(console);
    console[method] = (...args: unknown[]) => {
      if (sink) sink.push(args.map(String).join(' '));
      else original(...args);
    };
  }
}

/** Runs `body` with console output captured (console.error would fail the bench; ORT's verbose log is not an error). */
async function captureConsole<T>(body: () => Promise<T>): Promise<{ value: T; lines: string[] }> {
  const lines: string[] = [];
  sink = lines;
  try {
    return { value: await body(), lines };
  } finally {
    sink = undefined;
  }
}

function compare(actual: ArrayBufferView, expected: ArrayBufferView, isFloat: boolean): { mismatches: number; firstMismatches: string[] } {
  const width = isFloat ? 4 : 1;
  const a = width === 4 ? new Uint32Array(actual.buffer, actual.byteOffset, actual.byteLength / 4) : new Uint8Array(actual.buffer, actual.byteOffset, actual.byteLength);
  const e = width === 4 ? new Uint32Array(expected.buffer, expected.byteOffset, expected.byteLength / 4) : new Uint8Array(expected.buffer, expected.byteOffset, expected.byteLength);
  const af = isFloat ? new Float32Array(actual.buffer, actual.byteOffset, a.length) : undefined;
  const ef = isFloat ? new Float32Array(expected.buffer, expected.byteOffset, e.length) : undefined;
  let mismatches = 0;
  const firstMismatches: string[] = [];
  if (a.length !== e.length) return { mismatches: Math.max(a.length, e.length), firstMismatches: [`length ${a.length} vs ${e.length}`] };
  for (let i = 0; i < e.length; i++) {
    if (a[i] !== e[i]) {
      mismatches++;
      if (firstMismatches.length < 5) firstMismatches.push(`[${i}] expected ${ef ? ef[i] : e[i]}, got ${af ? af[i] : a[i]}`);
    }
  }
  return { mismatches, firstMismatches };
}

/** Times ORT's QuantizeLinear / DequantizeLinear for `c` and checks its output against our CPU reference. */
export async function runOrtCase(c: OrtCase): Promise<OrtResult> {
  const ort = await loadOrt(c.bundle);
  const manager = await getDefaultManager();
  const device = manager.device;
  // The native EP takes the device per session option; the default build's JSEP EP creates its own device
  // (its env.webgpu.device is read-only in this version), so the #32578 check runs on a second device.
  const p = caseParams(c);
  const size = c.shape.reduce((a, b) => a * b, 1);
  const x = inputData(size);
  const { q, out: expected } = await reference(c, p, x);
  const input = c.op === 'quantize' ? x : q.intRepr();
  const model = buildModel(c, p);
  const label = `bench.ort.${c.bundle}.${c.ep}.${c.op}.${c.dtype}.${c.layout}`;
  // ORT's default logger stays verbose (env.logLevel is read once, at initialisation), so its runs log too:
  // everything it prints while this case runs is kept, and its error lines returned.
  const { value, lines } = await captureConsole(() => withErrorScopes(device, label, () => timeOrt(ort, c, device, label, model, input, expected)));
  return { ...value, ortErrors: lines.filter((l) => /\[[EF]:onnxruntime/.test(l)).slice(0, 10) };
}

async function timeOrt(
  ort: Ort, c: OrtCase, device: GPUDevice, label: string, model: Uint8Array, input: ArrayBufferView, expected: ArrayBufferView,
): Promise<Omit<OrtResult, 'ortErrors'>> {
  const inType = c.op === 'quantize' ? 'float32' : c.dtype === 'quint8' ? 'uint8' : 'int8';
  const gpu = c.io === 'gpu-buffer';
  const options = (verbose: boolean): import('onnxruntime-web').InferenceSession.SessionOptions => ({
    executionProviders: c.ep === 'webgpu' ? [c.bundle === 'webgpu' ? { name: 'webgpu', device } as never : 'webgpu'] : ['wasm'],
    ...(gpu ? { preferredOutputLocation: 'gpu-buffer' as const } : {}),
    ...(verbose ? { logSeverityLevel: 0 as const, logVerbosityLevel: 0 } : { logSeverityLevel: 3 as const }),
  });
  {
    // The session is created with a verbose log: ORT logs which EP each node is placed on. Its runs ask for errors only.
    const before = sink?.length ?? 0;
    const session = await ort.InferenceSession.create(model, options(true));
    const lines = sink?.slice(before) ?? [];
    // "All nodes placed on [CPUExecutionProvider]. Number of nodes: 1", or "Node(s) placed on [...]" per EP.
    const placementLog = lines.filter((l) => /placed on|not assigned to the preferred/i.test(l)).map((l) => l.replace(/^.*\]\s+/, '').slice(0, 200));
    const cpuFallback = c.ep === 'webgpu' && placementLog.length ? placementLog.some((l) => /placed on \[CPUExecutionProvider\]/.test(l)) : null;

    let inputBuffer: GPUBuffer | undefined;
    try {
      let feed: Record<string, import('onnxruntime-web').Tensor>;
      if (gpu) {
        inputBuffer = device.createBuffer({
          label: `${label}.input`, size: Math.ceil(input.byteLength / 16) * 16,
          usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
        });
        device.queue.writeBuffer(inputBuffer, 0, input.buffer, input.byteOffset, Math.ceil(input.byteLength / 4) * 4);
        feed = { x: ort.Tensor.fromGpuBuffer(inputBuffer as never, { dataType: inType as 'float32' | 'uint8', dims: c.shape }) };
      } else {
        feed = { x: new ort.Tensor(inType, input as never, c.shape) };
      }
      const wallMs: number[] = [];
      let last: import('onnxruntime-web').InferenceSession.OnnxValueMapType | undefined;
      for (let i = 0; i < c.warmup + c.reps; i++) {
        last?.y?.dispose();
        const t0 = performance.now();
        last = await session.run(feed, { logSeverityLevel: 3 });
        await device.queue.onSubmittedWorkDone();
        if (i >= c.warmup) wallMs.push(performance.now() - t0);
      }
      const y = last!.y!;
      let actual: ArrayBufferView;
      if (gpu && y.location === 'gpu-buffer') {
        const bytes = await readBack(device, label, y.gpuBuffer as unknown as GPUBuffer, Math.ceil(expected.byteLength / 4) * 4);
        actual = new Uint8Array(bytes, 0, expected.byteLength);
      } else {
        const data = (await y.getData()) as ArrayBufferView;
        actual = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      }
      y.dispose();
      return { wallMs, placementLog, cpuFallback, ...compare(actual, expected, c.op === 'dequantize'), ortVersion: ort.env.versions?.web ?? '' };
    } finally {
      await session.release();
      inputBuffer?.destroy();
    }
  }
}
