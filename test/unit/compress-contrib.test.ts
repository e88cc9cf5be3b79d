// `onnxOps: 'contrib'`: MatMul weights written as onnxruntime's com.microsoft.MatMulNBits. Checked three
// ways on MLPs built here from fresh seeded weights: an independent decoder of onnxruntime's layout (B
// [N, blocks, blob] low nibble first, scales [N, blocks], per-column packed zero points, default 8 / 128)
// gives exactly the values of the QDQ model's DequantizeLinear; onnxruntime-node runs the contrib model
// and matches the QDQ model run unfused (graph optimisations off, so DequantizeLinear + float MatMul)
// within float rounding; and the targets on 4 × [1024, 4096] weights (size, accuracy, every MatMul
// a MatMulNBits).
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { type CompressOnnxOptions, compressOnnx } from '../../src/compress/compress-onnx.js';
import { dequantize } from '../../src/ops/dequantize.js';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';
import { readQdqWeights } from '../../src/io/onnx/qdq-read.js';
import { verifyModels } from '../../src/verify/verify-models.js';
import { parseCommandLine } from '../../src/cli/args.js';
import { buildMlp, seededNormal } from '../shared/mlp-onnx.js';
import { RUN_SEED, expectInvalidAsync } from './support.js';
import { maxRelativeError, rmsRelativeError } from '../shared/relative-error.js';

const { onnx } = onnxProto;
const cpu = { backend: 'cpu' } as const;
const kSmall = [128, 512, 128, 512, 100]; // the last K (512) and N (100) are not multiples of 32 / of 2
const kSeed = RUN_SEED;

type Proto = onnxProto.onnx.ModelProto;
const intAttr = (node: onnxProto.onnx.INodeProto, name: string) => Number(node.attribute!.find((a) => a.name === name)?.i ?? NaN);

/** Every MatMulNBits node's weight decoded independently into float32 [K, N] (module comment's layout). */
function decodeNBits(model: Uint8Array): Map<string, { k: number; n: number; bits: number; block: number; values: Float32Array; zeroPoints: boolean }> {
  const proto = onnx.ModelProto.decode(model) as Proto;
  const init = new Map(proto.graph!.initializer!.map((t) => [t.name!, t]));
  const out = new Map();
  for (const node of proto.graph!.node!.filter((n) => n.opType === 'MatMulNBits')) {
    const [k, n, bits, block] = ['K', 'N', 'bits', 'block_size'].map((a) => intAttr(node, a)) as [number, number, number, number];
    const b = init.get(node.input![1]!)!;
    const s = init.get(node.input![2]!)!;
    const z = node.input![3] ? init.get(node.input![3])! : undefined;
    const blocks = Math.ceil(k / block);
    const blob = (block * bits) / 8;
    expect(b.dims!.map(Number)).toEqual([n, blocks, blob]);
    expect(b.dataType).toBe(2);
    expect(s.dims!.map(Number)).toEqual([n, blocks]);
    const scales = new Float32Array(new Uint8Array(s.rawData!).buffer);
    const zpBytes = Math.ceil((blocks * bits) / 8);
    if (z) expect(z.dims!.map(Number)).toEqual([n, zpBytes]);
    const nibble = (bytes: Uint8Array, i: number) => (bytes[i >> 1]! >> ((i & 1) * 4)) & 0xf;
    const values = new Float32Array(k * n);
    for (let col = 0; col < n; col++) {
      for (let row = 0; row < k; row++) {
        const blk = Math.floor(row / block);
        const j = row % block;
        const at = (col * blocks + blk) * blob;
        const q = bits === 8 ? b.rawData![at + j]! : nibble(b.rawData!.subarray(at), j);
        const zp = !z ? 1 << (bits - 1) : bits === 8 ? z.rawData![col * zpBytes + blk]! : nibble(z.rawData!.subarray(col * zpBytes), blk);
        values[row * n + col] = Math.fround((q - zp) * scales[col * blocks + blk]!);
      }
    }
    out.set(node.name!.replace(/\.MatMul$/, '.weight'), { k, n, bits, block, values, zeroPoints: z !== undefined });
  }
  return out;
}

