// compressOnnxParts with a sink that can start again writes a single-file ONNX output as planned, while the weights
// are compressed: the same bytes as compressOnnx for every scheme; a weight other than planned (escalated, kept for
// a NaN) starts the sink again and the parts are written after; the integers are let go once written.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, describe, expect, it } from 'vitest';
import { compressOnnx, compressOnnxParts } from '../../src/compress/compress-onnx.js';
import type { CompressOnnxOptions } from '../../src/compress/onnx-options.js';
import { isPlaceholder, writeParts } from '../../src/io/onnx/deferred-raw-data.js';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';
import { type TensorProto, decodeModel, encodeModel } from '../../src/io/onnx/proto.js';
import { memorySink } from '../../src/io/safetensors/sinks.js';
import { nodeFileSource } from '../../src/io/safetensors/node-file-source.js';
import { useCpuWorkerPool } from '../shared/cpu-worker-pool-fixture.js';
import { buildEmbeddingModel } from '../shared/embedding-onnx.js';
import { buildMlp } from '../shared/mlp-onnx.js';
import { mixedMlp } from '../shared/mixed-mlp.js';
import { RUN_SEED } from './support.js';

const cpu = { backend: 'cpu' } as const;
const fixture = useCpuWorkerPool(2);
const dir = mkdtempSync(join(tmpdir(), 'wq-onnx-planned-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const withoutSeconds = <T extends { seconds: number }>(report: T) => ({ ...report, seconds: 0 });

/** A memory sink that counts its restarts and records how many bytes it held at each weight's progress. */
function recordingSink() {
  const inner = memorySink();
  const log = { restarts: 0, atProgress: [] as number[] };
  const sink = { ...inner, write: inner.write, close: inner.close, abort: inner.abort, bytes: inner.bytes,
    restart: async () => { log.restarts++; await inner.restart!(); } };
  return { sink, log, onProgress: () => { log.atProgress.push(inner.byteLength); } };
}

/** Runs compressOnnxParts into a recording sink, writing the returned parts when it was not written as planned. */
async function throughSink(model: OnnxModel, options: CompressOnnxOptions) {
  const { sink, log, onProgress } = recordingSink();
  const result = await compressOnnxParts(model, { ...options, onProgress }, cpu, { sink });
  if (!result.written) await writeParts(result.parts, (chunk) => sink.write(chunk));
  await sink.close();
  return { bytes: sink.bytes(), log, result };
}

const plainMlp = (seed: number, opset = 17) => buildMlp(onnxProto.onnx, [256, 512, 384, 300, 64], seed, opset).model;

describe(`ONNX output written as planned (seed ${RUN_SEED})`, () => {
  it('the same file and report as compressOnnx, written while the weights are compressed, the integers let go', { timeout: 120000 }, async () => {
    const schemes: CompressOnnxOptions[] = [
      {},
      { firstLayer: 'quantize' },
      { dtype: 'qint4', granularity: 'group', groupSize: 32, firstLayer: 'quantize', minSqnrDb: 0 },
      { dtype: 'quint8', granularity: 'tensor', minSqnrDb: 0 },
      { dtype: 'quint4', granularity: 'channel', minSqnrDb: 0 },
      { dtype: 'qint4', granularity: 'group', groupSize: 32, scaleDtype: 'float16', minSqnrDb: 0 },
    ];
    for (const [s, options] of schemes.entries()) {
      const bytes = plainMlp(RUN_SEED + s);
      const expected = await compressOnnx(bytes, options, cpu);
      for (const pool of [undefined, fixture.pool]) {
        const what = `${JSON.stringify(options)}, pool ${pool !== undefined}`;
        const model = await OnnxModel.load(bytes, { name: 'mlp' });
        const { bytes: out, log, result } = await throughSink(model, { ...options, ...(pool ? { pool } : {}) });
        expect(result.written, what).toBe(true);
        expect(log.restarts, what).toBe(0);
        expect(Buffer.compare(out, expected.model), what).toBe(0);
        expect(withoutSeconds(result.report), what).toEqual(withoutSeconds(expected.report));
        // Written as the weights came in: the first quantized weight's integers were in the sink at its progress.
        const first = result.report.tensors.findIndex((t) => t.action === 'quantize');
        expect(log.atProgress[first]!, what).toBeGreaterThan(result.report.tensors[first]!.bytesAfter);
        expect(log.atProgress[first]!, what).toBeLessThan(out.byteLength);
        // Each quantized weight's integers were let go once written: what the model holds now is a placeholder.
        const quantized = (model.proto.graph!.initializer as TensorProto[]).filter((t) => t.name!.endsWith('_quantized'));
        expect(quantized.length, what).toBe(result.report.totals.tensorsQuantized);
        expect(quantized.every((t) => isPlaceholder(t.rawData)), what).toBe(true);
      }
    }
  });

  it('contrib operators (MatMulNBits, GatherBlockQuantized) the same: written as planned, the same file, the blocks let go', { timeout: 120000 }, async () => {
    const schemes: CompressOnnxOptions[] = [
      { onnxOps: 'contrib', dtype: 'qint4', granularity: 'group', groupSize: 32, firstLayer: 'quantize', minSqnrDb: 0 },
      { onnxOps: 'contrib', dtype: 'qint8', firstLayer: 'quantize' },
      { onnxOps: 'contrib', dtype: 'quint4', granularity: 'group', groupSize: 64, symmetric: false, minSqnrDb: 0 },
      { onnxOps: 'contrib', dtype: 'qint4', granularity: 'group', groupSize: 32, range: 'extreme', minSqnrDb: 0 },
    ];
    for (const [s, options] of schemes.entries()) {
      const bytes = plainMlp(RUN_SEED + 40 + s);
      const expected = await compressOnnx(bytes, options, cpu);
      expect(expected.report.tensors.some((t) => t.onnxOp === 'MatMulNBits'), JSON.stringify(options)).toBe(true);
      for (const pool of [undefined, fixture.pool]) {
        const what = `${JSON.stringify(options)}, pool ${pool !== undefined}`;
        const model = await OnnxModel.load(bytes, { name: 'mlp' });
        const { bytes: out, log, result } = await throughSink(model, { ...options, ...(pool ? { pool } : {}) });
        expect([result.written, log.restarts], what).toEqual([true, 0]);
        expect(Buffer.compare(out, expected.model), what).toBe(0);
        expect(withoutSeconds(result.report), what).toEqual(withoutSeconds(expected.report));
        const first = result.report.tensors.findIndex((t) => t.action === 'quantize');
        expect(log.atProgress[first]!, what).toBeGreaterThan(result.report.tensors[first]!.bytesAfter);
        // The blocks were let go once written: each MatMulNBits B input is a placeholder now.
        const nbits = (model.proto.graph!.initializer as TensorProto[]).filter((t) => t.name!.endsWith('_nbits'));
        expect(nbits.length, what).toBe(result.report.tensors.filter((t) => t.onnxOp === 'MatMulNBits').length);
        expect(nbits.every((t) => isPlaceholder(t.rawData)), what).toBe(true);
      }
    }
    // An embedding table as GatherBlockQuantized beside MatMul weights.
    const embedding = buildEmbeddingModel(onnxProto.onnx, 64, RUN_SEED + 50);
    for (const options of [{ onnxOps: 'contrib', dtype: 'qint4', granularity: 'group', groupSize: 32, minSqnrDb: 0 },
      { onnxOps: 'contrib', dtype: 'quint8', minSqnrDb: 0, firstLayer: 'quantize' }] as CompressOnnxOptions[]) {
      const expected = await compressOnnx(embedding, options, cpu);
      expect(expected.report.tensors.some((t) => t.onnxOp === 'GatherBlockQuantized'), JSON.stringify(options)).toBe(true);
      const { bytes: out, log, result } = await throughSink(await OnnxModel.load(embedding, { name: 'embedding' }), options);
      expect([result.written, log.restarts], JSON.stringify(options)).toEqual([true, 0]);
      expect(Buffer.compare(out, expected.model), JSON.stringify(options)).toBe(0);
    }
  });

  it('a weight other than planned (escalated, kept for a NaN, float16 in) starts the sink again: the same bytes', { timeout: 60000 }, async () => {
    const bytes = mixedMlp(RUN_SEED + 20);
    for (const options of [{ firstLayer: 'quantize' }, { granularity: 'tensor', firstLayer: 'quantize' },
      { onnxOps: 'contrib', dtype: 'qint4', granularity: 'group', groupSize: 32, firstLayer: 'quantize' }] as CompressOnnxOptions[]) {
      const expected = await compressOnnx(bytes, options, cpu);
      const { bytes: out, log, result } = await throughSink(await OnnxModel.load(bytes, { name: 'mlp' }), options);
      expect(result.written, JSON.stringify(options)).toBeUndefined();
      expect(log.restarts, JSON.stringify(options)).toBe(1);
      expect(Buffer.compare(out, expected.model), JSON.stringify(options)).toBe(0);
      expect(withoutSeconds(result.report)).toEqual(withoutSeconds(expected.report));
    }
  });

  it('an opset raised for the schemes, a model read from its file, and a sink that cannot start again', { timeout: 60000 }, async () => {
    // Opset 11 with per-group int4: the model is raised to 21 (the plan knows it).
    const old = plainMlp(RUN_SEED + 30, 11);
    const options: CompressOnnxOptions = { dtype: 'qint4', granularity: 'group', groupSize: 32, minSqnrDb: 0 };
    const expected = await compressOnnx(old, options, cpu);
    expect(expected.report.opset.after).toBeGreaterThan(11);
    const raised = await throughSink(await OnnxModel.load(old, { name: 'mlp' }), options);
    expect([raised.result.written, raised.log.restarts]).toEqual([true, 0]);
    expect(Buffer.compare(raised.bytes, expected.model)).toBe(0);
    // From its file, with the pool: the kept weights copied from there.
    const bytes = plainMlp(RUN_SEED + 31);
    const path = join(dir, 'm.onnx');
    writeFileSync(path, bytes);
    const source = await nodeFileSource(path);
    try {
      const fromFile = await throughSink(await OnnxModel.loadDeferred(source, { name: 'm.onnx' }), { pool: fixture.pool });
      expect([fromFile.result.written, fromFile.log.restarts]).toEqual([true, 0]);
      expect(Buffer.compare(fromFile.bytes, (await compressOnnx(bytes, {}, cpu)).model)).toBe(0);
    } finally {
      await source.close();
    }
    // Without restart(): nothing is written during the call.
    const plain = memorySink();
    const noRestart = { write: plain.write, close: plain.close, abort: plain.abort };
    const result = await compressOnnxParts(await OnnxModel.load(bytes, { name: 'mlp' }), {}, cpu, { sink: noRestart });
    expect([result.written, plain.byteLength]).toEqual([undefined, 0]);
  });

  it('weights written as planned let go of their scales and zero points too (QDQ, MatMulNBits, GatherBlockQuantized); written again, they are computed again: the same bytes', { timeout: 180000 }, async () => {
    const schemes: CompressOnnxOptions[] = [
      { firstLayer: 'quantize' },
      { dtype: 'qint4', granularity: 'group', groupSize: 32, minSqnrDb: 0 },
      { dtype: 'qint4', granularity: 'group', groupSize: 32, range: 'extreme', minSqnrDb: 0 },
      { dtype: 'quint4', granularity: 'group', groupSize: 64, symmetric: false, calibrate: 'mse', minSqnrDb: 0 },
      { dtype: 'qint4', granularity: 'group', groupSize: 32, scaleDtype: 'float16', minSqnrDb: 0 },
      { dtype: 'quint8', granularity: 'tensor', minSqnrDb: 0 },
      { onnxOps: 'contrib', dtype: 'qint4', granularity: 'group', groupSize: 32, firstLayer: 'quantize', minSqnrDb: 0 },
      { onnxOps: 'contrib', dtype: 'qint4', granularity: 'group', groupSize: 32, range: 'extreme', minSqnrDb: 0 },
      { onnxOps: 'contrib', dtype: 'quint4', granularity: 'group', groupSize: 64, symmetric: false, minSqnrDb: 0 },
      { onnxOps: 'contrib', dtype: 'qint8', firstLayer: 'quantize' },
    ];
    for (const [s, options] of schemes.entries()) {
      // The model's doc string changes as the last weight comes in, after the plan was encoded: every weight was
      // written as planned and let go, and the whole file is written again from the parts.
      const proto = decodeModel(plainMlp(RUN_SEED + 60 + s), 'mlp');
      proto.docString = 'x'.repeat(8);
      const before = encodeModel(proto);
      proto.docString = 'y'.repeat(8);
      const expected = await compressOnnx(encodeModel(proto), options, cpu);
      for (const pool of [undefined, fixture.pool]) {
        const what = `${JSON.stringify(options)}, pool ${pool !== undefined}`;
        const model = await OnnxModel.load(before, { name: 'mlp' });
        const { sink, log } = recordingSink();
        let done = 0;
        const onProgress = ({ total }: { total: number }) => { if (++done === total) model.proto.docString = 'y'.repeat(8); };
        const result = await compressOnnxParts(model, { ...options, onProgress, ...(pool ? { pool } : {}) }, cpu, { sink });
        expect([result.written, log.restarts], what).toEqual([undefined, 1]);
        // Every tensor a quantized weight added is a placeholder now: integers (or MatMulNBits blocks), scales, zero points.
        const added = (model.proto.graph!.initializer as TensorProto[])
          .filter((t) => /_(quantized|nbits|scales?|scale_float16|zero_points?)$/.test(t.name!));
        expect(added.filter((t) => /_(scales?|scale_float16)$/.test(t.name!)).length, what).toBe(result.report.totals.tensorsQuantized);
        expect(added.filter((t) => !isPlaceholder(t.rawData)).map((t) => t.name), what).toEqual([]);
        await writeParts(result.parts, (chunk) => sink.write(chunk));
        expect(Buffer.compare(sink.bytes(), expected.model), what).toBe(0);
        expect(withoutSeconds(result.report), what).toEqual(withoutSeconds(expected.report));
      }
    }
    // An embedding table as GatherBlockQuantized beside MatMulNBits weights: its data, scales and zero points too.
    for (const options of [{ onnxOps: 'contrib', dtype: 'qint4', granularity: 'group', groupSize: 32, minSqnrDb: 0 },
      { onnxOps: 'contrib', dtype: 'qint4', granularity: 'group', groupSize: 32, range: 'extreme', minSqnrDb: 0 }] as CompressOnnxOptions[]) {
      const proto = decodeModel(buildEmbeddingModel(onnxProto.onnx, 64, RUN_SEED + 80), 'embedding');
      proto.docString = 'x'.repeat(8);
      const before = encodeModel(proto);
      proto.docString = 'y'.repeat(8);
      const expected = await compressOnnx(encodeModel(proto), options, cpu);
      const model = await OnnxModel.load(before, { name: 'embedding' });
      const { sink, log } = recordingSink();
      let done = 0;
      const onProgress = ({ total }: { total: number }) => { if (++done === total) model.proto.docString = 'y'.repeat(8); };
      const result = await compressOnnxParts(model, { ...options, onProgress }, cpu, { sink });
      expect([result.written, log.restarts], JSON.stringify(options)).toEqual([undefined, 1]);
      const added = (model.proto.graph!.initializer as TensorProto[]).filter((t) => /_(gbq|nbits|scales|zero_points)$/.test(t.name!));
      expect(added.some((t) => t.name!.endsWith('_gbq')), JSON.stringify(options)).toBe(true);
      expect(added.filter((t) => !isPlaceholder(t.rawData)).map((t) => t.name), JSON.stringify(options)).toEqual([]);
      await writeParts(result.parts, (chunk) => sink.write(chunk));
      expect(Buffer.compare(sink.bytes(), expected.model), JSON.stringify(options)).toBe(0);
    }
    // From its file, read in blocks of rows (this thread) or by the workers themselves: computed again the same.
    const proto = decodeModel(plainMlp(RUN_SEED + 70), 'mlp');
    proto.docString = 'x'.repeat(8);
    const path = join(dir, 'again.onnx');
    writeFileSync(path, encodeModel(proto));
    proto.docString = 'y'.repeat(8);
    for (const options of [schemes[1]!, schemes[6]!]) {
      const expected = await compressOnnx(encodeModel(proto), options, cpu);
      for (const pool of [undefined, fixture.pool]) {
        const what = `${JSON.stringify(options)} from its file, pool ${pool !== undefined}`;
        const source = await nodeFileSource(path);
        try {
          const model = await OnnxModel.loadDeferred(source, { name: 'again.onnx' });
          const { sink, log } = recordingSink();
          let done = 0;
          const onProgress = ({ total }: { total: number }) => { if (++done === total) model.proto.docString = 'y'.repeat(8); };
          const result = await compressOnnxParts(model, { ...options, onProgress, ...(pool ? { pool } : {}) }, cpu, { sink, fileBlockBytes: 16384 });
          expect([result.written, log.restarts], what).toEqual([undefined, 1]);
          await writeParts(result.parts, (chunk) => sink.write(chunk));
          expect(Buffer.compare(sink.bytes(), expected.model), what).toBe(0);
        } finally {
          await source.close();
        }
      }
    }
  });

  it('a layout other than planned at the end (the metadata changed after planning) is caught: the sink starts again', async () => {
    const bytes = plainMlp(RUN_SEED + 40);
    const proto = decodeModel(bytes, 'mlp');
    proto.docString = 'x'.repeat(10);
    const model = await OnnxModel.load(encodeModel(proto), { name: 'mlp' });
    const expected = await compressOnnx(encodeModel(proto), {}, cpu);
    const { sink, log } = recordingSink();
    // The model's doc string changes once the first weight is done, after the plan was encoded.
    const result = await compressOnnxParts(model, { onProgress: () => { model.proto.docString = 'y'.repeat(12); } }, cpu, { sink });
    expect(result.written).toBeUndefined();
    expect(log.restarts).toBe(1);
    await writeParts(result.parts, (chunk) => sink.write(chunk));
    const out = OnnxModel.load(sink.bytes(), { name: 'out' });
    expect((await out).proto.docString).toBe('y'.repeat(12));
    expect(sink.bytes().byteLength).toBe(expected.model.byteLength + 2);
  });
});
