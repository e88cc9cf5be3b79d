/**
 * The policy applied to an ONNX model: {@link decideWeights} on its weights (with their consumers), plus
 * what the QDQ format adds: float64 weights are kept (DequantizeLinear cannot output float64), and each
 * quantized weight needs a minimum opset of the default domain:
 *
 * | scheme                                   | DequantizeLinear | opset |
 * | ---                                      | ---              | ---   |
 * | int8 / uint8 per tensor                  | 10               | 10 |
 * | int8 / uint8 per channel (`axis`)        | 13               | 13 |
 * | int8 / uint8 per channel, float32 weight, model below opset 13 | 10 + `Mul` | 10 |
 * | float16 / bfloat16 weight (f16/bf16 scale) | 19             | 19 |
 * | int4 / uint4, or per group (`block_size`) | 21              | 21 |
 *
 * @example
 * ```ts
 * const plan = planOnnxCompression(model, { dtype: 'qint4', granularity: 'group' });
 * plan.requiredOpset;     // 21
 * plan.decisions[0];      // { name, action, reason, dtype, granularity, axis, groupSize, symmetric, method, ... }
 * ```
 *
 * A model below opset 13 gets its 8-bit per-channel float32 weights as DequantizeLinear (scale 1) → Mul by
 * the scales (qdq-writer.ts), which needs only opset 10, unless another weight needs an upgrade anyway
 * (int4, per group, float16): then the upgrade happens and every weight is written natively.
 *
 * Under a size budget (`targetBits`), {@link planOnnxBudget} lets the budget choose each weight's precision and
 * plans its decisions the same way ({@link planOfDecisions}).
 * @module
 */
import { firstLayerWeights } from '../io/onnx/input-layer.js';
import { outputLayerWeights } from '../io/onnx/output-layer.js';
import { type OpOptions, getBackend } from '../ops/backend.js';
import type { OnnxModel } from '../io/onnx/onnx-model.js';
import type { GraphProto } from '../io/onnx/proto.js';
import type { WeightDType } from '../io/weights.js';
import { type BudgetAllocation, allocateBudget } from './budget.js';
import type { StoredOf } from './budget-measure.js';
import { type ContribLayout, contribLayout } from './contrib-layout.js';
import type { OnnxOps } from './matmul-nbits-plan.js';
import type { CompressOnnxOptions } from './onnx-options.js';
import { type CompressionPolicy, type WeightDecision, decideWeights } from './policy.js';
import { type ScaleDType, type ScaleRounding, scaleRounder, storedParametersOf } from './scale-storage.js';
import { budgetOnPool } from './budget-pool.js';
import { budgetFromFiles } from './budget-measure-file.js';
import { reusedFloat32 } from './weight-buffers.js';
import type { CpuWorkerPool } from './cpu-worker-pool.js';

/** The decisions for a model and the opset they need. */
export interface OnnxPlan {
  decisions: WeightDecision[];
  /** The highest opset any quantized weight needs (0 when nothing is quantized). */
  requiredOpset: number;
  /** True when 8-bit per-channel float32 weights are written as DequantizeLinear → Mul (a model below opset 13). */
  channelScalesViaMul: boolean;
  /**
   * With `onnxOps: 'contrib'`, each weight's contrib form (contrib-layout.ts: MatMulNBits or
   * GatherBlockQuantized), or why it has none; undefined for kept weights and under 'qdq'. Contrib weights
   * need no default-domain opset.
   */
  nbits: (ContribLayout | undefined)[];
}

/**
 * The default-domain opset a quantized weight needs (see the module table).
 *
 * @example
 * ```ts
 * requiredOpsetFor({ dtype: 'qint8', granularity: 'channel' }, 'float32'); // 13
 * requiredOpsetFor({ dtype: 'qint8', granularity: 'tensor' }, 'float16');  // 19
 * requiredOpsetFor({ dtype: 'qint8', granularity: 'channel' }, 'float32', true); // 10 (DequantizeLinear → Mul)
 * ```
 */
export function requiredOpsetFor(
  decision: Pick<WeightDecision, 'dtype' | 'granularity'>, weightDType: WeightDType, channelScalesViaMul = false,
): number {
  let opset = decision.granularity === 'channel' && !channelScalesViaMul ? 13 : 10;
  if (weightDType === 'float16' || weightDType === 'bfloat16') opset = 19;
  if (decision.granularity === 'group' || decision.dtype === 'qint4' || decision.dtype === 'quint4') opset = 21;
  return opset;
}

/**
 * Decides every weight of `model` under `policy` and the ONNX constraints (see the module documentation);
 * under `onnxOps` 'contrib', also which weights become MatMulNBits. Throws InvalidArgumentError for
 * malformed policy options.
 *
 * @example
 * ```ts
 * planOnnxCompression(model, {}).decisions.filter((d) => d.action === 'quantize').map((d) => d.name);
 * ```
 */
