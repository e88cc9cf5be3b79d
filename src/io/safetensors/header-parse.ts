/**
 * Parses and validates a safetensors header exactly as the format's reference implementation does: the
 * 8-byte little-endian length N (at most 100 MB; webgpu-quant reads up to {@link DEFAULT_MAX_HEADER_BYTES} and
 * {@link DEFAULT_MAX_TENSORS} tensors unless told otherwise), N bytes of UTF-8 JSON starting with `{`, one entry per
 * tensor `{ dtype, shape, data_offsets: [begin, end] }` (offsets relative to the first byte after the
 * header) and an optional `__metadata__` map of strings. Tensors must tile the data region exactly: sorted
 * by offset, each begins where the previous ended, the last ends at the end of the file, and each one's
 * byte length is its element count times its dtype size.
 *
 * Untrusted input: the JSON is parsed with `JSON.parse` and copied into `Map`s (the canonical form every
 * writer produces is read directly, without `JSON.parse`'s object per tensor, by header-scan.ts, which
 * accepts only what `JSON.parse` reads the same way); names that are JavaScript
 * prototype keys (`__proto__`, `constructor`, `prototype`) are rejected wherever they appear as a tensor
 * name, an entry field or a metadata key, so no consumer that copies names into a plain object can be
 * subverted. Every problem is a {@link FormatError} naming the file, the tensor and the byte offset.
 *
 * @example
 * ```ts
 * const n = parseHeaderLength(first8Bytes, file.size, 'model.safetensors');
 * const header = parseSafetensorsHeader(headerBytes, file.size, 'model.safetensors');
 * header.tensors[0]; // { name, dtype: 'float32', safetensorsDType: 'F32', shape, byteLength, dataOffsets, fileOffset }
 * ```
 * @module
 */
import { FormatError, LimitExceededError } from '../../errors.js';
import type { WeightInfo } from '../weights.js';
import { type SafetensorsDType, SAFETENSORS_DTYPES, dtypeByteLength, safetensorsDTypeInfo } from './dtypes.js';
import { scanCanonicalHeader } from './header-scan.js';

/** The reference implementation's bound on the header length (100 MB): a longer one is a damaged file. */
export const MAX_HEADER_BYTES = 100_000_000;

/**
 * The header length webgpu-quant reads by default (32 MiB, about 400,000 tensors): reading a header costs
 * time and memory in proportion to its length, so a larger one is refused with a {@link LimitExceededError}
 * unless the caller raises `maxHeaderBytes` (up to {@link MAX_HEADER_BYTES}).
 */
export const DEFAULT_MAX_HEADER_BYTES = 32 * 1024 * 1024;

/**
 * The tensor count webgpu-quant reads by default (500,000): every tensor costs a little memory and time
 * however small it is. A file with more is refused with a {@link LimitExceededError} unless the caller
 * raises `maxTensors`.
 */
export const DEFAULT_MAX_TENSORS = 500_000;

/** Names that would alter or shadow an object's prototype if copied into a plain object. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** One tensor of a safetensors file. */
export interface SafetensorsTensorInfo extends WeightInfo {
  /** The dtype as the file names it (`'F32'`, `'BF16'`, ...). */
  safetensorsDType: SafetensorsDType;
  /** `[begin, end)` relative to the first byte after the header, as in the file. */
  dataOffsets: readonly [number, number];
  /** Absolute byte offset of the tensor's first byte in the file: `8 + N + begin`. */
  fileOffset: number;
}

/** A validated header. */
export interface SafetensorsHeader {
  /** N: the JSON header's length in bytes, padding included. */
  headerByteLength: number;
  /** Where the data region starts: `8 + N`. */
  dataOffset: number;
  /** The tensors in file order (sorted by data offset), each frozen (its shape and offsets too). */
  tensors: SafetensorsTensorInfo[];
  /** `__metadata__`, empty when absent. */
  metadata: Map<string, string>;
  /** The same descriptions by name. */
  byName: ReadonlyMap<string, SafetensorsTensorInfo>;
}

