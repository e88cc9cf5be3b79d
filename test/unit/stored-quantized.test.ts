// Quantized weights described with their integers left in the file (stored-quantized.ts): for QDQ, contrib
// (MatMulNBits, GatherBlockQuantized) and "webgpu-quant/1" safetensors files, each description's dtype, shape,
// scheme, axis, group size and packed byte count are those of the QTensor its load() gives, which is the one the
// eager readers give; describing reads only the scales and zero points, never a weight's integers; and a weight
// whose parameters do not form one is refused when described, as the eager readers refuse it. Fresh seeded
// weights each run.
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { type CompressOnnxOptions, compressOnnx } from '../../src/compress/compress-onnx.js';
import { FormatError } from '../../src/errors.js';
import { describeContribWeights, readContribWeights } from '../../src/io/onnx/contrib-read.js';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';
import { describeQdqWeights, readQdqWeights } from '../../src/io/onnx/qdq-read.js';
import {
  bytesSource, describeQuantized, openSafetensors, quantizedEntries, quantizedFileMetadata, readQuantizedSafetensors,
  serializeSafetensors, storedQuantizedTensor,
} from '../../src/io/safetensors/index.js';
import { type StoredQuantizedWeight, loadStoredWeights, packedByteLength } from '../../src/io/stored-quantized.js';
import { type QTensor, reference, tensor } from '../../src/index.js';
import { buildEmbeddingModel } from '../shared/embedding-onnx.js';
import { buildMlp } from '../shared/mlp-onnx.js';
import { RUN_SEED, normalData, rng } from './support.js';

const { onnx } = onnxProto;
const cpu = { backend: 'cpu' } as const;

/** The description agrees with the loaded QTensor, and that QTensor is the eager reader's, value for value. */
function expectDescribes(w: StoredQuantizedWeight, q: QTensor, eager: QTensor, name: string): void {
  expect([w.dtype, w.shape, w.qscheme], name).toEqual([q.dtype, [...q.shape], q.qscheme()]);
  if (w.qscheme !== 'per_tensor_affine') expect(w.axis, name).toBe(q.qPerChannelAxis());
  if (w.qscheme === 'per_group_affine') expect(w.groupSize, name).toBe(q.qGroupSize());
  expect(packedByteLength(w), name).toBe(q.packedData().byteLength);
  expect([q.dtype, q.qscheme(), [...q.shape]], name).toEqual([eager.dtype, eager.qscheme(), [...eager.shape]]);
  expect(q.intReprView(), name).toEqual(eager.intReprView());
  expect(reference.dequantize(q).data, name).toEqual(reference.dequantize(eager).data);
}

/** `model` with every read recorded by tensor name. */
function recording(model: OnnxModel): string[] {
  const reads: string[] = [];
  const read = model.read.bind(model);
  const readInto = model.readInto.bind(model);
  model.read = async (name: string) => { reads.push(name); return read(name); };
  model.readInto = async (name: string, buffer: Uint8Array) => { reads.push(name); return readInto(name, buffer); };
  return reads;
}

