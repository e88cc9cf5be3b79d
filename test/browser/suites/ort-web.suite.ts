// The bundled default model compressed in the page on the GPU, checked two ways: its quantized weights
// equal the CPU path's bit for bit, and onnxruntime-web (wasm EP, served locally) runs the compressed
// model within the int8 bound of the original over the synthetic VAD signal.
import * as ort from 'onnxruntime-web';
import { AUTO_GPU_MIN_ELEMENTS, OnnxModel, autoCrossover, compressOnnx, readQdqWeights, verifyModels } from './imports.js';
import { VAD_WINDOW, compareProbabilities, syntheticSignal } from '../../shared/vad-signal.js';
import { type BrowserTest, expectExact, expectPoolEmpty } from './support.js';

const kModelUrl = '/node_modules/@ricky0123/vad-web/dist/silero_vad_legacy.onnx';

async function speechProbabilities(model: Uint8Array, signal: Float32Array[]): Promise<Float32Array> {
  ort.env.wasm.wasmPaths = '/node_modules/onnxruntime-web/dist/';
  ort.env.wasm.numThreads = 1; // no cross-origin isolation in the test page
  const session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'] });
  let h = new ort.Tensor('float32', new Float32Array(128), [2, 1, 64]);
  let c = new ort.Tensor('float32', new Float32Array(128), [2, 1, 64]);
  const sr = new ort.Tensor('int64', BigInt64Array.of(16000n), []);
  const out = new Float32Array(signal.length);
  for (const [w, x] of signal.entries()) {
    const result = await session.run({ input: new ort.Tensor('float32', x, [1, VAD_WINDOW]), sr, h, c });
    out[w] = (result.output!.data as Float32Array)[0]!;
    h = result.hn as typeof h;
    c = result.cn as typeof c;
  }
  await session.release();
  return out;
}

export const tests: Record<string, BrowserTest> = {
  async 'the default model compressed on the GPU has the CPU path\'s exact weights and runs in onnxruntime-web'() {
    const response = await fetch(kModelUrl);
    if (!response.ok) throw new Error(`default model fetch failed: ${response.status}`);
    const original = new Uint8Array(await response.arrayBuffer());
    const gpu = await compressOnnx(original, { dtype: 'qint8' }, { backend: 'webgpu' });
    const cpu = await compressOnnx(original, { dtype: 'qint8' }, { backend: 'cpu' });
    if (gpu.report.backend !== 'webgpu' || cpu.report.backend !== 'cpu') throw new Error(`backends ${gpu.report.backend}, ${cpu.report.backend}`);
    const gpuWeights = await readQdqWeights(await OnnxModel.load(gpu.model));
    const cpuWeights = await readQdqWeights(await OnnxModel.load(cpu.model));
    // 36 weights of >= 1024 elements, less the two STFT bases (the first layer, kept float).
    if (gpuWeights.size !== 34 || cpuWeights.size !== 34) throw new Error(`quantized weights: ${gpuWeights.size} GPU, ${cpuWeights.size} CPU`);
    for (const [name, q] of gpuWeights) {
      const other = cpuWeights.get(name)!;
      expectExact(q.intRepr(), other.intReprView(), `${name} integers`);
      expectExact(q.qscheme() === 'per_tensor_affine' ? [q.qScale()] : q.qPerChannelScales(),
        other.qscheme() === 'per_tensor_affine' ? [other.qScale()] : other.qPerChannelScales(), `${name} scales`);
    }
    const quantized = (r: typeof gpu.report) => r.tensors.filter((t) => t.action === 'quantize');
    const onCpu = quantized(gpu.report).filter((t) => t.backend !== 'webgpu').map((t) => t.name);
    if (onCpu.length) throw new Error(`backend 'webgpu' ran ${onCpu.join(', ')} elsewhere`);
    // 'auto': weights under the measured crossover on the CPU, the rest on the GPU, the same bytes as the CPU path.
    const crossover = await autoCrossover();
    if (!(crossover >= AUTO_GPU_MIN_ELEMENTS)) throw new Error(`the measured crossover is ${crossover}, below ${AUTO_GPU_MIN_ELEMENTS}`);
    const started = performance.now();
    if (await autoCrossover() !== crossover || performance.now() - started > 50) throw new Error('the crossover is not kept per device');
    console.log(`'auto' crossover on this adapter: ${crossover} elements`);
    const auto = await compressOnnx(original, { dtype: 'qint8' }, { backend: 'auto' });
    const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
    const misplaced = quantized(auto.report).filter((t) => t.backend !== (size(t.shape) < crossover ? 'cpu' : 'webgpu'));
    if (misplaced.length) throw new Error(`'auto' placed ${misplaced.map((t) => `${t.name} (${size(t.shape)}) on ${t.backend}`).join(', ')}`);
    const onGpu = quantized(auto.report).filter((t) => t.backend === 'webgpu').length;
    const largest = Math.max(...quantized(auto.report).map((t) => size(t.shape)));
    if ((onGpu > 0) !== (largest >= crossover) || auto.report.backend !== (onGpu > 0 ? 'webgpu' : 'cpu')) {
      throw new Error(`'auto' used the GPU for ${onGpu} weights (crossover ${crossover}), report backend ${auto.report.backend}`);
    }
    if (!auto.model.every((b, i) => b === cpu.model[i]) || auto.model.length !== cpu.model.length) {
      // The model bytes carry no backend: 'auto' must write exactly what the CPU path writes.
      throw new Error("'auto' model bytes differ from the CPU path's");
    }
    const signal = syntheticSignal();
    const reference = await speechProbabilities(original, signal);
    const diff = compareProbabilities(reference, await speechProbabilities(gpu.model, signal));
    // Same bound as the onnxruntime-node test (measured 0.0073 there).
    if (!(diff.maxAbs <= 0.04) || diff.flips !== 0) throw new Error(`int8 model moved probabilities by ${JSON.stringify(diff)}`);
    await expectPoolEmpty();
    return `onnxruntime-web ${ort.env.versions.web}: max |Δp| ${diff.maxAbs.toFixed(4)}, mean ${diff.meanAbs.toFixed(4)}, no decision flipped; `
      + `'auto' ran ${onGpu} of ${quantized(auto.report).length} weights on the GPU`;
  },

  async 'verifyModels runs in the page with onnxruntime-web (wasm): int8 passes, the original against itself differs by 0'() {
    const response = await fetch(kModelUrl);
    if (!response.ok) throw new Error(`default model fetch failed: ${response.status}`);
    const original = new Uint8Array(await response.arrayBuffer());
    ort.env.wasm.wasmPaths = '/node_modules/onnxruntime-web/dist/';
    ort.env.wasm.numThreads = 1;
    const options = { runtime: ort, sessionOptions: { executionProviders: ['wasm'] } };
    const same = await verifyModels(original, original, options);
    if (!same.passed || same.outputs.some((o) => o.maxAbsDiff !== 0)) throw new Error(`original vs itself: ${JSON.stringify(same.outputs)}`);
    const { model } = await compressOnnx(original, { dtype: 'qint8' }, { backend: 'cpu' });
    const report = await verifyModels(original, model, options);
    if (!report.passed || report.samples !== 3) throw new Error(`int8: ${report.failures.join('; ')}`);
    return `int8 per channel: ${report.outputs.map((o) => `${o.name} cosine ${o.cosine.toFixed(5)}`).join(', ')}`;
  },
};
