// safetensors reading and writing: the reference implementation's exact bytes, every dtype, random access
// that reads only what is asked for, and each source (bytes, Blob, Node file) and sink (memory,
// WritableStream, Node file with its temporary-file rename).
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ByteSource, type SafetensorsDType, SAFETENSORS_DTYPES, blobSource, bytesSource, createSafetensorsWriter,
  memorySink, nodeFileSink, nodeFileSource, openSafetensors, openSafetensorsFile, safetensorsDTypeInfo,
  serializeSafetensors, writableStreamSink,
} from '../../src/io/safetensors/index.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { rng } from './support.js';

const ascii = (text: string): number[] => Array.from(new TextEncoder().encode(text));
const f32Bytes = (values: number[]): number[] => Array.from(new Uint8Array(Float32Array.from(values).buffer));
const u64 = (n: number): number[] => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >> 24) & 0xff, 0, 0, 0, 0];

/** A source that records every read, to prove random access reads only what it must. */
function countingSource(bytes: Uint8Array): ByteSource & { reads: [number, number][] } {
  const inner = bytesSource(bytes, 'counted.safetensors');
  const reads: [number, number][] = [];
  return { size: inner.size, name: inner.name, reads, read: (o, l) => { reads.push([o, l]); return inner.read(o, l); } };
}

describe('safetensors: the reference implementation\'s bytes', () => {
  // These are the byte sequences the format's reference implementation (huggingface/safetensors, Rust)
  // expects from its serializer in its own unit tests: one F32 [1, 2, 3] tensor named "attn.0" (header
  // exactly 64 bytes, no padding), the same data as [1, 1, 2, 3] named "attn0" (57 bytes, padded with 7
  // spaces), and an empty file with and without metadata (padded to 8 and 40).
  it('serializes one tensor exactly as the reference does', async () => {
    const data = Float32Array.of(0, 1, 2, 3, 4, 5);
    const out = await serializeSafetensors([{ name: 'attn.0', dtype: 'F32', shape: [1, 2, 3], data }]);
    const json = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
    expect(json.length).toBe(64);
    expect(Array.from(out)).toEqual([...u64(64), ...ascii(json), ...f32Bytes([0, 1, 2, 3, 4, 5])]);
  });

  it('pads the header with spaces to a multiple of 8', async () => {
    const out = await serializeSafetensors([{ name: 'attn0', dtype: 'F32', shape: [1, 1, 2, 3], data: Float32Array.of(0, 1, 2, 3, 4, 5) }]);
    const json = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}';
    expect(Array.from(out)).toEqual([...u64(72), ...ascii(json), ...ascii(' '.repeat(7)), ...f32Bytes([0, 1, 2, 3, 4, 5])]);
    const reader = await openSafetensors(bytesSource(out));
    expect(reader.info('attn0').fileOffset).toBe(80);
    expect(reader.info('attn0').fileOffset % 8).toBe(0);
  });

  it('writes empty files and metadata first, as the reference does', async () => {
    expect(Array.from(await serializeSafetensors([]))).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    const withMetadata = await serializeSafetensors([], { framework: 'pt' });
    expect(Array.from(withMetadata)).toEqual([...u64(40), ...ascii('{"__metadata__":{"framework":"pt"}}'), 32, 32, 32, 32, 32]);
    const reader = await openSafetensors(bytesSource(withMetadata));
    expect([...reader.metadata]).toEqual([['framework', 'pt']]);
    expect(reader.list()).toEqual([]);
  });

  it('reads a header that lists tensors out of offset order (older writers sort by name)', async () => {
    const json = '{"b":{"dtype":"U8","shape":[2],"data_offsets":[3,5]},"__metadata__":{"k":"v"},"a":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}}';
    const bytes = Uint8Array.from([...u64(json.length), ...ascii(json), 1, 2, 3, 4, 5]);
    const reader = await openSafetensors(bytesSource(bytes, 'unsorted.safetensors'));
    expect(reader.list().map((t) => t.name)).toEqual(['a', 'b']);
    expect(Array.from(await reader.read('b'))).toEqual([4, 5]);
    expect(reader.metadata.get('k')).toBe('v');
    expect(reader.headerByteLength).toBe(json.length);
  });
});

