// The compression policy's quality pieces on fresh random weights: the integer range rules ('narrow'
// absmax/127, 'extreme' Q4_0, 'torch', custom), the quality floor and its escalation ladder with the report
// lines, numeric edges (weights near ±3.4e38, float64 weights below float32's range), and the
// DequantizeLinear → Mul form for models below opset 13, bit-equal in onnxruntime to a per-channel
// DequantizeLinear.
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { compressOnnx } from '../../src/compress/compress-onnx.js';
import { float64Loss } from '../../src/compress/float64-range.js';
import { type WeightDecision, checkPolicy, decideWeight, floorOf } from '../../src/compress/policy.js';
import { escalationOf, measureScheme, quantizeWithFloor } from '../../src/compress/quality-floor.js';
import { quantizeScanningOnDevice, quantizeWeight } from '../../src/compress/quantize-weight.js';
import { signedExtremeParams } from '../../src/compress/weight-range.js';
import { dequantize } from '../../src/ops/dequantize.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { reference } from '../../src/index.js';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';
import { readQdqWeights } from '../../src/io/onnx/qdq-read.js';
import { RUN_SEED } from '../shared/random.js';
import { expectBits, normalData, rng } from './support.js';

const { onnx } = onnxProto;
const cpu = { backend: 'cpu' } as const;
const conv = (shape: number[], settings = {}): WeightDecision =>
  decideWeight({ name: 'w', dtype: 'float32', shape, consumers: [{ opType: 'Conv', inputIndex: 1 }] }, settings);

console.log(`quality-floor seed ${RUN_SEED}`);

