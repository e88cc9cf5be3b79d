// Compressed weights feeding onnxruntime-web without a trip through the CPU: a quantized safetensors file is
// loaded into GPU buffers on onnxruntime-web's own WebGPU device (loadQuantizedSafetensors), and those
// buffers are passed to a session as inputs with `Tensor.fromGpuBuffer`. The model's product must equal the
// CPU's product of the same inputs with the CPU path's dequantized weights, up to float summation order.
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-web';
import {
  bytesSource, compressToSafetensors, decideWeights, loadQuantizedSafetensors, memorySink, openSafetensors, readQuantizedSafetensors,
  reference, serializeSafetensors,
} from './imports.js';
import { seededNormal } from '../../shared/mlp-onnx.js';
import { RUN_SEED } from '../../shared/random.js';
import type { BrowserTest } from './support.js';

const [kM, kK, kN] = [5, 96, 40];

/** y = MatMul(x, w) with both as graph inputs: x [M, K], w [K, N]. */
function matmulModel(): Uint8Array {
  const io = (name: string, dims: number[]) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
  return onnxProto.onnx.ModelProto.encode({
    irVersion: 8, opsetImport: [{ domain: '', version: 17 }], producerName: 'ort-gpu-buffer',
    graph: {
      name: 'matmul', node: [{ opType: 'MatMul', name: 'mm', input: ['x', 'w'], output: ['y'] }],
      input: [io('x', [kM, kK]), io('w', [kK, kN])], output: [io('y', [kM, kN])],
    },
  }).finish();
}

export const tests: Record<string, BrowserTest> = {
  async 'quantized weights loaded on onnxruntime-web\'s WebGPU device feed a session through Tensor.fromGpuBuffer'() {
    ort.env.wasm.wasmPaths = '/node_modules/onnxruntime-web/dist/';
    ort.env.wasm.numThreads = 1; // no cross-origin isolation in the test page
    const file = memorySink();
    const weights = await serializeSafetensors([{ name: 'fc.weight', dtype: 'F32', shape: [kK, kN], data: seededNormal(kK * kN, RUN_SEED, 0.2) }]);
    const reader = await openSafetensors(bytesSource(weights));
    await compressToSafetensors(reader, decideWeights(reader.list(), {}), file, { backend: 'cpu' });
    const { quantized } = await readQuantizedSafetensors(await openSafetensors(bytesSource(file.bytes())));
    const q = quantized.get('fc.weight');
    if (!q) throw new Error('the default policy left fc.weight unquantized');
    const w = reference.dequantize(q).data;

    const session = await ort.InferenceSession.create(matmulModel(), { executionProviders: ['webgpu'] });
    const loaded = await loadQuantizedSafetensors(bytesSource(file.bytes()), await ort.env.webgpu.device);
    try {
      const t = loaded.get('fc.weight')!;
      if (t.shape.join() !== `${kK},${kN}` || t.dtype !== 'float32') throw new Error(`loaded ${t.dtype} [${t.shape.join(', ')}]`);
      const x = seededNormal(kM * kK, RUN_SEED + 1);
      const out = await session.run({
        x: new ort.Tensor('float32', x, [kM, kK]),
        w: ort.Tensor.fromGpuBuffer(t.buffer, { dataType: 'float32', dims: [kK, kN] }),
      });
      const y = out.y!.data as Float32Array;
      let diff = 0;
      let peak = 0;
      for (let m = 0; m < kM; m++) {
        for (let n = 0; n < kN; n++) {
          let sum = 0;
          for (let k = 0; k < kK; k++) sum += x[m * kK + k]! * w[k * kN + n]!;
          diff = Math.max(diff, Math.abs(y[m * kN + n]! - sum));
          peak = Math.max(peak, Math.abs(sum));
        }
      }
      // The same weights bit for bit (loadQuantizedSafetensors is checked against the CPU path elsewhere);
      // only the GPU's float32 summation differs from the float64 sum here.
      if (!(peak > 0 && diff / peak < 1e-5)) throw new Error(`seed ${RUN_SEED}: max |Δy| ${diff} where max |y| is ${peak}`);
      return `${q.dtype} ${q.qscheme()} [${kK}, ${kN}] on the GPU into onnxruntime-web ${ort.env.versions.web}: max |Δy| / max |y| ${(diff / peak).toExponential(2)}`;
    } finally {
      for (const t of loaded.values()) t.buffer.destroy();
      await session.release();
    }
  },
};
