// Pooled weight MSE of a compression report: the squared error over every quantized weight / their count,
// for comparing calibration methods on the same weights.
import type { TensorReport } from '../../src/compress/compress-report.js';

/** Σ mse × elements / Σ elements over the quantized weights, and their names. */
export function pooledWeightMse(tensors: readonly TensorReport[]): { mse: number; names: string[] } {
  let sum = 0;
  let count = 0;
  const names: string[] = [];
  for (const t of tensors) {
    if (t.action !== 'quantize') continue;
    const n = t.shape.reduce((a, b) => a * b, 1);
    sum += t.mse! * n;
    count += n;
    names.push(t.name);
  }
  return { mse: count ? sum / count : 0, names };
}
