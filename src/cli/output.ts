/**
 * Where `compress` writes, decided before any work starts, and the sink that writes there:
 * - `-`: stdout, directly (the caller then sends its messages to stderr);
 * - a new or existing regular file: a temporary file beside it, renamed into place when complete (through
 *   a symbolic link, the file it points to is replaced and the link kept);
 * - an existing character device or FIFO (`/dev/null`, a named pipe): written directly, never renamed over;
 * - a folder, a socket or a block device: refused, one line, exit 1.
 * An output that is the input itself (the same device and inode, whatever the spelling) is refused unless
 * `force` is given.
 *
 * @example
 * ```ts
 * const target = await resolveOutput('small.onnx', ['model.onnx'], false); // { kind: 'file', path: '/abs/small.onnx', ... }
 * const sink = await openOutput(target, process.stdout);
 * await sink.write(bytes); await sink.close();
 * ```
 * @module
 */
import type { Stats } from 'node:fs';
import { open, readdir, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FormatError, InvalidArgumentError } from '../errors.js';
import { type NodeFileSink, TEMP_FILE_MARKER, nodeFileSink } from '../io/safetensors/node-file-sink.js';
import { changedFileSources, fileSourcesOpened } from '../io/safetensors/node-file-source.js';
import type { ByteSink } from '../io/safetensors/sinks.js';
import { fileError } from './files.js';
import { trackTempFile, untrackTempFile } from './signals.js';

/** A resolved output. `display` is the path as the user wrote it. */
export type OutputTarget =
  | { kind: 'stdout'; display: string }
  | { kind: 'file'; path: string; display: string }
  | { kind: 'direct'; path: string; display: string; what: 'character device' | 'FIFO' };

async function statOrUndefined(path: string, argument: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fileError(error, path, argument);
  }
}

function fail(output: string, message: string): InvalidArgumentError {
  return new InvalidArgumentError('output', output, `${output}: ${message}`);
}

/** What kind of non-regular file `stats` is, for messages. */
function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a folder';
  if (stats.isSocket()) return 'a socket';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

/**
 * Decides where `output` goes (see the module documentation). `inputs` are the files the command reads;
 * the output may be none of them unless `force`.
 *
 * @example
 * ```ts
 * await resolveOutput('-', [], false);                  // { kind: 'stdout', display: '<stdout>' }
 * await resolveOutput('model.onnx', ['model.onnx'], false); // throws: model.onnx: is the input file model.onnx itself; ...
 * ```
 */
export async function resolveOutput(output: string, inputs: readonly string[], force: boolean): Promise<OutputTarget> {
  if (output === '-') return { kind: 'stdout', display: '<stdout>' };
  const stats = await statOrUndefined(output, 'output');
  if (stats === undefined) {
    const folder = dirname(output);
    const folderStats = await statOrUndefined(folder, 'output');
    if (!folderStats) throw fail(output, `the folder ${folder} does not exist; create it first`);
    if (!folderStats.isDirectory()) throw fail(output, `${folder} is not a folder`);
    return { kind: 'file', path: output, display: output };
  }
  if (stats.isCharacterDevice()) return { kind: 'direct', path: output, display: output, what: 'character device' };
  if (stats.isFIFO()) return { kind: 'direct', path: output, display: output, what: 'FIFO' };
  if (!stats.isFile()) throw fail(output, `is ${kindOf(stats)}; give the path of a file to write`);
  // Through a symbolic link, replace the file it points to and keep the link.
  const target: OutputTarget = { kind: 'file', path: await realpath(output), display: output };
  await checkNotAnInput(target, inputs, force);
  return target;
}

/**
 * Refuses (unless `force`) a file output that is one of `inputs` (the same device and inode: symbolic
 * links, hard links and other spellings count). Also used once a model's external data files are known.
 *
 * @example
 * ```ts
 * await checkNotAnInput(target, ['models/weights.bin'], false); // throws when target is that file
 * ```
 */
export async function checkNotAnInput(target: OutputTarget, inputs: readonly string[], force: boolean): Promise<void> {
  if (target.kind !== 'file' || force) return;
  const stats = await statOrUndefined(target.path, 'output');
  if (!stats) return;
  for (const input of inputs) {
    const inputStats = await statOrUndefined(input, 'input');
    if (inputStats && inputStats.dev === stats.dev && inputStats.ino === stats.ino) {
      throw fail(target.display, `is the input file ${input} itself; writing it would replace the original. `
        + 'Choose another output, or add --force to overwrite the input');
    }
  }
}

/**
 * Temporary files that an interrupted or killed run left beside the output (`.<name>.webgpu-quant-tmp-…`).
 *
 * @example
 * ```ts
 * await staleTempFiles({ kind: 'file', path: 'out/model.onnx', display: 'out/model.onnx' }); // ['out/.model.onnx.webgpu-quant-tmp-1a2b3c4d5e6f']
 * ```
 */
