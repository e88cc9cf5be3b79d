// Damaged and hostile safetensors files: each is a FormatError that names the file, the tensor or byte
// offset and the problem; never another error, a hang or an allocation the file does not justify.
import { describe, expect, it } from 'vitest';
import { type ByteSource, bytesSource, openSafetensors, parseShardIndex, serializeSafetensors } from '../../src/io/safetensors/index.js';
import { FormatError } from '../../src/errors.js';

const kFile = 'bad.safetensors';

/** A file from a header string (padded to 8 bytes unless `pad` is false) and `data` bytes; `n` overrides the length field. */
function rawFile(json: string, data: number | Uint8Array = 0, options: { n?: bigint; pad?: boolean } = {}): Uint8Array {
  let header = new TextEncoder().encode(json);
  if (options.pad !== false && header.byteLength % 8) {
    header = Uint8Array.from([...header, ...new Array(8 - (header.byteLength % 8)).fill(0x20)]);
  }
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + header.byteLength + body.byteLength);
  new DataView(out.buffer).setBigUint64(0, options.n ?? BigInt(header.byteLength), true);
  out.set(header, 8);
  out.set(body, 8 + header.byteLength);
  return out;
}

async function rejection(bytes: Uint8Array | ByteSource, name = kFile): Promise<FormatError> {
  const source = bytes instanceof Uint8Array ? bytesSource(bytes, name) : bytes;
  let thrown: unknown;
  try { await openSafetensors(source); } catch (error) { thrown = error; }
  expect(thrown, 'expected openSafetensors to reject').toBeInstanceOf(FormatError);
  const e = thrown as FormatError;
  expect(e.message.startsWith(`${name}: `), e.message).toBe(true);
  return e;
}

async function expectFormat(bytes: Uint8Array, message: RegExp): Promise<void> {
  expect((await rejection(bytes)).message).toMatch(message);
}

const entry = (dtype: string, shape: unknown, offsets: unknown): string => JSON.stringify({ dtype, shape, data_offsets: offsets });

describe('safetensors bad input: lengths and truncation', () => {
  it('a file shorter than 8 bytes', async () => {
    await expectFormat(Uint8Array.of(1, 2, 3), /the file has 3 bytes, fewer than the 8-byte header length/);
    await expectFormat(new Uint8Array(0), /the file has 0 bytes/);
  });

  it('a header length past the end of the file', async () => {
    await expectFormat(rawFile('{}', 0, { n: 1000n }), /header length \(bytes 0..8\) is 1000, but only 8 bytes follow it/);
  });

  it('a header length over 100 MB is refused before anything is allocated', async () => {
    const reads: number[] = [];
    const inner = bytesSource(rawFile('{}', 0, { n: 100_000_001n }), kFile);
    const source: ByteSource = { size: 2 ** 40, name: kFile, read: (o, l) => { reads.push(l); return inner.read(o, l); } };
    expect((await rejection(source)).message).toMatch(/header length \(bytes 0..8\) is 100000001, more than the 100000000-byte limit/);
    expect(reads).toEqual([8]);
    await expectFormat(rawFile('{}', 0, { n: 2n ** 63n }), /header length \(bytes 0..8\) is about 9\.223e\+18, more than the 100000000-byte limit/);
    const small = await openSafetensors(bytesSource(rawFile('{}'), kFile), { maxHeaderBytes: 8 });
    expect(small.list()).toEqual([]);
    await expect(openSafetensors(bytesSource(rawFile('{}  '.padEnd(16)), kFile), { maxHeaderBytes: 8 })).rejects.toThrow(/more than the 8-byte limit/);
  });

  it('every truncation of a valid file is a FormatError', async () => {
    const valid = await serializeSafetensors([
      { name: 'w', dtype: 'F32', shape: [2, 3], data: new Float32Array(6) }, { name: 'b', dtype: 'I8', shape: [5], data: new Int8Array(5) },
    ], { a: 'b' });
    for (let length = 0; length < valid.byteLength; length++) {
      const e = await rejection(valid.subarray(0, length));
      expect(e.message).toMatch(/fewer than the 8-byte|but only \d+ bytes follow|run past the data region|belong to no tensor/);
    }
    const extended = Uint8Array.from([...valid, 0]);
    expect((await rejection(extended)).message).toMatch(/the tensors cover 29 bytes of the 30-byte data region; file bytes \d+..\d+ belong to no tensor/);
  });

  it('a source that returns fewer bytes than asked', async () => {
    const valid = rawFile('{}');
    const source: ByteSource = { size: valid.byteLength, name: kFile, read: async (o, l) => valid.subarray(o, o + l - 1) };
    expect((await rejection(source)).message).toMatch(/reading 8 bytes at offset 0 returned 7/);
  });
});

