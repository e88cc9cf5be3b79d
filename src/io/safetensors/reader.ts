/**
 * Opens a safetensors file from any {@link ByteSource} as a {@link WeightReader}: reads the 8-byte length
 * and the header (validated, see `header-parse.ts`), then one tensor's bytes per `read(name)`. Nothing else
 * is loaded, so a 20 GB checkpoint opens in the time it takes to read its header.
 *
 * @example
 * ```ts
 * import { openSafetensors, bytesSource, toFloat32 } from 'webgpu-quant';
 * const reader = await openSafetensors(bytesSource(fileBytes, 'model.safetensors'));
 * reader.metadata.get('format');                  // 'pt'
 * for (const info of reader.list()) console.log(info.name, info.safetensorsDType, info.shape);
 * const w = await reader.read('encoder.weight');  // exactly that tensor's bytes
 * ```
 * @module
 */
import { InvalidArgumentError } from '../../errors.js';
import type { WeightReader } from '../weights.js';
import { type ByteSource, type FileRange, fileRangeOf, readExactly, readExactlyInto } from '../byte-source.js';
import { DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_TENSORS, type SafetensorsTensorInfo, checkMinimumSize, parseHeaderLength, parseSafetensorsHeader, quoteName } from './header-parse.js';

/** Options of {@link openSafetensors}. */
export interface OpenSafetensorsOptions {
  /** The name messages use; default `source.name`, else `'safetensors'`. */
  name?: string;
  /**
   * Refuse headers longer than this with a LimitExceededError (default {@link DEFAULT_MAX_HEADER_BYTES},
   * 32 MiB). Headers over the format's 100 MB are a FormatError whatever this says.
   */
  maxHeaderBytes?: number;
  /** Refuse files with more tensors than this with a LimitExceededError (default {@link DEFAULT_MAX_TENSORS}, 500,000). */
  maxTensors?: number;
}

/** Tensors smaller than this are served from a read-ahead window, so many tiny tensors cost few reads. */
const kSmallTensorBytes = 64 * 1024;
/** The read-ahead window's size. */
const kReadAheadBytes = 1 << 20;

/** A {@link WeightReader} over one safetensors file, with the header's facts. */
export interface SafetensorsReader extends WeightReader {
  /** The name used in messages (the file name). */
  readonly name: string;
  /** `__metadata__` (string to string; empty when the file has none). */
  readonly metadata: ReadonlyMap<string, string>;
  /** N: the header's length in bytes. */
  readonly headerByteLength: number;
  /** File offset of the data region, `8 + N`. */
  readonly dataOffset: number;
  /** The file's size in bytes. */
  readonly byteLength: number;
  /** The tensors in file order. Each description is frozen (shape and offsets too): copy one to change it. */
  list(): SafetensorsTensorInfo[];
  /** One tensor's description (frozen, as in `list()`); {@link InvalidArgumentError} for an unknown name. */
  info(name: string): SafetensorsTensorInfo;
  has(name: string): boolean;
  /**
   * The tensor's bytes, little-endian, exactly `info(name).byteLength` of them. Over `bytesSource` this is a
   * view of the caller's bytes (no copy): copy it before modifying it. Tensors under 64 KiB are read through a
   * 1 MiB read-ahead window (one read for many small tensors) and returned as copies.
   */
  read(name: string): Promise<Uint8Array>;
  /**
   * Reads the tensor into the start of `buffer` (at least `byteLength` bytes) and returns that part, so one
   * buffer can serve every tensor and memory stays at the largest one.
   */
  readInto(name: string, buffer: Uint8Array): Promise<Uint8Array>;
  /**
   * Reads `target.byteLength` bytes of the tensor, starting `byteOffset` bytes into it, into `target` (a
   * range of rows, say, into a buffer that is reused or shared with a worker): nothing is allocated.
   * {@link InvalidArgumentError} when the range is not inside the tensor.
   */
  readRangeInto(name: string, byteOffset: number, target: Uint8Array): Promise<Uint8Array>;
  /**
   * Where a float32 tensor's bytes lie in a file on disk, when the source is one (`nodeFileSource`), so a CPU
   * worker can read them itself; undefined for another dtype or source. {@link InvalidArgumentError} for an
   * unknown name.
   *
   * @example
   * ```ts
   * const reader = await openSafetensors(await nodeFileSource('model.safetensors'));
   * await reader.float32FileRange('fc1.weight'); // { path: 'model.safetensors', offset: 8 + N + begin, byteLength }
   * ```
   */
  float32FileRange(name: string): Promise<FileRange | undefined>;
  /**
   * Where a tensor's stored bytes lie in a file on disk, whatever its dtype, when the source is one
   * (`nodeFileSource`); undefined for another source.
   *
   * @example
   * ```ts
   * await reader.tensorFileRange('fc1.weight'); // a bfloat16 tensor's bytes: { path, offset, byteLength }
   * ```
   */
  tensorFileRange(name: string): Promise<FileRange | undefined>;
  /** Closes the source when it has `close()`. */
  close(): Promise<void>;
}

/**
 * Reads and validates the header of the safetensors file in `source`. Damaged input gives a
 * {@link FormatError} naming the file, the tensor and the byte offset.
 *
 * @example
 * ```ts
 * const reader = await openSafetensors(blobSource(file));
 * reader.list().map((t) => t.name);
 * ```
 */
