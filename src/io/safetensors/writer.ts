/**
 * A streaming safetensors writer. The format puts the full header first, so the writer takes the list of
 * tensors up front (names, dtypes and shapes are known before any tensor is computed), writes the header,
 * then takes each tensor's bytes in header order, whole (`write`) or in pieces (`writeChunk`), checking
 * every size. It keeps no tensor data beyond a 1 MiB staging buffer that gathers small tensors into one sink
 * write (a file of many tiny tensors costs what its bytes cost): memory stays at the tensor being written.
 *
 * Any mistake (a tensor out of order, a wrong size, `close()` with tensors missing) or sink failure aborts
 * the sink before the error is thrown, so a file sink deletes its temporary file: a failure never leaves
 * a half model.
 *
 * @example
 * ```ts
 * import { createSafetensorsWriter, nodeFileSink } from 'webgpu-quant';
 * const writer = await createSafetensorsWriter(await nodeFileSink('out.safetensors'),
 *   [{ name: 'a', dtype: 'F32', shape: [2] }, { name: 'b', dtype: 'I8', shape: [3] }], { format: 'pt' });
 * await writer.write('a', new Uint8Array(new Float32Array([1, 2]).buffer));
 * await writer.write('b', Int8Array.of(1, 2, 3));
 * await writer.close();
 * ```
 * @module
 */
import { InvalidArgumentError } from '../../errors.js';
import { type PlacedEntry, type SafetensorsEntry, type SafetensorsMetadata, encodeSafetensorsHeader } from './header-encode.js';
import { quoteName } from './header-parse.js';
import { type ByteSink, memorySink } from './sinks.js';

/** Writes the tensors of one safetensors file in header order. */
export interface SafetensorsWriter {
  /** The tensors as placed in the file, in write order. */
  readonly entries: readonly PlacedEntry[];
  /** The complete file's size in bytes. */
  readonly byteLength: number;
  /** File offset of the data region (8 + header length). */
  readonly dataOffset: number;
  /** The tensor the writer expects next (zero-byte tensors may be skipped), or undefined when all are written. */
  readonly next: string | undefined;
  /** Writes a whole tensor (any typed array; its bytes are taken as they are in memory, little-endian). */
  write(name: string, data: ArrayBufferView): Promise<void>;
  /** Writes the next piece of a tensor; it is complete when its byte length is reached. */
  writeChunk(name: string, data: ArrayBufferView): Promise<void>;
  /** Checks that every tensor was written and closes the sink. */
  close(): Promise<void>;
  /** Abandons the output: the sink is aborted. */
  abort(reason?: unknown): Promise<void>;
}

/** Tensors smaller than this are gathered and written to the sink together. */
const kStagingBytes = 1 << 20;

/** What a write that completed at once returns. */
const kDone: Promise<void> = Promise.resolve();