describe('safetensors: every dtype round-trips', () => {
  it.each(SAFETENSORS_DTYPES.filter((d) => safetensorsDTypeInfo(d)!.bits % 8 === 0))('%s', async (dtype: SafetensorsDType) => {
    const bytesPer = safetensorsDTypeInfo(dtype)!.bits / 8;
    const next = rng(dtype.length * 7919);
    const shape = [3, 5];
    const data = Uint8Array.from({ length: 15 * bytesPer }, () => Math.floor(next() * 256));
    const out = await serializeSafetensors([
      { name: 'odd', dtype: 'U8', shape: [3], data: Uint8Array.of(9, 8, 7) }, // misaligns what follows
      { name: 'x', dtype, shape, data },
      { name: 'scalar', dtype, shape: [], data: data.subarray(0, bytesPer) },
      { name: 'empty', dtype, shape: [4, 0], data: new Uint8Array(0) },
    ], { dtype });
    const reader = await openSafetensors(bytesSource(out, `${dtype}.safetensors`));
    const x = reader.info('x');
    expect(x).toMatchObject({ safetensorsDType: dtype, dtype: safetensorsDTypeInfo(dtype)!.weightDType, shape, byteLength: 15 * bytesPer, dataOffsets: [3, 3 + 15 * bytesPer] });
    expect(await reader.read('x')).toEqual(data);
    expect(await reader.read('scalar')).toEqual(data.subarray(0, bytesPer));
    expect(reader.info('scalar').shape).toEqual([]);
    expect((await reader.read('empty')).byteLength).toBe(0);
  });

  it('sub-byte F4 tensors need a whole number of bytes', async () => {
    const out = await serializeSafetensors([{ name: 'f4', dtype: 'F4', shape: [2, 3], data: Uint8Array.of(0x12, 0x34, 0x56) }]);
    const reader = await openSafetensors(bytesSource(out));
    expect(reader.info('f4')).toMatchObject({ byteLength: 3, dtype: 'other' });
    await expect(serializeSafetensors([{ name: 'f4', dtype: 'F4', shape: [3], data: Uint8Array.of(1, 2) }])).rejects.toThrow(/not a whole number of bytes/);
  });
});

describe('safetensors: random access', () => {
  it('opening reads the length and the header only; a large tensor reads exactly its bytes, small ones share a read-ahead window', async () => {
    const big = new Float32Array(20_000).map((_, i) => i * 0.5); // 80 kB: above the 64 KiB read-ahead threshold
    const out = await serializeSafetensors([
      { name: 'a', dtype: 'F32', shape: [200, 100], data: big },
      { name: 'b', dtype: 'float16', shape: [3], data: Uint16Array.of(0x3c00, 0x4000, 0xc000) },
      { name: 'c', dtype: 'U8', shape: [2], data: Uint8Array.of(7, 9) },
    ]);
    const source = countingSource(out);
    const reader = await openSafetensors(source);
    const n = reader.headerByteLength;
    expect(source.reads).toEqual([[0, 8], [8, n]]);
    const b = await reader.read('b');
    expect(source.reads.at(-1)).toEqual([8 + n + 80_000, 8]); // b and c: the window stops at the end of the file
    expect(Array.from(new Uint16Array(b.buffer))).toEqual([0x3c00, 0x4000, 0xc000]); // its own buffer
    expect(Array.from(await reader.read('c'))).toEqual([7, 9]);
    expect(source.reads.length).toBe(3); // c came from the window
    const a = await reader.read('a');
    expect(source.reads.at(-1)).toEqual([8 + n, 80_000]);
    expect(new Float32Array(a.slice().buffer)).toEqual(big);
    expect(source.reads.length).toBe(4);
  });

  it('readInto reuses one buffer for every tensor (Node files read straight into it; other sources copy)', async () => {
    const out = await serializeSafetensors([
      { name: 'a', dtype: 'U8', shape: [5], data: Uint8Array.of(1, 2, 3, 4, 5) }, { name: 'b', dtype: 'I16', shape: [2], data: Int16Array.of(-1, 7) },
    ]);
    const buffer = new Uint8Array(8).fill(0xaa);
    const reader = await openSafetensors(bytesSource(out));
    const b = await reader.readInto('b', buffer);
    expect(b.buffer).toBe(buffer.buffer);
    expect(Array.from(buffer)).toEqual([0xff, 0xff, 7, 0, 0xaa, 0xaa, 0xaa, 0xaa]);
    expect(Array.from(await reader.readInto('a', buffer))).toEqual([1, 2, 3, 4, 5]);
    await expect(reader.readInto('a', new Uint8Array(4))).rejects.toThrow(/readInto\("a"\) needs a Uint8Array of at least 5 bytes/);
  });

  it('an unknown tensor name is an InvalidArgumentError listing how to find the names', async () => {
    const reader = await openSafetensors(bytesSource(await serializeSafetensors([])));
    await expect(reader.read('nope')).rejects.toThrow(InvalidArgumentError);
    expect(() => reader.info('nope')).toThrow(/has no tensor "nope"; list\(\) gives the 0 names/);
  });

  it('Blob and File sources read by slices', async () => {
    const out = await serializeSafetensors([{ name: 'w', dtype: 'I32', shape: [2], data: Int32Array.of(-7, 123456789) }], { from: 'blob' });
    const file = new File([out.buffer as ArrayBuffer], 'picked.safetensors');
    const reader = await openSafetensors(blobSource(file));
    expect(reader.name).toBe('picked.safetensors');
    expect(Array.from(new Int32Array((await reader.read('w')).slice().buffer))).toEqual([-7, 123456789]);
  });
});

