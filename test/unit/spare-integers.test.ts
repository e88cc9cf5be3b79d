// The buffers of a safetensors compression's CPU workers go back to them once written: a worker's integers (of
// LEND_FROM_BYTES and more) and its weight's parameters (each array in a buffer of its own, of as many), each
// handed out once, never before the weight is written, never one that was not a worker's.
import { describe, expect, it } from 'vitest';
import { LEND_FROM_BYTES } from '../../src/compress/integer-lender.js';
import type { QuantizedWeight } from '../../src/compress/quantize-weight.js';
import { spareIntegers } from '../../src/compress/spare-integers.js';
import { QTensor } from '../../src/qtensor.js';
import { RUN_SEED, rng } from './support.js';

/** A weight in groups of 32 with `count` parameters, each array in a buffer of its own (as a worker's arrive). */
function groupsResult(count: number, shared = false): QuantizedWeight {
  const next = rng(RUN_SEED + count);
  const scales = Float32Array.from({ length: count }, () => 0.001 + next());
  const zeroPoints = new Int32Array(count);
  const scales64 = shared ? new Float64Array(scales.buffer, 0, count / 2) : Float64Array.from(scales);
  const q = new QTensor(new Int8Array(32 * count), [count, 32], 'qint8', { scheme: 'per_group_affine', scales: scales64, zeroPoints, axis: 1, groupSize: 32 }, 'cpu');
  return { ok: true, q, scales, zeroPoints, paramShape: [count, 1], stats: {} as never };
}

describe('spareIntegers', () => {
  it('hands a written worker\'s integers back once, the smallest that fits', () => {
    const spares = spareIntegers();
    const [small, large, fresh] = [new ArrayBuffer(LEND_FROM_BYTES), new ArrayBuffer(2 * LEND_FROM_BYTES), new ArrayBuffer(LEND_FROM_BYTES)];
    spares.adopt(small);
    spares.adopt(large);
    spares.adopt(new ArrayBuffer(LEND_FROM_BYTES - 1)); // too small to track
    expect(spares.take(1)).toBeUndefined(); // nothing written yet
    spares.written(large);
    spares.written(small);
    spares.written(fresh); // never a worker's
    expect(spares.take(LEND_FROM_BYTES)).toBe(small);
    expect(spares.take(LEND_FROM_BYTES)).toBe(large);
    expect(spares.take(1)).toBeUndefined();
  });

  it('hands a written worker\'s parameters back once, for exactly as many, and none it did not adopt', () => {
    const spares = spareIntegers();
    const count = LEND_FROM_BYTES / 16; // 16 bytes a parameter: the smallest tracked
    const [a, b] = [groupsResult(count), groupsResult(count)];
    spares.adoptParameters(a);
    spares.adoptParameters(b);
    spares.adoptParameters(groupsResult(count - 32)); // fewer than LEND_FROM_BYTES bytes of them
    expect(spares.takeParameters(count)).toBeUndefined(); // nothing written yet
    spares.writtenParameters(a);
    spares.writtenParameters(groupsResult(count)); // never adopted
    spares.writtenParameters(groupsResult(count - 32));
    expect(spares.takeParameters(count + 1)).toBeUndefined();
    expect(spares.takeParameters(count)).toEqual({ scales: a.scales.buffer, zeroPoints: a.zeroPoints.buffer, scales64: (a.q.params as { scales: Float64Array }).scales.buffer });
    expect(spares.takeParameters(count)).toBeUndefined(); // b not written yet
    spares.writtenParameters(b);
    spares.writtenParameters(b); // written twice: handed out once
    expect(spares.takeParameters(count)?.scales).toBe(b.scales.buffer);
    expect(spares.takeParameters(count)).toBeUndefined();
    // Arrays that share a buffer are never lent.
    const shared = groupsResult(count, true);
    spares.adoptParameters(shared);
    spares.writtenParameters(shared);
    expect(spares.takeParameters(count)).toBeUndefined();
  });
});
