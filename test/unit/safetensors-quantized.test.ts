// The "webgpu-quant/1" layout: every dtype and scheme round-trips through a safetensors file into an equal
// QTensor (integers, parameters, axis, group size, shape) that dequantizes to the same bits; the layout's
// exact entries and metadata; and inconsistent files are FormatErrors.
import { describe, expect, it } from 'vitest';
import {
  QUANTIZED_FORMAT, bytesSource, createSafetensorsWriter, describeQuantized, memorySink, openSafetensors, quantizedEntries,
  quantizedFileMetadata, quantizedLayout, quantizedTensorBytes, readQuantizedSafetensors, serializeSafetensors,
} from '../../src/io/safetensors/index.js';
import { type QDType, QDTYPES, type QTensor, dtypeInfo, fromIntRepr, reference, tensor } from '../../src/index.js';
import { FormatError, InvalidArgumentError } from '../../src/errors.js';
import { halfToFloat } from '../../src/io/float-convert.js';
import { floatToHalfBits } from '../../src/io/safetensors/index.js';
import { expectBits, expectExact, normalData, rng } from './support.js';

type Scheme = 'tensor' | 'channel' | 'group';

/** float32 scales, so that storing them as F32 is exact and dequantizing the copy gives the original's bits. */
function scalesFor(count: number, next: () => number): number[] {
  return Array.from({ length: count }, () => Math.fround(0.01 + next() * 0.2));
}

function zeroPointsFor(dtype: QDType, count: number, next: () => number): number[] {
  const { qmin, qmax } = dtypeInfo(dtype);
  const lo = Math.max(qmin, -1000);
  const hi = Math.min(qmax, 1000);
  return Array.from({ length: count }, () => lo + Math.floor(next() * (hi - lo + 1)));
}

/** A QTensor of `dtype` / `scheme` over a [3, 5, 7] tensor (105 elements: odd, for 4-bit). */
function make(dtype: QDType, scheme: Scheme, seed: number): QTensor {
  const next = rng(seed);
  const shape = [3, 5, 7];
  const x = tensor(normalData(105, next, 3), shape);
  if (scheme === 'tensor') return reference.quantizePerTensor(x, scalesFor(1, next)[0]!, zeroPointsFor(dtype, 1, next)[0]!, dtype);
  if (scheme === 'channel') return reference.quantizePerChannel(x, scalesFor(5, next), zeroPointsFor(dtype, 5, next), -2, dtype);
  // groups of 3 along the last axis (7): 3 groups, the last one short (ragged); parameters [3, 5, 3]
  return reference.quantizePerGroup(x, scalesFor(45, next), zeroPointsFor(dtype, 45, next), -1, 3, dtype);
}

function expectSame(actual: QTensor, expected: QTensor): void {
  expect(actual.dtype).toBe(expected.dtype);
  expect(actual.shape).toEqual(expected.shape);
  expect(actual.qscheme()).toBe(expected.qscheme());
  expectExact(actual.intRepr(), expected.intRepr(), 'intRepr');
  if (expected.qscheme() === 'per_tensor_affine') {
    expect(actual.qScale()).toBe(expected.qScale());
    expect(actual.qZeroPoint()).toBe(expected.qZeroPoint());
  } else if (expected.qscheme() === 'per_channel_affine') {
    expectExact(actual.qPerChannelScales(), expected.qPerChannelScales(), 'scales');
    expectExact(actual.qPerChannelZeroPoints(), expected.qPerChannelZeroPoints(), 'zero points');
    expect(actual.qPerChannelAxis()).toBe(expected.qPerChannelAxis());
  } else {
    expectExact(actual.qPerGroupScales(), expected.qPerGroupScales(), 'scales');
    expectExact(actual.qPerGroupZeroPoints(), expected.qPerGroupZeroPoints(), 'zero points');
    expect(actual.qPerChannelAxis()).toBe(expected.qPerChannelAxis());
    expect(actual.qGroupSize()).toBe(expected.qGroupSize());
  }
  expectBits(reference.dequantize(actual).data, reference.dequantize(expected).data, 'dequantized');
}

async function roundTrip(tensors: Map<string, QTensor>, passthrough: Float32Array): Promise<Uint8Array> {
  const parts = [...tensors].map(([name, q]) => quantizedEntries(name, q, { originalDType: 'BF16' }));
  return serializeSafetensors(
    [...parts.flatMap((p) => p.tensors), { name: 'bias', dtype: 'F32', shape: [passthrough.length], data: passthrough }],
    quantizedFileMetadata(parts.map((p) => p.metadata), { source: 'unit test' }),
  );
}

