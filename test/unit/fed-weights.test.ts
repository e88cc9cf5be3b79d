// The output-error probe's fed weights: the main graph's float weights as graph inputs, replaced by a feed.
// Each probe is checked against the model re-encoded with the weight replaced and run in onnxruntime-node
// (what the probe did for every weight before), on weights held as initializers, as Constant nodes, as float16,
// listed as graph inputs already (IR 3), at unaligned offsets of a Node Buffer, and in an If branch (not fed).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { floatToHalfBits } from '../../src/io/half.js';
import { isPlaceholder } from '../../src/io/onnx/deferred-raw-data.js';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';
import { nodeFileSource } from '../../src/io/safetensors/node-file-source.js';
import { fedArray, fedWeights } from '../../src/verify/fed-weights.js';
import { outputErrorProbe } from '../../src/verify/output-error-probe.js';
import type { OnnxRuntimeLike, Sample } from '../../src/verify/runtime.js';
import { withExternalData } from '../shared/external-data.js';
import { RUN_SEED, rng } from './support.js';

const { onnx } = onnxProto;
const runtime = ort as unknown as OnnxRuntimeLike;

type Variant = { constant?: boolean; float16?: boolean; irInputs?: boolean; branch?: boolean };

/**
 * x [1, 16] → MatMul W1 [16, 24] → Relu → MatMul W2 [24, 8] → Add b → y. Variants: W1 a Constant node; W2 stored as
 * float16 (a Cast to float before its MatMul); W1 and W2 also listed as graph inputs (IR 3); W2 inside an If branch.
 */
function model(w1: Float32Array, w2: Float32Array, variant: Variant = {}): Uint8Array {
  const raw = (data: Float32Array, half: boolean) => (half ? new Uint8Array(Uint16Array.from(data, floatToHalfBits).buffer) : new Uint8Array(Float32Array.from(data).buffer));
  const tensor = (name: string, dims: number[], data: Float32Array, half = false) => ({ name, dims, dataType: half ? 10 : 1, rawData: raw(data, half) });
  const info = (name: string, dims: number[], elemType = 1) => ({ name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
  const half = variant.float16 === true;
  const second = [
    ...(half ? [{ opType: 'Cast', input: ['W2'], output: ['W2f'], attribute: [{ name: 'to', type: 2, i: 1 }] }] : []),
    { opType: 'MatMul', input: ['r', half ? 'W2f' : 'W2'], output: ['z'] },
  ];
  const w2Tensor = tensor('W2', [24, 8], w2, half);
  const branch = { name: 'then', node: [...second, { opType: 'Identity', input: ['z'], output: ['zt'] }], initializer: [w2Tensor], output: [info('zt', [1, 8])] };
  const node = [
    ...(variant.constant ? [{ opType: 'Constant', output: ['W1'], attribute: [{ name: 'value', type: 4, t: tensor('', [16, 24], w1) }] }] : []),
    { opType: 'MatMul', input: ['x', 'W1'], output: ['h'] }, { opType: 'Relu', input: ['h'], output: ['r'] },
    ...(variant.branch
      ? [{ opType: 'If', input: ['cond'], output: ['z'], attribute: [{ name: 'then_branch', type: 5, g: branch }, { name: 'else_branch', type: 5, g: branch }] }]
      : second),
    { opType: 'Add', input: ['z', 'b'], output: ['y'] },
  ];
  const initializer = [
    ...(variant.constant ? [] : [tensor('W1', [16, 24], w1)]), ...(variant.branch ? [] : [w2Tensor]), tensor('b', [8], new Float32Array(8).fill(0.25)),
  ];
  const input = [info('x', [1, 16]), ...(variant.branch ? [info('cond', [], 9)] : []),
    ...(variant.irInputs ? [info('W1', [16, 24]), info('W2', [24, 8], half ? 10 : 1)] : [])];
  const graph = { name: 'fed', node, initializer, input, output: [info('y', [1, 8])] };
  return onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: variant.irInputs ? 3 : 8, opsetImport: [{ domain: '', version: 13 }], graph })).finish();
}

