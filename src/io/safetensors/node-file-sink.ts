/**
 * A {@link ByteSink} that writes a file in Node so that a failure never leaves a half model: the bytes go
 * to `.<name>.webgpu-quant-tmp-<random>` beside the target (created exclusively, in the same folder so the
 * rename stays on one file system; the name says where it came from if a killed process leaves it),
 * `close()` flushes it to disk (`fsync`) and renames it over `path`, and `abort()` (or a failed `close()`)
 * deletes it. Until `close()` succeeds, `path` is untouched. The rename replaces whatever `path` names, so
 * give a regular file's path (the command line writes devices and FIFOs directly instead).
 *
 * @example
 * ```ts
 * import { nodeFileSink, createSafetensorsWriter } from 'webgpu-quant';
 * const sink = await nodeFileSink('out/model.int8.safetensors');
 * const writer = await createSafetensorsWriter(sink, entries);
 * // ... writer.write(name, bytes) for each entry, then:
 * await writer.close(); // renames the temporary file into place
 * ```
 * @module
 */
import { InvalidArgumentError } from '../../errors.js';
import type { ByteSink } from './sinks.js';
import { loadNodeFs } from './node-fs.js';

/** A Node file sink; `tempPath` is where the bytes are until `close()`. */
export interface NodeFileSink extends ByteSink {
  readonly path: string;
  readonly tempPath: string;
  /** Bytes written so far. */
  readonly byteLength: number;
}

/** Options of {@link nodeFileSink}. */
export interface NodeFileSinkOptions {
  /** Flush to disk before the rename (default true), so a crash after close() cannot leave an empty file. */
  fsync?: boolean;
}

/** The part of a temporary file's name after `.<name>`. */
export const TEMP_FILE_MARKER = '.webgpu-quant-tmp-';

/**
 * The temporary file {@link nodeFileSink} writes for `path`, without the random suffix:
 * `dir/.<name>.webgpu-quant-tmp-`.
 *
 * @example
 * ```ts
 * tempFilePrefix('out/model.onnx'); // 'out/.model.onnx.webgpu-quant-tmp-'
 * ```
 */
export function tempFilePrefix(path: string): string {
  const cut = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  return `${path.slice(0, cut + 1)}.${path.slice(cut + 1)}${TEMP_FILE_MARKER}`;
}

function randomSuffix(): string {
  const bytes = new Uint8Array(6);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Opens a temporary file beside `path` for writing.
 *
 * @example
 * ```ts
 * const sink = await nodeFileSink('model.q4.safetensors');
 * await sink.write(bytes);
 * await sink.close(); // or sink.abort() to delete the temporary file
 * ```
 */
export async function nodeFileSink(path: string, options: NodeFileSinkOptions = {}): Promise<NodeFileSink> {
  if (typeof path !== 'string' || path.length === 0) {
    throw new InvalidArgumentError('path', path, 'nodeFileSink needs the output file path as a non-empty string');
  }
  const fs = await loadNodeFs('nodeFileSink');
  const tempPath = `${tempFilePrefix(path)}${randomSuffix()}`;
  const handle = await fs.open(tempPath, 'wx');
  let state: 'open' | 'closing' | 'closed' | 'aborted' = 'open';
  let byteLength = 0;

  const discard = async (): Promise<void> => {
    await handle.close().catch(() => undefined); // may already be closed
    await fs.unlink(tempPath).catch(() => undefined); // may already be gone
  };
  return {
    path,
    tempPath,
    get byteLength() { return byteLength; },
    async write(chunk: Uint8Array): Promise<void> {
      if (state !== 'open') throw new InvalidArgumentError('sink', state, `${path}: write after the sink was ${state}`);
      let done = 0;
      while (done < chunk.byteLength) {
        const { bytesWritten } = await handle.write(chunk, done, chunk.byteLength - done, null);
        done += bytesWritten;
      }
      byteLength += chunk.byteLength;
    },
    async close(): Promise<void> {
      if (state !== 'open') throw new InvalidArgumentError('sink', state, `${path}: close after the sink was ${state}`);
      state = 'closing';
      try {
        if (options.fsync ?? true) await handle.sync();
        await handle.close();
        await fs.rename(tempPath, path);
        state = 'closed';
      } catch (error) {
        state = 'aborted';
        await discard();
        throw error;
      }
    },
    async abort(): Promise<void> {
      if (state !== 'open') return;
      state = 'aborted';
      await discard();
    },
  };
}
