// Reading ONNX: the real Silero VAD model (initializers in the main graph and in nested If subgraphs,
// consumers across scopes), every typed-field layout against hand-written little-endian bytes, Constant
// nodes, external data from bytes / Blob / ByteSource (a file on disk read in place), shadowed names in subgraphs, and the dtype table.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { bytesSource } from '../../src/io/byte-source.js';
import { FormatError } from '../../src/errors.js';
import { nodeFileSource } from '../../src/io/safetensors/node-file-source.js';
import { onnxDTypeInfo } from '../../src/io/onnx/dtypes.js';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';
import { expectExact } from './support.js';

const { onnx } = onnxProto;
const kModelPath = createRequire(import.meta.url).resolve('@ricky0123/vad-web/dist/silero_vad_legacy.onnx');

/** A model around `graph`, opset 13, IR 7. */
function encode(graph: onnxProto.onnx.IGraphProto, opset = 13): Uint8Array {
  return onnx.ModelProto.encode({ irVersion: 7, opsetImport: [{ domain: '', version: opset }], graph }).finish();
}

const le = (type: 'f32' | 'f64' | 'i64', values: (number | bigint)[]): Uint8Array => {
  const size = type === 'f32' ? 4 : 8;
  const out = new Uint8Array(values.length * size);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => {
    if (type === 'f32') view.setFloat32(i * 4, Number(v), true);
    else if (type === 'f64') view.setFloat64(i * 8, Number(v), true);
    else view.setBigInt64(i * 8, BigInt(v), true);
  });
  return out;
};

describe('OnnxModel on Silero VAD (legacy)', () => {
  const bytes = readFileSync(kModelPath);
  const model = OnnxModel.decode(bytes, { name: 'silero_vad_legacy.onnx' });

  it('reads the opset imports and IR version', () => {
    expect(model.defaultOpset()).toBe(16);
    expect(model.irVersion).toBe(8);
    expect(model.opsetImports()).toContainEqual({ domain: 'ai.onnx.ml', version: 3 });
  });

  it('lists the 69 main-graph initializers and the subgraph ones, with their dtypes and places', () => {
    const weights = model.list();
    const main = weights.filter((w) => w.graph === 'graph');
    expect(main).toHaveLength(69);
    expect(main.filter((w) => w.dtype === 'float32')).toHaveLength(68);
    expect(model.info('onnx::Equal_124')).toMatchObject({ dtype: 'int64', shape: [], byteLength: 8, onnxDataType: 'INT64' });
    expect(weights.filter((w) => w.graph !== 'graph').length).toBe(weights.length - 69);
    expect(weights.every((w) => w.source === 'initializer')).toBe(true);
  });

  it('finds a main-graph weight used by a Conv inside the If subgraph, and reads its raw bytes', async () => {
    const w = model.info('model.first_layer.0.dw_conv.0.weight');
    expect(w).toMatchObject({ dtype: 'float32', shape: [258, 1, 5], byteLength: 5160, graph: 'graph', source: 'initializer' });
    expect(w.consumers).toEqual([expect.objectContaining({ opType: 'Conv', inputIndex: 1, graph: 'graph/If_25.then_branch' })]);
    expect(w.consumers[0]!.attributes.group).toBe(258); // depthwise: the Conv attribute is there for the policy
    const raw = await model.read(w.name);
    expect(raw.byteLength).toBe(5160);
    const values = await model.readFloat32(w.name);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    expectExact(values, Array.from({ length: 1290 }, (_, i) => view.getFloat32(4 * i, true)), 'float32 values');
    // The bytes are the file's own: find them in it.
    expect(Buffer.from(bytes).indexOf(Buffer.from(raw))).toBeGreaterThan(0);
  });

  it('finds the LSTM weights two If levels down, with their consumer inputs', () => {
    const w = model.info('1072');
    expect(w).toMatchObject({ shape: [1, 256, 64], graph: 'graph/If_25.else_branch/If_651.else_branch' });
    expect(w.consumers.map((c) => [c.opType, c.inputIndex])).toEqual([['LSTM', 1]]);
    expect(model.info('1002').consumers.map((c) => c.inputIndex)).toEqual([2]);
    expect(model.info('1076').consumers.map((c) => c.inputIndex)).toEqual([3]);
  });

  it('loads the same from a Blob and a ByteSource', async () => {
    for (const input of [new Blob([new Uint8Array(bytes)]), bytesSource(new Uint8Array(bytes))]) {
      const other = await OnnxModel.load(input);
      expect(other.list().map((w) => w.name)).toEqual(model.list().map((w) => w.name));
    }
  });
});

