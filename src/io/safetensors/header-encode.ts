/**
 * Builds a safetensors header from a list of tensors known up front (names, dtypes, shapes; byte lengths
 * follow), as the reference implementation writes it: the 8-byte little-endian length, then the JSON with
 * `__metadata__` first and the tensors in the given order at consecutive offsets, padded with spaces to a
 * multiple of 8 bytes so every tensor's data starts 8-byte aligned relative to the file.
 *
 * @example
 * ```ts
 * const { bytes, entries } = encodeSafetensorsHeader([{ name: 'w', dtype: 'F32', shape: [2, 3] }], { format: 'pt' });
 * entries[0].dataOffsets; // [0, 24]
 * ```
 * @module
 */
import { InvalidArgumentError, LimitExceededError } from '../../errors.js';
import type { WeightDType } from '../weights.js';
import { type SafetensorsDType, dtypeByteLength, safetensorsDTypeInfo, toSafetensorsDType } from './dtypes.js';
import { FORBIDDEN_KEYS, MAX_HEADER_BYTES, quoteName } from './header-parse.js';

/** A tensor to be written: its dtype by either name (`'F32'` or `'float32'`), its shape, and optionally its byte length (checked). */
export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDType | WeightDType;
  shape: readonly number[];
  byteLength?: number;
}

/** An entry as placed in the file. */
export interface PlacedEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  byteLength: number;
  /** `[begin, end)` relative to the data region. */
  dataOffsets: [number, number];
}

/** The header bytes (length prefix included) and where each tensor goes. */
export interface EncodedHeader {
  /** The 8-byte length followed by the padded JSON. */
  bytes: Uint8Array;
  /** File offset of the data region: `bytes.byteLength`. */
  dataOffset: number;
  entries: PlacedEntry[];
  /** Total file size: header plus every tensor. */
  fileByteLength: number;
}

/** Metadata as a map or a plain object of strings. */
export type SafetensorsMetadata = ReadonlyMap<string, string> | Readonly<Record<string, string>>;

function checkName(name: unknown, argument: string): string {
  if (typeof name !== 'string') throw new InvalidArgumentError(argument, name, `${argument} must be a string`);
  if (FORBIDDEN_KEYS.has(name) || name === '__metadata__') {
    throw new InvalidArgumentError(argument, name, `${argument} ${quoteName(name)} is reserved (readers reject prototype keys and "__metadata__"); rename it`);
  }
  return name;
}

function metadataEntries(metadata: SafetensorsMetadata): [string, string][] {
  const pairs = metadata instanceof Map ? [...metadata.entries()] : Object.entries(metadata as Record<string, string>);
  for (const [key, value] of pairs) {
    checkName(key, `metadata key ${quoteName(String(key))}`);
    if (typeof value !== 'string') {
      throw new InvalidArgumentError(`metadata[${quoteName(key)}]`, value, `metadata values must be strings; JSON.stringify(${String(value)}) it`);
    }
  }
  return pairs;
}

/** `dtype` as a safetensors name: the common case (already one) without building the argument string. */
function entryDType(dtype: SafetensorsEntry['dtype'], index: number): SafetensorsDType {
  return safetensorsDTypeInfo(dtype) !== undefined ? dtype as SafetensorsDType : toSafetensorsDType(dtype, `entries[${index}].dtype`);
}

/**
 * A growing buffer of JSON bytes that starts with 8 bytes for the header length. Names that need no
 * escaping and are ASCII (nearly all) are copied character by character; others go through
 * `JSON.stringify` and UTF-8 encoding, exactly as a whole-string encoding would write them.
 */
class JsonBytes {
  bytes = new Uint8Array(1 << 16);
  length = 8;
  private readonly encoder = new TextEncoder();

  private reserve(extra: number): void {
    if (this.length + extra <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + extra));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  byte(value: number): void {
    this.reserve(1);
    this.bytes[this.length++] = value;
  }

  /** Characters known to be printable ASCII without `"` or `\\` (field names, dtype names). */
  ascii(text: string): void {
    this.reserve(text.length);
    for (let i = 0; i < text.length; i++) this.bytes[this.length++] = text.charCodeAt(i);
  }

  /** Any text, UTF-8 encoded. */
  text(text: string): void {
    this.reserve(text.length * 3); // UTF-8 takes at most 3 bytes per UTF-16 unit
    this.length += this.encoder.encodeInto(text, this.bytes.subarray(this.length)).written;
  }

  /** A name as `JSON.stringify` writes it. */
  name(name: string): void {
    for (let i = 0; i < name.length; i++) {
      const c = name.charCodeAt(i);
      if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) {
        this.text(JSON.stringify(name));
        return;
      }
    }
    this.byte(0x22);
    this.ascii(name);
    this.byte(0x22);
  }

  /** A non-negative safe integer in decimal. */
  integer(value: number): void {
    this.reserve(16);
    let digits = 1;
    for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
    let at = this.length + digits;
    this.length = at;
    let rest = value;
    do {
      this.bytes[--at] = 0x30 + (rest % 10);
      rest = Math.floor(rest / 10);
    } while (rest > 0);
  }
}

function tooLong(bytes: number, atLeast: boolean): never {
  throw new LimitExceededError(`the safetensors header would be ${atLeast ? 'over ' : ''}${bytes} bytes, more than the ${
    MAX_HEADER_BYTES}-byte limit readers accept; shorten the metadata or split the tensors across shards`);
}

