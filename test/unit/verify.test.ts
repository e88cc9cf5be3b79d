// End-task verification (src/verify) in onnxruntime-node on the bundled default model (Silero VAD): the
// output metrics on fresh random data against direct formulas, the declared signature, generated inputs,
// the user's inputs in .json / .npy / .safetensors, the pass criterion on good, damaged and unloadable
// models, and the errors for models whose inputs or outputs differ.
import { readFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { compressOnnx } from '../../src/compress/compress-onnx.js';
import { defaultModelPath } from '../../src/cli/default-model.js';
import { FormatError, InvalidArgumentError } from '../../src/index.js';
import { serializeSafetensors } from '../../src/models.js';
import {
  DEFAULT_DYNAMIC_SIZE, OutputAccumulator, type Sample, generateSamples, parseInputSamples, parseNpy, readModelSignature,
  signatureDifferences, verifyModels,
} from '../../src/models.js';
import { editWeights } from '../models/model-edit.js';
import { OCR_REC_PATH } from '../models/ocr-harness.js';
import { float32Npy } from '../models/npy-file.js';
import { buildMlp } from '../shared/mlp-onnx.js';
import { RUN_SEED, rng } from '../shared/random.js';

const vad = readFileSync(defaultModelPath());
const signature = readModelSignature(vad, 'vad.onnx');

/** A valid VAD sample: 512 samples of a tone, 16 kHz, zero state. */
function vadSample(frequency = 440): Sample {
  return {
    input: { dtype: 'float32', dims: [1, 512], data: Float32Array.from({ length: 512 }, (_, i) => 0.3 * Math.sin(2 * Math.PI * frequency * i / 16000)) },
    sr: { dtype: 'int64', dims: [], data: BigInt64Array.of(16000n) },
    h: { dtype: 'float32', dims: [2, 1, 64], data: new Float32Array(128) },
    c: { dtype: 'float32', dims: [2, 1, 64], data: new Float32Array(128) },
  };
}

describe('OutputAccumulator', () => {
  const next = rng(RUN_SEED);
  const random = (n: number) => Float32Array.from({ length: n }, () => 2 * next() - 1);

  it(`matches the direct formulas on fresh random data (seed ${RUN_SEED})`, () => {
    const a = random(600);
    const b = a.map((x) => x + 0.1 * (next() - 0.5));
    // Row 0's argmax moves in b whatever the noise did (values are within ±1.05), so a disagreement is always counted.
    const top = a.subarray(0, 10).reduce((best, x, i, arr) => (x > arr[best]! ? i : best), 0);
    b[(top + 1) % 10] = 2;
    const acc = new OutputAccumulator('y');
    acc.add(a.subarray(0, 300), b.subarray(0, 300), [30, 10]);
    acc.add(a.subarray(300), b.subarray(300), [30, 10]);
    let dot = 0; let na = 0; let nb = 0; let nd = 0; let max = 0; let agree = 0;
    a.forEach((x, i) => { dot += x * b[i]!; na += x * x; nb += b[i]! ** 2; nd += (b[i]! - x) ** 2; max = Math.max(max, Math.abs(b[i]! - x)); });
    for (let r = 0; r < 60; r++) {
      const row = (v: Float32Array) => v.subarray(10 * r, 10 * r + 10).reduce((best, x, i, arr) => (x > arr[best]! ? i : best), 0);
      if (row(a) === row(b)) agree++;
    }
    const result = acc.result();
    expect(result.elements).toBe(600);
    expect(result.dims).toEqual([30, 10]);
    expect(result.maxAbsDiff).toBe(max);
    expect(result.cosine).toBeCloseTo(dot / Math.sqrt(na * nb), 12);
    expect(result.relativeError).toBeCloseTo(Math.sqrt(nd / na), 12);
    expect(result.argmaxRows).toBe(60);
    expect(result.argmaxAgreement).toBe(agree / 60);
    expect(result.argmaxAgreement).toBeLessThan(1); // row 0 (and whichever rows the noise flips): the count is exercised
  });

  it('edge cases: identical, negated, scaled, zero, one-entry rows, non-finite values, bigint data', () => {
    const a = random(64);
    const same = new OutputAccumulator('same');
    same.add(a, a, [64]);
    expect(same.result()).toMatchObject({ maxAbsDiff: 0, relativeError: 0, argmaxAgreement: 1, nonFiniteMismatches: 0 });
    // Equal outputs: cosine exactly 1, also where dot / (√n · √n) rounds below it (0.1, 0.7, 0.3: 0.9999999999999998).
    for (const values of [a, Float64Array.of(0.1, 0.7, 0.3)]) {
      const equal = new OutputAccumulator('equal');
      equal.add(values, values.slice(), [values.length]);
      expect(equal.result().cosine).toBe(1);
    }
    const negated = new OutputAccumulator('neg');
    negated.add(a, a.map((x) => -x), [64, 1]);
    expect(negated.result().cosine).toBeCloseTo(-1, 12);
    expect(negated.result().argmaxAgreement).toBeUndefined(); // rows of one entry have no argmax to compare
    const doubled = new OutputAccumulator('x2');
    doubled.add(a, a.map((x) => 2 * x), [64]);
    expect(doubled.result().cosine).toBeCloseTo(1, 12);
    expect(doubled.result().relativeError).toBeCloseTo(1, 6);
    const zeros = new OutputAccumulator('zeros');
    zeros.add(new Float32Array(4), new Float32Array(4), [4]);
    expect(zeros.result()).toMatchObject({ cosine: 1, relativeError: 0 });
    const oneZero = new OutputAccumulator('one zero');
    oneZero.add(new Float32Array(4), Float32Array.of(0, 1, 0, 0), [4]);
    expect(oneZero.result()).toMatchObject({ cosine: 0, relativeError: Infinity });
    const nonFinite = new OutputAccumulator('nan');
    nonFinite.add(Float32Array.of(1, NaN, -Infinity, 2), Float32Array.of(1, NaN, -Infinity, NaN), [4]);
    expect(nonFinite.result().nonFiniteMismatches).toBe(1);
    const ints = new OutputAccumulator('int64');
    ints.add(BigInt64Array.of(1n, 5n, 2n), BigInt64Array.of(1n, 4n, 2n), [3]);
    expect(ints.result()).toMatchObject({ maxAbsDiff: 1, argmaxAgreement: 1 });
    expect(() => ints.add(Float32Array.of(1), Float32Array.of(1, 2), [1])).toThrow(/1 values in the original, 2 in the compressed/);
  });
});

describe('model signature and generated inputs', () => {
  it('reads the declared inputs and outputs, initializers excluded', () => {
    expect(signature.inputs).toEqual([
      { name: 'input', dtype: 'float32', dims: ['batch', 'sequence'] },
      { name: 'sr', dtype: 'int64', dims: [] },
      { name: 'h', dtype: 'float32', dims: [2, 'batch', 64] },
      { name: 'c', dtype: 'float32', dims: [2, 'batch', 64] },
    ]);
    expect(signature.outputs.map((o) => o.name)).toEqual(['output', 'hn', 'cn']);
  });

  it('names every input and output that differs', () => {
    expect(signatureDifferences(signature, signature)).toEqual([]);
    const other = structuredClone(signature);
    other.inputs[1]!.dtype = 'int32';
    other.inputs[2]!.dims = [3, 'b', 64];
    other.outputs.pop();
    other.outputs.push({ name: 'extra', dtype: 'float32', dims: [1] });
    expect(signatureDifferences(signature, other, ['a.onnx', 'b.onnx'])).toEqual([
      "input 'sr' is int64 [] in a.onnx but int32 [] in b.onnx",
      "input 'h' is float32 [2, batch, 64] in a.onnx but float32 [3, b, 64] in b.onnx",
      "output 'cn' is in a.onnx but not in b.onnx",
      "output 'extra' is in b.onnx but not in a.onnx",
    ]);
  });

  it('generates seeded samples: batch 1, other dynamic sizes 256 or as given, floats in [-1, 1], integers 0..9', () => {
    const [first, second] = generateSamples(signature, { seeds: [5, 6] });
    expect(first!.input!.dims).toEqual([1, DEFAULT_DYNAMIC_SIZE]);
    expect(first!.h!.dims).toEqual([2, 1, 64]); // 'batch' leads 'input', so it is 1 everywhere
    expect(first!.sr).toMatchObject({ dtype: 'int64', dims: [] });
    const values = [...(first!.input!.data as Float32Array)];
    expect(Math.min(...values)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...values)).toBeLessThanOrEqual(1);
    expect(Math.max(...values) - Math.min(...values)).toBeGreaterThan(1.9);
    expect(Number((first!.sr!.data as BigInt64Array)[0])).toBeGreaterThanOrEqual(0);
    expect(Number((first!.sr!.data as BigInt64Array)[0])).toBeLessThan(10);
    expect(generateSamples(signature, { seeds: [5] })[0]).toEqual(first); // the same seed, the same sample
    expect(second!.input!.data).not.toEqual(first!.input!.data);
    expect(generateSamples(signature, { dims: { sequence: 512 } })[0]!.input!.dims).toEqual([1, 512]);
    expect(generateSamples(signature, { dims: { 'input:1': 300, batch: 2 } })[0]!.h!.dims).toEqual([2, 2, 64]);
    expect(() => generateSamples(signature, { seeds: [] })).toThrow(InvalidArgumentError);
    expect(() => generateSamples(signature, { dims: { sequence: 0 } })).toThrow(/dims.sequence = 0: use an integer >= 1/);
  });
});

