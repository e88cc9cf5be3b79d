// float16 scales (`scaleDtype: 'float16'`) and 4-bit weights without zero points: the helpers on values, then
// compressed MLPs run in onnxruntime-node. With an identity matrix as input, y = W + b: ONNX Runtime's output
// must equal the weights the file holds (read back and dequantized here) plus the bias, bit for bit, at opset
// 17 (DequantizeLinear) and at opset 9 (DequantizeLinear → Mul by per-channel scales).
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { compressOnnx } from '../../src/compress/compress-onnx.js';
import { halfScale, omitsZeroPoints, roundScales, scaleRounder, storedParametersOf, storesHalfScales } from '../../src/compress/scale-storage.js';
import { storedScales } from '../../src/compress/stored-scales.js';
import { storedBits } from '../../src/compress/budget.js';
import type { WeightDecision } from '../../src/compress/policy.js';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';
import { readQdqWeights } from '../../src/io/onnx/qdq-read.js';
import { dequantize } from '../../src/ops/dequantize.js';
import { buildMlp } from '../shared/mlp-onnx.js';
import { halfToFloat } from '../../src/io/float-convert.js';
import { floatToHalfBits } from '../../src/io/half.js';
import { RUN_SEED, rng } from './support.js';

const { onnx } = onnxProto;
const cpu = { backend: 'cpu' } as const;

