// The size budget's data-driven pieces: the ONNX output error probe (onnxruntime-node) and the output-layer
// detection, on a small two-layer model built here (MatMul → Relu → MatMul → Add → Softmax) and on Silero
// VAD, whose 8 kHz branch a 16 kHz input never runs.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { compressOnnx } from '../../src/compress/compress-onnx.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { outputLayerWeights } from '../../src/io/onnx/output-layer.js';
import type { GraphProto } from '../../src/io/onnx/proto.js';
import { outputErrorProbe } from '../../src/verify/output-error-probe.js';
import type { OnnxRuntimeLike, Sample } from '../../src/verify/runtime.js';
import { VAD_WINDOW, syntheticSignal } from '../shared/vad-signal.js';
import { RUN_SEED, rng } from './support.js';

const { onnx } = onnxProto;
const runtime = ort as unknown as OnnxRuntimeLike;
const cpu = { backend: 'cpu' } as const;
const kVadPath = createRequire(import.meta.url).resolve('@ricky0123/vad-web/dist/silero_vad_legacy.onnx');

/** x [1, 64] → MatMul W1 [64, 128] → Relu → MatMul W2 [128, 32] → Add b → Softmax → y. */
function twoLayerModel(next: () => number): { bytes: Uint8Array; w1: Float32Array; w2: Float32Array } {
  const w1 = Float32Array.from({ length: 64 * 128 }, () => (next() - 0.5) / 4);
  const w2 = Float32Array.from({ length: 128 * 32 }, () => (next() - 0.5) / 4);
  const tensor = (name: string, dims: number[], data: Float32Array) => ({ name, dims, dataType: 1, rawData: new Uint8Array(data.buffer) });
  const info = (name: string, dims: number[]) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
  const graph = {
    name: 'two layers',
    node: [
      { opType: 'MatMul', input: ['x', 'W1'], output: ['h'] }, { opType: 'Relu', input: ['h'], output: ['r'] },
      { opType: 'MatMul', input: ['r', 'W2'], output: ['z'] }, { opType: 'Add', input: ['z', 'b'], output: ['logits'] },
      { opType: 'Softmax', input: ['logits'], output: ['y'], attribute: [{ name: 'axis', type: 2, i: -1 }] },
    ],
    initializer: [tensor('W1', [64, 128], w1), tensor('W2', [128, 32], w2), tensor('b', [32], new Float32Array(32).fill(0.1))],
    input: [info('x', [1, 64])],
    output: [info('y', [1, 32])],
  };
  const bytes = onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph })).finish();
  return { bytes, w1, w2 };
}

