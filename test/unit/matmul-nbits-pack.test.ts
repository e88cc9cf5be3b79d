// MatMulNBits' B input (packBlocks) against the layout written out element by element, column by column, as the
// module documentation states it: fresh random integers, 4 and 8 bits, signed and unsigned, negated blocks, K a
// multiple of the block size and not, one column and many.
import { describe, expect, it } from 'vitest';
import { blockParameters, groupParametersAgain, packBlocks } from '../../src/io/onnx/matmul-nbits-blocks.js';
import { packNibbles } from '../../src/pack-nibbles.js';
import { RUN_SEED, rng } from './support.js';

/** The layout one integer at a time: column n, block b, row j of the block; past K the block's zero point. */
function reference(values: ArrayLike<number>, K: number, N: number, blockSize: number, bits: 4 | 8, offset: number, negated: Uint8Array, zeros: Uint8Array): Uint8Array {
  const blocks = Math.ceil(K / blockSize);
  const blob = (blockSize * bits) / 8;
  const data = new Uint8Array(N * blocks * blob);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < blocks; b++) {
      const base = (n * blocks + b) * blob;
      const flip = negated[n * blocks + b] === 1;
      for (let j = 0; j < blockSize; j++) {
        const k = b * blockSize + j;
        const stored = k >= K ? zeros[n * blocks + b]! : (flip ? -(values[k * N + n]! + 1) : values[k * N + n]!) + offset;
        if (bits === 8) data[base + j] = stored;
        else data[base + (j >> 1)]! |= (stored & 0xf) << ((j & 1) * 4);
      }
    }
  }
  return data;
}

