// storedParameters reads a QDQ weight's scales and zero points back from the bytes writeQdq stored: the values
// written (scales as their stored type gives them, zero points exactly, none written reading as 0), for every
// integer type, float32 / float16 / bfloat16 scales, per channel and per group, on fresh random parameters.
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import type { QDType } from '../../src/dtype.js';
import { halfToFloat } from '../../src/io/float-convert.js';
import { floatToHalfBits } from '../../src/io/half.js';
import { NameAllocator } from '../../src/io/onnx/names.js';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';
import type { GraphProto } from '../../src/io/onnx/proto.js';
import { type ScaleType, storedParameters, writeQdq } from '../../src/io/onnx/qdq-writer.js';
import { buildMlp } from '../shared/mlp-onnx.js';
import { RUN_SEED, rng } from './support.js';

const kRange: Record<Exclude<QDType, 'qint32'>, [number, number]> = { qint8: [-128, 127], quint8: [0, 255], qint4: [-8, 7], quint4: [0, 15] };

/** `value` as the stored scale type gives it back. */
function asStored(value: number, type: ScaleType): number {
  if (type === 'float16') return halfToFloat(floatToHalfBits(value));
  if (type === 'bfloat16') return new Float32Array(new Uint32Array([new Uint32Array(Float32Array.of(value).buffer)[0]! & 0xffff0000]).buffer)[0]!;
  return Math.fround(value);
}

describe(`storedParameters (seed ${RUN_SEED})`, () => {
  it('gives the scales and zero points writeQdq stored, for every type, scale type and layout', async () => {
    const next = rng(RUN_SEED);
    let cases = 0;
    for (const dtype of ['qint8', 'quint8', 'qint4', 'quint4'] as const) {
      for (const scaleType of ['float32', 'float16', 'bfloat16'] as const) {
        for (const layout of ['channel', 'group', 'group, zero points 0'] as const) {
          const model = await OnnxModel.load(buildMlp(onnxProto.onnx, [64, 48, 8], RUN_SEED + cases).model, { name: 'mlp' });
          const names = new NameAllocator(model.proto.graph as GraphProto);
          const [K, N] = [64, 48];
          const group = layout !== 'channel';
          const paramShape = group ? [K / 16, N] : [N];
          const count = paramShape.reduce((a, b) => a * b, 1);
          const [qmin, qmax] = kRange[dtype];
          // bfloat16 keeps the top half of a float32: scales well inside its range and float16's.
          const scales = Float64Array.from({ length: count }, () => asStored(2 ** (-12 + 10 * next()) * (1 + next()), scaleType));
          const zeroPoints = Int32Array.from({ length: count }, () => (layout === 'group, zero points 0' ? 0 : qmin + Math.floor(next() * (qmax - qmin + 1))));
          const fourBit = dtype === 'qint4' || dtype === 'quint4';
          const data = new Uint8Array(fourBit ? (K * N) / 2 : K * N);
          const written = writeQdq(model, 'fc0.weight', {
            data, dtype, scales, zeroPoints, paramShape, scaleType, axis: group ? 0 : 1, ...(group ? { blockSize: 16 } : {}),
          }, names);
          const what = `${dtype}, ${scaleType} scales, ${layout}`;
          expect(written.stored, what).toBeDefined();
          const again = storedParameters(written.stored!, scaleType, dtype)();
          expect(Array.from(again.scales), what).toEqual(Array.from(scales));
          expect(Array.from(again.zeroPoints), what).toEqual(Array.from(zeroPoints));
          // 4-bit zero points all 0 are not written; 8-bit ones always are.
          expect(written.stored!.zeroPoint === undefined, what).toBe(fourBit && layout === 'group, zero points 0');
          cases++;
        }
      }
    }
    expect(cases).toBe(36);
  });
});
