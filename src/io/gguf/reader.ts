/**
 * `readGguf`: parses a GGUF file (versions 2 and 3) held in memory: metadata, tensor infos (name, ggml
 * type, dims, offset, bytes), with every count, length and offset checked against the file, so a damaged
 * file gives a FormatError naming what is wrong, never a crash or a hang. `ggufTensorFloat32` reads one
 * tensor back as float32 (F32, F16, BF16, Q8_0, Q4_0), in row-major order of `shape` (ggml's dims reversed).
 *
 * @example
 * ```ts
 * const file = readGguf(new Uint8Array(await readFile('model.gguf')));
 * file.metadata['general.architecture'];                      // 'llama'
 * file.tensors.map((t) => [t.name, t.type, t.shape, t.byteLength]);
 * ggufTensorFloat32(file, file.tensors[0]!);                  // Float32Array
 * ```
 * @module
 */
import { FormatError } from '../../errors.js';
import { toFloat32 } from '../float-convert.js';
import { dequantizeRowQ4_0, dequantizeRowQ8_0 } from './ggml-blocks.js';
import { cpuBlockValues } from './ggml-blocks-simd.js';
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_VALUE_TYPE, type GgmlType, ggmlTensorBytes, ggmlTypeOfId } from './ggml-types.js';

/** A metadata value: numbers (64-bit integers as bigint when past 2^53), strings, booleans, arrays. */
export type GgufValue = number | bigint | string | boolean | GgufValue[];

/** One tensor's info. */
export interface GgufTensorInfo {
  name: string;
  /** The ggml type, or `'type <id>'` for one this reader cannot decode (its size is then unknown). */
  type: GgmlType | `type ${number}`;
  /** ggml's dims, ne[0] innermost (the row length). */
  ne: number[];
  /** Row-major shape: `ne` reversed (a PyTorch Linear weight [out, in] has ne = [in, out]). */
  shape: number[];
  /** Absolute byte offset of its data in the file. */
  offset: number;
  /** Its bytes, when the type is known. */
  byteLength: number | undefined;
}

/** A parsed GGUF file. */
export interface GgufFile {
  version: number;
  alignment: number;
  metadata: Record<string, GgufValue>;
  tensors: GgufTensorInfo[];
  /** Where tensor data starts. */
  dataOffset: number;
  /** The file's bytes. */
  bytes: Uint8Array;
}

const kDecoder = new TextDecoder('utf-8', { fatal: true });
/** More array elements than this in one metadata value is taken as damage (real vocabularies are ~256k). */
const kMaxArray = 1 << 24;

/**
 * @internal Thrown by {@link parseGgufHeader} when the header goes on past the bytes it was given (but not past
 * the file): `end` bytes from the start are needed.
 */
export class GgufHeaderNeedsMore extends Error {
  constructor(readonly end: number) {
    super(`the GGUF header needs the file's first ${end} bytes`);
  }
}