describe('describeQdqWeights', () => {
  const mlp = buildMlp(onnx, [96, 160, 64, 40], RUN_SEED).model;
  const schemes: Record<string, CompressOnnxOptions> = {
    'qint8 per tensor': { dtype: 'qint8', granularity: 'tensor', minSqnrDb: 0 },
    'quint8 per channel': { dtype: 'quint8', granularity: 'channel' },
    'qint4 per group of 32': { dtype: 'qint4', granularity: 'group', groupSize: 32 },
  };
  for (const [label, options] of Object.entries(schemes)) {
    it(`${label}: the description is the loaded weight's, no integers read until load()`, async () => {
      const { model: bytes } = await compressOnnx(mlp, { ...options, firstLayer: 'quantize' }, cpu);
      const model = await OnnxModel.load(bytes);
      const reads = recording(model);
      const stored = await describeQdqWeights(model);
      const integers = new Set(model.list().filter((w) => w.name.endsWith('_quantized')).map((w) => w.name));
      expect(integers.size, `seed ${RUN_SEED}`).toBe(3);
      expect(reads.filter((name) => integers.has(name))).toEqual([]);
      expect(stored.size).toBe(3);
      const eager = await readQdqWeights(await OnnxModel.load(bytes));
      for (const [name, w] of stored) {
        const before = reads.length;
        const q = await w.load();
        expect(reads.slice(before).filter((n) => integers.has(n)), name).toHaveLength(1);
        expectDescribes(w, q, eager.get(name)!, `${name} (seed ${RUN_SEED})`);
      }
      expect([...(await loadStoredWeights(stored)).keys()]).toEqual([...eager.keys()]);
    });
  }

  it('4-bit QDQ data is loaded as stored: each nibble decoded by hand agrees, an odd count\'s padding nibble is ignored, the file untouched', async () => {
    const odd = buildMlp(onnx, [35, 71, 33], RUN_SEED + 9).model; // 2485 and 2343 elements
    for (const dtype of ['qint4', 'quint4'] as const) {
      const { model: bytes } = await compressOnnx(odd, { dtype, granularity: 'channel', firstLayer: 'quantize', minSqnrDb: 0 }, cpu);
      const proto = onnx.ModelProto.decode(bytes);
      const integers = proto.graph!.initializer!.filter((t) => t.name!.endsWith('_quantized'));
      expect(integers, `${dtype} seed ${RUN_SEED}`).toHaveLength(2);
      for (const t of integers) t.rawData![t.rawData!.length - 1]! |= 0xf0; // the padding nibble set
      const edited = onnx.ModelProto.encode(proto).finish();
      const before = edited.slice();
      const stored = await describeQdqWeights(await OnnxModel.load(edited));
      for (const t of integers) {
        const count = t.dims!.reduce((a: number, b) => a * Number(b), 1);
        const nibble = (i: number) => (t.rawData![i >> 1]! >> (4 * (i & 1))) & 15;
        const expected = Array.from({ length: count }, (_, i) => dtype === 'qint4' ? (nibble(i) ^ 8) - 8 : nibble(i));
        const w = [...stored.values()].find((s) => s.shape.reduce((a, b) => a * b, 1) === count)!;
        const q = await w.load();
        expect(Array.from(q.intRepr()), `${dtype} ${t.name}`).toEqual(expected);
        expect(q.packedData()[q.packedData().length - 1]! >> 4, `${dtype} ${t.name}`).toBe(0);
      }
      expect(edited).toEqual(before);
    }
  });

  it('a DequantizeLinear whose scale is 0 is refused when described, naming the node', async () => {
    const { model: bytes } = await compressOnnx(mlp, { dtype: 'qint8', granularity: 'tensor', firstLayer: 'quantize', minSqnrDb: 0 }, cpu);
    const proto = onnx.ModelProto.decode(bytes);
    const scale = proto.graph!.initializer!.find((t) => t.name!.endsWith('_scale'))!;
    scale.rawData = new Uint8Array(4); // 0.0
    const model = await OnnxModel.load(onnx.ModelProto.encode(proto).finish());
    const error = await describeQdqWeights(model).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FormatError);
    expect((error as Error).message).toMatch(/DequantizeLinear .*: its tensors do not form a valid quantized weight \(.*scale/);
  });

  it('a DequantizeLinear whose zero point has more or fewer values than its scale is refused when described', async () => {
    const { model: bytes } = await compressOnnx(mlp, { dtype: 'quint8', granularity: 'channel', firstLayer: 'quantize' }, cpu);
    for (const extra of [1, -1]) {
      const proto = onnx.ModelProto.decode(bytes);
      const zero = proto.graph!.initializer!.find((t) => t.name!.endsWith('_zero_point'))!;
      const n = Number(zero.dims![0]) + extra;
      zero.dims = [n];
      zero.rawData = Uint8Array.from({ length: n }, (_, i) => 100 + (i % 50));
      const error = await describeQdqWeights(await OnnxModel.load(onnx.ModelProto.encode(proto).finish())).catch((e: unknown) => e);
      expect(error, `extra ${extra}`).toBeInstanceOf(FormatError);
      expect((error as Error).message).toMatch(new RegExp(`its zero point has ${n} values and its scale ${n - extra}`));
    }
  });
});

describe('describeContribWeights', () => {
  it('MatMulNBits (4 and 8 bits, with and without zero points) and GatherBlockQuantized: the description is the loaded weight\'s, blocks read on load()', async () => {
    const models: [Uint8Array, CompressOnnxOptions][] = [
      [buildMlp(onnx, [64, 96, 48], RUN_SEED + 1).model, { dtype: 'qint4', granularity: 'group', groupSize: 32 }],
      [buildMlp(onnx, [64, 96, 48], RUN_SEED + 2).model, { dtype: 'quint4', granularity: 'group', groupSize: 16 }],
      [buildMlp(onnx, [64, 96, 48], RUN_SEED + 3).model, { dtype: 'qint8', granularity: 'group', groupSize: 32, range: 'torch' }],
      [buildEmbeddingModel(onnx, 64, RUN_SEED), { dtype: 'qint4', granularity: 'group', groupSize: 32 }],
    ];
    for (const [input, options] of models) {
      const { model: bytes } = await compressOnnx(input, { ...options, firstLayer: 'quantize', onnxOps: 'contrib' }, cpu);
      const model = await OnnxModel.load(bytes);
      const reads = recording(model);
      const { weights, parts } = await describeContribWeights(model);
      const eager = await readContribWeights(await OnnxModel.load(bytes));
      expect(weights.size, JSON.stringify(options)).toBeGreaterThan(0);
      expect([...weights.keys()]).toEqual([...eager.quantized.keys()]);
      expect(parts).toEqual(eager.parts);
      const blocks = new Set([...parts.values()].map((p) => p[0]!));
      expect(reads.filter((name) => blocks.has(name))).toEqual([]);
      for (const [name, w] of weights) {
        const q = await w.load();
        expect(reads.filter((n) => n === parts.get(name)![0])).toHaveLength(1);
        expectDescribes(w, q, eager.quantized.get(name)!, `${name} ${JSON.stringify(options)} (seed ${RUN_SEED})`);
      }
    }
  });
});

