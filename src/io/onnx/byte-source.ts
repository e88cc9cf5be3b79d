/**
 * Where ONNX model and external-data bytes come from, the same in the browser and in Node: a `Uint8Array`
 * or `ArrayBuffer`, a `Blob` / `File` (read by slices), or a {@link ByteSource} (`nodeFileSource(path)`,
 * `blobSource(file)`, an HTTP range reader). Every range is checked against the source's size before
 * anything is read or allocated.
 *
 * @example
 * ```ts
 * const source = await nodeFileSource('weights.bin');
 * await readByteRange(source, 128, 64, 'tensor "w"'); // 64 bytes from offset 128
 * await readByteRange(new Uint8Array(10), 8, 4, 'w'); // throws FormatError: w: bytes 8..12 lie past the end ...
 * ```
 * @module
 */
import { FormatError } from '../../errors.js';
import type { ByteSource } from '../byte-source.js';

/** Anything bytes can be read from. */
export type ByteInput = Uint8Array | ArrayBuffer | Blob | ByteSource;

/** The largest ONNX protobuf webgpu-quant reads in one piece: protobuf's own 2 GiB limit. */
export const MAX_PROTOBUF_BYTES = 2 ** 31 - 1;

function isBlob(input: unknown): input is Blob {
  return typeof Blob !== 'undefined' && input instanceof Blob;
}

/**
 * The size of `input` in bytes; throws FormatError naming `what` when `input` is not a byte input.
 *
 * @example
 * ```ts
 * byteSize(new Uint8Array(10), 'model'); // 10
 * ```
 */
export function byteSize(input: ByteInput, what: string): number {
  if (input instanceof Uint8Array || input instanceof ArrayBuffer) return input.byteLength;
  if (isBlob(input)) return input.size;
  if (input !== null && typeof input === 'object' && typeof (input as ByteSource).read === 'function') {
    const size = (input as ByteSource).size;
    if (Number.isSafeInteger(size) && size >= 0) return size;
    throw new FormatError(`${what}: the byte source reports size ${String(size)}; it must be a non-negative integer`);
  }
  throw new FormatError(`${what}: expected a Uint8Array, ArrayBuffer, Blob or ByteSource { size, read(offset, length) }, got ${
    input === null ? 'null' : typeof input}`);
}

/**
 * Reads `length` bytes at `offset` of `input`, after checking the range lies inside it. A short read, or a
 * source that throws, is a FormatError naming `what` and the range.
 *
 * @example
 * ```ts
 * await readByteRange(Uint8Array.of(1, 2, 3), 1, 2, 'x'); // Uint8Array [2, 3] (a view, not a copy)
 * await readByteRange(Uint8Array.of(1, 2, 3), 2, 5, 'x'); // throws FormatError: x: bytes 2..7 lie past the end (3 bytes)
 * ```
 */
export async function readByteRange(input: ByteInput, offset: number, length: number, what: string): Promise<Uint8Array> {
  const size = byteSize(input, what);
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new FormatError(`${what}: bytes ${offset}..${offset + length} lie past the end of the data (${size} bytes)`);
  }
  if (input instanceof Uint8Array) return input.subarray(offset, offset + length);
  if (input instanceof ArrayBuffer) return new Uint8Array(input, offset, length);
  let bytes: Uint8Array;
  try {
    bytes = isBlob(input) ? new Uint8Array(await input.slice(offset, offset + length).arrayBuffer())
      : await (input as ByteSource).read(offset, length);
  } catch (error) {
    if (error instanceof FormatError) throw error;
    throw new FormatError(`${what}: reading bytes ${offset}..${offset + length} failed (${
      error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
  if (!(bytes instanceof Uint8Array) || bytes.byteLength !== length) {
    throw new FormatError(`${what}: asked for ${length} bytes at offset ${offset}, the source returned ${
      bytes instanceof Uint8Array ? bytes.byteLength : typeof bytes}`);
  }
  return bytes;
}

/**
 * Reads all of `input` (at most `maxBytes`, default the 2 GiB protobuf limit).
 *
 * @example
 * ```ts
 * const bytes = await readAllBytes(file, 'model.onnx'); // a File from a picker
 * ```
 */
export async function readAllBytes(input: ByteInput, what: string, maxBytes = MAX_PROTOBUF_BYTES): Promise<Uint8Array> {
  const size = byteSize(input, what);
  if (size > maxBytes) {
    throw new FormatError(`${what}: ${size} bytes is more than the ${maxBytes} a protobuf model can have; `
      + 'store the weights as ONNX external data');
  }
  return readByteRange(input, 0, size, what);
}
