/**
 * The size budget (`targetBits`): the average stored bits per quantized weight element, scales and zero
 * points included, stays at or below a target, and an allocator chooses each weight's precision to
 * minimise a model-level error estimate computed from the weights alone.
 *
 * - **Which weights**: those the policy would quantize (its include / exclude / overrides / size rules
 *   decide); the rest stay as they are and are not counted.
 * - **Options per weight**: keep float (its stored bits: 32 for float32), int8 per channel (symmetric
 *   unless the policy says otherwise), int4 in groups of 32, 64 or 128 along the policy's group axis. The
 *   bits of an option are what the file stores: data (8 or 4 bits per element) plus one scale and one zero
 *   point per channel or group, as the output format stores them ({@link storedBits}; ONNX with the size
 *   budget stores float16 scales and no zero points for symmetric int4: 4.5 bits in groups of 32).
 * - **Error estimate**: each option is quantized with the policy's calibration method, and its relative
 *   error is the weight's relative quantization noise, MSE / mean(w²) (1 / SQNR, linear). The model's error
 *   is estimated as the sum over the weights of sensitivity × relative error (the perturbations of
 *   successive layers add).
 *   - From the weights alone, every sensitivity is 1: a weight's output perturbation relative to its
 *     output is about its relative error whatever its size.
 *   - From data (an {@link OutputErrorProbe}: the model run on sample inputs, e.g. in onnxruntime), each
 *     weight's sensitivity is measured: the model's output error with that weight alone at int4 groups of
 *     32 (or its cheapest option), divided by that option's relative error. Measured once per weight (one
 *     model run per weight); the other options scale with their relative errors, which smooths the
 *     run-to-run noise of one measurement per option. On PaddleOCR v4 rec the measured sensitivities span
 *     four orders of magnitude (pointwise convolutions 1-8, the classifier 0.2, attention 0.01).
 *   Each element's cost is its stored bits.
 * - **Floor on larger groups**: int4 groups of 64 and 128 are not offered to the output layer
 *   (`PolicyWeight.outputLayer`: a classifier's error reaches the output unaveraged, and neither weight nor
 *   output error measures show it), and, from the weights alone, only where their SQNR is at least
 *   {@link kLargeGroupFloorDb} dB; groups of 128 are offered to no weight; unless the target cannot be
 *   met without them (then these floors give way in that order, and at last every option is offered).
 * - **Allocation**: a multiple-choice knapsack solved greedily: every weight starts at its cheapest
 *   option; then, on each weight's lower convex hull of (bits, error), the upgrade with the largest error
 *   reduction per added bit that still fits the budget is taken, until none fits.
 * - A target below what the cheapest options reach (int4 in groups of 128 everywhere) is an
 *   InvalidArgumentError naming the minimum.
 *
 * @example
 * ```ts
 * const { decisions, allocation } = await allocateBudget(weights, decisions, policy, 5, (i) => model.readFloat32(weights[i].name));
 * allocation.bits;                                       // <= 5
 * allocation.tensors.map((t) => `${t.name}: ${t.chosen}`); // e.g. 'lstm.W: int8 per channel'
 * ```
 * @module
 */
import { type OpOptions, getBackend } from '../ops/backend.js';
import { InvalidArgumentError } from '../errors.js';
import type { WeightDType } from '../io/weights.js';
import type { CompressionPolicy, PolicyWeight, WeightDecision } from './policy.js';
import { dequantize } from '../ops/dequantize.js';
import { cpuDequantize } from '../kernels/cpu/cpu-quantize.js';
import { type QuantizeWeightOptions, type QuantizedWeight, paramShapeOf, quantizeWeight } from './quantize-weight.js';
import type { QTensor } from '../qtensor.js';
import {
  type BudgetOptionName, type MeasuredOptions, PROBED_OPTION, type StoredOf, type StoredParameters, budgetOptionDecisions, kGroupSizes, measureOnCpu, measureOptions,
} from './budget-measure.js';

export type { BudgetOptionName, MeasuredOptions, StoredParameters } from './budget-measure.js';

/** One option of one weight, as the allocator saw it. */
export interface BudgetOption {
  option: BudgetOptionName;
  /** Stored bits per element (data, scales and zero points). */
  bits: number;
  /** MSE / mean(w²) of this option (0 for keep). */
  relativeError: number;
  /** The model-level error estimate of this option: sensitivity × relative error. */
  estimatedError: number;
}

