// The compression policy: every operator rule (Conv, ConvTranspose, Gemm with and without transB, MatMul
// A and B, LSTM/GRU/RNN W and R, Gather, biases, graph outputs, unknown and foreign ops), the size and
// dtype rules, include / exclude / overrides (first match wins, stateful /g patterns), group-axis choice,
// option validation, and the decisions for the real Silero VAD model.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { combineRoles, consumerRole } from '../../src/compress/operator-axes.js';
import { planOnnxCompression, requiredOpsetFor } from '../../src/compress/onnx-plan.js';
import { type PolicyWeight, checkPolicy, decideWeight, decideWeights } from '../../src/compress/policy.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';

const weight = (shape: number[], consumers?: PolicyWeight['consumers'], name = 'w', dtype: PolicyWeight['dtype'] = 'float32'): PolicyWeight =>
  ({ name, dtype, shape, ...(consumers ? { consumers } : {}) });
const use = (opType: string, inputIndex: number, attributes: Record<string, unknown> = {}) => ({ opType, inputIndex, attributes });

describe('operator rules', () => {
  const cases: Array<[string, ReturnType<typeof use>, number, number | 'tensor' | 'keep']> = [
    ['Conv W', use('Conv', 1), 4, 0],
    ['Conv bias', use('Conv', 2), 1, 'keep'],
    ['ConvTranspose W [in, out/g, k]', use('ConvTranspose', 1), 4, 1],
    ['Gemm B with transB [N, K]', use('Gemm', 1, { transB: 1 }), 2, 0],
    ['Gemm B without transB [K, N]', use('Gemm', 1), 2, 1],
    ['Gemm A with transA [K, M]', use('Gemm', 0, { transA: 1 }), 2, 1],
    ['Gemm C', use('Gemm', 2), 2, 'keep'],
    ['MatMul B [in, out]', use('MatMul', 1), 2, 1],
    ['batched MatMul B [b, in, out]', use('MatMul', 1), 3, 2],
    ['MatMul A [M, K]', use('MatMul', 0), 2, 0],
    ['LSTM W [dirs, 4h, in]', use('LSTM', 1), 3, 1],
    ['LSTM R', use('LSTM', 2), 3, 1],
    ['GRU W', use('GRU', 1), 3, 1],
    ['RNN R', use('RNN', 2), 3, 1],
    ['LSTM B', use('LSTM', 3), 2, 'keep'],
    ['LSTM initial_h', use('LSTM', 5), 3, 'keep'],
    ['Gather data (embeddings)', use('Gather', 0), 2, 0],
    ['Gather data along axis 1', use('Gather', 0, { axis: 1 }), 2, 1],
    ['Gather data, axis -1', use('Gather', 0, { axis: -1 }), 3, 2],
    ['Add (unknown channel)', use('Add', 1), 2, 'tensor'],
    ['graph output', use('(graph output)', -1), 2, 'keep'],
  ];
  for (const [what, consumer, rank, expected] of cases) {
    it(`${what} → ${expected}`, () => {
      const role = consumerRole(consumer, rank);
      if (typeof expected === 'number') expect(role).toMatchObject({ kind: 'channel', axis: expected });
      else expect(role.kind).toBe(expected);
    });
  }

  it('a foreign-domain operator has no known axis', () => {
    expect(consumerRole({ opType: 'Conv', domain: 'com.microsoft', inputIndex: 1 }, 4).kind).toBe('tensor');
    expect(consumerRole({ opType: 'Conv', domain: 'ai.onnx', inputIndex: 1 }, 4)).toMatchObject({ kind: 'channel', axis: 0 });
  });

  it('combines consumers: agreement keeps the axis, disagreement is per tensor, a bias use keeps float', () => {
    const conv = consumerRole(use('Conv', 1), 2);
    const matmul = consumerRole(use('MatMul', 1), 2);
    expect(combineRoles([conv, conv])).toEqual(conv);
    expect(combineRoles([conv, matmul])).toMatchObject({ kind: 'tensor', why: expect.stringContaining('disagree') });
    expect(combineRoles([conv, consumerRole(use('Conv', 2), 2)]).kind).toBe('keep');
    expect(combineRoles([]).kind).toBe('keep');
  });
});

