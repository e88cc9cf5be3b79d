// A weight's result crosses the thread boundary with its integers and its parameter arrays transferred, not
// copied (a weight of many groups has megabytes of parameters): through a real MessageChannel, the other side
// gets the same integers, parameters and statistics, and the sender's arrays are detached. A parameter array
// that is a view of a larger buffer is copied instead (transferring would take the rest of the buffer with it).
// 4-bit integers held packed cross packed.
import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { decodeResult, encodeResult } from '../../src/compress/cpu-worker-tasks.js';
import { encodeGgufTensor } from '../../src/compress/gguf-encode.js';
import { ggufEncodePlanOf, ggufPlanOf } from '../../src/compress/gguf-plan.js';
import { type WeightDecision, decideWeight } from '../../src/compress/policy.js';
import { type FloorOutcome, quantizeWithFloor } from '../../src/compress/quality-floor.js';
import { QTensor } from '../../src/qtensor.js';
import { RUN_SEED, rng } from './support.js';

const cpu = { backend: 'cpu' } as const;

async function outcomeOf(shape: number[], decision: WeightDecision): Promise<{ outcome: FloorOutcome; copy: FloorOutcome }> {
  const next = rng(RUN_SEED + shape[0]!);
  const data = Float32Array.from({ length: shape[0]! * shape[1]! }, () => (next() - 0.5) * (0.2 + next()));
  const outcome = await quantizeWithFloor({ data, shape }, decision, {}, cpu);
  return { outcome, copy: await quantizeWithFloor({ data, shape }, decision, {}, cpu) };
}

/** Posts `message` with `transfer` through a MessageChannel and resolves with what arrives. */
function roundTrip(message: unknown, transfer: ArrayBuffer[]): Promise<unknown> {
  const { port1, port2 } = new MessageChannel();
  return new Promise((resolve) => {
    port2.once('message', (arrived) => {
      port1.close();
      port2.close();
      resolve(arrived);
    });
    port1.postMessage(message, transfer);
  });
}

const decide = (shape: number[], policy: Parameters<typeof decideWeight>[1]) =>
  decideWeight({ name: 'w', dtype: 'float32', shape, consumers: [{ opType: 'MatMul', inputIndex: 1 }] }, { firstLayer: 'quantize', ...policy });