describe('quantized safetensors: round trips', () => {
  for (const dtype of QDTYPES) {
    it(`${dtype}: per tensor, per channel (axis -2) and per group (ragged, axis -1) come back equal`, async () => {
      const originals = new Map<string, QTensor>((['tensor', 'channel', 'group'] as const).map((scheme, i) => [`layer.${scheme}.weight`, make(dtype, scheme, 100 + i)]));
      const bias = Float32Array.of(0.5, -1, 2);
      const bytes = await roundTrip(originals, bias);
      const reader = await openSafetensors(bytesSource(bytes, `${dtype}.safetensors`));
      expect(reader.metadata.get('format')).toBe(QUANTIZED_FORMAT);
      expect(reader.metadata.get('source')).toBe('unit test');
      const { quantized, passthrough } = await readQuantizedSafetensors(reader);
      expect([...quantized.keys()].sort()).toEqual([...originals.keys()].sort());
      for (const [name, q] of originals) expectSame(quantized.get(name)!, q);
      expect(passthrough).toEqual([{ name: 'bias', dtype: 'float32', shape: [3], byteLength: 12 }]);
      expect(new Float32Array((await reader.read('bias')).slice().buffer)).toEqual(bias);
      expect(quantized.get('layer.channel.weight')!.qPerChannelAxis()).toBe(1); // -2 normalized
      expect(describeQuantized(reader).get('layer.group.weight')).toMatchObject({ axis: 2, group_size: 3, original_dtype: 'BF16', scale_dtype: 'F32' });
    });
  }

  it('4-bit data is packed two per byte, element 0 in the low nibble, an odd count padded with zero', async () => {
    const q = fromIntRepr([1, -2, 7], [1, 3], 'qint4', { scale: 0.5, zeroPoint: -1 });
    const { tensors, metadata } = quantizedEntries('w', q);
    expect(tensors.map((t) => [t.name, t.dtype, t.shape, Array.from(t.data as Uint8Array)])).toEqual([
      ['w', 'U8', [2], [0xe1, 0x07]],
      ['w.scale', 'F32', [], [0, 0, 0, 0x3f]],
      ['w.zero_point', 'I8', [], [0xff]],
    ]);
    expect(metadata).toEqual(['webgpu_quant.w', '{"dtype":"qint4","scheme":"per_tensor_affine","shape":[1,3],"original_dtype":"F32","scale_dtype":"F32"}']);
    const u4 = fromIntRepr([15, 0, 9, 4, 3], [5], 'quint4', { scales: [1, 2, 3, 4, 5], zeroPoints: [0, 15, 8, 1, 2], axis: 0 });
    expect(quantizedEntries('u', u4).tensors.map((t) => Array.from(t.data as Uint8Array))).toEqual([[0x0f, 0x49, 0x03], Array.from(new Uint8Array(Float32Array.of(1, 2, 3, 4, 5).buffer)), [0, 15, 8, 1, 2]]);
  });

  it('the layout from a plan (known before quantizing) matches the one from the QTensor, so a header can be written first', async () => {
    const q = make('qint4', 'group', 7);
    const layout = quantizedLayout('w', { dtype: 'qint4', shape: [3, 5, 7], scheme: 'per_group_affine', axis: -1, groupSize: 3 });
    expect(layout.entries).toEqual([
      { name: 'w', dtype: 'U8', shape: [53], byteLength: 53 },
      { name: 'w.scale', dtype: 'F32', shape: [3, 5, 3], byteLength: 180 },
      { name: 'w.zero_point', dtype: 'I8', shape: [3, 5, 3], byteLength: 45 },
    ]);
    const sink = memorySink();
    const writer = await createSafetensorsWriter(sink, layout.entries, quantizedFileMetadata([layout.metadata]));
    const bytes = quantizedTensorBytes(q);
    for (const [i, entry] of layout.entries.entries()) await writer.write(entry.name, bytes[i]!);
    await writer.close();
    const { quantized } = await readQuantizedSafetensors(await openSafetensors(bytesSource(sink.bytes())));
    expectSame(quantized.get('w')!, q);
  });

  it('qint32 data after an odd-sized tensor (unaligned in the file) reads back', async () => {
    const q = make('qint32', 'channel', 9);
    const { tensors, metadata } = quantizedEntries('w', q);
    const bytes = await serializeSafetensors([{ name: 'odd', dtype: 'U8', shape: [3], data: Uint8Array.of(1, 2, 3) }, ...tensors], quantizedFileMetadata([metadata]));
    const reader = await openSafetensors(bytesSource(bytes));
    expect(reader.info('w').fileOffset % 4).not.toBe(0);
    expectSame((await readQuantizedSafetensors(reader)).quantized.get('w')!, q);
  });

  it('F16 scales on request: rounded to the nearest half, and refused when they do not fit', async () => {
    const q = fromIntRepr([1, 2, 3, 4], [2, 2], 'qint8', { scales: [0.1, 3], zeroPoints: [0, 1], axis: 0 });
    const { tensors, metadata } = quantizedEntries('w', q, { scaleDType: 'F16' });
    expect(tensors[1]).toMatchObject({ name: 'w.scale', dtype: 'F16', shape: [2] });
    expect(Array.from(new Uint16Array((tensors[1]!.data as Uint8Array).slice().buffer))).toEqual([0x2e66, 0x4200]);
    const back = (await readQuantizedSafetensors(await openSafetensors(bytesSource(await serializeSafetensors(tensors, quantizedFileMetadata([metadata])))))).quantized.get('w')!;
    expectExact(back.qPerChannelScales(), [halfToFloat(0x2e66), 3], 'F16 scales');
    expect(halfToFloat(0x2e66)).toBe(0.0999755859375);
    const tiny = fromIntRepr([1], [1], 'qint8', { scale: 1e-8, zeroPoint: 0 });
    expect(() => quantizedEntries('t', tiny, { scaleDType: 'F16' })).toThrow(/scale 1e-8 \(index 0\) does not fit float16 \(it rounds to 0\)/);
    expect(() => quantizedEntries('t', fromIntRepr([1], [1], 'qint8', { scale: 70000, zeroPoint: 0 }), { scaleDType: 'F16' })).toThrow(/rounds to Infinity/);
  });

  it('a file without the layout reads as all passthrough', async () => {
    const reader = await openSafetensors(bytesSource(await serializeSafetensors([{ name: 'w', dtype: 'F16', shape: [1], data: Uint16Array.of(0x3c00) }], { format: 'pt' })));
    expect(await readQuantizedSafetensors(reader)).toEqual({ quantized: new Map(), passthrough: [{ name: 'w', dtype: 'float16', shape: [1], byteLength: 2 }] });
  });

  it('rejects plans it cannot store', () => {
    expect(() => quantizedLayout('w', { dtype: 'qint8', shape: [2, 3], scheme: 'per_channel_affine', axis: 2 })).toThrow(InvalidArgumentError);
    expect(() => quantizedLayout('w', { dtype: 'qint9' as QDType, shape: [2], scheme: 'per_tensor_affine' })).toThrow(/qint9/);
    expect(() => quantizedLayout('w', { dtype: 'qint8', shape: [2], scheme: 'per_group_affine', axis: 0, groupSize: 0 })).toThrow(InvalidArgumentError);
    expect(() => quantizedFileMetadata([], { format: 'pt' })).toThrow(/reserved/);
  });
});

