// GatherBlockQuantized's data input (packGatherData) against the layout written out one integer at a time, as the
// writer's module documentation states it: fresh random integers, 4 and 8 bits, signed and unsigned, negated blocks,
// rows whose last block is short, one integer a byte and (4-bit) packed two to a byte.
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { packGatherData } from '../../src/io/onnx/gather-block-data.js';
import { packNibbles } from '../../src/pack-nibbles.js';
import { RUN_SEED, rng } from './support.js';

/** The layout one integer at a time: row r, column j; a negated (row, block) stores -(q + 1). */
function reference(values: ArrayLike<number>, rows: number, D: number, blockSize: number, bits: 4 | 8, offset: number, negated: Uint8Array): Uint8Array {
  const blocks = Math.ceil(D / blockSize);
  const out = new Uint8Array((rows * D * bits) / 8);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < D; j++) {
      const i = r * D + j;
      const q = values[i]!;
      const stored = (negated[r * blocks + Math.floor(j / blockSize)] ? -(q + 1) : q) + offset;
      if (bits === 8) out[i] = stored;
      else out[i >> 1]! |= (stored & 0xf) << ((i & 1) * 4);
    }
  }
  return out;
}

describe(`GatherBlockQuantized data (seed ${RUN_SEED})`, () => {
  it('packGatherData writes the documented layout byte for byte, from integers a byte each and packed two to a byte', () => {
    const next = rng(RUN_SEED + 5);
    const cases: [number, number, number, 4 | 8, 'signed' | 'unsigned'][] = [
      [7, 64, 32, 4, 'signed'], [5, 70, 32, 4, 'signed'], [9, 18, 16, 4, 'unsigned'], [3, 256, 128, 4, 'signed'],
      [6, 64, 32, 8, 'signed'], [4, 70, 64, 8, 'unsigned'], [1, 3, 16, 8, 'signed'], [11, 38, 16, 4, 'signed'],
    ];
    for (const [rows, D, blockSize, bits, sign] of cases) {
      const what = `rows ${rows}, D ${D}, block ${blockSize}, ${bits} bits, ${sign}`;
      const levels = 1 << bits;
      const low = sign === 'signed' ? -levels / 2 : 0;
      const offset = sign === 'signed' ? levels / 2 : 0;
      const draw = () => low + Math.floor(next() * levels);
      const values = sign === 'signed' ? Int8Array.from({ length: rows * D }, draw) : Uint8Array.from({ length: rows * D }, draw);
      const blocks = Math.ceil(D / blockSize);
      const negated = Uint8Array.from({ length: rows * blocks }, () => (sign === 'signed' && next() < 0.4 ? 1 : 0));
      if (sign === 'signed') negated[negated.length - 1] = 1; // at least one block stored negated, however few there are
      const expected = reference(values, rows, D, blockSize, bits, offset, negated);
      expect(Buffer.compare(packGatherData(values, rows, D, blockSize, bits, offset, negated), expected), what).toBe(0);
      expect(Buffer.compare(packGatherData(Array.from(values), rows, D, blockSize, bits, offset, negated), expected), `${what}, array`).toBe(0);
      // Into memory used before (every byte written, whatever it held).
      const into = Uint8Array.from({ length: expected.length }, () => Math.floor(next() * 256));
      expect(packGatherData(values, rows, D, blockSize, bits, offset, negated, into), what).toBe(into);
      expect(Buffer.compare(into, expected), `${what}, into`).toBe(0);
      if (bits === 8) {
        expect(() => packGatherData({ nibbles: new Uint8Array(rows * D) }, rows, D, blockSize, bits, offset, negated), what).toThrow(InvalidArgumentError);
        continue;
      }
      const nibbles = packNibbles(values);
      expect(Buffer.compare(packGatherData({ nibbles }, rows, D, blockSize, bits, offset, negated), expected), `${what}, packed`).toBe(0);
      const offWord = new Uint8Array(nibbles.length + 1).subarray(1);
      offWord.set(nibbles);
      into.fill(0x5a);
      packGatherData({ nibbles: offWord }, rows, D, blockSize, bits, offset, negated, into);
      expect(Buffer.compare(into, expected), `${what}, packed, off a word, into`).toBe(0);
    }
  });

  it('refuses memory of the wrong length', () => {
    expect(() => packGatherData(new Int8Array(8), 2, 4, 16, 8, 128, new Uint8Array(2), new Uint8Array(7))).toThrow(/8 bytes, not 7/);
  });
});