describe('scale storage helpers', () => {
  it('scaleRounder names the roundings a worker applies: float16 and bfloat16 weights\' scales, and halfScale', () => {
    expect(scaleRounder(undefined)).toBeUndefined();
    expect(scaleRounder('float16')!(0.1)).toBe(0.0999755859375);
    expect(scaleRounder('float16')!(1e-9)).toBe(0); // a float16 weight's scale type cannot hold it (checked later)
    expect(scaleRounder('halfScale')!(1e-9)).toBe(1e-9); // halfScale keeps what float16 cannot hold
    expect(scaleRounder('bfloat16')!(0.1)).toBe(0.10009765625); // 8 significant bits, to nearest
    expect(scaleRounder('bfloat16')!(1 + 2 ** -8)).toBe(1); // a tie: to even
    expect(scaleRounder('bfloat16')!(1 + 3 * 2 ** -8)).toBe(1 + 2 ** -6); // a tie: to even, upwards
    expect(scaleRounder('bfloat16')!(3)).toBe(3);
  });
  it('the float16 and bfloat16 rounders give the conversions\' values on fresh float32 bit patterns of every exponent', () => {
    const next = rng(RUN_SEED + 5);
    const f = new Float32Array(1);
    const bits = new Uint32Array(f.buffer);
    const toHalf = scaleRounder('float16')!;
    const toBfloat = scaleRounder('bfloat16')!;
    const bfloatOf = (x: number) => new Float32Array(Uint32Array.of((((new Uint32Array(Float32Array.of(x).buffer)[0]! + 0x7fff
      + ((new Uint32Array(Float32Array.of(x).buffer)[0]! >>> 16) & 1)) >>> 16) << 16) >>> 0).buffer)[0]!;
    let ties = 0;
    for (let i = 0; i < 200000; i++) {
      // Every sign and exponent; a fifth of the mantissas a float16 or bfloat16 tie (the bits below the kept ones 100…0).
      const tie = next() < 0.2;
      bits[0] = (Math.floor(next() * 2 ** 32) & (tie ? ~0x1fff : ~0)) | (tie ? (next() < 0.5 ? 0x1000 : 0x8000) : 0);
      const x = f[0]!;
      if (Number.isNaN(x)) continue; // a scale is a number (the rounders' NaN payloads are not specified)
      if (tie) ties++;
      expect(Object.is(toHalf(x), halfToFloat(floatToHalfBits(x))), `float16 of ${x} (bits ${bits[0]!.toString(16)})`).toBe(true);
      expect(Object.is(toBfloat(x), bfloatOf(x)), `bfloat16 of ${x}`).toBe(true);
    }
    expect(ties).toBeGreaterThan(30000);
  });

  it('halfScale rounds to float16 where float16 holds the scale and keeps other scales', () => {
    expect(halfScale(0.1)).toBe(0.0999755859375);
    expect(halfScale(1)).toBe(1);
    expect(halfScale(65504)).toBe(65504);
    expect(halfScale(2 ** -14)).toBe(2 ** -14);
    expect(halfScale(1e-6)).toBe(17 * 2 ** -24); // a float16 subnormal: the nearest multiple of 2^-24
    expect(halfScale(1e-9)).toBe(1e-9); // rounds to 0 in float16: kept, the weight stays float32
    expect(halfScale(1e5)).toBe(1e5); // above 65504
  });

  it('storesHalfScales is true only when every scale is a positive float16 value', () => {
    expect(storesHalfScales(Float32Array.of(0.0999755859375, 0.5, 2 ** -14, 2 ** -24))).toBe(true);
    expect(storesHalfScales(Float32Array.of(0.5, 0.1))).toBe(false);
    expect(storesHalfScales(Float32Array.of(2 ** -25))).toBe(false); // below float16's smallest subnormal
    expect(storesHalfScales(Float32Array.of(0))).toBe(false);
    expect(storesHalfScales(new Float32Array(0))).toBe(true);
  });

  it('roundScales gives each rounder\'s bits on fresh float32 patterns of every exponent, ties, and the edges; the first scale that fails', () => {
    const next = rng(RUN_SEED + 23);
    const toHalf = scaleRounder('float16')!;
    const n = 200000;
    const raw = new Float32Array(n);
    const bits = new Uint32Array(raw.buffer);
    const edges = [2 ** -14, 2 ** -14 - 2 ** -30, 2 ** -24, 2 ** -25, 2 ** -25 + 2 ** -40, 65504, 65519.99, 65520, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 1e-9, 1e30];
    raw.set(edges);
    for (let i = edges.length; i < n; i++) {
      // Positive, every exponent; a fifth of them a float16 tie (the 13 bits below the kept ones 100…0).
      const tie = next() < 0.2;
      bits[i] = ((Math.floor(next() * 2 ** 31) & (tie ? ~0x1fff : ~0)) | (tie ? 0x1000 : 0)) >>> 0;
      if (raw[i]! !== raw[i]! || raw[i]! === Infinity || raw[i]! === 0) raw[i] = 1; // finite positive scales only here
    }
    const out = new Float32Array(n);
    expect(roundScales(raw, out, halfScale)).toBe(-1);
    for (let i = 0; i < n; i++) {
      if (!Object.is(out[i], Math.fround(halfScale(raw[i]!)))) expect.fail(`halfScale of ${raw[i]} (bits ${bits[i]!.toString(16)}): ${out[i]}`);
    }
    // Rounded in place, and storedScales' result, the same.
    const inPlace = raw.slice();
    expect(roundScales(inPlace, inPlace, halfScale)).toBe(-1);
    expect(Array.from(inPlace)).toEqual(Array.from(out));
    const moderate = raw.filter((v) => v < 1e30); // levels of 127 steps that stay finite
    const stored = storedScales(moderate, new Int32Array(moderate.length), { dtype: 'qint8' } as WeightDecision, { roundScale: halfScale });
    expect(stored).toBeInstanceOf(Float32Array);
    expect(Array.from(stored as Float32Array)).toEqual(Array.from(moderate, (v) => Math.fround(halfScale(v))));
    // A float16 weight's rounding fails where float16 has no positive finite value: the first such index.
    const finite = Float32Array.from(raw.subarray(0, 12)).filter((v) => toHalf(v) > 0 && toHalf(v) < Infinity);
    const some = new Float32Array(finite.length);
    expect(roundScales(finite, some, toHalf)).toBe(-1);
    expect(Array.from(some)).toEqual(Array.from(finite, (v) => Math.fround(toHalf(v))));
    expect(roundScales(Float32Array.of(0.5, 1e-9, 70000), new Float32Array(3), toHalf)).toBe(1);
    expect(roundScales(Float32Array.of(0.5, 2, 65520), new Float32Array(3), toHalf)).toBe(2);
    for (const bad of [0, -0, -1, NaN, Infinity]) expect(roundScales(Float32Array.of(1, bad), new Float32Array(2), halfScale), String(bad)).toBe(1);
    // Other rounders are not its.
    expect(roundScales(raw, out, scaleRounder('bfloat16')!)).toBeUndefined();
  });

  it('storesHalfScales on a float32 array\'s bits agrees with the rule scale by scale, on fresh patterns', () => {
    const next = rng(RUN_SEED + 29);
    const toHalf = scaleRounder('float16')!;
    const f = new Float32Array(1);
    const bits = new Uint32Array(f.buffer);
    let held = 0;
    for (let i = 0; i < 100000; i++) {
      // Every sign and exponent; half of them float16 values (the last 13 bits 0).
      bits[0] = (Math.floor(next() * 2 ** 32) & (next() < 0.5 ? ~0x1fff : ~0)) >>> 0;
      const s = f[0]!;
      const want = s > 0 && s <= 65504 && toHalf(s) === s;
      if (want) held++;
      if (storesHalfScales(f) !== want) expect.fail(`storesHalfScales of ${s} (bits ${bits[0]!.toString(16)})`);
      if (storesHalfScales([s]) !== want) expect.fail(`storesHalfScales of [${s}]`);
    }
    expect(held).toBeGreaterThan(1500); // about one in 34: float16's 30 exponents of 256, positive, last bits 0
  });

  it('zero points are omitted for 4-bit weights whose zero points are all 0, and counted in the stored bits', () => {
    const int4 = { action: 'quantize', dtype: 'qint4', granularity: 'group', axis: 1, groupSize: 32 } as WeightDecision;
    const int8 = { action: 'quantize', dtype: 'qint8', granularity: 'channel', axis: 0 } as WeightDecision;
    expect(omitsZeroPoints(Int32Array.of(0, 0, 0), int4)).toBe(true);
    expect(omitsZeroPoints(Int32Array.of(0, 1), int4)).toBe(false);
    expect(omitsZeroPoints(Int32Array.of(0, 0), int8)).toBe(false);
    const result = { scales: Float32Array.of(0.5, 0.25), zeroPoints: Int32Array.of(0, 0) };
    expect(storedParametersOf(result, int4, 'float16')).toEqual({ scaleBits: 16, zeroPoints: false });
    expect(storedParametersOf(result, int4, 'float32')).toEqual({ zeroPoints: false });
    expect(storedParametersOf({ ...result, scales: Float32Array.of(0.1) }, int8, 'float16')).toEqual({ zeroPoints: true });
    expect(storedBits([64, 128], int4, 'float32', 'onnx', { scaleBits: 16, zeroPoints: false })).toBe(4.5);
    expect(storedBits([64, 128], int4, 'float32', 'onnx')).toBe(5.125);
    expect(storedBits([64, 128], int4, 'float32', 'safetensors', { scaleBits: 16, zeroPoints: false })).toBe(5.25); // safetensors: float32, bytes
    expect(storedBits([64, 128], int8, 'float32', 'onnx', { scaleBits: 16 })).toBe(8 + 24 / 128);
  });
});

