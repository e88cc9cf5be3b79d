// Raising the opset: an opset-9 model's Clip and Slice nodes, and a model at opset 11 whose Squeeze / Unsqueeze / ReduceSum / ReduceMean / ReduceMax /
// Split / Softmax nodes changed signature by opset 21 (some inside If branches) is rewritten, and
// onnxruntime gives the same bits for every output before and after. Changes that cannot be rewritten
// exactly are refused with a FormatError naming the node.
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { NameAllocator } from '../../src/io/onnx/names.js';
import { checkOpsetUpgrade, irVersionForOpset, upgradeOpset } from '../../src/io/onnx/opset-upgrade.js';
import { expectBits } from './support.js';

const { onnx } = onnxProto;
type Node = onnxProto.onnx.INodeProto;
const ints = (name: string, values: number[]) => ({ name, type: 7, ints: values });
const int = (name: string, value: number) => ({ name, type: 2, i: value });
const str = (name: string, value: string) => ({ name, type: 3, s: new TextEncoder().encode(value) });
const float = (name: string, dims: (number | string)[]) =>
  ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } });

/** A decoded model (what the upgrade works on: every field present, as decode gives it). */
function model(nodes: Node[], opset: number, outputs: string[], inputs = [float('X', [2, 1, 3, 4])]): onnxProto.onnx.ModelProto {
  return roundTrip({
    irVersion: 6, opsetImport: [{ domain: '', version: opset }],
    graph: { name: 'g', input: inputs, output: outputs.map((o) => float(o, ['?'])), node: nodes },
  });
}

function roundTrip(properties: onnxProto.onnx.IModelProto): onnxProto.onnx.ModelProto {
  return onnx.ModelProto.decode(onnx.ModelProto.encode(properties).finish());
}

async function runAll(bytes: Uint8Array, outputs: string[], feeds: Record<string, ort.Tensor>): Promise<Float32Array[]> {
  const session = await ort.InferenceSession.create(bytes);
  const result = await session.run(feeds);
  await session.release();
  return outputs.map((o) => result[o]!.data as Float32Array);
}

