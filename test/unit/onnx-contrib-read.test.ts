// Reading MatMulNBits and GatherBlockQuantized weights back (contrib-read.ts) for `inspect`: each weight written with
// `onnxOps: 'contrib'` reads back as the QTensor the same scheme writes as QDQ (readQdqWeights): the same values
// bit for bit, and for group schemes the same integers, scales and zero points (blocks stored with a negated scale
// reflected back); fresh seeded weights each run. A weight whose tensors do not form one is left as stored tensors,
// and `inspect --original` measures a contrib file as the compression report did.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, describe, expect, it } from 'vitest';
import { type CompressOnnxOptions, compressOnnx } from '../../src/compress/compress-onnx.js';
import { describeContribWeights, readContribWeights } from '../../src/io/onnx/contrib-read.js';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';
import { readQdqWeights } from '../../src/io/onnx/qdq-read.js';
import { dequantize } from '../../src/ops/dequantize.js';
import type { QTensor } from '../../src/qtensor.js';
import { buildEmbeddingModel } from '../shared/embedding-onnx.js';
import { buildMlp } from '../shared/mlp-onnx.js';
import { runCli } from './cli-support.js';
import { RUN_SEED } from './support.js';

const { onnx } = onnxProto;
type Proto = onnxProto.onnx.ModelProto;
const cpu = { backend: 'cpu' } as const;
const kSeed = RUN_SEED;
const folder = mkdtempSync(join(tmpdir(), 'wq-contrib-read-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

/** The weights of a model written both ways, read back: QDQ and contrib, by name. */
async function bothWays(model: Uint8Array, options: CompressOnnxOptions) {
  const qdq = await compressOnnx(model, { ...options, firstLayer: 'quantize' }, cpu);
  const contrib = await compressOnnx(model, { ...options, firstLayer: 'quantize', onnxOps: 'contrib' }, cpu);
  return {
    qdq: await readQdqWeights(await OnnxModel.load(qdq.model)),
    read: await readContribWeights(await OnnxModel.load(contrib.model)),
    contrib,
  };
}

async function expectSameWeights(qdq: Map<string, QTensor>, contrib: Map<string, QTensor>, sameLayout: boolean): Promise<void> {
  expect([...contrib.keys()].sort()).toEqual([...qdq.keys()].sort());
  for (const [name, q] of qdq) {
    const c = contrib.get(name)!;
    expect(c.shape, name).toEqual(q.shape);
    expect((await dequantize(c, cpu)).data, name).toEqual((await dequantize(q, cpu)).data);
    if (!sameLayout) continue;
    expect([c.dtype, c.qPerChannelAxis(), c.qGroupSize()], name).toEqual([q.dtype, q.qPerChannelAxis(), q.qGroupSize()]);
    expect(c.intReprView(), name).toEqual(q.intReprView());
    expect(c.qPerGroupScales(), name).toEqual(q.qPerGroupScales());
    expect(c.qPerGroupZeroPoints(), name).toEqual(q.qPerGroupZeroPoints());
  }
}

describe('readContribWeights', () => {
  const mlp = buildMlp(onnx, [128, 512, 128, 100], kSeed);
  const groups: Record<string, CompressOnnxOptions> = {
    'MatMulNBits qint4 groups of 32 (Q4_0 range: zero points 0 or -1, stored as negated scales)': { dtype: 'qint4', granularity: 'group', groupSize: 32 },
    'MatMulNBits quint4 groups of 64 (zero points stored)': { dtype: 'quint4', granularity: 'group', groupSize: 64 },
    'MatMulNBits qint8 groups of 16, torch range': { dtype: 'qint8', granularity: 'group', groupSize: 16, range: 'torch' },
    'MatMulNBits qint4 groups of 32, narrow range (no zero points)': { dtype: 'qint4', granularity: 'group', groupSize: 32, range: 'narrow' },
  };
  for (const [name, options] of Object.entries(groups)) {
    it(`${name}: the QDQ weight's integers, scales and zero points (seed ${kSeed})`, async () => {
      const { qdq, read } = await bothWays(mlp.model, options);
      expect(read.quantized.size).toBe(3);
      await expectSameWeights(qdq, read.quantized, true);
      const zeroPoints = options.dtype === 'quint4' ? ['fc0.weight_zero_points'] : [];
      expect(read.parts.get('fc0.weight')).toEqual(['fc0.weight_nbits', 'fc0.weight_scales', ...zeroPoints]);
    });
  }

  it('MatMulNBits from per-channel and per-tensor schemes (blocks repeating a scale): the same values', async () => {
    for (const options of [{ dtype: 'qint8' }, { dtype: 'quint8', granularity: 'tensor' }] as CompressOnnxOptions[]) {
      const { qdq, read } = await bothWays(mlp.model, options);
      await expectSameWeights(qdq, read.quantized, false);
    }
  });

  it('K not a multiple of the block size: the padding past K is left out', async () => {
    const odd = buildMlp(onnx, [100, 96, 72], kSeed + 2);
    const { qdq, read } = await bothWays(odd.model, { dtype: 'quint4', granularity: 'group', groupSize: 32, minElements: 1 });
    expect([...read.quantized.values()].map((q) => q.shape)).toEqual([[100, 96], [96, 72]]);
    await expectSameWeights(qdq, read.quantized, true);
  });

  it('GatherBlockQuantized: the embedding table as its QDQ weight', async () => {
    for (const [dim, options] of [[64, { dtype: 'qint4', granularity: 'group', groupSize: 32 }], [100, { dtype: 'quint4', granularity: 'group', groupSize: 16 }]] as const) {
      const { qdq, read } = await bothWays(buildEmbeddingModel(onnx, dim, kSeed + dim), options);
      const table = [...read.quantized.keys()].find((k) => read.parts.get(k)![0]!.endsWith('_gbq'))!;
      expect(read.quantized.get(table)!.shape).toEqual([1000, dim]);
      await expectSameWeights(qdq, read.quantized, true);
    }
  });

  it('a block with a scale of 0, or a node without its tensors, is left as stored tensors', async () => {
    const { contrib } = await bothWays(mlp.model, { dtype: 'qint4', granularity: 'group', groupSize: 32 });
    const proto = onnx.ModelProto.decode(contrib.model) as Proto;
    const scales = proto.graph!.initializer!.find((t) => t.name === 'fc1.weight_scales')!;
    new DataView(scales.rawData!.buffer, scales.rawData!.byteOffset).setFloat32(4 * 7, 0, true);
    const node = proto.graph!.node!.find((n) => n.input!.includes('fc2.weight_nbits'))!;
    node.input![2] = 'not_stored'; // its scales an activation: nothing to read
    const read = await readContribWeights(await OnnxModel.load(onnx.ModelProto.encode(proto).finish()));
    expect([...read.quantized.keys()]).toEqual(['fc0.weight']);
  });

  it('a scale outside what a QTensor takes (subnormal, past 2^126, NaN, -Infinity) leaves its weight as stored tensors; a negative one in range does not', async () => {
    const { contrib } = await bothWays(mlp.model, { dtype: 'qint4', granularity: 'group', groupSize: 32 });
    for (const [value, kept] of [[1e-40, false], [-(2 ** 127), false], [NaN, false], [-Infinity, false], [-(2 ** -126), true], [2 ** 126, true]] as const) {
      const proto = onnx.ModelProto.decode(contrib.model) as Proto;
      const scales = proto.graph!.initializer!.find((t) => t.name === 'fc1.weight_scales')!;
      const view = new DataView(scales.rawData!.buffer, scales.rawData!.byteOffset);
      const at = 4 * Math.floor(scales.rawData!.byteLength / 4 / 3);
      view.setFloat32(at, value, true);
      const model = await OnnxModel.load(onnx.ModelProto.encode(proto).finish());
      const { weights } = await describeContribWeights(model);
      expect(weights.has('fc1.weight'), String(value)).toBe(kept);
      if (kept) {
        const q = await weights.get('fc1.weight')!.load(); // its parameters made on load, the group's scale made positive
        expect([...(q.params as { scales: Float64Array }).scales].filter((v) => v === Math.abs(value)), String(value)).toHaveLength(1);
      }
    }
  });

  it('inspect --original measures a MatMulNBits file as the compression report did', async () => {
    const original = join(folder, 'mlp.onnx');
    writeFileSync(original, mlp.model);
    const { contrib } = await bothWays(mlp.model, { dtype: 'qint4', granularity: 'group', groupSize: 32 });
    const path = join(folder, 'mlp.q4.onnx');
    writeFileSync(path, contrib.model);
    const result = await runCli(['inspect', path, '--original', original, '--json', '--sort', 'name']);
    expect(result.code).toBe(0);
    const rows = (JSON.parse(result.stdout) as { tensors: { name: string; quantized: boolean; scheme: string; sqnrDb: number; parts: string[] }[] }).tensors;
    const measured = rows.filter((r) => r.quantized);
    expect(measured.map((r) => [r.name, r.scheme, r.parts])).toEqual([0, 1, 2].map((i) => [`fc${i}.weight`, 'qint4 per group of 32 (axis 0)',
      [`fc${i}.weight_nbits`, `fc${i}.weight_scales`]]));
    for (const row of measured) {
      const reported = contrib.report.tensors.find((t) => t.name === row.name)!.sqnrDb!;
      expect(row.sqnrDb, row.name).toBeCloseTo(reported, 6);
    }
    expect(rows.some((r) => r.name.endsWith('_nbits') || r.name.endsWith('_scales'))).toBe(false); // folded into their weight
  });
});