/**
 * A name for a message: JSON-quoted and shortened, so a hostile name cannot flood a log.
 *
 * @example
 * ```ts
 * quoteName('fc.weight');      // '"fc.weight"'
 * quoteName('x'.repeat(1e4));  // '"xxx…x…" (10000 characters)'
 * ```
 */
export function quoteName(name: string): string {
  const quoted = JSON.stringify(name);
  return quoted.length > 120 ? `${quoted.slice(0, 100)}…" (${name.length} characters)` : quoted;
}

/**
 * An untrusted JSON value for a message, without recursing into it (a million nested arrays would
 * overflow the stack of `JSON.stringify` or `String`).
 *
 * @example
 * ```ts
 * describeValue(-1);        // '-1'
 * describeValue([[1]]);     // 'an array of 1'
 * describeValue('F17');     // '"F17"'
 * ```
 */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return quoteName(value);
  if (value === undefined) return 'nothing';
  return String(value);
}

/**
 * A checked shape for a message, shortened past 8 dimensions.
 *
 * @example
 * ```ts
 * describeShape([2, 3]); // '[2, 3]'
 * ```
 */
export function describeShape(shape: readonly number[]): string {
  return shape.length <= 8 ? `[${shape.join(', ')}]` : `[${shape.slice(0, 8).join(', ')}, … (${shape.length} dimensions)]`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Throws {@link FormatError} for a file too short to hold the 8-byte header length.
 *
 * @example
 * ```ts
 * checkMinimumSize(3, 'x.safetensors'); // throws: the file has 3 bytes, fewer than the 8-byte header length ...
 * ```
 */
export function checkMinimumSize(fileSize: number, file: string): void {
  if (fileSize < 8) {
    throw new FormatError(`${file}: the file has ${fileSize} bytes, fewer than the 8-byte header length that starts `
      + 'every safetensors file; it is truncated or not a safetensors file');
  }
}

/**
 * Reads N from the first 8 bytes and checks it against the file size and {@link MAX_HEADER_BYTES}.
 *
 * @example
 * ```ts
 * parseHeaderLength(Uint8Array.of(8, 0, 0, 0, 0, 0, 0, 0), 16, 'x.safetensors'); // 8
 * ```
 */
export function parseHeaderLength(first8: Uint8Array, fileSize: number, file: string, maxHeaderBytes = DEFAULT_MAX_HEADER_BYTES): number {
  checkMinimumSize(fileSize, file);
  const view = new DataView(first8.buffer, first8.byteOffset, 8);
  const low = view.getUint32(0, true);
  const high = view.getUint32(4, true);
  const length = high * 2 ** 32 + low; // exact below 2^53; above, only compared
  if (high >= 2 ** 21 || length > maxHeaderBytes) {
    const shown = high >= 2 ** 21 ? `about ${length.toExponential(3)}` : String(length);
    if (length > Math.max(maxHeaderBytes, MAX_HEADER_BYTES)) {
      throw new FormatError(`${file}: header length (bytes 0..8) is ${shown}, more than the ${MAX_HEADER_BYTES}-byte limit `
        + 'of the format; the file is damaged or not a safetensors file');
    }
    throw new LimitExceededError(`${file}: header length (bytes 0..8) is ${shown}, more than the ${maxHeaderBytes}-byte limit `
      + `(maxHeaderBytes); if the file is trusted, raise maxHeaderBytes (up to ${MAX_HEADER_BYTES}) in the options of openSafetensors`);
  }
  if (length > fileSize - 8) {
    throw new FormatError(`${file}: header length (bytes 0..8) is ${length}, but only ${fileSize - 8} bytes follow it; `
      + 'the file is truncated or not a safetensors file');
  }
  return length;
}

function decodeText(bytes: Uint8Array, file: string): string {
  const end = 8 + bytes.byteLength;
  if (bytes.byteLength === 0 || bytes[0] !== 0x7b) {
    throw new FormatError(`${file}: the header (bytes 8..${end}) must start with "{", `
      + `found ${bytes.byteLength === 0 ? 'nothing' : `byte 0x${bytes[0]!.toString(16).padStart(2, '0')}`}; not a safetensors file`);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new FormatError(`${file}: the header (bytes 8..${end}) is not valid UTF-8; the file is damaged`);
  }
}

function parseJson(text: string, byteLength: number, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new FormatError(`${file}: the header (bytes 8..${8 + byteLength}) is not valid JSON (${(error as Error).message}); `
      + 'the file is damaged', { cause: error });
  }
}