async function run(model: Uint8Array, x: Float32Array, batch: number, optimize = true): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(model, optimize ? {} : { graphOptimizationLevel: 'disabled' });
  try {
    const result = await session.run({ x: new ort.Tensor('float32', x, [batch, x.length / batch]) });
    return result.y!.data as Float32Array;
  } finally {
    await session.release();
  }
}

const opTypes = (model: Uint8Array) => (onnx.ModelProto.decode(model) as Proto).graph!.node!.map((n) => n.opType!);

describe('onnxOps contrib: MatMulNBits', () => {
  const mlp = buildMlp(onnx, kSmall, kSeed);
  const batch = 3;
  const x = seededNormal(batch * kSmall[0]!, kSeed + 1);
  const schemes: Record<string, CompressOnnxOptions> = {
    'qint4 groups of 32 (Q4_0 range: zero points 0 or -1)': { dtype: 'qint4', granularity: 'group', groupSize: 32 },
    'quint4 groups of 64 (affine: packed zero points)': { dtype: 'quint4', granularity: 'group', groupSize: 64 },
    'qint8 per channel (blocks repeating the column scale)': { dtype: 'qint8' },
    'quint8 per tensor': { dtype: 'quint8', granularity: 'tensor' },
    'qint8 groups of 16, torch range': { dtype: 'qint8', granularity: 'group', groupSize: 16, range: 'torch' },
    'qint4 groups of 256, narrow range (K 128 < group: one block of 128; no zero_points)': { dtype: 'qint4', granularity: 'group', groupSize: 256, range: 'narrow' },
  };

  for (const [name, scheme] of Object.entries(schemes)) {
    it(`${name}: the layout decodes to the QDQ weights exactly, and onnxruntime-node matches the QDQ model (seed ${kSeed})`, async () => {
      const options = { ...scheme, firstLayer: 'quantize' as const };
      const qdq = await compressOnnx(mlp.model, options, cpu);
      const contrib = await compressOnnx(mlp.model, { ...options, onnxOps: 'contrib' }, cpu);
      expect(opTypes(contrib.model).filter((t) => t === 'MatMul')).toEqual([]);
      expect(opTypes(contrib.model).filter((t) => t === 'MatMulNBits')).toHaveLength(4);
      expect(opTypes(contrib.model)).not.toContain('DequantizeLinear');
      const proto = onnx.ModelProto.decode(contrib.model) as Proto;
      expect(proto.opsetImport!.map((o) => [o.domain, Number(o.version)])).toContainEqual(['com.microsoft', 1]);
      expect(Number(proto.opsetImport!.find((o) => o.domain === '')!.version)).toBe(17); // no upgrade for MatMulNBits weights
      const decoded = decodeNBits(contrib.model);
      const reference = await readQdqWeights(await OnnxModel.load(qdq.model));
      expect(decoded.size).toBe(4);
      for (const [weight, d] of decoded) {
        const expected = (await dequantize(reference.get(weight)!, cpu)).data;
        // + 0: a block stored with a negated scale gives -0 where QDQ gives 0 (the same value in a MatMul).
        expect(Array.from(d.values, (v) => v + 0)).toEqual(Array.from(expected, (v) => v + 0));
        expect(d.bits).toBe(scheme.dtype!.endsWith('4') ? 4 : 8);
        // zero_points are written unless every one is onnxruntime's default (stored unsigned: 8 / 128). Q4_0-style
        // int4 (the 'extreme' range) moves a block's zero point to -1 when its extreme is positive.
        if (scheme.dtype === 'qint4' && scheme.granularity === 'group') expect(d.zeroPoints).toBe(false);
        const q = reference.get(weight)!;
        const zeros = q.qscheme() === 'per_tensor_affine' ? [q.qZeroPoint()] : q.qscheme() === 'per_channel_affine' ? q.qPerChannelZeroPoints() : q.qPerGroupZeroPoints();
        // A signed zero point of -1 is written as onnxruntime's symmetric form (negated scale, default zero point).
        const stored = Array.from(zeros, (z) => (scheme.dtype!.startsWith('quint') ? z : (z === -1 ? 0 : z) + (1 << (d.bits - 1))));
        expect(d.zeroPoints).toBe(stored.some((z) => z !== 1 << (d.bits - 1)));
      }
      for (const t of contrib.report.tensors.filter((t) => t.action === 'quantize')) {
        expect(t.onnxOp).toBe('MatMulNBits');
        expect(t.reason).toMatch(/MatMulNBits, block_size \d+/);
      }
      const quantizedBytes = (r: typeof qdq.report) => r.tensors.reduce((s, t) => s + t.bytesAfter, 0);
      // Per channel / per tensor repeat their scale per block: a few % more than QDQ, never twice.
      expect(quantizedBytes(contrib.report)).toBeLessThan(1.1 * quantizedBytes(qdq.report));
      const yQdq = await run(qdq.model, x, batch, false);
      const yContrib = await run(contrib.model, x, batch);
      // The same weights: only the summation order differs (measured ≤ 3e-7 relative).
      expect(maxRelativeError(yContrib, yQdq)).toBeLessThan(1e-5);
    });
  }

  it('K not a multiple of the block size: the last block is padded (with the zero point), and said so', async () => {
    const odd = buildMlp(onnx, [100, 96, 72], kSeed + 2);
    const xs = seededNormal(2 * 100, kSeed + 3);
    const options: CompressOnnxOptions = { dtype: 'quint4', granularity: 'group', groupSize: 32, firstLayer: 'quantize', minElements: 1 };
    const qdq = await compressOnnx(odd.model, options, cpu);
    const contrib = await compressOnnx(odd.model, { ...options, onnxOps: 'contrib' }, cpu);
    const decoded = decodeNBits(contrib.model);
    expect([...decoded.values()].map((d) => [d.k, Math.ceil(d.k / d.block)])).toEqual([[100, 4], [96, 3]]);
    const [first, second] = contrib.report.tensors.filter((t) => t.action === 'quantize');
    expect(first!.reason).toContain('last block padded (K 100 is not a multiple of 32)');
    expect(second!.reason).not.toContain('padded');
    const reference = await readQdqWeights(await OnnxModel.load(qdq.model));
    for (const [weight, d] of decoded) expect(Array.from(d.values)).toEqual(Array.from((await dequantize(reference.get(weight)!, cpu)).data));
    expect(maxRelativeError(await run(contrib.model, xs, 2), await run(qdq.model, xs, 2, false))).toBeLessThan(1e-5);
  });

  it('schemes MatMulNBits cannot hold stay QDQ, with the reason in the report; the model still runs', async () => {
    const contrib = await compressOnnx(mlp.model, { dtype: 'qint4', granularity: 'group', groupSize: 48, firstLayer: 'quantize', onnxOps: 'contrib' }, cpu);
    expect(opTypes(contrib.model).filter((t) => t === 'MatMulNBits')).toEqual([]);
    const quantized = contrib.report.tensors.filter((t) => t.action === 'quantize');
    expect(quantized.map((t) => t.onnxOp)).toEqual(Array(4).fill('DequantizeLinear'));
    expect(quantized[0]!.reason).toContain('QDQ, not MatMulNBits: group size 48 is not a power of two from 16 to 256');
    const byAxis = await compressOnnx(mlp.model, { dtype: 'qint4', granularity: 'group', axis: 1, firstLayer: 'quantize', onnxOps: 'contrib' }, cpu);
    expect(byAxis.report.tensors.find((t) => t.action === 'quantize')!.reason).toContain('groups along axis 1');
    expect((await run(contrib.model, x, batch)).every(Number.isFinite)).toBe(true);
  });

  it('a weight below the quality floor is written as what it escalated to (8-bit MatMulNBits)', async () => {
    const contrib = await compressOnnx(mlp.model, {
      dtype: 'qint4', granularity: 'group', firstLayer: 'quantize', onnxOps: 'contrib', overrides: [{ pattern: /fc1/, minSqnrDb: 40 }],
    }, cpu);
    const decoded = decodeNBits(contrib.model);
    expect([...decoded].map(([name, d]) => [name, d.bits])).toEqual([['fc0.weight', 4], ['fc1.weight', 8], ['fc2.weight', 4], ['fc3.weight', 4]]);
    const fc1 = contrib.report.tensors.find((t) => t.name === 'fc1.weight')!;
    expect(fc1.escalations?.[0]?.to).toBe('qint8 per channel');
    expect(fc1.onnxOp).toBe('MatMulNBits');
  });

  it('accuracy_level is written when asked; bad options are refused before any work', async () => {
    const contrib = await compressOnnx(mlp.model, { dtype: 'qint4', granularity: 'group', onnxOps: 'contrib', accuracyLevel: 4 }, cpu);
    const nodes = (onnx.ModelProto.decode(contrib.model) as Proto).graph!.node!.filter((n) => n.opType === 'MatMulNBits');
    expect(nodes.map((n) => intAttr(n, 'accuracy_level'))).toEqual([4, 4, 4]); // the first layer is kept float by default
    expect(opTypes(contrib.model).filter((t) => t === 'MatMul')).toHaveLength(1);
    // int8 compute (level 4) quantizes the activations too: close to the fp32-compute model, not equal.
    const exact = await compressOnnx(mlp.model, { dtype: 'qint4', granularity: 'group', onnxOps: 'contrib' }, cpu);
    expect(maxRelativeError(await run(contrib.model, x, batch), await run(exact.model, x, batch))).toBeLessThan(0.05);
    await expectInvalidAsync(() => compressOnnx(mlp.model, { onnxOps: 'nbits' as never }), { argument: 'options.onnxOps', value: 'nbits', mentions: ["'qdq' or 'contrib'"] });
    await expectInvalidAsync(() => compressOnnx(mlp.model, { onnxOps: 'contrib', accuracyLevel: 5 }), { argument: 'options.accuracyLevel', value: 5, mentions: ['0 to 4'] });
    await expectInvalidAsync(() => compressOnnx(mlp.model, { accuracyLevel: 1 }), { argument: 'options.accuracyLevel', value: 1, mentions: ["onnxOps: 'contrib'"] });
  });

  it('matMulNBits8: false keeps 8-bit MatMul weights QDQ (with the reason) and 4-bit ones MatMulNBits; a bad value is refused', async () => {
    const mixed = await compressOnnx(mlp.model, {
      dtype: 'qint4', granularity: 'group', firstLayer: 'quantize', onnxOps: 'contrib', matMulNBits8: false, overrides: [{ pattern: /fc1/, dtype: 'qint8', granularity: 'channel' }],
    }, cpu);
    const quantized = mixed.report.tensors.filter((t) => t.action === 'quantize');
    expect(quantized.map((t) => t.onnxOp)).toEqual(['MatMulNBits', 'DequantizeLinear', 'MatMulNBits', 'MatMulNBits']);
    expect(quantized[1]!.reason).toContain('QDQ, not MatMulNBits: 8-bit, and matMulNBits8 is false');
    const qdq = await compressOnnx(mlp.model, { dtype: 'qint4', granularity: 'group', firstLayer: 'quantize', overrides: [{ pattern: /fc1/, dtype: 'qint8', granularity: 'channel' }] }, cpu);
    expect(maxRelativeError(await run(mixed.model, x, batch), await run(qdq.model, x, batch, false))).toBeLessThan(1e-5);
    await expectInvalidAsync(() => compressOnnx(mlp.model, { onnxOps: 'contrib', matMulNBits8: 'no' as never }), { argument: 'options.matMulNBits8', value: 'no', mentions: ['true or false'] });
  });

  it('the CLI flags parse, and --accuracy-level needs --onnx-ops contrib', () => {
    const args = parseCommandLine(['compress', 'm.onnx', '-o', 'q.onnx', '--onnx-ops', 'contrib', '--accuracy-level', '4']);
    expect(args).toMatchObject({ onnxOps: 'contrib', accuracyLevel: 4 });
    expect(() => parseCommandLine(['compress', 'm.onnx', '-o', 'q.onnx', '--accuracy-level', '4'])).toThrow(/needs --onnx-ops contrib/);
    expect(() => parseCommandLine(['compress', 'm.onnx', '-o', 'q.onnx', '--onnx-ops', 'nbits'])).toThrow(/onnx-ops/);
    expect(() => parseCommandLine(['compress', 'm.onnx', '-o', 'q.onnx', '--onnx-ops', 'contrib', '--accuracy-level', '7'])).toThrow(/0 to 4/);
  });

  it('verifyModels (onnxruntime-node) passes a contrib model and fails a broken one', async () => {
    const { model } = await compressOnnx(mlp.model, { dtype: 'qint8', onnxOps: 'contrib' }, cpu);
    const report = await verifyModels(mlp.model, model, { runtime: ort });
    expect(report.passed).toBe(true);
    const proto = onnx.ModelProto.decode(model) as Proto;
    for (const t of proto.graph!.initializer!) if (t.name!.endsWith('_nbits')) t.rawData = t.rawData!.map((b) => b ^ 0x55);
    const broken = await verifyModels(mlp.model, onnx.ModelProto.encode(proto).finish(), { runtime: ort });
    expect(broken.passed).toBe(false);
  });
});

