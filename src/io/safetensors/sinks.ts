/**
 * Where a writer's bytes go. A {@link ByteSink} takes chunks in order, and either `close()`s (the output is
 * complete) or `abort()`s (the output must not be used: a file sink deletes its temporary file). The writer
 * awaits each `write`, so a slow sink holds the writer back instead of piling chunks up in memory.
 * This file has the in-memory sink and the `WritableStream` sink (a browser's File System Access API
 * `createWritable()`, a streamed download, a `TransformStream`); the Node file sink is `node-file-sink.ts`.
 *
 * @example
 * ```ts
 * import { memorySink, writableStreamSink } from 'webgpu-quant';
 * const sink = memorySink();
 * // ... write through createSafetensorsWriter(sink, ...) ...
 * const bytes = sink.bytes();
 * const fileSink = writableStreamSink(await (await showSaveFilePicker()).createWritable());
 * ```
 * @module
 */
import { InvalidArgumentError } from '../../errors.js';

const kStreamChunkBytes = 4 * 1024 * 1024;

/** An ordered byte destination. Chunks may be reused by the caller once `write` resolves. */
export interface ByteSink {
  write(chunk: Uint8Array): Promise<void>;
  /** The output is complete. */
  close(): Promise<void>;
  /** The output is incomplete and must be discarded. Never throws for a sink that is already closed or aborted. */
  abort(reason?: unknown): Promise<void>;
  /**
   * Optional: discards everything written so far, and the output starts again, empty. A writer that
   * writes while it plans (compressToSafetensors) uses it when a plan turns out other than it assumed; a
   * sink without it is written only once the whole output is planned.
   */
  restart?(): Promise<void>;
}

/** A sink that keeps the bytes in memory. */
export interface MemorySink extends ByteSink {
  /** Everything written so far, as one array (a copy). */
  bytes(): Uint8Array;
  /** Bytes written so far. */
  readonly byteLength: number;
  /** 'open', 'closed' or 'aborted'. */
  readonly state: 'open' | 'closed' | 'aborted';
}

/**
 * Collects chunks in memory (copied: the caller may reuse its buffers).
 *
 * @example
 * ```ts
 * const sink = memorySink();
 * await sink.write(Uint8Array.of(1, 2)); await sink.close();
 * sink.bytes(); // Uint8Array [1, 2]
 * ```
 */
export function memorySink(): MemorySink {
  const chunks: Uint8Array[] = [];
  let byteLength = 0;
  let state: 'open' | 'closed' | 'aborted' = 'open';
  const checkOpen = (what: string): void => {
    if (state !== 'open') throw new InvalidArgumentError('sink', state, `memorySink: ${what} after the sink was ${state}`);
  };
  return {
    get byteLength() { return byteLength; },
    get state() { return state; },
    async write(chunk: Uint8Array): Promise<void> {
      checkOpen('write');
      chunks.push(chunk.slice());
      byteLength += chunk.byteLength;
    },
    async close(): Promise<void> { checkOpen('close'); state = 'closed'; },
    async restart(): Promise<void> { checkOpen('restart'); chunks.length = 0; byteLength = 0; },
    async abort(): Promise<void> {
      if (state === 'open') { state = 'aborted'; chunks.length = 0; byteLength = 0; }
    },
    bytes(): Uint8Array {
      const out = new Uint8Array(byteLength);
      let at = 0;
      for (const chunk of chunks) { out.set(chunk, at); at += chunk.byteLength; }
      return out;
    },
  };
}

/**
 * A sink over a `WritableStream<Uint8Array>`: each write waits for the stream (backpressure), `close()`
 * closes it and `abort()` aborts it, which for the File System Access API discards the temporary
 * file so the target is left as it was.
 *
 * @example
 * ```ts
 * const handle = await window.showSaveFilePicker({ suggestedName: 'model.int8.safetensors' });
 * const sink = writableStreamSink(await handle.createWritable());
 * ```
 */
export function writableStreamSink(stream: WritableStream<Uint8Array>): ByteSink {
  if (typeof WritableStream === 'undefined' || !(stream instanceof WritableStream)) {
    throw new InvalidArgumentError('stream', stream, 'writableStreamSink needs a WritableStream, e.g. from FileSystemFileHandle.createWritable()');
  }
  const writer = stream.getWriter();
  let done = false;
  return {
    async write(chunk: Uint8Array): Promise<void> {
      // Copies of at most 4 MiB: a stream may hold a chunk after write() resolves (a TransformStream's
      // reader may not have read it yet), the caller may reuse its buffer, and a whole-tensor copy would
      // double the memory a large tensor takes.
      for (let at = 0; at < chunk.byteLength; at += kStreamChunkBytes) {
        await writer.ready;
        await writer.write(chunk.slice(at, at + kStreamChunkBytes));
      }
    },
    async close(): Promise<void> { done = true; await writer.close(); },
    async abort(reason?: unknown): Promise<void> {
      if (done) return;
      done = true;
      try { await writer.abort(reason); } catch { /* already errored: nothing more to discard */ }
    },
  };
}
