// unpackNibbles: a bad count or too little data is a typed InvalidArgumentError naming `count`, never a
// RangeError from the typed-array constructor and never zeros made up to fill the gap.
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { packNibbles, packNibblesInto, unpackNibbles, unpackNibblesInto } from '../../src/pack-nibbles.js';
import { RUN_SEED, expectExact, rng } from './support.js';

function expectCountError(action: () => unknown, message: RegExp): void {
  let caught: unknown;
  try {
    action();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(InvalidArgumentError);
  expect((caught as InvalidArgumentError).argument).toBe('count');
  expect((caught as Error).message).toMatch(message);
}

describe('unpackNibbles', () => {
  it('a count that is negative, fractional, not a number or astronomically large', () => {
    const bytes = Uint8Array.of(0x21, 0x43);
    for (const count of [-1, 1.5, Number.NaN, Infinity, 2 ** 53]) {
      expectCountError(() => unpackNibbles(bytes, count, true), /^unpackNibbles: count .* must be a non-negative integer/);
    }
    expectCountError(() => unpackNibbles(bytes, 2 ** 40, false), /^unpackNibbles: 1099511627776 values need 549755813888 bytes, the data has 2/);
  });

  it('more values than the data holds is an error, not zero padding', () => {
    expectCountError(() => unpackNibbles(Uint8Array.of(0x21, 0x43), 5, true), /5 values need 3 bytes, the data has 2/);
    expectCountError(() => unpackNibbles(new Uint8Array(0), 1, false), /1 values need 1 bytes, the data has 0/);
  });

  it('exact counts still unpack, including odd counts, zero, and more data than needed', () => {
    const next = rng(RUN_SEED);
    const values = Int8Array.from({ length: 33 }, () => Math.floor(next() * 16) - 8);
    const packed = packNibbles(values);
    expectExact(unpackNibbles(packed, 33, true), values, `qint4 n=33 seed=${RUN_SEED}`);
    expectExact(unpackNibbles(packed, 32, true), values.subarray(0, 32), 'qint4 n=32 from 17 bytes');
    expect(unpackNibbles(packed, 0, false)).toEqual(new Uint8Array(0));
    expectExact(unpackNibbles(Uint8Array.of(0xf8), 2, true), Int8Array.of(-8, -1), 'sign extension');
  });

  it('unpackNibblesInto writes the same values at any offset, even or odd, and nothing outside its range', () => {
    const next = rng(RUN_SEED + 5);
    for (const signed of [true, false]) {
      for (const count of [0, 1, 2, 7, 32, 101]) {
        const bytes = Uint8Array.from({ length: Math.ceil(count / 2) + 1 }, () => Math.floor(next() * 256));
        const expected = unpackNibbles(bytes, count, signed);
        for (const offset of [0, 1, 2, 3]) {
          const out = signed ? new Int8Array(count + 6).fill(99) : new Uint8Array(count + 6).fill(99);
          unpackNibblesInto(bytes, count, signed, out, offset);
          expectExact(out.subarray(offset, offset + count), expected, `${signed ? 'signed' : 'unsigned'} count ${count} offset ${offset}`);
          expect([...out.subarray(0, offset), ...out.subarray(offset + count)].every((v) => v === 99)).toBe(true);
        }
      }
    }
  });
});

/** One element at a time, as the definition reads: element i in the low nibble of byte i / 2 when i is even. */
function oraclePack(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(Math.ceil(values.length / 2));
  for (let i = 0; i < values.length; i++) out[i >> 1]! |= (values[i]! & 0xf) << (4 * (i & 1));
  return out;
}
function oracleUnpack(bytes: Uint8Array, count: number, signed: boolean): number[] {
  return Array.from({ length: count }, (_, i) => {
    const v = (bytes[i >> 1]! >> (4 * (i & 1))) & 0xf;
    return signed && v > 7 ? v - 16 : v;
  });
}

describe('packing and unpacking eight elements per step', () => {
  it('every byte value, signed and unsigned, through the word path and the byte path', () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, b) => b);
    for (const signed of [true, false]) {
      const unpacked = unpackNibbles(bytes, 512, signed);
      expectExact(unpacked, oracleUnpack(bytes, 512, signed), `${signed ? 'qint4' : 'quint4'} all bytes, aligned`);
      expectExact(packNibbles(unpacked), bytes, `${signed ? 'qint4' : 'quint4'} all bytes packed back`);
      const out = signed ? new Int8Array(513) : new Uint8Array(513);
      unpackNibblesInto(bytes.subarray(1), 510, signed, out, 3); // neither side on a word boundary
      expectExact(out.subarray(3), oracleUnpack(bytes.subarray(1), 510, signed), `${signed ? 'qint4' : 'quint4'} all bytes, unaligned`);
    }
  });

  it('random values at every length up to 41 and around word boundaries, at aligned and unaligned places', () => {
    const next = rng(RUN_SEED + 11);
    for (const signed of [true, false]) {
      for (let n = 0; n <= 41; n++) {
        const what = `${signed ? 'qint4' : 'quint4'} n=${n} seed=${RUN_SEED + 11}`;
        const source = signed ? Int8Array.from({ length: n + 8 }, () => Math.floor(next() * 16) - 8)
          : Uint8Array.from({ length: n + 8 }, () => Math.floor(next() * 16));
        for (const start of [0, 1, 4, 5]) {
          const values = source.subarray(start, start + n);
          const expected = oraclePack(values);
          for (const outOffset of [0, 1, 4]) {
            const out = new Uint8Array(expected.length + 8).fill(0xcc);
            packNibblesInto(source, start, n, out, outOffset);
            expectExact(out.subarray(outOffset, outOffset + expected.length), expected, `${what} pack start ${start} at ${outOffset}`);
            expect([...out.subarray(0, outOffset), ...out.subarray(outOffset + expected.length)].every((v) => v === 0xcc)).toBe(true);
          }
          expectExact(packNibbles(Array.from(values)), expected, `${what} pack from a plain array`);
          expectExact(unpackNibbles(expected, n, signed), values, `${what} unpack`);
        }
      }
    }
  });

  it('a long run in the word path round-trips (one int per element, 2^16 + 13 elements)', () => {
    const next = rng(RUN_SEED + 12);
    const n = 2 ** 16 + 13;
    const values = Int8Array.from({ length: n }, () => Math.floor(next() * 16) - 8);
    const packed = packNibbles(values);
    expectExact(packed, oraclePack(values), `qint4 n=${n} seed=${RUN_SEED + 12} packed`);
    expectExact(unpackNibbles(packed, n, true), values, `qint4 n=${n} seed=${RUN_SEED + 12} unpacked`);
  });
});
