// The fast header reader (header-scan.ts) against JSON.parse: on canonical headers it must give exactly what
// JSON.parse gives, and every header outside its subset must go to JSON.parse, so results and error
// messages never depend on which reader ran. The header writer's byte-by-byte JSON is checked against
// JSON.stringify, including names that need escaping.
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { encodeSafetensorsHeader } from '../../src/io/safetensors/header-encode.js';
import { type SafetensorsHeader, parseSafetensorsHeader } from '../../src/io/safetensors/header-parse.js';
import { scanCanonicalHeader } from '../../src/io/safetensors/header-scan.js';
import { RUN_SEED, rng } from '../shared/random.js';

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const kDTypes: [string, number][] = [['F32', 4], ['F16', 2], ['BF16', 2], ['F64', 8], ['U8', 1], ['I8', 1], ['I64', 8], ['BOOL', 1], ['F8_E4M3', 1]];
const kNameParts = ['layer', 'attn', 'weight', 'é', '日本', '🙂', 'a b', 'x.y', '__proto', '0', '12a', "it's", '~'];

interface Entry { name: string; dtype: string; shape: number[]; offsets: [number, number] }

/** Fresh random tensors that tile their data, in a random header order, and their canonical JSON. */
function randomHeader(seed: number): { entries: Entry[]; metadata: Record<string, string> | null | undefined; json: string; dataLength: number } {
  const next = rng(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!;
  const count = 1 + Math.floor(next() * 40);
  const entries: Entry[] = [];
  const names = new Set<string>();
  let offset = 0;
  for (let i = 0; i < count; i++) {
    let name = '';
    do name = `${pick(kNameParts)}.${i}.${pick(kNameParts)}`; while (names.has(name));
    names.add(name);
    const [dtype, size] = pick(kDTypes);
    const shape = Array.from({ length: Math.floor(next() * 4) }, () => Math.floor(next() * 5));
    const bytes = shape.reduce((a, b) => a * b, 1) * size;
    entries.push({ name, dtype, shape, offsets: [offset, offset + bytes] });
    offset += bytes;
  }
  for (let i = entries.length - 1; i > 0; i--) { // header order need not be file order
    const j = Math.floor(next() * (i + 1));
    [entries[i], entries[j]] = [entries[j]!, entries[i]!];
  }
  const kind = next();
  const metadata = kind < 0.2 ? undefined : kind < 0.3 ? null
    : { format: 'pt', 'webgpu_quant.w': '{"dtype":"qint8","shape":[2,3]}', tricky: 'a}b]c\\"d\n', 'ключ': '值 🙂' };
  const parts = entries.map((e) => `${JSON.stringify(e.name)}:{"dtype":"${e.dtype}","shape":[${e.shape.join(',')}],"data_offsets":[${e.offsets.join(',')}]}`);
  if (metadata !== undefined) parts.splice(Math.floor(next() * (parts.length + 1)), 0, `"__metadata__":${JSON.stringify(metadata)}`);
  return { entries, metadata, json: `{${parts.join(',')}}`, dataLength: offset };
}

/** Header bytes padded with spaces to `length`. */
function padded(json: string, length: number): Uint8Array {
  const bytes = utf8(json);
  const out = new Uint8Array(length).fill(0x20);
  out.set(bytes);
  return out;
}

/** What the scanner reports, or false. */
function scan(bytes: Uint8Array): { entries: Entry[]; metadata: unknown[] } | false {
  const found = { entries: [] as Entry[], metadata: [] as unknown[] };
  const ok = scanCanonicalHeader(bytes, {
    tensor: (name, dtype, shape, offsets) => { found.entries.push({ name, dtype, shape, offsets }); },
    metadata: (value) => { found.metadata.push(value); },
  });
  return ok && found;
}

/** The header parsed from `json` and from the same JSON made non-canonical (a space after each entry's colon), both padded to one length. */
function bothWays(json: string, dataLength: number): { fast: SafetensorsHeader | Error; full: SafetensorsHeader | Error } {
  const spaced = json.replace(/":\{"dtype"/g, '": {"dtype"');
  const length = Math.ceil(Math.max(utf8(json).byteLength, utf8(spaced).byteLength) / 8) * 8;
  const parse = (text: string): SafetensorsHeader | Error => {
    try { return parseSafetensorsHeader(padded(text, length), 8 + length + dataLength, 'h.safetensors'); } catch (error) { return error as Error; }
  };
  return { fast: parse(json), full: parse(spaced) };
}

describe('safetensors header: the fast reader', () => {
  it(`reads fresh random canonical headers exactly as JSON.parse does (seed ${RUN_SEED})`, () => {
    for (let k = 0; k < 60; k++) {
      const { entries, metadata, json, dataLength } = randomHeader(RUN_SEED + k);
      const found = scan(padded(json, json.length * 4));
      expect(found, json).not.toBe(false);
      expect((found as { entries: Entry[] }).entries).toEqual(entries);
      expect((found as { metadata: unknown[] }).metadata).toEqual(metadata === undefined ? [] : [metadata]);
      const { fast, full } = bothWays(json, dataLength);
      expect(fast).not.toBeInstanceOf(Error);
      expect(fast).toEqual(full);
      const header = fast as SafetensorsHeader;
      expect(header.tensors.map((t) => [t.name, t.safetensorsDType, t.shape, t.dataOffsets])).toEqual(
        [...entries].sort((a, b) => a.offsets[0] - b.offsets[0] || a.offsets[1] - b.offsets[1]).map((e) => [e.name, e.dtype, e.shape, e.offsets]));
      expect([...header.metadata]).toEqual(Object.entries(metadata ?? {}));
      expect(header.byName.size).toBe(entries.length);
      for (const t of header.tensors) expect(header.byName.get(t.name)).toBe(t);
    }
  });

  it('hands every header outside its subset to JSON.parse, which reads it as before', () => {
    const e = '{"dtype":"U8","shape":[2],"data_offsets":[0,2]}';
    // [json, the names read, true where the syntax is canonical and the caller sees the duplicate]
    const cases: [json: string, names: string[], duplicate?: boolean][] = [
      [`{ "a":${e}}`, ['a']], // whitespace
      [`{"a": ${e}}`, ['a']],
      ['{"a":{"shape":[2],"dtype":"U8","data_offsets":[0,2]}}', ['a']], // field order
      ['{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2],"extra":1}}', ['a']], // an extra field
      [`{"a\\u0062":${e}}`, ['ab']], // an escape in a name
      [`{"12":${e}}`, ['12']], // an array-index name
      ['{"a":{"dtype":"U8","shape":[2.0],"data_offsets":[0,2]}}', ['a']], // 2.0 is 2
      ['{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2e0]}}', ['a']],
      ['{"a":{"dtype":"U8","shape":[1,2],"data_offsets":[0,2]},"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}', ['a'], true], // a duplicate: the last wins
      [`{"__metadata__":{"x":"1"},"__metadata__":{"x":"2"},"a":${e}}`, ['a']],
      [`{"__metadata__":{"x":"1"} ,"a":${e}}`, ['a']],
    ];
    for (const [json, names, duplicate] of cases) {
      expect(scan(padded(json, Math.ceil(json.length / 8) * 8)) !== false, json).toBe(duplicate === true);
      const length = Math.ceil(utf8(json).byteLength / 8) * 8;
      const header = parseSafetensorsHeader(padded(json, length), 8 + length + 2, 'h.safetensors');
      expect(header.tensors.map((t) => t.name), json).toEqual(names);
      expect(header.tensors[0]!.shape, json).toEqual([2]);
    }
    // A duplicate __metadata__: JSON.parse keeps the last.
    const json = `{"__metadata__":{"x":"1"},"__metadata__":{"x":"2"},"a":${e}}`;
    const length = Math.ceil(json.length / 8) * 8;
    expect(parseSafetensorsHeader(padded(json, length), 8 + length + 2, 'h').metadata.get('x')).toBe('2');
  });

  it('gives the same errors either way: bad JSON after a good start, bad values, bad UTF-8, padding that is not whitespace', () => {
    const e = (begin: number, end: number, dtype = 'U8'): string => `{"dtype":"${dtype}","shape":[${end - begin}],"data_offsets":[${begin},${end}]}`;
    const cases: [string, RegExp][] = [
      [`{"a":${e(0, 2, 'F17')},"b":${e(2, 4)}}`, /dtype "F17" is unknown/],
      [`{"a":${e(0, 2)},"b":${e(2, 5)}}`, /run past the data region/],
      [`{"a":${e(0, 2, 'F17')},"b":${e(2, 4)}`, /not valid JSON/], // the first problem JSON.parse meets
      [`{"a":${e(0, 2)},"b":${e(1, 3)}}`, /overlaps by 1 bytes/],
      [`{"__proto__":${e(0, 2)},"b":${e(2, 4)}}`, /prototype key/],
      [`{"__metadata__":{"k":1},"a":${e(0, 2)},"b":${e(2, 4)}}`, /must be a string, found number/],
      [`{"a":${e(0, 2)},"b":${e(2, 4)}}x`, /not valid JSON/],
      [`{"a":${e(0, 2)},"b":${e(2, 4)},"c":${e(4, 4)}}`.replace('"c"', '"c\\u0000"').replace('\\u0000', '\u0001'), /not valid JSON/], // a raw control character
    ];
    for (const [json, message] of cases) {
      const { fast, full } = bothWays(json, 4);
      expect(fast, json).toBeInstanceOf(FormatError);
      expect((fast as Error).message, json).toMatch(message);
      const samePlace = (text: string): string => text.replace(/position \d+/, 'position …'); // the spaces move JSON.parse's position
      expect(samePlace((fast as Error).message)).toBe(samePlace((full as Error).message));
    }
    // Invalid UTF-8 in a name: the same message as before the fast reader.
    const bytes = padded(`{"a?":${e(0, 2)}}`, 64);
    bytes[3] = 0xff;
    expect(scan(bytes)).toBe(false);
    expect(() => parseSafetensorsHeader(bytes, 8 + 64 + 2, 'h')).toThrow(/not valid UTF-8/);
  });

  it('tensors of one small shape share one frozen shape array', () => {
    const json = `{${Array.from({ length: 6 }, (_, i) => `"t${i}":{"dtype":"U8","shape":[${i < 3 ? '2' : '1,2'}],"data_offsets":[${2 * i},${2 * i + 2}]}`).join(',')}}`;
    const length = Math.ceil(json.length / 8) * 8;
    const { tensors } = parseSafetensorsHeader(padded(json, length), 8 + length + 12, 'h');
    expect(tensors.map((t) => t.shape)).toEqual([[2], [2], [2], [1, 2], [1, 2], [1, 2]]);
    expect(new Set(tensors.map((t) => t.shape)).size).toBe(2);
    for (const t of tensors) expect(Object.isFrozen(t.shape)).toBe(true);
  });

  it('more tensors than maxTensors is the same LimitExceededError either way', () => {
    const { json, dataLength, entries } = randomHeader(RUN_SEED + 99);
    const length = Math.ceil(utf8(json).byteLength / 8) * 8 + 8;
    const error = (text: string): string => {
      try { parseSafetensorsHeader(padded(text, length), 8 + length + dataLength, 'h', entries.length - 1); } catch (e) { return (e as Error).message; }
      return 'no error';
    };
    expect(error(json)).toMatch(/more than \d+ tensors \(the maxTensors limit\)/);
    expect(error(json)).toBe(error(json.replace('":{"dtype"', '": {"dtype"')));
  });
});

describe('safetensors header: the writer', () => {
  it('writes names as JSON.stringify does, escapes and non-ASCII included, and the reader reads them back', () => {
    const next = rng(RUN_SEED + 7);
    const alphabet = ['a', '.', '"', '\\', '\n', '\t', '\u0001', '\u007f', 'é', '日', '🙂', '\u2028', '\ud800', ' ', '/'];
    const names = new Set<string>();
    while (names.size < 50) names.add(Array.from({ length: 1 + Math.floor(next() * 8) }, () => alphabet[Math.floor(next() * alphabet.length)]).join(''));
    const entries = [...names].map((name, i) => ({ name, dtype: 'U8' as const, shape: [i % 3, 2] }));
    const metadata = { format: 'pt', 'quote"key': 'va\\lue\n' };
    const { bytes, entries: placed } = encodeSafetensorsHeader(entries, metadata);
    const length = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(length % 8).toBe(0);
    const expected = `{"__metadata__":{${Object.entries(metadata).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}},${
      placed.map((p) => `${JSON.stringify(p.name)}:{"dtype":"U8","shape":[${p.shape.join(',')}],"data_offsets":[${p.dataOffsets.join(',')}]}`).join(',')}}`;
    expect(new TextDecoder().decode(bytes.subarray(8)).trimEnd()).toBe(expected);
    expect(bytes.byteLength).toBe(8 + Math.ceil(utf8(expected).byteLength / 8) * 8);
    const dataLength = placed.at(-1)!.dataOffsets[1];
    const header = parseSafetensorsHeader(bytes.subarray(8), bytes.byteLength + dataLength, 'h');
    expect(header.tensors.map((t) => t.name).sort()).toEqual(entries.map((e) => e.name).sort()); // a lone surrogate too: written escaped
  });

  it('writes large offsets and dimensions exactly', () => {
    const { bytes } = encodeSafetensorsHeader([{ name: 'big', dtype: 'U8', shape: [2 ** 40, 1, 0] }, { name: 'b', dtype: 'U8', shape: [9_007_199_254] }]);
    expect(new TextDecoder().decode(bytes.subarray(8)).trimEnd()).toBe(
      '{"big":{"dtype":"U8","shape":[1099511627776,1,0],"data_offsets":[0,0]},"b":{"dtype":"U8","shape":[9007199254],"data_offsets":[0,9007199254]}}');
  });
});
