/**
 * Finds every weight of an ONNX model and who uses it. Weights are graph initializers and `Constant` nodes
 * holding a `value` tensor, in the main graph and in every subgraph (`If` then/else_branch, `Loop` / `Scan`
 * body, any GRAPH or GRAPHS attribute), recursively. Names are scoped per graph: a node resolves an input
 * name in its own graph first, then outward, so a subgraph that shadows an outer name gets its own weight,
 * and a subgraph that uses an outer weight is one of that weight's consumers.
 *
 * Graph paths read `graph` for the main graph and `graph/If_25.then_branch` for a subgraph (the owning
 * node's name, or `OpType#index` when it has none, then the attribute).
 *
 * @example
 * ```ts
 * const weights = indexWeights(model.graph!);
 * weights[0].tensorName;           // 'model.first_layer.0.dw_conv.0.weight'
 * weights[0].consumers[0];         // { opType: 'Conv', inputIndex: 1, graph: 'graph/If_25.then_branch', ... }
 * ```
 * @module
 */
import { FormatError } from '../../errors.js';
import type { OnnxConsumer } from './onnx-types.js';
import {
  ATTRIBUTE_TYPE, type GraphProto, type NodeProto, type TensorProto, attributesOf, initializersOf, nodeLabel, nodesOf,
  simpleAttributes, valueInfosOf,
} from './proto.js';

export type { OnnxConsumer } from './onnx-types.js';

/** A graph of the model with its place in the nesting. */
export interface GraphEntry {
  graph: GraphProto;
  path: string;
  parent: GraphEntry | undefined;
}

/** A weight found in the model, with what the writer needs to replace it. */
export interface IndexedWeight {
  tensorName: string;
  graph: GraphEntry;
  source: 'initializer' | 'constant';
  tensor: TensorProto;
  /** The Constant node, for source 'constant'. */
  node: NodeProto | undefined;
  consumers: OnnxConsumer[];
  /** The initializer is also listed as a graph input (IR < 4 style, or an overridable default). */
  graphInput: boolean;
}

/** Nesting deeper than this is treated as a damaged file rather than recursed into. */
export const MAX_GRAPH_DEPTH = 64;

type Scope = { names: Map<string, IndexedWeight | null>; parent: Scope | undefined };

function resolve(scope: Scope, name: string): IndexedWeight | null | undefined {
  for (let s: Scope | undefined = scope; s; s = s.parent) {
    if (s.names.has(name)) return s.names.get(name);
  }
  return undefined;
}

/** The subgraphs a node owns, with their paths. */
function subgraphsOf(node: NodeProto, index: number, path: string): { graph: GraphProto; path: string }[] {
  const out: { graph: GraphProto; path: string }[] = [];
  for (const attribute of attributesOf(node)) {
    const base = `${path}/${nodeLabel(node, index)}.${attribute.name}`;
    if (attribute.g) out.push({ graph: attribute.g as GraphProto, path: base });
    (attribute.graphs as GraphProto[]).forEach((graph, i) => out.push({ graph, path: `${base}[${i}]` }));
  }
  return out;
}

/**
 * The tensor of a `Constant` node, when it holds one in `value` (not `value_float`, `sparse_value`, ...).
 *
 * @example
 * ```ts
 * constantTensor(constantNode)?.dims; // [64, 32]
 * constantTensor(reluNode);           // undefined
 * ```
 */
export function constantTensor(node: NodeProto): TensorProto | undefined {
  if (node.opType !== 'Constant' || (node.domain !== '' && node.domain !== 'ai.onnx')) return undefined;
  const value = attributesOf(node).find((a) => a.name === 'value' && (a.type === ATTRIBUTE_TYPE.TENSOR || a.t));
  return (value?.t as TensorProto | undefined) ?? undefined;
}

/**
 * Every graph of the model, parents before children. Throws FormatError when the nesting is deeper than
 * {@link MAX_GRAPH_DEPTH}.
 *
 * @example
 * ```ts
 * listGraphs(model.graph!).map((g) => g.path); // ['graph', 'graph/If_25.then_branch', ...]
 * ```
 */
