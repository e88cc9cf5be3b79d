// openGguf (io/gguf/open-gguf.ts): a GGUF file read by range gives what readGguf gives for the same bytes in
// memory, reading the header's bytes and the tensors asked for, never the whole file: a header that goes on past
// the first read (metadata of 2.5 MB) is read again longer; every truncation is the FormatError readGguf gives;
// a header claiming more than GGUF_MAX_HEADER_BYTES is refused without reading that far.
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { GGUF_MAX_HEADER_BYTES, openGguf } from '../../src/io/gguf/open-gguf.js';
import { halfToFloat } from '../../src/io/float-convert.js';
import { type ByteSource, bytesSource, createGgufWriter, ggmlToFloat32, ggufTensorFloat32, memorySink, quantizeRowQ8_0, readGguf } from '../../src/models.js';
import { RUN_SEED, normalData, rng } from './support.js';

/** `inner` with every read's range recorded. */
function recorded(inner: ByteSource): { source: ByteSource; reads: [number, number][] } {
  const reads: [number, number][] = [];
  return { reads, source: { size: inner.size, name: inner.name, read: async (offset, length) => { reads.push([offset, length]); return inner.read(offset, length); } } };
}

async function file(note: string): Promise<Uint8Array> {
  const next = rng(RUN_SEED);
  const sink = memorySink();
  const w = Float32Array.from(normalData(32 * 4096, next, 1));
  const writer = await createGgufWriter(sink, [
    { key: 'general.architecture', type: 'string', value: 'test' },
    { key: 'general.description', type: 'string', value: note },
  ], [{ name: 'a', type: 'F32', ne: [3] }, { name: 'w', type: 'Q8_0', ne: [4096, 32] }]);
  await writer.write('a', new Uint8Array(Float32Array.of(1, -2, 3).buffer));
  await writer.write('w', quantizeRowQ8_0(w));
  await writer.close();
  return sink.bytes();
}

describe('openGguf', () => {
  for (const [label, note] of [['a small header', 'short'], ['a header past the first mebibyte', 'x'.repeat(2_500_000)]] as const) {
    it(`${label}: readGguf's header and tensors, the header's bytes and the tensors asked for read`, async () => {
      const bytes = await file(note);
      const inMemory = readGguf(bytes, 'm.gguf');
      const { source, reads } = recorded(bytesSource(bytes, 'm.gguf'));
      const opened = await openGguf(source);
      const { bytes: _, ...header } = inMemory;
      expect({ ...opened, readTensor: undefined, close: undefined }).toEqual({ ...header, readTensor: undefined, close: undefined });
      const headerReads = reads.length;
      expect(reads.every(([offset, length]) => offset === 0 && length <= Math.max(1 << 20, 2 * inMemory.dataOffset)), JSON.stringify(reads)).toBe(true);
      expect(headerReads).toBe(note.length > 1 << 20 ? 2 : 1);
      const w = opened.tensors.find((t) => t.name === 'w')!;
      const stored = await opened.readTensor(w);
      expect(stored).toEqual(bytes.subarray(w.offset, w.offset + w.byteLength!));
      expect(reads.slice(headerReads)).toEqual([[w.offset, w.byteLength]]);
      expect(ggmlToFloat32(w.type, stored, 32 * 4096, w.name)).toEqual(ggufTensorFloat32(inMemory, w));
      await opened.close();
    });
  }

  it('every truncation of the header and the tensor infos is the FormatError readGguf gives', async () => {
    const bytes = await file('short');
    const { dataOffset, tensors } = readGguf(bytes);
    const end = tensors.at(-1)!.offset + tensors.at(-1)!.byteLength!;
    for (let n = 0; n < end; n += n < dataOffset + 64 ? 1 : 997) {
      const cut = bytes.subarray(0, n);
      const expected = (() => { try { readGguf(cut, 't.gguf'); return undefined; } catch (error) { return error as Error; } })();
      const error = await openGguf(bytesSource(cut), 't.gguf').then(() => undefined, (e: unknown) => e);
      expect(error, `truncated to ${n}`).toBeInstanceOf(FormatError);
      expect((error as Error).message, `truncated to ${n}`).toBe(expected!.message);
    }
  });

  it('a header claiming more than GGUF_MAX_HEADER_BYTES is refused, the file read no further than its first mebibyte', async () => {
    const head = await file('short');
    // The description's length (the u64 after its key and its value type) made huge.
    const key = new TextEncoder().encode('general.description');
    let keyAt = -1;
    for (let i = 0; i < 400 && keyAt < 0; i++) if (key.every((b, j) => head[i + j] === b)) keyAt = i;
    expect(keyAt).toBeGreaterThan(0);
    const lengthAt = keyAt + key.length + 4; // the value type (u32), then the string's u64 length
    const size = GGUF_MAX_HEADER_BYTES + (1 << 22);
    const header = head.slice(0, 4096);
    new DataView(header.buffer).setBigUint64(lengthAt, BigInt(GGUF_MAX_HEADER_BYTES + 100), true);
    const reads: [number, number][] = [];
    const source: ByteSource = {
      size,
      read: async (offset, length) => {
        reads.push([offset, length]);
        const out = new Uint8Array(length);
        if (offset < header.length) out.set(header.subarray(offset, Math.min(header.length, offset + length)));
        return out;
      },
    };
    const error = await openGguf(source, 'huge.gguf').then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(FormatError);
    expect((error as Error).message).toMatch(/^huge\.gguf: a GGUF header of more than 268435456 bytes \(its metadata reaches byte \d+\) is implausible/);
    expect(reads).toEqual([[0, 1 << 20]]);
  });
});

describe('ggmlToFloat32 on float tensors', () => {
  it('reads F32, F16 and BF16 exactly (every 16-bit pattern, at an odd offset too), and refuses bytes too short for the count', () => {
    const next = rng(RUN_SEED + 5);
    const patterns = Uint16Array.from({ length: 65536 + 37 }, (_, i) => (i < 65536 ? i : Math.floor(next() * 65536)));
    const values = Float32Array.from({ length: 1001 }, () => (next() - 0.5) * 2 ** Math.floor(next() * 60 - 30));
    const bitsOf = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length), (b, i) => (Number.isNaN(a[i]) ? -1 : b));
    for (const shift of [0, 1]) {
      const at = (bytes: Uint8Array) => { const backing = new Uint8Array(bytes.byteLength + shift + 3); backing.set(bytes, shift); return backing.subarray(shift); };
      const halves = at(new Uint8Array(patterns.buffer));
      expect(bitsOf(ggmlToFloat32('F16', halves, patterns.length)), `F16 at ${shift}`).toEqual(bitsOf(Float32Array.from(patterns, halfToFloat)));
      expect(bitsOf(ggmlToFloat32('BF16', halves, patterns.length)), `BF16 at ${shift}`)
        .toEqual(bitsOf(new Float32Array(Uint32Array.from(patterns, (h) => h * 65536).buffer)));
      expect(bitsOf(ggmlToFloat32('F32', at(new Uint8Array(values.buffer)), values.length)), `F32 at ${shift}`).toEqual(bitsOf(values));
      expect(ggmlToFloat32('F16', halves, 10)).toHaveLength(10); // the first elements of a longer buffer
    }
    for (const type of ['F32', 'F16', 'BF16'] as const) {
      expect(() => ggmlToFloat32(type, new Uint8Array(7), 4, 'blk.0.weight')).toThrow(FormatError);
      expect(() => ggmlToFloat32(type, new Uint8Array(7), 4, 'blk.0.weight')).toThrow(/blk\.0\.weight: 7 bytes hold fewer than its 4/);
    }
  });
});