describe('decideWeight', () => {
  it('quantizes a Conv weight per channel on axis 0 with the defaults', () => {
    expect(decideWeight(weight([64, 32, 3, 3], [use('Conv', 1)]))).toMatchObject({
      action: 'quantize', dtype: 'qint8', granularity: 'channel', axis: 0, groupSize: undefined, symmetric: true, method: 'minmax', outputAxis: 0,
    });
  });

  it('picks LSTM axis 1, not the size-1 direction axis 0', () => {
    const d = decideWeight(weight([1, 256, 64], [use('LSTM', 1)]));
    expect(d).toMatchObject({ granularity: 'channel', axis: 1 });
  });

  it('keeps biases, small tensors, non-floats and unused weights, saying why', () => {
    expect(decideWeight(weight([512], [use('Add', 0)])).reason).toMatch(/rank 1 < 2/);
    expect(decideWeight(weight([1, 1000], [use('MatMul', 1)])).reason).toMatch(/1000 elements < 1024/);
    expect(decideWeight(weight([64, 64], [use('MatMul', 1)], 'w', 'int64')).reason).toMatch(/int64 is not a float type/);
    expect(decideWeight(weight([64, 64], [])).reason).toMatch(/no consumer/);
    expect(decideWeight(weight([64, 64], [use('Gemm', 2)])).reason).toMatch(/bias/);
    expect(decideWeight(weight([1, 1000], [use('MatMul', 1)]), { minElements: 1000 }).action).toBe('quantize');
  });

  it('gives per tensor when the channel axis has size 1, or the consumer is unknown', () => {
    expect(decideWeight(weight([1, 64, 32], [use('Conv', 1)]))).toMatchObject({ granularity: 'tensor', axis: undefined });
    expect(decideWeight(weight([64, 64], [use('Mul', 0)]))).toMatchObject({ action: 'quantize', granularity: 'tensor' });
  });

  it('without graph information uses axis 0 (PyTorch [out, in] layout)', () => {
    expect(decideWeight(weight([128, 64]))).toMatchObject({ granularity: 'channel', axis: 0 });
  });

  it('chooses the group axis: the largest axis besides the output axis', () => {
    const group = { granularity: 'group' as const };
    expect(decideWeight(weight([64, 32, 3, 3], [use('Conv', 1)]), group)).toMatchObject({ axis: 1, groupSize: 32, outputAxis: 0 });
    expect(decideWeight(weight([258, 1, 5], [use('Conv', 1)]), { ...group, minElements: 0 })).toMatchObject({ axis: 2 });
    expect(decideWeight(weight([512, 256], [use('MatMul', 1)]), group)).toMatchObject({ axis: 0, outputAxis: 1 });
    expect(decideWeight(weight([1, 256, 64], [use('LSTM', 1)]), { ...group, groupSize: 16 })).toMatchObject({ axis: 2, groupSize: 16 });
    expect(decideWeight(weight([512, 256], [use('MatMul', 1)]), { ...group, axis: -1 })).toMatchObject({ axis: 1 });
  });

  it('honours an explicit axis and rejects one that does not fit', () => {
    expect(decideWeight(weight([64, 64], [use('MatMul', 1)]), { axis: 0 })).toMatchObject({ granularity: 'channel', axis: 0 });
    expect(() => decideWeight(weight([64, 64], [use('MatMul', 1)]), { axis: 2 })).toThrow(InvalidArgumentError);
  });

  it('defaults symmetric by signedness', () => {
    const w = weight([64, 64], [use('MatMul', 1)]);
    expect(decideWeight(w, { dtype: 'quint8' }).symmetric).toBe(false);
    expect(decideWeight(w, { dtype: 'qint4' }).symmetric).toBe(true);
    expect(decideWeight(w, { dtype: 'quint4', symmetric: true }).symmetric).toBe(true);
  });

  it('applies include, exclude and the first matching override', () => {
    const w = (name: string) => weight([64, 64], [use('MatMul', 1)], name);
    const policy = {
      exclude: /^head\./,
      overrides: [
        { pattern: /attn/g, dtype: 'qint4' as const, granularity: 'group' as const, groupSize: 16, calibrate: 'mse' as const },
        { pattern: /attn|mlp/, dtype: 'quint8' as const },
        { pattern: /norm/, keep: true },
      ],
    };
    expect(decideWeight(w('head.proj'), policy).reason).toMatch(/excluded by \/\^head\\.\//);
    for (let i = 0; i < 3; i++) { // a /g pattern must not alternate between matching and not
      expect(decideWeight(w('layer.attn.q'), policy)).toMatchObject({ dtype: 'qint4', granularity: 'group', groupSize: 16, method: 'mse' });
    }
    expect(decideWeight(w('layer.mlp.up'), policy)).toMatchObject({ dtype: 'quint8', symmetric: false });
    expect(decideWeight(w('layer.norm.big'), policy).reason).toMatch(/kept by override/);
    expect(decideWeight(w('layer.other'), { include: [/attn/, /mlp/] }).reason).toMatch(/no include pattern/);
  });

  it('rejects malformed options, naming the field', () => {
    const bad = <T>(v: unknown) => v as T;
    expect(() => checkPolicy({ dtype: bad('int8') })).toThrow(/policy\.dtype is "int8"/);
    expect(() => checkPolicy({ granularity: bad('row') })).toThrow(/policy\.granularity/);
    expect(() => checkPolicy({ groupSize: 0 })).toThrow(/policy\.groupSize/);
    expect(() => checkPolicy({ calibrate: bad('kl') })).toThrow(/policy\.calibrate/);
    expect(() => checkPolicy({ include: bad('attn') })).toThrow(/policy\.include/);
    expect(() => checkPolicy({ overrides: [{ pattern: bad('x') }] })).toThrow(/policy\.overrides\[0\]\.pattern/);
    expect(() => checkPolicy({ overrides: [{ pattern: /x/, symmetric: bad('yes') }] })).toThrow(/policy\.overrides\[0\]\.symmetric/);
    expect(() => decideWeights([], { axis: 1.5 })).toThrow(InvalidArgumentError);
  });
});

describe('the plan for Silero VAD', () => {
  const path = createRequire(import.meta.url).resolve('@ricky0123/vad-web/dist/silero_vad_legacy.onnx');
  const model = OnnxModel.decode(readFileSync(path));

  it('quantizes the 34 Conv and LSTM weights of >= 1024 elements past the first layer, Conv on axis 0 and LSTM on axis 1', () => {
    const plan = planOnnxCompression(model);
    const quantized = plan.decisions.filter((d) => d.action === 'quantize');
    expect(quantized).toHaveLength(34);
    expect(plan.requiredOpset).toBe(13);
    const byName = new Map(plan.decisions.map((d) => [d.name, d]));
    // The STFT bases read the audio input (through Reshape, Pad and a nested If): the first layer, kept float.
    for (const name of ['model.feature_extractor.forward_basis_buffer', 'model_8k.feature_extractor.forward_basis_buffer']) {
      expect(byName.get(name)).toMatchObject({ action: 'keep', reason: expect.stringMatching(/^first layer/) });
    }
    const all = planOnnxCompression(model, { firstLayer: 'quantize' });
    expect(all.decisions.filter((d) => d.action === 'quantize')).toHaveLength(36);
    expect(all.decisions.find((d) => d.name === 'model.feature_extractor.forward_basis_buffer')).toMatchObject({ granularity: 'channel', axis: 0 });
    const named = planOnnxCompression(model, { overrides: [{ pattern: /^model\.feature_extractor/, granularity: 'group' }] });
    expect(named.decisions.find((d) => d.name === 'model.feature_extractor.forward_basis_buffer')).toMatchObject({ action: 'quantize', granularity: 'group' });
    expect(byName.get('1072')).toMatchObject({ granularity: 'channel', axis: 1 });
    expect(byName.get('1076')!.reason).toMatch(/512 elements < 1024|LSTM B/);
    expect(byName.get('model.first_layer.0.dw_conv.0.bias')!.reason).toMatch(/rank 1/);
    expect(byName.get('model.encoder.3.0.dw_conv.0.weight')!.action).toBe('keep'); // [16, 1, 5]: 80 elements
  });

  it('needs opset 21 for int4 or groups, 10 for int8 per tensor, 19 for 16-bit float weights', () => {
    expect(planOnnxCompression(model, { dtype: 'qint4' }).requiredOpset).toBe(21);
    expect(planOnnxCompression(model, { granularity: 'group' }).requiredOpset).toBe(21);
    expect(planOnnxCompression(model, { granularity: 'tensor' }).requiredOpset).toBe(10);
    expect(requiredOpsetFor({ dtype: 'qint8', granularity: 'tensor' }, 'float16')).toBe(19);
    expect(requiredOpsetFor({ dtype: 'quint4', granularity: 'tensor' }, 'bfloat16')).toBe(21);
  });
});
