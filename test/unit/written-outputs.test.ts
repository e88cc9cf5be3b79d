// writtenOutputs: written buffers kept (up to the limit) and handed out again; while writes go on in order, a
// take with none at hand claims the earliest result before its own tensor that has come, and gets that buffer once
// it is written; stop() gives every claim undefined, and results that come then are not claimed.
import { describe, expect, it } from 'vitest';
import { writtenOutputs } from '../../src/compress/written-outputs.js';

/** The value of `taken` if it settles within a few turns of the event loop, else 'pending'. */
async function settled<T>(taken: T | Promise<T>): Promise<T | 'pending'> {
  return Promise.race([Promise.resolve(taken), new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), 10))]);
}

describe('writtenOutputs', () => {
  it('keeps written buffers up to its limit and hands them out again, at once', () => {
    const outputs = writtenOutputs(2);
    expect(outputs.take(0)).toBeUndefined();
    const [a, b, c] = [new ArrayBuffer(8), new ArrayBuffer(16), new ArrayBuffer(24)];
    outputs.written(0, a);
    outputs.written(1, b);
    outputs.written(2, c); // past the limit: let go
    outputs.written(3, new SharedArrayBuffer(8)); // not a worker's: never kept
    const taken = [outputs.take(4), outputs.take(5)];
    expect(taken).toHaveLength(2);
    expect(new Set(taken)).toEqual(new Set([a, b]));
    expect(outputs.take(6)).toBeUndefined();
  });

  it('while writes go on, a take claims the earliest result before its tensor and gets its buffer once written', async () => {
    const outputs = writtenOutputs(2);
    const [r3, r5] = [new ArrayBuffer(8), new ArrayBuffer(8)];
    outputs.arrived(3, r3); // writes not started: not claimable
    expect(outputs.take(9)).toBeUndefined();
    outputs.writing();
    outputs.arrived(5, r5);
    outputs.arrived(3, r3);
    expect(outputs.take(3)).toBeUndefined(); // nothing before tensor 3
    const first = outputs.take(7);
    const second = outputs.take(8);
    expect(outputs.take(9)).toBeUndefined(); // both claimed
    expect(await settled(first)).toBe('pending');
    outputs.written(3, r3);
    expect(await settled(first)).toBe(r3);
    expect(await settled(second)).toBe('pending');
    outputs.written(5, r5);
    expect(await settled(second)).toBe(r5);
    expect(outputs.take(10)).toBeUndefined(); // handed over, not kept
  });

  it('a claim whose tensor is written from other memory gets undefined; that memory is kept', async () => {
    const outputs = writtenOutputs(2);
    outputs.writing();
    const came = new ArrayBuffer(8);
    outputs.arrived(0, came);
    const claim = outputs.take(1);
    const other = new ArrayBuffer(8);
    outputs.written(0, other);
    expect(await settled(claim)).toBeUndefined();
    expect(outputs.take(2)).toBe(other);
  });

  it('stop() gives every claim undefined, and results that come after are not claimed until writing() again', async () => {
    const outputs = writtenOutputs(2);
    outputs.writing();
    outputs.arrived(0, new ArrayBuffer(8));
    outputs.arrived(1, new ArrayBuffer(8));
    const claims = [outputs.take(2), outputs.take(3)];
    expect(await settled(claims[0])).toBe('pending');
    outputs.stop();
    expect(await Promise.all(claims.map(settled))).toEqual([undefined, undefined]);
    outputs.arrived(4, new ArrayBuffer(8));
    expect(outputs.take(5)).toBeUndefined();
    outputs.writing();
    const again = new ArrayBuffer(8);
    outputs.arrived(6, again);
    const claim = outputs.take(7);
    outputs.written(6, again);
    expect(await settled(claim)).toBe(again);
  });
});