/** The probe's measure done the slow way: the model built with the weight replaced, against the original, in onnxruntime. */
async function expectedError(original: Uint8Array, replaced: Uint8Array, samples: Sample[]): Promise<number> {
  const run = async (bytes: Uint8Array) => {
    const session = await ort.InferenceSession.create(bytes);
    try {
      const out = [];
      for (const s of samples) out.push((await session.run(Object.fromEntries(Object.entries(s).map(([k, t]) => [k, new ort.Tensor(t.dtype as 'float32', t.data as Float32Array, t.dims)])))).y!.data as Float32Array);
      return out;
    } finally { await session.release(); }
  };
  const [a, b] = [await run(original), await run(replaced)];
  let total = 0;
  a.forEach((ref, k) => {
    let [diff, energy] = [0, 0];
    ref.forEach((r, i) => { diff += (b[k]![i]! - r) ** 2; energy += r * r; });
    total += diff / energy;
  });
  return total / a.length;
}

/** Models at least this long hold W1's bytes (1536; W2's are 768 or 384): a fed model is shorter. */
const whole = (original: Uint8Array): number => original.byteLength - 768;

/** A runtime that records the size of each model it is given. */
function recording(): { runtime: OnnxRuntimeLike; sizes: number[] } {
  const sizes: number[] = [];
  const create = (model: Uint8Array | string, options?: object) => { sizes.push(typeof model === 'string' ? -1 : model.byteLength); return ort.InferenceSession.create(model as Uint8Array, options ?? {}); };
  return { runtime: { Tensor: ort.Tensor, InferenceSession: { create } } as unknown as OnnxRuntimeLike, sizes };
}

