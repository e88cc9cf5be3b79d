// A QTensor holding 4-bit integers packed two to a byte (as the GPU reads them back): every accessor gives the
// bits of the same tensor built from one integer per element, and the packed bytes are unpacked only once.
import { describe, expect, it } from 'vitest';
import { dtypeInfo } from '../../src/dtype.js';
import { packNibbles } from '../../src/pack-nibbles.js';
import { QTensor, checkQParams } from '../../src/qtensor.js';
import { dequantize } from '../../src/reference/dequantize.js';
import { RUN_SEED, expectExact, rng } from './support.js';

function randomInts(n: number, dtype: 'qint4' | 'quint4', seed: number): Int8Array | Uint8Array {
  const { qmin, qmax } = dtypeInfo(dtype);
  const next = rng(seed);
  const out = dtype === 'qint4' ? new Int8Array(n) : new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = qmin + Math.floor(next() * (qmax - qmin + 1));
  return out;
}

describe('QTensor with packed 4-bit integers', () => {
  for (const dtype of ['qint4', 'quint4'] as const) {
    for (const n of [1, 2, 7, 33, 1000]) {
      it(`${dtype}, ${n} elements: the same tensor as one integer per element`, () => {
        const ints = randomInts(n, dtype, RUN_SEED + n);
        const params = checkQParams([n], dtype, { scale: 0.25, zeroPoint: dtype === 'qint4' ? -1 : 9 });
        // Bytes past ceil(n / 2) (the GPU's padding to whole vecs) are ignored, and an odd length's padding nibble is cleared.
        const padded = new Uint8Array(Math.ceil(n / 2) + 15).fill(0xff);
        padded.set(packNibbles(ints));
        if (n % 2 === 1) padded[(n - 1) / 2]! |= 0xa0; // the GPU leaves its padding nibble undefined: cleared on adoption
        const packed = new QTensor({ nibbles: padded }, [n], dtype, params, 'webgpu');
        const plain = new QTensor(ints, [n], dtype, params, 'cpu');
        expect(packed.onCpu).toBe(true);
        expect(packed.packedNibbles).toEqual(padded.subarray(0, Math.ceil(n / 2)));
        expectExact(packed.packedData(), plain.packedData(), "packedData");
        expect(packed.packedData()).not.toBe(packed.packedData()); // a copy each time
        expect(packed.packedNibbles?.buffer).toBe(padded.buffer); // shared, and packedData does not unpack
        expectExact(dequantize(packed).data, dequantize(plain).data, "dequantize");
        expect(packed.packedNibbles).toBeUndefined(); // unpacked once, for the reference's one integer per element
        const view = packed.intReprView();
        expect(view).toBeInstanceOf(dtype === 'qint4' ? Int8Array : Uint8Array);
        expectExact(view, ints, "intReprView");
        expect(packed.intReprView()).toBe(view);
        expectExact(packed.intRepr(), ints, "intRepr");
        expectExact(packed.packedData(), plain.packedData(), "packedData");
      });
    }
  }
});