/** y for x = the identity (batch = fan-in), the model's only output. */
async function identityOutput(model: Uint8Array, k: number): Promise<Float32Array> {
  const x = new Float32Array(k * k);
  for (let i = 0; i < k; i++) x[i * k + i] = 1;
  // No graph optimisation: onnxruntime-node would fuse DequantizeLinear → MatMul into MatMulNBits, which
  // computes differently; here the DequantizeLinear output itself is compared.
  const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'disabled' });
  try {
    return (await session.run({ x: new ort.Tensor('float32', x, [k, k]) })).y!.data as Float32Array;
  } finally {
    await session.release();
  }
}

describe('float16 scales in onnxruntime-node', () => {
  const k = 64;
  const n = 96;
  for (const [label, opset, policy] of [
    ['int4 groups of 32, narrow range (zero points all 0: none stored), opset 17 → 21', 17, { dtype: 'qint4', granularity: 'group', groupSize: 32, range: 'narrow' }],
    ['int4 groups of 32, Q4_0\'s range (zero points 0 or -1: stored)', 17, { dtype: 'qint4', granularity: 'group', groupSize: 32 }],
    ['int8 per channel, opset 17', 17, {}],
    ['int8 per channel, opset 9 (DequantizeLinear → Mul)', 9, {}],
    ['uint4 groups of 32 (affine: zero points kept)', 17, { dtype: 'quint4', granularity: 'group', groupSize: 32 }],
  ] as const) {
    it(`${label}: the file holds float16 scales, and ONNX Runtime's weights equal the file's`, async () => {
      const { model: original, biases } = buildMlp(onnx, [k, n], RUN_SEED, opset);
      const options = { ...policy, firstLayer: 'quantize', minElements: 0, scaleDtype: 'float16' } as const;
      const { model, report } = await compressOnnx(original, options, cpu);
      const { model: wide } = await compressOnnx(original, { ...options, scaleDtype: 'float32' }, cpu);
      expect(report.tensors.find((t) => t.name === 'fc0.weight')!.scheme).toMatch(/, float16 scales$/);
      const proto = onnx.ModelProto.decode(model);
      const cast = proto.graph!.node!.find((node) => node.opType === 'Cast')!;
      expect(cast.attribute![0]!.name).toBe('to');
      expect(Number(cast.attribute![0]!.i)).toBe(1); // FLOAT
      const half = proto.graph!.initializer!.find((t) => t.name === cast.input![0])!;
      expect(half.dataType).toBe(10); // FLOAT16
      const dq = proto.graph!.node!.find((node) => node.opType === 'DequantizeLinear')!;
      // Below opset 13 the float16 scales feed the Mul of the per-channel form.
      const mul = proto.graph!.node!.find((node) => node.opType === 'Mul');
      expect(mul?.input?.[1]).toBe(opset < 13 ? cast.output![0] : undefined);
      const fourBit = 'dtype' in policy;
      const symmetricFourBit = fourBit && 'range' in policy;
      expect(dq.input!.length).toBe(symmetricFourBit ? 2 : 3);
      const scaleCount = fourBit ? k * n / 32 : n;
      // 2 bytes a scale instead of 4, and no int4 zero points (half a byte a group) where symmetric.
      expect(half.rawData!.byteLength).toBe(2 * scaleCount);
      if (fourBit) expect(wide.length).toBeGreaterThan(model.length + scaleCount);
      const weights = await readQdqWeights(await OnnxModel.load(model));
      const w = (await dequantize(weights.get('fc0.weight')!, cpu)).data as Float32Array;
      expect(w.length).toBe(k * n);
      const y = await identityOutput(model, k);
      const want = new Float32Array(k * n);
      for (let i = 0; i < k; i++) for (let j = 0; j < n; j++) want[i * n + j] = Math.fround(w[i * n + j]! + biases[0]![j]!);
      expect(y).toEqual(want);
      // The scales read back are float16 values.
      const q = weights.get('fc0.weight')!;
      expect(storesHalfScales(fourBit ? q.qPerGroupScales() : q.qPerChannelScales())).toBe(true);
    });
  }

  it('a scale float16 cannot hold (it would round to 0) keeps the weight at float32 scales', async () => {
    const { model: original } = buildMlp(onnx, [k, n], RUN_SEED);
    const proto = onnx.ModelProto.decode(original);
    const w = proto.graph!.initializer!.find((t) => t.name === 'fc0.weight')!;
    const values = new Float32Array(new Uint8Array(w.rawData!).buffer).map((v) => v * 1e-9); // scales about 3e-11
    w.rawData = new Uint8Array(values.buffer);
    const { model, report } = await compressOnnx(onnx.ModelProto.encode(proto).finish(), { firstLayer: 'quantize', minElements: 0, scaleDtype: 'float16' }, cpu);
    expect(report.tensors.find((t) => t.name === 'fc0.weight')!.scheme).not.toMatch(/float16 scales/);
    expect(onnx.ModelProto.decode(model).graph!.node!.some((node) => node.opType === 'Cast')).toBe(false);
  });

  it('rejects a scaleDtype that is not float32 or float16, and float16 with contrib operators', async () => {
    const { model } = buildMlp(onnx, [k, n], RUN_SEED);
    await expect(compressOnnx(model, { scaleDtype: 'bfloat16' as never }, cpu)).rejects.toThrow(/scaleDtype is "bfloat16"; use 'float32' or 'float16'/);
    await expect(compressOnnx(model, { scaleDtype: 'float16', onnxOps: 'contrib' }, cpu)).rejects.toThrow(/is for QDQ weights/);
  });
});
