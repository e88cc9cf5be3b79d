// compressOnnxParts on a loaded model holds quantized integers up to a limit; past it, a QDQ weight's integers are
// left out of memory and quantized again from the model when the parts are written (requantize.ts). The file is
// the same, byte for byte, for every scheme (8 and 4 bits, per tensor, channel and group, float16 weights, float16
// scales, escalations, a NaN weight kept), with a pool and without, from a model in memory and from a file.
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, describe, expect, it } from 'vitest';
import { compressOnnx, compressOnnxParts } from '../../src/compress/compress-onnx.js';
import type { CompressOnnxOptions } from '../../src/compress/onnx-options.js';
import { quantizeAgainLater, requantizeLater } from '../../src/compress/requantize.js';
import { FormatError } from '../../src/errors.js';
import { concatParts, isPlaceholder, materialized, producedLater, writeParts } from '../../src/io/onnx/deferred-raw-data.js';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';
import { decodeModel, encodeModel } from '../../src/io/onnx/proto.js';
import { bytesSource } from '../../src/io/byte-source.js';
import { nodeFileSource } from '../../src/io/safetensors/node-file-source.js';
import { quantizePerChannel, quantizePerGroup } from '../../src/ops/quantize.js';
import { buildEmbeddingModel } from '../shared/embedding-onnx.js';
import { buildMlp } from '../shared/mlp-onnx.js';
import { useCpuWorkerPool } from '../shared/cpu-worker-pool-fixture.js';
import { mixedMlp } from '../shared/mixed-mlp.js';
import { RUN_SEED, normalData, rng } from './support.js';

const cpu = { backend: 'cpu' } as const;
const withoutSeconds = <T extends { seconds: number }>(report: T) => ({ ...report, seconds: 0 });

const randomModel = mixedMlp;

async function written(parts: readonly Uint8Array[], byteLength: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  await writeParts(parts, async (chunk) => { chunks.push(chunk.slice()); });
  return concatParts(chunks, byteLength);
}

