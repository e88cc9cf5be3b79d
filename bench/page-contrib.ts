// Runs in the page that bench/contrib-web.mjs serves: an MLP (seeded normal weights) as float32, as int4
// groups of 32 QDQ and as int4 groups of 32 MatMulNBits (`onnxOps: 'contrib'`), each timed in onnxruntime-web's
// WebGPU EP and wasm EP (median of `reps` runs after 3 warm-up runs, wall time around session.run with the
// output read back to the CPU), with the outputs compared against the float32 model on the wasm EP.
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-web';
import { type CompressOnnxOptions, compressOnnx } from 'webgpu-quant/models';
import { buildMlp, seededNormal } from '../test/shared/mlp-onnx.js';
import { maxRelativeError } from '../test/shared/relative-error.js';

export interface ContribRow { model: string; ep: 'webgpu' | 'wasm'; bytes: number; ms: number; relativeToFloat32: number; relativeToWasm: number; error?: string }

declare global {
  interface Window { __contrib: { run(widths: number[], batch: number, reps: number, variants: string[]): Promise<{ version: string; rows: ContribRow[] }> } }
}

const kVariants: Record<string, CompressOnnxOptions | undefined> = {
  float32: undefined,
  'int4 g32 QDQ': { dtype: 'qint4', granularity: 'group', groupSize: 32 },
  'int4 g32 MatMulNBits': { dtype: 'qint4', granularity: 'group', groupSize: 32, onnxOps: 'contrib' },
  'int8 per channel QDQ': { dtype: 'qint8' },
  'int8 per channel MatMulNBits': { dtype: 'qint8', onnxOps: 'contrib' },
  'int4 g64 MatMulNBits': { dtype: 'qint4', granularity: 'group', groupSize: 64, onnxOps: 'contrib' },
  'uint4 g32 affine MatMulNBits': { dtype: 'quint4', granularity: 'group', groupSize: 32, onnxOps: 'contrib' },
  'uint4 g64 affine MatMulNBits': { dtype: 'quint4', granularity: 'group', groupSize: 64, onnxOps: 'contrib' },
};

async function timed(model: Uint8Array, ep: 'webgpu' | 'wasm', x: Float32Array, shape: number[], reps: number): Promise<{ ms: number; y: Float32Array }> {
  const session = await ort.InferenceSession.create(model, { executionProviders: [ep], logSeverityLevel: 0, logVerbosityLevel: 0 });
  try {
    const feeds = { x: new ort.Tensor('float32', x, shape) };
    let y = new Float32Array();
    for (let i = 0; i < 3; i++) y = Float32Array.from((await session.run(feeds)).y!.data as Float32Array);
    const times: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      const out = await session.run(feeds);
      await out.y!.getData();
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    return { ms: times[Math.floor(times.length / 2)]!, y };
  } finally {
    await session.release();
  }
}

window.__contrib = {
  async run(widths, batch, reps, variants) {
    ort.env.wasm.wasmPaths = '/node_modules/onnxruntime-web/dist/';
    ort.env.wasm.numThreads = 1; // no cross-origin isolation here
    ort.env.logLevel = 'verbose';
    const mlp = buildMlp(onnxProto.onnx, widths, 1234);
    const x = seededNormal(batch * widths[0]!, 7);
    const shape = [batch, widths[0]!];
    const rows: ContribRow[] = [];
    let reference: Float32Array | undefined;
    for (const name of variants) {
      const options = kVariants[name];
      const model = options ? (await compressOnnx(mlp.model, { ...options, firstLayer: 'quantize' }, { backend: 'cpu' })).model : mlp.model;
      console.log(`=== ${name}: sessions start`);
      const wasm = await timed(model, 'wasm', x, shape, reps);
      reference ??= wasm.y;
      rows.push({ model: name, ep: 'wasm', bytes: model.length, ms: wasm.ms, relativeToFloat32: maxRelativeError(wasm.y, reference), relativeToWasm: 0 });
      try {
        const gpu = await timed(model, 'webgpu', x, shape, reps);
        rows.push({ model: name, ep: 'webgpu', bytes: model.length, ms: gpu.ms, relativeToFloat32: maxRelativeError(gpu.y, reference), relativeToWasm: maxRelativeError(gpu.y, wasm.y) });
      } catch (error) {
        rows.push({ model: name, ep: 'webgpu', bytes: model.length, ms: NaN, relativeToFloat32: NaN, relativeToWasm: NaN, error: String(error).slice(0, 200) });
      }
      console.log(`=== ${name}: sessions end`);
    }
    return { version: ort.env.versions.web ?? '', rows };
  },
};
