// Silero VAD (legacy) compressed and run in onnxruntime-node on eight deterministic 16 kHz signals: a
// harmonic speech-like signal, two formant-filtered pulse trains (a low and a high voice) with pauses, white
// and brown noise, silence, voice mixed with white noise and voice mixed with a chord. The metric is first
// shown able to fail on a deliberately damaged model; then the compressor's targets, each scheme compressed
// once (compressOnnx, CPU backend); the file prints a results table (size, end task, verification) at the end.
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import type { OnnxCompressionReport } from '../../src/compress/compress-onnx.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compressedOnce } from './compressed-once.js';
import { editWeights } from './model-edit.js';
import { ResultsTable, sampleOf, verifyOn } from './results-table.js';
import { pooledWeightMse } from './weight-error.js';
import { VAD_MODEL_PATH, type VadAgreement, vadAgreement, vadCalibrationSamples, vadProbabilities, vadSignals } from './vad-harness.js';
import { outputErrorProbe } from '../../src/verify/output-error-probe.js';
import type { OnnxRuntimeLike } from '../../src/verify/runtime.js';

const table = new ResultsTable();
afterAll(() => table.print());

describe('Silero VAD on several signals', () => {
  const original = readFileSync(VAD_MODEL_PATH);
  const signals = vadSignals();
  let reference: Record<string, Float32Array>;
  beforeAll(async () => {
    reference = await vadProbabilities(original, signals);
  });

  /** Four windows of the low voice, each from a zero state at 16 kHz: the verification samples. */
  const verifySamples = () => signals['speech-like (formants, low voice)']!.slice(20, 24).map((x) => sampleOf({
    input: new ort.Tensor('float32', x, [1, x.length]),
    sr: new ort.Tensor('int64', BigInt64Array.of(16000n), []),
    h: new ort.Tensor('float32', new Float32Array(128), [2, 1, 64]),
    c: new ort.Tensor('float32', new Float32Array(128), [2, 1, 64]),
  }));

  /** Runs every signal with `scheme`, compares with the original, and adds the row. */
  async function measure(scheme: string, policy: object): Promise<{ result: VadAgreement; size: number; report: OnnxCompressionReport }> {
    const { model, report } = await compressedOnce(original, scheme, policy);
    const result = await vadAgreement(reference, model, signals);
    const size = model.length / original.length;
    console.log(`VAD ${scheme}: max |Δp| ${result.maxAbs.toFixed(4)}, correlation ${result.correlation.toFixed(5)}, ${result.flips} flips, `
      + `file ${size.toFixed(3)} of the original, ${report.totals.tensorsEscalated} escalated; per signal:`,
    Object.fromEntries(Object.entries(result.signals).map(([k, v]) => [k, v.maxAbs.toFixed(4)])));
    table.add({ model: 'Silero VAD', scheme, size, verify: await verifyOn(original, model, verifySamples()),
      endTask: `max \\|Δp\\| ${result.maxAbs.toFixed(3)}, corr ${result.correlation.toFixed(5)}, ${result.flips} flips` });
    return { result, size, report };
  }

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

  // Voice over a chord is the sensitive case: the original stays below 0.5 and any rounding of the STFT
  // basis lifts it (docs/quality.md). The default keeps that first layer float, so the file is about half
  // the original (the two bases are 0.53 MB of float32) and every signal stays close.
  it('int8 per channel (the default): |Δp| <= 0.05 on all 8 signals, correlation >= 0.9995 (measured 0.0186, 0.99993)', async () => {
    const { result, size } = await measure('int8 per channel (default)', {});
    for (const name of Object.keys(signals)) expect(result.signals[name]!.maxAbs, name).toBeLessThanOrEqual(0.05);
    expect(result.correlation).toBeGreaterThanOrEqual(0.9995);
    expect(size).toBeLessThanOrEqual(0.53);
  });

  // With only the 16 kHz STFT basis kept float and every other weight at int8 per channel (the 8 kHz
  // branch's first layer included), every signal stays close and the file is smaller.
  it('int8 per channel, only the 16 kHz STFT basis float: every signal within 0.05, correlation >= 0.9995, file < 0.45', async () => {
    const { result, size } = await measure('int8 per channel, only the 16 kHz STFT basis float',
      { firstLayer: 'quantize', exclude: /^model\.feature_extractor\.forward_basis_buffer$/ });
    expect(result.maxAbs).toBeLessThanOrEqual(0.05);
    expect(result.correlation).toBeGreaterThanOrEqual(0.9995);
    expect(size).toBeLessThan(0.45);
  });

  // int4 everywhere moves the probabilities by up to 0.2 and flips decisions (measured max |Δp| 0.196,
  // 18 flips, correlation 0.9936); no weight falls below the 4-bit floor (15 dB), so none is escalated.
  // Asserted at the level that holds.
  it('int4 groups of 32: max |Δp| <= 0.25, correlation >= 0.99 (measured 0.196, 0.9936), file <= 0.45', async () => {
    const { result, size } = await measure('int4 groups of 32', { dtype: 'qint4', granularity: 'group', groupSize: 32 });
    expect(result.maxAbs).toBeLessThanOrEqual(0.25);
    expect(result.correlation).toBeGreaterThanOrEqual(0.99);
    expect(size).toBeLessThanOrEqual(0.45);
  });

  // A size budget of 5 bits per weight, allocated from the weights alone: the targets were max |Δp| <= 0.08
  // and file <= 0.25. The first layer stays float outside the budget (docs/quality.md), so the file cannot
  // go below about 0.44, and the allocator cannot know that half of the weights (the 8 kHz branch) never
  // run on 16 kHz audio. Measured: 4.992 bits, max |Δp| 0.169 (17 flips), file 0.440. Asserted at that level.
  it('--target-bits 5: within the budget; max |Δp| <= 0.2, file <= 0.45 (measured 0.169, 0.440; targets 0.08 and 0.25 not met)', async () => {
    const { result, size, report } = await measure('target bits 5', { targetBits: 5 });
    console.log(`VAD target bits 5: ${report.budget!.bits.toFixed(3)} bits per weight`);
    expect(report.budget!.bits).toBeLessThanOrEqual(5);
    expect(result.maxAbs).toBeLessThanOrEqual(0.2);
    expect(size).toBeLessThanOrEqual(0.45);
  });

  // The same budget from the outputs: sensitivities measured in onnxruntime on 15 windows of three other
  // signals (another voice, a voice over another chord, noise), each with the LSTM state the original
  // carries into it. The 8 kHz branch measures 0 and gets the cheapest options, and the first layer joins
  // the budget: file 0.193, within the 0.25 target. But the 16 kHz STFT basis cannot be quantized without
  // moving the voice over a chord (int8 per channel alone: 0.26, docs/quality.md), and kept float it is
  // 15 % of the weights at 32 bits, more than a 5-bit average leaves: measured max |Δp| 0.73 (voice over a
  // chord). With the first layer kept float outside the budget: max |Δp| 0.144 (from the weights alone
  // 0.169), file 0.439. Both targets together are out of reach at 5 bits; asserted at the measured levels.
  const fromOutputs = async (policy: object) => {
    const inputs = (await vadCalibrationSamples(original)).map((s) => sampleOf(s));
    return { targetBits: 5, ...policy, outputError: await outputErrorProbe(original, { runtime: ort as unknown as OnnxRuntimeLike, inputs }) };
  };

  it('--target-bits 5 --inputs: first layer in the budget, file <= 0.25 (measured 0.193; max |Δp| 0.73, the 0.08 target not met)', async () => {
    const { result, size, report } = await measure('target bits 5, from the outputs', await fromOutputs({}));
    const budget = report.budget!;
    console.log(`VAD target bits 5 from the outputs: ${budget.bits.toFixed(3)} bits per weight, ${budget.probeRuns} runs in ${budget.probeSeconds.toFixed(1)} s`);
    expect(budget).toMatchObject({ errorSource: 'outputs', probeRuns: 36 });
    expect(budget.bits).toBeLessThanOrEqual(5);
    expect(size).toBeLessThanOrEqual(0.25);
    expect(budget.tensors.filter((t) => t.name.startsWith('model_8k.')).every((t) => t.sensitivity === 0)).toBe(true);
    expect(budget.tensors.find((t) => t.name === 'model.feature_extractor.forward_basis_buffer')!.sensitivity).toBeGreaterThan(10);
    expect(result.maxAbs).toBeLessThanOrEqual(0.8);
  });

  it('--target-bits 5 --inputs --first-layer keep: max |Δp| <= 0.16, below the weights-only 0.169 (measured 0.144, file 0.439)', async () => {
    const { result, size, report } = await measure('target bits 5, from the outputs, first layer float', await fromOutputs({ firstLayer: 'keep' }));
    expect(report.budget!.bits).toBeLessThanOrEqual(5);
    expect(result.maxAbs).toBeLessThanOrEqual(0.16);
    expect(size).toBeLessThanOrEqual(0.45);
  });

  // 'lsq' against the default 'minmax' (Q4_0's rule: scale = |signed extreme| / 8) on the same weights, int4
  // groups of 32: the target is a weight MSE at least 15 % below 'minmax' and end-task metrics no worse. 'lsq'
  // searches each group's scale and zero point over the full int4 range, Q4_0's parameters among the
  // candidates, a shifted zero point kept only where it clearly pays (docs/calibration.md). Measured: weight
  // MSE -25.3 %, max |Δp| 0.170 (minmax 0.196), correlation 0.99704 (0.99355), 17 flips (18).
  it("int4 groups of 32, calibrate 'lsq': weight MSE >= 15 % below 'minmax', max |Δp| and correlation no worse (measured -25.3 %, 0.170, 0.99704)", async () => {
    const int4g32 = { dtype: 'qint4', granularity: 'group', groupSize: 32 } as const;
    const { model: minmaxModel, report: minmaxReport } = await compressedOnce(original, 'int4 groups of 32', int4g32);
    const minmaxResult = await vadAgreement(reference, minmaxModel, signals);
    const minmax = pooledWeightMse(minmaxReport.tensors);
    const { result, report } = await measure("int4 groups of 32, 'lsq'", { ...int4g32, calibrate: 'lsq' });
    const lsq = pooledWeightMse(report.tensors);
    console.log(`VAD int4 g32 weight MSE: minmax ${minmax.mse.toExponential(4)}, lsq ${lsq.mse.toExponential(4)} `
      + `(${(100 * (lsq.mse / minmax.mse - 1)).toFixed(1)} %) over ${lsq.names.length} weights; max |Δp| ${minmaxResult.maxAbs.toFixed(4)} -> `
      + `${result.maxAbs.toFixed(4)}, correlation ${minmaxResult.correlation.toFixed(5)} -> ${result.correlation.toFixed(5)}, flips ${minmaxResult.flips} -> ${result.flips}`);
    expect(lsq.names).toEqual(minmax.names);
    expect(lsq.mse).toBeLessThanOrEqual(0.85 * minmax.mse);
    expect(result.maxAbs).toBeLessThanOrEqual(minmaxResult.maxAbs);
    expect(result.correlation).toBeGreaterThanOrEqual(minmaxResult.correlation);
  });
});
