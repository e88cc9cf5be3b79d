/**
 * Random-access byte sources for the readers: a file's bytes are read by range, so opening a model reads its
 * header only and reading a tensor reads that tensor's bytes only. Sources for memory (`Uint8Array`,
 * `ArrayBuffer`) and for `Blob` / `File` (a browser file picker, a fetched response's blob) live here; the
 * Node file source is in `node-file-source.ts`.
 *
 * @example
 * ```ts
 * import { blobSource, openSafetensors } from 'webgpu-quant';
 * const file = input.files[0];                          // <input type="file">
 * const reader = await openSafetensors(blobSource(file)); // reads 8 bytes, then the header
 * ```
 * @module
 */
import { FormatError, InvalidArgumentError } from '../errors.js';

/**
 * Bytes that can be read by range. `read` must return exactly `length` bytes (fewer only at the end of the
 * source); the readers check and report a short read as a {@link FormatError}. The returned array may be
 * a view into a shared buffer: callers do not modify it.
 */
export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /** A name for messages, e.g. the file name. */
  readonly name?: string;
  /** Reads `length` bytes starting at `offset`. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * Optional: reads `target.byteLength` bytes at `offset` into `target` (no allocation), so a caller can
   * reuse one buffer for every tensor. Sources without it are read with `read` and copied.
   */
  readInto?(offset: number, target: Uint8Array): Promise<void>;
  /** Releases what the source holds (a file handle). Optional; idempotent where present. */
  close?(): Promise<void>;
}

/**
 * A range of bytes in a file on this machine's disk: what another thread of the same process needs to read
 * them itself (a CPU worker reading a weight straight into its own memory) instead of being handed a copy.
 */
export interface FileRange {
  /** The file's path, as it was opened (threads of one process share its working directory). */
  path: string;
  offset: number;
  byteLength: number;
}

/** Sources known to be a whole file on disk, and that file's path (set by nodeFileSource). */
const filePaths = new WeakMap<ByteSource, string>();

/**
 * Records that `source` reads the whole file at `path` (nodeFileSource does), so {@link fileRangeOf} can name
 * ranges of it. A source of the caller's own is never taken for a file.
 *
 * @example
 * ```ts
 * registerFileSource(source, '/models/model.onnx');
 * ```
 */
export function registerFileSource(source: ByteSource, path: string): void {
  filePaths.set(source, path);
}

/**
 * The {@link FileRange} of `byteLength` bytes at `offset` in `source`, when `source` is a file on disk
 * (opened with nodeFileSource) and the range lies inside it; else undefined.
 *
 * @example
 * ```ts
 * fileRangeOf(await nodeFileSource('model.onnx'), 128, 4096); // { path: 'model.onnx', offset: 128, byteLength: 4096 }
 * fileRangeOf(bytesSource(bytes), 0, 4); // undefined
 * ```
 */
export function fileRangeOf(source: ByteSource, offset: number, byteLength: number): FileRange | undefined {
  const path = filePaths.get(source);
  if (path === undefined || !Number.isSafeInteger(offset) || !Number.isSafeInteger(byteLength) || offset < 0 || byteLength < 0
    || offset + byteLength > source.size) return undefined;
  return { path, offset, byteLength };
}

function checkRange(offset: number, length: number, size: number, name: string): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new InvalidArgumentError('offset', offset,
      `${name}: read(${String(offset)}, ${String(length)}) needs non-negative integer offset and length`);
  }
  if (offset + length > size) {
    throw new FormatError(`${name}: reading bytes ${offset}..${offset + length} runs past the end of the `
      + `${size}-byte source; the file is truncated or its header is damaged`);
  }
}

/**
 * A source over bytes already in memory. Reads return views (no copy).
 *
 * @example
 * ```ts
 * const source = bytesSource(new Uint8Array(await (await fetch(url)).arrayBuffer()), 'model.safetensors');
 * (await source.read(0, 8)).length; // 8
 * ```
 */
export function bytesSource(bytes: Uint8Array | ArrayBuffer, name = 'bytes'): ByteSource {
  const view = bytes instanceof Uint8Array ? bytes
    : bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : undefined;
  if (!view) {
    throw new InvalidArgumentError('bytes', bytes, 'bytesSource needs a Uint8Array or an ArrayBuffer');
  }
  return {
    size: view.byteLength,
    name,
    read(offset: number, length: number): Promise<Uint8Array> {
      try {
        checkRange(offset, length, view.byteLength, name);
      } catch (error) {
        return Promise.reject(error);
      }
      return Promise.resolve(view.subarray(offset, offset + length));
    },
  };
}

/**
 * A source over a `Blob` or `File`: each read is `blob.slice(offset, offset + length).arrayBuffer()`, so
 * only the bytes asked for are loaded. The name defaults to the `File`'s name.
 *
 * @example
 * ```ts
 * const reader = await openSafetensors(blobSource(fileFromPicker));
 * ```
 */
export function blobSource(blob: Blob, name?: string): ByteSource {
  if (typeof Blob === 'undefined' || !(blob instanceof Blob)) {
    throw new InvalidArgumentError('blob', blob, 'blobSource needs a Blob or File (e.g. from <input type="file">)');
  }
  const label = name ?? ((blob as Partial<File>).name || 'blob');
  return {
    size: blob.size,
    name: label,
    async read(offset: number, length: number): Promise<Uint8Array> {
      checkRange(offset, length, blob.size, label);
      return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
    },
  };
}

/**
 * Reads exactly `length` bytes at `offset` from `source`, turning a short read into a {@link FormatError}
 * naming `what`, the file and the offset.
 *
 * @example
 * ```ts
 * const lengthBytes = await readExactly(source, 0, 8, 'header length');
 * ```
 */
export async function readExactly(source: ByteSource, offset: number, length: number, what: string): Promise<Uint8Array> {
  const name = source.name ?? 'source';
  if (offset + length > source.size) {
    throw new FormatError(`${name}: ${what} needs bytes ${offset}..${offset + length}, but the file has only `
      + `${source.size} bytes; the file is truncated`);
  }
  const bytes = await source.read(offset, length);
  if (!(bytes instanceof Uint8Array) || bytes.byteLength !== length) {
    const got = bytes instanceof Uint8Array ? bytes.byteLength : typeof bytes;
    throw new FormatError(`${name}: ${what}: reading ${length} bytes at offset ${offset} returned ${got}; `
      + 'the file was truncated or changed while it was being read');
  }
  return bytes;
}

/**
 * Reads exactly `target.byteLength` bytes at `offset` into `target`, with the source's `readInto` when it
 * has one (no allocation), else `read` and a copy. Short reads are FormatErrors as in {@link readExactly}.
 *
 * @example
 * ```ts
 * const buffer = new Uint8Array(largestTensorBytes);
 * await readExactlyInto(source, tensor.fileOffset, buffer.subarray(0, tensor.byteLength), 'tensor "w"');
 * ```
 */
export async function readExactlyInto(source: ByteSource, offset: number, target: Uint8Array, what: string): Promise<void> {
  if (source.readInto === undefined) {
    target.set(await readExactly(source, offset, target.byteLength, what));
    return;
  }
  const name = source.name ?? 'source';
  if (offset + target.byteLength > source.size) {
    throw new FormatError(`${name}: ${what} needs bytes ${offset}..${offset + target.byteLength}, but the file has only `
      + `${source.size} bytes; the file is truncated`);
  }
  await source.readInto(offset, target);
}
