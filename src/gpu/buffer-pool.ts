/**
 * A pool of GPU buffers, bucketed by usage and size (powers of two), so that repeated calls allocate
 * nothing. Buffers are handed back right after the submit that used them: the queue runs work in order,
 * so a later writeBuffer or dispatch on a reused buffer cannot overtake the earlier one.
 *
 * @example
 * ```ts
 * const pool = new BufferPool(device);
 * const buf = pool.acquire(1024, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, 'quantize.input');
 * // ... encode, submit ...
 * pool.release(buf);
 * pool.stats().inUse; // 0
 * ```
 * @module
 */

/** Counters a test can check for leaks. */
export interface BufferPoolStats {
  /** Buffers handed out and not yet released. */
  inUse: number;
  inUseBytes: number;
  /** Buffers kept for reuse. */
  free: number;
  freeBytes: number;
  /** Buffers created over the pool's life, and acquisitions served from the free list. */
  created: number;
  reused: number;
}

const kMinBucketBytes = 256;

/** See the module documentation. */
export class BufferPool {
  readonly #device: GPUDevice;
  readonly #maxFreeBytes: number;
  readonly #free = new Map<string, GPUBuffer[]>();
  readonly #inUse = new Set<GPUBuffer>();
  #stats: BufferPoolStats = { inUse: 0, inUseBytes: 0, free: 0, freeBytes: 0, created: 0, reused: 0 };

  /** `maxFreeBytes` bounds the memory kept idle for reuse; past it released buffers are destroyed. */
  constructor(device: GPUDevice, maxFreeBytes = 256 * 1024 * 1024) {
    this.#device = device;
    this.#maxFreeBytes = maxFreeBytes;
  }

  /** Gets a buffer of at least `size` bytes with exactly `usage`; `label` names the kernel and role. */
  acquire(size: number, usage: GPUBufferUsageFlags, label: string): GPUBuffer {
    const bucket = bucketSize(size, this.#device.limits.maxBufferSize);
    const key = `${usage}:${bucket}`;
    let buffer = this.#free.get(key)?.pop();
    if (buffer) {
      this.#stats.free--;
      this.#stats.freeBytes -= buffer.size;
      this.#stats.reused++;
      buffer.label = label;
    } else {
      buffer = this.#device.createBuffer({ size: bucket, usage, label });
      this.#stats.created++;
    }
    this.#inUse.add(buffer);
    this.#stats.inUse++;
    this.#stats.inUseBytes += buffer.size;
    return buffer;
  }

  /** Returns a buffer for reuse. Buffers that are mapped or were not from this pool are destroyed. */
  release(buffer: GPUBuffer): void {
    if (!this.#inUse.delete(buffer)) return;
    this.#stats.inUse--;
    this.#stats.inUseBytes -= buffer.size;
    if (buffer.mapState !== 'unmapped' || this.#stats.freeBytes + buffer.size > this.#maxFreeBytes) {
      buffer.destroy();
      return;
    }
    const key = `${buffer.usage}:${buffer.size}`;
    let list = this.#free.get(key);
    if (!list) this.#free.set(key, (list = []));
    list.push(buffer);
    this.#stats.free++;
    this.#stats.freeBytes += buffer.size;
  }

  /** Releases a buffer and destroys it instead of keeping it (after a failure that may have left it odd). */
  discard(buffer: GPUBuffer): void {
    if (this.#inUse.delete(buffer)) {
      this.#stats.inUse--;
      this.#stats.inUseBytes -= buffer.size;
    }
    buffer.destroy();
  }

  /** A snapshot of the counters. */
  stats(): BufferPoolStats { return { ...this.#stats }; }

  /** Destroys the idle buffers (buffers in use are destroyed when released). */
  trim(): void {
    for (const list of this.#free.values()) for (const buffer of list) buffer.destroy();
    this.#free.clear();
    this.#stats.free = 0;
    this.#stats.freeBytes = 0;
  }
}

/** The bucket a request of `size` bytes falls in: the next power of two, or `size` itself past the limit. */
export function bucketSize(size: number, maxBufferSize: number): number {
  const wanted = Math.max(kMinBucketBytes, Math.ceil(size / 4) * 4);
  const power = 2 ** Math.ceil(Math.log2(wanted));
  return power <= maxBufferSize ? power : wanted;
}