/**
 * The model's output error with one weight replaced: `name` is the weight's name (as the model lists it),
 * `values` its dequantized values (float32, the weight's shape), every other weight as in the original.
 * `values` is valid during the call: the budget writes the next weight's values into the same memory (copy
 * it to keep it).
 * Any non-negative measure that grows with the damage works; webgpu-quant's ONNX one
 * (`outputErrorProbe` in webgpu-quant/models) is the mean over samples and outputs of |Δy|² / |y|².
 *
 * @example
 * ```ts
 * const probe: OutputErrorProbe = async (name, values) => relativeMse(await runWith(name, values), reference);
 * ```
 */
export type OutputErrorProbe = (name: string, values: Float32Array) => Promise<number>;

/** One weight's allocation. */
export interface TensorAllocation {
  name: string;
  elements: number;
  chosen: BudgetOptionName;
  bits: number;
  relativeError: number;
  /** The error estimate of the chosen option (sensitivity × relative error). */
  estimatedError: number;
  /** Output error per unit of relative weight error: measured with an {@link OutputErrorProbe}, else 1. */
  sensitivity: number;
  /** Every option considered, cheapest first. */
  options: BudgetOption[];
}

/** What the allocator did. */
export interface BudgetAllocation {
  targetBits: number;
  /** The average the cheapest options give: the smallest target that can be met. */
  minimumBits: number;
  /** The average stored bits per element of the allocation (≤ targetBits). */
  bits: number;
  /** The model-level error estimate: the sum of the chosen estimated errors. */
  errorEstimate: number;
  /** 'weights': every sensitivity 1; 'outputs': sensitivities measured with an {@link OutputErrorProbe}. */
  errorSource: 'weights' | 'outputs';
  /** Model runs made to measure sensitivities (0 from the weights alone), and the seconds they took. */
  probeRuns: number;
  probeSeconds: number;
  tensors: TensorAllocation[];
}

/**
 * The smallest SQNR (dB) at which int4 groups larger than 32 are offered. Measured on PaddleOCR v4 rec: its
 * ONNX Runtime output matches the written DequantizeLinear weights exactly, yet int4 groups of 128 on every
 * convolution (1x1 convolutions at 15-17 dB) read 0.9 % of characters, groups of 32 everywhere 97.3 %.
 * Weights whose larger groups stay above this (depthwise convolutions, the classifier) still get them.
 *
 * @example
 * ```ts
 * const offered = relativeError <= 10 ** (-kLargeGroupFloorDb / 10); // 20 dB: relative error <= 0.01
 * ```
 */
export const kLargeGroupFloorDb = 20;

/** Bits per element of the dtypes the policy quantizes (only float weights are). */
const kFloatBits: Partial<Record<WeightDType, number>> = { float32: 32, float16: 16, bfloat16: 16, float64: 64 };

/** The file the weights go to: ONNX QDQ or quantized safetensors (their parameter storage differs). */
export type BudgetFormat = 'onnx' | 'safetensors';

/**
 * Stored bits per element of `decision` applied to a weight of `shape` and `dtype` (keep: the dtype's bits).
 * ONNX stores scales in the weight's float type (float32, or 16 bits for float16 / bfloat16; `stored`
 * `scaleBits: 16` where float16 scales are cast to float32 in the graph) and zero points in the data type
 * (4 bits for int4; none where a 4-bit weight's zero points are all 0, `stored.zeroPoints: false`);
 * safetensors stores float32 scales and one byte per zero point.
 *
 * @example
 * ```ts
 * const d = { action: 'quantize', dtype: 'qint4', granularity: 'group', axis: 1, groupSize: 32 } as WeightDecision;
 * storedBits([64, 128], d, 'float32');                // 4 + (32 + 4) / 32 = 5.125
 * storedBits([64, 128], d, 'float32', 'safetensors'); // 4 + (32 + 8) / 32 = 5.25
 * storedBits([64, 128], d, 'float32', 'onnx', { scaleBits: 16, zeroPoints: false }); // 4 + 16 / 32 = 4.5
 * ```
 */
export function storedBits(
  shape: readonly number[], decision: WeightDecision, dtype: WeightDType, format: BudgetFormat = 'onnx', stored: StoredParameters = {},
): number {
  const elements = shape.reduce((a, b) => a * b, 1);
  if (decision.action === 'keep') return kFloatBits[dtype] ?? 32;
  const dataBits = decision.dtype === 'qint4' || decision.dtype === 'quint4' ? 4 : 8;
  const params = paramShapeOf(shape, decision).reduce((a, b) => a * b, 1);
  const scaleBits = format === 'onnx' && (dtype === 'float16' || dtype === 'bfloat16') ? 16 : format === 'onnx' ? stored.scaleBits ?? 32 : 32;
  const zeroPointBits = format !== 'onnx' ? 8 : stored.zeroPoints === false ? 0 : dataBits;
  const bytes = Math.ceil((elements * dataBits) / 8) + (params * scaleBits) / 8 + Math.ceil((params * zeroPointBits) / 8);
  return (8 * bytes) / elements;
}