describe('size budget from the outputs', () => {
  const next = rng(RUN_SEED);
  const { bytes, w1, w2 } = twoLayerModel(next);
  const samples: Sample[] = [1, 2, 3].map(() => ({ x: { dtype: 'float32', dims: [1, 64], data: Float32Array.from({ length: 64 }, () => 4 * (next() - 0.5)) } }));

  it('finds the output layer: the weight whose result reaches an output through no other weighted operator', () => {
    const graph = onnx.ModelProto.decode(bytes).graph as GraphProto;
    expect([...outputLayerWeights(graph)]).toEqual(['W2']);
  });

  it('the probe: 0 for the weights as they are, growing with the damage, the same weight unchanged after', async () => {
    const probe = await outputErrorProbe(bytes, { runtime, inputs: samples });
    expect(await probe('W2', w2)).toBe(0);
    const small = await probe('W2', w2.map((v, i) => v + (i % 7 === 0 ? 0.01 : 0)));
    const large = await probe('W2', w2.map((v, i) => v + (i % 7 === 0 ? 0.1 : 0)));
    expect(small).toBeGreaterThan(0);
    expect(large).toBeGreaterThan(10 * small);
    expect(await probe('W1', w1)).toBe(0); // the replaced weight went back: nothing else changed
    expect(await probe('W1', w1.map((v) => -v))).toBeGreaterThan(1e-3);
  });

  it("the caller's measure: given every sample's outputs, by name, with dims", async () => {
    const seen: string[] = [];
    const probe = await outputErrorProbe(bytes, { runtime, inputs: samples, measure: (reference, outputs) => {
      seen.push(`${reference.length} ${outputs.length} ${Object.keys(outputs[0]!).join()} [${outputs[0]!.y!.dims.join(', ')}]`);
      // The largest change of any probability.
      return Math.max(...outputs.flatMap((o, k) => Array.from(o.y!.data, (v, i) => Math.abs(v - reference[k]!.y!.data[i]!))));
    } });
    expect(await probe('W2', w2)).toBe(0);
    const moved = await probe('W2', w2.map((v, i) => v + (i % 7 === 0 ? 0.1 : 0)));
    expect(moved).toBeGreaterThan(1e-4);
    expect(moved).toBeLessThan(1);
    expect(seen).toEqual(['3 3 y [1, 32]', '3 3 y [1, 32]']);
    await expect(outputErrorProbe(bytes, { runtime, inputs: samples, measure: 'mse' as never })).rejects.toThrow(/measure must be a function/);
  });

  it('refuses inputs that do not fit the model, an empty list, and values of the wrong length', async () => {
    const wrong: Sample = { x: { dtype: 'float32', dims: [1, 63], data: new Float32Array(63) } };
    await expect(outputErrorProbe(bytes, { runtime, inputs: [wrong] })).rejects.toThrow(InvalidArgumentError);
    await expect(outputErrorProbe(bytes, { runtime, inputs: [] })).rejects.toThrow(/inputs is empty/);
    const probe = await outputErrorProbe(bytes, { runtime, inputs: samples });
    await expect(probe('W2', new Float32Array(5))).rejects.toThrow(/weight "W2" has 4096 elements, values 5/);
  });

  it('compressOnnx with targetBits and the probe: sensitivities measured, the output layer at int4 groups of 32 or better', async () => {
    const probe = await outputErrorProbe(bytes, { runtime, inputs: samples });
    const { report } = await compressOnnx(bytes, { targetBits: 5, outputError: probe }, cpu);
    const budget = report.budget!;
    expect(budget).toMatchObject({ errorSource: 'outputs', probeRuns: 2 });
    expect(budget.bits).toBeLessThanOrEqual(5);
    const byName = Object.fromEntries(budget.tensors.map((t) => [t.name, t]));
    expect(byName.W1!.sensitivity).toBeGreaterThan(0);
    expect(byName.W2!.sensitivity).toBeGreaterThan(0);
    expect(['int4 groups of 32', 'int8 per channel', 'keep']).toContain(byName.W2!.chosen);
    await expect(compressOnnx(bytes, { targetBits: 5, outputError: 'probe' as never }, cpu)).rejects.toThrow(/outputError must be a function/);
  });

  it('on Silero VAD with 16 kHz inputs: the 8 kHz branch measures 0, the first layer joins the budget', async () => {
    const original = new Uint8Array(readFileSync(kVadPath));
    const windows = syntheticSignal().slice(8, 12);
    const inputs: Sample[] = windows.map((x) => ({
      input: { dtype: 'float32', dims: [1, VAD_WINDOW], data: x }, sr: { dtype: 'int64', dims: [], data: BigInt64Array.of(16000n) },
      h: { dtype: 'float32', dims: [2, 1, 64], data: new Float32Array(128) }, c: { dtype: 'float32', dims: [2, 1, 64], data: new Float32Array(128) },
    }));
    const probe = await outputErrorProbe(original, { runtime, inputs });
    const { report } = await compressOnnx(original, { targetBits: 5, outputError: probe }, cpu);
    const tensors = report.budget!.tensors;
    const basis16k = tensors.find((t) => t.name === 'model.feature_extractor.forward_basis_buffer')!;
    const basis8k = tensors.find((t) => t.name === 'model_8k.feature_extractor.forward_basis_buffer')!;
    expect(basis16k.sensitivity).toBeGreaterThan(0.1); // the first layer, measured, inside the budget (measured 0.66)
    expect(basis8k.sensitivity).toBe(0);
    expect(basis8k.bits).toBe(Math.min(...basis8k.options.map((o) => o.bits)));
    expect(tensors.filter((t) => t.name.startsWith('model_8k.')).every((t) => t.sensitivity === 0)).toBe(true);
  }, 120_000);
});