export function listGraphs(root: GraphProto): GraphEntry[] {
  const out: GraphEntry[] = [];
  const visit = (graph: GraphProto, path: string, parent: GraphEntry | undefined, depth: number): void => {
    if (depth > MAX_GRAPH_DEPTH) throw new FormatError(`graph ${path}: subgraphs nest deeper than ${MAX_GRAPH_DEPTH}; the file is damaged`);
    const entry: GraphEntry = { graph, path, parent };
    out.push(entry);
    nodesOf(graph).forEach((node, i) => {
      for (const sub of subgraphsOf(node, i, path)) visit(sub.graph, sub.path, entry, depth + 1);
    });
  };
  visit(root, 'graph', undefined, 0);
  return out;
}

/**
 * Finds the weights of the graph tree rooted at `root` and their consumers (see the module documentation).
 * Throws FormatError when one graph defines a name twice or nests too deep.
 *
 * @example
 * ```ts
 * indexWeights(model.graph!).filter((w) => w.source === 'constant').length; // weights held by Constant nodes
 * ```
 */
export function indexWeights(root: GraphProto): IndexedWeight[] {
  const weights: IndexedWeight[] = [];
  const visit = (entry: GraphEntry, outer: Scope | undefined, depth: number): void => {
    const { graph, path } = entry;
    if (depth > MAX_GRAPH_DEPTH) throw new FormatError(`graph ${path}: subgraphs nest deeper than ${MAX_GRAPH_DEPTH}; the file is damaged`);
    const scope: Scope = { names: new Map(), parent: outer };
    const define = (name: string, value: IndexedWeight | null, what: string): void => {
      if (!name) return;
      if (scope.names.get(name)) throw new FormatError(`graph ${path}: ${what} ${JSON.stringify(name)} is defined twice`);
      scope.names.set(name, value);
    };
    const inputNames = new Set(valueInfosOf(graph.input).map((v) => v.name));
    for (const tensor of initializersOf(graph)) {
      const weight: IndexedWeight = {
        tensorName: tensor.name, graph: entry, source: 'initializer', tensor, node: undefined, consumers: [],
        graphInput: inputNames.has(tensor.name),
      };
      if (!tensor.name) throw new FormatError(`graph ${path}: an initializer has no name`);
      define(tensor.name, weight, 'initializer');
      weights.push(weight);
    }
    for (const name of inputNames) if (!scope.names.has(name)) define(name, null, 'input');
    nodesOf(graph).forEach((node) => {
      const tensor = constantTensor(node);
      if (tensor && node.output.length >= 1) {
        const weight: IndexedWeight = {
          tensorName: node.output[0]!, graph: entry, source: 'constant', tensor, node, consumers: [], graphInput: false,
        };
        define(node.output[0]!, weight, 'Constant output');
        weights.push(weight);
      } else {
        for (const output of node.output) define(output, null, 'node output');
      }
    });
    nodesOf(graph).forEach((node, index) => {
      node.input.forEach((name, inputIndex) => {
        const weight = name ? resolve(scope, name) : undefined;
        if (!weight) return;
        weight.consumers.push({
          opType: node.opType, domain: node.domain, nodeName: nodeLabel(node, index), graph: path, inputIndex,
          attributes: simpleAttributes(node, `node ${nodeLabel(node, index)} in ${path}`),
        });
      });
      for (const sub of subgraphsOf(node, index, path)) visit({ graph: sub.graph, path: sub.path, parent: entry }, scope, depth + 1);
    });
    for (const output of valueInfosOf(graph.output)) {
      const weight = resolve(scope, output.name);
      if (weight) {
        weight.consumers.push({
          opType: '(graph output)', domain: '', nodeName: '', graph: path, inputIndex: -1, attributes: {},
        });
      }
    }
  };
  visit({ graph: root, path: 'graph', parent: undefined }, undefined, 0);
  return weights;
}
