/**
 * The contrib operator a quantized weight is written as under `onnxOps: 'contrib'`: MatMulNBits for MatMul
 * weights (matmul-nbits-plan.ts), GatherBlockQuantized for Gather embedding tables (gather-block-plan.ts),
 * or neither, with the reason (then the weight is QDQ).
 *
 * @example
 * ```ts
 * contribLayout(decision, model.info('embed.weight')); // { ok: true, op: 'GatherBlockQuantized', blockSize: 32, parameters: 'groups' }
 * contribLayout(decision, model.info('fc1.weight'));   // { ok: true, op: 'MatMulNBits', blockSize: 32, parameters: 'groups' }
 * ```
 * @module
 */
import type { WeightInfo } from '../io/weights.js';
import type { OnnxConsumer } from '../io/onnx/onnx-types.js';
import { type GatherBlockLayout, gatherBlockLayout } from './gather-block-plan.js';
import { type MatMulNBitsLayout, matMulNBitsLayout } from './matmul-nbits-plan.js';
import type { WeightDecision } from './policy.js';

/** A weight's contrib form: which operator and its blocks, or why it has none. */
export type ContribLayout =
  | (Extract<MatMulNBitsLayout, { ok: true }> & { op: 'MatMulNBits' })
  | Extract<GatherBlockLayout, { ok: true }>
  | { ok: false; reason: string };

/**
 * The contrib form of a quantized weight (module documentation): by its consumers, Gather embeddings go to
 * GatherBlockQuantized and everything else is tried as MatMulNBits.
 *
 * @example
 * ```ts
 * contribLayout({ granularity: 'group', axis: 0, groupSize: 48, dtype: 'qint4' }, info); // { ok: false, reason: 'group size 48 is not ...' }
 * ```
 */
export function contribLayout(
  decision: Pick<WeightDecision, 'granularity' | 'axis' | 'groupSize' | 'dtype'>,
  weight: Pick<WeightInfo, 'shape' | 'dtype'> & { consumers: readonly Pick<OnnxConsumer, 'opType' | 'domain' | 'inputIndex' | 'attributes'>[] },
): ContribLayout {
  if (weight.consumers.length > 0 && weight.consumers.every((c) => c.opType === 'Gather')) return gatherBlockLayout(decision, weight);
  const layout = matMulNBitsLayout(decision, weight);
  return layout.ok ? { ...layout, op: 'MatMulNBits' } : layout;
}
