// Shared by the fuzz tests: a fresh seed per run (printed; WEBGPU_QUANT_FUZZ_SEED=<seed> replays one), the
// corpus of inputs that once failed (test/fixtures/corpus/<format>/, replayed every run), and a place to
// save a new failing input so it can be added to the corpus.
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebGpuQuantError } from '../../src/errors.js';
import { RUN_SEED } from '../shared/random.js';

/** The environment variable that replays a run: `WEBGPU_QUANT_FUZZ_SEED=0x1234abcd npx vitest run ...`. */
export const kSeedVariable = 'WEBGPU_QUANT_FUZZ_SEED';

/** This run's seed for `format`: the replayed one, or a fresh one. Printed either way. */
export function fuzzSeed(format: string): number {
  const given = process.env[kSeedVariable];
  const seed = given === undefined || given === '' ? RUN_SEED : Number(given) >>> 0;
  if (given !== undefined && given !== '' && !Number.isFinite(Number(given))) throw new Error(`${kSeedVariable}=${given}: not a number`);
  console.log(`${format} fuzz seed 0x${seed.toString(16)} (replay: ${kSeedVariable}=0x${seed.toString(16)})`);
  return seed;
}

const kCorpus = fileURLToPath(new URL('../fixtures/corpus/', import.meta.url));

/** Every corpus file of `format`, as [file name, bytes]. */
export function corpus(format: 'safetensors' | 'onnx'): [string, Uint8Array][] {
  const folder = join(kCorpus, format);
  return readdirSync(folder).sort().map((name) => [name, new Uint8Array(readFileSync(join(folder, name)))]);
}

/** Saves a failing input under the temp folder and returns a line saying where, and where it belongs. */
export function saveFailure(format: 'safetensors' | 'onnx', seed: number, iteration: number, bytes: Uint8Array): string {
  const folder = join(tmpdir(), 'webgpu-quant-fuzz-failures');
  mkdirSync(folder, { recursive: true });
  const file = join(folder, `${format}-0x${seed.toString(16)}-${iteration}.${format}`);
  writeFileSync(file, bytes);
  return `saved to ${file}: once fixed, copy it into test/fixtures/corpus/${format}/`;
}

/** 'typed' for an error webgpu-quant throws on purpose, else the error itself. */
export function classify(error: unknown): 'typed' | Error {
  return error instanceof WebGpuQuantError ? 'typed' : (error instanceof Error ? error : new Error(String(error)));
}