describe('encodeResult: a weight\'s parameters are transferred', () => {
  it.each([
    ['int4 groups of 32', [96, 40], { dtype: 'qint4', granularity: 'group', groupSize: 32 }],
    ['int8 per channel', [64, 24], {}],
  ] as const)('%s: integers, scales and zero points cross detached, the same on the other side', async (_, shape, policy) => {
    const { outcome, copy } = await outcomeOf([...shape], decide([...shape], policy));
    expect(outcome.kind).toBe('quantized');
    if (outcome.kind !== 'quantized' || copy.kind !== 'quantized') return;
    const sent = outcome.result;
    const params = sent.q.params;
    if (params.scheme === 'per_tensor_affine') throw new Error('expected parameters per channel or group');
    const arrays = [sent.scales, sent.zeroPoints, params.scales, params.zeroPoints];
    const { message, transfer } = encodeResult('floorWeight', outcome);
    for (const array of [sent.q.intReprView(), ...arrays]) expect(transfer).toContain(array.buffer);
    const arrived = decodeResult('floorWeight', await roundTrip(message, transfer));
    for (const array of arrays) expect(array.byteLength, 'detached on the sending side').toBe(0);
    expect(arrived.kind).toBe('quantized');
    if (arrived.kind !== 'quantized') return;
    const got = arrived.result;
    const want = copy.result;
    expect([...got.q.intRepr()]).toEqual([...want.q.intRepr()]);
    expect(got.q.params).toEqual(want.q.params);
    expect(got.scales).toEqual(want.scales);
    expect(got.zeroPoints).toEqual(want.zeroPoints);
    expect(got.stats).toEqual(want.stats);
  });

  it('4-bit integers held packed cross packed (never unpacked to send): the buffer under them transferred, the same values', async () => {
    const shape = [96, 40];
    const { outcome, copy } = await outcomeOf(shape, decide(shape, { dtype: 'qint4', granularity: 'group', groupSize: 32 }));
    if (outcome.kind !== 'quantized' || copy.kind !== 'quantized') throw new Error('expected a quantized weight');
    const under = new ArrayBuffer(96 * 20 + 6); // packed into the start of a longer buffer, as the blocks pack them
    new Uint8Array(under).set(outcome.result.q.packedData());
    const nibbles = new Uint8Array(under, 0, 96 * 20);
    const q = new QTensor({ nibbles }, outcome.result.q.shape, outcome.result.q.dtype, outcome.result.q.params, 'cpu');
    const { message, transfer } = encodeResult('floorWeightFile', { ...outcome, result: { ...outcome.result, q } });
    expect(transfer).toContain(under);
    const arrived = decodeResult('floorWeightFile', await roundTrip(message, transfer));
    expect(under.byteLength, 'detached on the sending side').toBe(0);
    if (arrived.kind !== 'quantized') throw new Error('expected a quantized weight');
    const got = arrived.result.q;
    expect(got.packedNibbles?.byteLength, 'still packed').toBe(96 * 20);
    expect(got.packedNibbles!.buffer.byteLength, 'the whole buffer came').toBe(96 * 20 + 6);
    expect([...got.intRepr()]).toEqual([...copy.result.q.intRepr()]);
    expect(got.params).toEqual(copy.result.q.params);
  });

  it('a parameter array that views part of a larger buffer is copied, not transferred', async () => {
    const { outcome } = await outcomeOf([64, 24], decide([64, 24], {}));
    if (outcome.kind !== 'quantized') throw new Error('expected a quantized weight');
    const wide = new Float32Array(outcome.result.scales.length + 8);
    wide.set(outcome.result.scales, 4);
    const scales = wide.subarray(4, 4 + outcome.result.scales.length);
    const { message, transfer } = encodeResult('floorWeight', { ...outcome, result: { ...outcome.result, scales } });
    expect(transfer).not.toContain(wide.buffer);
    const arrived = decodeResult('floorWeight', await roundTrip(message, transfer));
    expect(wide.byteLength, 'still the sender\'s').toBe(4 * (scales.length + 8));
    expect(arrived.kind === 'quantized' && [...arrived.result.scales]).toEqual([...scales]);
  });

  it('a GGUF tensor\'s bytes from a worker cross transferred, with the rest of the buffer they were encoded into', async () => {
    const next = rng(RUN_SEED + 5);
    const data = Float32Array.from({ length: 64 * 96 }, () => next() - 0.5);
    const info = { name: 'w', dtype: 'float32', shape: [96, 64], byteLength: data.byteLength } as const;
    const plan = ggufPlanOf({ ...info, shape: [...info.shape] }, decide([96, 64], { dtype: 'qint8', granularity: 'group', groupSize: 32 }), 0.5);
    expect([plan.type, plan.transposed]).toEqual(['Q8_0', true]); // a MatMul weight [K, N]: rows of K
    const spare = new ArrayBuffer(64 * 3 * 34 + 100); // a spare buffer longer than the bytes
    const encoded = encodeGgufTensor(ggufEncodePlanOf(plan), new Uint8Array(data.buffer), (n) => new Uint8Array(spare, 0, n));
    const want = encoded.bytes.slice();
    const { message, transfer } = encodeResult('ggufWeightFile', { plan, encoded });
    expect(transfer).toEqual([spare]);
    const arrived = decodeResult('ggufWeightFile', await roundTrip(message, transfer));
    expect(spare.byteLength, 'detached on the sending side').toBe(0);
    expect(arrived.plan).toEqual(plan);
    expect(Buffer.compare(arrived.encoded!.bytes, want)).toBe(0);
    expect(arrived.encoded!.stats!.sqnrDb).toBe(encoded.stats!.sqnrDb);
    expect(encodeResult('ggufWeightFile', { plan }).transfer).toEqual([]);
  });
});