/**
 * Checks `targetBits` (a finite number > 0).
 *
 * @example
 * ```ts
 * checkTargetBits(0); // throws InvalidArgumentError: targetBits is 0; use a number of bits per weight > 0, e.g. 5
 * ```
 */
export function checkTargetBits(targetBits: unknown): asserts targetBits is number {
  if (typeof targetBits !== 'number' || !Number.isFinite(targetBits) || targetBits <= 0) {
    throw new InvalidArgumentError('targetBits', targetBits, `targetBits is ${JSON.stringify(targetBits)}; use a number of bits per weight > 0, e.g. 5`);
  }
}

/** A weight's options with their decisions. */
interface Candidate extends BudgetOption {
  decision: WeightDecision;
  /**
   * Not offered while the floors hold: 'output' (the output layer's larger groups), 'sqnr' (larger groups
   * under kLargeGroupFloorDb), 'group128' (groups of 128 anywhere).
   */
  floor?: 'output' | 'sqnr' | 'group128';
  values?: () => Promise<Float32Array>;
}

/** The lower convex hull of (bits, estimated error), cheapest first, dominated options removed. */
function hullOf(options: Candidate[]): Candidate[] {
  const sorted = [...options].sort((a, b) => a.bits - b.bits || a.estimatedError - b.estimatedError);
  const frontier: Candidate[] = [];
  for (const o of sorted) if (!frontier.length || o.estimatedError < frontier[frontier.length - 1]!.estimatedError) frontier.push(o);
  const hull: Candidate[] = [];
  for (const o of frontier) {
    while (hull.length >= 2) {
      const [a, b] = [hull[hull.length - 2]!, hull[hull.length - 1]!];
      // b lies on or above the segment a-o: drop it.
      if ((b.estimatedError - a.estimatedError) * (o.bits - a.bits) >= (o.estimatedError - a.estimatedError) * (b.bits - a.bits)) hull.pop();
      else break;
    }
    hull.push(o);
  }
  return hull;
}

/** The option a weight's sensitivity is measured with: int4 groups of 32, else its cheapest quantized option. */
function probeOption(options: Candidate[]): Candidate | undefined {
  const quantized = options.filter((o) => o.option !== 'keep' && o.relativeError > 0);
  return quantized.find((o) => o.option === PROBED_OPTION) ?? [...quantized].sort((a, b) => a.bits - b.bits)[0];
}

/**
 * Allocates precisions to `decisions` (the policy's, one per weight) under `targetBits` (see the module
 * documentation). `read(i)` gives weight i as float32; `quantizeOptions` and `backend` go to
 * `quantizeWeight`; `format` decides how parameters are counted (see {@link storedBits}), and `storedOf`
 * says how an option's parameters are stored where that depends on its values (float16 scales, omitted zero
 * points); with `probe`,
 * each weight's sensitivity is measured from the model's outputs. Weights that cannot be quantized
 * (non-finite values) keep the policy's decision. Without a probe,
 * `measuredElsewhere(i)` may give weight i's options as measured elsewhere (by {@link measureOptions} on a worker
 * thread, for the options {@link budgetOptionDecisions} lists; called with increasing i), or undefined to
 * measure them here.
 *
 * @example
 * ```ts
 * const { decisions: allocated, allocation } = await allocateBudget(model.list(), plan.decisions, policy, 5,
 *   (i) => model.readFloat32(model.list()[i].name), {}, { backend: 'cpu' });
 * allocation.errorSource; // 'weights' ('outputs' with a probe)
 * ```
 */
