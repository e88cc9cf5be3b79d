/**
 * A fast reader for the canonical safetensors header, the one every writer produces (the reference
 * implementation's serde_json, the Python package, webgpu-quant's own writer):
 * `{"__metadata__":{...},"name":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},...}` with no
 * whitespace inside and spaces after. It reads the tensors straight from the bytes, without decoding the
 * whole header to one string and without `JSON.parse` building an object per tensor and a 200,000-key
 * dictionary first: a header of 200k tensors costs a fraction of the time and none of the intermediate
 * memory, and each name is a string of its own (no slice that keeps the whole header text alive).
 *
 * It accepts only a strict subset of JSON: tensor entries with exactly the fields `dtype`, `shape` and
 * `data_offsets` in that order, integers of at most 15 digits, names without escapes or control
 * characters that are not array indices (`JSON.parse` would list those first), the `__metadata__` key at
 * most once (its value, an object or `null`, is handed to `JSON.parse`), valid UTF-8. Anything else, and the caller
 * parses the whole header with `JSON.parse` instead: what this accepts, `JSON.parse` reads the same way,
 * so the result never depends on which reader ran. It checks syntax only; the caller validates the values.
 *
 * @example
 * ```ts
 * const utf8 = (text: string) => new TextEncoder().encode(text);
 * const names: string[] = [];
 * scanCanonicalHeader(utf8('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}  '), {
 *   tensor: (name) => { names.push(name); }, metadata: () => {},
 * }); // true; names is ['a']
 * scanCanonicalHeader(utf8('{ "a": {} }'), { tensor: () => {}, metadata: () => {} }); // false: use JSON.parse
 * ```
 * @module
 */

/** What {@link scanCanonicalHeader} finds, in header order. */
export interface HeaderScanVisitor {
  /**
   * One tensor entry: `dataOffsets` a fresh array, `shape` one shared by the entries of the same small shape
   * (ranks 1 and 2; a file of 200k tensors of shape [1] holds one), to be frozen, never changed.
   */
  tensor(name: string, dtype: string, shape: number[], dataOffsets: [number, number]): void;
  /** The `__metadata__` value, as `JSON.parse` gives it. */
  metadata(value: unknown): void;
}

const kQuote = 0x22;
const kComma = 0x2c;
const kColon = 0x3a;
const kBackslash = 0x5c;
const kOpenBrace = 0x7b;
const kCloseBrace = 0x7d;
const kOpenBracket = 0x5b;
const kCloseBracket = 0x5d;
const kZero = 0x30;
const kNine = 0x39;

const ascii = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));
const kDTypeField = ascii('{"dtype":"');
const kShapeField = ascii('","shape":[');
const kOffsetsField = ascii(',"data_offsets":[');
const kNull = ascii('null');
const kMetadata = '__metadata__';
/** At most this many distinct small shapes are shared. */
const kSharedShapes = 4096;
/** Shapes of more dimensions go to `JSON.parse` (real tensors have a handful). */
const kMaxRank = 64;

/** Whether `bytes` holds `literal` at `at`. */
function holds(bytes: Uint8Array, at: number, literal: Uint8Array): boolean {
  if (at + literal.length > bytes.length) return false;
  for (let i = 0; i < literal.length; i++) if (bytes[at + i] !== literal[i]) return false;
  return true;
}

/**
 * Reads the header's JSON bytes (padding included) if they are in the canonical form, calling `visitor` for
 * each entry; returns false as soon as they are not (nor valid UTF-8), and the caller falls back to
 * `JSON.parse`. Structure outside names and metadata is ASCII by construction, so decoding each name and the
 * metadata with a fatal UTF-8 decoder checks the whole header's UTF-8.
 *
 * @example
 * ```ts
 * scanCanonicalHeader(new TextEncoder().encode('{"__metadata__":null}'), { tensor: () => {}, metadata: (m) => console.log(m) }); // logs null; true
 * ```
 */
