import { it } from 'vitest';
import { expectBits, expectExact } from './support.js';
it('shows mismatches', () => {
  try { expectExact(Array.from({length: 30}, (_, i) => i), Array.from({length: 30}, (_, i) => i % 3 ? i : -i), 'ints'); } catch (e) { console.log((e as Error).message); }
  try { expectBits(Float32Array.of(0, 1, NaN), Float32Array.of(-0, 1, NaN), 'floats'); } catch (e) { console.log((e as Error).message); }
});
