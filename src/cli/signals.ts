/**
 * Interrupts never leave partial output: the command line registers each temporary file while it exists (and
 * each folder it made for an output that is not complete yet), and on SIGINT or SIGTERM deletes them (the folders
 * only when empty) and exits with 130 or 143 (128 + the signal number, as shells do).
 *
 * @example
 * ```ts
 * const uninstall = installSignalCleanup();
 * trackTempFile('.model.onnx.webgpu-quant-tmp-1a2b3c');
 * // ... write, rename ...
 * untrackTempFile('.model.onnx.webgpu-quant-tmp-1a2b3c');
 * uninstall();
 * ```
 * @module
 */
import { rmdirSync, unlinkSync } from 'node:fs';

const live = new Set<string>();
const folders = new Set<string>();

/**
 * Registers a temporary file to delete if the process is interrupted.
 *
 * @example
 * ```ts
 * await nodeFileSink('out.onnx', { onTempFile: trackTempFile });
 * ```
 */
export function trackTempFile(path: string): void {
  live.add(path);
}

/**
 * The file was renamed into place or deleted: nothing to clean up any more.
 *
 * @example
 * ```ts
 * await sink.close(); untrackTempFile(sink.tempPath);
 * ```
 */
export function untrackTempFile(path: string): void {
  live.delete(path);
}

/**
 * Registers a folder made for an output that is not complete yet, to remove (when empty) if the process is
 * interrupted; register a folder before the folders made inside it.
 *
 * @example
 * ```ts
 * trackTempFolder('web-model'); trackTempFolder('web-model/onnx');
 * ```
 */
export function trackTempFolder(path: string): void {
  folders.add(path);
}

/**
 * The output is complete (or the folder removed): keep the folder.
 *
 * @example
 * ```ts
 * untrackTempFolder('web-model/onnx');
 * ```
 */
export function untrackTempFolder(path: string): void {
  folders.delete(path);
}

/**
 * Deletes every registered temporary file now, then the registered folders that are empty, the last registered
 * first (synchronously: this runs on the way out).
 *
 * @example
 * ```ts
 * removeTempFiles(); // then process.exit(...)
 * ```
 */
export function removeTempFiles(): void {
  for (const path of live) {
    try {
      unlinkSync(path);
    } catch {
      // Already gone (renamed or removed).
    }
  }
  live.clear();
  for (const path of [...folders].reverse()) {
    try {
      rmdirSync(path);
    } catch {
      // Not empty (the user's files), or already gone.
    }
  }
  folders.clear();
}

const kExitCodes = { SIGINT: 130, SIGTERM: 143 } as const;

/**
 * Handles SIGINT and SIGTERM: removes the temporary files, says so on stderr, and exits 130 / 143.
 * Returns a function that removes the handlers.
 *
 * @example
 * ```ts
 * const uninstall = installSignalCleanup();
 * try { await main(argv); } finally { uninstall(); }
 * ```
 */
export function installSignalCleanup(stderr: NodeJS.WritableStream = process.stderr): () => void {
  const handlers = (Object.keys(kExitCodes) as (keyof typeof kExitCodes)[]).map((signal) => {
    const handler = (): void => {
      const had = live.size;
      removeTempFiles();
      stderr.write(`\nwebgpu-quant: interrupted (${signal})${had ? '; the unfinished output was removed' : ''}\n`);
      process.exit(kExitCodes[signal]);
    };
    process.on(signal, handler);
    return [signal, handler] as const;
  });
  return () => { for (const [signal, handler] of handlers) process.off(signal, handler); };
}
