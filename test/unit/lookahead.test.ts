// lookahead: work starts ahead of an in-order consumer within its item and byte limits, declined items take no
// room, results come back in order whatever order the work finishes in, and a rejection reaches the consumer.
import { describe, expect, it } from 'vitest';
import { lookahead } from '../../src/compress/lookahead.js';
import { RUN_SEED, rng } from '../shared/random.js';

describe('lookahead', () => {
  it('keeps at most maxItems and maxBytes in flight, in order, on random sizes and finishing times', async () => {
    console.log(`seed ${RUN_SEED}`);
    const next = rng(RUN_SEED);
    const count = 60;
    const sizes = Array.from({ length: count }, () => 1 + Math.floor(next() * 10));
    const declined = new Set(Array.from({ length: count }, (_, i) => i).filter(() => next() < 0.25));
    const delays = sizes.map(() => Math.floor(next() * 4));
    const running = new Set<number>();
    let most = 0;
    let mostBytes = 0;
    const ahead = lookahead(count, (i) => {
      if (declined.has(i)) return undefined;
      running.add(i);
      most = Math.max(most, running.size);
      mostBytes = Math.max(mostBytes, [...running].reduce((sum, j) => sum + sizes[j]!, 0));
      // A running item that is alone may exceed the byte limit; otherwise the limit holds.
      if (running.size > 1) expect([...running].reduce((sum, j) => sum + sizes[j]!, 0)).toBeLessThanOrEqual(12);
      return new Promise<number>((resolve) => setTimeout(() => { running.delete(i); resolve(i * 10); }, delays[i]));
    }, (i) => sizes[i]!, 3, 12);
    const seen: number[] = [];
    for (let i = 0; i < count; i++) {
      const started = ahead.take(i);
      expect(started === undefined, `item ${i}`).toBe(declined.has(i));
      if (started) seen.push(await started);
    }
    expect(seen).toEqual(Array.from({ length: count }, (_, i) => i).filter((i) => !declined.has(i)).map((i) => i * 10));
    expect(most).toBeLessThanOrEqual(3);
    expect(most).toBeGreaterThan(1); // it did run ahead
    expect(mostBytes).toBeGreaterThan(0);
  });

  it('hands a rejection to the consumer, and leaves none unhandled', async () => {
    const ahead = lookahead(3, (i) => (i === 1 ? Promise.reject(new Error('item 1 failed')) : Promise.resolve(i)), () => 1, 3, 10);
    expect(await ahead.take(0)).toBe(0);
    await expect(ahead.take(1)).rejects.toThrow('item 1 failed');
  });
});