describe('safetensors: Node files and sinks', () => {
  let dir = '';
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'wq-st-')); });
  afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

  it('nodeFileSink writes a temporary file and renames it on close; the source reads it back', async () => {
    const path = join(dir, 'model.safetensors');
    const sink = await nodeFileSink(path);
    expect(sink.tempPath).toMatch(/\/\.model\.safetensors\.webgpu-quant-tmp-[0-9a-f]{12}$/);
    expect(sink.tempPath.startsWith(dir)).toBe(true);
    const writer = await createSafetensorsWriter(sink, [
      { name: 'w', dtype: 'float32', shape: [2, 2], byteLength: 16 }, { name: 'b', dtype: 'int8', shape: [3] },
    ], { note: 'node' });
    await writer.writeChunk('w', Float32Array.of(1, 2)); // a tensor in pieces
    expect(await readdir(dir)).toEqual([sink.tempPath.slice(dir.length + 1)]); // target not there yet
    await writer.writeChunk('w', Float32Array.of(3, 4));
    await writer.write('b', Int8Array.of(-1, 0, 1));
    await writer.close();
    expect(await readdir(dir)).toEqual(['model.safetensors']);
    const reader = await openSafetensorsFile(path);
    try {
      expect(reader.byteLength).toBe(writer.byteLength);
      expect(Array.from(new Float32Array((await reader.read('w')).buffer))).toEqual([1, 2, 3, 4]);
      expect(Array.from(new Int8Array((await reader.read('b')).buffer))).toEqual([-1, 0, 1]);
      expect(reader.metadata.get('note')).toBe('node');
      const reused = new Uint8Array(16);
      expect(Array.from(new Int8Array((await reader.readInto('b', reused)).buffer, 0, 3))).toEqual([-1, 0, 1]);
      expect(Array.from(new Float32Array((await reader.readInto('w', reused)).buffer))).toEqual([1, 2, 3, 4]);
    } finally {
      await reader.close();
    }
  });

  it('a failed write deletes the temporary file and leaves an existing target untouched', async () => {
    const path = join(dir, 'keep.safetensors');
    await writeFile(path, 'previous model');
    const sink = await nodeFileSink(path);
    const writer = await createSafetensorsWriter(sink, [{ name: 'w', dtype: 'F32', shape: [4] }]);
    await expect(writer.write('w', Float32Array.of(1, 2, 3))).rejects.toThrow(/12 bytes given, the whole tensor is 16 bytes/);
    await expect(writer.write('w', Float32Array.of(1, 2, 3, 4))).rejects.toThrow(/writer is failed/);
    expect((await readdir(dir)).filter((f) => f.startsWith('keep'))).toEqual(['keep.safetensors']);
    expect(await readFile(path, 'utf8')).toBe('previous model');
  });

  it('close() with a tensor missing, or abort(), leaves no file', async () => {
    const path = join(dir, 'missing.safetensors');
    const writer = await createSafetensorsWriter(await nodeFileSink(path), [
      { name: 'a', dtype: 'U8', shape: [1] }, { name: 'b', dtype: 'U8', shape: [1] },
    ]);
    await writer.write('a', Uint8Array.of(1));
    await expect(writer.close()).rejects.toThrow(/close\(\) with tensor "b" not written and 0 after it/);
    const aborted = await createSafetensorsWriter(await nodeFileSink(join(dir, 'aborted.safetensors')), [{ name: 'a', dtype: 'U8', shape: [1] }]);
    await aborted.abort();
    expect((await readdir(dir)).filter((f) => f.startsWith('missing') || f.startsWith('aborted'))).toEqual([]);
  });

  it('nodeFileSource reports a file that shrank after opening as a FormatError', async () => {
    const path = join(dir, 'shrinks.safetensors');
    await writeFile(path, await serializeSafetensors([{ name: 'w', dtype: 'U8', shape: [64], data: new Uint8Array(64) }]));
    const source = await nodeFileSource(path);
    const reader = await openSafetensors(source);
    await writeFile(path, new Uint8Array(100)); // truncate under the open handle
    await expect(reader.read('w')).rejects.toThrow(/ended at byte 100 while reading 64 bytes/);
    await source.close();
    await source.close(); // idempotent
  });
});