function asBytes(data: ArrayBufferView, argument: string): Uint8Array {
  if (!ArrayBuffer.isView(data)) throw new InvalidArgumentError(argument, data, `${argument} must be a Uint8Array or another typed array`);
  return data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Validates `entries`, writes the header to `sink` and returns the writer for the tensors.
 *
 * @example
 * ```ts
 * const sink = memorySink();
 * const writer = await createSafetensorsWriter(sink, [{ name: 'x', dtype: 'U8', shape: [2], byteLength: 2 }]);
 * await writer.write('x', Uint8Array.of(7, 8));
 * await writer.close();
 * sink.bytes().byteLength; // 8 + 56 + 2
 * ```
 */
export async function createSafetensorsWriter(
  sink: ByteSink, entries: readonly SafetensorsEntry[], metadata?: SafetensorsMetadata,
): Promise<SafetensorsWriter> {
  if (sink === null || typeof sink !== 'object' || typeof sink.write !== 'function' || typeof sink.close !== 'function' || typeof sink.abort !== 'function') {
    throw new InvalidArgumentError('sink', sink, 'sink must be a ByteSink { write, close, abort }: memorySink(), nodeFileSink(path) or writableStreamSink(stream)');
  }
  let header;
  try {
    header = encodeSafetensorsHeader(entries, metadata);
  } catch (error) {
    await sink.abort(error);
    throw error;
  }
  const placed = header.entries;
  let index = 0; // the tensor being written
  let filled = 0; // its bytes written so far
  let state: 'open' | 'busy' | 'closed' | 'failed' = 'busy';

  const fail = async (error: unknown): Promise<never> => {
    state = 'failed';
    await sink.abort(error);
    throw error;
  };
  const guarded = async (action: () => Promise<void>): Promise<void> => {
    if (state !== 'open') {
      throw new InvalidArgumentError('writer', state, state === 'busy'
        ? 'the writer is still writing: await each write() before the next'
        : `the writer is ${state}${state === 'failed' ? ' (an earlier error aborted the output)' : ''}; create a new one`);
    }
    state = 'busy';
    try {
      await action();
      state = 'open';
    } catch (error) {
      await fail(error);
    }
  };
  /** Skips zero-byte tensors before `name` so callers may omit them; returns the entry `name` must be. */
  const expect = (name: string): PlacedEntry => {
    while (filled === 0 && index < placed.length && placed[index]!.name !== name && placed[index]!.byteLength === 0) index++;
    const current = placed[index];
    if (current === undefined || current.name !== name) {
      const known = placed.some((p) => p.name === name);
      throw new InvalidArgumentError('name', name, `${quoteName(String(name))} ${known ? 'is out of order' : 'is not in the entries'}; `
        + `the next tensor to write is ${current ? quoteName(current.name) : 'none (all written: call close())'}`);
    }
    return current;
  };
  // Small tensors are gathered into one staging buffer and written together: one sink write per
  // kStagingBytes rather than one per tensor, so a file of 200k tiny tensors costs what its bytes cost.
  let staging: Uint8Array | undefined;
  let staged = 0;
  const flush = async (): Promise<void> => {
    if (staged === 0) return;
    const bytes = staging!.slice(0, staged); // a copy: the sink may keep the chunk while we refill
    staged = 0;
    await sink.write(bytes);
  };
  const stage = async (bytes: Uint8Array): Promise<void> => {
    if (bytes.byteLength >= kStagingBytes) {
      await flush();
      await sink.write(bytes);
      return;
    }
    if (staged + bytes.byteLength > kStagingBytes) await flush();
    staging ??= new Uint8Array(kStagingBytes);
    staging.set(bytes, staged); // copied now: the caller may reuse its buffer as soon as write() resolves
    staged += bytes.byteLength;
  };
  const put = async (name: string, data: ArrayBufferView, whole: boolean): Promise<void> => {
    const bytes = asBytes(data, 'data');
    const entry = expect(name);
    const left = entry.byteLength - filled;
    if (whole ? filled !== 0 || bytes.byteLength !== entry.byteLength : bytes.byteLength > left) {
      throw new InvalidArgumentError('data', bytes.byteLength, `tensor ${quoteName(name)}: ${bytes.byteLength} bytes given, `
        + `${whole ? `the whole tensor is ${entry.byteLength} bytes${filled ? ` and ${filled} were already written` : ''}` : `only ${left} remain of its ${entry.byteLength}`} `
        + `([${entry.shape.join(', ')}] of ${entry.dtype})`);
    }
    if (bytes.byteLength > 0) await stage(bytes);
    filled += bytes.byteLength;
    if (filled === entry.byteLength) { index++; filled = 0; }
  };

  try {
    await sink.write(header.bytes);
  } catch (error) {
    await fail(error);
  }
  state = 'open';
  return {
    entries: placed,
    byteLength: header.fileByteLength,
    dataOffset: header.dataOffset,
    get next() { return placed[index]?.name; },
    write: (name, data) => {
      // The usual small tensor, next in order, that fits the staging buffer: copied in place, with no
      // promise or closure per tensor (a file of 200k tiny tensors). Anything else takes the checked path.
      const entry = placed[index];
      if (state === 'open' && filled === 0 && entry !== undefined && entry.name === name && ArrayBuffer.isView(data)
        && data.byteLength === entry.byteLength && staged + data.byteLength <= kStagingBytes) {
        staging ??= new Uint8Array(kStagingBytes);
        staging.set(asBytes(data, 'data'), staged);
        staged += data.byteLength;
        index++;
        return kDone;
      }
      return guarded(() => put(name, data, true));
    },
    writeChunk: (name, data) => guarded(() => put(name, data, false)),
    close: () => guarded(async () => {
      while (filled === 0 && index < placed.length && placed[index]!.byteLength === 0) index++;
      if (index < placed.length) {
        const missing = placed[index]!;
        throw new InvalidArgumentError('writer', missing.name, `close() with tensor ${quoteName(missing.name)} ${
          filled ? `incomplete (${filled} of ${missing.byteLength} bytes)` : 'not written'} and ${placed.length - index - 1} after it; `
          + 'the output was discarded');
      }
      await flush();
      staging = undefined;
      await sink.close();
    }).then(() => { state = 'closed'; }),
    async abort(reason?: unknown): Promise<void> {
      if (state === 'closed' || state === 'failed') return;
      state = 'failed';
      await sink.abort(reason);
    },
  };
}

/** A tensor with its data, for the one-call helpers. */
export interface SafetensorsTensor extends SafetensorsEntry { data: ArrayBufferView }

/**
 * Writes `tensors` to `sink` in one call (each tensor's data is already in memory).
 *
 * @example
 * ```ts
 * await writeSafetensors(await nodeFileSink('w.safetensors'), [{ name: 'w', dtype: 'F32', shape: [2], data: Float32Array.of(1, 2) }]);
 * ```
 */
export async function writeSafetensors(sink: ByteSink, tensors: readonly SafetensorsTensor[], metadata?: SafetensorsMetadata): Promise<void> {
  const writer = await createSafetensorsWriter(sink, tensors, metadata);
  for (const t of tensors) await writer.write(t.name, t.data);
  await writer.close();
}

/**
 * The bytes of a safetensors file holding `tensors`.
 *
 * @example
 * ```ts
 * const bytes = await serializeSafetensors([{ name: 'attn.0', dtype: 'F32', shape: [1, 2, 3], data: Float32Array.of(0, 1, 2, 3, 4, 5) }]);
 * bytes.byteLength; // 96
 * ```
 */
export async function serializeSafetensors(tensors: readonly SafetensorsTensor[], metadata?: SafetensorsMetadata): Promise<Uint8Array> {
  const sink = memorySink();
  await writeSafetensors(sink, tensors, metadata);
  return sink.bytes();
}
