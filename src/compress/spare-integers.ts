/**
 * Memory for the integers CPU workers compute while a safetensors file is written: the buffer a worker's integers
 * came in (transferred) goes back to a worker with a later weight once the weight is written, so no worker touches
 * fresh memory for each weight's integers (16 MiB for a [4096, 4096] int8 weight; touching fresh pages costs more
 * than quantizing them, docs/performance.md). Only buffers recorded as a worker's, of 1 MiB and more, are handed
 * out again, and only once written: the sink is done with a chunk once its write resolves. A weight's parameters
 * (megabytes for one in groups) go back the same way, to a later weight of as many parameters.
 *
 * @example
 * ```ts
 * const spares = spareIntegers();
 * const integers = spares.take(4096 * 4096);
 * await pool.run('planWeightFile', [range, shape, decision, integers], integers ? [integers] : []);
 * ```
 * @module
 */
import { smallestFitting } from './buffer-slots.js';
import { type LentParameters, lentParametersOf, parameterSpares } from './lent-parameters.js';
import { LEND_FROM_BYTES } from './integer-lender.js';
import type { QuantizedWeight } from './quantize-weight.js';

/**
 * Buffers a worker's integers came in, handed back to the workers once written (`take`, transferred with a later
 * weight), so that no worker touches fresh memory for each weight's integers; `adopt` records one that came.
 */
export interface SpareIntegers {
  take(byteLength: number): ArrayBuffer | undefined;
  adopt(buffer: ArrayBufferLike): void;
  /** The integers of a written weight: their buffer goes back where it came from a worker. */
  written(buffer: ArrayBufferLike): void;
  /** As `adopt`, for a worker's weight's parameters (lentParametersOf: where each array fills a buffer of its own). */
  adoptParameters(result: QuantizedWeight): void;
  /** As `written`, for a written weight's parameters: they go back to a worker with a later weight of as many. */
  writtenParameters(result: QuantizedWeight): void;
  /** Memory for exactly `count` parameters (transfer all three), or undefined. */
  takeParameters(count: number): LentParameters | undefined;
}

/** Written integers' buffers kept to go back to the workers: about one per task in flight. */
const kSpareIntegers = 4;

/**
 * A free list of written integers' buffers that came from CPU workers (see the module documentation).
 *
 * @example
 * ```ts
 * const spares = spareIntegers();
 * const integers = spares.take(elements); // transfer it with the task, or undefined
 * spares.adopt(outcome.result.q.intReprView().buffer);
 * // … the weight is written …
 * spares.written(outcome.result.q.intReprView().buffer);
 * ```
 */
export function spareIntegers(): SpareIntegers {
  const adopted = new WeakSet<ArrayBufferLike>();
  const free: ArrayBuffer[] = [];
  const freeParameters = parameterSpares(kSpareIntegers);
  return {
    adoptParameters(result) {
      const parameters = lentParametersOf(result, LEND_FROM_BYTES);
      if (parameters) adopted.add(parameters.scales64);
    },
    writtenParameters(result) {
      const parameters = lentParametersOf(result, LEND_FROM_BYTES);
      if (parameters && adopted.delete(parameters.scales64)) freeParameters.give(parameters);
    },
    takeParameters: (count) => freeParameters.take(count),
    take(byteLength) {
      const best = smallestFitting(free, byteLength);
      return best < 0 ? undefined : free.splice(best, 1)[0];
    },
    adopt(buffer) {
      if (buffer instanceof ArrayBuffer && buffer.byteLength >= LEND_FROM_BYTES) adopted.add(buffer);
    },
    written(buffer) {
      if (!adopted.has(buffer) || !(buffer instanceof ArrayBuffer)) return;
      adopted.delete(buffer);
      free.push(buffer);
      if (free.length > kSpareIntegers) free.sort((a, b) => b.byteLength - a.byteLength).pop();
    },
  };
}
