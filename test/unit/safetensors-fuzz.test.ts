// Fuzzing the safetensors reader: a valid file (float tensors, a quantized tensor, and bytes of a real ONNX
// model as payload) is mutated 2000 times with a fixed seed and 2000 times with a fresh one (printed;
// WEBGPU_QUANT_FUZZ_SEED replays it): bit flips, truncations, header-length edits, JSON field edits,
// inserted bytes. Every outcome must be a valid reader whose tensors read back at their stated sizes, or a
// typed error: never another error type, and never a hang (the whole run is bounded). The corpus of files
// that once failed (test/fixtures/corpus/safetensors/) is replayed every run.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  bytesSource, openSafetensors, parseShardIndex, quantizedEntries, quantizedFileMetadata, readQuantizedSafetensors, serializeSafetensors,
} from '../../src/io/safetensors/index.js';
import { FormatError } from '../../src/errors.js';
import { toFloat32 } from '../../src/io/float-convert.js';
import { reference, tensor } from '../../src/index.js';
import { classify, corpus, fuzzSeed, kSeedVariable, saveFailure } from './fuzz-support.js';
import { normalData, rng } from './support.js';

const kSeed = 0x5afe7e25;
const kIterations = 2000;
const onnx = readFileSync(new URL('../../node_modules/@ricky0123/vad-web/dist/silero_vad_legacy.onnx', import.meta.url));

async function baseFile(): Promise<Uint8Array> {
  const next = rng(kSeed);
  const weight = tensor(normalData(48, next), [6, 8]);
  const q = reference.quantizePerGroup(weight, Array.from({ length: 12 }, () => 0.05), new Array(12).fill(0), 1, 4, 'qint4');
  const parts = quantizedEntries('layer.weight', q, { originalDType: 'F32' });
  const onnxFloats = new Float32Array(onnx.buffer.slice(onnx.byteOffset + 4096, onnx.byteOffset + 4096 + 256));
  return serializeSafetensors([
    ...parts.tensors,
    { name: 'layer.bias', dtype: 'F32', shape: [6], data: normalData(6, next) },
    { name: 'onnx.floats', dtype: 'F32', shape: [8, 8], data: onnxFloats },
    { name: 'onnx.bytes', dtype: 'U8', shape: [512], data: onnx.subarray(0, 512) },
    { name: 'half', dtype: 'BF16', shape: [2, 2], data: Uint16Array.of(0x3f80, 0xbf80, 0x7f80, 0x0001) },
    { name: 'empty', dtype: 'I64', shape: [0, 3], data: new BigInt64Array(0) },
  ], quantizedFileMetadata([parts.metadata], { producer: 'fuzz' }));
}

type Mutation = { label: string; bytes: Uint8Array };

function headerOf(file: Uint8Array): { n: number; json: Record<string, unknown> } {
  const n = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
  return { n, json: JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + n))) as Record<string, unknown> };
}

