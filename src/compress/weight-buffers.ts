/**
 * Where the compressor keeps a weight's float32 values while it quantizes it on the CPU, one weight at a time:
 * held in the CPU kernels' memory ({@link holdWeight}), so that the scan, min/max, quantize and error
 * statistics passes read one copy in place instead of each copying it in; else, where it cannot be held, in
 * one growing array reused from weight to weight ({@link reusedFloat32}). Touching fresh memory costs more than
 * the arithmetic on a large weight (docs/performance.md), so neither allocates per weight.
 *
 * @example
 * ```ts
 * const slot = holdWeight([4096, 1024], decision);
 * try { const data = slot?.data; } finally { slot?.release(); }
 * ```
 * @module
 */
import { type HeldFloat32, holdFloat32, scratchBoundOf } from '../kernels/cpu/simd-module.js';
import type { QTensor } from '../qtensor.js';
import type { WeightDecision } from './policy.js';
import { paramShapeOf } from './quantize-weight.js';

/**
 * A growing array handed out again for each weight that needs a converted copy.
 *
 * @example
 * ```ts
 * const scratch = reusedFloat32();
 * scratch(10).length; // 10 (the same memory as the next call's)
 * ```
 */
export function reusedFloat32(): (count: number) => Float32Array {
  let array: Float32Array | undefined;
  return (count) => {
    if (!array || array.length < count) array = new Float32Array(count);
    return array.subarray(0, count);
  };
}

/**
 * Holds a weight of `shape` in the CPU kernels' memory with room for every pass over it as `decision` says
 * (escalation only lowers the parameter count), or undefined where it cannot be held (no WebAssembly SIMD,
 * another weight held, past the memory limit). Fill `data`, and `release()` when the weight is done.
 *
 * @example
 * ```ts
 * const slot = holdWeight(info.shape, decision);
 * if (slot) slot.data.set(weights);
 * ```
 */
export function holdWeight(shape: readonly number[], decision: WeightDecision): HeldFloat32 | undefined {
  const elements = shape.reduce((a, b) => a * b, 1);
  const parameters = paramShapeOf(shape, decision).reduce((a, b) => a * b, 1);
  return holdFloat32(elements, scratchBoundOf(elements, parameters, Math.max(1, ...shape)));
}

/**
 * The buffer under a QTensor's integers held on the CPU: its packed nibbles' where it holds 4-bit ones two to a
 * byte (never unpacked to find it), else its values'.
 *
 * @example
 * ```ts
 * const buffer = new ArrayBuffer(8);
 * integersBufferOf(new QTensor({ nibbles: new Uint8Array(buffer) }, [16], 'qint4', params, 'cpu')) === buffer; // true
 * ```
 */
export function integersBufferOf(q: QTensor): ArrayBufferLike {
  return q.packedNibbles?.buffer ?? q.intReprView().buffer;
}
