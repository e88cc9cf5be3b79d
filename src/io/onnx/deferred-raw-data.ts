/**
 * Reading an ONNX file without holding its tensor data: the protobuf is read in order through one reused
 * buffer, every main-graph initializer's `raw_data` of at least `minBytes` is left in the file, and the rest
 * (the model's skeleton: nodes, names, shapes, small tensors) is decoded as usual. Each left-out `raw_data`
 * becomes a *deferred* array: a view of its length over one shared zero-filled buffer that is never written
 * (so it costs no memory, and the engine sees no new external memory), registered with where its bytes are
 * in the file. `OnnxModel` reads such a tensor from the file when it is
 * read, straight into the caller's array where it can ({@link readDeferredInto}); a model written in parts
 * copies a deferred tensor from the input file to the output through a small buffer ({@link writeParts}).
 *
 * Why: on hosts where the first touch of fresh memory is slow, reading a whole model into a fresh buffer costs
 * more than compressing it (docs/performance.md); this way the tensor bytes go from the file straight to
 * memory already in use.
 *
 * A tensor's bytes may also be *produced later* ({@link producedLater}): a placeholder of their length, and a
 * function that computes them again when they are written (the compressor's integers past what it holds in
 * memory, quantized again from the weight in its file with the same parameters: the same bytes).
 *
 * @example
 * ```ts
 * const proto = await decodeDeferred(await nodeFileSource('model.onnx'), 'model.onnx', 65536);
 * deferredRange(proto.graph.initializer[0].rawData); // { source, offset: 1234 } while it is still in the file
 * ```
 * @module
 */
import { FormatError } from '../../errors.js';
import type { ByteSource } from '../byte-source.js';
import { type ModelProto, type TensorProto, decodeModel } from './proto.js';

/** Where a deferred array's bytes are. */
export interface DeferredRange { source: ByteSource; offset: number }

const deferred = new WeakMap<Uint8Array, DeferredRange>();

/**
 * Where `bytes` lies in the input file when it is a deferred array (not read yet), else undefined.
 *
 * @example
 * ```ts
 * deferredRange(new Uint8Array(4)); // undefined: ordinary bytes
 * ```
 */
export function deferredRange(bytes: Uint8Array): DeferredRange | undefined {
  return deferred.get(bytes);
}

const produced = new WeakMap<Uint8Array, () => Promise<Uint8Array>>();
const filled = new WeakSet<Uint8Array>();
const ownParts = new WeakSet<Uint8Array>();

/**
 * A placeholder of `length` bytes (costing no memory) whose bytes `produce` computes when they are needed:
 * {@link writeParts} writes what it returns (checking the length), {@link materialized} returns it.
 *
 * @example
 * ```ts
 * tensor.rawData = producedLater(ints.byteLength, () => quantizeAgain(name)); // ints can be dropped now
 * ```
 */
export function producedLater(length: number, produce: () => Promise<Uint8Array>): Uint8Array {
  const bytes = placeholder(length);
  produced.set(bytes, produce);
  return bytes;
}

/**
 * A placeholder of `length` bytes that its writer fills in itself: the layout of a file planned before its values
 * are known (compress/onnx-planned-write.ts). {@link writeParts} refuses it.
 *
 * @example
 * ```ts
 * tensor.rawData = filledLater(tensor.rawData.byteLength);
 * ```
 */
export function filledLater(length: number): Uint8Array {
  const bytes = placeholder(length);
  filled.add(bytes);
  return bytes;
}

/**
 * Whether `bytes` is a {@link filledLater} placeholder.
 *
 * @example
 * ```ts
 * isFilledLater(filledLater(4)); // true
 * ```
 */
export function isFilledLater(bytes: Uint8Array): boolean {
  return filled.has(bytes);
}

/**
 * Makes `bytes` a part of its own in an encoding in parts (OnnxModel.encodeParts), however small: a tensor's
 * bytes laid out where a planned layout has a {@link filledLater} placeholder.
 *
 * @example
 * ```ts
 * markOwnPart(tensor.rawData);
 * ```
 */
