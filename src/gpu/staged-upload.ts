/**
 * Big uploads through staging buffers the pool keeps: the data is copied, a piece at a time, into MAP_WRITE
 * buffers mapped again each time (their pages were touched by an earlier upload), and the device copies each
 * piece into the target; two pieces alternate, so one is filled while the device copies the other. Uploads to
 * one device take turns, so the pool holds two staging buffers for all of them, however many weights are in
 * flight. `queue.writeBuffer` copies into fresh staging memory instead. In Node (Dawn in this process) on an
 * NVIDIA H200, 64 MiB took 28 ms with writeBuffer and 12 ms through one reused staging buffer (docs/performance.md,
 * "Uploads through staging buffers"). In a browser a mapping is shared memory the GPU process copies from at
 * unmap, a round trip more than writeBuffer, so {@link GpuManager.stagedUploads} is off there; small uploads
 * always take writeBuffer.
 *
 * @example
 * ```ts
 * await uploadFloat32(manager, buffer, weights, 'weight|resident'); // buffer: COPY_DST, room for the weights
 * ```
 * @module
 */
import type { GpuManager } from './device.js';

/** Uploads of at least this many bytes go through staging buffers (where the manager says so). */
export const STAGED_UPLOAD_BYTES = 4 * 2 ** 20;

/**
 * The staging buffers' size: two of them are kept by the pool between uploads, whatever the weight's size. On the
 * H200, 1 GB of 64 MiB weights: 8 MiB pieces 1.15–1.21 s, one piece per weight 1.11–1.12 s, writeBuffer 1.30–1.38 s;
 * on SwiftShader in Node one piece per weight held 65 MiB more at its peak, 8 MiB pieces 16–22 MiB more.
 */
export const STAGING_PIECE_BYTES = 8 * 2 ** 20;

/**
 * Writes `data` at the start of `target` (COPY_DST usage, room for it): through pooled staging buffers and copies
 * submitted on the device's queue when `manager.stagedUploads` holds and `data` has {@link STAGED_UPLOAD_BYTES} or
 * more, else through writeBuffer. Either way later submits see the data (the queue runs in order). `label` names
 * the staging buffers and the copies' encoders (`label.staging`, `label.upload`). On a failure the staging
 * buffers are destroyed, not pooled, and the error is thrown.
 *
 * @example
 * ```ts
 * const buffer = manager.pool.acquire(4 * w.length, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, 'weight|resident.values');
 * await uploadFloat32(manager, buffer, w, 'weight|resident');
 * ```
 */
export async function uploadFloat32(manager: GpuManager, target: GPUBuffer, data: Float32Array, label: string): Promise<void> {
  if (!manager.stagedUploads || data.byteLength < STAGED_UPLOAD_BYTES) {
    manager.device.queue.writeBuffer(target, 0, data as Float32Array<ArrayBuffer>);
    return;
  }
  const turn = (turns.get(manager) ?? Promise.resolve()).then(() => stagedUpload(manager, target, data, label));
  turns.set(manager, turn.catch(() => undefined));
  return turn;
}

/** Each device's last staged upload: the next one starts after it. */
const turns = new WeakMap<GpuManager, Promise<unknown>>();

/** {@link uploadFloat32} through the two staging buffers, in pieces. */
async function stagedUpload(manager: GpuManager, target: GPUBuffer, data: Float32Array, label: string): Promise<void> {
  const { device, pool } = manager;
  const bytes = data.byteLength;
  const piece = Math.min(STAGING_PIECE_BYTES, bytes);
  const staging: GPUBuffer[] = [];
  let done = false;
  try {
    for (let i = 0; i < (bytes > piece ? 2 : 1); i++) staging.push(pool.acquire(piece, GPUBufferUsage.MAP_WRITE | GPUBufferUsage.COPY_SRC, `${label}.staging`));
    for (let offset = 0, k = 0; offset < bytes; offset += piece, k++) {
      const size = Math.min(piece, bytes - offset);
      const buffer = staging[k % staging.length]!;
      await buffer.mapAsync(GPUMapMode.WRITE, 0, size); // waits for the device's copy of its last piece
      new Uint8Array(buffer.getMappedRange(0, size)).set(new Uint8Array(data.buffer, data.byteOffset + offset, size));
      buffer.unmap();
      const encoder = device.createCommandEncoder({ label: `${label}.upload` });
      encoder.copyBufferToBuffer(buffer, 0, target, offset, size);
      device.queue.submit([encoder.finish()]);
    }
    done = true;
  } finally {
    // Pooled once their copies are submitted: a later mapping waits for them.
    for (const buffer of staging) {
      if (done) pool.release(buffer);
      else pool.discard(buffer);
    }
  }
}
