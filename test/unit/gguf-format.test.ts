// GGUF blocks, writer and reader on their own: ggml's block sizes and type numbers (checked against
// @huggingface/gguf's enums and ggml's published 34 / 18 bytes per 32 weights), ggml's reference rounding on
// hand-made blocks whose answers differ from PyTorch's (halves away from zero for Q8_0, the signed maximum
// and the clipped opposite extreme for Q4_0), the nibble order, the all-zero block, every weight within one
// block step on fresh random rows, and a damaged file giving a FormatError at every truncation.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GGMLQuantizationType, gguf } from '@huggingface/gguf';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import {
  GGML_BLOCK_SIZE, Q4_0_BLOCK_BYTES, Q8_0_BLOCK_BYTES, createGgufWriter, dequantizeRowQ4_0, dequantizeRowQ8_0, ggmlTensorBytes,
  ggmlTypeInfo, memorySink, quantizeRowQ4_0, quantizeRowQ8_0, readGguf,
} from '../../src/models.js';
import { RUN_SEED, normalData, rng } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'webgpu-quant-gguf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** float16 bits to a number, from the IEEE 754 definition (independent of the library's converter). */
function half(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** Block `b` of a Q8_0 / Q4_0 buffer as the format defines it: d, then the 32 integers in element order. */
function decodeBlock(bytes: Uint8Array, type: 'Q8_0' | 'Q4_0', b: number): { d: number; q: number[]; values: number[] } {
  const size = type === 'Q8_0' ? 34 : 18;
  const at = b * size;
  const d = half(bytes[at]! | (bytes[at + 1]! << 8));
  const q: number[] = [];
  if (type === 'Q8_0') for (let j = 0; j < 32; j++) q.push(((bytes[at + 2 + j]! << 24) >> 24));
  else {
    for (let j = 0; j < 16; j++) q[j] = (bytes[at + 2 + j]! & 15) - 8;
    for (let j = 0; j < 16; j++) q[16 + j] = (bytes[at + 2 + j]! >> 4) - 8;
  }
  return { d, q, values: q.map((v) => Math.fround(v * d)) };
}

function block(values: number[]): Float32Array {
  const out = new Float32Array(32);
  out.set(values);
  return out;
}

describe('ggml block types', () => {
  it('have ggml\'s sizes and type numbers', () => {
    expect([GGML_BLOCK_SIZE, Q8_0_BLOCK_BYTES, Q4_0_BLOCK_BYTES]).toEqual([32, 34, 18]); // sizeof(block_q8_0), sizeof(block_q4_0)
    expect(ggmlTypeInfo('Q8_0').id).toBe(GGMLQuantizationType.Q8_0);
    expect(ggmlTypeInfo('Q4_0').id).toBe(GGMLQuantizationType.Q4_0);
    expect(ggmlTypeInfo('F16').id).toBe(GGMLQuantizationType.F16);
    expect(ggmlTypeInfo('F32').id).toBe(GGMLQuantizationType.F32);
    expect(ggmlTypeInfo('BF16').id).toBe(GGMLQuantizationType.BF16);
    expect(ggmlTensorBytes('Q8_0', [4096, 1024])).toBe(1024 * 128 * 34);
    expect(ggmlTensorBytes('Q4_0', [4096, 1024])).toBe(1024 * 128 * 18);
    expect(quantizeRowQ8_0(new Float32Array(96)).byteLength).toBe(3 * 34);
    expect(quantizeRowQ4_0(new Float32Array(96)).byteLength).toBe(3 * 18);
    expect(() => quantizeRowQ8_0(new Float32Array(33))).toThrow(/multiple of 32/);
  });

  it('Q8_0 rounds halves away from zero with id = 1/d from the float32 d (ggml\'s reference, not PyTorch\'s half-to-even)', () => {
    const bytes = quantizeRowQ8_0(block([127, 2.5, -2.5, 0.5, -0.5, 1.5, -126.5]));
    const { d, q } = decodeBlock(bytes, 'Q8_0', 0);
    expect(d).toBe(1);
    expect(q.slice(0, 8)).toEqual([127, 3, -3, 1, -1, 2, -127, 0]);
  });

  it('Q4_0 takes the signed maximum (the first on a tie), maps it to -8 and clips the opposite extreme to 7', () => {
    const negative = decodeBlock(quantizeRowQ4_0(block([-8, 8, 4, -4, 0.5, -0.5, 7.4, -7.6])), 'Q4_0', 0);
    expect(negative.d).toBe(1); // d = max / -8 = -8 / -8
    expect(negative.values.slice(0, 9)).toEqual([-8, 7, 4, -4, 1, 0, 7, -8, 0]); // 0.5 + 8.5 → 9; -0.5 + 8.5 → 8
    const positive = decodeBlock(quantizeRowQ4_0(block([8, -8, 2])), 'Q4_0', 0);
    expect(positive.d).toBe(-1); // max = 8 (first of |8| = |-8|), d = 8 / -8
    expect(positive.q.slice(0, 3)).toEqual([-8, 7, -2]);
    expect(positive.values.slice(0, 3)).toEqual([8, -7, 2]);
  });

  it('Q4_0 keeps elements 0..15 in the low nibbles and 16..31 in the high nibbles', () => {
    const values = Array.from({ length: 32 }, (_, i) => (i < 16 ? -8 : 7));
    const bytes = quantizeRowQ4_0(block(values));
    for (let j = 0; j < 16; j++) expect(bytes[2 + j]).toBe(0xf0); // low nibble 0 (−8), high 15 (+7)
  });

  it('an all-zero block has d = 0 and dequantizes to zeros; one huge value keeps the rest near zero', () => {
    const zero8 = quantizeRowQ8_0(new Float32Array(32));
    expect([...zero8]).toEqual(new Array(34).fill(0));
    const zero4 = quantizeRowQ4_0(new Float32Array(32));
    expect([...zero4.subarray(2)]).toEqual(new Array(16).fill(0x88));
    expect([...dequantizeRowQ8_0(zero8, 32), ...dequantizeRowQ4_0(zero4, 32)].every((v) => v === 0)).toBe(true);
    const spike = block([0.001, -0.002, 60000]);
    const q8 = decodeBlock(quantizeRowQ8_0(spike), 'Q8_0', 0);
    expect(q8.q.slice(0, 3)).toEqual([0, 0, 127]);
    expect(Math.abs(q8.values[2]! - 60000)).toBeLessThanOrEqual(Math.abs(q8.d));
  });

  for (const type of ['Q8_0', 'Q4_0'] as const) {
    it(`${type}: every weight of random rows is within one block step, and the library's dequantize matches the format (seed ${RUN_SEED})`, () => {
      const next = rng(RUN_SEED);
      const row = normalData(32 * 64, next);
      for (let i = 0; i < row.length; i++) row[i] = row[i]! * 10 ** (3 * next() - 2); // scales from 0.01 to 10
      const bytes = type === 'Q8_0' ? quantizeRowQ8_0(row) : quantizeRowQ4_0(row);
      const library = type === 'Q8_0' ? dequantizeRowQ8_0(bytes, row.length) : dequantizeRowQ4_0(bytes, row.length);
      const bad: string[] = [];
      for (let b = 0; b < 64; b++) {
        const { d, values } = decodeBlock(bytes, type, b);
        for (let j = 0; j < 32; j++) {
          const i = b * 32 + j;
          if (library[i] !== values[j]) bad.push(`${i}: format ${values[j]}, library ${library[i]}`);
          // One step |d|; plus the float16 rounding of d times at most 8 steps (Q4_0's clipped extreme: 8d stored as 7·d16).
          if (Math.abs(row[i]! - values[j]!) > Math.abs(d) * (1 + 8 * 2 ** -11)) bad.push(`${i}: x ${row[i]}, x̂ ${values[j]}, d ${d}`);
        }
      }
      expect(bad.slice(0, 10)).toEqual([]);
    });
  }
});

describe('GGUF writer and reader', () => {
  async function smallFile(): Promise<Uint8Array> {
    const sink = memorySink();
    const writer = await createGgufWriter(sink, [
      { key: 'general.architecture', type: 'string', value: 'test' },
      { key: 'general.alignment', type: 'uint32', value: 32 },
    ], [{ name: 'a', type: 'F32', ne: [3] }, { name: 'b', type: 'Q8_0', ne: [32, 2] }]);
    await writer.write('a', new Uint8Array(new Float32Array([1, 2, 3]).buffer));
    await writer.write('b', quantizeRowQ8_0(Float32Array.from({ length: 64 }, (_, i) => i - 32)));
    await writer.close();
    expect(sink.bytes().byteLength).toBe(writer.byteLength);
    return sink.bytes();
  }

  it('writes what @huggingface/gguf and readGguf both parse, tensors aligned to 32', async () => {
    const bytes = await smallFile();
    const path = join(dir, 'small.gguf');
    writeFileSync(path, bytes);
    const parsed = await gguf(path, { allowLocalFile: true });
    expect(parsed.metadata.version).toBe(3);
    expect(parsed.metadata['general.architecture']).toBe('test');
    expect(parsed.tensorInfos.map((t) => [t.name, t.shape.map(Number), t.dtype, Number(t.offset)])).toEqual([
      ['a', [3], GGMLQuantizationType.F32, 0], ['b', [32, 2], GGMLQuantizationType.Q8_0, 32],
    ]);
    const ours = readGguf(bytes);
    expect(ours.dataOffset).toBe(Number(parsed.tensorDataOffset));
    expect(ours.tensors.map((t) => [t.name, t.type, t.shape, t.byteLength])).toEqual([['a', 'F32', [3], 12], ['b', 'Q8_0', [2, 32], 68]]);
  });

  it('refuses out-of-order, wrong-sized and missing tensors', async () => {
    const sink = memorySink();
    const writer = await createGgufWriter(sink, [], [{ name: 'a', type: 'F16', ne: [4] }, { name: 'b', type: 'F16', ne: [4] }]);
    await expect(writer.write('b', new Uint8Array(8))).rejects.toThrow(/expected tensor "a" next/);
    await expect(writer.write('a', new Uint8Array(6))).rejects.toThrow(/needs 8 bytes, got 6/);
    await writer.write('a', new Uint8Array(8));
    await expect(writer.close()).rejects.toThrow(/only 1 of 2 tensors/);
    await expect(createGgufWriter(memorySink(), [], [{ name: 'q', type: 'Q4_0', ne: [48] }])).rejects.toThrow(/multiple of 32/);
    await expect(createGgufWriter(memorySink(), [], [{ name: 'r5', type: 'F32', ne: [2, 2, 2, 2, 2] }])).rejects.toThrow(/r5: 5 dims; ggml holds 1 to 4/);
    await expect(createGgufWriter(memorySink(), [], [{ name: 'd', type: 'F32', ne: [1] }, { name: 'd', type: 'F32', ne: [1] }])).rejects.toThrow(/appears twice/);
  });

  it('gives a FormatError, never a crash, for every truncation and for a bad magic', async () => {
    const bytes = await smallFile();
    const { dataOffset: header, tensors } = readGguf(bytes);
    const end = tensors.at(-1)!.offset + tensors.at(-1)!.byteLength!; // the padding after the last tensor is optional
    expect(() => readGguf(bytes.subarray(0, end))).not.toThrow();
    for (let n = 0; n < end; n += n < header ? 1 : 7) {
      expect(() => readGguf(bytes.subarray(0, n)), `truncated to ${n}`).toThrow(FormatError);
    }
    const bad = bytes.slice();
    bad[0] = 0x58;
    expect(() => readGguf(bad, 'x.gguf')).toThrow(/x\.gguf: no GGUF magic/);
  });
});