export function markOwnPart(bytes: Uint8Array): void {
  ownParts.add(bytes);
}

/**
 * Whether an encoding in parts keeps `bytes` as a part of its own: a placeholder, or marked by {@link markOwnPart}.
 *
 * @example
 * ```ts
 * encodeModelParts(proto, undefined, isOwnPart);
 * ```
 */
export function isOwnPart(bytes: Uint8Array): boolean {
  return ownParts.has(bytes) || isPlaceholder(bytes);
}

/**
 * Whether `bytes` is a placeholder: still in its file ({@link deferredRange}), produced later ({@link producedLater})
 * or filled in by its writer ({@link filledLater}).
 *
 * @example
 * ```ts
 * isPlaceholder(new Uint8Array(4)); // false
 * ```
 */
export function isPlaceholder(bytes: Uint8Array): boolean {
  return deferred.has(bytes) || produced.has(bytes) || filled.has(bytes);
}

/** The bytes `produce` returns, checked to be the `length` its placeholder promised. */
async function producedBytes(produce: () => Promise<Uint8Array>, length: number): Promise<Uint8Array> {
  const bytes = await produce();
  if (bytes.byteLength !== length) throw new FormatError(`a tensor produced ${bytes.byteLength} bytes where ${length} were planned`);
  return bytes;
}

/**
 * Reads a deferred array's bytes from its file into `target` (its length), leaving the array deferred.
 *
 * @example
 * ```ts
 * await readDeferredInto(tensor.rawData, new Uint8Array(heldWeight.buffer, heldWeight.byteOffset, tensor.rawData.byteLength));
 * ```
 */
export async function readDeferredInto(bytes: Uint8Array, target: Uint8Array): Promise<void> {
  const range = deferred.get(bytes);
  if (!range) throw new FormatError('readDeferredInto: the bytes are not deferred');
  if (target.byteLength !== bytes.byteLength) throw new FormatError(`readDeferredInto: ${target.byteLength} bytes asked for a ${bytes.byteLength}-byte tensor`);
  await readRange(range.source, range.offset, target);
}

/**
 * A deferred array's bytes read from its file into a new array (`bytes` itself when it is ordinary bytes).
 *
 * @example
 * ```ts
 * tensor.rawData = await materialized(tensor.rawData); // now the file's bytes
 * ```
 */
export async function materialized(bytes: Uint8Array): Promise<Uint8Array> {
  const produce = produced.get(bytes);
  if (produce) return producedBytes(produce, bytes.byteLength);
  const range = deferred.get(bytes);
  if (!range) return bytes;
  const out = new Uint8Array(bytes.byteLength);
  await readRange(range.source, range.offset, out);
  return out;
}

/** The buffer every deferred array views: zero-filled, never written, grown to the longest so far. */
let zeros = new ArrayBuffer(0);
function placeholder(length: number): Uint8Array {
  if (zeros.byteLength < length) zeros = new ArrayBuffer(length);
  return new Uint8Array(zeros, 0, length);
}

async function readRange(source: ByteSource, offset: number, target: Uint8Array): Promise<void> {
  if (source.readInto) await source.readInto(offset, target);
  else target.set(await source.read(offset, target.byteLength));
}

/** The protobuf read in order through one reused window of the source. */
class SequentialReader {
  pos = 0;
  #window: Uint8Array;
  #start = 0;
  #end = 0;
  readonly #source: ByteSource;

  constructor(source: ByteSource, windowBytes: number) {
    this.#source = source;
    this.#window = new Uint8Array(Math.min(windowBytes, Math.max(source.size, 16)));
  }

