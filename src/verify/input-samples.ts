/**
 * Inputs generated to a model's declared shapes and element types, for verification without user data:
 * seeded, so a run can be repeated. Dynamic dimensions get a size: the value given for the symbolic name
 * (or `input:axis`) in `dims`, else 1 where the dimension leads a tensor (a batch), else 256.
 * Floats are uniform in [-1, 1] (normalised images and audio live there), integers uniform in 0..9,
 * booleans fair coin flips.
 *
 * @example
 * ```ts
 * const samples = generateSamples(readModelSignature(bytes), { seeds: [1, 2, 3], dims: { sequence: 512 } });
 * samples[0].input.dims; // [1, 512]
 * ```
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { floatToHalfBits } from '../io/half.js';
import type { ModelSignature, ValueSignature } from './model-signature.js';
import { SAMPLE_ARRAYS, type Sample, type SampleTensor, isSampleDType } from './runtime.js';

/** How {@link generateSamples} fills the inputs. */
export interface GenerateOptions {
  /** One sample per seed (default `[1, 2, 3]`). */
  seeds?: number[];
  /** Sizes of dynamic dimensions, by symbolic name (`batch`) or by `input:axis` (`x:3`). */
  dims?: Record<string, number>;
}

/** The seeds used when none are given. */
export const DEFAULT_SEEDS: readonly number[] = [1, 2, 3];
/** The size of a dynamic dimension that does not lead its tensor, when none is given. */
export const DEFAULT_DYNAMIC_SIZE = 256;

/** Deterministic PRNG (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The concrete dimensions each input gets. A rank that is not declared, or a size given as non-positive, is
 * an {@link InvalidArgumentError} asking for `dims` or for the user's inputs.
 *
 * @example
 * ```ts
 * resolveInputDims(readModelSignature(bytes), { 'p2o.DynamicDimension.1': 320 }).get('x'); // [1, 3, 48, 320]
 * ```
 */
export function resolveInputDims(signature: ModelSignature, dims: Record<string, number> = {}): Map<string, number[]> {
  for (const [key, size] of Object.entries(dims)) {
    if (!Number.isSafeInteger(size) || size < 1) throw new InvalidArgumentError(`dims.${key}`, size, `dims.${key} = ${size}: use an integer >= 1`);
  }
  const leading = new Set<string>();
  for (const input of signature.inputs) if (typeof input.dims?.[0] === 'string') leading.add(input.dims[0]);
  const out = new Map<string, number[]>();
  for (const input of signature.inputs) {
    if (input.dims === undefined) {
      throw new InvalidArgumentError('inputs', input.name,
        `input '${input.name}' declares no rank, so no input can be generated for it: give inputs (a .json, .npy or .safetensors file)`);
    }
    out.set(input.name, input.dims.map((d, axis) => {
      if (typeof d === 'number') return d;
      const given = dims[`${input.name}:${axis}`] ?? (d === undefined ? undefined : dims[d]);
      if (given !== undefined) return given;
      return axis === 0 || (d !== undefined && leading.has(d)) ? 1 : DEFAULT_DYNAMIC_SIZE;
    }));
  }
  return out;
}

function fill(input: ValueSignature, dims: number[], next: () => number): SampleTensor {
  const { dtype } = input;
  if (!isSampleDType(dtype)) {
    throw new InvalidArgumentError('inputs', input.name,
      `input '${input.name}' is ${dtype}, which cannot be generated: give inputs (a .json, .npy or .safetensors file)`);
  }
  const count = dims.reduce((a, b) => a * b, 1);
  const data = new SAMPLE_ARRAYS[dtype](count);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    for (let i = 0; i < count; i++) data[i] = BigInt(Math.floor(10 * next()));
  } else {
    const value: (u: number) => number = dtype === 'float32' || dtype === 'float64' ? (u) => 2 * u - 1
      : dtype === 'float16' ? (u) => floatToHalfBits(2 * u - 1)
        : dtype === 'bool' ? (u) => (u < 0.5 ? 0 : 1)
          : (u) => Math.floor(10 * u);
    for (let i = 0; i < count; i++) data[i] = value(next());
  }
  return { dtype, dims, data };
}

/**
 * One sample per seed, every declared input filled (see the module documentation for the values).
 *
 * @example
 * ```ts
 * generateSamples(signature, { seeds: [7] })[0].sr; // { dtype: 'int64', dims: [], data: BigInt64Array [n] }
 * ```
 */
export function generateSamples(signature: ModelSignature, options: GenerateOptions = {}): Sample[] {
  const seeds = options.seeds ?? DEFAULT_SEEDS;
  if (seeds.length === 0) throw new InvalidArgumentError('seeds', seeds, 'seeds is empty: give at least one seed');
  const dims = resolveInputDims(signature, options.dims);
  return seeds.map((seed) => {
    const next = random(seed);
    return Object.fromEntries(signature.inputs.map((input) => [input.name, fill(input, dims.get(input.name)!, next)]));
  });
}
