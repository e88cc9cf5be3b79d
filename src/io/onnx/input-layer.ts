/**
 * The first layer of a model: the weights of the weighted operators (Conv, ConvTranspose, MatMul, Gemm,
 * LSTM, GRU, RNN) whose other input is computed from the model's inputs without passing through another
 * weighted operator (only reshaping, padding, normalising, …). Their error reaches every later layer and
 * nothing before them can absorb it: Silero VAD's STFT basis, 46 dB SQNR as int8 per channel, alone moves
 * speech probabilities by up to 0.26 (docs/quality.md).
 *
 * Values are followed by name across every graph (subgraphs read outer names directly), repeating until
 * nothing changes, so an `If` branch that reads the model input counts. Only activation inputs count (input
 * 0, either side of MatMul): a recurrent layer whose initial state is a model input is not a first layer,
 * and a weighted layer stops the walk, so a weight fed only through a weighted layer does not count.
 *
 * @example
 * ```ts
 * firstLayerWeights(model.proto.graph!); // Set { 'graph/If_25.then_branch|model.feature_extractor.forward_basis_buffer', ... }
 * ```
 * @module
 */
import { listGraphs } from './graph-index.js';
import { type GraphProto, attributesOf, initializersOf, nodesOf, valueInfosOf } from './proto.js';

const kWeighted = new Set(['Conv', 'ConvTranspose', 'MatMul', 'Gemm', 'LSTM', 'GRU', 'RNN']);
/** Their own inputs are conditions and loop counts, not data: their outputs follow their bodies' outputs. */
const kControlFlow = new Set(['If', 'Loop', 'Scan']);

/**
 * `consumerGraphPath|tensorName` of every first-layer use of a weight (module documentation): the path is
 * the graph of the consuming node (a weight index's `consumers[i].graph`), which may be inside the graph
 * that stores the weight.
 *
 * @example
 * ```ts
 * firstLayerWeights(graph).has('graph|conv1.weight'); // true when conv1 reads the model input
 * ```
 */
export function firstLayerWeights(root: GraphProto): Set<string> {
  const graphs = listGraphs(root);
  const stored = new Set<string>();
  for (const { graph } of graphs) {
    for (const t of initializersOf(graph)) stored.add(t.name);
    for (const node of nodesOf(graph)) if (node.opType === 'Constant' && node.output[0]) stored.add(node.output[0]);
  }
  const fromInput = new Set(valueInfosOf(root.input).map((v) => v.name).filter((name) => !stored.has(name)));
  const found = new Set<string>();
  for (let changed = true; changed;) {
    changed = false;
    for (const { graph, path } of graphs) {
      for (const node of nodesOf(graph)) {
        if (kControlFlow.has(node.opType)) {
          // Outputs follow the branch / body outputs (a Loop body's first output is its condition).
          const offset = node.opType === 'Loop' ? 1 : 0;
          for (const a of attributesOf(node)) {
            for (const body of [a.g, ...a.graphs].filter((g) => g) as GraphProto[]) {
              valueInfosOf(body.output).forEach((v, i) => {
                const out = node.output[i - offset];
                if (i >= offset && out && fromInput.has(v.name) && !fromInput.has(out)) { fromInput.add(out); changed = true; }
              });
            }
          }
          continue;
        }
        const inputs = node.input.filter((name) => name);
        if (!inputs.some((name) => fromInput.has(name))) continue;
        if (kWeighted.has(node.opType) && (node.domain === '' || node.domain === 'ai.onnx')) {
          // The activation input: input 0 (X of Conv / Gemm / LSTM; a recurrent initial state does not count), either side of MatMul.
          const data = node.opType === 'MatMul' ? node.input.slice(0, 2) : node.input.slice(0, 1);
          if (!data.some((name) => fromInput.has(name))) continue;
          for (const name of inputs) {
            if (!stored.has(name)) continue;
            const key = `${path}|${name}`;
            if (!found.has(key)) { found.add(key); changed = true; }
          }
          continue;
        }
        for (const out of node.output) {
          if (out && !fromInput.has(out)) { fromInput.add(out); changed = true; }
        }
      }
    }
  }
  return found;
}
