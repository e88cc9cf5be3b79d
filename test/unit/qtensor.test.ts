// QTensor accessors, fromIntRepr, the dtype table and tensor().
import { describe, expect, it } from 'vitest';
import {
  type QDType, QDTYPES, QTensor, dequantize, dtypeInfo, fromIntRepr, quantizePerChannel, reference, tensor,
} from '../../src/index.js';
import { expectBits, expectExact } from './support.js';

describe('QTensor accessors', () => {
  const perTensor = reference.quantizePerTensor(tensor([-1.52, 0.01, 1.501, 3.0001], [2, 2]), 0.5, 0, 'qint8');
  const w = tensor([-0.1, 0, 0.1, 0.2, -100, -50, 0, 50, 1, 2, 3, 4], [3, 4]);
  const perChannel = reference.quantizePerChannel(w, [0.1, 1 / 3, 0.002], [1, -2, 0], 0, 'qint8');

  it('report the scheme, dtype, shape, size and backend', () => {
    expect(perTensor.qscheme()).toBe('per_tensor_affine');
    expect(perChannel.qscheme()).toBe('per_channel_affine');
    expect(perTensor.dtype).toBe('qint8');
    expect(perTensor.shape).toEqual([2, 2]);
    expect(perTensor.size).toBe(4);
    expect(perChannel.size).toBe(12);
    expect(perTensor.backend).toBe('cpu');
    expect(perTensor).toBeInstanceOf(QTensor);
  });

  it('intRepr() returns the stored integers in a copy: changing it leaves the tensor alone', () => {
    const values = perTensor.intRepr();
    expect(values).toBeInstanceOf(Int8Array);
    expectExact(values, [-3, 0, 3, 6], 'intRepr');
    values[0] = 99;
    values.fill(7);
    expectExact(perTensor.intRepr(), [-3, 0, 3, 6], 'intRepr after mutating a copy');
    expect(perTensor.intRepr()).not.toBe(perTensor.intRepr());
    expectExact(perTensor.intReprView(), [-3, 0, 3, 6], 'intReprView');
  });

  it('per-channel integers follow each channel\'s scale and zero point', () => {
    // Row 0: x / 0.1 + 1; row 1: x * fround(1 / fround(1/3)) - 2 (saturating); row 2: x / 0.002 saturates.
    expectExact(perChannel.intRepr(), [0, 1, 2, 3, -128, -128, -2, 127, 127, 127, 127, 127], 'intRepr');
  });

  it('qScale() / qZeroPoint() return the per-tensor parameters as given', () => {
    const q = reference.quantizePerTensor(tensor([1]), 0.1, -7, 'qint8');
    expect(q.qScale()).toBe(0.1); // float64 0.1, not fround(0.1)
    expect(q.qScale()).not.toBe(Math.fround(0.1));
    expect(q.qZeroPoint()).toBe(-7);
  });

  it('qPerChannelScales() is a Float64Array holding the scales exactly as given (0.1, 1/3), copied', () => {
    const scales = perChannel.qPerChannelScales();
    expect(scales).toBeInstanceOf(Float64Array);
    expectExact(scales, [0.1, 1 / 3, 0.002], 'scales');
    scales[0] = 5;
    expectExact(perChannel.qPerChannelScales(), [0.1, 1 / 3, 0.002], 'scales after mutating a copy');
  });

  it('qPerChannelZeroPoints() is an Int32Array copy', () => {
    const zeroPoints = perChannel.qPerChannelZeroPoints();
    expect(zeroPoints).toBeInstanceOf(Int32Array);
    expectExact(zeroPoints, [1, -2, 0], 'zero points');
    zeroPoints[1] = 100;
    expectExact(perChannel.qPerChannelZeroPoints(), [1, -2, 0], 'zero points after mutating a copy');
  });

  it('does not alias the caller\'s scale and zero-point arrays', () => {
    const scales = [0.5, 0.25];
    const zeroPoints = Int32Array.of(1, 2);
    const q = fromIntRepr([0, 0, 0, 0], [2, 2], 'qint8', { scales, zeroPoints, axis: 1 });
    scales[0] = 9;
    zeroPoints[0] = 9;
    expectExact(q.qPerChannelScales(), [0.5, 0.25], 'scales');
    expectExact(q.qPerChannelZeroPoints(), [1, 2], 'zero points');
  });

  it('normalises a negative axis', () => {
    const x = tensor(new Float32Array(24).map((_, i) => i - 12), [2, 3, 4]);
    for (const [axis, normal] of [[-1, 2], [-2, 1], [-3, 0], [0, 0], [2, 2]] as const) {
      const q = reference.quantizePerChannel(x, new Array(x.shape[normal]).fill(0.5), new Array(x.shape[normal]).fill(0), axis, 'qint8');
      expect(Object.is(q.qPerChannelAxis(), normal), `axis ${axis} -> ${q.qPerChannelAxis()}`).toBe(true);
      expectExact(q.intRepr(), Array.from(x.data, (v) => Math.max(-128, Math.min(127, v * 2))), `axis ${axis}`);
    }
  });

  it('has a frozen shape that is a copy of the input\'s', () => {
    const shape = [2, 3];
    const x = { data: new Float32Array(6), shape };
    const q = reference.quantizePerTensor(x, 1, 0, 'quint8');
    expect(Object.isFrozen(q.shape)).toBe(true);
    shape[0] = 99;
    expect(q.shape).toEqual([2, 3]);
    expect(() => { (q.shape as number[])[0] = 5; }).toThrow(TypeError);
    expect(q.shape).toEqual([2, 3]);
    const deq = reference.dequantize(q);
    expect(deq.shape).toEqual([2, 3]);
    expect(deq.shape).not.toBe(q.shape);
    expect(Object.isFrozen(deq.shape)).toBe(false);
  });
});

