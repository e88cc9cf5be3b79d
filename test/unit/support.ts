// Helpers shared by the unit tests: a seeded PRNG, exact comparisons that list at most 10 mismatches
// (index, expected, actual), and a typed reader for the PyTorch fixture.
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { InvalidArgumentError, type QDType } from '../../src/index.js';
import type { ErrorStats } from '../../src/stats/types.js';

export { RUN_SEED, rng } from '../shared/random.js';

/** `n` float32 values, normal(0, sigma), from `next`. */
export function normalData(n: number, next: () => number, sigma = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(next(), 1e-12);
    out[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next()) * sigma;
  }
  return out;
}

/**
 * `n` random weights from `next` for the kernels' edge cases: ±0, ties at k + 0.5 of `scale`, and values up to
 * 200 steps of `scale` (past an 8-bit grid).
 */
export function tieWeights(n: number, scale: number, next: () => number): Float32Array {
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = next();
    data[i] = r < 0.02 ? (next() < 0.5 ? 0 : -0) : r < 0.2 ? (Math.floor(next() * 300) - 150 + 0.5) * scale : (next() * 2 - 1) * 200 * scale;
  }
  return data;
}

/** Random weights of `shape` with rows and columns of very different ranges, signed zeros and an all-zero column. */
export function rangedWeights(shape: number[], next: () => number): Float32Array {
  const rowLength = shape.slice(1).reduce((a, b) => a * b, 1);
  const rowScale = Array.from({ length: shape[0]! }, () => 0.01 + 3 * next() ** 2);
  const colScale = Array.from({ length: rowLength }, () => 0.1 + next());
  return Float32Array.from({ length: shape[0]! * rowLength }, (_, i) => {
    const c = i % rowLength;
    if (c === 1) return 0; // an all-zero column
    if (c === 2) return next() < 0.5 ? -0 : 0; // a column of signed zeros
    if (c === 3 && Math.floor(i / rowLength) % 3 === 0) return -0;
    return (next() * 2 - 1) ** 3 * rowScale[Math.floor(i / rowLength)]! * colScale[c]!;
  });
}

/** Bits of a float32, so that -0 / +0 and NaN payloads compare exactly. */
export function f32Bits(x: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, x, true);
  return view.getUint32(0, true);
}

/**
 * Mismatches between two arrays, as text lines: at most 10 rows of `[index] expected E, got A`, plus a
 * count. Equal when `Object.is` holds and, with `bits`, the float32 bit patterns also agree.
 * Returns '' when they match.
 */
export function mismatches(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, bits = false): string {
  if (actual.length !== expected.length) return `${what}: length ${actual.length}, expected ${expected.length}`;
  const rows: string[] = [];
  let total = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const a = actual[i]!;
    if (!Object.is(a, e) || (bits && f32Bits(a) !== f32Bits(e))) {
      total++;
      if (rows.length < 10) {
        const show = (v: number) => (Object.is(v, -0) ? '-0' : String(v)) + (bits ? ` (0x${f32Bits(v).toString(16)})` : '');
        rows.push(`  [${i}] expected ${show(e)}, got ${show(a)}`);
      }
    }
  }
  if (!total) return '';
  return `${what}: ${total} of ${expected.length} differ${total > rows.length ? ` (first ${rows.length})` : ''}\n${rows.join('\n')}`;
}

/** Fails with the mismatch table unless `actual` equals `expected` element for element (Object.is). */
export function expectExact(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  const text = mismatches(actual, expected, what);
  expect(text, text).toBe('');
}

/** Fails unless two float32 arrays agree bit for bit. */
export function expectBits(actual: Float32Array, expected: Float32Array, what: string): void {
  const text = mismatches(actual, expected, what, true);
  expect(text, text).toBe('');
}

/** What an expected InvalidArgumentError looks like. */
export interface Rejection {
  /** The exact `.argument`. */
  argument: string;
  /** The offending value: compared with `Object.is` (or `toEqual` for arrays and objects). */
  value: unknown;
  /** Substrings the message must contain besides the argument name (usually the value as text). */
  mentions: string[];
  /** How the message names the argument, when not by `argument` itself (e.g. `'qScale()'`). */
  named?: string;
}

