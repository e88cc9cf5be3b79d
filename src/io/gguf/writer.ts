/**
 * A streaming GGUF v3 writer: the header (magic, version, counts), the metadata key/values, the tensor
 * infos (name, dims with ne[0] innermost, ggml type, offset) are computed from the plan first; then each
 * tensor's bytes are written in plan order, every tensor starting at a multiple of the alignment
 * (`general.alignment`, 32). The writer checks each tensor's byte count against its type and dims, so a
 * file is either complete or aborted.
 *
 * @example
 * ```ts
 * const sink = memorySink();
 * const writer = await createGgufWriter(sink, [{ key: 'general.architecture', type: 'string', value: 'mlp' }],
 *   [{ name: 'w', type: 'F32', ne: [2, 1] }]);
 * await writer.write('w', new Uint8Array(8)); // or in pieces: writer.writeChunk('w', piece), until its 8 bytes are written
 * await writer.close();
 * sink.bytes(); // a GGUF file
 * ```
 * @module
 */
import { InvalidArgumentError } from '../../errors.js';
import type { ByteSink } from '../safetensors/sinks.js';
import {
  GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_VALUE_TYPE, GGUF_VERSION, type GgmlType, ggmlTensorBytes, ggmlTypeInfo,
} from './ggml-types.js';

/** One metadata entry (the scalar and string types writers need). */
export type GgufMetadataEntry =
  | { key: string; type: 'string'; value: string }
  | { key: string; type: 'uint32' | 'int32' | 'float32' | 'uint64'; value: number }
  | { key: string; type: 'bool'; value: boolean };

/** One tensor to write: its name, type and ggml dims (ne[0] is the row length). */
export interface GgufTensorPlan { name: string; type: GgmlType; ne: number[] }

/** The writer {@link createGgufWriter} returns. */
export interface GgufWriter {
  /** Writes the next tensor's bytes; names must come in plan order. */
  write(name: string, bytes: Uint8Array): Promise<void>;
  /**
   * Writes the next piece of the next tensor's bytes; the tensor is complete (and padded) when its byte count is
   * reached. A tensor written in pieces is finished before another starts.
   */
  writeChunk(name: string, bytes: Uint8Array): Promise<void>;
  /** Checks every tensor was written and closes the sink. */
  close(): Promise<void>;
  abort(reason?: unknown): Promise<void>;
  /** Bytes of the whole file. */
  readonly byteLength: number;
}

const kEncoder = new TextEncoder();
/** ggml tensors have at most 4 dimensions. */
const GGML_MAX_DIMS = 4;

class ByteBuilder {
  private parts: Uint8Array[] = [];
  length = 0;
  push(bytes: Uint8Array): void {
    this.parts.push(bytes);
    this.length += bytes.byteLength;
  }
  u32(v: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    this.push(b);
  }
  u64(v: number): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
    this.push(b);
  }
  string(s: string): void {
    const bytes = kEncoder.encode(s);
    this.u64(bytes.byteLength);
    this.push(bytes);
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.byteLength;
    }
    return out;
  }
}

function value(builder: ByteBuilder, entry: GgufMetadataEntry): void {
  const b = new Uint8Array(8);
  const view = new DataView(b.buffer);
  switch (entry.type) {
    case 'string': builder.u32(GGUF_VALUE_TYPE.STRING); builder.string(entry.value); return;
    case 'bool': builder.u32(GGUF_VALUE_TYPE.BOOL); builder.push(Uint8Array.of(entry.value ? 1 : 0)); return;
    case 'uint32': builder.u32(GGUF_VALUE_TYPE.UINT32); view.setUint32(0, entry.value, true); builder.push(b.subarray(0, 4)); return;
    case 'int32': builder.u32(GGUF_VALUE_TYPE.INT32); view.setInt32(0, entry.value, true); builder.push(b.subarray(0, 4)); return;
    case 'float32': builder.u32(GGUF_VALUE_TYPE.FLOAT32); view.setFloat32(0, entry.value, true); builder.push(b.subarray(0, 4)); return;
    case 'uint64': builder.u32(GGUF_VALUE_TYPE.UINT64); builder.u64(entry.value); return;
  }
}

const padding = (n: number, alignment: number): number => (alignment - (n % alignment)) % alignment;

/**
 * The header bytes (up to and including the padding before the data) and each tensor's offset and size.
 *
 * @example
 * ```ts
 * encodeGgufHeader([], [{ name: 'w', type: 'Q8_0', ne: [32, 2] }]).tensorBytes; // [68]
 * ```
 */
