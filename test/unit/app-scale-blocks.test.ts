// The app's per-channel blocks (demo/scale-blocks.ts): for every weight of a channel, the scale and zero
// point it was quantized with, checked against a brute-force walk over coordinates on random shapes, axes
// and group sizes, per tensor, per channel and per group.
import { describe, expect, it } from 'vitest';
import { channelBlocks, channelSlice } from '../../demo/scale-blocks.js';
import { reference, tensor } from '../../src/index.js';

const seed = Date.now() >>> 0;
let state = seed;
const random = () => { state = (Math.imul(state, 1664525) + 1013904223) >>> 0; return state / 2 ** 32; };
const int = (n: number) => Math.floor(random() * n);

function coordsOf(flat: number, shape: number[]): number[] {
  const out = new Array<number>(shape.length);
  for (let a = shape.length - 1; a >= 0; a--) { out[a] = flat % shape[a]!; flat = Math.floor(flat / shape[a]!); }
  return out;
}

describe('channelBlocks', () => {
  it(`gives each weight of a channel its own scale and zero point (seed ${seed})`, () => {
    for (let trial = 0; trial < 60; trial++) {
      const rank = 1 + int(3);
      const shape = Array.from({ length: rank }, () => 1 + int(7));
      const size = shape.reduce((a, b) => a * b, 1);
      const data = Float32Array.from({ length: size }, () => random() * 2 - 1);
      const x = tensor(data, shape);
      const qAxis = int(rank);
      const kind = (['tensor', 'channel', 'group'] as const)[trial % 3]!;
      const groupSize = 1 + int(4);
      const paramShape = kind === 'group' ? shape.map((d, i) => (i === qAxis ? Math.ceil(d / groupSize) : d)) : [shape[qAxis]!];
      const count = kind === 'tensor' ? 1 : paramShape.reduce((a, b) => a * b, 1);
      // Distinct scales and zero points, so a wrong block shows.
      const scales = Array.from({ length: count }, (_, i) => 0.01 * (i + 1));
      const zeroPoints = Array.from({ length: count }, (_, i) => (i % 7) - 3);
      const q = kind === 'tensor' ? reference.quantizePerTensor(x, scales[0]!, zeroPoints[0]!, 'qint8')
        : kind === 'channel' ? reference.quantizePerChannel(x, scales, zeroPoints, qAxis, 'qint8')
          : reference.quantizePerGroup(x, scales, zeroPoints, qAxis, groupSize, 'qint8');
      const axis = int(rank);
      const channel = int(shape[axis]!);
      const { blocks, blockOf } = channelBlocks(q, axis, channel);
      const slice = channelSlice(data, shape, axis, channel);
      expect(blockOf.length).toBe(slice.length);
      let k = 0;
      const seen = new Set<number>();
      for (let flat = 0; flat < size; flat++) {
        const c = coordsOf(flat, shape);
        if (c[axis] !== channel) continue;
        expect(slice[k]).toBe(data[flat]);
        let param = 0;
        if (kind === 'channel') param = c[qAxis]!;
        if (kind === 'group') {
          let stride = 1;
          for (let a = rank - 1; a >= 0; a--) { param += (a === qAxis ? Math.floor(c[a]! / groupSize) : c[a]!) * stride; stride *= paramShape[a]!; }
        }
        const block = blocks[blockOf[k]!]!;
        expect(block.scale, `${kind} ${shape} axis ${axis} channel ${channel} element ${flat}`).toBeCloseTo(scales[param]!, 12);
        expect(block.zeroPoint).toBe(zeroPoints[param]);
        if (kind === 'group') {
          expect(c[qAxis]!).toBeGreaterThanOrEqual(block.from!);
          expect(c[qAxis]!).toBeLessThanOrEqual(block.to!);
        }
        seen.add(param);
        k++;
      }
      expect(blocks.length).toBe(seen.size);
    }
  });
});