export async function allocateBudget(
  weights: readonly PolicyWeight[], decisions: readonly WeightDecision[], policy: CompressionPolicy, targetBits: number,
  read: (index: number) => Promise<Float32Array>, quantizeOptions: QuantizeWeightOptions = {}, backend?: OpOptions,
  format: BudgetFormat = 'onnx', probe?: OutputErrorProbe, storedOf?: StoredOf,
  measuredElsewhere?: (index: number) => Promise<MeasuredOptions | undefined> | undefined,
): Promise<{ decisions: WeightDecision[]; allocation: BudgetAllocation }> {
  checkTargetBits(targetBits);
  if (measuredElsewhere !== undefined && typeof measuredElsewhere !== 'function') {
    throw new InvalidArgumentError('measuredElsewhere', measuredElsewhere, 'measuredElsewhere must be a function (index) => Promise of the measurements, e.g. from budgetOnPool, or left out');
  }
  const result = [...decisions];
  const onCpu = (await getBackend(backend)) === 'cpu';
  let spare: ArrayBuffer | undefined; // one buffer for the integers of every option measured here and kept by none
  const integers = (byteLength: number) => (spare && spare.byteLength >= byteLength ? spare : (spare = new ArrayBuffer(byteLength)));
  let probed: Float32Array | undefined; // the values given to the probe, weight after weight
  const valuesOf = async (q: QTensor): Promise<Float32Array> => (q.backend === 'cpu' && q.onCpu
    ? cpuDequantize(q, probed && probed.length >= q.size ? probed : (probed = new Float32Array(q.size))) : await dequantize(q, backend)).data as Float32Array;
  const entries: { index: number; elements: number; hull: Candidate[]; all: Candidate[]; step: number; sensitivity: number }[] = [];
  let probeRuns = 0;
  let probeMs = 0;
  for (const [index, decision] of decisions.entries()) {
    if (decision.action !== 'quantize') continue;
    const weight = weights[index]!;
    const elements = weight.shape.reduce((a, b) => a * b, 1);
    const keep: WeightDecision = { ...decision, action: 'keep', reason: 'kept float by the size budget' };
    const all: Candidate[] = [{ option: 'keep', bits: storedBits(weight.shape, keep, weight.dtype, format), relativeError: 0, estimatedError: 0, decision: keep }];
    const options = budgetOptionDecisions(weight, policy);
    const elsewhere = measuredElsewhere?.(index);
    const decisionsOf = options.map(([, d]) => d);
    let outcome: { measured: MeasuredOptions | undefined; quantized?: (QuantizedWeight | undefined)[] } | undefined;
    if (elsewhere) outcome = { measured: await elsewhere };
    else if (!probe && onCpu) {
      // Nothing to dequantize: the weight held once on the CPU path, each option's integers in the same memory.
      const data = await read(index);
      outcome = { measured: await measureOnCpu(weight.shape, decisionsOf, (held) => held.set(data), data, quantizeOptions, integers, storedOf) };
    } else outcome = await measureOptions({ data: await read(index), shape: [...weight.shape] }, decisionsOf, quantizeOptions, backend, storedOf);
    if (!outcome?.measured) continue; // NaN or ±Infinity: the policy's decision stands
    for (const [k, [option, optionDecision]] of options.entries()) {
      const relativeError = outcome.measured.relativeErrors[k]!;
      const groupSize = optionDecision.granularity === 'group' ? optionDecision.groupSize ?? 0 : 0;
      const largeGroup = groupSize > kGroupSizes[0];
      const floor = !largeGroup ? undefined : weight.outputLayer === true ? 'output' as const
        : !probe && relativeError > 10 ** (-kLargeGroupFloorDb / 10) ? 'sqnr' as const
          : groupSize >= 128 ? 'group128' as const : undefined;
      const quantized = outcome.quantized?.[k];
      // The probed option's values: its result here, its integers measured elsewhere, or the option quantized here again.
      const kept = outcome.measured.kept?.index === k ? outcome.measured.kept.q : undefined;
      const values = quantized ? () => valuesOf(quantized.q) : kept ? () => valuesOf(kept) : probe && (async () => {
        const again = await quantizeWeight({ data: await read(index), shape: [...weight.shape] }, optionDecision, { ...quantizeOptions, integers }, backend);
        if (!again.ok) throw new InvalidArgumentError('weights', weight.name, `weight ${JSON.stringify(weight.name)} was measured elsewhere but does not quantize here: ${again.reason}`);
        return valuesOf(again.q);
      });
      all.push({
        option, bits: storedBits(weight.shape, optionDecision, weight.dtype, format, outcome.measured.stored[k]), relativeError, estimatedError: relativeError,
        decision: optionDecision, floor, ...(values ? { values } : {}),
      });
    }
    let sensitivity = 1;
    const measured = probe ? probeOption(all) : undefined;
    if (probe && measured) {
      const started = performance.now();
      const outputError = await probe(weight.name, await measured.values!());
      probeMs += performance.now() - started;
      probeRuns++;
      if (!(outputError >= 0 && Number.isFinite(outputError))) {
        throw new InvalidArgumentError('probe', outputError, `the output error probe gave ${outputError} for weight ${JSON.stringify(weight.name)}; `
          + 'it must return a finite number >= 0 (the model may not run with this weight quantized)');
      }
      sensitivity = outputError / measured.relativeError;
      for (const o of all) o.estimatedError = sensitivity * o.relativeError;
      // A weight the inputs never reach costs nothing at any precision: its coarsest groups are not held back.
      if (sensitivity === 0) for (const o of all) if (o.floor === 'group128') delete o.floor;
    }
    for (const o of all) delete o.values; // the quantized options are not held past their weight
    entries.push({ index, elements, hull: hullOf(all.filter((o) => !o.floor)), all, step: 0, sensitivity });
  }
  const totalElements = entries.reduce((sum, e) => sum + e.elements, 0);
  const cheapestBits = entries.reduce((sum, e) => sum + Math.min(...e.all.map((o) => o.bits)) * e.elements, 0);
  const minimumBits = totalElements ? cheapestBits / totalElements : 0;
  const startBits = () => entries.reduce((sum, e) => sum + e.hull[0]!.bits * e.elements, 0);
  let usedBits = startBits();
  // Where the target needs options below the floors, the output layer's goes first, then the SQNR floor
  // (on PaddleOCR v4 rec from the weights alone: -13.2 pp that way, -27.1 pp the other way), then groups
  // of 128 (measured on rec from decoded text at 5 bits: -1.36 pp and 14/18 lines identical without them,
  // -2.52 pp and 9/18 with them: the per-weight estimates add up worse for the coarsest groups).
  for (const kept of [['sqnr', 'group128'], ['group128'], []] as const) {
    if (!totalElements || usedBits <= targetBits * totalElements * (1 + 1e-12)) break;
    for (const e of entries) e.hull = hullOf(e.all.filter((o) => !o.floor || !(kept as readonly string[]).includes(o.floor)));
    usedBits = startBits();
  }
  if (totalElements && minimumBits > targetBits * (1 + 1e-12)) {
    const minimum = Math.ceil(minimumBits * 1000) / 1000;
    throw new InvalidArgumentError('targetBits', targetBits, `targetBits ${targetBits} is below what this model's weights can reach: `
      + `the cheapest options (int4 in groups of up to 128) average ${minimum} bits per weight; use targetBits >= ${minimum}`);
  }
  const budget = targetBits * totalElements;
  // Greedy on the hulls: the upgrade with the best error reduction per added bit that fits, until none fits.
  for (;;) {
    let best: (typeof entries)[number] | undefined;
    let bestSlope = 0;
    for (const e of entries) {
      const [from, to] = [e.hull[e.step]!, e.hull[e.step + 1]];
      if (!to) continue;
      const added = (to.bits - from.bits) * e.elements;
      if (usedBits + added > budget) continue;
      const slope = (from.estimatedError - to.estimatedError) / added;
      if (best === undefined || slope > bestSlope) { best = e; bestSlope = slope; }
    }
    if (!best) break;
    usedBits += (best.hull[best.step + 1]!.bits - best.hull[best.step]!.bits) * best.elements;
    best.step++;
  }
  const tensors: TensorAllocation[] = [];
  let errorEstimate = 0;
  for (const e of entries) {
    const chosen = e.hull[e.step]!;
    const sensitivity = probe ? `, sensitivity ${e.sensitivity.toExponential(2)}` : '';
    const reason = `size budget ${targetBits} bits per weight: ${chosen.option} (${chosen.bits.toFixed(3)} bits, relative error `
      + `${chosen.relativeError.toExponential(2)}${sensitivity})`;
    result[e.index] = { ...chosen.decision, reason: chosen.option === 'keep' ? reason : `${reason}; ${chosen.decision.reason}` };
    errorEstimate += chosen.estimatedError;
    tensors.push({
      name: weights[e.index]!.name, elements: e.elements, chosen: chosen.option, bits: chosen.bits, relativeError: chosen.relativeError,
      estimatedError: chosen.estimatedError, sensitivity: e.sensitivity,
      options: [...e.all].sort((a, b) => a.bits - b.bits)
        .map(({ option, bits, relativeError, estimatedError }) => ({ option, bits, relativeError, estimatedError })),
    });
  }
  return {
    decisions: result,
    allocation: {
      targetBits, minimumBits, bits: totalElements ? usedBits / totalElements : 0, errorEstimate, errorSource: probe ? 'outputs' : 'weights',
      probeRuns, probeSeconds: probeMs / 1000, tensors,
    },
  };
}