function checkRejection(error: unknown, want: Rejection): void {
  expect(error).toBeInstanceOf(InvalidArgumentError);
  const e = error as InvalidArgumentError;
  expect(e.name).toBe('InvalidArgumentError');
  expect(e.argument).toBe(want.argument);
  if (want.value !== null && typeof want.value === 'object') expect(e.value).toEqual(want.value);
  else expect(Object.is(e.value, want.value), `.value is ${String(e.value)}, expected ${String(want.value)}`).toBe(true);
  expect(e.message).toContain(want.named ?? want.argument);
  for (const text of want.mentions) expect(e.message).toContain(text);
}

/** Runs `fn`, which must throw synchronously an InvalidArgumentError matching `want`. */
export function expectInvalid(fn: () => unknown, want: Rejection): void {
  let thrown: unknown;
  try { fn(); } catch (error) { thrown = error; }
  expect(thrown, 'expected a synchronous throw').toBeDefined();
  checkRejection(thrown, want);
}

/** Awaits `promise`, which must reject with an InvalidArgumentError matching `want`. */
export async function expectInvalidAsync(promise: () => Promise<unknown>, want: Rejection): Promise<void> {
  let thrown: unknown;
  try { await promise(); } catch (error) { thrown = error; }
  expect(thrown, 'expected a rejection').toBeDefined();
  checkRejection(thrown, want);
}

// ---------------------------------------------------------------------------------------------------
// The PyTorch fixture (test/fixtures/torch-quantize.json, written by generate_torch_fixtures.py).

import type { FixtureFloat } from '../shared/fixture-types.js';

export type { FixtureFloat };

interface CaseBase { name: string; dtype: QDType; shape: number[]; int_repr: number[]; dequantize: FixtureFloat[] }
export interface QuantizePerTensorCase extends CaseBase {
  op: 'quantize_per_tensor'; input: FixtureFloat[]; scale: FixtureFloat; zero_point: number;
  q_scale: FixtureFloat; q_zero_point: number;
}
export interface QuantizePerChannelCase extends CaseBase {
  op: 'quantize_per_channel'; input: FixtureFloat[]; scales: FixtureFloat[]; zero_points: number[]; axis: number;
  q_per_channel_scales: FixtureFloat[]; q_per_channel_zero_points: number[];
}
export interface DequantizePerTensorCase extends CaseBase { op: 'dequantize_per_tensor'; scale: FixtureFloat; zero_point: number }
export interface DequantizePerChannelCase extends CaseBase {
  op: 'dequantize_per_channel'; scales: FixtureFloat[]; zero_points: number[]; axis: number;
}
export type FixtureCase = QuantizePerTensorCase | QuantizePerChannelCase | DequantizePerTensorCase | DequantizePerChannelCase;

export interface Fixture { generator: string; torch: string; engine: string; cases: FixtureCase[] }

/** Reads the fixture file. */
export function loadFixture(): Fixture {
  const text = readFileSync(new URL('../fixtures/torch-quantize.json', import.meta.url), 'utf8');
  return JSON.parse(text) as Fixture;
}

/** Decodes one fixture float. */
export function decodeFloat(v: FixtureFloat): number {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  throw new Error(`fixture float ${JSON.stringify(v)} is neither a number nor NaN / Infinity / -Infinity`);
}

/** Decodes a list of fixture floats into float64 numbers. */
export function decodeFloats(vs: FixtureFloat[]): number[] {
  return vs.map(decodeFloat);
}

/** Decodes a list of fixture floats that hold float32 values into a Float32Array, checking each is one. */
export function decodeFloat32s(vs: FixtureFloat[], what: string): Float32Array {
  const out = new Float32Array(vs.length);
  vs.forEach((v, i) => {
    const x = decodeFloat(v);
    if (!Number.isNaN(x) && !Object.is(Math.fround(x), x)) throw new Error(`${what}[${i}] = ${x} is not a float32 value`);
    out[i] = x;
  });
  return out;
}

/** Every number of two ErrorStats equal under Object.is; the per-index arrays compared as arrays (fast). */
export function expectSameStats(actual: ErrorStats, expected: ErrorStats, what: string): void {
  const { perChannel: a1, perGroup: a2, ...actualRest } = actual;
  const { perChannel: e1, perGroup: e2, ...expectedRest } = expected;
  expect(actualRest, what).toStrictEqual(expectedRest);
  for (const [a, e, name] of [[a1, e1, 'perChannel'], [a2, e2, 'perGroup']] as const) {
    expect(a === undefined, `${what} ${name}`).toBe(e === undefined);
    if (!a || !e) continue;
    for (const key of ['mse', 'maxAbsError', 'sqnrDb', 'cosine', 'clipFraction', 'count'] as const) expectExact(a[key], e[key], `${what} ${name}.${key}`);
  }
}
