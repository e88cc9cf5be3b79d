// readAhead: one weight read ahead of the consumer into two reused buffers; the bytes are each weight's own, the
// read of weight i + 1 starts once weight i's is taken, unwanted weights are skipped, a released buffer is used
// again, and a failed read rejects its take and gives its buffer back.
import { describe, expect, it } from 'vitest';
import type { WeightInfo, WeightReader } from '../../src/io/weights.js';
import { bufferSlots } from '../../src/compress/buffer-slots.js';
import { readAhead } from '../../src/compress/read-ahead.js';
import { RUN_SEED, rng } from './support.js';

/** A reader over random weights of random sizes that records the order of its reads. */
function reader(count: number, failAt?: number): { reader: WeightReader; infos: WeightInfo[]; data: Uint8Array[]; reads: number[] } {
  const next = rng(RUN_SEED);
  const data = Array.from({ length: count }, () => Uint8Array.from({ length: 4 * (1 + Math.floor(next() * 300)) }, () => Math.floor(next() * 256)));
  const infos = data.map((d, i) => ({ name: `w${i}`, dtype: 'float32', shape: [d.byteLength / 4], byteLength: d.byteLength }) as WeightInfo);
  const reads: number[] = [];
  return {
    infos, data, reads,
    reader: {
      list: () => infos,
      read: async (name) => {
        const i = Number(name.slice(1));
        reads.push(i);
        await new Promise((resolve) => setTimeout(resolve, 1));
        if (i === failAt) throw new Error(`cannot read ${name}`);
        return data[i]!.slice();
      },
    },
  };
}

describe('readAhead', () => {
  it('gives each wanted weight its own bytes in order, one read ahead, in two buffers used again', async () => {
    const { reader: r, infos, data, reads } = reader(12);
    const wanted = (i: number) => i % 3 !== 1;
    const ahead = readAhead(r, infos, wanted);
    for (let i = 0; i < infos.length; i++) {
      const taken = ahead.take(i);
      if (!wanted(i)) {
        expect(taken).toBeUndefined();
        continue;
      }
      const bytes = await taken!;
      expect(Buffer.from(bytes).equals(Buffer.from(data[i]!)), `w${i}`).toBe(true);
      // The next wanted weight's read has started, none beyond it.
      const nextWanted = [...Array(infos.length).keys()].find((j) => j > i && wanted(j));
      expect(reads.at(-1)).toBe(nextWanted ?? i);
      await ahead.release(i);
    }
    expect(reads).toEqual([...Array(infos.length).keys()].filter(wanted));
  });

  it('weights of one size: two buffers for all of them', async () => {
    const { reader: r, infos } = reader(8);
    const same = infos.map((info) => ({ ...info, byteLength: 64, shape: [16] }));
    const ahead = readAhead({ list: () => same, read: async (name) => (await r.read(name)).subarray(0, 64) }, same, () => true);
    const buffers = new Set<ArrayBufferLike>();
    for (let i = 0; i < same.length; i++) {
      buffers.add((await ahead.take(i)!).buffer);
      await ahead.release(i);
    }
    expect(buffers.size).toBe(2);
  });

  it('two passes given the same slots share their two buffers', async () => {
    const { reader: r, infos } = reader(6);
    const same = infos.map((info) => ({ ...info, byteLength: 64, shape: [16] }));
    const sized: WeightReader = { list: () => same, read: async (name) => (await r.read(name)).subarray(0, 64) };
    const slots = bufferSlots('local');
    const buffers = new Set<ArrayBufferLike>();
    for (const pass of [readAhead(sized, same, () => true, slots), readAhead(sized, same, (i) => i % 2 === 0, slots)]) {
      for (let i = 0; i < same.length; i++) {
        const taken = pass.take(i);
        if (taken) buffers.add((await taken).buffer);
        await pass.release(i);
      }
    }
    expect(buffers.size).toBe(2);
  });

  it('a failed read rejects its take; the weights after it are read as before', async () => {
    const { reader: r, infos, data } = reader(5, 2);
    const ahead = readAhead(r, infos, () => true);
    for (let i = 0; i < infos.length; i++) {
      const taken = ahead.take(i)!;
      if (i === 2) await expect(taken).rejects.toThrow(/cannot read w2/);
      else expect(Buffer.from(await taken).equals(Buffer.from(data[i]!))).toBe(true);
      await ahead.release(i);
    }
  });
});
