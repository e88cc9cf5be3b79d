/**
 * The few `node:fs/promises` calls the Node file source and sink use, typed here so that the browser build
 * needs no Node types, and loaded with a dynamic import that bundlers leave alone, so that nothing in a
 * browser bundle imports Node modules. Calling it outside Node throws a clear error.
 *
 * @example
 * ```ts
 * const fs = await loadNodeFs('nodeFileSource');
 * const handle = await fs.open('model.safetensors', 'r');
 * ```
 * @module
 */
import { InvalidArgumentError } from '../../errors.js';

/** The part of Node's `Stats` used here. */
export interface NodeStats {
  size: number;
  mtimeMs: number;
  dev: number;
  ino: number;
  isFile(): boolean;
}

/** The part of Node's `FileHandle` used here. */
export interface NodeFileHandle {
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  write(buffer: Uint8Array, offset: number, length: number, position?: number | null): Promise<{ bytesWritten: number }>;
  stat(): Promise<NodeStats>;
  sync(): Promise<void>;
  datasync(): Promise<void>;
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

/** The part of `node:fs/promises` used here. */
export interface NodeFsPromises {
  open(path: string, flags: string, mode?: number): Promise<NodeFileHandle>;
  rename(from: string, to: string): Promise<void>;
  stat(path: string): Promise<NodeStats>;
  unlink(path: string): Promise<void>;
}

let cached: Promise<NodeFsPromises> | undefined;

/**
 * Loads `node:fs/promises`, or throws {@link InvalidArgumentError} naming `caller` when not in Node.
 *
 * @example
 * ```ts
 * const fs = await loadNodeFs('nodeFileSink');
 * ```
 */
export function loadNodeFs(caller: string): Promise<NodeFsPromises> {
  const scope = globalThis as { process?: { versions?: { node?: string } } };
  if (typeof scope.process?.versions?.node !== 'string') {
    return Promise.reject(new InvalidArgumentError('environment', 'browser',
      `${caller} needs Node's file system; in a browser use blobSource(file) to read and writableStreamSink(stream) to write`));
  }
  // Not a literal: bundlers must leave this import alone (browser code never takes this path).
  const moduleName = 'node:fs/promises';
  cached ??= import(/* @vite-ignore */ moduleName) as Promise<NodeFsPromises>;
  return cached;
}
