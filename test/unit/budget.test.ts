// The size-budget allocator on synthetic weights (CPU): stored bits per option, the budget met, more bits
// buying a lower error estimate, keep chosen only when it pays, the report's per-tensor options, and the
// typed errors for a target below the minimum or malformed.
import { describe, expect, it } from 'vitest';
import { allocateBudget, kLargeGroupFloorDb, storedBits } from '../../src/compress/budget.js';
import { type PolicyWeight, type WeightDecision, decideWeights } from '../../src/compress/policy.js';
import { InvalidArgumentError } from '../../src/index.js';
import { RUN_SEED, rng } from './support.js';

const cpu = { backend: 'cpu' } as const;

function weights(): { list: PolicyWeight[]; data: Float32Array[] } {
  const next = rng(RUN_SEED);
  const shapes = [[64, 256], [32, 128], [128, 64], [16, 512, 1]];
  const list = shapes.map((shape, i): PolicyWeight => ({ name: `w${i}`, dtype: 'float32', shape, consumers: [{ opType: shape.length === 3 ? 'Conv' : 'Gemm', inputIndex: 1 }] }));
  const data = shapes.map((shape, i) => Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) },
    () => (next() - 0.5) * (next() < 0.02 ? 8 : 1) * 10 ** -i));
  return { list, data };
}

