// `onnxOps: 'contrib'` on embedding tables: Gather data written as onnxruntime's
// com.microsoft.GatherBlockQuantized (uint8 data [rows, D × bits / 8], scales [rows, blocks], per-row packed
// zero points, default 8 / 128, gather_axis 0, quantize_axis 1). Checked on a model built here from fresh
// seeded weights (token ids → Gather → MatMul): an independent decoder of that layout gives exactly the QDQ
// model's dequantized table; onnxruntime-node runs the contrib model and matches the QDQ model run unfused
// within float rounding; and what the kernel cannot hold stays QDQ with the reason.
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { type CompressOnnxOptions, compressOnnx } from '../../src/compress/compress-onnx.js';
import { dequantize } from '../../src/ops/dequantize.js';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';
import { readQdqWeights } from '../../src/io/onnx/qdq-read.js';
import { rng } from '../shared/random.js';
import { EMBEDDING_VOCAB as kVocab, buildEmbeddingModel } from '../shared/embedding-onnx.js';
import { RUN_SEED } from './support.js';
import { maxRelativeError } from '../shared/relative-error.js';

const { onnx } = onnxProto;
type Proto = onnxProto.onnx.ModelProto;
const cpu = { backend: 'cpu' } as const;
const kSeed = RUN_SEED;

const embeddingModel = (dim: number, gatherAxis = 0) => buildEmbeddingModel(onnx, dim, kSeed, gatherAxis);

/** Each GatherBlockQuantized table decoded independently into float32 [rows, D]. */
function decodeGather(model: Uint8Array): Map<string, { bits: number; block: number; values: Float32Array; zeroPoints: boolean }> {
  const proto = onnx.ModelProto.decode(model) as Proto;
  const init = new Map(proto.graph!.initializer!.map((t) => [t.name!, t]));
  const out = new Map();
  for (const node of proto.graph!.node!.filter((n) => n.opType === 'GatherBlockQuantized')) {
    const attr = (name: string) => Number(node.attribute!.find((a) => a.name === name)!.i);
    const [bits, block] = [attr('bits'), attr('block_size')];
    expect([attr('gather_axis'), attr('quantize_axis'), node.domain]).toEqual([0, 1, 'com.microsoft']);
    const data = init.get(node.input![0]!)!;
    const scales = init.get(node.input![2]!)!;
    const zp = node.input![3] ? init.get(node.input![3])! : undefined;
    const [rows, bytesPerRow] = data.dims!.map(Number) as [number, number];
    const d = (bytesPerRow * 8) / bits;
    const blocks = Math.ceil(d / block);
    expect(data.dataType).toBe(2);
    expect(scales.dims!.map(Number)).toEqual([rows, blocks]);
    const s = new Float32Array(new Uint8Array(scales.rawData!).slice().buffer);
    const zpPerRow = Math.ceil((blocks * bits) / 8);
    if (zp) expect(zp.dims!.map(Number)).toEqual([rows, zpPerRow]);
    const nibble = (bytes: Uint8Array, i: number) => (bytes[i >> 1]! >> ((i & 1) * 4)) & 0xf;
    const values = new Float32Array(rows * d);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < d; j++) {
        const b = Math.floor(j / block);
        const q = bits === 8 ? data.rawData![r * d + j]! : nibble(data.rawData!, r * d + j);
        const z = !zp ? 1 << (bits - 1) : bits === 8 ? zp.rawData![r * zpPerRow + b]! : nibble(zp.rawData!.subarray(r * zpPerRow), b);
        values[r * d + j] = Math.fround((q - z) * s[r * blocks + b]!);
      }
    }
    out.set(node.input![0]!.replace(/_gbq$/, ''), { bits, block, values, zeroPoints: zp !== undefined });
  }
  return out;
}

async function run(model: Uint8Array, ids: BigInt64Array, shape: number[], optimize = true): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(model, optimize ? {} : { graphOptimizationLevel: 'disabled' });
  try {
    return (await session.run({ ids: new ort.Tensor('int64', ids, shape) })).y!.data as Float32Array;
  } finally {
    await session.release();
  }
}

const opTypes = (model: Uint8Array) => (onnx.ModelProto.decode(model) as Proto).graph!.node!.map((n) => n.opType!);