function parseMetadata(value: unknown, file: string): Map<string, string> {
  const metadata = new Map<string, string>();
  if (value === null) return metadata; // the reference implementation reads null as "no metadata"
  if (!isPlainObject(value)) {
    throw new FormatError(`${file}: "__metadata__" must be an object of strings, found ${Array.isArray(value) ? 'an array' : typeof value}`);
  }
  for (const [key, entry] of Object.entries(value)) {
    if (FORBIDDEN_KEYS.has(key)) {
      throw new FormatError(`${file}: "__metadata__" has the key ${quoteName(key)}, which is rejected as a prototype key; rename it`);
    }
    if (typeof entry !== 'string') {
      throw new FormatError(`${file}: "__metadata__"[${quoteName(key)}] must be a string, found ${entry === null ? 'null' : typeof entry}`);
    }
    metadata.set(key, entry);
  }
  return metadata;
}

/** Where a problem is, for a message (built only then: a header of 200k entries quotes no name). */
function where(file: string, name: string): string {
  return `${file}: tensor ${quoteName(name)}`;
}

/** The element count of a checked shape (a number: no object per tensor). */
function elementCount(shape: unknown, file: string, name: string): number {
  if (!Array.isArray(shape)) throw new FormatError(`${where(file, name)}: "shape" must be an array of non-negative integers, found ${typeof shape}`);
  for (let i = 0; i < shape.length; i++) {
    const dim: unknown = shape[i];
    if (typeof dim !== 'number' || !Number.isSafeInteger(dim) || dim < 0) {
      throw new FormatError(`${where(file, name)}: shape[${i}] is ${describeValue(dim)}; dimensions must be non-negative integers`);
    }
  }
  const checked = shape as number[];
  let elements = 1;
  for (const dim of checked) {
    elements *= dim; // in order, as the reference implementation's checked multiplication
    if (elements > Number.MAX_SAFE_INTEGER) {
      throw new FormatError(`${where(file, name)}: shape ${describeShape(checked)} overflows: its element count exceeds 2^53 - 1`);
    }
  }
  return elements;
}

function isOffset(value: unknown): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Tensor names that are prototype keys are refused, whatever their entry holds. */
function checkTensorName(name: string, file: string): void {
  if (FORBIDDEN_KEYS.has(name)) {
    throw new FormatError(`${file}: tensor ${quoteName(name)}: the name is a JavaScript prototype key and is rejected; rename the tensor`);
  }
}

function parseEntry(name: string, entry: unknown, dataOffset: number, dataLength: number, file: string): SafetensorsTensorInfo {
  checkTensorName(name, file);
  if (!isPlainObject(entry)) {
    throw new FormatError(`${file}: tensor ${quoteName(name)}: the header entry must be an object { dtype, shape, data_offsets }, found ${
      entry === null ? 'null' : Array.isArray(entry) ? 'an array' : typeof entry}`);
  }
  // for...in over JSON.parse's own object: no array of keys per entry.
  for (const key in entry) {
    if (FORBIDDEN_KEYS.has(key)) throw new FormatError(`${file}: tensor ${quoteName(name)}: the entry has the field ${quoteName(key)}, which is rejected as a prototype key`);
  }
  return tensorInfo(name, entry.dtype, entry.shape, entry.data_offsets, dataOffset, dataLength, file);
}

/**
 * One tensor's description from its entry's fields (the name already checked), validated as the reference
 * implementation validates them.
 */