export async function openSafetensors(source: ByteSource, options: OpenSafetensorsOptions = {}): Promise<SafetensorsReader> {
  if (source === null || typeof source !== 'object' || typeof source.read !== 'function'
    || !Number.isSafeInteger(source.size) || source.size < 0) {
    throw new InvalidArgumentError('source', source,
      'source must be a ByteSource { size, read(offset, length) }: use bytesSource(bytes), blobSource(file) or nodeFileSource(path)');
  }
  const name = options.name ?? source.name ?? 'safetensors';
  const maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  const labelled: ByteSource = {
    size: source.size, name, read: (o, l) => source.read(o, l),
    ...(source.readInto ? { readInto: (o: number, t: Uint8Array) => source.readInto!(o, t) } : {}),
  };
  checkMinimumSize(source.size, name);
  const first8 = await readExactly(labelled, 0, 8, 'the header length (bytes 0..8)');
  const headerByteLength = parseHeaderLength(first8, source.size, name, maxHeaderBytes);
  const headerBytes = await readExactly(labelled, 8, headerByteLength, `the header (bytes 8..${8 + headerByteLength})`);
  const header = parseSafetensorsHeader(headerBytes, source.size, name, options.maxTensors ?? DEFAULT_MAX_TENSORS);
  const byName = header.byName;

  const info = (tensorName: string): SafetensorsTensorInfo => {
    const found = typeof tensorName === 'string' ? byName.get(tensorName) : undefined;
    if (!found) {
      throw new InvalidArgumentError('name', tensorName,
        `${name} has no tensor ${typeof tensorName === 'string' ? quoteName(tensorName) : String(tensorName)}; list() gives the ${byName.size} names`);
    }
    return found;
  };
  // The last window read ahead for small tensors: [offset, offset + bytes.byteLength) of the file.
  let window: { offset: number; bytes: Uint8Array } | undefined;
  /** A view of the window holding `t`, or undefined when the window does not hold it (no await: the usual case costs no promise). */
  const inWindow = (t: SafetensorsTensorInfo): Uint8Array | undefined => {
    const current = window;
    if (current === undefined || t.fileOffset < current.offset || t.fileOffset + t.byteLength > current.offset + current.bytes.byteLength) return undefined;
    const begin = t.fileOffset - current.offset;
    return current.bytes.subarray(begin, begin + t.byteLength);
  };
  const readSmall = async (t: SafetensorsTensorInfo): Promise<Uint8Array> => {
    const length = Math.max(t.byteLength, Math.min(kReadAheadBytes, source.size - t.fileOffset));
    window = { offset: t.fileOffset, bytes: await readExactly(labelled, t.fileOffset, length, `tensor ${quoteName(t.name)}`) };
    return inWindow(t)!;
  };
  return {
    name,
    metadata: header.metadata,
    headerByteLength,
    dataOffset: header.dataOffset,
    byteLength: source.size,
    // The parsed entries are frozen: shared with every caller, never copied (200k tensors cost one array).
    list: () => header.tensors.slice(),
    info,
    has: (tensorName) => byName.has(tensorName),
    async read(tensorName: string): Promise<Uint8Array> {
      const t = info(tensorName);
      // A copy, so the tensor owns its buffer (`new Float32Array(bytes.buffer)` works) and holds no window alive.
      if (t.byteLength < kSmallTensorBytes) return (inWindow(t) ?? await readSmall(t)).slice();
      return readExactly(labelled, t.fileOffset, t.byteLength, `tensor ${quoteName(t.name)}`);
    },
    async readInto(tensorName: string, buffer: Uint8Array): Promise<Uint8Array> {
      const t = info(tensorName);
      if (!(buffer instanceof Uint8Array) || buffer.byteLength < t.byteLength) {
        throw new InvalidArgumentError('buffer', buffer, `readInto(${quoteName(t.name)}) needs a Uint8Array of at least ${t.byteLength} bytes`);
      }
      const target = buffer.subarray(0, t.byteLength);
      if (t.byteLength < kSmallTensorBytes) {
        target.set(inWindow(t) ?? await readSmall(t));
        return target;
      }
      await readExactlyInto(labelled, t.fileOffset, target, `tensor ${quoteName(t.name)}`);
      return target;
    },
    async readRangeInto(tensorName: string, byteOffset: number, target: Uint8Array): Promise<Uint8Array> {
      const t = info(tensorName);
      if (!(target instanceof Uint8Array) || !Number.isSafeInteger(byteOffset) || byteOffset < 0 || byteOffset + target.byteLength > t.byteLength) {
        throw new InvalidArgumentError('byteOffset', byteOffset, `readRangeInto(${quoteName(t.name)}) needs a Uint8Array target and a range inside the tensor's ${t.byteLength} bytes`);
      }
      await readExactlyInto(labelled, t.fileOffset + byteOffset, target, `tensor ${quoteName(t.name)} (bytes ${byteOffset}..${byteOffset + target.byteLength})`);
      return target;
    },
    async float32FileRange(tensorName: string): Promise<FileRange | undefined> {
      const t = info(tensorName);
      return t.dtype === 'float32' && t.byteLength % 4 === 0 ? fileRangeOf(source, t.fileOffset, t.byteLength) : undefined;
    },
    async tensorFileRange(tensorName: string): Promise<FileRange | undefined> {
      const t = info(tensorName);
      return fileRangeOf(source, t.fileOffset, t.byteLength);
    },
    async close(): Promise<void> { await source.close?.(); },
  };
}