describe('the user\'s inputs', () => {
  it('.npy: float32 round trip; other dtypes; damaged files refused', () => {
    const data = Float32Array.from({ length: 6 }, (_, i) => i - 2.5);
    expect(parseNpy(float32Npy(data, [2, 3]), 'x.npy')).toEqual({ dtype: 'float32', dims: [2, 3], data });
    const header = (descr: string, shape: string, fortran = 'False') => {
      let h = `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }`;
      h += ' '.repeat(63 - ((10 + h.length) % 64)) + '\n';
      const bytes = new Uint8Array(10 + h.length);
      bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
      new DataView(bytes.buffer).setUint16(8, h.length, true);
      bytes.set(new TextEncoder().encode(h), 10);
      return bytes;
    };
    const withData = (head: Uint8Array, body: ArrayBufferView) => {
      const out = new Uint8Array(head.length + body.byteLength);
      out.set(head);
      out.set(new Uint8Array(body.buffer, body.byteOffset, body.byteLength), head.length);
      return out;
    };
    expect(parseNpy(withData(header('<i8', '()'), BigInt64Array.of(16000n)), 'sr.npy')).toEqual({ dtype: 'int64', dims: [], data: BigInt64Array.of(16000n) });
    expect(parseNpy(withData(header('|b1', '(3,)'), Uint8Array.of(1, 0, 1)), 'm.npy').dtype).toBe('bool');
    expect(() => parseNpy(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 'bad.npy')).toThrow(/bad\.npy: not an \.npy file/);
    expect(() => parseNpy(withData(header('>f4', '(1,)'), new Float32Array(1)), 'be.npy')).toThrow(/big-endian/);
    expect(() => parseNpy(withData(header('<f4', '(2, 2)', 'True'), new Float32Array(4)), 'f.npy')).toThrow(/Fortran-order/);
    expect(() => parseNpy(withData(header('<f4', '(2, 2)'), new Float32Array(3)), 'short.npy')).toThrow(/needs 16 data bytes, the file has 12/);
    expect(() => parseNpy(withData(header('<c8', '(1,)'), new Float32Array(2)), 'c.npy')).toThrow(FormatError);
  });

  it('.json: objects, nested arrays, lists of samples; each problem named', async () => {
    const sample = { input: { dims: [1, 512], data: new Array(512).fill(0.1) }, sr: 16000, h: { dims: [2, 1, 64], data: new Array(128).fill(0) }, c: new Array(2).fill([new Array(64).fill(0)]) };
    const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
    const [one] = await parseInputSamples(json(sample), 'in.json', signature);
    expect(one!.sr).toEqual({ dtype: 'int64', dims: [], data: BigInt64Array.of(16000n) });
    expect(one!.c!.dims).toEqual([2, 1, 64]);
    expect(await parseInputSamples(json([sample, sample]), 'in.json', signature)).toHaveLength(2);
    await expect(parseInputSamples(json({ ...sample, sr: undefined }), 'in.json', signature)).rejects.toThrow(/in\.json: input 'sr' \(int64 \[\]\) is missing/);
    await expect(parseInputSamples(json({ ...sample, x: 1 }), 'in.json', signature)).rejects.toThrow(/'x' is not an input of the model \(its inputs: input, sr, h, c\)/);
    await expect(parseInputSamples(json({ ...sample, h: { dims: [3, 1, 64], data: new Array(192).fill(0) } }), 'in.json', signature))
      .rejects.toThrow(/input 'h' is float32 \[3, 1, 64\], the model takes float32 \[2, batch, 64\]/);
    await expect(parseInputSamples(json({ ...sample, sr: { dims: [2], data: [1] } }), 'in.json', signature)).rejects.toThrow(/1 values for dims \[2\]/);
    await expect(parseInputSamples(json({ ...sample, sr: { dtype: 'float32', dims: [], data: 1 } }), 'in.json', signature)).rejects.toThrow(/dtype float32, but the model takes int64/);
    await expect(parseInputSamples(new TextEncoder().encode('{'), 'in.json', signature)).rejects.toThrow(/in\.json: not valid JSON/);
    await expect(parseInputSamples(new Uint8Array(1), 'in.txt', signature)).rejects.toThrow(/use a \.json, \.npy or \.safetensors file/);
    await expect(parseInputSamples(float32Npy(new Float32Array(512), [1, 512]), 'x.npy', signature)).rejects.toThrow(/an \.npy file holds one array, but the model has 4 inputs/);
  });

  it('.safetensors: one tensor per input', async () => {
    const s = vadSample();
    const bytes = await serializeSafetensors([
      { name: 'input', dtype: 'F32', shape: [1, 512], data: s.input!.data },
      { name: 'sr', dtype: 'I64', shape: [], data: s.sr!.data },
      { name: 'h', dtype: 'F32', shape: [2, 1, 64], data: s.h!.data },
      { name: 'c', dtype: 'F32', shape: [2, 1, 64], data: s.c!.data },
    ]);
    const [sample] = await parseInputSamples(bytes, 'in.safetensors', signature);
    expect(sample).toEqual(s);
  });
});

