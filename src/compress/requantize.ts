/**
 * A quantized weight's stored bytes computed again, for a compressor that does not hold every weight's integers
 * until the file is written: the weight is read again from its model and quantized on the CPU with the
 * parameters the first pass chose. Quantizing is exact and the same on every backend, so these are the bytes
 * the first pass produced (the tests compare them).
 *
 * @example
 * ```ts
 * const produce = requantizeLater(model, 'fc1.weight', result.q); // holds the parameters, not the integers
 * tensor.rawData = producedLater(ints.byteLength, produce);        // written by writeParts
 * ```
 * {@link heldIntegers} decides which weights keep their integers in memory.
 * @module
 */
import { dtypeInfo } from '../dtype.js';
import type { OnnxModel } from '../io/onnx/onnx-model.js';
import { quantizePerChannel, quantizePerGroup, quantizePerTensor } from '../ops/quantize.js';
import type { QTensor } from '../qtensor.js';
import { holdFloat32, scratchBoundOf } from '../kernels/cpu/simd-module.js';
import { producedLater } from '../io/onnx/deferred-raw-data.js';
import { reusedFloat32 } from './weight-buffers.js';

/**
 * A function giving the bytes a QDQ initializer stores for `q`: one byte per 8-bit integer, two 4-bit integers
 * per byte (`packedData()`), quantized again from weight `name` of `model`. Keeps `q`'s parameters, not `q`.
 * The weight is read into the CPU kernels' memory, where the quantize pass reads it in place; where it cannot be
 * held there, into `scratch` (one array reused by every function sharing it; they run one at a time, as
 * `writeParts` runs them).
 *
 * @example
 * ```ts
 * const bytes = await requantizeLater(model, 'fc1.weight', q)(); // equal to q's stored bytes
 * ```
 */
export function requantizeLater(
  model: OnnxModel, name: string, q: QTensor, scratch: (count: number) => Float32Array = reusedFloat32(),
): () => Promise<Uint8Array> {
  const { dtype, params } = q;
  const shape = [...q.shape];
  const elements = q.size;
  const parameters = params.scheme === 'per_tensor_affine' ? 1 : params.scales.length;
  return async () => {
    const slot = holdFloat32(elements, scratchBoundOf(elements, parameters, 1));
    try {
      const viewed = await model.readFloat32View(name, slot ? (count) => (count === elements ? slot.data : scratch(count)) : scratch);
      if (slot && viewed !== slot.data) slot.data.set(viewed);
      const x = { data: slot?.data ?? viewed, shape };
      const cpu = { backend: 'cpu' } as const;
      const again = params.scheme === 'per_group_affine'
        ? await quantizePerGroup(x, params.scales, params.zeroPoints, params.axis, params.groupSize, dtype, cpu)
        : params.scheme === 'per_channel_affine'
          ? await quantizePerChannel(x, params.scales, params.zeroPoints, params.axis, dtype, cpu)
          : await quantizePerTensor(x, params.scale, params.zeroPoint, dtype, cpu);
      if (dtypeInfo(dtype).bits !== 8) return again.packedData();
      const ints = again.intReprView();
      return new Uint8Array(ints.buffer, ints.byteOffset, ints.byteLength);
    } finally {
      slot?.release();
    }
  };
}

/** The integers a compressor holds for writing, up to a limit (see {@link heldIntegers}). */
export interface HeldIntegers {
  /**
   * `bytes` (q's stored bytes) when they fit within the limit, or with `keep` (counted either way), else a
   * placeholder quantized again when written.
   */
  store(name: string, q: QTensor, bytes: Uint8Array, keep?: boolean): Uint8Array;
  /** Counts bytes held that cannot be produced again (blocks laid out otherwise). */
  add(byteLength: number): void;
  /** For bytes `store` returned: a placeholder that quantizes them again when written (they no longer count); else undefined. */
  drop(bytes: Uint8Array): Uint8Array | undefined;
}

/**
 * Holds integers for writing up to `limitBytes`; past that (where `model` can be read again: `enabled`), a weight's
 * integers become a {@link producedLater} placeholder that {@link requantizeLater} fills when it is written.
 *
 * @example
 * ```ts
 * const held = heldIntegers(model, 256 * 2 ** 20, true);
 * writeQdq(model, name, { ...q, data: held.store(name, result.q, bytes) }, names);
 * ```
 */
export function heldIntegers(model: OnnxModel, limitBytes: number, enabled: boolean): HeldIntegers {
  let heldBytes = 0;
  const scratch = reusedFloat32(); // one array for every weight read again (one at a time)
  const again = new WeakMap<Uint8Array, () => Promise<Uint8Array>>();
  return {
    store(name, q, bytes, keep = false) {
      const produce = enabled ? requantizeLater(model, name, q, scratch) : undefined;
      if (produce && !keep && heldBytes + bytes.byteLength > limitBytes) return producedLater(bytes.byteLength, produce);
      heldBytes += bytes.byteLength;
      if (produce) again.set(bytes, produce);
      return bytes;
    },
    add(byteLength) { heldBytes += byteLength; },
    drop(bytes) {
      const produce = again.get(bytes);
      if (!produce) return undefined;
      again.delete(bytes);
      heldBytes -= bytes.byteLength;
      return producedLater(bytes.byteLength, produce);
    },
  };
}
