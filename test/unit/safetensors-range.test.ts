// SafetensorsReader.readRangeInto: a byte range of one tensor straight into the caller's buffer, the bytes read()
// gives there; a range outside the tensor, a bad offset or a target that is not a Uint8Array is an
// InvalidArgumentError, never bytes of the next tensor.
import { describe, expect, it } from 'vitest';
import { bytesSource, openSafetensors, serializeSafetensors } from '../../src/io/safetensors/index.js';
import { RUN_SEED, expectInvalidAsync, rng } from './support.js';

async function model() {
  const next = rng(RUN_SEED);
  const a = Uint8Array.from({ length: 4 * 37 }, () => Math.floor(next() * 256));
  const b = Uint8Array.from({ length: 2 * 11 }, () => Math.floor(next() * 256));
  return openSafetensors(bytesSource(await serializeSafetensors([
    { name: 'a', dtype: 'F32', shape: [37], data: a }, { name: 'b', dtype: 'F16', shape: [11], data: b },
  ]), 'model.safetensors'));
}

describe('readRangeInto', () => {
  it('reads any range inside a tensor into the target, the bytes read() gives there', async () => {
    const reader = await model();
    const whole = await reader.read('a');
    for (const [offset, length] of [[0, 148], [0, 1], [147, 1], [13, 50], [148, 0]] as const) {
      const target = new Uint8Array(length);
      expect(await reader.readRangeInto('a', offset, target)).toBe(target);
      expect(Array.from(target)).toEqual(Array.from(whole.subarray(offset, offset + length)));
    }
    const b = new Uint8Array(22);
    await reader.readRangeInto('b', 0, b);
    expect(Array.from(b)).toEqual(Array.from(await reader.read('b')));
  });

  it('rejects a range past the tensor, a bad offset and a target that is not a Uint8Array', async () => {
    const reader = await model();
    const want = (value: unknown) => ({ argument: 'byteOffset', value, named: 'readRangeInto', mentions: ['"a"', '148 bytes'] });
    await expectInvalidAsync(() => reader.readRangeInto('a', 100, new Uint8Array(49)), want(100)); // one byte into "b"
    await expectInvalidAsync(() => reader.readRangeInto('a', -1, new Uint8Array(1)), want(-1));
    await expectInvalidAsync(() => reader.readRangeInto('a', 1.5, new Uint8Array(1)), want(1.5));
    await expectInvalidAsync(() => reader.readRangeInto('a', 0, new Float32Array(2) as unknown as Uint8Array), want(0));
  });
});