describe('safetensors: writer order and sizes', () => {
  const entries = [
    { name: 'a', dtype: 'U8' as const, shape: [2] }, { name: 'z', dtype: 'U8' as const, shape: [0] }, { name: 'c', dtype: 'I16' as const, shape: [2] },
  ];

  it('takes tensors in header order, may skip zero-byte tensors, and rejects everything else after aborting the sink', async () => {
    const sink = memorySink();
    const writer = await createSafetensorsWriter(sink, entries);
    expect(writer.next).toBe('a');
    await expect(writer.write('c', Int16Array.of(1, 2))).rejects.toThrow(/"c" is out of order; the next tensor to write is "a"/);
    expect(sink.state).toBe('aborted');
    expect(sink.byteLength).toBe(0);

    const ok = memorySink();
    const w2 = await createSafetensorsWriter(ok, entries);
    await w2.write('a', Uint8Array.of(1, 2));
    await w2.write('c', Int16Array.of(-2, 300)); // 'z' (zero bytes) skipped
    await w2.close();
    expect(ok.state).toBe('closed');
    const reader = await openSafetensors(bytesSource(ok.bytes()));
    expect(reader.list().map((t) => [t.name, t.dataOffsets])).toEqual([['a', [0, 2]], ['z', [2, 2]], ['c', [2, 6]]]);
    expect(Array.from(await reader.read('c'))).toEqual([0xfe, 0xff, 0x2c, 0x01]);
  });

  it('rejects bad entries before writing anything', async () => {
    const cases: [unknown[], RegExp][] = [
      [[{ name: 'a', dtype: 'U8', shape: [1] }, { name: 'a', dtype: 'U8', shape: [1] }], /appears twice/],
      [[{ name: 'a', dtype: 'F32', shape: [2], byteLength: 7 }], /byteLength 7 disagrees with shape \[2\] of F32, which is 8 bytes/],
      [[{ name: 'a', dtype: 'int4', shape: [2] }], /has no safetensors name/],
      [[{ name: 'a', dtype: 'U8', shape: [-1] }], /shape\[0\] is -1/],
      [[{ name: '__proto__', dtype: 'U8', shape: [1] }], /reserved/],
      [[{ name: '__metadata__', dtype: 'U8', shape: [1] }], /reserved/],
    ];
    for (const [bad, message] of cases) {
      const sink = memorySink();
      await expect(createSafetensorsWriter(sink, bad as never)).rejects.toThrow(message);
      expect(sink.state).toBe('aborted');
    }
    await expect(createSafetensorsWriter(memorySink(), [], { n: 3 as unknown as string })).rejects.toThrow(/metadata values must be strings/);
  });

  it('memorySink.restart() drops what was written; after close() it is an InvalidArgumentError', async () => {
    const sink = memorySink();
    await sink.write(Uint8Array.of(1, 2, 3));
    await sink.restart!();
    expect(sink.byteLength).toBe(0);
    await sink.write(Uint8Array.of(9));
    await sink.close();
    expect([...sink.bytes()]).toEqual([9]);
    await expect(sink.restart!()).rejects.toThrow(InvalidArgumentError);
    await expect(sink.restart!()).rejects.toThrow(/restart after the sink was closed/);
  });

  it('a writableStreamSink delivers the file through a stream, in pieces of at most 4 MiB', async () => {
    const received: Uint8Array[] = [];
    const stream = new WritableStream<Uint8Array>({ write(chunk) { received.push(chunk); } });
    const big = new Uint8Array(9 * 1024 * 1024).map((_, i) => i * 31);
    const writer = await createSafetensorsWriter(writableStreamSink(stream), [{ name: 'big', dtype: 'U8', shape: [big.length] }]);
    await writer.write('big', big);
    await writer.close();
    expect(received.map((c) => c.byteLength).slice(1)).toEqual([4 << 20, 4 << 20, 1 << 20]);
    const whole = new Uint8Array(received.reduce((n, c) => n + c.byteLength, 0));
    received.reduce((at, c) => { whole.set(c, at); return at + c.byteLength; }, 0);
    const back = await (await openSafetensors(bytesSource(whole))).read('big');
    expect(Buffer.compare(back, big), 'the bytes read back differ from those written').toBe(0); // toEqual is too slow for 9 MiB
  });

  it('a writableStreamSink is aborted on failure', async () => {
    let abortedWith: unknown;
    const stream = new WritableStream<Uint8Array>({ abort(reason) { abortedWith = reason; } });
    const writer = await createSafetensorsWriter(writableStreamSink(stream), [{ name: 'x', dtype: 'U8', shape: [2] }]);
    await expect(writer.write('x', Uint8Array.of(1))).rejects.toThrow(InvalidArgumentError);
    expect(abortedWith).toBeInstanceOf(InvalidArgumentError);
  });
});

