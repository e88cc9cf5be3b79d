// The compressor's reused float32 array: one growing array, handed out again from weight to weight.
import { describe, expect, it } from 'vitest';
import { reusedFloat32 } from '../../src/compress/weight-buffers.js';

describe('reusedFloat32', () => {
  it('one growing array: views of the same memory', () => {
    const scratch = reusedFloat32();
    const a = scratch(10);
    const b = scratch(4);
    expect(b.buffer).toBe(a.buffer);
    expect(b.length).toBe(4);
    expect(scratch(20).length).toBe(20);
  });
});