describe('storedQuantizedTensor', () => {
  it('every scheme of a webgpu-quant/1 file: the description is the loaded weight\'s; a negative scale is refused when described', async () => {
    const next = rng(RUN_SEED);
    const x = tensor(normalData(3 * 5 * 7, next, 2), [3, 5, 7]);
    const weights = new Map<string, QTensor>([
      ['t', reference.quantizePerTensor(x, 0.05, 3, 'qint8')],
      ['c', reference.quantizePerChannel(x, [0.1, 0.2, 0.05, 0.3, 0.07], [1, 2, 3, 4, 5], 1, 'quint8')],
      ['g', reference.quantizePerGroup(x, Array.from({ length: 3 * 5 * 3 }, (_, i) => 0.1 + i / 100), new Array<number>(45).fill(0), 2, 3, 'qint4')],
    ]);
    const parts = [...weights].map(([name, q]) => quantizedEntries(name, q));
    const bytes = await serializeSafetensors(parts.flatMap((p) => p.tensors), quantizedFileMetadata(parts.map((p) => p.metadata)));
    const reader = await openSafetensors(bytesSource(bytes, 'w.safetensors'));
    const { quantized: eager } = await readQuantizedSafetensors(reader);
    for (const d of describeQuantized(reader).values()) {
      const w = await storedQuantizedTensor(reader, d);
      expectDescribes(w, await w.load(), eager.get(d.name)!, d.name);
    }

    // 4-bit data held packed as stored: an odd count's padding nibble set in the file is ignored, and the
    // reader's bytes are not written (the QTensor holds a copy).
    const odd = reference.quantizePerTensor(tensor(normalData(35, next, 2), [5, 7]), 0.25, -1, 'qint4');
    const oddParts = quantizedEntries('odd', odd);
    const packed = oddParts.tensors.find((t) => t.name === 'odd')!;
    (packed.data as Uint8Array)[17] |= 0xf0;
    const oddBytes = await serializeSafetensors(oddParts.tensors, quantizedFileMetadata([oddParts.metadata]));
    const before = oddBytes.slice();
    const oddReader = await openSafetensors(bytesSource(oddBytes, 'odd.safetensors'));
    const loaded = await (await storedQuantizedTensor(oddReader, describeQuantized(oddReader).get('odd')!)).load();
    expect(Array.from(loaded.intRepr())).toEqual(Array.from(odd.intRepr()));
    expect(loaded.packedData()[17]! >> 4).toBe(0);
    expect(oddBytes).toEqual(before);

    // A negative scale: refused by the description (before any integer is read), as the eager reader refuses it.
    const bad = parts.flatMap((p) => p.tensors).map((t) => ({ ...t, data: (t.data as Uint8Array).slice() }));
    const scale = bad.find((t) => t.name === 'c.scale')!;
    new Float32Array(scale.data.buffer)[2] = -0.5;
    const badReader = await openSafetensors(bytesSource(await serializeSafetensors(bad, quantizedFileMetadata(parts.map((p) => p.metadata))), 'bad.safetensors'));
    const reads: string[] = [];
    const read = badReader.read.bind(badReader);
    const described = describeQuantized(badReader).get('c')!;
    const error = await storedQuantizedTensor({ ...badReader, name: badReader.name, metadata: badReader.metadata, list: () => badReader.list(),
      has: (n: string) => badReader.has(n), info: (n: string) => badReader.info(n), read: async (n: string) => { reads.push(n); return read(n); } }, described)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FormatError);
    expect((error as Error).message).toMatch(/^bad\.safetensors: quantized tensor "c": .*-0\.5/);
    expect(reads).not.toContain('c');
    await expect(readQuantizedSafetensors(badReader)).rejects.toThrow((error as Error).message);
  });
});
