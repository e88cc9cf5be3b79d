/**
 * Reading GPU results back to the CPU: copy into a pooled MAP_READ staging buffer, map, copy out, and
 * always hand the staging buffer back (`finally`), even when mapping fails.
 *
 * @example
 * ```ts
 * const encoder = device.createCommandEncoder({ label: 'quantize.readback' });
 * const pending = encodeReadback(pool, encoder, output, 1024, 'quantize.readback');
 * device.queue.submit([encoder.finish()]);
 * await finishReadback(pool, pending, (bytes) => result.set(new Int8Array(bytes)));
 * ```
 * @module
 */
import type { BufferPool } from './buffer-pool.js';

/** A staging buffer already holding a copy of a result, waiting to be mapped. */
export interface PendingReadback {
  staging: GPUBuffer;
  byteLength: number;
}

/**
 * Encodes a copy of `byteLength` bytes of `source` into a fresh staging buffer. Submit `encoder`, then
 * call {@link finishReadback}.
 */
export function encodeReadback(
  pool: BufferPool, encoder: GPUCommandEncoder, source: GPUBuffer, byteLength: number, label: string,
): PendingReadback {
  const staging = pool.acquire(byteLength, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, `${label}.staging`);
  encoder.copyBufferToBuffer(source, 0, staging, 0, byteLength);
  return { staging, byteLength };
}

/**
 * Maps the staging buffer and hands its bytes to `consume` (which must copy what it keeps: the mapping is
 * gone after it returns). The staging buffer goes back to the pool in every case, or is destroyed when
 * mapping failed.
 */
export async function finishReadback(
  pool: BufferPool, pending: PendingReadback, consume: (bytes: ArrayBuffer) => void,
): Promise<void> {
  let mapped = false;
  try {
    await pending.staging.mapAsync(GPUMapMode.READ, 0, pending.byteLength);
    mapped = true;
    consume(pending.staging.getMappedRange(0, pending.byteLength));
  } finally {
    if (mapped) {
      pending.staging.unmap();
      pool.release(pending.staging);
    } else {
      pool.discard(pending.staging);
    }
  }
}