export async function staleTempFiles(target: OutputTarget): Promise<string[]> {
  if (target.kind !== 'file') return [];
  const folder = dirname(target.path);
  const prefix = `.${basename(target.path)}${TEMP_FILE_MARKER}`;
  try {
    return (await readdir(folder)).filter((name) => name.startsWith(prefix)).map((name) => join(folder, name));
  } catch {
    return []; // an unreadable folder: the write will say what is wrong
  }
}

/** A sink over a writable stream or file handle that cannot be taken back: abort() only stops writing. */
function directSink(write: (chunk: Uint8Array) => Promise<void>, finish: () => Promise<void>): OutputSink {
  let state: 'open' | 'closed' | 'aborted' = 'open';
  return {
    async write(chunk) {
      if (state !== 'open') throw new InvalidArgumentError('sink', state, `write after the output was ${state}`);
      await write(chunk);
    },
    async flush() {}, // written directly: nothing is held back
    async close() {
      if (state !== 'open') throw new InvalidArgumentError('sink', state, `close after the output was ${state}`);
      state = 'closed';
      await finish();
    },
    async abort() {
      if (state !== 'open') return;
      state = 'aborted';
      await finish().catch(() => undefined);
    },
  };
}

/** Writes `chunk` to `stream`, resolving once the stream has taken it (so the caller may reuse it). */
function streamWrite(stream: NodeJS.WritableStream, chunk: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(chunk, (error?: Error | null) => (error ? reject(error) : resolve()));
  });
}

/**
 * An output's sink. `flush()` does everything that can fail short of putting the file in place (the input check
 * below, the writes, the flush to disk; nothing for devices, FIFOs and stdout): a command writing several files
 * flushes each before closing any.
 */
export interface OutputSink extends ByteSink {
  flush(): Promise<void>;
}

/**
 * Opens the sink for `target`: the atomic temporary-file sink for files (its temporary file registered
 * for removal on SIGINT / SIGTERM), a direct sink for devices, FIFOs and stdout.
 *
 * @example
 * ```ts
 * const sink = await openOutput(await resolveOutput('/dev/null', [], false), process.stdout); // written directly
 * ```
 */
export async function openOutput(target: OutputTarget, stdout: NodeJS.WritableStream): Promise<OutputSink> {
  if (target.kind === 'stdout') return directSink((chunk) => streamWrite(stdout, chunk), async () => {});
  if (target.kind === 'direct') {
    let handle;
    try {
      handle = await open(target.path, 'w');
    } catch (error) {
      throw fileError(error, target.display, 'output');
    }
    const fd = handle;
    return directSink(async (chunk) => {
      for (let done = 0; done < chunk.byteLength;) done += (await fd.write(chunk, done, chunk.byteLength - done)).bytesWritten;
    }, () => fd.close());
  }
  let sink: NodeFileSink;
  try {
    sink = await nodeFileSink(target.path, { onTempFile: trackTempFile });
  } catch (error) {
    throw fileError(error, target.display, 'output');
  }
  // The input files opened from here on are this command's: one that changes while it runs (weights are read from
  // it as they are needed, kept ones copied from it when written) would leave an output that disagrees with its
  // report, so then nothing is renamed into place.
  const since = fileSourcesOpened();
  /** Fails (and discards the file) when an input opened since changed. */
  const checkInputs = async (): Promise<void> => {
    const changed = await changedFileSources(since);
    if (changed.length > 0) {
      const error = new FormatError(`${changed.join(', ')}: the input changed while ${target.display} was written from it; `
        + 'nothing was written. Run again once nothing else writes the input');
      await sink.abort(error);
      throw error;
    }
  };
  return {
    async write(chunk) {
      try {
        await sink.write(chunk);
      } catch (error) {
        throw fileError(error, target.display, 'output');
      }
    },
    async flush() {
      try {
        await checkInputs();
        await sink.flush();
      } catch (error) {
        untrackTempFile(sink.tempPath); // discarded
        if (error instanceof FormatError) throw error;
        throw fileError(error, target.display, 'output');
      }
    },
    async close() {
      try {
        await checkInputs();
        await sink.close();
      } catch (error) {
        if (error instanceof FormatError) throw error;
        throw fileError(error, target.display, 'output');
      } finally {
        untrackTempFile(sink.tempPath);
      }
    },
    async restart() { // a compressor that wrote ahead of its plan starts the file again
      try {
        await sink.restart();
      } catch (error) {
        throw fileError(error, target.display, 'output');
      }
    },
    async abort(reason) {
      try {
        await sink.abort(reason);
      } finally {
        untrackTempFile(sink.tempPath);
      }
    },
  };
}