describe('upgradeOpset', () => {
  it('rewrites opset-11 nodes for opset 21 and onnxruntime gives identical outputs', async () => {
    const branch = (op: string): onnxProto.onnx.IGraphProto => ({
      name: op, output: [float(`b_${op}`, ['?'])], node: [{ opType: op, input: ['X'], output: [`b_${op}`], attribute: [ints('axes', [3])] }],
    });
    const nodes: Node[] = [
      { opType: 'Squeeze', input: ['X'], output: ['S'], attribute: [ints('axes', [1])] },
      { opType: 'Unsqueeze', input: ['S'], output: ['U'], attribute: [ints('axes', [0])] },
      { opType: 'ReduceSum', input: ['U'], output: ['RS'], attribute: [ints('axes', [3]), int('keepdims', 1)] },
      { opType: 'ReduceMean', input: ['U'], output: ['RM'], attribute: [ints('axes', [2])] },
      { opType: 'ReduceMax', input: ['U'], output: ['RX'], attribute: [ints('axes', [1, 3]), int('keepdims', 0)] },
      { opType: 'Split', input: ['S'], output: ['P1', 'P2'], attribute: [int('axis', 2), ints('split', [1, 3])] },
      { opType: 'Split', input: ['S'], output: ['Q1', 'Q2'], attribute: [int('axis', 0)] },
      { opType: 'Softmax', input: ['S'], output: ['SM'], attribute: [int('axis', -1)] },
      {
        name: 'If_0', opType: 'If', input: ['cond'], output: ['B'],
        attribute: [{ name: 'then_branch', type: 5, g: branch('ReduceMean') }, { name: 'else_branch', type: 5, g: branch('ReduceSumSquare') }],
      },
    ];
    const outputs = ['RS', 'RM', 'RX', 'P1', 'P2', 'Q1', 'Q2', 'SM', 'B'];
    const old = model(nodes, 11, outputs, [float('X', [2, 1, 3, 4]), { name: 'cond', type: { tensorType: { elemType: 9, shape: { dim: [] } } } }]);
    const before = onnx.ModelProto.encode(old).finish();
    const upgraded = onnx.ModelProto.decode(before);
    const changed = upgradeOpset(upgraded, 21, new NameAllocator(upgraded.graph as onnxProto.onnx.GraphProto), 'test');
    expect(changed).toHaveLength(9); // Squeeze, Unsqueeze, ReduceSum, ReduceMean, ReduceMax, Split x2 (one split input, one num_outputs), 2 branches
    expect(changed.some((c) => c.includes('num_outputs = 2'))).toBe(true);
    expect(changed.some((c) => c.includes('graph/If_0.then_branch'))).toBe(true);
    expect(upgraded.opsetImport[0]!.version).toBe(21);
    expect(Number(upgraded.irVersion)).toBe(10);
    const after = onnx.ModelProto.encode(upgraded).finish();
    const x = new ort.Tensor('float32', Float32Array.from({ length: 24 }, (_, i) => Math.sin(i * 1.3) * 3), [2, 1, 3, 4]);
    for (const flag of [true, false]) {
      const feeds = { X: x, cond: new ort.Tensor('bool', [flag], []) };
      const [a, b] = [await runAll(before, outputs, feeds), await runAll(after, outputs, feeds)];
      outputs.forEach((o, i) => expectBits(b[i]!, a[i]!, `${o} (cond ${flag})`));
    }
  });

  it('rewrites opset-9 Clip (min/max) and Slice (starts/ends/axes) attributes as inputs, with identical outputs', async () => {
    const floatAttr = (name: string, value: number) => ({ name, type: 1, f: value });
    const nodes: Node[] = [
      { opType: 'Clip', input: ['X'], output: ['C1'], attribute: [floatAttr('min', -0.5), floatAttr('max', 1.25)] },
      { opType: 'Clip', input: ['X'], output: ['C2'], attribute: [floatAttr('max', 0.75)] },
      { opType: 'Clip', input: ['X'], output: ['C3'], attribute: [floatAttr('min', 0)] },
      { opType: 'Slice', input: ['X'], output: ['S1'], attribute: [ints('starts', [1, 0]), ints('ends', [3, 2]), ints('axes', [2, 3])] },
      { opType: 'Slice', input: ['X'], output: ['S2'], attribute: [ints('starts', [0, 1, 0, 1]), ints('ends', [1, 1, 2, 1000000])] },
    ];
    const outputs = ['C1', 'C2', 'C3', 'S1', 'S2'];
    const before = onnx.ModelProto.encode(model(nodes, 9, outputs)).finish();
    const upgraded = onnx.ModelProto.decode(before);
    const changed = upgradeOpset(upgraded, 13, new NameAllocator(upgraded.graph as onnxProto.onnx.GraphProto), 'test');
    expect(changed).toHaveLength(5);
    expect(changed[0]).toMatch(/Clip node Clip#0 in graph: min -0\.5, max 1\.25 attributes → inputs/);
    expect(changed[3]).toMatch(/Slice node Slice#3 in graph: starts attribute → input .*; ends attribute → input .*; axes attribute → input/);
    const after = onnx.ModelProto.encode(upgraded).finish();
    const feeds = { X: new ort.Tensor('float32', Float32Array.from({ length: 24 }, (_, i) => Math.sin(i * 1.3) * 2), [2, 1, 3, 4]) };
    const [a, b] = [await runAll(before, outputs, feeds), await runAll(after, outputs, feeds)];
    outputs.forEach((o, i) => expectBits(b[i]!, a[i]!, o));
    expect(Array.from(a[0]!).every((v) => v >= -0.5 && v <= 1.25)).toBe(true); // the check is not vacuous
  });

  it('renames GridSample modes at opset 20 and adds nothing when the opset is already high enough', () => {
    const grid = model([{ opType: 'GridSample', input: ['X', 'G'], output: ['Y'], attribute: [str('mode', 'bicubic')] }], 16, ['Y']);
    expect(upgradeOpset(grid, 20, new NameAllocator(grid.graph as onnxProto.onnx.GraphProto), 'grid')).toEqual([
      'GridSample node GridSample#0 in graph: mode bicubic → cubic',
    ]);
    const recent = model([{ opType: 'ReduceMean', input: ['X'], output: ['Y'], attribute: [ints('axes', [1])] }], 21, ['Y']);
    expect(upgradeOpset(recent, 13, new NameAllocator(recent.graph as onnxProto.onnx.GraphProto), 'recent')).toEqual([]);
    expect(Number(recent.opsetImport[0]!.version)).toBe(21); // never lowered
  });

  it('refuses changes it cannot rewrite exactly, naming the node and the version', () => {
    const refuse = (nodes: Node[], from: number, to: number, pattern: RegExp) => {
      const m = model(nodes, from, ['Y']);
      expect(() => checkOpsetUpgrade(m, from, to, 'm.onnx', 'per-channel DequantizeLinear')).toThrow(FormatError);
      expect(() => checkOpsetUpgrade(m, from, to, 'm.onnx')).toThrow(pattern);
    };
    refuse([{ name: 'tk', opType: 'TopK', input: ['X'], output: ['Y', 'I'], attribute: [int('k', 1)] }], 9, 13,
      /m\.onnx: .* needs opset 13 \(the model is opset 9\).*TopK node tk in graph \(opset 10: k moved/);
    refuse([{ opType: 'Pad', input: ['X'], output: ['Y'], attribute: [ints('pads', [0, 0, 1, 1])] }], 10, 13, /Pad node .*opset 11: pads moved/);
    refuse([{ opType: 'GroupNormalization', input: ['X', 's', 'b'], output: ['Y'], attribute: [int('num_groups', 2)] }], 18, 21,
      /GroupNormalization node .*opset 21/);
    refuse([{ opType: 'Relu', input: ['X'], output: ['Y'] }], 8, 13, /raises opsets from 9 up.*version_converter/);
  });

  it('knows the IR version each opset needs', () => {
    expect([10, 11, 13, 15, 19, 21, 23].map(irVersionForOpset)).toEqual([5, 6, 7, 8, 9, 10, 11]);
  });
});
