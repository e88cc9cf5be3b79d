/**
 * Fresh names for what a writer adds to a model (initializers, nodes): every name already used anywhere in
 * the model (values, initializers, node names, in every graph) is taken, and a wanted name that is taken
 * gets the first free `_1`, `_2`, ... suffix.
 *
 * @example
 * ```ts
 * const names = new NameAllocator(model.graph!);
 * names.fresh('conv.weight_scale'); // 'conv.weight_scale' (or 'conv.weight_scale_1' when taken)
 * ```
 * @module
 */
import { listGraphs } from './graph-index.js';
import { type GraphProto, initializersOf, nodesOf, valueInfosOf } from './proto.js';

/**
 * Hands out names no part of the model uses yet.
 *
 * @example
 * ```ts
 * const names = new NameAllocator(graph); // graph uses 'w' and 'w_scale'
 * names.fresh('w_scale'); // 'w_scale_1'
 * names.fresh('w_scale'); // 'w_scale_2'
 * ```
 */
export class NameAllocator {
  readonly #taken = new Set<string>();

  constructor(root: GraphProto) {
    for (const { graph } of listGraphs(root)) {
      for (const t of initializersOf(graph)) this.#taken.add(t.name);
      for (const list of [graph.input, graph.output, graph.valueInfo]) for (const v of valueInfosOf(list)) this.#taken.add(v.name);
      for (const node of nodesOf(graph)) {
        if (node.name) this.#taken.add(node.name);
        for (const name of [...node.input, ...node.output]) this.#taken.add(name);
      }
    }
  }

  /** `wanted` if free, else `wanted_1`, `wanted_2`, ...; the result is taken from then on. */
  fresh(wanted: string): string {
    let name = wanted;
    for (let i = 1; this.#taken.has(name); i++) name = `${wanted}_${i}`;
    this.#taken.add(name);
    return name;
  }
}