describe('onnxOps contrib: GatherBlockQuantized', () => {
  const next = rng(kSeed + 5);
  const shape = [2, 9];
  // Fresh token ids, with the first and last rows of the table always among them.
  const ids = BigInt64Array.from({ length: 18 }, (_, i) => BigInt(i === 0 ? 0 : i === 1 ? kVocab - 1 : Math.floor(next() * kVocab)));
  const schemes: Record<string, [number, CompressOnnxOptions, number | undefined]> = {
    'qint4 groups of 32 (Q4_0 range: negated-scale blocks, no zero points)': [64, { dtype: 'qint4', granularity: 'group', groupSize: 32 }, 4],
    'quint4 groups of 16 on rows of 100 (affine: packed zero points; a short last block)': [100, { dtype: 'quint4', granularity: 'group', groupSize: 16 }, 4],
    'qint8 per channel (one scale a row, repeated per block)': [64, { dtype: 'qint8' }, 8],
    'quint8 per tensor': [64, { dtype: 'quint8', granularity: 'tensor' }, 8],
  };
  for (const [name, [dim, scheme, bits]] of Object.entries(schemes)) {
    it(`${name}: decodes to the QDQ table exactly; onnxruntime-node matches the QDQ model (seed ${kSeed})`, async () => {
      const model = embeddingModel(dim);
      const options = { ...scheme, firstLayer: 'quantize' as const, exclude: /proj/ };
      const qdq = await compressOnnx(model, options, cpu);
      const contrib = await compressOnnx(model, { ...options, onnxOps: 'contrib' }, cpu);
      expect(opTypes(contrib.model)).toEqual(['GatherBlockQuantized', 'MatMul']);
      const table = contrib.report.tensors.find((t) => t.name === 'embed.weight')!;
      expect(table.onnxOp).toBe('GatherBlockQuantized');
      expect(table.reason).toMatch(/GatherBlockQuantized, block_size \d+/);
      const decoded = decodeGather(contrib.model).get('embed.weight')!;
      expect(decoded.bits).toBe(bits);
      if (scheme.dtype === 'qint4' || scheme.dtype === 'qint8') expect(decoded.zeroPoints).toBe(false);
      const reference = (await readQdqWeights(await OnnxModel.load(qdq.model))).get('embed.weight')!;
      const expected = (await dequantize(reference, cpu)).data;
      // + 0: a negated-scale block gives -0 where QDQ gives 0.
      expect(Array.from(decoded.values, (v) => v + 0)).toEqual(Array.from(expected, (v) => v + 0));
      const yQdq = await run(qdq.model, ids, shape, false);
      const yContrib = await run(contrib.model, ids, shape);
      expect(maxRelativeError(yContrib, yQdq)).toBeLessThan(1e-5); // the same values: only the MatMul's rounding differs
      expect(maxRelativeError(yContrib, await run(model, ids, shape))).toBeLessThan(bits === 4 ? 0.3 : 0.05);
      expect(JSON.parse((onnx.ModelProto.decode(contrib.model) as Proto).metadataProps!.find((p) => p.key === 'webgpu-quant')!.value!).format)
        .toBe('GatherBlockQuantized');
    });
  }

  it('tables the kernel cannot hold stay QDQ with the reason, and the models run', async () => {
    const odd = embeddingModel(63);
    const oddOut = await compressOnnx(odd, { dtype: 'qint4', granularity: 'group', firstLayer: 'quantize', onnxOps: 'contrib', exclude: /proj/ }, cpu);
    expect(oddOut.report.tensors.find((t) => t.name === 'embed.weight')!.reason).toContain('QDQ, not GatherBlockQuantized: row length 63 is odd');
    expect(opTypes(oddOut.model)).toContain('DequantizeLinear');
    expect((await run(oddOut.model, ids, shape)).every(Number.isFinite)).toBe(true);
    const byColumn = embeddingModel(64, 1);
    const colOut = await compressOnnx(byColumn, { dtype: 'qint8', firstLayer: 'quantize', onnxOps: 'contrib', exclude: /proj/ }, cpu);
    expect(colOut.report.tensors.find((t) => t.name === 'embed.weight')!.reason).toContain('QDQ, not GatherBlockQuantized: read by Gather input 0 (axis 1)');
    expect((await run(colOut.model, ids, shape)).every(Number.isFinite)).toBe(true);
  });

  it('with MatMul weights too: both contrib operators in one model, matching QDQ', async () => {
    const model = embeddingModel(64);
    const options: CompressOnnxOptions = { dtype: 'qint4', granularity: 'group', groupSize: 32, firstLayer: 'quantize' };
    const qdq = await compressOnnx(model, options, cpu);
    const contrib = await compressOnnx(model, { ...options, onnxOps: 'contrib' }, cpu);
    expect(opTypes(contrib.model)).toEqual(['GatherBlockQuantized', 'MatMulNBits']);
    expect(maxRelativeError(await run(contrib.model, ids, shape), await run(qdq.model, ids, shape, false))).toBeLessThan(1e-5);
  });
});
