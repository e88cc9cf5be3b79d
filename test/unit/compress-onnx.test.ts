// compressOnnx on small built models, run in onnxruntime-node: the runtime's DequantizeLinear output (read
// through a MatMul with the identity) equals webgpu-quant's own dequantize() bit for bit, for int8 per
// channel, uint4 per group (affine, opset raised to 21), int8 per tensor at opset 10; Constant-node and
// subgraph weights; what is preserved (nodes, inputs, metadata, doc strings, external data of kept
// weights); float16 weights (float16 scales); the report against an independent float64 computation.
import { readFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { type CompressOnnxOptions, ONNX_METADATA_KEY, compressOnnx } from '../../src/compress/compress-onnx.js';
import { WEBGPU_QUANT_VERSION } from '../../src/compress/version.js';
import { dequantize } from '../../src/ops/dequantize.js';
import { type QDType } from '../../src/dtype.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { unpackNibbles } from '../../src/pack-nibbles.js';
import { floatToHalfBits } from '../../src/io/half.js';
import { fromIntRepr } from '../../src/qtensor.js';
import { chooseQParams } from '../../src/ops/choose-qparams.js';
import type { CalibrationSpec } from '../../src/calibration/spec.js';
import { quantizePerChannel, quantizePerGroup, quantizePerTensor } from '../../src/ops/quantize.js';
import { tensor } from '../../src/tensor.js';
import { expectBits, normalData, rng } from './support.js';

const { onnx } = onnxProto;
type Graph = onnxProto.onnx.IGraphProto;
type Tensor = onnxProto.onnx.TensorProto;
const cpu = { backend: 'cpu' } as const;
const K = 64;
const N = 48;

/** A typed graph input or output (elemType 1 float, 9 bool, 10 float16). */
const value = (name: string, dims: number[], elemType = 1): onnxProto.onnx.IValueInfoProto =>
  ({ name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
const f32 = (values: Float32Array): Uint8Array => new Uint8Array(values.buffer.slice(0));
const encode = (graph: Graph, opset = 13, extra: onnxProto.onnx.IModelProto = {}): Uint8Array =>
  onnx.ModelProto.encode({ irVersion: 7, opsetImport: [{ domain: '', version: opset }], graph, ...extra }).finish();

/** K x N weights, each column with its own magnitude. */
function weights(seed: number): Float32Array {
  const next = rng(seed);
  const data = normalData(K * N, next);
  for (let i = 0; i < data.length; i++) data[i] = data[i]! * 10 ** (-2 * ((i % N) / N));
  return data;
}

/** Y = MatMul(X, W), W an initializer. */
function matmulModel(w: Float32Array, opset = 13): Uint8Array {
  return encode({
    name: 'g', input: [value('X', [K, K])], output: [value('Y', [K, N])],
    initializer: [{ name: 'W', dataType: 1, dims: [K, N], rawData: f32(w) }],
    node: [{ name: 'mm', opType: 'MatMul', input: ['X', 'W'], output: ['Y'] }],
  }, opset);
}

/**
 * Runs `model` with X = identity(K), so Y is exactly the (dequantized) W. Graph optimizations are off:
 * with them onnxruntime may fuse DequantizeLinear + MatMul into an integer MatMul whose float rounding
 * differs from DequantizeLinear's by an ulp or two, and this test is about DequantizeLinear.
 */
async function runIdentity(model: Uint8Array, feeds: Record<string, ort.Tensor> = {}): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'disabled' });
  const eye = new Float32Array(K * K);
  for (let i = 0; i < K; i++) eye[i * K + i] = 1;
  const result = await session.run({ X: new ort.Tensor('float32', eye, [K, K]), ...feeds });
  await session.release();
  return result.Y!.data as Float32Array;
}

function graphOf(model: Uint8Array): onnxProto.onnx.GraphProto {
  return onnx.ModelProto.decode(model).graph as onnxProto.onnx.GraphProto;
}

