/**
 * A {@link ByteSource} over a file on disk, for Node: `fs.promises.open` once, then positioned reads of
 * exactly the bytes asked for. Close it when done (`close()`, or let `openSafetensorsFile` own it).
 *
 * @example
 * ```ts
 * import { nodeFileSource, openSafetensors } from 'webgpu-quant';
 * const source = await nodeFileSource('model.safetensors');
 * try {
 *   const reader = await openSafetensors(source);
 *   const bytes = await reader.read('lm_head.weight');
 * } finally {
 *   await source.close();
 * }
 * ```
 * @module
 */
import { FormatError, InvalidArgumentError } from '../../errors.js';
import { type ByteSource, type FileRange, readExactlyInto, registerFileSource } from '../byte-source.js';
import { type NodeFileHandle, loadNodeFs } from './node-fs.js';

/** A file-backed source; `close()` releases the file handle (safe to call twice). */
export interface NodeFileSource extends ByteSource {
  readonly name: string;
  close(): Promise<void>;
}

/** An open file source as it was when opened (to tell whether it changed while open). */
interface OpenedFile {
  path: string;
  handle: NodeFileHandle;
  size: number;
  mtimeMs: number;
  dev: number;
  ino: number;
  serial: number;
}

const openFiles = new Set<OpenedFile>();
let opened = 0;

/**
 * A count of the file sources opened so far in this process: give it to {@link changedFileSources} to check only
 * the sources opened after it was taken.
 *
 * @example
 * ```ts
 * const since = fileSourcesOpened();
 * ```
 */
export function fileSourcesOpened(): number {
  return opened;
}

/**
 * The still-open file sources (opened after `since`, a {@link fileSourcesOpened} count) whose file changed since it
 * was opened: written to (size or modification time), or its path now naming another file or none (replaced,
 * renamed, removed: workers that open the path would read something else). Each as `'path (what happened)'`.
 *
 * @example
 * ```ts
 * await changedFileSources(since); // ['model.onnx (written to while open)'] when something rewrote it
 * ```
 */
export async function changedFileSources(since = 0): Promise<string[]> {
  const fs = await loadNodeFs('changedFileSources');
  const changed: string[] = [];
  for (const file of openFiles) {
    if (file.serial <= since) continue;
    const now = await file.handle.stat().catch(() => undefined);
    const at = await fs.stat(file.path).catch(() => undefined);
    if (!now || now.size !== file.size || now.mtimeMs !== file.mtimeMs) changed.push(`${file.path} (written to while open)`);
    else if (!at || at.ino !== file.ino || at.dev !== file.dev) changed.push(`${file.path} (replaced or removed while open)`);
  }
  return changed;
}

/** Node's positioned read takes at most 2^31 - 1 bytes per call; larger reads are split. */
const kMaxReadPerCall = 2 ** 30;

/**
 * Opens `path` for reading. The size is taken when opening; a file that shrinks later gives a
 * FormatError on the read that misses bytes.
 *
 * @example
 * ```ts
 * const source = await nodeFileSource('/models/shard-00001.safetensors');
 * source.size; // bytes on disk
 * ```
 */
export async function nodeFileSource(path: string): Promise<NodeFileSource> {
  const fs = await loadNodeFs('nodeFileSource');
  const handle = await fs.open(path, 'r');
  let size: number;
  let file: OpenedFile;
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new FormatError(`${path}: not a regular file; give the path of a .safetensors file`);
    size = stat.size;
    file = { path, handle, size, mtimeMs: stat.mtimeMs, dev: stat.dev, ino: stat.ino, serial: ++opened };
  } catch (error) {
    await handle.close();
    throw error;
  }
  let closed = false;
  const readInto = async (offset: number, target: Uint8Array): Promise<void> => {
    if (closed) throw new FormatError(`${path}: read after close(); keep the source open while reading tensors`);
    const length = target.byteLength;
    let done = 0;
    while (done < length) {
      const chunk = Math.min(kMaxReadPerCall, length - done);
      const { bytesRead } = await handle.read(target, done, chunk, offset + done);
      if (bytesRead === 0) {
        throw new FormatError(`${path}: the file ended at byte ${offset + done} while reading ${length} bytes at `
          + `offset ${offset}; it was truncated or changed while open`);
      }
      done += bytesRead;
    }
  };
  const source: NodeFileSource = {
    size,
    name: path,
    async read(offset: number, length: number): Promise<Uint8Array> {
      const out = new Uint8Array(length);
      await readInto(offset, out);
      return out;
    },
    readInto,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      openFiles.delete(file);
      await handle.close();
    },
  };
  openFiles.add(file);
  registerFileSource(source, path);
  return source;
}

/**
 * Reads a {@link FileRange} into `target` (its length): the file opened, read and closed again, so a worker
 * thread can take a weight from the file straight into its own memory. A file that no longer holds the range
 * (truncated or changed since it was opened), or that cannot be opened any more, is a FormatError naming it.
 *
 * @example
 * ```ts
 * const w = new Float32Array(range.byteLength / 4);
 * await readFileRange(range, new Uint8Array(w.buffer));
 * ```
 */
export async function readFileRange(range: FileRange, target: Uint8Array): Promise<void> {
  if (target.byteLength !== range.byteLength) {
    throw new InvalidArgumentError('target', target.byteLength, `readFileRange: ${target.byteLength} bytes of room for a ${range.byteLength}-byte range of ${range.path}`);
  }
  const pieces = await openFileRange(range);
  try {
    await pieces.read(0, target);
  } finally {
    await pieces.close();
  }
}