// 4 × [512, 2048] here, to keep the unit run short; bench/contrib-mlp.mjs measures 4 × [1024, 4096] (docs/compression.md).
describe('MatMulNBits targets: MLP of 4 × [512, 2048] weights', () => {
  const widths = [512, 2048, 512, 2048, 512];
  const mlp = buildMlp(onnx, widths, kSeed + 10);
  const batch = 32;
  const x = seededNormal(batch * 512, kSeed + 11);

  it.each([
    // int4: i.i.d. normal weights are the hard case for 4 bits (about 20 dB SQNR per layer, and the error of
    // four layers adds up): ‖Δy‖ / ‖y‖ measured 0.149–0.164 over 16 seeds, where the 2 % of 8 bits is out of reach.
    // (The largest |Δy| / max |y| over 4 rows, asserted before, moved from 0.13 to 0.26 with the seed.)
    ['int4 groups of 32', { dtype: 'qint4', granularity: 'group', groupSize: 32 }, 4, 0.2, 0.2],
    ['int8 per channel', { dtype: 'qint8' }, 8, 0.27, 0.025],
  ] as const)('%s: size, accuracy against float32, every MatMul a MatMulNBits', async (_, scheme, bits, maxRatio, maxError) => {
    const { model, report } = await compressOnnx(mlp.model, { ...scheme, firstLayer: 'quantize', onnxOps: 'contrib' }, cpu);
    expect(opTypes(model).filter((t) => t === 'MatMul')).toEqual([]);
    const decoded = decodeNBits(model);
    expect([...decoded.values()].map((d) => d.bits)).toEqual([bits, bits, bits, bits]);
    expect(model.byteLength / mlp.model.byteLength).toBeLessThan(maxRatio);
    expect(report.totals.modelBytesAfter).toBe(model.byteLength);
    const reference = await run(mlp.model, x, batch);
    const y = await run(model, x, batch);
    const error = rmsRelativeError(y, reference);
    console.log(`${_}: ${(model.byteLength / 2 ** 20).toFixed(2)} MiB of ${(mlp.model.byteLength / 2 ** 20).toFixed(2)} MiB `
      + `(${(model.byteLength / mlp.model.byteLength).toFixed(3)}), ‖Δy‖ / ‖y‖ ${error.toFixed(4)}, max |Δy| / max |y| `
      + `${maxRelativeError(y, reference).toFixed(4)} (seed ${kSeed + 10})`);
    expect(error).toBeLessThan(maxError);
    expect(error).toBeGreaterThan(0); // quantized: not the float model
  });
});