const fixture = useCpuWorkerPool(2);
const dir = mkdtempSync(join(tmpdir(), 'wq-onnx-requantize-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe(`ONNX integers quantized again when written (seed ${RUN_SEED})`, () => {
  it('the same file and report as holding every weight, for every scheme, with and without a pool', { timeout: 120000 }, async () => {
    const bytes = randomModel(RUN_SEED + 5);
    const schemes: CompressOnnxOptions[] = [
      { firstLayer: 'quantize' },
      { dtype: 'qint4', granularity: 'group', groupSize: 32, firstLayer: 'quantize' },
      { dtype: 'quint8', granularity: 'tensor', firstLayer: 'quantize' },
      { dtype: 'quint4', granularity: 'channel', firstLayer: 'quantize', minSqnrDb: 0 },
      { dtype: 'qint4', granularity: 'group', groupSize: 32, scaleDtype: 'float16' },
      { dtype: 'qint4', granularity: 'group', groupSize: 32, onnxOps: 'contrib' },
      { dtype: 'qint4', granularity: 'group', groupSize: 32, range: 'extreme', onnxOps: 'contrib', firstLayer: 'quantize' },
      { dtype: 'quint4', granularity: 'group', groupSize: 64, symmetric: false, onnxOps: 'contrib', minSqnrDb: 0 },
      { dtype: 'qint8', onnxOps: 'contrib', firstLayer: 'quantize' },
    ];
    for (const options of schemes) {
      const expected = await compressOnnx(bytes, options, cpu);
      for (const withPool of [false, true]) {
        const what = `${JSON.stringify(options)}, pool ${withPool}`;
        const model = await OnnxModel.load(bytes, { name: 'mlp' });
        // Nothing held: every QDQ weight is quantized again when written.
        const { parts, byteLength, report } = await compressOnnxParts(model, { ...options, ...(withPool ? { pool: fixture.pool } : {}) }, cpu, { heldIntegerBytes: 0 });
        const again = parts.filter(isPlaceholder).length;
        // QDQ integers, and MatMulNBits blocks (quantized again, then packed).
        const quantized = report.tensors.filter((t) => t.onnxOp === 'DequantizeLinear' || t.onnxOp === 'MatMulNBits');
        expect(again, what).toBe(quantized.length);
        expect(quantized.length, what).toBeGreaterThan(1);
        if (options.onnxOps === 'contrib') expect(quantized.some((t) => t.onnxOp === 'MatMulNBits'), what).toBe(true);
        expect(() => concatParts(parts, byteLength), what).toThrow(/produced when written; write the parts with writeParts/);
        expect(Buffer.compare(await written(parts, byteLength), expected.model), what).toBe(0);
        // Written twice: produced again each time, the same bytes.
        expect(Buffer.compare(await written(parts, byteLength), expected.model), what).toBe(0);
        expect(withoutSeconds(report), what).toEqual(withoutSeconds(expected.report));
      }
    }
  });

  it('GatherBlockQuantized tables quantized again and packed when written: the same file', async () => {
    const bytes = buildEmbeddingModel(onnxProto.onnx, 64, RUN_SEED + 9);
    for (const options of [{ onnxOps: 'contrib', dtype: 'qint4', granularity: 'group', groupSize: 32, minSqnrDb: 0 },
      { onnxOps: 'contrib', dtype: 'quint8', minSqnrDb: 0, firstLayer: 'quantize' }] as CompressOnnxOptions[]) {
      const expected = await compressOnnx(bytes, options, cpu);
      const { parts, byteLength, report } = await compressOnnxParts(await OnnxModel.load(bytes, { name: 'embedding' }), options, cpu, { heldIntegerBytes: 0 });
      expect(report.tensors.some((t) => t.onnxOp === 'GatherBlockQuantized'), JSON.stringify(options)).toBe(true);
      expect(parts.filter(isPlaceholder).length, JSON.stringify(options)).toBe(report.tensors.filter((t) => t.action === 'quantize').length);
      expect(Buffer.compare(await written(parts, byteLength), expected.model), JSON.stringify(options)).toBe(0);
    }
  });

  it('holds weights up to the limit and quantizes again only past it; none past it when the limit is not reached', async () => {
    const bytes = randomModel(RUN_SEED + 6);
    const expected = await compressOnnx(bytes, { firstLayer: 'quantize' }, cpu);
    const qdq = expected.report.tensors.filter((t) => t.onnxOp === 'DequantizeLinear');
    const first = qdq[0]!.bytesAfter; // integers + scales: above the integers alone, below two weights' integers
    for (const [limit, count] of [[first, qdq.length - 1], [Infinity, 0], [256 * 2 ** 20, 0]] as const) {
      const model = await OnnxModel.load(bytes, { name: 'mlp' });
      const { parts, byteLength } = await compressOnnxParts(model, { firstLayer: 'quantize' }, cpu, { heldIntegerBytes: limit });
      expect(parts.filter(isPlaceholder).length, String(limit)).toBe(count);
      expect(Buffer.compare(await written(parts, byteLength), expected.model)).toBe(0);
    }
    // From bytes (not a loaded model) every integer is held: the parts can be joined.
    const { parts, byteLength } = await compressOnnxParts(bytes, { firstLayer: 'quantize' }, cpu, { heldIntegerBytes: 0 });
    expect(Buffer.compare(concatParts(parts, byteLength), expected.model)).toBe(0);
  });

  it('a model read from its file: weights read again from there; a file cut short fails the write with a FormatError', async () => {
    const bytes = randomModel(RUN_SEED + 7);
    const expected = await compressOnnx(bytes, {}, cpu);
    const path = join(dir, 'm.onnx');
    writeFileSync(path, bytes);
    const source = await nodeFileSource(path);
    try {
      const model = await OnnxModel.loadDeferred(source, { name: 'm.onnx' });
      const { parts, byteLength } = await compressOnnxParts(model, { pool: fixture.pool }, cpu, { heldIntegerBytes: 0 });
      expect(parts.filter(isPlaceholder).length).toBeGreaterThan(2); // the weights still in the file, and those produced later
      expect(Buffer.compare(await written(parts, byteLength), expected.model)).toBe(0);
      truncateSync(path, 1000);
      const error = await written(parts, byteLength).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FormatError);
      expect((error as Error).message).toMatch(/m\.onnx: .*(truncated|file ended)/);
    } finally {
      await source.close();
    }
    // Through an in-memory source too (bytesSource), with model.materialize() producing them for encode().
    const deferred = await OnnxModel.loadDeferred(bytesSource(bytes), { name: 'mlp' });
    await compressOnnxParts(deferred, {}, cpu, { heldIntegerBytes: 0 });
    expect(() => deferred.encode()).toThrow(/produced when written/);
    await deferred.materialize();
    expect(Buffer.compare(deferred.encode(), expected.model)).toBe(0);
  });

  it('requantizeLater and quantizeAgainLater give the integers of the first quantization; producedLater checks the length it promised', async () => {
    const next = rng(RUN_SEED + 8);
    const data = normalData(96 * 40, next);
    const proto = decodeModel(buildMlp(onnxProto.onnx, [96, 40], RUN_SEED).model, 'mlp');
    proto.graph!.initializer!.find((t) => t.name === 'fc0.weight')!.rawData = new Uint8Array(data.buffer);
    const model = await OnnxModel.load(encodeModel(proto), { name: 'mlp' });
    const scales = Float64Array.from({ length: 40 }, () => 0.002 + 0.01 * next());
    const zeroPoints = Int32Array.from({ length: 40 }, () => Math.floor(next() * 16) - 8);
    for (const dtype of ['qint8', 'qint4'] as const) {
      const q = await quantizePerChannel({ data, shape: [96, 40] }, scales, zeroPoints, 1, dtype, cpu);
      const want = dtype === 'qint8' ? new Uint8Array(q.intRepr().buffer) : q.packedData();
      expect(Buffer.compare(await requantizeLater(model, 'fc0.weight', q)(), want), dtype).toBe(0);
    }
    // Groups: parameters made again by the caller (a writer's own arrays) are used, and not kept, when they are the
    // same values; otherwise the kept copy is (the same integers either way).
    const groupScales = Float64Array.from({ length: 3 * 40 }, () => Math.fround(0.002 + 0.01 * next()));
    const groupZeros = Int32Array.from({ length: 3 * 40 }, () => Math.floor(next() * 16) - 8);
    const q = await quantizePerGroup({ data, shape: [96, 40] }, groupScales, groupZeros, 0, 32, 'qint4', cpu);
    let calls = 0;
    const same = () => { calls++; return { scales: Float32Array.from(groupScales), zeroPoints: Int16Array.from(groupZeros) }; };
    const again = quantizeAgainLater(model, 'fc0.weight', q, undefined, undefined, same);
    expect(calls).toBe(1); // checked once
    expect((await again()).intReprView()).toEqual(q.intReprView());
    expect(calls).toBe(2); // and made again when quantizing
    const wrong = () => ({ scales: Float32Array.from(groupScales, (s) => 2 * s), zeroPoints: Int16Array.from(groupZeros) });
    expect((await quantizeAgainLater(model, 'fc0.weight', q, undefined, undefined, wrong)()).intReprView()).toEqual(q.intReprView());
    const short = producedLater(8, async () => new Uint8Array(7));
    await expect(materialized(short)).rejects.toThrow(/produced 7 bytes where 8 were planned/);
    await expect(writeParts([short], async () => {})).rejects.toThrow(FormatError);
  });
});
