/**
 * The public error-statistics operation: how far a quantized tensor is from the original, overall, per
 * channel and per group, on the GPU or the CPU reference.
 *
 * @example
 * ```ts
 * import { errorStats, quantizePerChannel, tensor } from 'webgpu-quant';
 * const w = tensor([0.1, -0.2, 0.3, 5, -6, 7], [2, 3]);
 * const q = await quantizePerChannel(w, [0.01, 0.05], [0, 0], 0, 'qint8');
 * const s = await errorStats(w, q, { axis: 0 });
 * s.perChannel!.sqnrDb; // Float64Array, one per row
 * ```
 * @module
 */
import { type OpOptions, selectManager } from './backend.js';
import { cpuErrorStats } from '../kernels/cpu/cpu-error-stats.js';
import { firstNaN } from '../kernels/cpu/cpu-scan.js';
import { errorStatsKernel } from '../kernels/error-stats/error-stats-kernel.js';
import type { QTensor } from '../qtensor.js';
import type { Tensor } from '../tensor.js';
import { type ErrorStatsRequest, checkErrorStatsArguments } from '../stats/arguments.js';
import type { ErrorStats, ErrorStatsOptions } from '../stats/types.js';
import { lostToUnderflow } from '../stats/underflow.js';

/**
 * Error statistics of `quantized` against `original`: `overall`; with `opts.axis`, `perChannel` (one entry
 * per index along the axis, which need not be the quantization axis); with `opts.groupSize` too, `perGroup`
 * (one entry per block of `groupSize` along the axis, ONNX opset-21 layout). Fields: `mse`,
 * `maxAbsError`, `sqnrDb`, `cosine`, `clipFraction`, `count`; definitions and special cases in
 * `src/stats/types.ts` (and the README).
 *
 * - x̂ is the dequantized value in float32, computed from a QTensor's integers inside the kernel with the GPU
 *   dequantize contract (float32 scales: equal to `dequantize()` whenever the scales are float32 values), or
 *   the values of a plain Tensor `quantized` (then `clipFraction` is NaN: there is no grid).
 * - NaN anywhere in `original` (or in a plain `quantized`) is an {@link InvalidArgumentError} naming its index.
 * - GPU accumulation: per-invocation Kahan-compensated float32 sums over at most 256 elements of one bucket,
 *   combined on the host in float64 in a fixed order: identical bits on every run, and within these bounds of
 *   the float64 reference whatever the size: `mse` (and the sums) relative 1e-6, `sqnrDb` 1e-5 dB, `cosine`
 *   1e-6; `maxAbsError` is the float32 rounding of the exact value; `clipFraction` and `count` are exact.
 *   GPUs that flush subnormal operands (SwiftShader does) treat subnormal x or x̂ as zero in the sums (clipping
 *   stays exact). A bucket whose values all lie more than about 2^63 (1e19) below the tensor's largest
 *   magnitude (or below the bound on its dequantized values) loses its squares to float32 underflow there;
 *   such statistics (a bucket with errors but a mean squared error of 0) are computed again on the CPU, whose
 *   result (`backend: 'cpu'`) is returned.
 *
 * @example
 * ```ts
 * const s = await errorStats(tensor([1, 2, 3, 4]), tensor([1, 2, 3, 5]));
 * s.overall; // { mse: 0.25, maxAbsError: 1, sqnrDb: 14.771..., cosine: 0.99399..., clipFraction: NaN, count: 4 }
 * const g = await errorStats(w, q4, { axis: 1, groupSize: 32 }, { backend: 'webgpu' });
 * g.perGroup!.mse.length; // rows * ceil(columns / 32)
 * ```
 */
export async function errorStats(
  original: Tensor, quantized: QTensor | Tensor, opts?: ErrorStatsOptions, options?: OpOptions,
): Promise<ErrorStats> {
  return errorStatsWith(checkErrorStatsArguments(original, quantized, opts, firstNaN), options);
}

/**
 * {@link errorStats} of a QTensor against an original the caller has already scanned and found free of
 * NaN: the same result without scanning it again (a compressor checks every weight for NaN and ±Infinity
 * before quantizing it).
 *
 * @example
 * ```ts
 * if (firstNonFinite(w.data) < 0) await errorStatsOfScanned(w, q, { axis: 0 }, { backend: 'cpu' });
 * ```
 */
export async function errorStatsOfScanned(original: Tensor, quantized: QTensor, opts?: ErrorStatsOptions, options?: OpOptions): Promise<ErrorStats> {
  return errorStatsWith(checkErrorStatsArguments(original, quantized, opts, () => -1), options);
}

async function errorStatsWith(request: ErrorStatsRequest, options?: OpOptions): Promise<ErrorStats> {
  const manager = await selectManager(options);
  if (!manager) return cpuErrorStats(request);
  const stats = await errorStatsKernel(manager, request, options ?? {});
  // A bucket far below the tensor's largest magnitude loses its float32 squares on the GPU: the CPU's float64 then.
  return lostToUnderflow(stats) ? cpuErrorStats(request) : stats;
}
