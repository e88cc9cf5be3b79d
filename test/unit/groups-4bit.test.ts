// 4-bit types and per-group scales on the CPU reference: nibble packing against hand-written bytes, round
// trips, odd lengths, the ONNX block layout of group parameters, and the argument checks.
import { describe, expect, it } from 'vitest';
import {
  InvalidArgumentError, dequantize, fromIntRepr, packNibbles, quantizePerGroup, quantizePerTensor, reference, tensor, unpackNibbles,
} from '../../src/index.js';
import { expectExact } from './support.js';

describe('nibble packing', () => {
  it('puts element 0 in the low nibble, pads an odd length with a zero nibble', () => {
    expectExact(packNibbles(Int8Array.of(1, -2, 7, -8, 0)), [0xe1, 0x87, 0x00], 'signed');
    expectExact(packNibbles(Uint8Array.of(1, 14, 15)), [0xe1, 0x0f], 'unsigned, odd length');
    expectExact(packNibbles([]), [], 'empty');
  });

  it('round-trips every value of both types at every length 0..17', () => {
    for (let n = 0; n <= 17; n++) {
      const signed = Int8Array.from({ length: n }, (_, i) => ((i * 5) % 16) - 8);
      const unsigned = Uint8Array.from({ length: n }, (_, i) => (i * 7) % 16);
      expectExact(unpackNibbles(packNibbles(signed), n, true), signed, `qint4 n=${n}`);
      expectExact(unpackNibbles(packNibbles(unsigned), n, false), unsigned, `quint4 n=${n}`);
      expect(packNibbles(signed).length).toBe(Math.ceil(n / 2));
    }
  });

  it('unpacks every byte value, both signednesses, even and odd counts, like the nibble definition', () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, b) => b);
    for (const count of [512, 511]) {
      for (const signed of [true, false]) {
        const expected = Array.from({ length: count }, (_, i) => {
          const nibble = (bytes[i >> 1]! >> (4 * (i & 1))) & 0xf;
          return signed && nibble > 7 ? nibble - 16 : nibble;
        });
        expectExact(unpackNibbles(bytes, count, signed), expected, `${signed ? 'qint4' : 'quint4'} count ${count}`);
      }
    }
  });

  it('QTensor.packedData gives the nibbles for 4-bit types and the raw bytes otherwise', () => {
    expectExact(fromIntRepr([1, -2, 7], [3], 'qint4', { scale: 1, zeroPoint: 0 }).packedData(), [0xe1, 0x07], 'qint4');
    expectExact(fromIntRepr([1, 255], [2], 'quint8', { scale: 1, zeroPoint: 0 }).packedData(), [1, 255], 'quint8');
    expectExact(fromIntRepr([-2], [1], 'qint32', { scale: 1, zeroPoint: 0 }).packedData(), [0xfe, 0xff, 0xff, 0xff], 'qint32 little-endian');
  });
});

describe('4-bit quantization', () => {
  it('saturates to -8..7 and 0..15 and rounds ties to even', async () => {
    const x = tensor([-9, -8.5, -7.5, 0.5, 1.5, 6.5, 7.5, 100, NaN, Infinity, -Infinity]);
    expectExact((await quantizePerTensor(x, 1, 0, 'qint4', { backend: 'cpu' })).intRepr(),
      [-8, -8, -8, 0, 2, 6, 7, 7, -8, 7, -8], 'qint4');
    expectExact(reference.quantizePerTensor(x, 1, 8, 'quint4').intRepr(), [0, 0, 0, 8, 10, 14, 15, 15, 0, 15, 0], 'quint4 zp 8');
  });

  it('rejects zero points outside the 4-bit range', () => {
    expect(() => reference.quantizePerTensor(tensor([1]), 1, 8, 'qint4')).toThrow(/zeroPoint is 8; for qint4 it must be an integer in \[-8, 7\]/);
    expect(() => reference.quantizePerTensor(tensor([1]), 1, -1, 'quint4')).toThrow(InvalidArgumentError);
    expect(() => fromIntRepr([16], [1], 'quint4', { scale: 1, zeroPoint: 0 })).toThrow(/intRepr\[0\] is 16/);
  });
});