describe('fromIntRepr', () => {
  const samples: Record<QDType, number[]> = {
    qint8: [-128, -1, 0, 1, 127, 5],
    quint8: [0, 1, 128, 254, 255, 7],
    qint32: [-2147483648, -16777217, 0, 16777217, 2147483647, 3],
    qint4: [-8, -1, 0, 1, 7, 5],
    quint4: [0, 1, 8, 14, 15, 7],
  };
  const arrayTypes = { qint8: Int8Array, quint8: Uint8Array, qint32: Int32Array, qint4: Int8Array, quint4: Uint8Array };

  for (const dtype of QDTYPES) {
    it(`${dtype}, from its own array type: a copy of the same integers, out-of-range ones still refused`, () => {
      const Arrays = arrayTypes[dtype];
      const given = Arrays.from(samples[dtype]);
      const q = fromIntRepr(given, [2, 3], dtype, { scale: 1, zeroPoint: 0 });
      expectExact(q.intRepr(), samples[dtype], 'intRepr');
      given[0] = given[1]!;
      expect(q.intRepr()[0]).toBe(samples[dtype][0]); // copied, not shared
      const info = dtypeInfo(dtype);
      // An array of this type that can hold a value outside the dtype's range (the 4-bit types) is checked.
      const outside = info.qmax + 1;
      if (Arrays.from([outside])[0] === outside) {
        expect(() => fromIntRepr(Arrays.from([0, outside]), [2], dtype, { scale: 1, zeroPoint: 0 })).toThrow(/intRepr\[1\] is/);
      } else {
        expect(['qint8', 'quint8', 'qint32']).toContain(dtype);
      }
    });

    it(`${dtype}, per tensor: stores the integers in a ${arrayTypes[dtype].name} and dequantizes them`, async () => {
      const ints = samples[dtype];
      const q = fromIntRepr(ints, [2, 3], dtype, { scale: 0.5, zeroPoint: 1 });
      expect(q.intRepr()).toBeInstanceOf(arrayTypes[dtype]);
      expectExact(q.intRepr(), ints, 'intRepr');
      expect(q.qscheme()).toBe('per_tensor_affine');
      expect([q.qScale(), q.qZeroPoint(), q.dtype, q.backend]).toEqual([0.5, 1, dtype, 'cpu']);
      expect(q.shape).toEqual([2, 3]);
      // (q - 1) * 0.5 in float32; for qint32, q - zp wraps in int32 as in PyTorch (-2^31 - 1 -> 2^31 - 1).
      const expected = Float32Array.from(ints, (v) => Math.fround(Math.fround((v - 1) | 0) * 0.5));
      expectBits(reference.dequantize(q).data, expected, 'dequantize');
      expectBits((await dequantize(q, { backend: 'cpu' })).data, expected, 'async dequantize');
    });

    it(`${dtype}, per channel: stores the integers and dequantizes along the axis`, () => {
      const ints = samples[dtype];
      const scales = [0.5, 1 / 3, 0.1];
      const zeroPoints = dtype === 'quint8' ? [0, 128, 255] : dtype === 'quint4' ? [0, 8, 15] : [0, -1, 1];
      const q = fromIntRepr(Int32Array.from(ints), [2, 3], dtype, { scales, zeroPoints, axis: -1 });
      expect(q.intRepr()).toBeInstanceOf(arrayTypes[dtype]);
      expectExact(q.intRepr(), ints, 'intRepr');
      expect(q.qscheme()).toBe('per_channel_affine');
      expect(q.qPerChannelAxis()).toBe(1);
      expectExact(q.qPerChannelScales(), scales, 'scales');
      expectExact(q.qPerChannelZeroPoints(), zeroPoints, 'zero points');
      // Per channel the difference is taken in float32 (no int32 wrap), times the float64 scale, rounded once.
      const expected = Float32Array.from(ints, (v, i) =>
        Math.fround(Math.fround(Math.fround(v) - Math.fround(zeroPoints[i % 3]!)) * scales[i % 3]!));
      expectBits(reference.dequantize(q).data, expected, 'dequantize');
    });
  }

  it('dequantizes q = zero point to +0, never -0, in both schemes', () => {
    const perTensor = fromIntRepr([-7, -7], [2], 'qint8', { scale: 0.37, zeroPoint: -7 });
    expectBits(reference.dequantize(perTensor).data, Float32Array.of(0, 0), 'per tensor');
    const perChannel = fromIntRepr([5, 200, 5, 200], [2, 2], 'quint8', { scales: [0.1, 1 / 3], zeroPoints: [5, 200], axis: 1 });
    expectBits(reference.dequantize(perChannel).data, Float32Array.of(0, 0, 0, 0), 'per channel');
  });

  it('copies its input: changing the source array afterwards changes nothing', () => {
    const source = [1, 2, 3];
    const q = fromIntRepr(source, [3], 'qint8', { scale: 1, zeroPoint: 0 });
    source[0] = 100;
    expectExact(q.intRepr(), [1, 2, 3], 'intRepr');
  });

  it('accepts empty tensors and rank-0 tensors', () => {
    const empty = fromIntRepr([], [0, 4], 'quint8', { scales: [1, 1, 1, 1], zeroPoints: [0, 0, 0, 0], axis: 1 });
    expect(empty.size).toBe(0);
    expect(reference.dequantize(empty).data).toHaveLength(0);
    const scalar = fromIntRepr([-5], [], 'qint8', { scale: 0.25, zeroPoint: 3 });
    expect(scalar.shape).toEqual([]);
    expectExact(reference.dequantize(scalar).data, [-2], 'rank 0');
  });

  it('round-trips the tensors quantize makes', async () => {
    const w = tensor([0.3, -1.7, 2.2, 0.05, -0.4, 9, -9, 0.5], [2, 4]);
    const q = await quantizePerChannel(w, [0.1, 0.07], [3, -3], 0, 'qint8', { backend: 'cpu' });
    const rebuilt = fromIntRepr(q.intRepr(), [...q.shape], q.dtype, {
      scales: q.qPerChannelScales(), zeroPoints: q.qPerChannelZeroPoints(), axis: q.qPerChannelAxis(),
    });
    expectExact(rebuilt.intRepr(), q.intRepr(), 'intRepr');
    expectBits(reference.dequantize(rebuilt).data, reference.dequantize(q).data, 'dequantize');
  });
});