export function encodeGgufHeader(metadata: readonly GgufMetadataEntry[], tensors: readonly GgufTensorPlan[]):
  { header: Uint8Array; offsets: number[]; tensorBytes: number[]; dataBytes: number } {
  const alignment = GGUF_DEFAULT_ALIGNMENT;
  const names = new Set<string>();
  const offsets: number[] = [];
  const tensorBytes: number[] = [];
  let dataBytes = 0;
  for (const t of tensors) {
    if (names.has(t.name)) throw new InvalidArgumentError('tensors', t.name, `tensor name ${JSON.stringify(t.name)} appears twice; GGUF names must be unique`);
    names.add(t.name);
    if (t.ne.length < 1 || t.ne.length > GGML_MAX_DIMS) {
      throw new InvalidArgumentError('tensors', t.ne, `${t.name}: ${t.ne.length} dims; ggml holds 1 to ${GGML_MAX_DIMS} (GGML_MAX_DIMS)`);
    }
    if (!t.ne.every((d) => Number.isSafeInteger(d) && d >= 1)) {
      throw new InvalidArgumentError('tensors', t.ne, `${t.name}: dims [${t.ne.join(', ')}] must be positive integers`);
    }
    offsets.push(dataBytes);
    const bytes = ggmlTensorBytes(t.type, t.ne);
    tensorBytes.push(bytes);
    dataBytes += bytes + padding(bytes, alignment);
  }
  const b = new ByteBuilder();
  b.u32(GGUF_MAGIC);
  b.u32(GGUF_VERSION);
  b.u64(tensors.length);
  b.u64(metadata.length);
  for (const entry of metadata) {
    b.string(entry.key);
    value(b, entry);
  }
  tensors.forEach((t, i) => {
    b.string(t.name);
    b.u32(t.ne.length);
    for (const d of t.ne) b.u64(d);
    b.u32(ggmlTypeInfo(t.type).id);
    b.u64(offsets[i]!);
  });
  b.push(new Uint8Array(padding(b.length, alignment)));
  return { header: b.bytes(), offsets, tensorBytes, dataBytes };
}

/**
 * Starts a GGUF file on `sink`: writes the header now; the tensors follow with `write`, in plan order.
 * Throws InvalidArgumentError for a bad plan (duplicate names, dims); the sink is aborted then.
 *
 * @example
 * ```ts
 * const writer = await createGgufWriter(await nodeFileSink('model.gguf'), metadata, plans);
 * for (const p of plans) await writer.write(p.name, bytesOf(p.name));
 * await writer.close();
 * ```
 */
export async function createGgufWriter(sink: ByteSink, metadata: readonly GgufMetadataEntry[], tensors: readonly GgufTensorPlan[]): Promise<GgufWriter> {
  let encoded;
  try {
    encoded = encodeGgufHeader(metadata, tensors);
    await sink.write(encoded.header);
  } catch (error) {
    await sink.abort(error);
    throw error;
  }
  const { header, tensorBytes, dataBytes } = encoded;
  let next = 0;
  let partial = 0; // bytes of tensor `next` written so far by writeChunk
  /** Checks that `name` is the tensor expected next and that `byteLength` more bytes fit in it. */
  const check = (name: string, byteLength: number, whole: boolean): void => {
    const plan = tensors[next];
    if (!plan || plan.name !== name) {
      throw new InvalidArgumentError('name', name, `expected tensor ${JSON.stringify(plan?.name ?? '(none left)')} next, got ${JSON.stringify(name)}`);
    }
    const room = tensorBytes[next]! - partial;
    if (whole ? partial > 0 || byteLength !== room : byteLength > room) {
      const what = whole && partial > 0 ? `${partial} of its bytes were written in pieces; write the rest with writeChunk`
        : whole ? `needs ${tensorBytes[next]} bytes, got ${byteLength}` : `has ${room} bytes left to write, got a piece of ${byteLength}`;
      throw new InvalidArgumentError('bytes', byteLength, `${name}: ${plan.type} [${plan.ne.join(', ')}] ${what}`);
    }
  };
  /** Pads tensor `next`, now written whole, to the alignment and moves on to the next. */
  const finish = async (): Promise<void> => {
    const pad = padding(tensorBytes[next]!, GGUF_DEFAULT_ALIGNMENT);
    if (pad) await sink.write(new Uint8Array(pad));
    next++;
    partial = 0;
  };
  return {
    byteLength: header.byteLength + dataBytes,
    async write(name, bytes) {
      check(name, bytes.byteLength, true);
      await sink.write(bytes);
      await finish();
    },
    async writeChunk(name, bytes) {
      check(name, bytes.byteLength, false);
      if (bytes.byteLength > 0) await sink.write(bytes);
      partial += bytes.byteLength;
      if (partial === tensorBytes[next]) await finish();
    },
    async close() {
      if (next !== tensors.length) {
        const error = new InvalidArgumentError('tensors', next, `only ${next} of ${tensors.length} tensors were written; the file is incomplete`);
        await sink.abort(error);
        throw error;
      }
      await sink.close();
    },
    abort: (reason) => sink.abort(reason),
  };
}
