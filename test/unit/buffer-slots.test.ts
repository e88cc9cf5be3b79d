// bufferSlots('shared'): buffers for weights sent to CPU workers are SharedArrayBuffers of exactly the size taken, used
// again once given back (the smallest free one that fits; the largest too-small one is let go), never handed out
// twice at once, and not transferred. Buffers of 1 MiB or more are WebAssembly memories' (page-aligned), and a
// shared one reaches a worker where it lies.
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { bufferSlots, pageAlignedBuffer, smallestFitting } from '../../src/compress/buffer-slots.js';
import { RUN_SEED, rng } from './support.js';

describe('bufferSlots', () => {
  it('reuses given-back buffers, never hands one out twice, and sizes each view exactly', () => {
    const slots = bufferSlots('shared');
    const a = slots.take(1000);
    const b = slots.take(4000);
    expect([a.byteLength, b.byteLength]).toEqual([1000, 4000]);
    expect(a.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(a.buffer).not.toBe(b.buffer);
    expect(slots.transfer(a)).toEqual([]); // shared, not moved
    slots.give(a);
    slots.give(b);
    expect(slots.take(900).buffer, 'the smallest free one that fits').toBe(a.buffer);
    expect(slots.take(900).buffer, 'the other one: a is taken').toBe(b.buffer);
    const c = slots.take(5000); // none free: a new one
    expect(c.buffer).not.toBe(a.buffer);
    expect(c.buffer).not.toBe(b.buffer);
    expect(c.byteLength).toBe(5000);
  });

  it('a take no free buffer fits lets the largest too-small one go', () => {
    const slots = bufferSlots('shared');
    const [s10, s20, s30] = [10, 20, 30].map((n) => slots.take(n));
    for (const t of [s10!, s20!, s30!]) slots.give(t);
    const s40 = slots.take(40);
    slots.give(s40);
    expect(slots.take(25).buffer, '30 was let go for 40').toBe(s40.buffer);
    expect(slots.take(15).buffer).toBe(s20!.buffer);
    expect(slots.take(5).buffer).toBe(s10!.buffer);
    expect([s10!.buffer, s20!.buffer, s40.buffer]).not.toContain(slots.take(25).buffer); // s30 is not kept
  });

  it('never hands out one buffer twice at once, over random sizes', () => {
    const next = rng(RUN_SEED);
    const slots = bufferSlots('shared');
    for (let round = 0; round < 50; round++) {
      const taken = Array.from({ length: 3 }, () => slots.take(1 + Math.floor(next() * 10_000)));
      expect(new Set(taken.map((t) => t.buffer)).size, 'three different buffers').toBe(3);
      for (const t of taken) slots.give(t);
    }
  });

  it("'local': ArrayBuffers reused the same way (best fit, never twice at once), never transferred", () => {
    const slots = bufferSlots('local');
    const a = slots.take(4096);
    const b = slots.take(4096);
    expect(a.buffer).toBeInstanceOf(ArrayBuffer);
    expect(b.buffer).not.toBe(a.buffer);
    expect(slots.transfer(a)).toEqual([]);
    slots.give(a);
    const c = slots.take(2048);
    expect(c.buffer, 'a larger free buffer serves a smaller weight').toBe(a.buffer);
    expect(c.byteLength).toBe(2048);
    expect(slots.take(4096).buffer).not.toBe(a.buffer); // a is out again
  });

  it('buffers of 1 MiB or more are whole WebAssembly pages (a memory\'s buffer, starting at a page boundary), shared or not', () => {
    for (const kind of ['shared', 'local'] as const) {
      const slots = bufferSlots(kind);
      const big = slots.take(3 * 2 ** 20 + 5);
      expect(big.byteLength).toBe(3 * 2 ** 20 + 5);
      expect(big.buffer.byteLength, kind).toBe(49 * 65536);
      expect(big.buffer).toBeInstanceOf(kind === 'shared' ? SharedArrayBuffer : ArrayBuffer);
      big.fill(7);
      slots.give(big);
      const again = slots.take(2 ** 20);
      expect(again.buffer, 'used again').toBe(big.buffer);
      expect(again[0]).toBe(7);
      expect(slots.take(1000).buffer.byteLength, 'small ones are plain').toBe(1000);
    }
    expect(pageAlignedBuffer(1, false).byteLength).toBe(65536);
  });

  it('a shared buffer of 1 MiB or more is shared with a worker thread, not copied', async () => {
    const slots = bufferSlots('shared');
    const view = slots.take(2 ** 20 + 3);
    view.fill(5);
    const worker = new Worker(`const { parentPort } = require('node:worker_threads');
      parentPort.on('message', (v) => { v[0] = 9; v[v.length - 1] = 8; parentPort.postMessage(v[1]); });`, { eval: true });
    try {
      worker.postMessage(view, slots.transfer(view));
      const seen = await new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
      expect(seen).toBe(5);
      expect([view[0], view[1], view[view.length - 1]]).toEqual([9, 5, 8]); // written by the worker, where it lies
    } finally {
      await worker.terminate();
    }
  });
});

describe('smallestFitting', () => {
  it('picks the smallest buffer that holds the bytes, the first of equals, or -1', () => {
    const next = rng(RUN_SEED);
    const sizes = Array.from({ length: 12 }, () => 1 + Math.floor(next() * 100));
    const buffers = sizes.map((n) => new ArrayBuffer(n));
    for (const need of [0, 1, 50, 99, 100, 101]) {
      const fits = sizes.map((n, i) => [n, i] as const).filter(([n]) => n >= need).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
      expect(smallestFitting(buffers, need), `need ${need}, sizes ${sizes}`).toBe(fits.length ? fits[0]![1] : -1);
    }
    expect(smallestFitting([], 1)).toBe(-1);
  });
});