describe('quantized safetensors: inconsistent files are FormatErrors', () => {
  const q = fromIntRepr([1, -2, 3, 4, 5, 6], [2, 3], 'qint8', { scales: [0.5, 0.25], zeroPoints: [0, 1], axis: 0 });
  const { tensors, metadata } = quantizedEntries('w', q);

  async function expectBad(edit: (t: typeof tensors, m: Map<string, string>) => void, message: RegExp): Promise<void> {
    const copy = tensors.map((t) => ({ ...t, shape: [...t.shape], data: (t.data as Uint8Array).slice() }));
    const meta = quantizedFileMetadata([metadata]);
    edit(copy, meta);
    const reader = await openSafetensors(bytesSource(await serializeSafetensors(copy, meta), 'q.safetensors'));
    const error = await readQuantizedSafetensors(reader).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(FormatError);
    expect((error as Error).message).toMatch(/^q\.safetensors: /);
    expect((error as Error).message).toMatch(message);
  }

  it('names the tensor and the problem', async () => {
    await expectBad((_, m) => m.set('format', 'webgpu-quant/2'), /has webgpu_quant\.\* metadata but format "webgpu-quant\/2"; this version reads "webgpu-quant\/1"/);
    await expectBad((_, m) => m.set('webgpu_quant.w', '{"dtype":'), /quantized tensor "w" \(metadata "webgpu_quant\.w"\): not valid JSON/);
    await expectBad((_, m) => m.set('webgpu_quant.w', '[1]'), /must be a JSON object/);
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    await expectBad((_, m) => m.set('webgpu_quant.w', metadata[1].replace('[2,3]', deep)), /"shape" must be an array of at most 64 numbers, found an array of 1/);
    await expectBad((_, m) => m.set('webgpu_quant.w', metadata[1].replace('"axis":0', `"axis":${deep}`)), /"axis" must be a number, found an array of 1/);
    await expectBad((_, m) => m.set('webgpu_quant.w', metadata[1].replace('[2,3]', `[${new Array(100).fill(1).join(',')}]`)), /"shape" must be an array of at most 64 numbers/);
    await expectBad((_, m) => m.set('webgpu_quant.w', metadata[1].replace('qint8', 'int8')), /dtype "int8" is not one of qint8/);
    await expectBad((_, m) => m.set('webgpu_quant.w', metadata[1].replace('"axis":0', '"axis":5')), /quantized tensor "w".*axis/);
    await expectBad((_, m) => m.set('webgpu_quant.w', metadata[1].replace('[2,3]', '[3,2]')), /tensor "w" is I8 \[2, 3\] at file offset \d+; the layout needs I8 \[3, 2\]/);
    await expectBad((_, m) => m.set('webgpu_quant.v', metadata[1]), /quantized tensor "v": the file has no tensor "v", which the layout needs/);
    await expectBad((t) => { Object.assign(t[2]!, { dtype: 'I32', data: new Uint8Array(8), byteLength: 8 }); }, /tensor "w\.zero_point" is I32 \[2\] .* the layout needs I8 \[2\]/);
    await expectBad((t) => { new Float32Array(t[1]!.data.buffer)[1] = -1; }, /quantized tensor "w": .*scale.* -1/);
    await expectBad((t) => { new Float32Array(t[1]!.data.buffer)[0] = NaN; }, /quantized tensor "w": .*NaN/);
  });

  it('zero points out of the dtype\'s range', async () => {
    const u4 = fromIntRepr([1, 2], [2], 'quint4', { scale: 1, zeroPoint: 3 });
    const parts = quantizedEntries('u', u4);
    parts.tensors[2]!.data = Uint8Array.of(200);
    const reader = await openSafetensors(bytesSource(await serializeSafetensors(parts.tensors, quantizedFileMetadata([parts.metadata])), 'u.safetensors'));
    await expect(readQuantizedSafetensors(reader)).rejects.toThrow(/u\.safetensors: quantized tensor "u": zeroPoint is 200; for quint4 it must be an integer in \[0, 15\]/);
  });
});