describe(`MatMulNBits blocks (seed ${RUN_SEED})`, () => {
  it('packBlocks writes the documented layout byte for byte', () => {
    const next = rng(RUN_SEED);
    const cases: [number, number, number, 4 | 8, 'signed' | 'unsigned'][] = [
      [64, 48, 32, 4, 'signed'], [70, 33, 32, 4, 'signed'], [17, 5, 16, 4, 'unsigned'], [256, 1, 128, 4, 'signed'],
      [64, 48, 32, 8, 'signed'], [70, 33, 64, 8, 'unsigned'], [1, 3, 16, 8, 'signed'], [31, 9, 16, 4, 'unsigned'],
      // N a multiple of 4: whole blocks four columns a word (the last block of K 100 and 40 row by row).
      [96, 64, 32, 4, 'signed'], [100, 8, 32, 8, 'signed'], [64, 16, 16, 8, 'unsigned'], [40, 12, 16, 4, 'unsigned'],
      [64, 200, 32, 4, 'signed'], [48, 132, 16, 8, 'signed'], [32, 260, 32, 4, 'unsigned'],
      // 4-bit, N a multiple of 8: packed nibbles eight columns a word (K 72 and 50: the last block row by row).
      [64, 8, 16, 4, 'signed'], [72, 40, 32, 4, 'signed'], [50, 24, 16, 4, 'unsigned'], [256, 64, 256, 4, 'signed'],
    ];
    for (const [K, N, blockSize, bits, sign] of cases) {
      const what = `K ${K}, N ${N}, block ${blockSize}, ${bits} bits, ${sign}`;
      const levels = 1 << bits;
      const low = sign === 'signed' ? -levels / 2 : 0;
      const offset = sign === 'signed' ? levels / 2 : 0;
      const draw = () => low + Math.floor(next() * levels);
      const values = sign === 'signed' ? Int8Array.from({ length: K * N }, draw) : Uint8Array.from({ length: K * N }, draw);
      const blocks = Math.ceil(K / blockSize);
      const negated = Uint8Array.from({ length: N * blocks }, () => (sign === 'signed' && next() < 0.4 ? 1 : 0));
      const zeros = Uint8Array.from({ length: N * blocks }, () => Math.floor(next() * levels));
      const got = packBlocks(values, K, N, blockSize, bits, offset, negated, zeros);
      expect(got.byteLength, what).toBe(N * blocks * blockSize * bits / 8);
      const expected = reference(values, K, N, blockSize, bits, offset, negated, zeros);
      expect(Buffer.compare(got, expected), what).toBe(0);
      // The same integers off a word boundary, and as a plain array: the same bytes.
      const shifted = new (values.constructor as Int8ArrayConstructor)(values.length + 1).subarray(1);
      shifted.set(values);
      expect(Buffer.compare(packBlocks(shifted, K, N, blockSize, bits, offset, negated, zeros), expected), `${what}, offset 1`).toBe(0);
      expect(Buffer.compare(packBlocks(Array.from(values), K, N, blockSize, bits, offset, negated, zeros), expected), `${what}, array`).toBe(0);
      // Into memory used before (every byte written, whatever it held); memory of another length is refused.
      const into = Uint8Array.from({ length: expected.length }, () => Math.floor(next() * 256));
      expect(packBlocks(values, K, N, blockSize, bits, offset, negated, zeros, into), what).toBe(into);
      expect(Buffer.compare(into, expected), `${what}, into`).toBe(0);
      expect(() => packBlocks(values, K, N, blockSize, bits, offset, negated, zeros, into.subarray(1)), what).toThrow(/bytes on a 4-byte boundary/);
      if (bits === 8) {
        expect(() => packBlocks({ nibbles: new Uint8Array(K * N) }, K, N, blockSize, bits, offset, negated, zeros), what).toThrow(/4-bit/);
        continue;
      }
      // 4-bit integers packed two to a byte in the weight's order, on a word boundary and off it: the same bytes.
      const nibbles = packNibbles(values);
      expect(Buffer.compare(packBlocks({ nibbles }, K, N, blockSize, bits, offset, negated, zeros), expected), `${what}, packed`).toBe(0);
      const offWord = new Uint8Array(nibbles.length + 1).subarray(1);
      offWord.set(nibbles);
      expect(Buffer.compare(packBlocks({ nibbles: offWord }, K, N, blockSize, bits, offset, negated, zeros), expected), `${what}, packed, offset 1`).toBe(0);
      into.fill(0x5a);
      packBlocks({ nibbles }, K, N, blockSize, bits, offset, negated, zeros, into);
      expect(Buffer.compare(into, expected), `${what}, packed, into`).toBe(0);
    }
  });
});

describe('groupParametersAgain', () => {
  it(`gives back the group parameters blockParameters stored (negated blocks, zero points), for signed and unsigned types (seed ${RUN_SEED})`, () => {
    const next = rng(RUN_SEED + 77);
    for (const [bits, offset, N, blocks] of [[4, 8, 37, 5], [4, 0, 16, 3], [8, 128, 5, 9], [8, 0, 33, 1]] as const) {
      const count = N * blocks;
      const max = (1 << bits) - 1;
      const scales = Float32Array.from({ length: count }, () => Math.fround(0.001 + next()));
      // Signed: zero points of 0 and -1 (Q4_0's range) and others; unsigned: anything in range.
      const zeroPoints = Int32Array.from({ length: count }, () => (offset
        ? [0, -1, Math.floor(next() * (max + 1)) - offset][Math.floor(next() * 3)]! : Math.floor(next() * (max + 1))));
      const [stored, zeros, negated] = [new Float32Array(count), new Uint8Array(count), new Uint8Array(count)];
      blockParameters(scales, zeroPoints, N, blocks, N, 1, offset, stored, zeros, negated);
      if (offset) expect(negated.some((x) => x === 1), 'some blocks negated').toBe(true);
      const again = groupParametersAgain(stored, zeros, negated, N, blocks, offset);
      expect(again.scales).toEqual(scales);
      expect(Array.from(again.zeroPoints)).toEqual(Array.from(zeroPoints));
    }
  });
});
