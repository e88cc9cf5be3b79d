// Damaged or unsupported ONNX input: each case is a FormatError whose message names the tensor (or the
// byte offset, or the node) and says what is wrong, never a crash, a hang or a huge allocation.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { compressOnnx } from '../../src/compress/compress-onnx.js';
import { FormatError } from '../../src/errors.js';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';

const { onnx } = onnxProto;
type Graph = onnxProto.onnx.IGraphProto;
const kModelPath = createRequire(import.meta.url).resolve('@ricky0123/vad-web/dist/silero_vad_legacy.onnx');
const cpu = { backend: 'cpu' } as const;

const encode = (graph: Graph | undefined, opset: number | null = 13): Uint8Array => onnx.ModelProto.encode({
  irVersion: 7, opsetImport: opset === null ? [] : [{ domain: '', version: opset }], ...(graph ? { graph } : {}),
}).finish();
const withInit = (tensor: onnxProto.onnx.ITensorProto): Uint8Array => encode({ name: 'g', initializer: [tensor], node: [] });

/** Expects `action` to throw a FormatError whose message matches every pattern. */
async function expectFormatError(action: () => unknown, ...patterns: RegExp[]): Promise<void> {
  let caught: unknown;
  try {
    await action();
  } catch (error) {
    caught = error;
  }
  expect(caught, 'a FormatError').toBeInstanceOf(FormatError);
  for (const pattern of patterns) expect((caught as Error).message).toMatch(pattern);
}

