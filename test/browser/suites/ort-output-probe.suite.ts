// The size budget's output-error probe in onnxruntime-web (wasm), in the page: the model's weights fed as graph
// inputs of one small session per probe must give the error of the model re-encoded with the weight replaced
// (what a runtime that refuses the fed model gets), and no session may be created from the weights' bytes.
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-web';
import { type OnnxRuntimeLike, type Sample, outputErrorProbe } from './imports.js';
import { seededNormal } from '../../shared/mlp-onnx.js';
import { RUN_SEED } from '../../shared/random.js';
import type { BrowserTest } from './support.js';

const [kIn, kHidden, kOut] = [32, 48, 16];

/** x [1, 32] → MatMul W1 → Relu → MatMul W2 → Add b → y [1, 16]. */
function twoLayers(w1: Float32Array, w2: Float32Array): Uint8Array {
  const tensor = (name: string, dims: number[], data: Float32Array) => ({ name, dims, dataType: 1, rawData: new Uint8Array(Float32Array.from(data).buffer) });
  const io = (name: string, dims: number[]) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
  return onnxProto.onnx.ModelProto.encode({
    irVersion: 8, opsetImport: [{ domain: '', version: 17 }], producerName: 'ort-output-probe',
    graph: {
      name: 'two layers',
      node: [
        { opType: 'MatMul', input: ['x', 'W1'], output: ['h'] }, { opType: 'Relu', input: ['h'], output: ['r'] },
        { opType: 'MatMul', input: ['r', 'W2'], output: ['z'] }, { opType: 'Add', input: ['z', 'b'], output: ['y'] },
      ],
      initializer: [tensor('W1', [kIn, kHidden], w1), tensor('W2', [kHidden, kOut], w2), tensor('b', [kOut], new Float32Array(kOut).fill(0.1))],
      input: [io('x', [1, kIn])], output: [io('y', [1, kOut])],
    },
  }).finish();
}

export const tests: Record<string, BrowserTest> = {
  async 'the output-error probe feeds the weights in onnxruntime-web: the error of the re-encoded model, no session from the weights\' bytes'() {
    ort.env.wasm.wasmPaths = '/node_modules/onnxruntime-web/dist/';
    ort.env.wasm.numThreads = 1; // no cross-origin isolation in the test page
    const w1 = seededNormal(kIn * kHidden, RUN_SEED + 3, 0.3);
    const w2 = seededNormal(kHidden * kOut, RUN_SEED + 4, 0.3);
    const bytes = twoLayers(w1, w2);
    const inputs: Sample[] = [5, 6, 7].map((k) => ({ x: { dtype: 'float32', dims: [1, kIn], data: seededNormal(kIn, RUN_SEED + k) } }));
    const sizes: number[] = [];
    const whole = bytes.byteLength - (kHidden * kOut * 4) / 2; // a model at least this long holds W2's bytes
    const counting = { Tensor: ort.Tensor, InferenceSession: { create: (m: Uint8Array, o?: object) => { sizes.push(m.byteLength); return ort.InferenceSession.create(m, o); } } };
    const refusing = { Tensor: ort.Tensor, InferenceSession: { create: (m: Uint8Array, o?: object) => (m.byteLength < whole ? Promise.reject(new Error('weights must be initializers')) : ort.InferenceSession.create(m, o)) } };
    const fed = await outputErrorProbe(bytes, { runtime: counting as unknown as OnnxRuntimeLike, inputs });
    const reencoded = await outputErrorProbe(bytes, { runtime: refusing as unknown as OnnxRuntimeLike, inputs });
    const lines: string[] = [];
    for (const [name, w, step] of [['W1', w1, 0.1], ['W2', w2, 0.05]] as const) {
      const noisy = w.map((v, i) => v + (i % 3 === 0 ? step * Math.sin(i) : 0));
      const [a, b] = [await fed(name, noisy), await reencoded(name, noisy)];
      if (!(b > 1e-6 && Math.abs(a - b) <= 1e-4 * b)) throw new Error(`seed ${RUN_SEED}, ${name}: fed ${a}, re-encoded ${b}`);
      if (await fed(name, w) !== 0) throw new Error(`${name} as it is: not 0`);
      lines.push(`${name} ${a.toExponential(3)}`);
    }
    // The check (the model as given, once: it is small) and nothing else from the weights' bytes.
    if (sizes.filter((s) => s >= whole).length !== 1 || sizes.length !== 6) throw new Error(`sessions from models of ${sizes.join(', ')} bytes`);
    return `onnxruntime-web ${ort.env.versions.web} wasm: ${lines.join(', ')} (fed = re-encoded within 1e-4)`;
  },
};
