// The compressed default model (Silero VAD legacy, from @ricky0123/vad-web) run by a real runtime
// (onnxruntime-node, CPU) against the original on the same deterministic 16 kHz signal: harmonic "voiced"
// segments with a gliding pitch and a 4 Hz syllable envelope, then noise-only segments, seeded noise over
// all of it, 48 windows of 512 samples with the LSTM state (h, c) carried from window to window.
// Bounds are the measured differences plus a margin; a deliberately broken model (every DequantizeLinear
// scale × 2, and × 1.05) must fail the int8 bound, so the check is shown to be able to fail.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CompressOnnxOptions, compressOnnx } from '../../src/compress/compress-onnx.js';
import { VAD_WINDOW as kWindow, compareProbabilities as compare, syntheticSignal } from '../shared/vad-signal.js';

const { onnx } = onnxProto;
const kModelPath = createRequire(import.meta.url).resolve('@ricky0123/vad-web/dist/silero_vad_legacy.onnx');
const cpu = { backend: 'cpu' } as const;

/** Speech probabilities of `model` over the signal, state carried. */
async function speechProbabilities(model: string | Uint8Array, signal: Float32Array[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(model as Uint8Array);
  let h = new ort.Tensor('float32', new Float32Array(2 * 64), [2, 1, 64]);
  let c = new ort.Tensor('float32', new Float32Array(2 * 64), [2, 1, 64]);
  const sr = new ort.Tensor('int64', BigInt64Array.of(16000n), []);
  const out = new Float32Array(signal.length);
  for (const [w, x] of signal.entries()) {
    const result = await session.run({ input: new ort.Tensor('float32', x, [1, kWindow]), sr, h, c });
    out[w] = (result.output!.data as Float32Array)[0]!;
    h = result.hn as typeof h;
    c = result.cn as typeof c;
  }
  await session.release();
  return out;
}

/** Multiplies every float32 DequantizeLinear scale of a QDQ model by `factor` (in every subgraph). */
function scaleEveryScale(model: Uint8Array, factor: number): Uint8Array {
  const proto = onnx.ModelProto.decode(model);
  let changed = 0;
  const visit = (graph: onnxProto.onnx.IGraphProto): void => {
    const scaleNames = new Set(graph.node!.filter((n) => n.opType === 'DequantizeLinear').map((n) => n.input![1]!));
    for (const t of graph.initializer as onnxProto.onnx.TensorProto[]) {
      if (!scaleNames.has(t.name) || t.dataType !== 1) continue;
      const from = new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength);
      const raw = new Uint8Array(t.rawData.byteLength);
      const to = new DataView(raw.buffer);
      for (let i = 0; i < raw.byteLength; i += 4) to.setFloat32(i, from.getFloat32(i, true) * factor, true);
      t.rawData = raw;
      changed++;
    }
    for (const node of graph.node!) for (const a of node.attribute!) if (a.g) visit(a.g);
  };
  visit(proto.graph!);
  expect(changed, 'scales rewritten').toBe(34); // 36 weights of >= 1024 elements, less the two STFT bases (the first layer)
  return onnx.ModelProto.encode(proto).finish();
}

describe('compressed Silero VAD in onnxruntime-node', () => {
  const signal = syntheticSignal();
  const original = readFileSync(kModelPath);
  let reference: Float32Array;
  const compressed = new Map<string, Uint8Array>();
  const variants: Record<string, CompressOnnxOptions> = {
    int8: {},
    int4: { dtype: 'qint4', granularity: 'group', groupSize: 32 },
    mixed: { dtype: 'qint4', granularity: 'group', overrides: [{ pattern: /feature_extractor/, dtype: 'qint8', granularity: 'channel' }] },
  };

  beforeAll(async () => {
    reference = await speechProbabilities(kModelPath, signal);
    for (const [name, options] of Object.entries(variants)) compressed.set(name, (await compressOnnx(original, options, cpu)).model);
  });

  it('the signal exercises both decisions (otherwise "no flips" would say nothing)', () => {
    const speech = reference.filter((p) => p > 0.5).length;
    expect(speech).toBeGreaterThan(10);
    expect(reference.length - speech).toBeGreaterThan(5);
  });

  it('int8 per-channel symmetric (narrow range, first layer float): probabilities within 0.04 (measured 0.0073), no decision flipped', async () => {
    const diff = compare(reference, await speechProbabilities(compressed.get('int8')!, signal));
    console.log('int8 per channel vs original:', diff);
    expect(diff.maxAbs).toBeLessThan(0.04);
    expect(diff.maxAbs).toBeGreaterThan(0); // the weights did change
    expect(diff.flips).toBe(0);
  });

  it('a broken quantization (scales x 2, and x 1.05) fails the int8 bound', async () => {
    const doubled = compare(reference, await speechProbabilities(scaleEveryScale(compressed.get('int8')!, 2), signal));
    const offBy5 = compare(reference, await speechProbabilities(scaleEveryScale(compressed.get('int8')!, 1.05), signal));
    console.log('scales x 2:', doubled, 'scales x 1.05:', offBy5);
    expect(doubled.maxAbs).toBeGreaterThan(0.04); // measured 0.840
    expect(doubled.flips).toBeGreaterThan(0);
    expect(offBy5.maxAbs).toBeGreaterThan(0.04); // measured 0.115
  });

  it('int4 per-group (32, Q4_0-style range, first layer float) loads at opset 21 and stays within 0.25 (measured 0.175)', async () => {
    const diff = compare(reference, await speechProbabilities(compressed.get('int4')!, signal));
    console.log('int4 per group vs original:', diff);
    expect(diff.maxAbs).toBeLessThan(0.25);
    expect(diff.meanAbs).toBeLessThan(0.07); // measured 0.044
    expect(diff.maxAbs).toBeGreaterThan(0.04); // 4-bit is visibly coarser than 8-bit here
  });

  it('int4 per-group with the STFT basis at int8 (an override) stays within 0.25 (measured 0.166)', async () => {
    const diff = compare(reference, await speechProbabilities(compressed.get('mixed')!, signal));
    console.log('int4 + int8 feature extractor vs original:', diff);
    expect(diff.maxAbs).toBeLessThan(0.25);
    expect(diff.meanAbs).toBeLessThan(0.06); // measured 0.045
  });

  it('compresses the default model on the CPU in bounded time (5 runs)', async () => {
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const { report } = await compressOnnx(original, {}, cpu);
      times.push(report.seconds);
    }
    times.sort((a, b) => a - b);
    console.log(`compressOnnx(silero_vad_legacy.onnx, int8 per channel, cpu): median ${(times[2]! * 1000).toFixed(0)} ms, `
      + `min ${(times[0]! * 1000).toFixed(0)} ms, max ${(times[4]! * 1000).toFixed(0)} ms`);
    expect(times[2]).toBeLessThan(10);
  });
});
