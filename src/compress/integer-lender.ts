/**
 * Memory for the integers the CPU path computes while an ONNX model is compressed, handed out again once the model
 * no longer holds them: on the calling thread ({@link IntegerLender.forWeight}, and {@link IntegerLender.forCommit}
 * for 4-bit integers packed two to a byte), and to CPU workers, whose integers come back transferred and go out
 * again with a later weight ({@link IntegerLender.adopt}, {@link IntegerLender.forPool}). Each weight's integers
 * otherwise go into a fresh array (16 MiB for a [4096, 4096] int8 weight), and touching fresh pages costs more than
 * quantizing on a large weight (docs/performance.md). Integers written as planned and then dropped (a placeholder
 * quantizes them again should the file be written a second time), moved to an external data file, or packed into
 * other bytes are held by nothing once their weight is committed; those of a weight the model still holds (an output
 * kept in memory) are never handed out again.
 *
 * A worker's outcome also brings its parameters (a weight in groups of 32 has megabytes of scales, zero points and
 * the QTensor's float64 scales; a packed 4-bit one brings them in its integers' buffer, after them, and they go
 * back with it): those, in buffers of their own, of a weight written as planned, whose commit keeps nothing of them but the
 * model's tensors, go back to the workers as well ({@link IntegerLender.adoptParameters},
 * {@link IntegerLender.forPoolParameters}), for a later weight of as many parameters. A worker that made fresh
 * arrays for each weight left them, freed, in its thread's allocator arena, which kept them resident
 * (docs/performance.md, "Parameters and scratch kept from weight to weight").
 *
 * A buffer goes back to the free list only when no tensor anywhere in the model (initializers, sparse initializers
 * and tensor attributes, in every graph) lies over it: the check is the model itself, not what a writer is
 * expected to do.
 *
 * @example
 * ```ts
 * const lender = integerLender(model.proto.graph);
 * const loan = lender.forWeight(i);
 * const outcome = await quantizeWithFloor(x, decision, { integers: loan.take }, { backend: 'cpu' });
 * loan.keep(outcome);          // the chosen integers wait for their commit; the rejected ones go back
 * // ... commit weight i, write it ...
 * lender.settle(i);            // the buffers of weights up to i that the model no longer holds go back
 * ```
 * @module
 */
import { listGraphs } from '../io/onnx/graph-index.js';
import { type GraphProto, type TensorProto, attributesOf, initializersOf, nodesOf } from '../io/onnx/proto.js';
import { type LentParameters, lentParametersOf, parameterSpares } from './lent-parameters.js';
import { bufferSlots, smallestFitting } from './buffer-slots.js';
import type { FloorOutcome } from './quality-floor.js';
import { integersBufferOf } from './weight-buffers.js';

/** What one weight borrows: `take` for QuantizeWeightOptions.integers, then `keep` with the weight's outcome. */
export interface WeightLoan {
  /** A buffer of at least `byteLength` bytes for a QTensor's integers. */
  take(byteLength: number): ArrayBuffer;
  /**
   * The outcome is in: the buffer under its integers waits until the weight is committed and
   * {@link IntegerLender.settle} finds it free; every other buffer this weight took (candidates the quality floor
   * rejected) goes back now.
   */
  keep(outcome: FloorOutcome | undefined): void;
}

/** What {@link integerLender} returns. */
export interface IntegerLender {
  /** A loan for weight `index` (weights may be prepared before the ones before them are committed). */
  forWeight(index: number): WeightLoan;
  /**
   * Weights up to `committed` are in the model: gives back their buffers that no tensor of the model lies over any
   * more. A later weight's chosen buffer waits for its own commit, even where the model does not hold it yet.
   */
  settle(committed: number): void;
  /**
   * Memory of exactly `byteLength` bytes for what weight `index`'s commit lays out from its integers (4-bit ones
   * packed two to a byte), given back as the integers are.
   */
  forCommit(index: number, byteLength: number): Uint8Array;
  /**
   * Weight `index`'s outcome came from a CPU worker: the buffer under its integers (transferred here) is this
   * thread's now, and once the model no longer holds it, it goes to {@link IntegerLender.forPool}.
   */
  adopt(index: number, outcome: FloorOutcome | undefined): void;
  /** A buffer of at least `byteLength` bytes a worker's integers came in and the model holds no more, to send back to a worker (transfer it), or undefined. */
  forPool(byteLength: number): ArrayBuffer | undefined;
  /**
   * As {@link IntegerLender.adopt}, for weight `index`'s parameters (its scales, zero points and the QTensor's
   * float64 scales, each in a buffer of its own, as a worker's come): call it only for a weight whose commit keeps
   * nothing of them but the model's tensors (written as planned: computed anew should the file be written again).
   * Once the model lies over none of them, they go to {@link IntegerLender.forPoolParameters}. Parameters of fewer
   * than `lendFromBytes` bytes in all are not tracked.
   */
  adoptParameters(index: number, outcome: FloorOutcome | undefined): void;
  /** Memory for exactly `count` parameters that a worker's outcome came in and nothing holds any more, to send to a worker (transfer all three), or undefined. */
  forPoolParameters(count: number): LentParameters | undefined;
  /** Buffers handed out again so far, here and to workers (a measure for tests and profiles). */
  readonly reused: number;
}

/** Workers' buffers kept for sending back: about one per task in flight. */
const kPoolSpares = 4;

/**
 * Smaller integers get fresh memory, untracked: their pages cost little, and each weight tracked costs a look over
 * the whole model when it is settled (a model of many small weights would pay that once per weight).
 */