describe('ONNX bad input', () => {
  const real = readFileSync(kModelPath);

  it('protobuf that does not parse, with the byte offset', async () => {
    await expectFormatError(() => OnnxModel.decode(Uint8Array.of(0x0f, 0xff, 0xff)), /protobuf does not parse/, /offset|index out of range/);
    await expectFormatError(() => OnnxModel.decode(new TextEncoder().encode('{"not": "onnx"}')), /protobuf does not parse|no graph/);
  });

  it('truncated files', async () => {
    for (const length of [1, 100, 5000, real.length >> 1, real.length - 1]) {
      await expectFormatError(() => OnnxModel.decode(real.subarray(0, length), { name: 'vad.onnx' }), /^vad\.onnx: /, /index out of range: \d+ \+ \d+ > \d+|no graph/);
    }
  });

  it('a model without a graph, or with default-domain nodes and no opset', async () => {
    await expectFormatError(() => OnnxModel.decode(encode(undefined)), /has no graph/);
    await expectFormatError(() => OnnxModel.decode(encode({ name: 'g', node: [{ opType: 'Relu', input: ['x'], output: ['y'] }] }, null)),
      /default ONNX domain but opset_import declares no version/);
  });

  it('raw_data length disagreeing with shape x dtype', async () => {
    await expectFormatError(() => OnnxModel.decode(withInit({ name: 'w', dataType: 1, dims: [2, 3], rawData: new Uint8Array(20) })),
      /initializer "w" in graph: raw_data has 20 bytes but shape \[2, 3\] of FLOAT needs 24/);
    await expectFormatError(() => OnnxModel.decode(withInit({ name: 'h', dataType: 22, dims: [5], rawData: new Uint8Array(2) })),
      /"h" .*needs 3/);
    await expectFormatError(() => OnnxModel.decode(withInit({ name: 'f', dataType: 1, dims: [4], floatData: [1, 2, 3] })),
      /"f" .*floatData has 3 values but shape \[4\] of FLOAT needs 4/);
    await expectFormatError(() => OnnxModel.decode(withInit({ name: 'n', dataType: 1, dims: [4] })), /"n" .*holds no data/);
    await expectFormatError(() => OnnxModel.decode(withInit({ name: 'b', dataType: 1, dims: [1], floatData: [1], rawData: new Uint8Array(4) })),
      /"b" .*both raw_data and floatData/);
    await expectFormatError(() => OnnxModel.decode(withInit({ name: 'i', dataType: 1, dims: [1], int32Data: [1] })),
      /"i" .*FLOAT values belong in floatData, found int32Data/);
    await expectFormatError(() => OnnxModel.decode(withInit({ name: 'u', dataType: 0, dims: [1], rawData: new Uint8Array(4) })), /"u" .*UNDEFINED/);
  });

  it('negative and overflowing dims, without allocating', async () => {
    await expectFormatError(() => OnnxModel.decode(withInit({ name: 'neg', dataType: 1, dims: [2, -3], rawData: new Uint8Array(24) })),
      /"neg" in graph: dims\[1\] is -3; dimensions must be non-negative/);
    await expectFormatError(() => OnnxModel.decode(withInit({ name: 'big', dataType: 1, dims: [2 ** 40, 2 ** 40] })),
      /"big" .*more elements than any file can hold/);
    const huge = { low: 0, high: 0x7fffffff, unsigned: false } as unknown as number; // 2^62 as an int64
    await expectFormatError(() => OnnxModel.decode(withInit({ name: 'long', dataType: 1, dims: [huge] })), /"long" .*dims\[0\] is \d+, beyond the 2\^53/);
  });

  it('external data missing, unresolved, out of bounds or malformed', async () => {
    const ext = (entries: Record<string, string>) => withInit({
      name: 'e', dataType: 1, dims: [4], dataLocation: 1, externalData: Object.entries(entries).map(([key, value]) => ({ key, value })),
    });
    const ok = ext({ location: 'w.bin', offset: '8', length: '16' });
    await expectFormatError(() => OnnxModel.decode(ok).read('e'), /"e" .*external file "w\.bin"; pass options\.externalData/);
    await expectFormatError(() => OnnxModel.decode(ok, { externalData: () => undefined }).read('e'), /"w\.bin" was not found/);
    await expectFormatError(() => OnnxModel.decode(ok, { externalData: () => { throw new Error('ENOENT'); } }).read('e'), /could not be opened \(ENOENT\)/);
    await expectFormatError(() => OnnxModel.decode(ok, { externalData: () => new Uint8Array(20) }).read('e'),
      /"e" .*external data "w\.bin": bytes 8\.\.24 lie past the end of the data \(20 bytes\)/);
    await expectFormatError(() => OnnxModel.decode(ok, { externalData: () => new Blob([new Uint8Array(10)]) }).read('e'), /bytes 8\.\.24 lie past/);
    await expectFormatError(() => OnnxModel.decode(ext({ location: 'w.bin', length: '12' })), /external_data length is 12 bytes but shape \[4\] of FLOAT needs 16/);
    await expectFormatError(() => OnnxModel.decode(ext({ location: 'w.bin', offset: '-1' })), /external_data offset is "-1"/);
    await expectFormatError(() => OnnxModel.decode(ext({ location: 'w.bin', offset: '1e3' })), /offset is "1e3"/);
    await expectFormatError(() => OnnxModel.decode(ext({ offset: '0' })), /no "location" entry/);
    await expectFormatError(() => OnnxModel.decode(ext({ location: '../secret.bin' })), /not a plain relative path/);
    await expectFormatError(() => OnnxModel.decode(ext({ location: '/etc/passwd' })), /not a plain relative path/);
  });

  it('names defined twice in one graph, and subgraphs nested past the depth limit', async () => {
    const w = { name: 'w', dataType: 1, dims: [1], floatData: [1] };
    await expectFormatError(() => OnnxModel.decode(encode({ name: 'g', initializer: [w, w] })), /graph graph: initializer "w" is defined twice/);
    let graph: Graph = { name: 'leaf' };
    for (let i = 0; i < 70; i++) graph = { name: `g${i}`, node: [{ name: `If${i}`, opType: 'If', attribute: [{ name: 'then_branch', type: 5, g: graph }] }] };
    await expectFormatError(() => OnnxModel.decode(encode(graph)), /subgraphs nest deeper than 64/);
  });

  it('a scheme the opset cannot take: refusing to raise it, or a graph that would change meaning', async () => {
    const weight = { name: 'W', dataType: 1, dims: [64, 32], rawData: new Uint8Array(64 * 32 * 4) };
    const graph = (extra: onnxProto.onnx.INodeProto[] = []): Graph => ({
      name: 'g', initializer: [weight], node: [{ opType: 'MatMul', input: ['X', 'W'], output: ['Y'] }, ...extra],
    });
    const int4 = { dtype: 'qint4', granularity: 'group' } as const;
    await expectFormatError(() => compressOnnx(encode(graph(), 11), { ...int4, allowOpsetUpgrade: false }, cpu),
      /weight "W" as qint4 per group \(axis 0, groupSize 32\).* needs opset 21, the model is opset 11, and allowOpsetUpgrade is false/);
    const pad = { name: 'pad', opType: 'Pad', input: ['Y'], output: ['Z'], attribute: [{ name: 'pads', type: 7, ints: [0, 0, 1, 1] }] };
    await expectFormatError(() => compressOnnx(encode(graph([pad]), 10), int4, cpu), /Pad node pad in graph/, /opset 11/);
    // Below opset 13, 8-bit per channel needs no upgrade (DequantizeLinear → Mul).
    expect((await compressOnnx(encode(graph([pad]), 10), {}, cpu)).report.opset).toEqual({ before: 10, after: 10, rewritten: [] });
    await expectFormatError(() => compressOnnx(encode(graph(), 8), { granularity: 'tensor' }, cpu), /needs opset 10 but the model is opset 8/);
    // The same model is fine where no upgrade is needed.
    expect((await compressOnnx(encode(graph([pad]), 10), { granularity: 'tensor' }, cpu)).report.opset).toEqual({ before: 10, after: 10, rewritten: [] });
  });

  it('non-finite weights: kept float and reported by default, a FormatError naming the weight on request', async () => {
    const data = new Float32Array(64 * 32).fill(0.5);
    data[77] = NaN;
    const wide = new Float32Array(64 * 32).fill(1);
    wide[3] = -3e38;
    wide[4] = 3e38;
    const model = encode({
      name: 'g', node: [{ opType: 'MatMul', input: ['X', 'W'], output: ['Y'] }, { opType: 'MatMul', input: ['X', 'V'], output: ['Z'] }],
      initializer: [
        { name: 'W', dataType: 1, dims: [64, 32], rawData: new Uint8Array(data.buffer) },
        { name: 'V', dataType: 1, dims: [64, 32], rawData: new Uint8Array(wide.buffer) },
      ],
    });
    // Affine quint8: max - min = 6e38 overflows float32, so no scale exists.
    const { report } = await compressOnnx(model, { granularity: 'tensor', overrides: [{ pattern: /^V$/, dtype: 'quint8' }] }, cpu);
    expect(report.tensors.map((t) => [t.name, t.action])).toEqual([['W', 'keep'], ['V', 'keep']]);
    expect(report.tensors[0]!.reason).toBe('non-finite weight: element 77 is NaN; kept float');
    expect(report.tensors[1]!.reason).toMatch(/too wide: its scale overflows float32/);
    await expectFormatError(() => compressOnnx(model, { nonFinite: 'error' }, cpu),
      /weight "W" in graph cannot be quantized: non-finite weight: element 77 is NaN/);
  });
});