/** webgpu-quant's dequantize() of the tensors feeding the DequantizeLinear node that outputs `name` in `graph`. */
async function libraryDequantize(graph: onnxProto.onnx.GraphProto, name: string, dtype: QDType): Promise<Float32Array> {
  const node = graph.node.find((n) => n.opType === 'DequantizeLinear' && n.output![0] === name)!;
  const find = (n: string) => (graph.initializer as Tensor[]).find((t) => t.name === n)!;
  const [data, scale, zero] = node.input!.map(find) as [Tensor, Tensor, Tensor];
  const attr = (a: string) => {
    const found = node.attribute!.find((x) => x.name === a);
    return found ? Number(found.i) : undefined;
  };
  const shape = data.dims.map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const signed = dtype === 'qint8' || dtype === 'qint4';
  const ints = (t: Tensor, n: number) => (dtype === 'qint4' || dtype === 'quint4' ? unpackNibbles(t.rawData, n, signed)
    : signed ? new Int8Array(t.rawData.buffer, t.rawData.byteOffset, n) : t.rawData.subarray(0, n));
  const paramCount = scale.dims.map(Number).reduce((a, b) => a * b, 1);
  const scales = new Float32Array(new Uint8Array(scale.rawData).buffer);
  const zeroPoints = ints(zero, paramCount);
  const params = attr('block_size') !== undefined ? { scales, zeroPoints, axis: attr('axis')!, groupSize: attr('block_size')! }
    : attr('axis') !== undefined ? { scales, zeroPoints, axis: attr('axis')! } : { scale: scales[0]!, zeroPoint: zeroPoints[0]! };
  return (await dequantize(fromIntRepr(ints(data, count), shape, dtype, params), cpu)).data;
}

describe('QDQ output equals webgpu-quant dequantize() in onnxruntime', () => {
  const w = weights(11);
  type Case = [string, CompressOnnxOptions, number, QDType, number, Record<string, number | undefined>, number[], CalibrationSpec];
  const cases: Case[] = [
    ['qint8 per channel', {}, 13, 'qint8', 13, { axis: 1, block_size: undefined }, [N],
      { dtype: 'qint8', granularity: { axis: 1 }, symmetric: true, quantMin: -127, quantMax: 127 }],
    ['qint8 per channel, PyTorch range', { range: 'torch' }, 13, 'qint8', 13, { axis: 1, block_size: undefined }, [N],
      { dtype: 'qint8', granularity: { axis: 1 }, symmetric: true }],
    ['quint4 per group, affine, raised to opset 21', { dtype: 'quint4', granularity: 'group', groupSize: 16 }, 13, 'quint4', 21,
      { axis: 0, block_size: 16 }, [K / 16, N], { dtype: 'quint4', granularity: { axis: 0, groupSize: 16 }, symmetric: false }],
    ['qint8 per tensor at opset 10', { granularity: 'tensor' }, 10, 'qint8', 10, { axis: undefined, block_size: undefined }, [],
      { dtype: 'qint8', symmetric: true, quantMin: -127, quantMax: 127 }],
    ['quint8 per channel, mse, raised from opset 11 by an int4 weight elsewhere', { dtype: 'quint8', calibrate: 'mse' }, 13, 'quint8', 13, { axis: 1 }, [N],
      { dtype: 'quint8', granularity: { axis: 1 }, symmetric: false, method: 'mse' }],
  ];
  for (const [what, options, opset, dtype, opsetAfter, attributes, scaleDims, spec] of cases) {
    it(what, async () => {
      const { model, report } = await compressOnnx(matmulModel(w, opset), options, cpu);
      const graph = graphOf(model);
      expect(report.opset.after).toBe(opsetAfter);
      expect(graph.initializer.map((t) => t.name)).toEqual(['W_quantized', 'W_scale', 'W_zero_point']);
      const [data, scale, zero] = graph.initializer as Tensor[];
      const code = { qint8: 3, quint8: 2, qint4: 22, quint4: 21, qint32: 6 }[dtype];
      expect([data!.dataType, scale!.dataType, zero!.dataType]).toEqual([code, 1, code]);
      expect(data!.dims.map(Number)).toEqual([K, N]);
      expect(scale!.dims.map(Number)).toEqual(scaleDims);
      expect(zero!.dims.map(Number)).toEqual(scaleDims);
      expect(data!.rawData.byteLength).toBe(dtype === 'quint4' ? K * N / 2 : K * N);
      const dq = graph.node[0]!;
      expect([dq.opType, dq.input, dq.output]).toEqual(['DequantizeLinear', ['W_quantized', 'W_scale', 'W_zero_point'], ['W']]);
      const attrs = Object.fromEntries(dq.attribute!.map((a) => [a.name, Number(a.i)]));
      for (const [name, value] of Object.entries(attributes)) expect(attrs[name], name).toBe(value);
      expect(graph.node[1]).toMatchObject({ opType: 'MatMul', input: ['X', 'W'] });
      const runtime = await runIdentity(model);
      expectBits(runtime, await libraryDequantize(graph, 'W', dtype), `${what}: onnxruntime vs dequantize() of the file`);
      expectBits(runtime, await independentPipeline(w, spec), `${what}: onnxruntime vs chooseQParams + quantize + dequantize`);
    });
  }
});

