/**
 * Buffers for weights, used again from weight to weight, so that neither a copy nor fresh memory is paid per weight
 * (touching fresh pages costs more than the arithmetic on a large weight, docs/performance.md):
 *
 * - `'shared'`: for weights sent to CPU workers. `SharedArrayBuffer`s, which a worker reads where they lie
 *   (structured clone shares them). Where there is no `SharedArrayBuffer` (a page that is not cross-origin
 *   isolated), each weight gets a fresh `ArrayBuffer`, to be transferred.
 * - `'local'`: for weights that stay on this thread (the GPU path converts several at once): `ArrayBuffer`s.
 *
 * Reused buffers of 1 MiB or more start at a page boundary (each is a WebAssembly memory's buffer,
 * {@link pageAlignedBuffer}): the operating system's copy of a file read into a buffer runs about 3× slower when
 * the buffer starts a few bytes past the file offset modulo 4 KiB, and the memory under a large `ArrayBuffer`
 * starts 16 bytes into a page, so every tensor at a page-aligned file offset (ONNX external data, aligned
 * safetensors) read slowly: 48 against 15 ms for 64 MiB here.
 *
 * @example
 * ```ts
 * const slots = bufferSlots('shared');
 * const raw = slots.take(info.byteLength); // exactly that many bytes, over a buffer at least as large
 * try { await pool.run('encodeGgufTensor', [plan, raw], slots.transfer(raw)); } finally { slots.give(raw); }
 * ```
 * @module
 */

/** What {@link bufferSlots} returns. */
export interface BufferSlots {
  /** A buffer of exactly `bytes` bytes, free until given back. */
  take(bytes: number): Uint8Array;
  /** What to transfer when sending `view` to a worker: nothing for reused memory, its buffer otherwise ('local' buffers are not for workers). */
  transfer(view: Uint8Array): ArrayBuffer[];
  /** Returns `view`'s memory for the next take (once the worker is done with it). */
  give(view: Uint8Array): void;
}

/**
 * A free list of buffers of `memory` (see the module documentation). As many are alive as were taken at once; a
 * take that no free one fits allocates a new one and lets the largest too-small free one go.
 *
 * @example
 * ```ts
 * const slots = bufferSlots('shared');
 * const a = slots.take(1024);
 * slots.give(a);
 * slots.take(512).buffer === a.buffer; // true where SharedArrayBuffer exists, and always for 'local'
 * ```
 */
export function bufferSlots(memory: 'shared' | 'local'): BufferSlots {
  const shared = memory === 'shared' && typeof SharedArrayBuffer === 'function';
  const reused = shared || memory === 'local';
  const free: ArrayBufferLike[] = [];
  return {
    take(bytes) {
      if (!reused) return new Uint8Array(bytes);
      const best = smallestFitting(free, bytes);
      if (best < 0) {
        free.sort((a, b) => a.byteLength - b.byteLength).pop(); // too small: let the largest go, a bigger one replaces it
        const buffer = bytes >= kPageAlignedFrom ? pageAlignedBuffer(bytes, shared) : shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
        return new Uint8Array(buffer, 0, bytes);
      }
      return new Uint8Array(free.splice(best, 1)[0]!, 0, bytes);
    },
    transfer: (view) => (reused ? [] : [view.buffer as ArrayBuffer]),
    give(view) {
      if (reused) free.push(view.buffer);
    },
  };
}

/**
 * The index of the smallest of `buffers` that holds `bytes` bytes, or -1: the choice every free list here makes, so
 * a large buffer is not spent on a small need.
 *
 * @example
 * ```ts
 * smallestFitting([new ArrayBuffer(64), new ArrayBuffer(16), new ArrayBuffer(32)], 20); // 2
 * ```
 */
export function smallestFitting(buffers: readonly ArrayBufferLike[], bytes: number): number {
  let best = -1;
  for (let i = 0; i < buffers.length; i++) {
    if (buffers[i]!.byteLength >= bytes && (best < 0 || buffers[i]!.byteLength < buffers[best]!.byteLength)) best = i;
  }
  return best;
}

/** Buffers from this size start at a page boundary (module documentation); smaller ones are plain. */
const kPageAlignedFrom = 2 ** 20;

/** WebAssembly memories hold at most 65536 pages of 64 KiB; larger buffers are plain ones. */
const kMaxWasmPages = 65536;
const kWasmPage = 65536;

/**
 * A buffer of at least `bytes` bytes (a `SharedArrayBuffer` when `shared`) that starts at a page boundary: a
 * WebAssembly memory's, where the engine gives one (module documentation), else a plain one.
 *
 * @example
 * ```ts
 * const buffer = pageAlignedBuffer(64 * 2 ** 20, false);
 * buffer.byteLength >= 64 * 2 ** 20; // true (whole 64 KiB pages)
 * ```
 */
export function pageAlignedBuffer(bytes: number, shared: boolean): ArrayBuffer | SharedArrayBuffer {
  const pages = Math.max(1, Math.ceil(bytes / kWasmPage));
  if (typeof WebAssembly === 'object' && pages <= kMaxWasmPages) {
    try {
      return new WebAssembly.Memory(shared ? { initial: pages, maximum: pages, shared: true } : { initial: pages }).buffer;
    } catch {
      // no such memory here (address space, or shared memory without cross-origin isolation): a plain buffer
    }
  }
  return shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
}
