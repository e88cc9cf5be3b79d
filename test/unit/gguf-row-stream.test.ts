// compressToGguf on one thread from a reader that reads ranges (a safetensors file): a float32 weight whose rows are
// the file's and that is larger than a block is planned and encoded a block of rows at a time, never read whole
// (but where a block changes its plan: a NaN in a late block), float16 and bfloat16 ones converted block by block, and the file and report are those of the same
// weights read whole (a reader without ranges), written as planned and after planning, for Q8_0 and Q4_0.
import { describe, expect, it } from 'vitest';
import { type CompressToGgufOptions, compressToGguf } from '../../src/compress/compress-gguf.js';
import { GGUF_STREAM_BLOCK_BYTES } from '../../src/compress/gguf-row-stream.js';
import { decideWeights } from '../../src/compress/policy.js';
import { floatToHalfBits } from '../../src/io/half.js';
import { bytesSource, memorySink, openSafetensors, serializeSafetensors } from '../../src/io/safetensors/index.js';
import type { WeightReader } from '../../src/io/weights.js';
import { RUN_SEED, normalData, rng } from './support.js';

/** 16-bit bits of float32 values, as bytes. */
const bits = (values: Float32Array, of: (v: number) => number): Uint8Array => new Uint8Array(Uint16Array.from(values, of).buffer);

/** Rows of uneven ranges, a block of zeros. */
function rows(n: number, k: number, next: () => number): Float32Array {
  const data = normalData(n * k, next, 0.05);
  for (let i = 0; i < data.length; i++) data[i] = data[i]! * (0.2 + (Math.floor(i / k) % 7));
  data.fill(0, 64, 96);
  return data;
}

describe('compressToGguf on one thread, a block of rows at a time', () => {
  it('gives the file and report of the whole weights, reading the big ones only in ranges', { timeout: 60000 }, async () => {
    const next = rng(RUN_SEED);
    const late = rows(2176, 512, next); // 4.25 MiB: two blocks, a NaN in the second
    late[late.length - 1 - Math.floor(next() * 512 * 100)] = NaN;
    const bytes = await serializeSafetensors([
      { name: 'a.weight', dtype: 'F32', shape: [2304, 512], data: rows(2304, 512, next) }, // 4.5 MiB: two blocks
      { name: 'b.weight', dtype: 'F32', shape: [256, 512], data: rows(256, 512, next) }, // one block: read whole
      { name: 'c.weight', dtype: 'F32', shape: [2176, 512], data: late },
      { name: 'd.weight', dtype: 'F32', shape: [1, 1_310_720], data: rows(1, 1_310_720, next) }, // one row of 5 MiB: one row a block
      { name: 'e.bias', dtype: 'F32', shape: [512], data: rows(1, 512, next) },
      // 16-bit, two blocks of rows once converted to float32
      { name: 'f.weight', dtype: 'BF16', shape: [2304, 512], data: bits(rows(2304, 512, next), (v) => new Uint32Array(Float32Array.of(v).buffer)[0]! >>> 16) },
      { name: 'g.weight', dtype: 'F16', shape: [2304, 512], data: bits(rows(2304, 512, next), floatToHalfBits) },
    ]);
    const ranged = await openSafetensors(bytesSource(bytes, 'model.safetensors'));
    const wholeReads: string[] = [];
    const counting: WeightReader = Object.assign(Object.create(null) as object, {
      list: () => ranged.list(),
      read: (name: string) => {
        wholeReads.push(name);
        return ranged.read(name);
      },
      readRangeInto: (name: string, offset: number, target: Uint8Array) => ranged.readRangeInto(name, offset, target),
    });
    const plain: WeightReader = { list: () => ranged.list(), read: (name) => ranged.read(name) }; // no ranges: every weight read whole
    for (const dtype of ['qint8', 'qint4'] as const) {
      const decisions = decideWeights(ranged.list(), { dtype, granularity: 'group', groupSize: 32 });
      const compress = async (reader: WeightReader, options: CompressToGgufOptions) => {
        const sink = memorySink();
        const report = await compressToGguf(reader, decisions, sink, options);
        return { bytes: sink.bytes(), report: { ...report, seconds: 0 } };
      };
      const whole = await compress(plain, {});
      const block = dtype === 'qint8' ? 'Q8_0' : 'Q4_0';
      expect(whole.report.tensors.map((t) => t.ggmlType)).toEqual([block, block, 'F32', block, 'F32', block, block]);
      for (const speculate of [true, false]) {
        const what = `${dtype}, speculate ${speculate}`;
        wholeReads.length = 0;
        const streamed = await compress(counting, { speculate });
        expect(Buffer.compare(streamed.bytes, whole.bytes), what).toBe(0);
        expect(streamed.report, what).toEqual(whole.report);
        // a, d, f and g never whole. c: written as planned, read whole once its second block showed the NaN (its plan then
        // differs from the assumed one: the file is written again after planning), and again to be written as kept;
        // written after planning, planned from its blocks and read whole only to be written.
        const big = wholeReads.filter((name) => name !== 'b.weight' && name !== 'e.bias');
        expect(big, what).toEqual(speculate ? ['c.weight', 'c.weight'] : ['c.weight']);
      }
    }
    expect(2304 * 512 * 4).toBeGreaterThan(GGUF_STREAM_BLOCK_BYTES);
  });
});