/** chooseQParams, quantize and dequantize of the original K x N weights, straight from the library. */
async function independentPipeline(w: Float32Array, spec: CalibrationSpec): Promise<Float32Array> {
  const x = tensor(w, [K, N]);
  const p = await chooseQParams(x, spec, cpu);
  const q = 'groupSize' in p ? await quantizePerGroup(x, p.scales, p.zeroPoints, p.axis, p.groupSize, spec.dtype, cpu)
    : 'scales' in p ? await quantizePerChannel(x, p.scales, p.zeroPoints, p.axis, spec.dtype, cpu)
      : await quantizePerTensor(x, p.scale, p.zeroPoint, spec.dtype, cpu);
  return (await dequantize(q, cpu)).data;
}

/** A Constant weight `cw` in the main graph and an initializer `tw` in an If's then-branch, both [K, N]. */
function constantAndBranchModel(): Uint8Array {
  const cw = weights(1);
  const tw = weights(2);
  const branch = (name: string, weight: string, initializer: Graph['initializer']): Graph => ({
    name, initializer, output: [value(`y_${name}`, [K, N])], node: [{ opType: 'MatMul', input: ['X', weight], output: [`y_${name}`] }],
  });
  return encode({
    name: 'g', input: [value('X', [K, K]), value('cond', [], 9)], output: [value('Y', [K, N])],
    node: [
      { name: 'relu', opType: 'Relu', input: ['X'], output: ['unused'] },
      { name: 'const_w', opType: 'Constant', output: ['cw'], attribute: [{ name: 'value', type: 4, t: { dataType: 1, dims: [K, N], rawData: f32(cw) } }] },
      {
        name: 'If_0', opType: 'If', input: ['cond'], output: ['Y'], attribute: [
          { name: 'then_branch', type: 5, g: branch('then', 'tw', [{ name: 'tw', dataType: 1, dims: [K, N], rawData: f32(tw) }]) },
          { name: 'else_branch', type: 5, g: branch('else', 'cw', []) },
        ],
      },
    ],
  });
}

