// MatMulNBits blocks back to one integer a byte (io/onnx/nbits-unpack.ts): the WebAssembly kernel and the
// JavaScript loop against the layout written out element by element (column c's block b at (c · blocks + b) · blob,
// element j in the low nibble of byte j / 2 when even, the high one when odd; (stored XOR mask) - offset), on fresh
// random blobs and masks: 4 and 8 bits, signed and unsigned readings, ragged last blocks (odd ones at 4 bits),
// column counts around the 64-column tile, one column, one row.
import { describe, expect, it } from 'vitest';
import { type NBitsLayout, jsNBitsUnpack, simdNBitsUnpack, unpackNBits } from '../../src/io/onnx/nbits-unpack.js';
import { RUN_SEED, expectExact, rng } from './support.js';

const next = rng(RUN_SEED);

/** The weight [K, N] by the layout's definition, one element at a time. */
function byDefinition(blobs: Uint8Array, masks: Uint8Array, { k, n, blockSize, bits, offset }: NBitsLayout): number[] {
  const blocks = Math.ceil(k / blockSize);
  const blob = (blockSize * bits) / 8;
  const out: number[] = [];
  for (let r = 0; r < k; r++) {
    for (let c = 0; c < n; c++) {
      const b = Math.floor(r / blockSize);
      const j = r % blockSize;
      const at = (c * blocks + b) * blob;
      const stored = bits === 8 ? blobs[at + j]! : (blobs[at + (j >> 1)]! >> (4 * (j & 1))) & 15;
      out.push((stored ^ masks[b * n + c]!) - offset);
    }
  }
  return out;
}

describe(`MatMulNBits blocks unpacked (seed ${RUN_SEED})`, () => {
  const cases: [number, number, number, 4 | 8][] = [
    [32, 64, 32, 4], [33, 65, 32, 4], [31, 63, 16, 4], [1, 1, 16, 4], [100, 130, 32, 4], [512, 300, 128, 4], [17, 5, 16, 4],
    [32, 64, 32, 8], [47, 129, 16, 8], [1, 70, 32, 8], [260, 33, 64, 8],
  ];
  for (const [k, n, blockSize, bits] of cases) {
    for (const signed of [true, false]) {
      it(`K ${k}, N ${n}, blocks of ${blockSize}, ${bits} bits, ${signed ? 'signed' : 'unsigned'}: the kernel and the loop write the layout's integers`, () => {
        const blocks = Math.ceil(k / blockSize);
        const blobs = Uint8Array.from({ length: n * blocks * (blockSize * bits) / 8 }, () => Math.floor(next() * 256));
        const masks = Uint8Array.from({ length: blocks * n }, () => (next() < 0.3 ? 2 ** bits - 1 : 0));
        const layout: NBitsLayout = { k, n, blockSize, bits, offset: signed ? 2 ** (bits - 1) : 0 };
        const expected = byDefinition(blobs, masks, layout);
        const make = () => (signed ? new Int8Array(k * n).fill(99) : new Uint8Array(k * n).fill(99));
        const simd = make();
        expect(simdNBitsUnpack(blobs, simd, masks, layout)).toBe(true);
        expectExact(simd, expected, 'WebAssembly');
        const js = make();
        jsNBitsUnpack(blobs, js, masks, layout);
        expectExact(js, expected, 'JavaScript');
        const either = make();
        unpackNBits(blobs, either, masks, layout);
        expectExact(either, expected, 'unpackNBits');
      });
    }
  }

  it('the kernel writes nothing for an array of the wrong size (the loop\'s caller sizes it)', () => {
    const into = new Int8Array(5).fill(7);
    expect(simdNBitsUnpack(new Uint8Array(16), into, new Uint8Array(1), { k: 32, n: 1, blockSize: 32, bits: 4, offset: 8 })).toBe(false);
    expect(Array.from(into)).toEqual([7, 7, 7, 7, 7]);
  });
});
