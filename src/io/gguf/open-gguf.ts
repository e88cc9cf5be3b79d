/**
 * `openGguf`: a GGUF file read by range from a {@link ByteSource} (a file on disk, a `Blob`), for files too big to
 * hold: the header is parsed from the file's first bytes (a mebibyte, more only when the metadata goes on past it),
 * checked as `readGguf` checks a file in memory, and each tensor's bytes are read when asked for.
 *
 * @example
 * ```ts
 * const file = await openGguf(await nodeFileSource('model.q4_0.gguf'));
 * try {
 *   const t = file.tensors[0]!;
 *   ggmlToFloat32(t.type, await file.readTensor(t), t.ne.reduce((a, b) => a * b, 1), t.name); // Float32Array
 * } finally { await file.close(); }
 * ```
 * @module
 */
import { FormatError } from '../../errors.js';
import type { ByteSource } from '../byte-source.js';
import { type GgufFile, GgufHeaderNeedsMore, type GgufTensorInfo, parseGgufHeader } from './reader.js';

/** The first read of the header. */
const kFirstRead = 1 << 20;
/** A header (metadata and tensor infos) larger than this is taken as damage (a large vocabulary takes a few MiB). */
export const GGUF_MAX_HEADER_BYTES = 1 << 28;

/** A GGUF file whose tensor data stays in its source until read. */
export interface GgufSourceFile extends Omit<GgufFile, 'bytes'> {
  /** The stored bytes of `info` (a tensor of this file), read from the source. */
  readTensor(info: GgufTensorInfo): Promise<Uint8Array>;
  /** Closes the source (a file handle). */
  close(): Promise<void>;
}

/**
 * Opens the GGUF file `source` reads (`name` in messages: the source's name by default). Throws FormatError for
 * anything `readGguf` refuses, and for a header past {@link GGUF_MAX_HEADER_BYTES}.
 *
 * @example
 * ```ts
 * const file = await openGguf(blobSource(input.files[0]));
 * file.metadata['general.architecture']; // 'llama'
 * ```
 */
export async function openGguf(source: ByteSource, name = source.name ?? 'GGUF file'): Promise<GgufSourceFile> {
  let length = Math.min(source.size, kFirstRead);
  for (;;) {
    const prefix = await source.read(0, length);
    if (prefix.byteLength !== length) {
      throw new FormatError(`${name}: read ${prefix.byteLength} of the file's first ${length} bytes (${source.size} bytes); the file changed while it was read`);
    }
    try {
      const header = parseGgufHeader(prefix, name, source.size);
      return {
        ...header,
        readTensor: async (info) => {
          if (info.byteLength === undefined) throw new FormatError(`${name}: tensor ${JSON.stringify(info.name)} is of ${info.type}, whose size this reader does not know`);
          const bytes = await source.read(info.offset, info.byteLength);
          if (bytes.byteLength !== info.byteLength) {
            throw new FormatError(`${name}: tensor ${JSON.stringify(info.name)}: read ${bytes.byteLength} of its ${info.byteLength} bytes; the file changed while it was read`);
          }
          return bytes;
        },
        close: async () => { await source.close?.(); },
      };
    } catch (error) {
      if (!(error instanceof GgufHeaderNeedsMore)) throw error;
      if (error.end > GGUF_MAX_HEADER_BYTES) {
        throw new FormatError(`${name}: a GGUF header of more than ${GGUF_MAX_HEADER_BYTES} bytes (its metadata reaches byte ${error.end}) is implausible; the file is damaged`);
      }
      length = Math.min(source.size, Math.max(2 * length, error.end + kFirstRead)); // the bytes asked for, and some after them
    }
  }
}