describe('integer ranges', () => {
  const next = rng(RUN_SEED);
  const data = normalData(64 * 72, next);
  const x = { data, shape: [64, 72] };

  it("int8 defaults to 'narrow': scale = absmax / 127 per channel, every integer in [-127, 127], each channel's extreme exact", async () => {
    const d = conv([64, 72]);
    expect([d.range, d.granularity, d.axis]).toEqual(['narrow', 'channel', 0]);
    const r = await quantizeWeight(x, d, {}, cpu);
    if (!r.ok) throw new Error(r.reason);
    const ints = r.q.intRepr() as Int8Array;
    for (let c = 0; c < 64; c++) {
      let amax = 0;
      let at = 0;
      for (let j = 0; j < 72; j++) if (Math.abs(data[c * 72 + j]!) > amax) { amax = Math.abs(data[c * 72 + j]!); at = j; }
      expect(r.scales[c]).toBe(Math.fround(amax / 127));
      expect(Math.abs(ints[c * 72 + at]!)).toBe(127); // PyTorch's absmax/127.5 would round 127.5 → 128 → clip to 127
    }
    expect(Math.min(...ints)).toBeGreaterThanOrEqual(-127);
  });

  it("'torch' keeps PyTorch's range (absmax / 127.5, [-128, 127]); quantMin / quantMax give any other", async () => {
    const torch = await quantizeWeight(x, conv([64, 72], { range: 'torch' }), {}, cpu);
    const custom = await quantizeWeight(x, conv([64, 72], { quantMin: -100, quantMax: 100 }), {}, cpu);
    if (!torch.ok || !custom.ok) throw new Error('not quantized');
    let amax = 0;
    for (let j = 0; j < 72; j++) amax = Math.max(amax, Math.abs(data[j]!));
    expect(torch.scales[0]).toBe(Math.fround(amax / 127.5));
    expect(custom.scales[0]).toBe(Math.fround(amax / 100));
    expect(() => checkPolicy({ quantMin: -5 })).toThrow(/quantMin and quantMax together/);
    expect(() => decideWeight({ name: 'w', dtype: 'float32', shape: [64, 72] }, { dtype: 'qint4', quantMin: -100, quantMax: 100 })).toThrow(InvalidArgumentError);
  });

  it("int4 defaults to 'extreme' (Q4_0): scale = |signed extreme| / 8, zero point 0 or -1, the extreme exact, all 16 levels used", async () => {
    const d = conv([64, 72], { dtype: 'qint4', granularity: 'group' });
    expect(d.range).toBe('extreme');
    const r = await quantizeWeight(x, d, {}, cpu);
    if (!r.ok) throw new Error(r.reason);
    const { scales, zeroPoints } = signedExtremeParams(data, [64, 72], { axis: 1, groupSize: 32 }, 'qint4');
    expect(r.scales).toEqual(scales);
    expect(Array.from(r.zeroPoints)).toEqual(Array.from(zeroPoints));
    expect(new Set(r.q.intRepr() as Int8Array).size).toBe(16);
    // Each group's signed extreme is reproduced exactly: (q - zp) * scale.
    const ints = r.q.intRepr() as Int8Array;
    for (let g = 0; g < 64 * 3; g++) {
      const row = Math.floor(g / 3);
      const start = (g % 3) * 32;
      let extreme = 0;
      let at = 0;
      for (let j = start; j < Math.min(start + 32, 72); j++) {
        const v = data[row * 72 + j]!;
        if (Math.abs(v) > Math.abs(extreme)) { extreme = v; at = row * 72 + j; }
      }
      expect(Math.fround((ints[at]! - zeroPoints[g]!) * scales[g]!)).toBe(Math.fround(extreme));
    }
    // Q4_0 beats absmax/7 and PyTorch's absmax/7.5 on these weights (as on the real models, docs/quality.md).
    const sqnr = async (range: 'narrow' | 'torch' | 'extreme') => {
      const m = await quantizeWeight(x, conv([64, 72], { dtype: 'qint4', granularity: 'group', range }), {}, cpu);
      return m.ok ? m.stats.overall.sqnrDb : NaN;
    };
    const [extreme, narrow, torch] = [await sqnr('extreme'), await sqnr('narrow'), await sqnr('torch')];
    expect(extreme).toBeGreaterThan(narrow + 0.3);
    expect(extreme).toBeGreaterThan(torch + 0.3);
  });

  it("int4 with calibrate 'lsq': range 'extreme' searched over scale and zero point, every group at least as good as Q4_0's", async () => {
    const d = conv([64, 72], { dtype: 'qint4', granularity: 'group', calibrate: 'lsq' });
    expect(d.range).toBe('extreme');
    expect(d.symmetric).toBe(true);
    expect(conv([64, 72], { dtype: 'qint4', granularity: 'group', calibrate: 'mse' }).range).toBe('narrow');
    const r = await quantizeWeight(x, d, {}, cpu);
    const q40 = await quantizeWeight(x, conv([64, 72], { dtype: 'qint4', granularity: 'group' }), {}, cpu);
    if (!r.ok || !q40.ok) throw new Error('not quantized');
    // Zero points beyond Q4_0's 0 / -1: the search moves them.
    expect(Array.from(r.zeroPoints).some((z) => z !== 0 && z !== -1)).toBe(true);
    const groupErrors = (w: typeof r) => {
      const y = reference.dequantize(w.q).data;
      const errors = new Float64Array(64 * 3);
      for (let k = 0; k < y.length; k++) errors[Math.floor(k / 72) * 3 + Math.floor((k % 72) / 32)]! += (data[k]! - y[k]!) ** 2;
      return errors;
    };
    const [after, before] = [groupErrors(r), groupErrors(q40)];
    after.forEach((e, g) => expect(e, `group ${g} (seed ${RUN_SEED})`).toBeLessThanOrEqual(before[g]! * (1 + 1e-5) + 1e-30));
    const sum = (a: Float64Array) => a.reduce((p, v) => p + v, 0);
    expect(sum(after), `seed ${RUN_SEED}`).toBeLessThan(0.9 * sum(before));
    // The same bits as chooseQParams' affine 'lsq' over the full int4 range.
    const direct = reference.chooseQParams({ data, shape: [64, 72] }, { dtype: 'qint4', granularity: { axis: 1, groupSize: 32 }, symmetric: false, method: 'lsq', signedExtreme: true });
    expect(r.scales).toEqual((direct as { scales: Float32Array }).scales);
    expect(Array.from(r.zeroPoints)).toEqual(Array.from((direct as { zeroPoints: Int32Array }).zeroPoints));
  });
});