function tensorInfo(
  name: string, dtypeName: unknown, shapeValue: unknown, offsets: unknown, dataOffset: number, dataLength: number, file: string,
): SafetensorsTensorInfo {
  const dtype = safetensorsDTypeInfo(dtypeName as string);
  if (!dtype) {
    throw new FormatError(`${where(file, name)}: dtype ${dtypeName === undefined ? 'is missing' : `${describeValue(dtypeName)} is unknown`}; `
      + `safetensors defines ${SAFETENSORS_DTYPES.join(', ')}`);
  }
  const elements = elementCount(shapeValue, file, name);
  const shape = shapeValue as number[];
  if (!Array.isArray(offsets) || offsets.length !== 2 || !isOffset(offsets[0]) || !isOffset(offsets[1])) {
    throw new FormatError(`${where(file, name)}: "data_offsets" must be [begin, end], two non-negative integers below 2^53, found ${
      Array.isArray(offsets) ? `[${offsets.slice(0, 3).map(describeValue).join(', ')}${offsets.length > 3 ? ', …' : ''}]` : describeValue(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) throw new FormatError(`${where(file, name)}: data_offsets [${begin}, ${end}] end before they begin`);
  if (end > dataLength) {
    throw new FormatError(`${where(file, name)}: data_offsets [${begin}, ${end}] run past the data region, which has ${dataLength} bytes `
      + `(file bytes ${dataOffset}..${dataOffset + dataLength}); the file is truncated or its header is damaged`);
  }
  if (elements * dtype.bits > Number.MAX_SAFE_INTEGER) {
    throw new FormatError(`${where(file, name)}: shape ${describeShape(shape)} of ${dtype.name} overflows: its byte length exceeds 2^53 - 1`);
  }
  const byteLength = dtypeByteLength(dtype, elements);
  if (byteLength !== end - begin) {
    throw new FormatError(`${where(file, name)}: shape ${describeShape(shape)} of ${dtype.name} needs ${
      byteLength === undefined ? `${elements} × ${dtype.bits} bits (not a whole number of bytes)` : `${byteLength} bytes`}, `
      + `but data_offsets [${begin}, ${end}] hold ${end - begin} (file offset ${dataOffset + begin})`);
  }
  // `shape` and `offsets` are fresh arrays from the parse, held by nothing else: kept rather than copied, and
  // frozen with the entry, so a reader hands out the same objects to every caller without a copy each.
  return Object.freeze({
    name, dtype: dtype.weightDType, safetensorsDType: dtype.name, shape: Object.freeze(shape) as number[], byteLength,
    dataOffsets: Object.freeze(offsets) as [number, number], fileOffset: dataOffset + begin,
  });
}

/** Checks that the tensors, sorted by offset, tile `[0, dataLength)` with no gap and no overlap. */
function checkTiling(tensors: SafetensorsTensorInfo[], dataOffset: number, dataLength: number, file: string): void {
  let covered = 0;
  let previous: string | undefined;
  for (const tensor of tensors) {
    const [begin, end] = tensor.dataOffsets;
    if (begin !== covered) {
      const what = begin > covered ? `leaves a gap of ${begin - covered} bytes after` : `overlaps by ${covered - begin} bytes with`;
      throw new FormatError(`${file}: tensor ${quoteName(tensor.name)} at data_offsets [${begin}, ${end}] (file offset ${
        dataOffset + begin}) ${what} ${previous === undefined ? 'the start of the data region' : `tensor ${quoteName(previous)}`}, `
        + `which ends at ${covered}; tensors must tile the data region exactly`);
    }
    covered = end;
    previous = tensor.name;
  }
  if (covered !== dataLength) {
    throw new FormatError(`${file}: the tensors cover ${covered} bytes of the ${dataLength}-byte data region; `
      + `file bytes ${dataOffset + covered}..${dataOffset + dataLength} belong to no tensor (trailing data or a damaged header)`);
  }
}

/** The entries of a header, in header order. */
interface HeaderEntries {
  tensors: SafetensorsTensorInfo[];
  metadata: Map<string, string>;
  byName?: Map<string, SafetensorsTensorInfo>;
}

/** Thrown inside the fast reader to hand the header to `JSON.parse`. */
const kNotCanonical = Symbol('not canonical');

/**
 * The entries of a canonical header read without `JSON.parse` (header-scan.ts), or undefined for any other
 * header and for any problem: the full parse then runs and reports the first problem as it always did.
 */
function scanEntries(headerBytes: Uint8Array, dataOffset: number, dataLength: number, file: string, maxTensors: number): HeaderEntries | undefined {
  const tensors: SafetensorsTensorInfo[] = [];
  const byName = new Map<string, SafetensorsTensorInfo>();
  let metadata = new Map<string, string>();
  try {
    const canonical = scanCanonicalHeader(headerBytes, {
      tensor(name, dtype, shape, offsets) {
        checkTensorName(name, file);
        const info = tensorInfo(name, dtype, shape, offsets, dataOffset, dataLength, file);
        if (tensors.length === maxTensors || byName.has(name)) throw kNotCanonical; // JSON.parse keeps the last of a duplicate name
        byName.set(name, info);
        tensors.push(info);
      },
      metadata(value) { metadata = parseMetadata(value, file); },
    });
    return canonical ? { tensors, metadata, byName } : undefined;
  } catch (error) {
    if (error === kNotCanonical || error instanceof FormatError) return undefined;
    throw error;
  }
}

/** The entries of any header, through `JSON.parse`. */
function parseEntries(headerBytes: Uint8Array, dataOffset: number, dataLength: number, file: string, maxTensors: number): HeaderEntries {
  const json = parseJson(decodeText(headerBytes, file), headerBytes.byteLength, file);
  if (!isPlainObject(json)) throw new FormatError(`${file}: the header must be a JSON object, found ${Array.isArray(json) ? 'an array' : typeof json}`);
  let metadata = new Map<string, string>();
  const tensors: SafetensorsTensorInfo[] = [];
  // for...in over JSON.parse's own object (no inherited keys): no [key, value] pair per tensor.
  for (const name in json) {
    const entry = json[name];
    if (name === '__metadata__') metadata = parseMetadata(entry, file);
    else tensors.push(parseEntry(name, entry, dataOffset, dataLength, file));
    if (tensors.length > maxTensors) {
      throw new LimitExceededError(`${file}: the header lists more than ${maxTensors} tensors (the maxTensors limit); `
        + 'if the file is trusted, raise maxTensors in the options of openSafetensors');
    }
  }
  return { tensors, metadata };
}

/**
 * Validates a header's JSON bytes (`headerBytes`, N of them, read from file offset 8) for a file of
 * `fileSize` bytes and returns its tensors in file order and its metadata. More than `maxTensors` tensors
 * throw {@link LimitExceededError}.
 *
 * @example
 * ```ts
 * const header = parseSafetensorsHeader(new TextEncoder().encode('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}'), 63, 'a.st');
 * header.tensors[0].fileOffset; // 61: 8 + the 53 header bytes
 * ```
 */
export function parseSafetensorsHeader(headerBytes: Uint8Array, fileSize: number, file: string, maxTensors = DEFAULT_MAX_TENSORS): SafetensorsHeader {
  const headerByteLength = headerBytes.byteLength;
  const dataOffset = 8 + headerByteLength;
  const dataLength = fileSize - dataOffset;
  if (dataLength < 0) {
    throw new FormatError(`${file}: header length ${headerByteLength} runs past the end of the ${fileSize}-byte file; it is truncated`);
  }
  const { tensors, metadata, byName } = scanEntries(headerBytes, dataOffset, dataLength, file, maxTensors)
    ?? parseEntries(headerBytes, dataOffset, dataLength, file, maxTensors);
  // Array.prototype.sort is stable: zero-length tensors at one offset keep their header order.
  tensors.sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  checkTiling(tensors, dataOffset, dataLength, file);
  return { headerByteLength, dataOffset, tensors, metadata, byName: byName ?? new Map(tensors.map((t) => [t.name, t])) };
}