class Cursor {
  at = 0;
  private view: DataView;
  /** `bytes` are the first bytes of a file of `fileSize` bytes (all of it by default). */
  constructor(private bytes: Uint8Array, private what: string, readonly fileSize = bytes.byteLength) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  fail(message: string): never {
    throw new FormatError(`${this.what}: ${message} (at byte ${this.at}); the file is damaged or not GGUF`);
  }
  need(n: number, what: string): void {
    if (n <= this.bytes.byteLength - this.at) return;
    if (n > this.fileSize - this.at) this.fail(`${what} runs past the end of the file (${this.fileSize} bytes)`);
    throw new GgufHeaderNeedsMore(this.at + n);
  }
  u8(): number { this.need(1, 'a value'); return this.view.getUint8(this.at++); }
  u32(): number { this.need(4, 'a u32'); const v = this.view.getUint32(this.at, true); this.at += 4; return v; }
  u64(what: string): number {
    this.need(8, what);
    const v = this.view.getBigUint64(this.at, true);
    this.at += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} ${v} is too large`);
    return Number(v);
  }
  string(what: string): string {
    const length = this.u64(`length of ${what}`);
    this.need(length, what);
    try {
      return kDecoder.decode(this.bytes.subarray(this.at, (this.at += length)));
    } catch {
      return this.fail(`${what} is not valid UTF-8`);
    }
  }
  scalar(type: number, what: string): GgufValue {
    const t = GGUF_VALUE_TYPE;
    const read = <T>(n: number, f: (o: number) => T): T => {
      this.need(n, what);
      const v = f(this.at);
      this.at += n;
      return v;
    };
    const big = (v: bigint): number | bigint => (v >= -BigInt(Number.MAX_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
    switch (type) {
      case t.UINT8: return read(1, (o) => this.view.getUint8(o));
      case t.INT8: return read(1, (o) => this.view.getInt8(o));
      case t.UINT16: return read(2, (o) => this.view.getUint16(o, true));
      case t.INT16: return read(2, (o) => this.view.getInt16(o, true));
      case t.UINT32: return read(4, (o) => this.view.getUint32(o, true));
      case t.INT32: return read(4, (o) => this.view.getInt32(o, true));
      case t.FLOAT32: return read(4, (o) => this.view.getFloat32(o, true));
      case t.BOOL: return read(1, (o) => this.view.getUint8(o) !== 0);
      case t.STRING: return this.string(what);
      case t.UINT64: return read(8, (o) => big(this.view.getBigUint64(o, true)));
      case t.INT64: return read(8, (o) => big(this.view.getBigInt64(o, true)));
      case t.FLOAT64: return read(8, (o) => this.view.getFloat64(o, true));
      case t.ARRAY: {
        const itemType = this.u32();
        if (itemType === t.ARRAY) this.fail(`${what}: nested arrays are not supported`);
        const count = this.u64(`${what} array length`);
        if (count > kMaxArray) this.fail(`${what}: array of ${count} elements is implausible`);
        const items: GgufValue[] = [];
        for (let i = 0; i < count; i++) items.push(this.scalar(itemType, what));
        return items;
      }
      default: return this.fail(`${what} has unknown value type ${type}`);
    }
  }
}

/**
 * Parses a GGUF file's header and tensor infos; `name` is used in messages. Throws FormatError for
 * anything that is not a well-formed GGUF v2/v3 file.
 *
 * @example
 * ```ts
 * readGguf(bytes, 'model.gguf').tensors.length;
 * ```
 */
export function readGguf(bytes: Uint8Array, name = 'GGUF file'): GgufFile {
  return { ...parseGgufHeader(bytes, name, bytes.byteLength), bytes };
}

/**
 * @internal The header and tensor infos of a GGUF file of `fileSize` bytes from its first bytes, `prefix`, checked
 * as {@link readGguf} checks them; {@link GgufHeaderNeedsMore} when the header goes on past `prefix`.
 */
export function parseGgufHeader(prefix: Uint8Array, name: string, fileSize: number): Omit<GgufFile, 'bytes'> {
  const c = new Cursor(prefix, name, fileSize);
  if (fileSize < 8 || c.u32() !== GGUF_MAGIC) c.fail('no GGUF magic');
  const version = c.u32();
  if (version !== 2 && version !== 3) c.fail(`GGUF version ${version} is not supported (2 and 3 are)`);
  const tensorCount = c.u64('tensor count');
  const kvCount = c.u64('metadata count');
  // Each tensor info takes at least 8 + 4 + 4 + 8 bytes, each key/value at least 8 + 4 + 1.
  if (tensorCount * 24 + kvCount * 13 > fileSize) c.fail(`${tensorCount} tensors and ${kvCount} metadata entries cannot fit`);
  const metadata: Record<string, GgufValue> = {};
  for (let i = 0; i < kvCount; i++) {
    const key = c.string(`metadata key ${i}`);
    if (Object.hasOwn(metadata, key)) c.fail(`metadata key ${JSON.stringify(key)} appears twice`);
    metadata[key] = c.scalar(c.u32(), `metadata ${JSON.stringify(key)}`);
  }
  const alignmentValue = metadata['general.alignment'] ?? GGUF_DEFAULT_ALIGNMENT;
  if (typeof alignmentValue !== 'number' || !Number.isInteger(alignmentValue) || alignmentValue < 1 || (alignmentValue & (alignmentValue - 1)) !== 0) {
    c.fail(`general.alignment ${String(alignmentValue)} is not a power of two`);
  }
  const alignment = alignmentValue as number;
  const infos: Omit<GgufTensorInfo, 'offset'>[] = [];
  const relative: number[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const tensorName = c.string(`tensor ${i} name`);
    if (names.has(tensorName)) c.fail(`tensor ${JSON.stringify(tensorName)} appears twice`);
    names.add(tensorName);
    const nDims = c.u32();
    if (nDims > 8) c.fail(`tensor ${JSON.stringify(tensorName)} has ${nDims} dims`);
    const ne: number[] = [];
    for (let d = 0; d < nDims; d++) ne.push(c.u64(`tensor ${JSON.stringify(tensorName)} dim ${d}`));
    const typeId = c.u32();
    const offset = c.u64(`tensor ${JSON.stringify(tensorName)} offset`);
    if (offset % alignment) c.fail(`tensor ${JSON.stringify(tensorName)} offset ${offset} is not a multiple of ${alignment}`);
    const type = ggmlTypeOfId(typeId);
    let byteLength: number | undefined;
    if (type) {
      try {
        byteLength = ggmlTensorBytes(type, ne);
      } catch (error) {
        c.fail(`tensor ${JSON.stringify(tensorName)}: ${(error as Error).message}`);
      }
    }
    infos.push({ name: tensorName, type: type ?? `type ${typeId}`, ne, shape: [...ne].reverse(), byteLength });
    relative.push(offset);
  }
  const dataOffset = c.at + ((alignment - (c.at % alignment)) % alignment);
  const tensors = infos.map((info, i) => {
    const offset = dataOffset + relative[i]!;
    if (offset + (info.byteLength ?? 0) > fileSize) {
      c.fail(`tensor ${JSON.stringify(info.name)} (${info.byteLength} bytes at ${offset}) runs past the end of the file (${fileSize} bytes)`);
    }
    return { ...info, offset };
  });
  return { version, alignment, metadata, tensors, dataOffset };
}

/**
 * `count` elements of a ggml `type` stored in `data`, as float32 (F32, F16, BF16, Q8_0, Q4_0). Throws
 * FormatError for other types. Q8_0 and Q4_0 values may be written into `scratch` (when it is `count` long) and
 * returned in it, so that a caller reading tensor after tensor reuses one array.
 *
 * @example
 * ```ts
 * ggmlToFloat32('Q8_0', blocks, 64); // two Q8_0 blocks
 * ```
 */
export function ggmlToFloat32(type: GgufTensorInfo['type'], data: Uint8Array, count: number, what = 'tensor', scratch?: Float32Array): Float32Array {
  switch (type) {
    case 'Q8_0': return cpuBlockValues('Q8_0', data, count, 0, scratch) ?? dequantizeRowQ8_0(data, count);
    case 'Q4_0': return cpuBlockValues('Q4_0', data, count, 0, scratch) ?? dequantizeRowQ4_0(data, count);
    case 'F32': case 'F16': case 'BF16': {
      const size = type === 'F32' ? 4 : 2;
      if (data.byteLength < size * count) {
        throw new FormatError(`${what}: ${data.byteLength} bytes hold fewer than its ${count} ${type} elements (${size * count} bytes); the file is cut short or its tensor table is wrong`);
      }
      return toFloat32(data.subarray(0, size * count), type === 'F32' ? 'float32' : type === 'F16' ? 'float16' : 'bfloat16', what);
    }
    default: throw new FormatError(`${what}: ${type} tensors cannot be read as float32`);
  }
}

/**
 * One tensor as float32, row-major in `info.shape`. Throws FormatError for types it cannot decode
 * (integer and other quantized types). `scratch` as for {@link ggmlToFloat32}.
 *
 * @example
 * ```ts
 * const w = ggufTensorFloat32(file, file.tensors.find((t) => t.name === 'fc1.weight')!);
 * ```
 */
export function ggufTensorFloat32(file: GgufFile, info: GgufTensorInfo, scratch?: Float32Array): Float32Array {
  const count = info.ne.reduce((a, b) => a * b, 1);
  return ggmlToFloat32(info.type, file.bytes.subarray(info.offset, info.offset + (info.byteLength ?? 0)), count, info.name, scratch);
}