describe('the quality floor', () => {
  /** 64 channels of unit scale, one element of channel 5 at 100: per tensor rounds most weights to 0, per channel does not. */
  function outlierChannel(seed: number): Float32Array {
    const data = normalData(64 * 72, rng(seed));
    data[5 * 72 + 7] = 100;
    return data;
  }

  it('escalates a per-tensor weight below the floor to per channel, and records the step', async () => {
    for (const seed of [RUN_SEED, RUN_SEED + 1, 7]) {
      const x = { data: outlierChannel(seed), shape: [64, 72] };
      const d = conv([64, 72], { granularity: 'tensor' });
      expect(floorOf(d)).toBe(25);
      const outcome = await quantizeWithFloor(x, d, {}, cpu);
      if (outcome.kind !== 'quantized') throw new Error('kept');
      expect(outcome.decision).toMatchObject({ granularity: 'channel', axis: 0 });
      expect(outcome.steps).toHaveLength(1);
      const [step] = outcome.steps;
      expect(step!.sqnrDb).toBeLessThan(25);
      expect(step!.text).toMatch(/^w: qint8 per tensor \d+\.\d dB < 25 dB floor → qint8 per channel \d+\.\d dB$/);
      // The outlier's channel dominates the error: 34.6 dB at the lowest over 400 seeds, far above the 25 dB floor.
      expect(outcome.result.stats.overall.sqnrDb).toBeGreaterThan(33);
    }
  });

  it('int4 groups → int8 per channel → kept float; -Infinity turns the floor off; maxRelError is a second floor', async () => {
    const x = { data: normalData(64 * 72, rng(RUN_SEED)), shape: [64, 72] };
    const int4 = conv([64, 72], { dtype: 'qint4', granularity: 'group', minSqnrDb: 30 });
    const outcome = await quantizeWithFloor(x, int4, {}, cpu);
    expect(outcome.kind).toBe('quantized');
    expect(outcome.steps.map((s) => [s.from, s.to])).toEqual([['qint4 per group of 32', 'qint8 per channel']]);
    const kept = await quantizeWithFloor(x, conv([64, 72], { minSqnrDb: 60 }), {}, cpu);
    expect(kept).toMatchObject({ kind: 'keep', reason: expect.stringMatching(/below the quality floor as qint8 per channel .* < 60 dB floor\); kept float/) });
    expect(escalationOf(conv([64, 72]), [64, 72])).toBeUndefined();
    const off = await quantizeWithFloor({ data: outlierChannel(3), shape: [64, 72] }, conv([64, 72], { granularity: 'tensor', minSqnrDb: -Infinity }), {}, cpu);
    expect(off.steps).toEqual([]);
    const rel = await measureScheme(x, conv([64, 72], { dtype: 'qint4', granularity: 'group', maxRelError: 0.01 }), {}, cpu);
    expect(rel.belowFloor).toMatch(/max relative error 0\.\d+ > 0\.01/);
  });

  it('compressOnnx reports escalations, keeps per channel within the floor, and a forced per tensor never leaves a weight below it', async () => {
    const data = outlierChannel(RUN_SEED);
    const bytes = onnx.ModelProto.encode({
      irVersion: 7, opsetImport: [{ domain: '', version: 13 }],
      graph: {
        name: 'g', input: [{ name: 'X' }], output: [{ name: 'Y' }],
        initializer: [{ name: 'W', dataType: 1, dims: [64, 72, 1, 1], rawData: new Uint8Array(data.buffer) }],
        node: [{ opType: 'Conv', input: ['X', 'W'], output: ['Y'] }],
      },
    }).finish();
    const { report } = await compressOnnx(bytes, { granularity: 'tensor' }, cpu);
    expect(report.tensors[0]).toMatchObject({ action: 'quantize', scheme: expect.stringMatching(/^qint8 per channel \(axis 0\)/) });
    expect(report.tensors[0]!.escalations![0]!.text).toMatch(/^W: qint8 per tensor/);
    expect(report.totals.tensorsEscalated).toBe(1);
  });
});