describe('OnnxModel on built models', () => {
  it('reads every typed-field layout as little-endian bytes', async () => {
    const tensors: onnxProto.onnx.ITensorProto[] = [
      { name: 'f32', dataType: 1, dims: [2, 2], floatData: [1.5, -2, 0.25, 3] },
      { name: 'f64', dataType: 11, dims: [2], doubleData: [0.1, -1e300] },
      { name: 'f16', dataType: 10, dims: [3], int32Data: [0x3c00, 0xc000, 0x7c00] },
      { name: 'bf16', dataType: 16, dims: [2], int32Data: [0x3f80, 0xc0a0] },
      { name: 'i64', dataType: 7, dims: [3], int64Data: [1, -2, 9007199254740991] },
      { name: 'i8', dataType: 3, dims: [3], int32Data: [-128, 5, 127] },
      { name: 'u32', dataType: 12, dims: [2], uint64Data: [4294967295, 7] },
      { name: 'i4', dataType: 22, dims: [3], int32Data: [0xe1, 0x07] },
      { name: 'empty', dataType: 1, dims: [0, 4] },
    ];
    const model = OnnxModel.decode(encode({ name: 'g', initializer: tensors, node: [] }));
    expect(model.list().map((w) => [w.name, w.dtype])).toEqual([
      ['f32', 'float32'], ['f64', 'float64'], ['f16', 'float16'], ['bf16', 'bfloat16'], ['i64', 'int64'], ['i8', 'int8'],
      ['u32', 'uint32'], ['i4', 'int4'], ['empty', 'float32'],
    ]);
    expectExact(await model.readFloat32('f32'), [1.5, -2, 0.25, 3], 'f32');
    expectExact(await model.readFloat32('f64'), [Math.fround(0.1), -Infinity], 'f64 rounded to float32');
    expectExact(await model.readFloat32('f16'), [1, -2, Infinity], 'f16');
    expectExact(await model.readFloat32('bf16'), [1, -5], 'bf16');
    expectExact(await model.read('i64'), le('i64', [1n, -2n, 9007199254740991n]), 'i64 bytes');
    expectExact(await model.read('i8'), [0x80, 5, 0x7f], 'i8 bytes');
    expectExact(await model.read('u32'), [0xff, 0xff, 0xff, 0xff, 7, 0, 0, 0], 'u32 bytes');
    expectExact(await model.read('i4'), [0xe1, 0x07], 'int4 bytes (two per byte)');
    expect((await model.read('empty')).byteLength).toBe(0);
    expect(model.info('i4').byteLength).toBe(2);
  });

  it('reads weights held by Constant nodes, with their node name and consumers', async () => {
    const value = { name: '', dataType: 1, dims: [2, 3], rawData: le('f32', [1, 2, 3, 4, 5, 6]) };
    const model = OnnxModel.decode(encode({
      name: 'g',
      node: [
        { name: 'const_w', opType: 'Constant', output: ['w'], attribute: [{ name: 'value', type: 4, t: value }] },
        { name: 'const_scalar', opType: 'Constant', output: ['s'], attribute: [{ name: 'value_float', type: 1, f: 2 }] },
        { name: 'mm', opType: 'MatMul', input: ['x', 'w'], output: ['y'] },
      ],
      input: [{ name: 'x' }], output: [{ name: 'y' }],
    }));
    expect(model.list().map((w) => w.name)).toEqual(['w']); // value_float is not a tensor weight
    expect(model.info('w')).toMatchObject({ source: 'constant', nodeName: 'const_w', shape: [2, 3], graph: 'graph' });
    expect(model.info('w').consumers).toEqual([expect.objectContaining({ opType: 'MatMul', inputIndex: 1, nodeName: 'mm' })]);
    expectExact(await model.readFloat32('w'), [1, 2, 3, 4, 5, 6], 'constant values');
  });

  it('reads external data through the resolver, from bytes, a Blob or a ByteSource', async () => {
    const file = new Uint8Array(64);
    file.set(le('f32', [7, 8, 9, 10, 11, 12]), 16);
    const graph = {
      name: 'g', node: [],
      initializer: [{
        name: 'ext', dataType: 1, dims: [2, 3], dataLocation: 1,
        externalData: [{ key: 'location', value: 'weights.bin' }, { key: 'offset', value: '16' }, { key: 'length', value: '24' }],
      }],
    };
    for (const source of [file, new Blob([file]), bytesSource(file, 'weights.bin')]) {
      const asked: string[] = [];
      const model = OnnxModel.decode(encode(graph), { externalData: (location) => { asked.push(location); return source; } });
      expect(model.info('ext').external).toEqual({ location: 'weights.bin', offset: 16, length: 24 });
      expectExact(await model.readFloat32('ext'), [7, 8, 9, 10, 11, 12], 'external values');
      expect(asked).toEqual(['weights.bin']);
      // Into the caller's memory: the resolver is asked once a read (a resolver that fetches is not asked twice).
      expectExact(await model.readFloat32View('ext', (n) => new Float32Array(n)), [7, 8, 9, 10, 11, 12], 'viewed');
      expect(await model.readInto('ext', new Uint8Array(32))).toEqual(file.subarray(16, 40));
      expect(asked).toEqual(['weights.bin', 'weights.bin', 'weights.bin']);
    }
  });

  it('reads external data in a file on disk straight into the caller\'s array; a data file cut short is a FormatError naming the tensor', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'wq-onnx-ext-'));
    try {
      const values = Float32Array.from({ length: 300 }, () => Math.random() * 2 - 1);
      const offset = 4 * (1 + Math.floor(Math.random() * 8));
      const file = new Uint8Array(offset + values.byteLength + 8);
      file.set(new Uint8Array(values.buffer), offset);
      writeFileSync(join(folder, 'weights.bin'), file);
      const ext = (name: string, at: number, length: number) => ({
        name, dataType: 1, dims: [length / 4], dataLocation: 1,
        externalData: [{ key: 'location', value: 'weights.bin' }, { key: 'offset', value: String(at) }, { key: 'length', value: String(length) }],
      });
      const graph = { name: 'g', node: [], initializer: [ext('w', offset, values.byteLength), ext('past', offset + 64, values.byteLength)] };
      const source = await nodeFileSource(join(folder, 'weights.bin'));
      const calls = { read: 0, readInto: 0 };
      const counted = { ...source, read: (at: number, length: number) => { calls.read++; return source.read(at, length); },
        readInto: (at: number, target: Uint8Array) => { calls.readInto++; return source.readInto!(at, target); } };
      try {
        const model = OnnxModel.decode(encode(graph), { externalData: () => counted });
        const scratch = new Float32Array(values.length);
        const viewed = await model.readFloat32View('w', () => scratch);
        expect(viewed).toBe(scratch);
        expectExact(viewed, values, 'external values read in place');
        const buffer = new Uint8Array(values.byteLength + 16);
        const bytes = await model.readInto('w', buffer);
        expect(bytes.buffer).toBe(buffer.buffer);
        expect(bytes).toEqual(new Uint8Array(values.buffer));
        expect(calls).toEqual({ read: 0, readInto: 2 }); // no array of the read's own
        const ranged = OnnxModel.decode(encode(graph), { externalData: () => source });
        expect(await ranged.float32FileRange('w')).toEqual({ path: join(folder, 'weights.bin'), offset, byteLength: values.byteLength });
        expect(await ranged.tensorFileRange('w')).toEqual(await ranged.float32FileRange('w'));
        // 'past' runs 56 bytes past the end of the file: the same error whichever way it is read.
        for (const read of [() => model.readFloat32View('past', () => scratch), () => model.readInto('past', buffer), () => model.read('past')]) {
          await expect(read()).rejects.toThrow(FormatError);
          await expect(read()).rejects.toThrow(/initializer "past" in graph: external data "weights\.bin": bytes \d+\.\.\d+ lie past the end/);
        }
      } finally {
        await source.close();
      }
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('scopes names per graph: a shadowing subgraph weight is its own, an outer one is seen from inside', () => {
    const w = (name: string, v: number) => ({ name, dataType: 1, dims: [1, 1], floatData: [v] });
    const branch = (shadow: boolean) => ({
      name: 'b', initializer: shadow ? [w('w', 2)] : [], output: [{ name: shadow ? 'y1' : 'y2' }],
      node: [{ opType: 'MatMul', input: ['x', 'w'], output: [shadow ? 'y1' : 'y2'] }],
    });
    const model = OnnxModel.decode(encode({
      name: 'g', initializer: [w('w', 1)], input: [{ name: 'x' }, { name: 'cond' }], output: [{ name: 'y' }],
      node: [{
        name: 'If_0', opType: 'If', input: ['cond'], output: ['y'],
        attribute: [{ name: 'then_branch', type: 5, g: branch(true) }, { name: 'else_branch', type: 5, g: branch(false) }],
      }],
    }));
    expect(model.list().map((x) => x.name)).toEqual(['w@graph', 'w@graph/If_0.then_branch']);
    expect(model.info('w@graph').consumers.map((c) => c.graph)).toEqual(['graph/If_0.else_branch']);
    expect(model.info('w@graph/If_0.then_branch').consumers.map((c) => c.graph)).toEqual(['graph/If_0.then_branch']);
    expect(model.info('w@graph/If_0.then_branch').tensorName).toBe('w');
  });

  it('finds weights in Loop bodies and marks initializers that are also graph inputs', () => {
    const model = OnnxModel.decode(encode({
      name: 'g', input: [{ name: 'w_in' }], initializer: [{ name: 'w_in', dataType: 1, dims: [1], floatData: [1] }],
      node: [{
        name: 'L', opType: 'Loop', input: ['', ''], output: [],
        attribute: [{ name: 'body', type: 5, g: { name: 'body', initializer: [{ name: 'inner', dataType: 1, dims: [1], floatData: [3] }] } }],
      }],
    }));
    expect(model.info('w_in').graphInput).toBe(true);
    expect(model.info('inner').graph).toBe('graph/L.body');
  });

  it('maps the ONNX dtypes to webgpu-quant names', () => {
    const names = Object.fromEntries([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 21, 22, 99].map((c) => [c, onnxDTypeInfo(c).dtype]));
    expect(names).toEqual({
      1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'other', 9: 'bool', 10: 'float16',
      11: 'float64', 12: 'uint32', 13: 'uint64', 14: 'other', 16: 'bfloat16', 17: 'other', 21: 'uint4', 22: 'int4', 99: 'other',
    });
  });
});

describe('attributes written without a type', () => {
  it('are read by the field that holds the value (Gemm transB from an old exporter)', () => {
    const model = OnnxModel.decode(encode({
      name: 'g', initializer: [{ name: 'B', dataType: 1, dims: [2, 2], floatData: [1, 2, 3, 4] }],
      node: [{ opType: 'Gemm', input: ['A', 'B'], output: ['Y'], attribute: [{ name: 'transB', i: 1 }, { name: 'alpha', f: 0.5 }] }],
    }));
    expect(model.info('B').consumers[0]!.attributes).toEqual({ transB: 1, alpha: 0.5 });
  });
});
