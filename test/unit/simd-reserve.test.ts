// The CPU kernels' scratch regions: regions that JavaScript copies pieces into or out of start half a page past
// a 4 KiB boundary of the memory (where a large array's own page offset, 0 or 16, cannot put the copy's
// destination a few dozen bytes past its source, which slows the engines' memory copy 3–5×); the others follow
// one another with no gap (the error statistics rely on their bucket regions being adjacent).
import { describe, expect, it } from 'vitest';
import { holdFloat32, scratchBoundOf, simdKernels } from '../../src/kernels/cpu/simd-module.js';
import { RUN_SEED, rng } from './support.js';

const next = rng(RUN_SEED);

describe(`simd-module reserve (seed ${RUN_SEED})`, () => {
  it('copied regions start 2048 bytes into a page and fit their size; the others are packed 16-byte aligned', () => {
    const kernels = simdKernels()!;
    for (let trial = 0; trial < 50; trial++) {
      const sizes = Array.from({ length: 2 + Math.floor(next() * 6) }, () => (next() < 0.15 ? 0 : 1 + Math.floor(next() * 70000)));
      const copied = sizes.map((_, i) => i).filter(() => next() < 0.5);
      const offsets = kernels.reserve(sizes, copied)!;
      expect(offsets).toHaveLength(sizes.length);
      for (let i = 0; i < sizes.length; i++) {
        expect(offsets[i]! % 16, `region ${i} aligned`).toBe(0);
        if (copied.includes(i) && sizes[i]! > 0) expect(offsets[i]! % 4096, `copied region ${i} of ${sizes}`).toBe(2048);
        if (i === 0) continue;
        const end = offsets[i - 1]! + Math.ceil(sizes[i - 1]! / 16) * 16;
        if (copied.includes(i) && sizes[i]! > 0) {
          expect(offsets[i]! - end, `gap before copied region ${i}`).toBeGreaterThanOrEqual(0);
          expect(offsets[i]! - end, `gap before copied region ${i}`).toBeLessThan(4096);
        } else {
          expect(offsets[i], `region ${i} follows region ${i - 1} (sizes ${sizes}, copied ${copied})`).toBe(end);
        }
      }
      expect(kernels.memory.buffer.byteLength).toBeGreaterThanOrEqual(offsets.at(-1)! + sizes.at(-1)!);
    }
    expect(kernels.reserve([100, 5000, 200])).toStrictEqual(kernels.reserve([100, 5000, 200], []));
  });

  it('a held weight\'s scratch bound leaves room for two copied regions besides the passes\' own bytes', () => {
    const kernels = simdKernels()!;
    const n = 4096 * 37;
    const slot = holdFloat32(n, scratchBoundOf(n, 37, 4096))!;
    try {
      const bytes = kernels.memory.buffer.byteLength;
      // The quantize pass over the held weight: two parameter regions, no input piece, a copied output piece.
      expect(kernels.reserve([4 * 37, 4 * 37, 0, 32768], [2, 3])).toBeDefined();
      // The error statistics over it: 8-bit integers copied in, per-channel parameters and buckets.
      expect(kernels.reserve([0, 32768, 16 * 37, 64, 64 * 4096, 0, 48], [0, 1])).toBeDefined();
      expect(kernels.memory.buffer.byteLength, 'no growth while held').toBe(bytes);
      expect(slot.data.length).toBe(n);
    } finally {
      slot.release();
    }
  });
});