describe('verifyModels in onnxruntime-node', () => {
  let int8: Uint8Array;
  beforeAll(async () => {
    int8 = (await compressOnnx(vad, {}, { backend: 'cpu' })).model;
  });

  it('the original against itself: every difference 0, passed', async () => {
    const report = await verifyModels(vad, vad, { runtime: ort });
    expect(report).toMatchObject({ inputs: 'generated', samples: 3, passed: true, failures: [], minCosine: 0.99 });
    expect(report.inputDims).toEqual({ input: [1, 256], sr: [], h: [2, 1, 64], c: [2, 1, 64] });
    for (const o of report.outputs) expect(o).toMatchObject({ maxAbsDiff: 0, relativeError: 0, nonFiniteMismatches: 0 });
  });

  it('int8 per channel passes on generated and on given inputs; a stricter bound fails it', async () => {
    const generated = await verifyModels(vad, int8, { runtime: ort, seeds: [1, 2, 3, 4] });
    expect(generated.passed, generated.failures.join('; ')).toBe(true);
    expect(generated.samples).toBe(4);
    for (const o of generated.outputs) {
      expect(o.maxAbsDiff).toBeGreaterThan(0); // the weights did change
      expect(o.cosine).toBeGreaterThan(0.999);
    }
    const given = await verifyModels(vad, int8, { runtime: ort, inputs: generateSamples(signature, { seeds: [7, 8] }) });
    expect(given).toMatchObject({ inputs: 'given', samples: 2, passed: true });
    const strict = await verifyModels(vad, int8, { runtime: ort, minCosine: 1 });
    expect(strict.passed).toBe(false);
    expect(strict.failures[0]).toMatch(/^output 'output': cosine 0\.\d+ < 1$/);
  });

  it('a damaged model fails: the first pointwise convolution x 3', async () => {
    const damaged = editWeights(vad, /^model\.first_layer\.0\.pw_conv\.0\.weight$/, (w) => w.map((v) => 3 * v));
    const report = await verifyModels(vad, damaged, { runtime: ort, inputs: [vadSample(200), vadSample(500), vadSample(1000)] });
    expect(report.passed).toBe(false);
    expect(report.failures.some((f) => /^output '(output|hn|cn)': cosine/.test(f))).toBe(true);
  });

  it('a compressed model onnxruntime cannot load fails verification (not an exception)', async () => {
    const proto = onnxProto.onnx.ModelProto.decode(int8);
    proto.graph!.node!.find((n) => n.opType === 'Equal')!.opType = 'NoSuchOperator';
    const report = await verifyModels(vad, onnxProto.onnx.ModelProto.encode(proto).finish(), { runtime: ort, names: ['vad.onnx', 'broken.onnx'] });
    expect(report.passed).toBe(false);
    expect(report.failures[0]).toMatch(/^broken\.onnx does not run in onnxruntime: .*NoSuchOperator/);
  });

  it('refuses models with different inputs or outputs, naming them; inputs the original cannot run; no runtime', async () => {
    const rec = readFileSync(OCR_REC_PATH);
    const mismatch = verifyModels(vad, rec, { runtime: ort, names: ['vad.onnx', 'rec.onnx'] });
    await expect(mismatch).rejects.toThrow(InvalidArgumentError);
    await expect(mismatch).rejects.toThrow(/vad\.onnx and rec\.onnx do not have the same inputs and outputs: input 'input' is in vad\.onnx but not in rec\.onnx;.*input 'x' is in rec\.onnx but not in vad\.onnx;.*output 'softmax_11\.tmp_0'/);
    // Silero's STFT padding needs more than 96 samples.
    await expect(verifyModels(vad, int8, { runtime: ort, dims: { sequence: 64 } }))
      .rejects.toThrow(/the original does not run on generated inputs \(input: float32 \[1, 64\], .*give inputs, or sizes for the dynamic dimensions/);
    await expect(verifyModels(vad, int8, { runtime: undefined as never })).rejects.toThrow(/runtime must be an onnxruntime module/);
    await expect(verifyModels(vad, int8, { runtime: ort, minCosine: 2 })).rejects.toThrow(/minCosine 2: use a number in \[-1, 1\]/);
  });
});

describe('the argmax criterion for class outputs', () => {
  // A one-layer classifier y = x W + b over 10 classes; a batch of 32 rows per sample, 3 samples.
  const { model } = buildMlp(onnxProto.onnx, [16, 10], RUN_SEED);
  const options = { runtime: ort, dims: { batch: 32 } };

  it(`a constant shift of every logit: cosine falls below 0.99, every argmax holds, so it passes by argmax (seed ${RUN_SEED})`, async () => {
    const shifted = editWeights(model, /^fc0\.bias$/, (b) => b.map((v) => v + 3));
    const report = await verifyModels(model, shifted, options);
    const [y] = report.outputs;
    expect(y!.cosine).toBeLessThan(0.99);
    expect(y).toMatchObject({ argmaxAgreement: 1, argmaxRows: 96 });
    expect(report).toMatchObject({ passed: true, passedBy: { y: 'argmax' }, minArgmaxAgreement: 0.95, failures: [] });
    // The criterion turned off, or too few rows to count (one row per sample): the cosine decides.
    const off = await verifyModels(model, shifted, { ...options, minArgmaxAgreement: 1 });
    expect(off.passed).toBe(false);
    expect(off.failures).toEqual([`output 'y': cosine ${y!.cosine.toFixed(5)} < 0.99`]);
    const fewRows = await verifyModels(model, shifted, { runtime: ort });
    expect(fewRows.outputs[0]!.argmaxRows).toBe(3);
    expect(fewRows.passed).toBe(false);
  });

  it('decisions that move fail, naming the agreement; the cosine alone still passes a close model', async () => {
    const favoured = editWeights(model, /^fc0\.bias$/, (b) => b.map((v, i) => (i === 0 ? v + 1.5 : v)));
    const report = await verifyModels(model, favoured, options);
    const [y] = report.outputs;
    expect(y!.argmaxAgreement).toBeLessThan(0.95);
    expect(y!.argmaxAgreement).toBeGreaterThan(0);
    expect(report.passed).toBe(false);
    expect(report.passedBy).toEqual({});
    expect(report.failures[0]).toMatch(/^output 'y': cosine 0\.\d{5} < 0\.99 and argmax agreement \d+\.\d\d % < 95 %$/);
    const close = editWeights(model, /^fc0\.weight$/, (w) => w.map((v) => v * 1.001));
    const good = await verifyModels(model, close, options);
    expect(good).toMatchObject({ passed: true, passedBy: { y: 'cosine' } });
    await expect(verifyModels(model, close, { ...options, minArgmaxAgreement: -0.5 })).rejects.toThrow(/minArgmaxAgreement -0\.5: use a fraction in \[0, 1\]/);
  });
});
