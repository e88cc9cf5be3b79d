// 'mse' calibration against 'minmax' on the real weights of the bundled default model (Silero VAD): for
// every weight the default policy quantizes, per channel int8 and per group int4, the MSE search never
// raises any channel's (or group's) quantization error, checked independently in float64 by quantizing
// with both parameter sets, and lowers it overall. The measured reductions are printed.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { defaultModelPath } from '../../src/cli/default-model.js';
import { planOnnxCompression } from '../../src/compress/onnx-plan.js';
import { type CalibrationResult, chooseQParams, quantizePerChannel, quantizePerGroup, reference } from '../../src/index.js';
import { OnnxModel, toFloat32 } from '../../src/models.js';

const cpu = { backend: 'cpu' } as const;

async function realWeights() {
  const model = await OnnxModel.load(readFileSync(defaultModelPath()), { name: 'silero_vad_legacy.onnx' });
  const plan = planOnnxCompression(model, { firstLayer: 'quantize' }); // every weight of >= 1024 elements, the STFT bases included
  const weights = [];
  for (const [i, info] of model.list().entries()) {
    const decision = plan.decisions[i]!;
    if (decision.action !== 'quantize' || decision.axis === undefined) continue;
    weights.push({ name: info.name, axis: decision.axis, x: { data: toFloat32(await model.read(info.name), info.dtype, info.name), shape: [...info.shape] } });
  }
  return weights;
}

/** Per-channel (or per-group, flattened) MSE of x quantized with `p`, in float64. */
async function measuredMse(x: { data: Float32Array; shape: number[] }, p: CalibrationResult, dtype: 'qint8' | 'qint4', axis: number, groupSize?: number) {
  const params = p as { scales: Float32Array; zeroPoints: Int32Array };
  const q = groupSize === undefined
    ? await quantizePerChannel(x, params.scales, params.zeroPoints, axis, dtype, cpu)
    : await quantizePerGroup(x, params.scales, params.zeroPoints, axis, groupSize, dtype, cpu);
  const stats = reference.errorStats(x, q, groupSize === undefined ? { axis } : { axis, groupSize });
  return (groupSize === undefined ? stats.perChannel! : stats.perGroup!).mse;
}

describe("'mse' versus 'minmax' on Silero VAD's real weights", () => {
  for (const [label, dtype, groupSize] of [['int8 per channel, symmetric', 'qint8', undefined], ['int4 per group of 32, symmetric', 'qint4', 32]] as const) {
    it(`${label}: never raises a channel's MSE, lowers the total`, async () => {
      const weights = await realWeights();
      expect(weights.length).toBe(36);
      let before = 0;
      let after = 0;
      let improved = 0;
      let buckets = 0;
      for (const { name, axis, x } of weights) {
        // Groups run along the largest other axis (the reduction axis), as the compression policy does.
        const groupAxis = groupSize === undefined ? axis : x.shape.indexOf(Math.max(...x.shape.filter((_, d) => d !== axis)));
        const granularity = groupSize === undefined ? { axis } : { axis: groupAxis, groupSize };
        const minmax = await chooseQParams(x, { dtype, granularity, symmetric: true, method: 'minmax' }, cpu);
        const mse = await chooseQParams(x, { dtype, granularity, symmetric: true, method: 'mse' }, cpu);
        const a = await measuredMse(x, minmax, dtype, granularity.axis, groupSize);
        const b = await measuredMse(x, mse, dtype, granularity.axis, groupSize);
        a.forEach((v, i) => {
          // float32 sums inside the search vs float64 here: allow 1e-6 relative.
          expect(b[i]!, `${name} bucket ${i}`).toBeLessThanOrEqual(v * (1 + 1e-6) + 1e-30);
          before += v;
          after += b[i]!;
          if (b[i]! < v * (1 - 1e-6)) improved++;
          buckets++;
        });
      }
      expect(after).toBeLessThan(before);
      console.log(`${label}: total MSE ${before.toExponential(4)} -> ${after.toExponential(4)} (${(100 * (1 - after / before)).toFixed(1)}% lower), `
        + `${improved} of ${buckets} channels/groups improved`);
    }, 120_000);
  }
});