export function planOnnxCompression(model: OnnxModel, policy: CompressionPolicy = {}, onnxOps: OnnxOps = 'qdq'): OnnxPlan {
  const weights = model.list();
  const first = firstLayerWeights(model.proto.graph as GraphProto);
  const isFirst = weights.map((w) => w.consumers.some((c) => first.has(`${c.graph}|${w.tensorName}`)));
  // The first layer is kept only where other layers get quantized: a one-layer model is quantized whole.
  const others = decideWeights(weights, policy).some((d, i) => d.action === 'quantize' && !isFirst[i]);
  const marked = others ? weights.map((w, i) => (isFirst[i] ? { ...w, firstLayer: true } : w)) : weights;
  const decisions = decideWeights(marked, policy).map((d, i): WeightDecision => {
    if (d.action === 'quantize' && weights[i]!.dtype === 'float64') {
      return { ...d, action: 'keep', reason: 'float64: DequantizeLinear cannot output float64, so the weight stays float' };
    }
    return d;
  });
  return planOfDecisions(model, decisions, onnxOps);
}

/**
 * The plan for decisions made for `model`'s weights (by {@link planOnnxCompression}, or a size budget's):
 * under 'contrib' each weight's contrib form, the opset the rest need, and whether 8-bit per-channel weights go
 * through DequantizeLinear → Mul (a model below opset 13 that nothing else makes upgrade).
 *
 * @example
 * ```ts
 * planOfDecisions(model, allocated.decisions, 'qdq').requiredOpset; // 21 once a weight is int4
 * ```
 */
export function planOfDecisions(model: OnnxModel, decisions: WeightDecision[], onnxOps: OnnxOps): OnnxPlan {
  const weights = model.list();
  const nbits = decisions.map((d, i) => (onnxOps === 'contrib' && d.action === 'quantize' ? contribLayout(d, weights[i]!) : undefined));
  const required = (viaMul: boolean) => decisions.reduce((opset, d, i) =>
    (d.action === 'quantize' && !nbits[i]?.ok ? Math.max(opset, requiredOpsetFor(d, weights[i]!.dtype, viaMul)) : opset), 0);
  const opset = model.defaultOpset();
  const channelScalesViaMul = opset !== undefined && opset < 13 && required(true) < 13;
  return { decisions, requiredOpset: required(channelScalesViaMul), channelScalesViaMul, nbits };
}

/**
 * The plan under a size budget of `targetBits` (`options.targetBits`): {@link allocateBudget} chooses each weight's precision
 * from `plan` (the output layer's weights marked; with an output-error probe and no `firstLayer` option, the
 * first layers join the budget), planned as {@link planOnnxCompression} plans its own decisions. A float32
 * weight's scales are rounded as `rounding` says before quantizing (as the output stores them); with `pool` the
 * workers measure the weights' options (budget-pool.ts).
 *
 * @example
 * ```ts
 * const { plan, allocation } = await planOnnxBudget(model, planOnnxCompression(model, options), options, 6, 'qdq', 'halfScale', 'float16');
 * ```
 */
export async function planOnnxBudget(
  model: OnnxModel, plan: OnnxPlan, options: CompressOnnxOptions, targetBits: number, onnxOps: OnnxOps,
  rounding: ScaleRounding | undefined, scaleDtype: ScaleDType, backend?: OpOptions, pool?: CpuWorkerPool,
): Promise<{ plan: OnnxPlan; allocation: BudgetAllocation }> {
  const roundScale = scaleRounder(rounding);
  const weights = model.list();
  // Measured sensitivities cover the first layers too: they join the budget unless firstLayer says otherwise.
  const budgetPlan = options.outputError && options.firstLayer === undefined
    ? planOnnxCompression(model, { ...options, firstLayer: 'quantize' }, onnxOps) : plan;
  const outputs = outputLayerWeights(model.proto.graph as GraphProto);
  const marked = weights.map((w) => (w.graph === 'graph' && outputs.has(w.tensorName) ? { ...w, outputLayer: true } : w));
  // On a pool the workers measure the weights' options ahead of the allocator (with a probe, returning its option's integers).
  // The weights measured here are read one at a time into one array used again (a view of the model's bytes where
  // they are aligned float32): measuring keeps none of them, only their options' results. On one thread on the
  // CPU path without a probe, a weight in a file is measured a block of rows at a time (budget-measure-file.ts).
  const scratch = reusedFloat32();
  const read = (i: number) => model.readFloat32View(weights[i]!.name, scratch);
  const storedOf: StoredOf = (result, decision) => storedParametersOf(result, decision, scaleDtype);
  const quantizeOptions = roundScale ? { roundScale } : {};
  const measured = pool ? budgetOnPool(pool, model, marked, budgetPlan.decisions, options, rounding, scaleDtype, options.outputError !== undefined)
    : !options.outputError && (await getBackend(backend)) === 'cpu' ? budgetFromFiles(model, marked, budgetPlan.decisions, options, read, quantizeOptions, storedOf) : undefined;
  const allocated = await allocateBudget(marked, budgetPlan.decisions, options, targetBits, read, quantizeOptions, backend, 'onnx', options.outputError, storedOf, measured);
  return { plan: planOfDecisions(model, allocated.decisions, onnxOps), allocation: allocated.allocation };
}
