// Fuzz: 100 seeded mutations of the real Silero VAD file, and 2000 of a small model from a fresh seed
// (printed; WEBGPU_QUANT_FUZZ_SEED replays it): bit flips, truncations, edits of real protobuf length fields,
// inserted and deleted bytes. Each mutant is decoded, every float weight read, and some compressed and
// their output decoded again. The only errors allowed are typed ones; anything else fails with the
// iteration, mutation and seed to replay, and saves the input for the corpus of past failures
// (test/fixtures/corpus/onnx/), which is replayed every run.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import onnxProto from 'onnx-proto';
import { expect, it } from 'vitest';
import { compressOnnx } from '../../src/compress/compress-onnx.js';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';
import { classify, corpus, fuzzSeed, kSeedVariable, saveFailure } from './fuzz-support.js';
import { rng } from './support.js';

const kModelPath = createRequire(import.meta.url).resolve('@ricky0123/vad-web/dist/silero_vad_legacy.onnx');
const kIterations = 100;
const kSeed = 0x0badf00d;
const kFreshIterations = 2000;
const { onnx } = onnxProto;

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

/** One mutation of `original` (kind by `iteration`): bit flips, truncation, a real length field edited, a byte inserted or deleted. */
function mutate(original: Uint8Array, fields: Array<[number, number]>, iteration: number, next: () => number): { bytes: Uint8Array; mutation: string } {
  const pick = (n: number) => Math.floor(next() * n);
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
    bytes = splice(bytes, at, size, encodeVarint(value));
    mutation = `length field at ${at}: ${old} -> ${value}`;
  } else {
    const at = pick(bytes.length);
    bytes = next() < 0.5 ? splice(bytes, at, 0, [pick(256)]) : splice(bytes, at, 1, []);
    mutation = `byte inserted or deleted at ${at}`;
  }
  return { bytes, mutation };
}

/** Decodes, reads every float weight and, when `compress`, compresses and decodes the output: 'valid', or the error. */
async function exercise(bytes: Uint8Array, compress: boolean): Promise<'valid' | unknown> {
  try {
    const model = OnnxModel.decode(bytes, { name: 'mutant.onnx' });
    for (const w of model.list()) if (w.dtype === 'float32' || w.dtype === 'float16') await model.readFloat32(w.name);
    if (compress) OnnxModel.decode((await compressOnnx(bytes, {}, { backend: 'cpu' })).model);
    return 'valid';
  } catch (error) {
    return error;
  }
}

/** Mutates `original` `iterations` times from `seed`; throws at the first untyped error, saying how to replay it. */
async function fuzz(original: Uint8Array, seed: number, iterations: number, compressEvery: number): Promise<{ valid: number; typed: number; compressed: number; seconds: number }> {
  const fields: Array<[number, number]> = [];
  expect(lengthFields(original, 0, original.length, fields)).toBe(true);
  const next = rng(seed);
  const started = performance.now();
  const outcomes = { valid: 0, typed: 0, compressed: 0, seconds: 0 };
  for (let iteration = 0; iteration < iterations; iteration++) {
    const { bytes, mutation } = mutate(original, fields, iteration, next);
    const compress = iteration % compressEvery === 0;
    const outcome = await exercise(bytes, compress);
    if (outcome === 'valid') {
      outcomes.valid++;
      if (compress) outcomes.compressed++;
    } else if (classify(outcome) === 'typed') {
      outcomes.typed++;
    } else {
      throw new Error(`iteration ${iteration} (${mutation}, seed 0x${seed.toString(16)}) threw ${String(outcome)}; `
        + saveFailure('onnx', seed, iteration, bytes), { cause: outcome });
    }
  }
  outcomes.seconds = (performance.now() - started) / 1000;
  return outcomes;
}

/** A small valid model (Conv, MatMul, Add; float32 raw and listed data, float16, int64): cheap to mutate thousands of times. */
function smallModel(seed: number): Uint8Array {
  const next = rng(seed);
  const floats = (n: number) => Float32Array.from({ length: n }, () => next() * 2 - 1);
  const raw = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  // Copied out of the Buffer protobufjs returns: Buffer.slice() shares memory, and each mutation must start clean.
  return Uint8Array.from(onnx.ModelProto.encode({
    irVersion: 7, opsetImport: [{ domain: '', version: 13 }], producerName: 'fuzz',
    graph: {
      name: 'small',
      input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: 3 }, { dimValue: 8 }, { dimValue: 8 }] } } } }],
      output: [{ name: 'y', type: { tensorType: { elemType: 1 } } }],
      node: [
        { opType: 'Conv', input: ['x', 'conv.weight', 'conv.bias'], output: ['c'], name: 'conv', attribute: [{ name: 'pads', type: 7, ints: [1, 1, 1, 1] }] },
        { opType: 'Reshape', input: ['c', 'flat.shape'], output: ['f'], name: 'flat' },
        { opType: 'MatMul', input: ['f', 'fc.weight'], output: ['m'], name: 'fc' },
        { opType: 'Add', input: ['m', 'fc.bias'], output: ['y'], name: 'bias' },
      ],
      initializer: [
        { name: 'conv.weight', dataType: 1, dims: [8, 3, 3, 3], rawData: raw(floats(216)) },
        { name: 'conv.bias', dataType: 1, dims: [8], floatData: Array.from(floats(8)) },
        { name: 'flat.shape', dataType: 7, dims: [2], int64Data: [1, 512] },
        { name: 'fc.weight', dataType: 1, dims: [512, 16], rawData: raw(floats(512 * 16)) },
        { name: 'fc.bias', dataType: 10, dims: [16], rawData: raw(Uint16Array.from({ length: 16 }, () => 0x3c00 + Math.floor(next() * 0x300))) },
      ],
    },
  }).finish());
}

it(`${kIterations} seeded mutations of the real model give typed errors or valid results`, async () => {
  const outcomes = await fuzz(new Uint8Array(readFileSync(kModelPath)), kSeed, kIterations, 25);
  console.log(`onnx fuzz (real model): ${JSON.stringify(outcomes)}`);
  expect(outcomes.valid + outcomes.typed).toBe(kIterations);
  expect(outcomes.typed).toBeGreaterThan(kIterations / 6); // the mutations do break files
  expect(outcomes.valid).toBeGreaterThan(kIterations / 10); // and some leave a valid model to compress
  expect(outcomes.seconds).toBeLessThan(30);
}, 60_000);

it(`${kFreshIterations} mutations of a small model from a fresh seed (printed; ${kSeedVariable} replays it) give typed errors or valid results`, async () => {
  const seed = fuzzSeed('onnx');
  const model = smallModel(seed);
  expect(await exercise(model, true)).toBe('valid');
  const outcomes = await fuzz(model, seed, kFreshIterations, 100);
  console.log(`onnx fuzz (small model): ${JSON.stringify(outcomes)}`);
  expect(outcomes.valid + outcomes.typed).toBe(kFreshIterations);
  expect(outcomes.typed, `seed 0x${seed.toString(16)}`).toBeGreaterThan(kFreshIterations / 10);
  expect(outcomes.seconds).toBeLessThan(20);
}, 60_000);

it('every file in the corpus of past failures gives a valid result or a typed error', async () => {
  const files = corpus('onnx');
  expect(files.length).toBeGreaterThan(0);
  for (const [name, bytes] of files) {
    const outcome = await exercise(bytes, true);
    expect(outcome === 'valid' || classify(outcome) === 'typed' ? 'ok' : `${name}: ${String(outcome)}`).toBe('ok');
  }
});