describe('per-group quantization', () => {
  it('follows the ONNX block layout along the last axis, ragged last group', () => {
    // [2, 5] split along axis 1 into groups of 2: parameters shaped [2, 3].
    const x = tensor([1, 2, 3, 4, 5, 10, 20, 30, 40, 50], [2, 5]);
    const q = reference.quantizePerGroup(x, [1, 2, 5, 10, 20, 50], [0, 0, 0, 0, 0, 0], 1, 2, 'qint8');
    expectExact(q.intRepr(), [1, 2, 2, 2, 1, 1, 2, 2, 2, 1], 'intRepr');
    expect(q.qscheme()).toBe('per_group_affine');
    expect([q.qGroupSize(), q.qPerChannelAxis()]).toEqual([2, 1]);
    expectExact(q.qPerGroupScales(), [1, 2, 5, 10, 20, 50], 'scales as given');
    expectExact(reference.dequantize(q).data, [1, 2, 4, 4, 5, 10, 20, 40, 40, 50], 'dequantize');
  });

  it('along axis 0 of [5, 2]: groups of rows, each column its own parameter', () => {
    const x = tensor([1, 10, 2, 20, 3, 30, 4, 40, 5, 50], [5, 2]);
    // groups of 2 rows -> parameters shaped [3, 2]
    const q = reference.quantizePerGroup(x, [1, 10, 1, 10, 5, 50], [0, 0, 0, 0, 0, 0], 0, 2, 'qint8');
    expectExact(q.intRepr(), [1, 1, 2, 2, 3, 3, 4, 4, 1, 1], 'intRepr');
  });

  it('group size 1 equals per-element scales; group size >= the axis equals per-row scales', () => {
    const x = tensor([0.5, 1.5, 2.5, 3.5, 4.5, 5.5], [2, 3]);
    const perElement = reference.quantizePerGroup(x, [0.5, 0.5, 0.5, 1, 1, 1], [0, 0, 0, 0, 0, 0], 1, 1, 'qint8');
    expectExact(perElement.intRepr(), [1, 3, 5, 4, 4, 6], 'group size 1');
    const perRow = reference.quantizePerGroup(x, [0.5, 1], [0, 0], 1, 100, 'qint8');
    expectExact(perRow.intRepr(), reference.quantizePerChannel(x, [0.5, 1], [0, 0], 0, 'qint8').intReprView(), 'group size past the axis');
  });

  it('dequantizes with the float32 scale (ONNX DequantizeLinear)', async () => {
    const q = fromIntRepr([3], [1, 1], 'qint8', { scales: [0.1], zeroPoints: [0], axis: 1, groupSize: 4 });
    expectExact((await dequantize(q, { backend: 'cpu' })).data, [Math.fround(3 * Math.fround(0.1))], 'float32 scale');
  });

  it('rejects bad group sizes and parameter counts, naming the layout', async () => {
    const x = tensor(new Float32Array(10), [2, 5]);
    await expect(quantizePerGroup(x, [1], [0], 1, 0, 'qint4', { backend: 'cpu' })).rejects.toThrow(/groupSize is 0; use a positive integer/);
    await expect(quantizePerGroup(x, [1], [0], 1, 2.5, 'qint4', { backend: 'cpu' })).rejects.toThrow(InvalidArgumentError);
    await expect(quantizePerGroup(x, [1, 1, 1], [0, 0, 0], 1, 2, 'qint4', { backend: 'cpu' }))
      .rejects.toThrow(/scales has 3 values but the groups need 6 \(shape \[2, 5\] with axis 1 split into groups of 2: \[2, 3\], row-major\)/);
    await expect(quantizePerGroup(x, new Array(6).fill(1), new Array(6).fill(9), 1, 2, 'qint4', { backend: 'cpu' }))
      .rejects.toThrow(/zeroPoints\[0\] is 9/);
    expect(() => fromIntRepr(new Int8Array(10), [2, 5], 'qint4', { scales: [1, 1], zeroPoints: [0, 0], axis: 1, groupSize: 2 }))
      .toThrow(/scales has 2 values but the groups need 6/);
  });

  it('per-group accessors refuse other schemes and vice versa', () => {
    const perTensor = fromIntRepr([1], [1], 'qint8', { scale: 1, zeroPoint: 0 });
    expect(() => perTensor.qGroupSize()).toThrow(/per_group_affine/);
    const perGroup = fromIntRepr([1, 2], [1, 2], 'qint8', { scales: [1], zeroPoints: [0], axis: 1, groupSize: 2 });
    expect(() => perGroup.qPerChannelScales()).toThrow(/qPerGroupScales/);
    expect(() => perGroup.qScale()).toThrow(/qPerGroupScales/);
  });
});
