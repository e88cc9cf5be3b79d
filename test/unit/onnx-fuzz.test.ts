// Fuzz: 300 seeded mutations of the real Silero VAD file (bit flips, truncations, edits of real protobuf
// length fields, inserted and deleted bytes). Each mutant is decoded, every float weight read, and every
// 10th one compressed and its output decoded again. The only error allowed is FormatError; anything else,
// or a run over 30 s, fails with the iteration and mutation to replay.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { expect, it } from 'vitest';
import { compressOnnx } from '../../src/compress/compress-onnx.js';
import { FormatError } from '../../src/errors.js';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';
import { rng } from './support.js';

const kModelPath = createRequire(import.meta.url).resolve('@ricky0123/vad-web/dist/silero_vad_legacy.onnx');
const kIterations = 300;
const kSeed = 0x0badf00d;

/** Reads a varint at `pos`: [value, next position], or undefined past the end. */
function varint(bytes: Uint8Array, pos: number): [number, number] | undefined {
  let value = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    if (pos >= bytes.length) return undefined;
    const b = bytes[pos++]!;
    value += (b & 0x7f) * 2 ** shift;
    if (!(b & 0x80)) return [value, pos];
  }
  return undefined;
}

/**
 * Positions of the length varints of length-delimited fields, found by walking the protobuf wire format
 * and descending into every payload that parses as a message. Test scaffolding only: it just needs to
 * find real length fields to edit.
 */
function lengthFields(bytes: Uint8Array, start: number, end: number, out: Array<[number, number]>, depth = 0): boolean {
  let pos = start;
  const found: Array<[number, number]> = [];
  while (pos < end) {
    const tag = varint(bytes, pos);
    if (!tag || tag[0] >> 3 === 0) return false;
    pos = tag[1];
    const wire = tag[0] & 7;
    if (wire === 0) { const v = varint(bytes, pos); if (!v) return false; pos = v[1]; }
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const length = varint(bytes, pos);
      if (!length || length[1] + length[0] > end) return false;
      found.push([pos, length[1] - pos]);
      if (depth < 8 && length[0] > 1) lengthFields(bytes, length[1], length[1] + length[0], found, depth + 1);
      pos = length[1] + length[0];
    } else return false;
  }
  if (pos !== end) return false;
  out.push(...found);
  return true;
}

/** `bytes` with `[at, at + remove)` replaced by `insert`. */
function splice(bytes: Uint8Array, at: number, remove: number, insert: number[]): Uint8Array {
  const out = new Uint8Array(bytes.length - remove + insert.length);
  out.set(bytes.subarray(0, at));
  out.set(insert, at);
  out.set(bytes.subarray(at + remove), at + insert.length);
  return out;
}

function encodeVarint(value: number): number[] {
  const out: number[] = [];
  do {
    out.push((value % 128) | (value >= 128 ? 0x80 : 0));
    value = Math.floor(value / 128);
  } while (value > 0);
  return out;
}

it(`${kIterations} seeded mutations of the real model give FormatError or valid results`, async () => {
  const original = new Uint8Array(readFileSync(kModelPath));
  const fields: Array<[number, number]> = [];
  expect(lengthFields(original, 0, original.length, fields)).toBe(true);
  expect(fields.length).toBeGreaterThan(1000);
  const next = rng(kSeed);
  const pick = (n: number) => Math.floor(next() * n);
  const started = performance.now();
  const outcomes = { valid: 0, formatError: 0, compressed: 0 };
  for (let iteration = 0; iteration < kIterations; iteration++) {
    let bytes: Uint8Array = original.slice();
    let mutation: string;
    const kind = iteration % 5;
    if (kind === 0) {
      const flips = 1 + pick(8);
      for (let i = 0; i < flips; i++) { const at = pick(bytes.length); bytes[at]! ^= 1 << pick(8); }
      mutation = `${flips} bit flips`;
    } else if (kind === 1) {
      const length = pick(bytes.length);
      bytes = bytes.subarray(0, length);
      mutation = `truncated to ${length}`;
    } else if (kind === 2 || kind === 3) {
      const [at, size] = fields[pick(fields.length)]!;
      const old = varint(bytes, at)![0];
      const choices = [0, 1, old - 1, old + 1, old * 2, 127, 128, 2 ** 21, 2 ** 31 - 1, 2 ** 34];
      const value = Math.max(0, choices[pick(choices.length)]!);
      const encoded = encodeVarint(value);
      bytes = splice(bytes, at, size, encoded);
      mutation = `length field at ${at}: ${old} -> ${value}`;
    } else {
      const at = pick(bytes.length);
      bytes = next() < 0.5 ? splice(bytes, at, 0, [pick(256)]) : splice(bytes, at, 1, []);
      mutation = `byte inserted or deleted at ${at}`;
    }
    try {
      const model = OnnxModel.decode(bytes, { name: 'mutant.onnx' });
      for (const w of model.list()) if (w.dtype === 'float32' || w.dtype === 'float16') await model.readFloat32(w.name);
      if (iteration % 10 === 0) {
        const { model: out } = await compressOnnx(bytes, {}, { backend: 'cpu' });
        OnnxModel.decode(out);
        outcomes.compressed++;
      }
      outcomes.valid++;
    } catch (error) {
      if (!(error instanceof FormatError)) {
        throw new Error(`iteration ${iteration} (${mutation}, seed ${kSeed}) threw ${String(error)}`, { cause: error });
      }
      outcomes.formatError++;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(`onnx fuzz: ${JSON.stringify(outcomes)} in ${seconds.toFixed(1)} s`);
  expect(outcomes.valid + outcomes.formatError).toBe(kIterations);
  expect(outcomes.formatError).toBeGreaterThan(50); // the mutations do break files
  expect(outcomes.valid).toBeGreaterThan(20); // and some leave a valid model to compress
  expect(seconds).toBeLessThan(30);
});