describe('what compressOnnx writes', () => {
  it('replaces a Constant node in place and quantizes a weight inside an If branch', async () => {
    const { model, report } = await compressOnnx(constantAndBranchModel(), {}, cpu);
    expect(report.tensors.map((t) => [t.name, t.action])).toEqual([['cw', 'quantize'], ['tw', 'quantize']]);
    const graph = graphOf(model);
    expect(graph.node.map((n) => [n.name, n.opType])).toEqual([['relu', 'Relu'], ['const_w', 'DequantizeLinear'], ['If_0', 'If']]);
    expect(graph.node[1]!.output).toEqual(['cw']);
    const thenBranch = graph.node[2]!.attribute![0]!.g! as onnxProto.onnx.GraphProto;
    expect(thenBranch.node.map((n) => n.opType)).toEqual(['DequantizeLinear', 'MatMul']);
    expect(thenBranch.initializer.map((t) => t.name)).toEqual(['tw_quantized', 'tw_scale', 'tw_zero_point']);
    for (const [flag, graphWithWeight, name] of [[true, thenBranch, 'tw'], [false, graph, 'cw']] as const) {
      const y = await runIdentity(model, { cond: new ort.Tensor('bool', [flag], []) });
      expectBits(y, await libraryDequantize(graphWithWeight, name, 'qint8'), `branch ${flag}`);
    }
  });

  it('with externalDataSink, the branch\'s weight and the Constant\'s go to the data file as they are done', async () => {
    const external = { externalDataLocation: 'm.onnx.data', writeExternalData: 'always' } as const;
    const reference = await compressOnnx(constantAndBranchModel(), external, cpu);
    const chunks: Uint8Array[] = [];
    const streamed = await compressOnnx(constantAndBranchModel(), { ...external, externalDataSink: { write: async (c) => { chunks.push(c.slice()); } } }, cpu);
    expect(streamed.externalData!.parts).toEqual([]); // both weights were written as they were done
    /** Each external tensor's bytes by graph and name, from the data file. */
    const stored = (model: Uint8Array, data: Uint8Array) => {
      const out = new Map<string, string>();
      const main = graphOf(model);
      for (const [where, graph] of [['main', main], ['then', main.node[2]!.attribute![0]!.g! as onnxProto.onnx.GraphProto]] as const) {
        for (const t of graph.initializer) {
          if (t.dataLocation !== 1) continue;
          const at = Object.fromEntries((t.externalData ?? []).map((e) => [e.key, Number(e.value)]));
          out.set(`${where}/${t.name}`, Buffer.from(data.subarray(at.offset, at.offset! + at.length!)).toString('hex'));
        }
      }
      return out;
    };
    const got = stored(streamed.model, Buffer.concat(chunks));
    expect([...got.keys()].sort()).toEqual(['main/cw_quantized', 'then/tw_quantized']);
    expect(got).toEqual(stored(reference.model, Buffer.concat(reference.externalData!.parts)));
  });

  it('keeps everything else as it was and records itself in metadata_props', async () => {
    const bias = Float32Array.from({ length: N }, (_, i) => i / 7);
    const original = encode({
      name: 'main', docString: 'graph doc',
      input: [{ name: 'X', docString: 'input doc' }, { name: 'W' }], output: [{ name: 'Z' }], valueInfo: [{ name: 'Y' }],
      initializer: [
        { name: 'W', dataType: 1, dims: [K, N], rawData: f32(weights(3)), docString: 'weight doc' },
        { name: 'B', dataType: 1, dims: [N], rawData: f32(bias) },
      ],
      node: [
        { name: 'mm', opType: 'MatMul', input: ['X', 'W'], output: ['Y'], docString: 'node doc' },
        { name: 'add', opType: 'Add', input: ['Y', 'B'], output: ['Z'] },
      ],
    }, 13, { producerName: 'test', producerVersion: '1', docString: 'model doc', metadataProps: [{ key: 'author', value: 'me' }] });
    const { model } = await compressOnnx(original, {}, cpu);
    const before = onnx.ModelProto.decode(original).toJSON();
    const after = onnx.ModelProto.decode(model).toJSON();
    for (const key of ['producerName', 'producerVersion', 'docString', 'irVersion', 'opsetImport']) expect(after[key], key).toEqual(before[key]);
    expect(after.graph.node.slice(1)).toEqual(before.graph.node);
    expect(after.graph.initializer.find((t: { name: string }) => t.name === 'B')).toEqual(before.graph.initializer[1]);
    expect(after.graph.initializer.find((t: { name: string }) => t.name === 'W_quantized').docString).toBe('weight doc');
    // W was also a graph input (an overridable default); a DequantizeLinear output cannot be one.
    expect(after.graph.input).toEqual([before.graph.input[0]]);
    expect([after.graph.output, after.graph.valueInfo, after.graph.docString]).toEqual([before.graph.output, before.graph.valueInfo, 'graph doc']);
    expect(after.metadataProps[0]).toEqual({ key: 'author', value: 'me' });
    const ours = after.metadataProps.find((p: { key: string }) => p.key === ONNX_METADATA_KEY);
    expect(JSON.parse(ours.value)).toEqual({ version: WEBGPU_QUANT_VERSION, format: 'QDQ', quantized: 1, schemes: { 'qint8 per channel (axis 1), symmetric (narrow range), minmax': 1 } });
    const again = await compressOnnx(model, {}, cpu); // compressing twice keeps one entry
    expect(onnx.ModelProto.decode(again.model).metadataProps.filter((p) => p.key === ONNX_METADATA_KEY)).toHaveLength(1);
  });

  it('reports every weight; SQNR and max error agree with an independent float64 computation from the runtime output', async () => {
    const w = weights(4);
    const { model, report } = await compressOnnx(matmulModel(w), {}, cpu);
    const y = await runIdentity(model);
    let signal = 0;
    let noise = 0;
    let maxAbs = 0;
    for (let i = 0; i < w.length; i++) {
      signal += w[i]! ** 2;
      noise += (w[i]! - y[i]!) ** 2;
      maxAbs = Math.max(maxAbs, Math.abs(w[i]! - y[i]!));
    }
    const entry = report.tensors[0]!;
    expect(entry).toMatchObject({ name: 'W', shape: [K, N], dtypeIn: 'float32', dtypeOut: 'qint8', action: 'quantize', backend: 'cpu', statsAxis: 1 });
    expect(entry.bytesBefore).toBe(K * N * 4);
    expect(entry.bytesAfter).toBe(K * N + N * 4 + N);
    expect(entry.sqnrDb!).toBeCloseTo(10 * Math.log10(signal / noise), 6);
    expect(entry.mse!).toBeCloseTo(noise / w.length, 12);
    expect(entry.maxAbsError).toBe(Math.fround(maxAbs));
    expect(entry.perChannelSqnrDb).toHaveLength(N);
    expect(report.totals).toMatchObject({ tensorsQuantized: 1, tensorsKept: 0, bytesBefore: K * N * 4, bytesAfter: entry.bytesAfter });
    expect(report.totals.compressionRatio).toBeCloseTo((K * N * 4) / entry.bytesAfter, 12);
    expect(report.totals.modelBytesAfter).toBe(model.byteLength);
  });

  it('writes float16 weights with float16 scales (opset 19), keeps float64 weights', async () => {
    const w = weights(5);
    const half = Uint16Array.from(w, (v) => floatToHalfBits(v));
    const original = encode({
      name: 'g', output: [value('Y', [K, N], 10), value('Z', [K, N], 11)],
      initializer: [
        { name: 'H', dataType: 10, dims: [K, N], rawData: new Uint8Array(half.buffer) },
        { name: 'D', dataType: 11, dims: [K, N], rawData: new Uint8Array(new Float64Array(w).buffer) },
      ],
      node: [{ opType: 'Identity', input: ['H'], output: ['Y'] }, { opType: 'Identity', input: ['D'], output: ['Z'] }],
    }, 13);
    const { model, report } = await compressOnnx(original, {}, cpu);
    expect(report.tensors.map((t) => [t.name, t.action])).toEqual([['H', 'quantize'], ['D', 'keep']]);
    expect(report.tensors[0]!.reason).toMatch(/^per tensor: Identity input 0 has no channel axis/);
    expect(report.tensors[1]!.reason).toMatch(/^float64: DequantizeLinear cannot output float64/);
    expect(report.opset.after).toBe(19);
    const graph = graphOf(model);
    expect((graph.initializer as Tensor[]).find((t) => t.name === 'H_scale')!.dataType).toBe(10);
    const session = await ort.InferenceSession.create(model);
    const out = await session.run({});
    expect(out.Y!.type).toBe('float16');
    expect(report.tensors[0]!.sqnrDb!).toBeGreaterThan(30);
  });

  it('writes quantized external weights inline and leaves kept ones in their file', async () => {
    const file = new Uint8Array(K * N * 4 + N * 4);
    file.set(f32(weights(6)), 0);
    const ext = (name: string, dims: number[], offset: number, length: number) => ({
      name, dataType: 1, dims, dataLocation: 1,
      externalData: [{ key: 'location', value: 'data.bin' }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(length) }],
    });
    const original = encode({
      name: 'g', input: [value('X', [K, K])], output: [value('Z', [K, N])],
      initializer: [ext('W', [K, N], 0, K * N * 4), ext('B', [N], K * N * 4, N * 4)],
      node: [{ opType: 'MatMul', input: ['X', 'W'], output: ['Y'] }, { opType: 'Add', input: ['Y', 'B'], output: ['Z'] }],
    });
    const { model, report } = await compressOnnx(original, { externalData: (location) => (location === 'data.bin' ? file : undefined) }, cpu);
    const graph = graphOf(model);
    const byName = new Map((graph.initializer as Tensor[]).map((t) => [t.name, t]));
    expect(byName.get('W_quantized')!.dataLocation).toBe(0);
    expect(byName.get('B')!.toJSON()).toEqual(onnx.TensorProto.fromObject(ext('B', [N], K * N * 4, N * 4)).toJSON());
    // The sizes count the bytes in data.bin: all of it before, the kept B after.
    expect(report.totals.modelBytesBefore).toBe(original.byteLength + file.byteLength);
    expect(report.totals.modelBytesAfter).toBe(model.byteLength + N * 4);
  });

  it('never reuses a name the model already has, and reports progress for every weight', async () => {
    const original = encode({
      name: 'g', input: [value('X', [K, K])], output: [value('Y', [K, N]), value('W_quantized', [K, K])],
      initializer: [{ name: 'W', dataType: 1, dims: [K, N], rawData: f32(weights(8)) }, { name: 'B', dataType: 1, dims: [N], rawData: new Uint8Array(N * 4) }],
      node: [{ opType: 'MatMul', input: ['X', 'W'], output: ['Y'] }, { opType: 'Identity', input: ['X'], output: ['W_quantized'] }],
    });
    const progress: string[] = [];
    const { model } = await compressOnnx(original, { onProgress: (p) => progress.push(`${p.done}/${p.total} ${p.name}`) }, cpu);
    const graph = graphOf(model);
    expect(graph.node[0]!.input).toEqual(['W_quantized_1', 'W_scale', 'W_zero_point']);
    expect(progress).toEqual(['1/2 W', '2/2 B']);
    expectBits(await runIdentity(model), await libraryDequantize(graph, 'W', 'qint8'), 'renamed data initializer');
  });

  it('raises a too-low IR version for int4 even when the opset is already 21', async () => {
    const original = onnx.ModelProto.decode(matmulModel(weights(9), 21));
    original.irVersion = 8;
    const { report } = await compressOnnx(onnx.ModelProto.encode(original).finish(), { dtype: 'qint4' }, cpu);
    expect(report.irVersion).toEqual({ before: 8, after: 10 });
    expect(report.opset).toEqual({ before: 21, after: 21, rewritten: [] });
  });

  it('rejects unknown options and says which', async () => {
    await expect(compressOnnx(matmulModel(weights(7)), { granularty: 'tensor' } as CompressOnnxOptions)).rejects.toThrow(InvalidArgumentError);
    await expect(compressOnnx(matmulModel(weights(7)), { granularty: 'tensor' } as CompressOnnxOptions)).rejects.toThrow(/options\.granularty/);
  });

  it('WEBGPU_QUANT_VERSION is package.json version', () => {
    expect(WEBGPU_QUANT_VERSION).toBe(JSON.parse(readFileSync('package.json', 'utf8')).version);
  });
});
