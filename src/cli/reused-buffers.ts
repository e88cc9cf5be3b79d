/**
 * Byte arrays for reading weight after weight, used again instead of allocated for each.
 *
 * @example
 * ```ts
 * const buffers = reusedBuffers(2);
 * const bytes = await readWeightInto(reader, info, buffers(0, info.byteLength));
 * ```
 * @module
 */

/**
 * Byte arrays used again from read to read, each grown to the longest read so far: a fresh array for every
 * weight is allocated, touched page by page and collected each time, which costs more than the read.
 *
 * @example
 * ```ts
 * const buffers = reusedBuffers(2);
 * const bytes = await readWeightInto(reader, info, buffers(i % 2, info.byteLength));
 * ```
 */
export function reusedBuffers(count: number): (slot: number, bytes: number) => Uint8Array {
  const buffers = Array.from({ length: count }, () => new Uint8Array(0));
  return (slot, bytes) => {
    if (buffers[slot]!.byteLength < bytes) buffers[slot] = new Uint8Array(bytes);
    return buffers[slot]!.subarray(0, bytes);
  };
}
