/**
 * A {@link ByteSink} that writes a file in Node so that a failure never leaves a half model: the bytes go
 * to `.<name>.webgpu-quant-tmp-<random>` beside the target (created exclusively, in the same folder so the
 * rename stays on one file system; the name says where it came from if a killed process leaves it),
 * `close()` flushes it to disk (`fsync`) and renames it over `path`, and `abort()` (or a failed `close()`)
 * deletes it. Until `close()` succeeds, `path` is untouched. While it is written, every 64 MiB starts a flush
 * to disk in the background, so the disk works while the caller computes and `close()` waits only for the
 * rest; `restart()` empties the file (a writer that wrote ahead of its plan starts again). A `path` that exists and is not a regular file
 * (a device such as /dev/null, a FIFO, a folder) is refused with InvalidArgumentError, never renamed over.
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
import { type NodeFsPromises, loadNodeFs } from './node-fs.js';

/** A Node file sink; `tempPath` is where the bytes are until `close()`. */
export interface NodeFileSink extends ByteSink {
  readonly path: string;
  readonly tempPath: string;
  /** Bytes written so far. */
  readonly byteLength: number;
  /** Empties the temporary file: what is written next starts the file again. */
  restart(): Promise<void>;
  /**
   * Waits for the writes and flushes them to disk (`fsync`) without renaming: a caller writing several files calls
   * it on each before closing any, so that a failure to write or flush leaves none of them in place (`close()`
   * then only renames). A failure discards the file, as a failed `close()` does.
   *
   * @example
   * ```ts
   * await Promise.all(sinks.map((s) => s.flush())); // every file on disk, none renamed yet
   * for (const s of sinks) await s.close();
   * ```
   */
  flush(): Promise<void>;
}

/** Options of {@link nodeFileSink}. */
export interface NodeFileSinkOptions {
  /** Flush to disk before the rename (default true), so a crash after close() cannot leave an empty file. */
  fsync?: boolean;
  /**
   * Called with the temporary file's path just before it is created, so that a caller can register it for
   * removal when the process is interrupted (the command line deletes it on SIGINT / SIGTERM).
   */
  onTempFile?: (tempPath: string) => void;
}

/** Refuses a target that exists and is not a regular file: the rename would replace a device, a FIFO or a folder. */
async function checkReplaceable(fs: NodeFsPromises, path: string): Promise<void> {
  let stats;
  try {
    stats = await fs.stat(path);
  } catch {
    return; // absent (or unreadable: the rename will say so)
  }
  if (!stats.isFile()) {
    throw new InvalidArgumentError('path', path, `${path} exists and is not a regular file (a folder, device, FIFO or socket); `
      + 'nodeFileSink replaces its target by renaming, so give the path of a file (write to devices and pipes directly)');
  }
}

/** Bytes written between background flushes to disk. */
const kSyncBytes = 64 * 2 ** 20;

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
  await checkReplaceable(fs, path);
  const tempPath = `${tempFilePrefix(path)}${randomSuffix()}`;
  options.onTempFile?.(tempPath);
  const handle = await fs.open(tempPath, 'wx');
  let state: 'open' | 'closing' | 'closed' | 'aborted' = 'open';
  let byteLength = 0;
  const fsync = options.fsync ?? true;
  let unsynced = 0; // bytes written since the last background flush started
  let syncing: Promise<unknown> | undefined; // the background flush; its failure is close()'s
  const settle = async (): Promise<void> => {
    const pending = syncing;
    syncing = undefined;
    await pending;
  };

  const discard = async (): Promise<void> => {
    await syncing?.catch(() => undefined);
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
        const { bytesWritten } = await handle.write(chunk, done, chunk.byteLength - done, byteLength + done);
        done += bytesWritten;
      }
      byteLength += chunk.byteLength;
      unsynced += chunk.byteLength;
      if (fsync && unsynced >= kSyncBytes && syncing === undefined) {
        unsynced = 0;
        const started: Promise<unknown> = handle.datasync().then(() => { if (syncing === started) syncing = undefined; });
        started.catch(() => undefined); // close() or the next restart() reports it
        syncing = started;
      }
    },
    async restart(): Promise<void> {
      if (state !== 'open') throw new InvalidArgumentError('sink', state, `${path}: restart after the sink was ${state}`);
      await settle();
      await handle.truncate(0);
      byteLength = 0;
      unsynced = 0;
    },
    async flush(): Promise<void> {
      if (state !== 'open') throw new InvalidArgumentError('sink', state, `${path}: flush after the sink was ${state}`);
      try {
        await settle();
        if (fsync) await handle.sync();
        unsynced = 0;
      } catch (error) {
        state = 'aborted';
        await discard();
        throw error;
      }
    },
    async close(): Promise<void> {
      if (state !== 'open') throw new InvalidArgumentError('sink', state, `${path}: close after the sink was ${state}`);
      state = 'closing';
      try {
        await settle();
        if (fsync) await handle.sync();
        await handle.close();
        await checkReplaceable(fs, path); // it may have changed since the sink was opened
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