/** An entry's argument name, built only for a message (no closure or string per entry). */
function argumentOf(index: number): string {
  return `entries[${index}]`;
}

function placeEntry(entry: SafetensorsEntry, index: number, begin: number): PlacedEntry {
  if (entry === null || typeof entry !== 'object') throw new InvalidArgumentError(argumentOf(index), entry, `${argumentOf(index)} must be { name, dtype, shape, byteLength? }`);
  const name = typeof entry.name === 'string' && !FORBIDDEN_KEYS.has(entry.name) && entry.name !== '__metadata__'
    ? entry.name : checkName(entry.name, `${argumentOf(index)}.name`);
  const dtype = entryDType(entry.dtype, index);
  if (!Array.isArray(entry.shape)) throw new InvalidArgumentError(`${argumentOf(index)}.shape`, entry.shape, `${argumentOf(index)}.shape must be an array of non-negative integers`);
  let elements = 1;
  for (let d = 0; d < entry.shape.length; d++) {
    const dim = entry.shape[d]!;
    if (!Number.isSafeInteger(dim) || dim < 0) {
      throw new InvalidArgumentError(`${argumentOf(index)}.shape[${d}]`, dim, `${argumentOf(index)}.shape[${d}] is ${String(dim)}; dimensions must be non-negative integers`);
    }
    elements *= dim;
  }
  const byteLength = elements <= Number.MAX_SAFE_INTEGER / 64 ? dtypeByteLength(safetensorsDTypeInfo(dtype)!, elements) : undefined;
  if (byteLength === undefined) {
    throw new InvalidArgumentError(`${argumentOf(index)}.shape`, entry.shape, `${argumentOf(index)} (${quoteName(name)}): [${entry.shape.join(', ')}] of ${dtype} is not a whole number of bytes or is too large`);
  }
  if (entry.byteLength !== undefined && entry.byteLength !== byteLength) {
    throw new InvalidArgumentError(`${argumentOf(index)}.byteLength`, entry.byteLength,
      `${argumentOf(index)} (${quoteName(name)}): byteLength ${String(entry.byteLength)} disagrees with shape [${entry.shape.join(', ')}] of ${dtype}, which is ${byteLength} bytes`);
  }
  // A frozen shape (a reader's own) cannot change under us: shared rather than copied.
  const shape = Object.isFrozen(entry.shape) ? entry.shape as number[] : [...entry.shape];
  return { name, dtype, shape, byteLength, dataOffsets: [begin, begin + byteLength] };
}

/**
 * Validates `entries` (unique names, known dtypes, shapes that match the byte lengths) and encodes the
 * header. `metadata` undefined writes no `__metadata__`, as the reference implementation does.
 *
 * @example
 * ```ts
 * encodeSafetensorsHeader([], { framework: 'pt' }).bytes.byteLength; // 48: 8 + 35 bytes of JSON + 5 spaces
 * ```
 */
export function encodeSafetensorsHeader(entries: readonly SafetensorsEntry[], metadata?: SafetensorsMetadata): EncodedHeader {
  if (!Array.isArray(entries)) throw new InvalidArgumentError('entries', entries, 'entries must be an array of { name, dtype, shape, byteLength? }');
  const placed: PlacedEntry[] = [];
  const seen = new Set<string>();
  let offset = 0;
  entries.forEach((entry, i) => {
    const p = placeEntry(entry, i, offset);
    if (seen.has(p.name)) throw new InvalidArgumentError(`entries[${i}].name`, p.name, `entries[${i}].name ${quoteName(p.name)} appears twice; tensor names must be unique`);
    seen.add(p.name);
    placed.push(p);
    offset += p.byteLength;
  });
  // Written byte by byte into one growing buffer, 8 bytes left for the length: a header of 200k tensors
  // builds no string per entry and no 15 MB string.
  const out = new JsonBytes();
  out.byte(0x7b); // {
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== 'object') throw new InvalidArgumentError('metadata', metadata, 'metadata must be an object or Map of strings');
    const pairs = metadataEntries(metadata);
    out.text(`"__metadata__":{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`);
  }
  for (const p of placed) {
    if (out.length > 9) out.byte(0x2c); // , after `{` or an entry
    out.name(p.name);
    out.ascii(':{"dtype":"');
    out.ascii(p.dtype);
    out.ascii('","shape":[');
    for (let d = 0; d < p.shape.length; d++) {
      if (d > 0) out.byte(0x2c);
      out.integer(p.shape[d]!);
    }
    out.ascii('],"data_offsets":[');
    out.integer(p.dataOffsets[0]);
    out.byte(0x2c);
    out.integer(p.dataOffsets[1]);
    out.ascii(']}');
    if (out.length > 8 + MAX_HEADER_BYTES) tooLong(out.length - 8, true); // checked as it grows: never a buffer far past the limit
  }
  out.byte(0x7d); // }
  const jsonLength = out.length - 8;
  const padded = Math.ceil(jsonLength / 8) * 8;
  if (padded > MAX_HEADER_BYTES) tooLong(padded, false);
  const bytes = new Uint8Array(8 + padded);
  bytes.set(out.bytes.subarray(0, out.length));
  bytes.fill(0x20, out.length);
  new DataView(bytes.buffer).setUint32(0, padded, true); // high word stays 0: padded < 2^32
  return { bytes, dataOffset: bytes.byteLength, entries: placed, fileByteLength: bytes.byteLength + offset };
}