export function scanCanonicalHeader(bytes: Uint8Array, visitor: HeaderScanVisitor): boolean {
  const length = bytes.length;
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let at = 0;
  // A non-negative integer of 1..15 digits without a leading zero (below 2^53), or -1; advances `at`.
  const integer = (): number => {
    const start = at;
    let value = 0;
    for (let c = bytes[at]!; c >= kZero && c <= kNine; c = bytes[++at]!) value = value * 10 + (c - kZero);
    const digits = at - start;
    return digits === 0 || digits > 15 || (digits > 1 && bytes[start] === kZero) ? -1 : value;
  };
  const dims: number[] = []; // the shape being read; copied out at its exact length
  const shapes = new Map<number, number[]>(); // small shapes handed out, by rank and dimensions
  // The dtype names repeat: the previous one's bytes are compared before a new string is made.
  let dtype = '';
  let dtypeStart = -1;
  if (bytes[at++] !== kOpenBrace) return false;
  let sawMetadata = false;
  try {
    if (bytes[at] === kCloseBrace) at++;
    else {
      for (;;) {
        if (bytes[at++] !== kQuote) return false;
        const nameStart = at;
        let allDigits = true;
        for (;;) {
          const c = bytes[at];
          if (c === kQuote) break;
          if (c === undefined || c === kBackslash || c < 0x20) return false; // the end, escapes, control characters
          if (c < kZero || c > kNine) allDigits = false;
          at++;
        }
        if (allDigits) return false; // an array index (or the empty name): JSON.parse's key order differs
        const name = decoder.decode(bytes.subarray(nameStart, at)); // throws on invalid UTF-8
        at++;
        if (bytes[at++] !== kColon) return false;
        if (name === kMetadata) {
          if (sawMetadata) return false; // JSON.parse keeps the last
          sawMetadata = true;
          const end = valueEnd(bytes, at);
          if (end < 0) return false;
          visitor.metadata(JSON.parse(decoder.decode(bytes.subarray(at, end)))); // throws on bad UTF-8 or JSON
          at = end;
        } else {
          if (!holds(bytes, at, kDTypeField)) return false;
          at += kDTypeField.length;
          const start = at;
          for (let c = bytes[at]!; (c >= 0x41 && c <= 0x5a) || (c >= kZero && c <= kNine) || c === 0x5f; c = bytes[++at]!);
          const dtypeLength = at - start;
          if (dtypeLength === 0 || dtypeLength > 16) return false;
          let same = dtypeLength === dtype.length;
          for (let i = 0; same && i < dtypeLength; i++) same = bytes[start + i] === bytes[dtypeStart + i];
          if (!same) dtype = String.fromCharCode(...bytes.subarray(start, at));
          dtypeStart = start;
          if (!holds(bytes, at, kShapeField)) return false;
          at += kShapeField.length;
          let rank = 0;
          if (bytes[at] === kCloseBracket) at++;
          else {
            for (;;) {
              const dim = integer();
              if (dim < 0 || rank === kMaxRank) return false;
              dims[rank++] = dim;
              const c = bytes[at++];
              if (c === kCloseBracket) break;
              if (c !== kComma) return false;
            }
          }
          let shape = rank === 1 ? [dims[0]!] : rank === 2 ? [dims[0]!, dims[1]!] : dims.slice(0, rank); // exactly `rank` long
          if ((rank === 1 || rank === 2) && dims[0]! < 2 ** 21 && dims[rank - 1]! < 2 ** 21) {
            const key = rank === 1 ? -1 - dims[0]! : dims[0]! * 2 ** 21 + dims[1]!;
            const shared = shapes.get(key);
            if (shared !== undefined) shape = shared;
            else if (shapes.size < kSharedShapes) shapes.set(key, shape);
          }
          if (!holds(bytes, at, kOffsetsField)) return false;
          at += kOffsetsField.length;
          const begin = integer();
          if (begin < 0 || bytes[at++] !== kComma) return false;
          const end = integer();
          if (end < 0 || bytes[at++] !== kCloseBracket || bytes[at++] !== kCloseBrace) return false;
          visitor.tensor(name, dtype, shape, [begin, end]);
        }
        const c = bytes[at++];
        if (c === kCloseBrace) break;
        if (c !== kComma) return false;
      }
    }
  } catch (error) {
    if (error instanceof TypeError || error instanceof SyntaxError) return false; // bad UTF-8 or metadata JSON
    throw error;
  }
  // Only JSON whitespace after the object (the padding).
  for (; at < length; at++) {
    const c = bytes[at];
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return false;
  }
  return true;
}

/**
 * The index just past the JSON value at `start`, if it is `null` or an object (brackets matched outside
 * strings, escapes skipped); -1 otherwise. `JSON.parse` then checks the value itself.
 */
function valueEnd(bytes: Uint8Array, start: number): number {
  if (holds(bytes, start, kNull)) return start + 4;
  if (bytes[start] !== kOpenBrace) return -1;
  let depth = 0;
  let inString = false;
  for (let at = start; at < bytes.length; at++) {
    const c = bytes[at];
    if (inString) {
      if (c === kBackslash) at++;
      else if (c === kQuote) inString = false;
    } else if (c === kQuote) inString = true;
    else if (c === kOpenBrace || c === kOpenBracket) depth++;
    else if (c === kCloseBrace || c === kCloseBracket) {
      if (--depth === 0) return at + 1;
    }
  }
  return -1;
}