describe('floatToHalfBits (F16 scales)', () => {
  it('inverts halfToFloat on all 65536 patterns (NaNs stay NaN)', () => {
    const wrong: string[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const back = floatToHalfBits(halfToFloat(h));
      const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (isNaN ? !Number.isNaN(halfToFloat(back)) : back !== h) if (wrong.length < 10) wrong.push(`0x${h.toString(16)} -> 0x${back.toString(16)}`);
    }
    expect(wrong, wrong.join(', ')).toEqual([]);
  });

  it('rounds to nearest, ties to even, in the normal and subnormal ranges and at overflow', () => {
    const midpoint = (h: number): number => (halfToFloat(h) + halfToFloat(h + 1)) / 2;
    expect(floatToHalfBits(midpoint(0x3c00))).toBe(0x3c00); // tie, 0x3c00 is even
    expect(floatToHalfBits(midpoint(0x3c01))).toBe(0x3c02); // tie, rounds up to the even 0x3c02
    expect(floatToHalfBits(Math.fround(midpoint(0x3c00) * (1 + 2 ** -20)))).toBe(0x3c01); // just above the tie
    expect(floatToHalfBits(midpoint(0x0001))).toBe(0x0002); // subnormal tie 1.5 ulp -> 2
    expect(floatToHalfBits(midpoint(0x0002))).toBe(0x0002); // subnormal tie 2.5 ulp -> 2
    expect(floatToHalfBits(2 ** -25)).toBe(0); // half the smallest subnormal: tie to 0
    expect(floatToHalfBits(Math.fround(2 ** -25 * 1.0001))).toBe(1);
    expect(floatToHalfBits(midpoint(0x03ff))).toBe(0x0400); // largest subnormal rounds up into the normals
    expect(floatToHalfBits(65504)).toBe(0x7bff);
    expect(floatToHalfBits(65519.99)).toBe(0x7bff);
    expect(floatToHalfBits(65520)).toBe(0x7c00); // tie past the largest half: Infinity
    expect(floatToHalfBits(-Infinity)).toBe(0xfc00);
    expect(floatToHalfBits(-0)).toBe(0x8000);
  });
});