/** A {@link FileRange} opened once to be read piece by piece (see {@link openFileRange}). */
export interface OpenFileRange {
  /** Reads `target.byteLength` bytes from `offset` within the range into `target`. */
  read(offset: number, target: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens a {@link FileRange}'s file once for reads of pieces of the range (a weight read a block of rows at a
 * time), with {@link readFileRange}'s errors: a FormatError naming the file when it cannot be opened, or no longer
 * holds the piece; an InvalidArgumentError for a piece outside the range. Close it when done.
 *
 * @example
 * ```ts
 * const file = await openFileRange(range);
 * try { await file.read(0, firstRows); await file.read(firstRows.byteLength, nextRows); } finally { await file.close(); }
 * ```
 */
export async function openFileRange(range: FileRange): Promise<OpenFileRange> {
  const source = await nodeFileSource(range.path).catch((error: unknown) => {
    throw error instanceof FormatError ? error
      : new FormatError(`${range.path}: cannot be opened to read a tensor (${(error as Error)?.message ?? String(error)}); it was moved or removed while in use`, { cause: error });
  });
  return {
    async read(offset, target) {
      if (!(offset >= 0 && offset + target.byteLength <= range.byteLength)) {
        throw new InvalidArgumentError('offset', offset, `a piece of ${target.byteLength} bytes at ${offset} lies outside the ${range.byteLength}-byte range of ${range.path}`);
      }
      await readExactlyInto(source, range.offset + offset, target, 'a tensor');
    },
    close: () => source.close(),
  };
}

/** The piece size of {@link copyFileRange}; one copy holds at most two pieces (one written, the next read). */
export const COPY_PIECE_BYTES = 4 * 2 ** 20;

/**
 * Reads `range` a piece at a time (at most `pieceBytes`) and hands the pieces to `write` in order, reading the next
 * piece while one is written: a tensor copied from the input file to the output as it is stored, without its whole
 * bytes in memory. The pieces are views of two arrays, used in turn: a piece is `write`'s until its promise
 * resolves (as a ByteSink's chunk), and then holds the piece after next (a fresh array a piece made a 64 MiB
 * tensor sixteen arrays of 4 MiB, left to the collector). Errors as {@link openFileRange}'s; a write that fails ends
 * the copy with its error.
 *
 * @example
 * ```ts
 * const range = await model.float32FileRange('fc0.weight'); // a weight kept as it is stored
 * if (range) await copyFileRange(range, (piece) => writer.writeChunk('fc0.weight', piece));
 * ```
 */
export async function copyFileRange(range: FileRange, write: (piece: Uint8Array) => Promise<void>, pieceBytes = COPY_PIECE_BYTES): Promise<void> {
  const file = await openFileRange(range);
  const arrays = [0, 1].map(() => new Uint8Array(Math.min(pieceBytes, range.byteLength)));
  let turn = 0;
  const readAt = async (at: number): Promise<Uint8Array> => {
    const piece = arrays[turn++ % 2]!.subarray(0, Math.min(pieceBytes, range.byteLength - at));
    await file.read(at, piece);
    return piece;
  };
  let next: Promise<Uint8Array> | undefined = range.byteLength > 0 ? readAt(0) : undefined;
  try {
    for (let at = 0; next;) {
      const piece = await next;
      at += piece.byteLength;
      next = at < range.byteLength ? readAt(at) : undefined;
      next?.catch(() => undefined); // met below, or settled before the file closes
      await write(piece);
    }
  } finally {
    await next?.catch(() => undefined);
    await file.close();
  }
}

/** The piece size of {@link warmFileRange}'s reads, and the most memory one warming holds. */
const kWarmPieceBytes = 2 ** 20;

/**
 * Starts reading `range` in the background into a scratch buffer whose bytes are thrown away, so that the
 * operating system has them cached when the range is read for real: a compressor warms the next weight while it
 * computes this one, where a file not yet cached would otherwise leave it waiting for the disk between weights.
 * The pieces are read by Node's I/O threads one after the other (the calling thread does nothing meanwhile): at
 * most one piece waits in their queue, so the compressor's own reads never queue behind the warming (with every
 * piece queued at once, a cold 1 GB model on one thread took 2.1 s against 1.8 s). The promise, which callers need
 * not await, settles once every piece is read and the file closed, and never rejects: an error (a file moved away)
 * is for the real read to report.
 *
 * @example
 * ```ts
 * const next = await model.float32FileRange('fc2.weight');
 * if (next) void warmFileRange(next); // then quantize fc1.weight; fc2.weight's read finds its bytes in memory
 * ```
 */
export function warmFileRange(range: FileRange): Promise<void> {
  const warm = async (): Promise<void> => {
    const fs = await loadNodeFs('warmFileRange');
    const handle = await fs.open(range.path, 'r');
    try {
      const scratch = new Uint8Array(Math.min(kWarmPieceBytes, range.byteLength));
      for (let at = 0; at < range.byteLength; at += kWarmPieceBytes) {
        const read = await handle.read(scratch, 0, Math.min(kWarmPieceBytes, range.byteLength - at), range.offset + at);
        if (read.bytesRead === 0) break; // the range runs past the end of the file
      }
    } finally {
      await handle.close();
    }
  };
  return warm().catch(() => undefined);
}
