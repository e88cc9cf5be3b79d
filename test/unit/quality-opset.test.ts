// Raising old Softmax / LogSoftmax / Hardmax nodes to opset 13: rank inference decides whether `axis` is
// the last axis (same meaning, left alone); otherwise the node becomes Flatten → op(axis -1) → Reshape,
// and onnxruntime gives the same bits before (opset 12) and after (opset 13) on fresh random inputs.
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { NameAllocator } from '../../src/io/onnx/names.js';
import { upgradeOpset } from '../../src/io/onnx/opset-upgrade.js';
import { inferRanks } from '../../src/io/onnx/rank-inference.js';
import { RUN_SEED } from '../shared/random.js';
import { expectBits, normalData, rng } from './support.js';

const { onnx } = onnxProto;
type Node = onnxProto.onnx.INodeProto;
const int = (name: string, value: number) => ({ name, type: 2, i: value });
const ints = (name: string, values: number[]) => ({ name, type: 7, ints: values });
const float = (name: string, dims: (number | string)[]) =>
  ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } });

function model(nodes: Node[], outputs: string[], initializer: onnxProto.onnx.ITensorProto[] = []): onnxProto.onnx.ModelProto {
  return onnx.ModelProto.decode(onnx.ModelProto.encode({
    irVersion: 7, opsetImport: [{ domain: '', version: 12 }],
    graph: { name: 'g', input: [float('X', [2, 3, 4])], output: outputs.map((o) => float(o, ['?'])), node: nodes, initializer },
  }).finish());
}

async function run(proto: onnxProto.onnx.ModelProto, outputs: string[], x: Float32Array): Promise<Float32Array[]> {
  const session = await ort.InferenceSession.create(onnx.ModelProto.encode(proto).finish());
  const result = await session.run({ X: new ort.Tensor('float32', x, [2, 3, 4]) });
  await session.release();
  return outputs.map((o) => result[o]!.data as Float32Array);
}

describe('Softmax-family upgrade to opset 13', () => {
  console.log(`quality-opset seed ${RUN_SEED}`);
  const shape = { name: 'shape', dataType: 7, dims: [4], rawData: new Uint8Array(BigInt64Array.of(3n, 2n, 2n, 2n).buffer) };
  const nodes: Node[] = [
    { name: 'sm1', opType: 'Softmax', input: ['X'], output: ['A'], attribute: [int('axis', 1)] }, // rank 3, not last: rewritten
    { name: 'lsm', opType: 'LogSoftmax', input: ['X'], output: ['B'], attribute: [int('axis', 2)] }, // last axis: unchanged
    { name: 'hm', opType: 'Hardmax', input: ['X'], output: ['C'] }, // default axis 1 of rank 3: rewritten
    { name: 't', opType: 'Transpose', input: ['X'], output: ['T'], attribute: [ints('perm', [2, 0, 1])] },
    { name: 'r', opType: 'Reshape', input: ['T', 'shape'], output: ['R'] }, // rank 4 from the constant shape
    { name: 'sm2', opType: 'Softmax', input: ['R'], output: ['D'], attribute: [int('axis', 3)] }, // last of rank 4: unchanged
    { name: 'sm3', opType: 'Softmax', input: ['R'], output: ['E'], attribute: [int('axis', 0)] }, // rewritten
  ];
  const outputs = ['A', 'B', 'C', 'D', 'E'];

  it('infers the ranks through Transpose and Reshape', () => {
    const { ranks } = inferRanks(model(nodes, outputs, [shape]).graph as onnxProto.onnx.GraphProto);
    expect(['X', 'A', 'T', 'R', 'D'].map((n) => ranks.get(n))).toEqual([3, 3, 3, 4, 4]);
  });

  it('rewrites only the nodes whose axis is not the last, and onnxruntime gives the same bits', async () => {
    for (const seed of [RUN_SEED, RUN_SEED + 1]) {
      const x = normalData(24, rng(seed), 3);
      const before = model(nodes, outputs, [shape]);
      const expected = await run(before, outputs, x);
      const after = model(nodes, outputs, [shape]);
      const rewritten = upgradeOpset(after, 13, new NameAllocator(after.graph as onnxProto.onnx.GraphProto), 'm.onnx');
      expect(rewritten.map((r) => r.split(' ')[0] + ' ' + r.split(' ')[2])).toEqual(['Softmax sm1', 'Hardmax hm', 'Softmax sm3']);
      expect(rewritten[0]).toMatch(/Flatten\(axis 1\) → Softmax\(axis -1\) → Reshape/);
      expect(after.graph!.node!.map((n) => n.opType)).toEqual(['Flatten', 'Shape', 'Softmax', 'Reshape', 'LogSoftmax', 'Flatten', 'Shape',
        'Hardmax', 'Reshape', 'Transpose', 'Reshape', 'Softmax', 'Flatten', 'Shape', 'Softmax', 'Reshape']);
      const got = await run(after, outputs, x);
      outputs.forEach((o, i) => expectBits(got[i]!, expected[i]!, `${o} (seed ${seed})`));
    }
  });
});
