/**
 * The output layer of a model: the weights of the weighted operators (Conv, ConvTranspose, MatMul, Gemm,
 * LSTM, GRU, RNN) whose result reaches a graph output without passing through another weighted operator
 * (only biases, activations, softmax, reshaping, …): a classifier, a decoder's projection. Their error is
 * not averaged by any later layer; quantizers commonly give them more bits (llama.cpp stores `output.weight`
 * at higher precision than the rest). On PaddleOCR v4 rec, the classifier (`linear_85.w_0`, 120 × 6625)
 * as int4 per column costs 12.6 points of character accuracy on its own, as int4 in groups of 32 none
 * beyond the other weights' (docs/size-budget.md).
 *
 * Main graph only: outputs computed inside `If` / `Loop` bodies are not followed.
 *
 * @example
 * ```ts
 * outputLayerWeights(model.proto.graph!); // Set { 'linear_85.w_0' }
 * ```
 * @module
 */
import { type GraphProto, initializersOf, nodesOf } from './proto.js';

const kWeighted = new Set(['Conv', 'ConvTranspose', 'MatMul', 'Gemm', 'LSTM', 'GRU', 'RNN']);

/**
 * The names of the main graph's initializers (and Constant outputs) that the output layer reads as weights
 * (see the module documentation).
 *
 * @example
 * ```ts
 * outputLayerWeights(graph).has('classifier.weight'); // true when the classifier feeds the output
 * ```
 */
export function outputLayerWeights(graph: GraphProto): Set<string> {
  const producer = new Map<string, ReturnType<typeof nodesOf>[number]>();
  const constants = new Set(initializersOf(graph).map((t) => t.name ?? ''));
  for (const node of nodesOf(graph)) {
    for (const out of node.output ?? []) producer.set(out, node);
    if (node.opType === 'Constant') for (const out of node.output ?? []) constants.add(out);
  }
  const found = new Set<string>();
  const seen = new Set<string>();
  const queue = (graph.output ?? []).map((o) => o.name ?? '');
  while (queue.length) {
    const value = queue.pop()!;
    if (seen.has(value)) continue;
    seen.add(value);
    const node = producer.get(value);
    if (!node || node.opType === 'If' || node.opType === 'Loop' || node.opType === 'Scan') continue;
    if (kWeighted.has(node.opType ?? '')) {
      for (const input of node.input ?? []) if (constants.has(input)) found.add(input);
      continue;
    }
    for (const input of node.input ?? []) if (input && !constants.has(input)) queue.push(input);
  }
  return found;
}