export const LEND_FROM_BYTES = 2 ** 20;

/** Every buffer a tensor of the graph tree lies over. */
function heldBuffers(root: GraphProto): Set<ArrayBufferLike> {
  const held = new Set<ArrayBufferLike>();
  const add = (tensor: TensorProto | null | undefined) => {
    if (tensor?.rawData) held.add(tensor.rawData.buffer);
  };
  for (const { graph } of listGraphs(root)) {
    for (const tensor of initializersOf(graph)) add(tensor);
    for (const sparse of graph.sparseInitializer ?? []) {
      add(sparse.values as TensorProto | null | undefined);
      add(sparse.indices as TensorProto | null | undefined);
    }
    for (const node of nodesOf(graph)) {
      for (const attribute of attributesOf(node)) {
        add(attribute.t as TensorProto | null | undefined);
        for (const tensor of (attribute.tensors ?? []) as TensorProto[]) add(tensor);
        add(attribute.sparseTensor?.values as TensorProto | null | undefined);
        add(attribute.sparseTensor?.indices as TensorProto | null | undefined);
      }
    }
  }
  return held;
}

/** The buffer under a quantized outcome's integers, or undefined. */
function integersBuffer(outcome: FloorOutcome | undefined): ArrayBufferLike | undefined {
  if (outcome?.kind !== 'quantized') return undefined;
  // 4-bit integers held packed (from the GPU, or read in blocks and packed) are looked at as they are, never unpacked.
  return integersBufferOf(outcome.result.q);
}

/**
 * A lender over the model whose graph tree is `root` (see the module documentation), for integers of
 * `lendFromBytes` bytes or more (tests lower it).
 *
 * @example
 * ```ts
 * const lender = integerLender(model.proto.graph as GraphProto);
 * lender.reused; // 0
 * ```
 */
export function integerLender(root: GraphProto, lendFromBytes = LEND_FROM_BYTES): IntegerLender {
  const slots = bufferSlots('local');
  const lent = new Set<ArrayBufferLike>(); // out of the free list
  const chosen: { index: number; buffer: ArrayBufferLike; adopted: boolean }[] = []; // under weights' integers, maybe held by the model
  const poolSpares: ArrayBuffer[] = []; // workers' buffers the model holds no more
  const chosenParameters: { index: number; parameters: LentParameters }[] = []; // under weights' parameters, maybe held by the model
  const poolParameters = parameterSpares(kPoolSpares); // parameters' memory nothing holds any more
  const seen = new WeakSet<ArrayBufferLike>();
  let reused = 0;
  /** Exactly `byteLength` bytes from the free list (or new), out of it until given back. */
  const lend = (byteLength: number): Uint8Array => {
    if (byteLength < lendFromBytes) return new Uint8Array(byteLength); // untracked (LEND_FROM_BYTES)
    const view = slots.take(byteLength); // never a lent one: those are not in the free list
    lent.add(view.buffer);
    if (seen.has(view.buffer)) reused++;
    else seen.add(view.buffer);
    return view;
  };
  const giveBack = (buffer: ArrayBufferLike) => {
    if (lent.delete(buffer)) slots.give(new Uint8Array(buffer));
  };
  return {
    forWeight(index) {
      const mine: ArrayBufferLike[] = [];
      return {
        take(byteLength) {
          const view = lend(byteLength);
          if (lent.has(view.buffer)) mine.push(view.buffer);
          return view.buffer as ArrayBuffer;
        },
        keep(outcome) {
          const kept = integersBuffer(outcome);
          for (const buffer of mine) {
            if (buffer === kept) chosen.push({ index, buffer, adopted: false });
            else giveBack(buffer);
          }
          mine.length = 0;
        },
      };
    },
    settle(committed) {
      if (!chosen.some((c) => c.index <= committed) && !chosenParameters.some((c) => c.index <= committed)) return;
      const held = heldBuffers(root);
      for (let i = chosen.length - 1; i >= 0; i--) {
        const { index, buffer, adopted } = chosen[i]!;
        if (index > committed || held.has(buffer)) continue;
        chosen.splice(i, 1);
        if (!adopted) giveBack(buffer);
        else if (poolSpares.length < kPoolSpares && buffer instanceof ArrayBuffer) poolSpares.push(buffer);
      }
      for (let i = chosenParameters.length - 1; i >= 0; i--) {
        const { index, parameters } = chosenParameters[i]!;
        if (index > committed || Object.values(parameters).some((buffer) => held.has(buffer))) continue;
        chosenParameters.splice(i, 1);
        poolParameters.give(parameters);
      }
    },
    forCommit(index, byteLength) {
      const view = lend(byteLength);
      if (lent.has(view.buffer)) chosen.push({ index, buffer: view.buffer, adopted: false });
      return view;
    },
    adopt(index, outcome) {
      const buffer = integersBuffer(outcome);
      if (buffer && buffer.byteLength >= lendFromBytes && !lent.has(buffer)) chosen.push({ index, buffer, adopted: true });
    },
    forPool(byteLength) {
      const best = smallestFitting(poolSpares, byteLength);
      if (best < 0) return undefined;
      reused++;
      return poolSpares.splice(best, 1)[0]!;
    },
    adoptParameters(index, outcome) {
      const parameters = outcome?.kind === 'quantized' ? lentParametersOf(outcome.result, lendFromBytes) : undefined;
      if (parameters) chosenParameters.push({ index, parameters });
    },
    forPoolParameters(count) {
      const parameters = poolParameters.take(count);
      if (parameters) reused++;
      return parameters;
    },
    get reused() { return reused; },
  };
}