describe('dtypeInfo', () => {
  it('lists the dtypes in table order', () => {
    expect(QDTYPES).toEqual(['qint8', 'quint8', 'qint32', 'qint4', 'quint4']);
  });

  it('holds the facts of each dtype', () => {
    const facts = QDTYPES.map((d) => {
      const { name, bits, signed, qmin, qmax, perWord } = dtypeInfo(d);
      return { name, bits, signed, qmin, qmax, perWord };
    });
    expect(facts).toEqual([
      { name: 'qint8', bits: 8, signed: true, qmin: -128, qmax: 127, perWord: 4 },
      { name: 'quint8', bits: 8, signed: false, qmin: 0, qmax: 255, perWord: 4 },
      { name: 'qint32', bits: 32, signed: true, qmin: -2147483648, qmax: 2147483647, perWord: 1 },
      { name: 'qint4', bits: 4, signed: true, qmin: -8, qmax: 7, perWord: 8 },
      { name: 'quint4', bits: 4, signed: false, qmin: 0, qmax: 15, perWord: 8 },
    ]);
  });

  it('makes arrays of the right type and length, whose range is [qmin, qmax] (4-bit: one byte per value)', () => {
    for (const dtype of QDTYPES.filter((d) => dtypeInfo(d).bits !== 4)) {
      const info = dtypeInfo(dtype);
      const array = info.makeArray(5);
      expect(array).toHaveLength(5);
      expect(array.BYTES_PER_ELEMENT * 8).toBe(info.bits);
      array[0] = info.qmin;
      array[1] = info.qmax;
      array[2] = info.qmax + 1; // wraps: the typed array holds exactly [qmin, qmax]
      expect([array[0], array[1], array[2]]).toEqual([info.qmin, info.qmax, info.qmin]);
    }
    expect(dtypeInfo('qint4').makeArray(3)).toBeInstanceOf(Int8Array);
    expect(dtypeInfo('quint4').makeArray(3)).toBeInstanceOf(Uint8Array);
  });
});

describe('tensor()', () => {
  it('defaults the shape to [data.length]', () => {
    const x = tensor([1, 2, 3]);
    expect(x.shape).toEqual([3]);
    expect(x.data).toBeInstanceOf(Float32Array);
    expect(x.backend).toBeUndefined();
  });

  it('copies the data (rounding to float32) and the shape', () => {
    const data = new Float32Array([1, 2, 3, 4, 5, 6]);
    const shape = [2, 3];
    const x = tensor(data, shape);
    expect(x.data).not.toBe(data);
    expect(x.shape).not.toBe(shape);
    data[0] = 100;
    shape[0] = 100;
    expectExact(x.data, [1, 2, 3, 4, 5, 6], 'data');
    expect(x.shape).toEqual([2, 3]);
    expectBits(tensor([0.1, -0, NaN, Infinity]).data, Float32Array.of(Math.fround(0.1), -0, NaN, Infinity), 'float32 rounding');
  });

  it('accepts rank 0 (one element) and empty tensors', () => {
    expect(tensor([7], []).shape).toEqual([]);
    expect(tensor([], [0, 5]).data).toHaveLength(0);
    expect(tensor([]).shape).toEqual([0]);
  });
});