/** Re-encodes a header (padded) in front of the original data region. */
function withHeader(file: Uint8Array, n: number, json: unknown): Uint8Array {
  let text = new TextEncoder().encode(JSON.stringify(json));
  text = Uint8Array.from([...text, ...new Array((8 - (text.length % 8)) % 8).fill(0x20)]);
  const data = file.subarray(8 + n);
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

const kOddValues: unknown[] = [-1, 0, 1, 3, 1.5, 2 ** 31, 2 ** 53, 2 ** 64, -0, '4', null, true, [], {}, [1, 2], 'F32', 'X9', 1e308];

function mutate(file: Uint8Array, next: () => number): Mutation {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const { n, json } = headerOf(file);
  const kind = Math.floor(next() * 6);
  if (kind === 0) { // bit flips, mostly in the length and header
    const out = file.slice();
    const flips = 1 + Math.floor(next() * 8);
    for (let i = 0; i < flips; i++) {
      const at = next() < 0.8 ? Math.floor(next() * (8 + n)) : Math.floor(next() * out.length);
      out[at]! ^= 1 << Math.floor(next() * 8);
    }
    return { label: `${flips} bit flips`, bytes: out };
  }
  if (kind === 1) {
    const length = Math.floor(next() * file.length);
    return { label: `truncated to ${length}`, bytes: file.slice(0, length) };
  }
  if (kind === 2) { // header length edits
    const out = file.slice();
    const value = pick([0n, 1n, 7n, BigInt(n - 1), BigInt(n + 1), BigInt(n + 8), BigInt(file.length), 100_000_001n, 2n ** 32n, 2n ** 63n, BigInt(Math.floor(next() * 2 ** 40))]);
    new DataView(out.buffer).setBigUint64(0, value, true);
    return { label: `header length ${value}`, bytes: out };
  }
  if (kind === 3) { // insert or overwrite random bytes
    const at = Math.floor(next() * file.length);
    const noise = onnx.subarray(Math.floor(next() * (onnx.length - 64)), undefined).subarray(0, 1 + Math.floor(next() * 32));
    const out = next() < 0.5 ? Uint8Array.from([...file.subarray(0, at), ...noise, ...file.subarray(at)]) : file.slice();
    if (out.length === file.length) out.set(noise.subarray(0, Math.max(0, out.length - at)), at);
    return { label: `noise at ${at}`, bytes: out };
  }
  // JSON field edits (kinds 4 and 5), re-encoded with a correct length
  const names = Object.keys(json);
  const name = pick(names);
  const entry = json[name] as Record<string, unknown>;
  const edited = structuredClone(json) as Record<string, Record<string, unknown>>;
  const target = edited[name]!;
  const choice = Math.floor(next() * 9);
  let label: string;
  if (name === '__metadata__') {
    const key = pick(Object.keys(entry));
    if (key.startsWith('webgpu_quant.') && choice < 6) {
      const meta = JSON.parse(entry[key] as string) as Record<string, unknown>;
      const field = pick(['dtype', 'scheme', 'axis', 'group_size', 'shape', 'original_dtype', 'scale_dtype', '__proto__']);
      meta[field] = pick([...kOddValues, 'qint8', 'quint4', 'per_tensor_affine', 'per_channel_affine', [6, 8], [8, 6], [48], 'F16']);
      target[key] = JSON.stringify(meta);
      label = `metadata ${key}.${field}`;
    } else {
      target[pick([key, '__proto__', 'format'])] = pick(kOddValues) as string;
      label = `metadata ${key}`;
    }
  } else if (choice === 1) {
    edited[name] = pick(kOddValues) as Record<string, unknown>;
    label = `${name} replaced`;
  } else if (choice === 0) {
    delete edited[name];
    edited[pick(['__proto__', 'constructor', `${name}.x`, ''])] = target;
    label = `renamed ${name}`;
  } else {
    const field = pick(['dtype', 'shape', 'data_offsets', 'extra']);
    if (field === 'shape' && Array.isArray(target.shape) && target.shape.length && next() < 0.5) {
      (target.shape as unknown[])[Math.floor(next() * target.shape.length)] = pick(kOddValues);
    } else if (field === 'data_offsets' && next() < 0.6) {
      const offsets = target.data_offsets as number[];
      offsets[Math.floor(next() * 2)] += pick([-8, -4, -1, 1, 2, 4, 8, 2 ** 40]);
    } else if (next() < 0.2) {
      delete target[field];
    } else {
      target[field] = pick([...kOddValues, 'U8', 'I32', 'BF16', 'F4', [2], [0, 8], [1, 2, 3]]);
    }
    label = `${name}.${field}`;
  }
  return { label, bytes: withHeader(file, n, edited) };
}

/** Opens and reads everything; returns 'valid' or 'typed' (an error webgpu-quant throws on purpose), or the unexpected error. */
async function exercise(bytes: Uint8Array): Promise<'valid' | 'typed' | Error> {
  try {
    const reader = await openSafetensors(bytesSource(bytes, 'fuzzed.safetensors'));
    for (const info of reader.list()) {
      const data = await reader.read(info.name);
      if (data.byteLength !== info.byteLength) return new Error(`${info.name}: read ${data.byteLength} bytes, stated ${info.byteLength}`);
      if (info.dtype === 'float32' || info.dtype === 'bfloat16' || info.dtype === 'float16' || info.dtype === 'float64') {
        toFloat32(data, info.dtype, info.name);
      }
    }
    await readQuantizedSafetensors(reader);
    return 'valid';
  } catch (error) {
    return classify(error);
  }
}

/** `iterations` mutations from `seed`: the outcome counts and up to 10 unexpected errors, each with how to replay it. */
async function fuzz(base: Uint8Array, seed: number, iterations: number): Promise<{ valid: number; typed: number; unexpected: string[]; seconds: number }> {
  const next = rng(seed);
  const result = { valid: 0, typed: 0, unexpected: [] as string[], seconds: 0 };
  const started = performance.now();
  for (let i = 0; i < iterations; i++) {
    const { label, bytes } = mutate(base, next);
    const outcome = await exercise(bytes);
    if (outcome instanceof Error) {
      if (result.unexpected.length < 10) {
        result.unexpected.push(`#${i} ${label} (seed 0x${seed.toString(16)}): ${outcome.name}: ${outcome.message}; ${saveFailure('safetensors', seed, i, bytes)}`);
      }
    } else {
      result[outcome]++;
    }
  }
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

describe('safetensors fuzz', () => {
  it(`${kIterations} seeded mutations (seed ${kSeed.toString(16)}) give only valid results or typed errors`, async () => {
    const base = await baseFile();
    expect(await exercise(base)).toBe('valid');
    const { valid, typed, unexpected, seconds } = await fuzz(base, kSeed, kIterations);
    expect(unexpected, unexpected.join('\n')).toEqual([]);
    // Both outcomes occur: the mutations reach the validation paths and also leave valid files.
    expect(typed).toBeGreaterThan(kIterations / 2);
    expect(valid).toBeGreaterThan(20);
    expect(seconds).toBeLessThan(20);
  }, 30_000);

  it(`${kIterations} mutations from a fresh seed (printed; ${kSeedVariable} replays it) give only valid results or typed errors`, async () => {
    const seed = fuzzSeed('safetensors');
    const { valid, typed, unexpected, seconds } = await fuzz(await baseFile(), seed, kIterations);
    expect(unexpected, unexpected.join('\n')).toEqual([]);
    expect(valid + typed).toBe(kIterations);
    expect(typed, `seed 0x${seed.toString(16)}`).toBeGreaterThan(kIterations / 4);
    expect(seconds).toBeLessThan(20);
  }, 30_000);

  it('every file in the corpus of past failures gives a valid result or a typed error', async () => {
    const files = corpus('safetensors');
    expect(files.length).toBeGreaterThan(0);
    for (const [name, bytes] of files) {
      const outcome = await exercise(bytes);
      expect(outcome instanceof Error ? `${name}: ${outcome.name}: ${outcome.message}` : 'ok').toBe('ok');
    }
  });

  it('mutated shard indexes give a ShardIndex or a FormatError', () => {
    const text = JSON.stringify({ metadata: { total_size: 10 }, weight_map: { a: 'm-1.safetensors', b: 'm-2.safetensors' } });
    const next = rng(kSeed + 1);
    let formatErrors = 0;
    for (let i = 0; i < 500; i++) {
      const bytes = new TextEncoder().encode(text);
      for (let f = 0; f < 1 + Math.floor(next() * 3); f++) bytes[Math.floor(next() * bytes.length)]! ^= 1 << Math.floor(next() * 8);
      try {
        const parsed = parseShardIndex(bytes.subarray(0, next() < 0.2 ? Math.floor(next() * bytes.length) : bytes.length));
        for (const file of parsed.weightMap.values()) expect(typeof file).toBe('string');
      } catch (error) {
        expect(error, String(error)).toBeInstanceOf(FormatError);
        formatErrors++;
      }
    }
    expect(formatErrors).toBeGreaterThan(100);
  });
});
