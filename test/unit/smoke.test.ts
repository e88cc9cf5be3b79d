import { expect, it } from 'vitest';
import { quantizePerTensor, tensor } from '../../src/index.js';

it('quantizes the seed example on the CPU in Node', async () => {
  const q = await quantizePerTensor(tensor([-1.52, 0.01, 1.501, 3.0001]), 0.5, 0, 'qint8');
  expect(Array.from(q.intRepr())).toEqual([-3, 0, 3, 6]);
  expect(q.backend).toBe('cpu');
});