describe('the output-error probe with its weights fed', () => {
  const next = rng(RUN_SEED);
  const w1 = Float32Array.from({ length: 16 * 24 }, () => next() - 0.5);
  const w2 = Float32Array.from({ length: 24 * 8 }, () => next() - 0.5);
  const noisy = (w: Float32Array, step: number) => w.map((v, i) => v + (i % 3 === 0 ? step * (next() - 0.5) : 0));
  const samples = (variant: Variant): Sample[] => [1, 2, 3].map(() => ({
    x: { dtype: 'float32', dims: [1, 16], data: Float32Array.from({ length: 16 }, () => 2 * (next() - 0.5)) },
    ...(variant.branch ? { cond: { dtype: 'bool', dims: [], data: Uint8Array.of(1) } } : {}),
  }));

  const variants: [string, Variant][] = [
    ['initializers', {}], ['W1 a Constant node', { constant: true }], ['W2 float16', { float16: true }],
    ['weights listed as graph inputs (IR 3)', { irInputs: true }],
  ];
  for (const [what, variant] of variants) {
    it(`${what}: each weight fed, the error the re-encoded model gives; sessions from the graph alone`, async () => {
      const original = model(w1, w2, variant);
      const inputs = samples(variant);
      const { runtime: counted, sizes } = recording();
      const probe = await outputErrorProbe(original, { runtime: counted, inputs });
      const [v1, v2] = [noisy(w1, 0.2), noisy(w2, 0.05)];
      // (float16 W2: the probe and the model built here round the values the same way.)
      for (const [name, values, replaced] of [['W1', v1, model(v1, w2, variant)], ['W2', v2, model(w1, v2, variant)]] as const) {
        const error = await probe(name, values);
        const expected = await expectedError(original, replaced, inputs);
        expect(expected).toBeGreaterThan(1e-6);
        expect(Math.abs(error - expected)).toBeLessThanOrEqual(1e-4 * expected);
      }
      expect(await probe('W1', w1)).toBe(0);
      // Values that are a view into a larger array (the budget's memory used again) are read from their offset.
      const larger = new Float32Array(v2.length + 7).fill(100);
      larger.set(v2, 5);
      expect(await probe('W2', larger.subarray(5, 5 + v2.length))).toBe(await probe('W2', v2));
      // The fed model's reference and each probe's session from the graph alone; the model as given once (a small
      // model's fed outputs are checked against it).
      expect(sizes.map((s) => s >= whole(original))).toEqual([false, true, false, false, false, false, false]);
    });
  }

  it('weights at unaligned offsets of a Node Buffer (a file read): copied to be fed, the same errors', async () => {
    const original = model(w1, w2);
    const holder = Buffer.alloc(original.byteLength + 1);
    holder.set(original, 1);
    const shifted = holder.subarray(1);
    const decoded = OnnxModel.decode(shifted);
    const offsets = await Promise.all(['W1', 'W2'].map(async (name) => (await decoded.read(name)).byteOffset % 4));
    expect(offsets.some((o) => o !== 0)).toBe(true);
    const inputs = samples({});
    const { runtime: counted, sizes } = recording();
    const [direct, fromBuffer] = [await outputErrorProbe(original, { runtime, inputs }), await outputErrorProbe(shifted, { runtime: counted, inputs })];
    const v2 = noisy(w2, 0.05);
    expect(await fromBuffer('W2', v2)).toBe(await direct('W2', v2));
    expect(sizes.map((s) => s >= whole(original))).toEqual([false, true, false]);
    const view = fedArray(shifted.subarray(3, 11), 'float32');
    expect(view.byteOffset % 4).toBe(0);
    expect(Array.from(new Uint8Array(view.buffer, view.byteOffset, 8))).toEqual(Array.from(shifted.subarray(3, 11)));
  });

  it('a weight in an If branch is not fed: the model is re-encoded for it, and the main graph weight is fed', async () => {
    const variant = { branch: true };
    const original = model(w1, w2, variant);
    const decoded = OnnxModel.decode(original);
    const fed = await fedWeights(decoded, runtime);
    expect([...fed!.inputOf.keys()]).toEqual(['W1']);
    // The then branch's W2 (the samples take it; the model built below replaces both branches').
    const thenW2 = decoded.list().find((w) => w.tensorName === 'W2' && w.graph.endsWith('then_branch'))!.name;
    const inputs = samples(variant);
    const { runtime: counted, sizes } = recording();
    const probe = await outputErrorProbe(original, { runtime: counted, inputs });
    const v2 = noisy(w2, 0.05);
    const expected = await expectedError(original, model(w1, v2, variant), inputs);
    expect(Math.abs(await probe(thenW2, v2) - expected)).toBeLessThanOrEqual(1e-4 * expected);
    const v1 = noisy(w1, 0.2);
    const expected1 = await expectedError(original, model(v1, w2, variant), inputs);
    expect(Math.abs(await probe('W1', v1) - expected1)).toBeLessThanOrEqual(1e-4 * expected1);
    // The fed model's reference, the original's (the check, and W2's reference), W2's model whole, then W1 fed.
    expect(sizes.map((s) => s >= whole(original))).toEqual([false, true, true, false]);
  });

  it('a model with its weights and bias in external data: weights fed and the bias read into the model through the resolver, the inline model\'s errors; refused without one', async () => {
    const inline = model(w1, w2);
    // The bias too: not fed (rank 1), read into the fed model.
    const { model: bytes, data } = withExternalData(inline, ['W1', 'W2', 'b']);
    expect(OnnxModel.decode(bytes).list().filter((w) => w.external).length).toBe(3);
    const inputs = samples({});
    const asked: string[] = [];
    const externalData = (location: string) => { asked.push(location); return location === 'w.bin' ? data : undefined; };
    const { runtime: counted, sizes } = recording();
    const [fromFiles, fromInline] = [await outputErrorProbe(bytes, { runtime: counted, inputs, externalData }), await outputErrorProbe(inline, { runtime, inputs })];
    const [v1, v2] = [noisy(w1, 0.2), noisy(w2, 0.05)];
    expect(await fromFiles('W2', v2)).toBe(await fromInline('W2', v2));
    expect(await fromFiles('W1', v1)).toBe(await fromInline('W1', v1));
    expect(await fromFiles('W1', v1)).toBeGreaterThan(1e-6);
    expect(new Set(asked)).toEqual(new Set(['w.bin']));
    expect(sizes.length).toBe(4);
    await expect(outputErrorProbe(bytes, { runtime, inputs })).rejects.toThrow(/in external data.*pass externalData/);
    await expect(outputErrorProbe(bytes, { runtime, inputs, externalData: 'w.bin' as never })).rejects.toThrow(/externalData must be a function/);
    // W2 in an If branch, in external data: it cannot be fed, and the model cannot run from memory without it.
    const branched = withExternalData(model(w1, w2, { branch: true }), ['W1', 'W2']);
    const files = (location: string) => (location === 'w.bin' ? branched.data : undefined);
    await expect(outputErrorProbe(branched.model, { runtime, inputs: samples({ branch: true }), externalData: files })).rejects.toThrow(/cannot be fed/);
  });

  it('an OnnxModel opened from its file (tensors left there): weights read from the file and fed, the bias read into the fed model, a branch weight re-encoded; the errors of the bytes', async () => {
    const variant = { branch: true };
    const bytes = model(w1, w2, variant);
    const folder = mkdtempSync(join(tmpdir(), 'wq-fed-'));
    try {
      writeFileSync(join(folder, 'm.onnx'), bytes);
      const source = await nodeFileSource(join(folder, 'm.onnx'));
      try {
        // Every main-graph tensor of 16 bytes or more stays in the file: W1 and the bias b (32 bytes).
        const deferred = await OnnxModel.loadDeferred(source, { minDeferredBytes: 16 });
        expect(deferred.list().filter((w) => w.graph === 'graph').map((w) => isPlaceholder(deferred.entry(w.name).indexed.tensor.rawData))).toEqual([true, true]);
        const inputs = samples(variant);
        const { runtime: counted, sizes } = recording();
        const [fromFile, fromBytes] = [await outputErrorProbe(deferred, { runtime: counted, inputs }), await outputErrorProbe(bytes, { runtime, inputs })];
        const thenW2 = deferred.list().find((w) => w.tensorName === 'W2' && w.graph.endsWith('then_branch'))!.name;
        const [v1, v2] = [noisy(w1, 0.2), noisy(w2, 0.05)];
        expect(await fromFile('W1', v1)).toBe(await fromBytes('W1', v1));
        expect(await fromFile(thenW2, v2)).toBe(await fromBytes(thenW2, v2));
        expect(await fromFile('W1', v1)).toBeGreaterThan(1e-6);
        expect(sizes.map((s) => s >= whole(bytes))).toEqual([false, true, false, true, false]); // fed, the original (the check), W1 fed, W2's model, W1 fed
      } finally {
        await source.close();
      }
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
    await expect(outputErrorProbe('m.onnx' as never, { runtime, inputs: samples({}) })).rejects.toThrow(/original must be the model's bytes/);
  });

  it('a fed model whose outputs differ from the model\'s beyond rounding (a small model is checked): every weight re-encoded, the model\'s errors', async () => {
    const original = model(w1, w2);
    const inputs = samples({});
    const runtimeSkewing = (skew: (v: number) => number, sizes: number[]) => ({ Tensor: ort.Tensor, InferenceSession: { create: async (bytes: Uint8Array, options?: object) => {
      sizes.push(bytes.byteLength);
      const session = await ort.InferenceSession.create(bytes, options ?? {});
      if (bytes.byteLength >= whole(original)) return session;
      return { inputNames: session.inputNames, outputNames: session.outputNames, release: () => session.release(),
        run: async (feeds: Record<string, ort.Tensor>) => {
          const out = await session.run(feeds);
          const y = out.y!;
          return { y: new ort.Tensor('float32', Float32Array.from(y.data as Float32Array, skew), y.dims) };
        } };
    } } }) as unknown as OnnxRuntimeLike;
    // 1 % off: a different model, not rounding.
    const sizes: number[] = [];
    const probe = await outputErrorProbe(original, { runtime: runtimeSkewing((v) => v * 1.01, sizes), inputs });
    const v2 = noisy(w2, 0.05);
    const expected = await expectedError(original, model(w1, v2), inputs);
    expect(Math.abs(await probe('W2', v2) - expected)).toBeLessThanOrEqual(1e-4 * expected);
    expect(await probe('W1', w1)).toBe(0);
    expect(sizes.map((s) => s >= whole(original))).toEqual([false, true, true, true]);
    // 1e-8 off (rounding; relatively large only where outputs are near 0, as a saturated sigmoid's): the fed model kept.
    const kept: number[] = [];
    const rounded = await outputErrorProbe(original, { runtime: runtimeSkewing((v) => v + 1e-8, kept), inputs });
    expect(await rounded('W2', v2)).toBeGreaterThan(0);
    expect(kept.map((s) => s >= whole(original))).toEqual([false, true, false]);
  });

  it('a runtime that refuses the fed model: every weight re-encoded, the same errors', async () => {
    const original = model(w1, w2);
    const inputs = samples({});
    const sizes: number[] = [];
    const refusing = { Tensor: ort.Tensor, InferenceSession: { create: (bytes: Uint8Array, options?: object) => {
      sizes.push(bytes.byteLength);
      if (bytes.byteLength < whole(original)) return Promise.reject(new Error('weights must be initializers'));
      return ort.InferenceSession.create(bytes, options ?? {});
    } } } as unknown as OnnxRuntimeLike;
    const probe = await outputErrorProbe(original, { runtime: refusing, inputs });
    const v2 = noisy(w2, 0.05);
    const expected = await expectedError(original, model(w1, v2), inputs);
    expect(Math.abs(await probe('W2', v2) - expected)).toBeLessThanOrEqual(1e-4 * expected);
    expect(sizes.filter((s) => s >= whole(original)).length).toBe(2);
    // Inputs that fit neither model are refused as before.
    await expect(outputErrorProbe(original, { runtime, inputs: [{ x: { dtype: 'float32', dims: [1, 15], data: new Float32Array(15) } }] })).rejects.toThrow(InvalidArgumentError);
  });
});