describe('safetensors bad input: the JSON', () => {
  it('a header that does not start with "{" (arrays, a byte-order mark, spaces)', async () => {
    await expectFormat(rawFile('[1]'), /the header \(bytes 8..16\) must start with "\{", found byte 0x5b/);
    await expectFormat(rawFile('\ufeff{}'), /must start with "\{", found byte 0xef/);
    await expectFormat(rawFile(' {}'), /found byte 0x20/);
  });

  it('invalid UTF-8 and invalid JSON', async () => {
    const bytes = rawFile('{"x":1}');
    bytes[10] = 0xff;
    await expectFormat(bytes, /the header \(bytes 8..16\) is not valid UTF-8/);
    await expectFormat(rawFile('{"a":'), /the header \(bytes 8..16\) is not valid JSON \(/);
    await expectFormat(rawFile('{"a":{}}x'), /is not valid JSON/);
  });

  it('entries that are not objects', async () => {
    await expectFormat(rawFile('{"a":5}'), /tensor "a": the header entry must be an object \{ dtype, shape, data_offsets \}, found number/);
    await expectFormat(rawFile('{"a":null}'), /found null/);
    await expectFormat(rawFile('{"a":[1,2]}'), /found an array/);
  });

  it('prototype keys are rejected wherever they appear, and nothing is polluted', async () => {
    const valid = entry('U8', [1], [0, 1]);
    await expectFormat(rawFile(`{"__proto__":${valid}}`, 1), /tensor "__proto__": the name is a JavaScript prototype key and is rejected/);
    await expectFormat(rawFile(`{"constructor":${valid}}`, 1), /tensor "constructor": the name is a JavaScript prototype key/);
    await expectFormat(rawFile(`{"prototype":${valid}}`, 1), /tensor "prototype"/);
    await expectFormat(rawFile(`{"__metadata__":{"__proto__":"x"},"a":${valid}}`, 1), /"__metadata__" has the key "__proto__", which is rejected/);
    await expectFormat(rawFile('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"__proto__":{"polluted":1}}}', 1),
      /tensor "a": the entry has the field "__proto__"/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('__metadata__ must map strings to strings (null reads as none, as in the reference)', async () => {
    await expectFormat(rawFile('{"__metadata__":"x"}'), /"__metadata__" must be an object of strings, found string/);
    await expectFormat(rawFile('{"__metadata__":{"n":3}}'), /"__metadata__"\["n"\] must be a string, found number/);
    expect((await openSafetensors(bytesSource(rawFile('{"__metadata__":null}')))).metadata.size).toBe(0);
  });

  it('unknown dtypes', async () => {
    await expectFormat(rawFile(`{"w":${entry('F17', [1], [0, 4])}}`, 4), /tensor "w": dtype "F17" is unknown; safetensors defines BOOL, F4, .*U64/);
    await expectFormat(rawFile('{"w":{"shape":[1],"data_offsets":[0,4]}}', 4), /tensor "w": dtype is missing; safetensors defines/);
    await expectFormat(rawFile(`{"w":${JSON.stringify({ dtype: 5, shape: [1], data_offsets: [0, 1] })}}`, 1), /dtype 5 is unknown/);
  });

  it('deeply nested JSON (a million levels) is a FormatError, not a stack overflow', async () => {
    const deep = `${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}`;
    await expectFormat(rawFile(`{"a":${deep}}`), /tensor "a": the header entry must be an object .* found an array/);
    await expectFormat(rawFile(`{"a":{"dtype":"U8","shape":${deep},"data_offsets":[0,0]}}`), /tensor "a": shape\[0\] is an array of 1; dimensions must be/);
    await expectFormat(rawFile(`{"a":{"dtype":${deep},"shape":[0],"data_offsets":[0,0]}}`), /tensor "a": dtype an array of 1 is unknown/);
    await expectFormat(rawFile(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,${deep}]}}`), /"data_offsets" must be .* found \[0, an array of 1\]/);
    await expectFormat(rawFile(`{"__metadata__":{"k":${deep}}}`), /"__metadata__"\["k"\] must be a string, found object/);
    expect(() => parseShardIndex(`{"weight_map":{"a":${deep}}}`)).toThrow(/weight_map\["a"\] must be a shard file name, found an array of 1/);
  });

  it('long hostile names are shortened in messages', async () => {
    const name = 'n'.repeat(10_000);
    const e = await rejection(rawFile(`{"${name}":5}`));
    expect(e.message.length).toBeLessThan(400);
    expect(e.message).toContain('(10000 characters)');
  });
});

describe('safetensors bad input: shapes and offsets', () => {
  it('data_offsets that are not two non-negative safe integers', async () => {
    for (const offsets of [undefined, [0], [0, 1, 2], [-1, 3], [0.5, 4], ['0', '4'], [0, 2 ** 60], null, '0,4']) {
      await expectFormat(rawFile(`{"w":${entry('U8', [4], offsets)}}`, 4), /tensor "w": "data_offsets" must be \[begin, end\], two non-negative integers below 2\^53/);
    }
    await expectFormat(rawFile(`{"w":${entry('U8', [0], [4, 2])}}`, 4), /data_offsets \[4, 2\] end before they begin/);
  });

  it('offsets past the data region, naming its file bytes', async () => {
    await expectFormat(rawFile(`{"w":${entry('U8', [8], [0, 8])}}`, 4),
      /tensor "w": data_offsets \[0, 8\] run past the data region, which has 4 bytes \(file bytes 64..68\)/);
  });

  it('overlaps, gaps, and tensors that do not cover the data', async () => {
    const two = (a: unknown, b: unknown, data: number): Uint8Array => rawFile(`{"a":${entry('U8', [4], a)},"b":${entry('U8', [4], b)}}`, data);
    await expectFormat(two([0, 4], [2, 6], 6), /tensor "b" at data_offsets \[2, 6\] \(file offset \d+\) overlaps by 2 bytes with tensor "a", which ends at 4/);
    await expectFormat(two([0, 4], [6, 10], 10), /tensor "b" at data_offsets \[6, 10\] .* leaves a gap of 2 bytes after tensor "a"/);
    await expectFormat(two([2, 6], [6, 10], 10), /tensor "a" .* leaves a gap of 2 bytes after the start of the data region/);
    await expectFormat(two([0, 4], [0, 4], 8), /overlaps by 4 bytes/);
    await expectFormat(two([0, 4], [4, 8], 9), /the tensors cover 8 bytes of the 9-byte data region/);
  });

  it('shapes that are not arrays of non-negative safe integers', async () => {
    await expectFormat(rawFile(`{"w":${entry('U8', 4, [0, 4])}}`, 4), /tensor "w": "shape" must be an array of non-negative integers, found number/);
    for (const [shape, text] of [[[-1], '-1'], [[1.5], '1.5'], [['2'], '"2"'], [[null], 'null'], [[2 ** 60], '1152921504606847000']] as const) {
      await expectFormat(rawFile(`{"w":${entry('U8', shape, [0, 0])}}`), new RegExp(`shape\\[0\\] is ${text.replace(/[.]/g, '\\.')}; dimensions must be non-negative integers`));
    }
  });

  it('element counts that overflow', async () => {
    await expectFormat(rawFile(`{"w":${entry('F32', [2 ** 30, 2 ** 30, 2 ** 30], [0, 4])}}`, 4), /shape \[1073741824, 1073741824, 1073741824\] overflows/);
    await expectFormat(rawFile(`{"w":${entry('F64', [2 ** 50], [0, 8])}}`, 8), /shape \[1125899906842624\] of F64 overflows: its byte length exceeds 2\^53 - 1/);
  });

  it('shape and byte length that disagree', async () => {
    await expectFormat(rawFile(`{"w":${entry('F32', [3], [0, 8])}}`, 8),
      /tensor "w": shape \[3\] of F32 needs 12 bytes, but data_offsets \[0, 8\] hold 8 \(file offset 64\)/);
    await expectFormat(rawFile(`{"w":${entry('F4', [3], [0, 2])}}`, 2), /needs 3 × 4 bits \(not a whole number of bytes\)/);
  });
});