  /** Makes [pos, pos + n) readable from the window (n at most the window's size, and what is left of the source). */
  async #ensure(n: number): Promise<void> {
    if (this.pos >= this.#start && this.pos + n <= this.#end) return;
    const length = Math.min(this.#window.byteLength, this.#source.size - this.pos);
    if (length < n) throw new FormatError(`the protobuf runs past the end of the file at byte ${this.pos}`);
    await readRange(this.#source, this.pos, this.#window.subarray(0, length));
    this.#start = this.pos;
    this.#end = this.pos + length;
  }

  async varint(): Promise<number> {
    await this.#ensure(Math.min(10, this.#source.size - this.pos));
    let value = 0;
    for (let shift = 0, i = this.pos - this.#start; ; shift += 7, i++) {
      if (i >= this.#end - this.#start || shift > 49) throw new FormatError(`a bad varint at byte ${this.pos}`);
      const byte = this.#window[i]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) {
        this.pos = this.#start + i + 1;
        return value;
      }
    }
  }

  /** Copies the bytes [from, to) of the source (from may lie before pos), leaving pos at `to`. */
  async copy(from: number, to: number): Promise<Uint8Array> {
    const out = new Uint8Array(to - from);
    if (from >= this.#start && to <= this.#end) out.set(this.#window.subarray(from - this.#start, to - this.#start));
    else await readRange(this.#source, from, out);
    this.pos = to;
    return out;
  }
}

/** Not a model this reader takes (a damaged file, an unusual layout): the caller reads the whole file instead. */
export class NotDeferrable extends Error {}

function varintBytes(value: number): Uint8Array {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
  return Uint8Array.from(out);
}

type Level = 'model' | 'graph' | 'tensor';
/** The field descended into at each level: ModelProto.graph (7), GraphProto.initializer (5), TensorProto.raw_data (9). */
const kField: Record<Level, number> = { model: 7, graph: 5, tensor: 9 };

interface Skeleton { chunks: Uint8Array[]; bytes: number }

/**
 * The skeleton of the message in [reader.pos, end): its fields copied, except the descended ones, rebuilt,
 * and big raw_data left out (its range pushed to `left`, with the initializer's index).
 */
async function skeleton(reader: SequentialReader, end: number, level: Level, minBytes: number,
  left: { index: number; offset: number; length: number }[], counter: { initializers: number }): Promise<Skeleton> {
  const out: Skeleton = { chunks: [], bytes: 0 };
  const push = (chunk: Uint8Array) => { out.chunks.push(chunk); out.bytes += chunk.byteLength; };
  let seen = 0;
  while (reader.pos < end) {
    const fieldStart = reader.pos;
    const key = await reader.varint();
    const wire = key & 7;
    const field = Math.floor(key / 8);
    let fieldEnd: number;
    if (wire === 0) {
      await reader.varint();
      fieldEnd = reader.pos;
    } else if (wire === 1 || wire === 5) {
      fieldEnd = reader.pos + (wire === 1 ? 8 : 4);
    } else if (wire === 2) {
      const length = await reader.varint();
      fieldEnd = reader.pos + length;
    } else {
      throw new NotDeferrable(`wire type ${wire} at byte ${fieldStart}`);
    }
    if (fieldEnd > end) throw new NotDeferrable(`a field past its message at byte ${fieldStart}`);
    if (wire === 2 && field === kField[level]) {
      if (level === 'tensor') {
        if (++seen > 1) throw new NotDeferrable('a tensor with two raw_data fields');
        if (fieldEnd - reader.pos >= minBytes) {
          left.push({ index: counter.initializers - 1, offset: reader.pos, length: fieldEnd - reader.pos });
          reader.pos = fieldEnd;
          continue;
        }
      } else {
        if (level === 'model' && ++seen > 1) throw new NotDeferrable('a model with two graph fields');
        if (level === 'graph') counter.initializers++;
        const inner = await skeleton(reader, fieldEnd, level === 'model' ? 'graph' : 'tensor', minBytes, left, counter);
        push(varintBytes(key));
        push(varintBytes(inner.bytes));
        for (const chunk of inner.chunks) push(chunk);
        continue;
      }
    }
    push(await reader.copy(fieldStart, fieldEnd));
  }
  if (reader.pos !== end) throw new NotDeferrable(`a message that ends at byte ${reader.pos}, not ${end}`);
  return out;
}

/**
 * Decodes the ONNX model in `source` with every main-graph initializer's raw_data of at least `minBytes`
 * left in the file as a deferred array (see the module documentation). Throws {@link NotDeferrable} for a
 * file this reader does not take (damaged, or with repeated graph or raw_data fields): read it whole instead,
 * which also says what is wrong with it.
 *
 * @example
 * ```ts
 * const proto = await decodeDeferred(source, 'model.onnx', 65536);
 * ```
 */
export async function decodeDeferred(source: ByteSource, what: string, minBytes: number, windowBytes = 65536): Promise<ModelProto> {
  const reader = new SequentialReader(source, windowBytes);
  const left: { index: number; offset: number; length: number }[] = [];
  let parts: Skeleton;
  try {
    parts = await skeleton(reader, source.size, 'model', minBytes, left, { initializers: 0 });
  } catch (error) {
    if (error instanceof FormatError) throw new NotDeferrable(error.message);
    throw error;
  }
  const bytes = new Uint8Array(parts.bytes);
  let at = 0;
  for (const chunk of parts.chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  let proto: ModelProto;
  try {
    proto = decodeModel(bytes, what);
  } catch (error) {
    throw new NotDeferrable(error instanceof Error ? error.message : String(error));
  }
  const initializers = (proto.graph?.initializer ?? []) as TensorProto[];
  for (const { index, offset, length } of left) {
    const tensor = initializers[index];
    if (!tensor) throw new NotDeferrable(`initializer ${index} is missing after decoding`);
    const bytes = placeholder(length);
    deferred.set(bytes, { source, offset });
    tensor.rawData = bytes;
  }
  return proto;
}

/**
 * Writes parts of a model (`encodeModelParts`) with `write`, copying deferred tensors from their file through
 * one reused buffer of `chunkBytes` and producing those produced later one at a time; `write` must be done
 * with a chunk when its promise resolves.
 *
 * @example
 * ```ts
 * await writeParts(model.encodeParts(), (chunk) => sink.write(chunk));
 * ```
 */
export async function writeParts(parts: readonly Uint8Array[], write: (chunk: Uint8Array) => Promise<void>, chunkBytes = 2 ** 20): Promise<void> {
  let buffer: Uint8Array | undefined;
  for (const part of parts) {
    if (filled.has(part)) throw new FormatError('writeParts: a tensor planned to be filled in by its writer has no bytes yet');
    const produce = produced.get(part);
    if (produce) {
      await write(await producedBytes(produce, part.byteLength));
      continue;
    }
    const range = deferred.get(part);
    if (!range) {
      await write(part);
      continue;
    }
    buffer ??= new Uint8Array(chunkBytes);
    for (let done = 0; done < part.byteLength; done += buffer.byteLength) {
      const chunk = buffer.subarray(0, Math.min(buffer.byteLength, part.byteLength - done));
      await readRange(range.source, range.offset + done, chunk);
      await write(chunk);
    }
  }
}

/**
 * The parts of `encodeModelParts` joined into one buffer of `byteLength` bytes (the first part itself when
 * it is the only one). Deferred tensors cannot be joined here (they are still in their file): write such
 * parts with {@link writeParts}.
 *
 * @example
 * ```ts
 * concatParts([Uint8Array.of(1), Uint8Array.of(2, 3)], 3); // Uint8Array [1, 2, 3]
 * ```
 */
export function concatParts(parts: readonly Uint8Array[], byteLength: number): Uint8Array {
  if (parts.length === 1 && parts[0]!.byteLength === byteLength && !isPlaceholder(parts[0]!)) return parts[0]!;
  const joined = new Uint8Array(byteLength);
  let at = 0;
  for (const part of parts) {
    if (isPlaceholder(part)) throw new FormatError('concatParts: a tensor is still in its file or produced when written; write the parts with writeParts');
    joined.set(part, at);
    at += part.byteLength;
  }
  return joined;
}
