// Silero VAD (legacy) compressed and run in onnxruntime-node on eight deterministic 16 kHz signals: a
// harmonic speech-like signal, two formant-filtered pulse trains (a low and a high voice) with pauses, white
// and brown noise, silence, voice mixed with white noise and voice mixed with a chord. The metric is first
// shown able to fail on a deliberately damaged model.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { compressOnnx } from '../../src/compress/compress-onnx.js';
import { editWeights } from './model-edit.js';
import { VAD_MODEL_PATH, vadAgreement, vadProbabilities, vadSignals } from './vad-harness.js';

describe('Silero VAD on several signals', () => {
  const original = readFileSync(VAD_MODEL_PATH);
  const signals = vadSignals();
  let reference: Record<string, Float32Array>;
  beforeAll(async () => {
    reference = await vadProbabilities(original, signals);
  });

  it('the signals exercise both decisions: speech in the voices, none in noise or silence', () => {
    const speech = Object.fromEntries(Object.entries(reference).map(([name, p]) => [name, p.filter((x) => x > 0.5).length / p.length]));
    console.log('VAD original, fraction of windows above 0.5:', speech);
    for (const name of ['speech-like (harmonics)', 'speech-like (formants, low voice)', 'speech-like (formants, high voice)', 'speech + white noise']) {
      expect(speech[name], name).toBeGreaterThan(0.3);
    }
    for (const name of ['white noise', 'brown noise', 'silence']) expect(speech[name], name).toBe(0);
  });

  it('the metric notices a damaged model (the first pointwise convolution x 1.1)', async () => {
    const damaged = editWeights(original, /^model\.first_layer\.0\.pw_conv\.0\.weight$/, (w) => w.map((v) => v * 1.1));
    const result = await vadAgreement(reference, damaged, signals);
    console.log('VAD with one weight x 1.1:', result.maxAbs.toFixed(4), 'correlation', result.correlation.toFixed(5));
    expect(result.maxAbs).toBeGreaterThan(0.05);
  });

  it('int8 per channel (the default): |Δp| <= 0.05 on speech, noise, silence and speech + noise (measured <= 0.039)', async () => {
    const { model } = await compressOnnx(original, {}, { backend: 'cpu' });
    const result = await vadAgreement(reference, model, signals);
    console.log('VAD int8 per channel:', Object.fromEntries(Object.entries(result.signals).map(([k, v]) => [k, v.maxAbs.toFixed(4)])),
      `correlation ${result.correlation.toFixed(5)}, file ${(model.length / original.length).toFixed(3)} of the original`);
    for (const name of Object.keys(signals).filter((n) => n !== 'speech + music')) {
      expect(result.signals[name]!.maxAbs, name).toBeLessThanOrEqual(0.05);
    }
  });

  // Voice over a chord is the sensitive case: the original stays below 0.5 (0.0 to 0.43) and any rounding of
  // the 16 kHz STFT basis lifts it (int8: up to 0.78; even 16-bit weights: 0.13). With that one tensor kept
  // in float, every other weight at int8 per channel (the 8 kHz branch's first layer included) stays close on
  // every signal.
  it('int8 per channel, the 16 kHz STFT basis kept in float: every signal within 0.05, correlation >= 0.9995 (measured 0.0175, 0.99995)', async () => {
    const { model } = await compressOnnx(original, { firstLayer: 'quantize', exclude: /^model\.feature_extractor\.forward_basis_buffer$/ }, { backend: 'cpu' });
    const result = await vadAgreement(reference, model, signals);
    console.log(`VAD int8, STFT basis in float: max |Δp| ${result.maxAbs.toFixed(4)}, correlation ${result.correlation.toFixed(5)}, `
      + `file ${(model.length / original.length).toFixed(3)} of the original`);
    expect(result.maxAbs).toBeLessThanOrEqual(0.05);
    expect(result.correlation).toBeGreaterThanOrEqual(0.9995);
    expect(model.length / original.length).toBeLessThan(0.45);
  });
});
