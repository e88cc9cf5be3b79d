// The compressor's reusable float32 arrays: an array taken back is handed out again for the same element count
// only, never while it is still out, and at most `keep` free arrays are held.
import { describe, expect, it } from 'vitest';
import { float32Slots, reusedFloat32 } from '../../src/compress/weight-buffers.js';

describe('float32Slots', () => {
  it('hands an array back out for the same count only, and never twice at once', () => {
    const slots = float32Slots(4);
    const a = slots.acquire(1024);
    const b = slots.acquire(1024);
    expect(b).not.toBe(a);
    expect(a.length).toBe(1024);
    slots.release(a);
    const c = slots.acquire(512);
    expect(c).not.toBe(a);
    expect(c.length).toBe(512);
    expect(slots.acquire(1024)).toBe(a);
    expect(slots.acquire(1024)).not.toBe(a); // a is out again
  });

  it('keeps at most `keep` free arrays, dropping the oldest', () => {
    const slots = float32Slots(2);
    const arrays = [1, 2, 3].map((n) => slots.acquire(n));
    for (const array of arrays) slots.release(array);
    expect(slots.acquire(1)).not.toBe(arrays[0]); // dropped
    expect(slots.acquire(2)).toBe(arrays[1]);
    expect(slots.acquire(3)).toBe(arrays[2]);
  });
});

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
