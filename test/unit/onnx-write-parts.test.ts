// Writing an ONNX model in parts (encodeModelParts, compressOnnxParts): the parts joined are encodeModel's /
// compressOnnx's bytes exactly, and tensor data is passed through uncopied. And the CPU compressor's held
// weights (one copy in the kernels' memory, read in place by every pass) give the same file as the path that
// copies each weight into every pass: aligned and unaligned float32 weights, 4 and 8 bits, per tensor,
// channel and group.
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { compressOnnx, compressOnnxParts } from '../../src/compress/compress-onnx.js';
import type { CompressOnnxOptions } from '../../src/compress/onnx-options.js';
import { holdFloat32 } from '../../src/kernels/cpu/simd-module.js';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';
import { MIN_PASSED_THROUGH_BYTES, type TensorProto, decodeModel, encodeModel, encodeModelParts } from '../../src/io/onnx/proto.js';
import { concatParts } from '../../src/io/onnx/deferred-raw-data.js';
import { buildMlp } from '../shared/mlp-onnx.js';
import { RUN_SEED } from './support.js';

const cpu = { backend: 'cpu' } as const;

/** MLPs whose big weights sit at 4-byte-aligned and at unaligned offsets of the file (the producer name shifts them). */
function models(): Uint8Array[] {
  return [0, 1, 2, 3].map((shift) => {
    const { model } = buildMlp(onnxProto.onnx, [200, 300 + shift, 170, 64], RUN_SEED + shift);
    const proto = decodeModel(model, 'mlp');
    proto.producerName = 'mlp'.padEnd(3 + shift, '-');
    return encodeModel(proto);
  });
}

const offsets = (bytes: Uint8Array) => (decodeModel(bytes, 'mlp').graph!.initializer as TensorProto[])
  .filter((t) => t.rawData.byteLength >= MIN_PASSED_THROUGH_BYTES).map((t) => t.rawData.byteOffset % 4);

describe(`ONNX output in parts (seed ${RUN_SEED})`, () => {
  it('encodeModelParts joins to encodeModel, passing big tensors through by reference', () => {
    for (const bytes of models()) {
      const proto = decodeModel(bytes, 'mlp');
      const whole = encodeModel(proto);
      const parts = encodeModelParts(proto);
      const big = (proto.graph!.initializer as TensorProto[]).filter((t) => t.rawData.byteLength >= MIN_PASSED_THROUGH_BYTES).map((t) => t.rawData);
      expect(big.length).toBeGreaterThan(1);
      for (const raw of big) expect(parts.includes(raw), 'a big tensor is a part of its own, not a copy').toBe(true);
      expect(parts.length).toBe(2 * big.length + 1);
      expect(Buffer.from(concatParts(parts, whole.byteLength)).equals(Buffer.from(whole))).toBe(true);
      // Every byte field its own part: still the same bytes.
      const small = encodeModelParts(proto, 1);
      expect(small.length).toBeGreaterThan(parts.length);
      expect(Buffer.from(concatParts(small, whole.byteLength)).equals(Buffer.from(whole))).toBe(true);
      expect(concatParts([whole], whole.byteLength)).toBe(whole);
    }
  });

  it('the fixtures hold weights at aligned and at unaligned offsets', () => {
    const all = models().flatMap(offsets);
    expect(all).toContain(0);
    expect(all.some((o) => o !== 0)).toBe(true);
  });

  it('compressOnnxParts joins to compressOnnx, and held weights give the bytes of the copying path', { timeout: 120000 }, async () => {
    const schemes: CompressOnnxOptions[] = [
      { dtype: 'qint8', firstLayer: 'quantize' },
      { dtype: 'qint4', granularity: 'group', groupSize: 32, firstLayer: 'quantize' },
      { dtype: 'quint8', granularity: 'tensor', firstLayer: 'quantize', minSqnrDb: 0 },
      { dtype: 'quint4', granularity: 'channel', firstLayer: 'quantize', minSqnrDb: 0 },
      { dtype: 'qint4', granularity: 'group', groupSize: 16, onnxOps: 'contrib' },
    ];
    for (const [m, bytes] of models().entries()) {
      for (const options of schemes) {
        const what = `model ${m} ${JSON.stringify(options)}`;
        const { parts, byteLength, report } = await compressOnnxParts(bytes, options, cpu);
        expect(report.tensors.filter((t) => t.action === 'quantize').length, what).toBeGreaterThan(1);
        const held = concatParts(parts, byteLength);
        const { model } = await compressOnnx(bytes, options, cpu);
        expect(Buffer.from(model).equals(Buffer.from(held)), `${what}: compressOnnx`).toBe(true);
        // Another array held: the compressor cannot hold its weights and copies them into each pass instead.
        const blocker = holdFloat32(16, 0)!;
        let copied: Uint8Array;
        try {
          copied = (await compressOnnx(bytes, options, cpu)).model;
        } finally {
          blocker.release();
        }
        expect(Buffer.from(copied).equals(Buffer.from(held)), `${what}: held against copied`).toBe(true);
        const reread = await OnnxModel.load(held, { name: 'out' });
        expect(reread.list().length, what).toBeGreaterThan(0);
      }
    }
  });
});