describe('numeric edges', () => {
  it('weights near ±3.4e38: never a NaN or Infinity; kept float with the reason', async () => {
    const data = normalData(64 * 32, rng(RUN_SEED)).map((v) => v * 1e37);
    data[3] = -3.4e38;
    data[4] = 3.3e38;
    for (const range of ['torch', 'narrow'] as const) {
      const d = conv([64, 32], { granularity: 'tensor', range });
      const outcome = await quantizeWithFloor({ data, shape: [64, 32] }, d, {}, cpu);
      expect(outcome, range).toMatchObject({ kind: 'keep', reason: expect.stringMatching(/overflows float32.*kept float/) });
    }
    // Q4_0's rule maps the extreme to -128 × (3.4e38 / 128) exactly: finite, so it may quantize, with finite statistics.
    const extreme = await quantizeWithFloor({ data, shape: [64, 32] }, conv([64, 32], { granularity: 'tensor', range: 'extreme', minSqnrDb: -Infinity }), {}, cpu);
    if (extreme.kind === 'quantized') expect(Number.isFinite(extreme.result.stats.overall.sqnrDb)).toBe(true);
  });

  it('NaN or ±Infinity anywhere: kept float, marked nonFinite, the reason naming the first such element; other keeps unmarked', async () => {
    const next = rng(RUN_SEED + 5);
    for (const bad of [NaN, Infinity, -Infinity]) {
      const data = normalData(48 * 40, next);
      const at = Math.floor(next() * data.length);
      data[at] = bad;
      data[data.length - 1] = NaN; // a later one is not the one named
      const d = conv([48, 40]);
      const outcome = await quantizeWithFloor({ data, shape: [48, 40] }, d, {}, cpu);
      expect(outcome).toEqual({ kind: 'keep', reason: `non-finite weight: element ${at} is ${bad}; kept float`, steps: [], nonFinite: true });
      // The device-side scan does not apply on the CPU: it leaves the weight to the host's scan.
      expect(await quantizeScanningOnDevice({ data, shape: [48, 40] }, d, {}, cpu)).toBeUndefined();
    }
    const below = await quantizeWithFloor({ data: normalData(48 * 40, next), shape: [48, 40] }, conv([48, 40], { minSqnrDb: 200 }), {}, cpu);
    expect(below.kind).toBe('keep');
    expect(below.kind === 'keep' && below.nonFinite).toBeUndefined();
  });

  it('float64 weights below or beyond float32 range are reported, ordinary float64 weights are not', () => {
    const tiny = Float64Array.from({ length: 100 }, (_, i) => (i - 50) * 1e-300);
    expect(float64Loss(new Uint8Array(tiny.buffer))).toMatch(/below float32's range: 99 of 99 nonzero elements .*smallest \|x\| 1\.00e-300/);
    expect(float64Loss(new Uint8Array(Float64Array.of(1, 1e39).buffer))).toMatch(/beyond float32's range: 1 of 2/);
    expect(float64Loss(new Uint8Array(Float64Array.of(0, 0.5, -3, 1e30).buffer))).toBeUndefined();
  });
});

describe('per channel below opset 13: DequantizeLinear (scale 1) → Mul', () => {
  const K = 48;
  const N = 40;
  const model = (w: Float32Array, opset: number) => onnx.ModelProto.encode({
    irVersion: 6, opsetImport: [{ domain: '', version: opset }],
    graph: {
      name: 'g', input: [{ name: 'X', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: K }, { dimValue: K }] } } } }],
      output: [{ name: 'Y', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: K }, { dimValue: N }] } } } }],
      initializer: [{ name: 'W', dataType: 1, dims: [K, N], rawData: new Uint8Array(w.buffer.slice(0)) }],
      node: [{ opType: 'Relu', input: ['X'], output: ['R'] }, { opType: 'MatMul', input: ['R', 'W'], output: ['Y'] }],
    },
  }).finish();
  const run = async (bytes: Uint8Array) => {
    const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled' });
    const eye = new Float32Array(K * K);
    for (let i = 0; i < K; i++) eye[i * K + i] = 1;
    const y = (await session.run({ X: new ort.Tensor('float32', eye, [K, K]) })).Y!.data as Float32Array;
    await session.release();
    return y;
  };

  for (const [dtype, what] of [['qint8', 'symmetric int8 (one zero point)'], ['quint8', 'affine uint8 (a Sub of the zero points)']] as const) {
    it(`${what}: same bits as a per-channel DequantizeLinear, opset kept`, async () => {
      const w = normalData(K * N, rng(RUN_SEED)).map((v, i) => v * 10 ** (-(i % N) / N) + (dtype === 'quint8' ? 0.3 : 0));
      const old = await compressOnnx(model(w, 11), { dtype, firstLayer: 'quantize' }, cpu);
      const native = await compressOnnx(model(w, 13), { dtype, firstLayer: 'quantize' }, cpu);
      expect(old.report.opset).toMatchObject({ before: 11, after: 11 });
      const ops = onnx.ModelProto.decode(old.model).graph!.node!.map((n) => n.opType);
      expect(ops).toEqual(dtype === 'qint8' ? ['DequantizeLinear', 'Mul', 'Relu', 'MatMul'] : ['DequantizeLinear', 'Sub', 'Mul', 'Relu', 'MatMul']);
      expect(old.report.tensors[0]!.reason).toMatch(/DequantizeLinear → Mul \(opset 11 < 13\)/);
      expect(old.report.tensors[0]!.sqnrDb).toBe(native.report.tensors[0]!.sqnrDb);
      expectBits(await run(old.model), await run(native.model), `${dtype}: DequantizeLinear → Mul vs per-channel DequantizeLinear`);
      // Read back (inspect) as the same per-channel weight.
      const [a, b] = [await readQdqWeights(await OnnxModel.load(old.model)), await readQdqWeights(await OnnxModel.load(native.model))];
      expect([...a.keys()]).toEqual(['W']);
      expect(a.get('W')!.qscheme()).toBe('per_channel_affine');
      expectBits((await dequantize(a.get('W')!, cpu)).data, (await dequantize(b.get('W')!, cpu)).data, `${dtype}: read back`);
    });
  }
});