describe('safetensors: the TSDoc examples hold', () => {
  it('give the values their comments state', async () => {
    const lib = await import('../../src/io/safetensors/index.js');
    const header = lib.parseSafetensorsHeader(new TextEncoder().encode('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}'), 63, 'a.st');
    expect(header.tensors[0]!.fileOffset).toBe(61);
    expect(lib.encodeSafetensorsHeader([], { framework: 'pt' }).bytes.byteLength).toBe(48);
    expect(lib.encodeSafetensorsHeader([{ name: 'w', dtype: 'F32', shape: [2, 3] }], { format: 'pt' }).entries[0]!.dataOffsets).toEqual([0, 24]);
    const sink = memorySink();
    const writer = await createSafetensorsWriter(sink, [{ name: 'x', dtype: 'U8', shape: [2], byteLength: 2 }]);
    await writer.write('x', Uint8Array.of(7, 8));
    await writer.close();
    expect(sink.bytes().byteLength).toBe(8 + 56 + 2);
    expect(lib.quantizedLayout('fc.weight', { dtype: 'qint4', shape: [4, 6], scheme: 'per_group_affine', axis: 1, groupSize: 4 }).entries
      .map((e) => [e.name, e.dtype, e.shape])).toEqual([['fc.weight', 'U8', [12]], ['fc.weight.scale', 'F32', [4, 2]], ['fc.weight.zero_point', 'I8', [4, 2]]]);
    expect(lib.describePlan({ dtype: 'qint8', shape: [3, 4], scheme: 'per_channel_affine', axis: -2 }).axis).toBe(0);
    expect([lib.floatToHalfBits(1), lib.floatToHalfBits(0.1), lib.floatToHalfBits(65520), lib.floatToHalfBits(2 ** -24)]).toEqual([0x3c00, 0x2e66, 0x7c00, 1]);
    expect(lib.safetensorsDTypeInfo('BF16')).toEqual({ name: 'BF16', bits: 16, weightDType: 'bfloat16' });
    expect([lib.toSafetensorsDType('float32'), lib.toSafetensorsDType('I8')]).toEqual(['F32', 'I8']);
    expect(lib.parseShardIndex('{"metadata":{"total_size":8},"weight_map":{"a":"m-1.safetensors"}}').weightMap.get('a')).toBe('m-1.safetensors');
  });
});
