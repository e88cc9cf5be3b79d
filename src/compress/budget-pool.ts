/**
 * The size budget's measurements on a CPU worker pool: each weight's options (budget-measure.ts) are quantized
 * and measured by the workers, several weights at once, ahead of the allocator, which takes them in order.
 * A weight in a file on disk (float32, float16 or bfloat16) is read by its worker; any other is read here into an
 * array of its own and transferred. Small weights stay with the allocator, which measures them itself.
 *
 * @example
 * ```ts
 * const measured = budgetOnPool(pool, model, weights, decisions, policy, 'halfScale', 'float16');
 * await allocateBudget(weights, decisions, policy, 6, read, quantizeOptions, backend, 'onnx', undefined, storedOf, measured);
 * ```
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { toFloat32 } from '../io/float-convert.js';
import { type FileWeightDType, type WeightInfo, type WeightReader, floatFileRangeOf } from '../io/weights.js';
import { type MeasuredOptions, PROBED_OPTION, budgetOptionDecisions } from './budget-measure.js';
import { type CpuWorkerPool, POOL_IN_FLIGHT_BYTES, POOL_MIN_BYTES, checkPool, poolTasksInFlight } from './cpu-worker-pool.js';
import { lookahead } from './lookahead.js';
import type { CompressionPolicy, PolicyWeight, WeightDecision } from './policy.js';
import type { ScaleDType, ScaleRounding } from './scale-storage.js';

/**
 * What allocateBudget takes as `measuredElsewhere`: weight i's measurements from `pool` (started ahead, at most
 * as many weights in flight as the pool takes and POOL_IN_FLIGHT_BYTES of float32), or undefined for a weight it
 * measures itself (kept by `decisions`, or smaller than POOL_MIN_BYTES of float32). `weights` are `reader`'s, in
 * its order (a pool that is not one is an InvalidArgumentError); `rounding` is how scales are rounded before quantizing (as the allocator's quantize options round
 * them), `scaleDtype` how ONNX stores them (left out: safetensors, no storage counted); with `probed` (an output-error
 * probe), each weight's int4-groups-of-32 integers come back too (`kept`), for the probe's values. Call with increasing i.
 *
 * @example
 * ```ts
 * const measured = budgetOnPool(pool, reader, reader.list(), decisions, policy, undefined, undefined);
 * await measured(0); // { relativeErrors: [...], stored: [...] }, or undefined: measure it here
 * ```
 */
export function budgetOnPool(
  pool: CpuWorkerPool, reader: WeightReader, weights: readonly (PolicyWeight & WeightInfo)[], decisions: readonly WeightDecision[], policy: CompressionPolicy,
  rounding: ScaleRounding | undefined, scaleDtype: ScaleDType | undefined, probed = false,
): (index: number) => Promise<MeasuredOptions | undefined> | undefined {
  checkPool(pool, 'pool');
  if (pool === undefined) throw new InvalidArgumentError('pool', pool, 'pool is missing: pass createCpuWorkerPool({ workers }), or measure on this thread (leave measuredElsewhere out)');
  const floatBytes = (i: number) => 4 * weights[i]!.shape.reduce((a, b) => a * b, 1);
  const start = (i: number): Promise<MeasuredOptions | undefined> | undefined => {
    if (decisions[i]!.action !== 'quantize' || floatBytes(i) < POOL_MIN_BYTES) return undefined;
    const info = weights[i]!;
    const named = budgetOptionDecisions(info, policy);
    const options = named.map(([, d]) => d);
    // With a probe, the option it runs the model with comes back with its integers.
    const found = probed ? named.findIndex(([name]) => name === PROBED_OPTION) : -1;
    const keep = found >= 0 ? found : undefined;
    const shape = [...info.shape];
    return (async () => {
      const range = await floatFileRangeOf(reader, info);
      if (range) return pool.run('measureBudgetOptions', [{ range, dtype: info.dtype as FileWeightDType, shape }, options, rounding, scaleDtype, keep]);
      const data = toFloat32(await reader.read(info.name), info.dtype, info.name); // an array of its own
      return pool.run('measureBudgetOptions', [{ data, shape }, options, rounding, scaleDtype, keep], [data.buffer as ArrayBuffer]);
    })();
  };
  const ahead = lookahead(weights.length, start, floatBytes, poolTasksInFlight(pool), POOL_IN_FLIGHT_BYTES);
  return (index) => ahead.take(index);
}