describe('size budget allocator', () => {
  it('stored bits: data, float32 scales and zero points per channel or group', () => {
    const base = { action: 'quantize', symmetric: true, method: 'minmax', name: 'w', reason: '', outputAxis: 0 } as const;
    expect(storedBits([64, 128], { ...base, dtype: 'qint4', granularity: 'group', axis: 1, groupSize: 32 } as WeightDecision, 'float32')).toBe(4 + 36 / 32);
    expect(storedBits([64, 128], { ...base, dtype: 'qint8', granularity: 'channel', axis: 0, groupSize: undefined } as WeightDecision, 'float32')).toBe(8 + 40 / 128);
    expect(storedBits([64, 128], { ...base, dtype: 'qint4', granularity: 'group', axis: 1, groupSize: 128 } as WeightDecision, 'float16')).toBe(4 + 20 / 128);
    // safetensors: float32 scales whatever the weight's type, a byte per zero point.
    expect(storedBits([64, 128], { ...base, dtype: 'qint4', granularity: 'group', axis: 1, groupSize: 128 } as WeightDecision, 'float16', 'safetensors'))
      .toBe(4 + 40 / 128);
    expect(storedBits([64, 100], { ...base, dtype: 'qint4', granularity: 'group', axis: 1, groupSize: 32 } as WeightDecision, 'float32'))
      .toBe((8 * (3200 + 64 * 4 * 4 + 128)) / 6400);
    expect(storedBits([64, 128], { ...base, action: 'keep', dtype: 'qint8', granularity: 'channel', axis: 0, groupSize: undefined } as WeightDecision, 'float16')).toBe(16);
  });

  it('meets every target, lowers the error estimate as the target rises, and reports every option', async () => {
    const { list, data } = weights();
    const decisions = decideWeights(list, {});
    const read = async (i: number) => data[i]!;
    let previous = Infinity;
    let minimum = 0;
    for (const target of [4.6, 5, 6, 8.6, 12, 32]) {
      const { decisions: allocated, allocation } = await allocateBudget(list, decisions, {}, target, read, {}, cpu);
      minimum = allocation.minimumBits;
      expect(allocation.bits, `target ${target}`).toBeLessThanOrEqual(target);
      expect(allocation.errorEstimate, `target ${target}`).toBeLessThanOrEqual(previous);
      previous = allocation.errorEstimate;
      expect(allocation.tensors.map((t) => t.name)).toEqual(['w0', 'w1', 'w2', 'w3']);
      for (const [i, t] of allocation.tensors.entries()) {
        expect(t.options.map((o) => o.option).sort()).toEqual(['int4 groups of 128', 'int4 groups of 32', 'int4 groups of 64', 'int8 per channel', 'keep']);
        const d = allocated[i]!;
        expect(d.action === 'keep').toBe(t.chosen === 'keep');
        if (t.chosen === 'int8 per channel') expect([d.dtype, d.granularity]).toEqual(['qint8', 'channel']);
        if (t.chosen.startsWith('int4')) expect([d.dtype, d.granularity, d.groupSize]).toEqual(['qint4', 'group', Number(t.chosen.split(' ').pop())]);
        // int8 is far more accurate than int4 on these weights (one scale a channel against one a group of 32,
        // so rare outliers can cost int8 up to a few times of its 16x finer step); keep is exact.
        const error = (name: string) => t.options.find((o) => o.option === name)!.relativeError;
        expect(error('int8 per channel')).toBeLessThan(error('int4 groups of 32') / 10);
        expect(error('keep')).toBe(0);
      }
      if (target === 32) expect(allocation.tensors.every((t) => t.chosen === 'keep')).toBe(true);
      // int8 everywhere averages 8.503 bits here (Gemm B without transB: a scale per column).
      if (target === 8.6) expect(allocation.tensors.every((t) => t.chosen === 'int8 per channel')).toBe(true);
      const cheapest = allocation.tensors.reduce((sum, t) => sum + Math.min(...t.options.map((o) => o.bits)) * t.elements, 0);
      expect(allocation.minimumBits).toBeCloseTo(cheapest / allocation.tensors.reduce((sum, t) => sum + t.elements, 0), 12);
    }
    expect(minimum).toBeGreaterThan(4.2);
    expect(minimum).toBeLessThan(4.6);
    await expect(allocateBudget(list, decisions, {}, 4.2, read, {}, cpu)).rejects.toThrow(InvalidArgumentError);
    await expect(allocateBudget(list, decisions, {}, 4.2, read, {}, cpu)).rejects.toThrow(/targetBits 4\.2 is below .* average 4\.\d{1,3} bits per weight/);
    await expect(allocateBudget(list, decisions, {}, Number.NaN, read, {}, cpu)).rejects.toThrow(/targetBits is null; use a number of bits per weight > 0/);
  });

  it('offers int4 groups of 64 / 128 only above the SQNR floor, unless the target needs them', async () => {
    // w0: large, with rare large outliers (its groups of 128 fall below the floor); w1: small, where the bits
    // buy the most error per bit (int8, then keep), so without the floor the budget goes there and w0 gets groups of 128.
    const next = rng(RUN_SEED + 1);
    const list: PolicyWeight[] = [[1024, 64], [128, 64]].map((shape, i) => ({ name: `w${i}`, dtype: 'float32', shape, consumers: [{ opType: 'Gemm', inputIndex: 1 }] }));
    const data = [
      Float32Array.from({ length: 64 * 1024 }, () => (next() - 0.5) * (next() < 0.01 ? 30 : 1)),
      Float32Array.from({ length: 128 * 64 }, () => (next() - 0.5) * (next() < 0.05 ? 30 : 1)),
    ];
    const decisions = decideWeights(list, {});
    const read = async (i: number) => data[i]!;
    const floor = 10 ** (-kLargeGroupFloorDb / 10);
    const large = (o: { option: string }) => o.option === 'int4 groups of 64' || o.option === 'int4 groups of 128';
    const all = (await allocateBudget(list, decisions, {}, 32, read, {}, cpu)).allocation.tensors;
    expect(all[0]!.options.some((o) => large(o) && o.relativeError > floor)).toBe(true);
    // The smallest target met without the below-floor options, plus what w1 needs to be kept float.
    const w1Keep = (32 - Math.min(...all[1]!.options.map((o) => o.bits))) * all[1]!.elements;
    const floorBits = all.reduce((sum, t) => sum + t.elements * Math.min(...t.options.filter((o) => !large(o) || o.relativeError <= floor)
      .map((o) => o.bits)), 0);
    const target = (floorBits + w1Keep) / (all[0]!.elements + all[1]!.elements) + 1e-9;
    const { allocation } = await allocateBudget(list, decisions, {}, target, read, {}, cpu);
    expect(allocation.bits).toBeLessThanOrEqual(target);
    for (const t of allocation.tensors) if (large({ option: t.chosen })) expect(t.relativeError, t.name).toBeLessThanOrEqual(floor);
    // At the minimum, the cheapest options are taken whatever their SQNR.
    const minimum = (await allocateBudget(list, decisions, {}, 32, read, {}, cpu)).allocation.minimumBits;
    const tight = await allocateBudget(list, decisions, {}, minimum + 1e-9, read, {}, cpu);
    expect(tight.allocation.bits).toBeLessThanOrEqual(minimum + 1e-9);
    for (const t of tight.allocation.tensors) expect(t.bits, t.name).toBe(Math.min(...t.options.map((o) => o.bits)));
    expect(tight.allocation.tensors[0]!.relativeError).toBeGreaterThan(floor);
  });

  it('with an output error probe: one run per weight, sensitivity = measured / relative error, options scaled by it', async () => {
    const { list, data } = weights();
    const decisions = decideWeights(list, {});
    const read = async (i: number) => data[i]!;
    // A fake model: w2's error reaches the output 1000 times amplified, w3 is never used (its error is 0).
    const gain = [1, 1, 1000, 0];
    const calls: string[] = [];
    const probe = async (name: string, values: Float32Array) => {
      calls.push(name);
      const i = list.findIndex((w) => w.name === name);
      let mse = 0;
      for (let k = 0; k < values.length; k++) mse += (values[k]! - data[i]![k]!) ** 2 / values.length;
      let energy = 0;
      for (const v of data[i]!) energy += v * v / values.length;
      return gain[i]! * mse / energy;
    };
    const plain = await allocateBudget(list, decisions, {}, 6, read, {}, cpu);
    const { allocation } = await allocateBudget(list, decisions, {}, 6, read, {}, cpu, 'onnx', probe);
    expect(plain.allocation).toMatchObject({ errorSource: 'weights', probeRuns: 0 });
    expect(allocation).toMatchObject({ errorSource: 'outputs', probeRuns: 4 });
    expect(calls).toEqual(['w0', 'w1', 'w2', 'w3']);
    expect(allocation.bits).toBeLessThanOrEqual(6);
    for (const [i, t] of allocation.tensors.entries()) {
      expect(t.sensitivity).toBeCloseTo(gain[i]!, 4); // the probe saw exactly the int4 groups of 32 values
      for (const o of t.options) expect(o.estimatedError).toBeCloseTo(gain[i]! * o.relativeError, 10);
    }
    const chosen = (a: typeof allocation, name: string) => a.tensors.find((t) => t.name === name)!;
    // The amplified weight gets more bits than from the weights alone; the unused one the cheapest option.
    expect(chosen(allocation, 'w2').bits).toBeGreaterThan(chosen(plain.allocation, 'w2').bits);
    expect(chosen(allocation, 'w3').bits).toBe(Math.min(...chosen(allocation, 'w3').options.map((o) => o.bits)));
    expect(allocation.errorEstimate).toBeCloseTo(allocation.tensors.reduce((sum, t) => sum + t.estimatedError, 0), 12);
    await expect(allocateBudget(list, decisions, {}, 6, read, {}, cpu, 'onnx', async () => Number.NaN))
      .rejects.toThrow(/output error probe gave NaN for weight "w0"; it must return a finite number >= 0/);
  });

  it('never gives the output layer int4 groups of 64 / 128 while the target can be met without them', async () => {
    const { list, data } = weights();
    const marked = list.map((w, i) => (i === 0 ? { ...w, outputLayer: true } : w));
    const decisions = decideWeights(marked, {});
    const read = async (i: number) => data[i]!;
    // Sensitivity 1 measured for every weight: no SQNR floor (that is for weights-only estimates), only the output layer's.
    const probe = async (name: string, values: Float32Array) => {
      const original = data[Number(name.slice(1))]!;
      let mse = 0;
      let energy = 0;
      values.forEach((v, k) => { mse += (v - original[k]!) ** 2; energy += original[k]! ** 2; });
      return mse / energy;
    };
    const large = (option: string) => option === 'int4 groups of 64' || option === 'int4 groups of 128';
    const unmarked = await allocateBudget(list, decisions, {}, 5, read, {}, cpu, 'onnx', probe);
    expect(large(unmarked.allocation.tensors[0]!.chosen)).toBe(true); // unmarked, the largest weight goes to a larger group
    const { allocation } = await allocateBudget(marked, decisions, {}, 5, read, {}, cpu, 'onnx', probe);
    expect(allocation.bits).toBeLessThanOrEqual(5);
    expect(allocation.tensors[0]!.chosen).toBe('int4 groups of 32');
    // At the minimum every weight takes its cheapest option, the output layer too.
    const tight = await allocateBudget(marked, decisions, {}, allocation.minimumBits + 1e-9, read, {}, cpu, 'onnx', probe);
    expect(large(tight.allocation.tensors[0]!.chosen)).toBe(true);
  });
});
