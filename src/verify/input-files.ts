/**
 * The user's inputs for verification, from bytes in one of three formats, checked against the model's
 * declared inputs (every input present, none extra, the element type and every fixed size as declared):
 * - `.json`: `{ "x": { "dims": [1, 4], "data": [...] } }` (`dtype` optional: the declared one), or a nested
 *   array in place of the object (`{ "x": [[0.1, 0.2, 0.3, 0.4]] }`), or a list of such objects, one per sample.
 * - `.npy`: one array, for a model with one input.
 * - `.safetensors`: one tensor per input, named after it.
 *
 * @example
 * ```ts
 * const samples = await parseInputSamples(readFileSync('inputs.json'), 'inputs.json', signature);
 * ```
 * @module
 */
import { FormatError, InvalidArgumentError } from '../errors.js';
import { bytesSource } from '../io/byte-source.js';
import { openSafetensors } from '../io/safetensors/reader.js';
import { describeValue, type ModelSignature } from './model-signature.js';
import { parseNpy } from './npy.js';
import { SAMPLE_ARRAYS, type Sample, type SampleDType, type SampleTensor, isSampleDType } from './runtime.js';

function fromJsonValue(value: unknown, dtype: SampleDType, where: string): SampleTensor {
  if (dtype === 'float16') throw new FormatError(`${where}: float16 inputs cannot come from JSON numbers; give an .npy or .safetensors file`);
  let dims: number[];
  let flat: unknown[];
  if (Array.isArray(value) || typeof value === 'number' || typeof value === 'boolean') {
    dims = [];
    for (let level: unknown = value; Array.isArray(level); level = level[0]) dims.push(level.length);
    flat = Array.isArray(value) ? (value as unknown[]).flat(Infinity) : [value];
  } else if (value !== null && typeof value === 'object') {
    const spec = value as { dtype?: unknown; dims?: unknown; shape?: unknown; data?: unknown };
    if (spec.dtype !== undefined && spec.dtype !== dtype) throw new FormatError(`${where}: dtype ${String(spec.dtype)}, but the model takes ${dtype}`);
    const given = spec.dims ?? spec.shape;
    if (!Array.isArray(given) || given.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new FormatError(`${where}: "dims" must be a list of sizes`);
    dims = given as number[];
    flat = Array.isArray(spec.data) ? (spec.data as unknown[]).flat(Infinity) : [spec.data];
  } else {
    throw new FormatError(`${where}: expected a number, a nested array or { "dims": [...], "data": [...] }`);
  }
  const count = dims.reduce((a, b) => a * b, 1);
  if (flat.length !== count) throw new FormatError(`${where}: ${flat.length} values for dims [${dims.join(', ')}] (${count} needed); nested arrays must be rectangular`);
  const data = new SAMPLE_ARRAYS[dtype](count);
  for (let i = 0; i < count; i++) {
    const v = flat[i];
    if (typeof v !== 'number' && typeof v !== 'boolean') throw new FormatError(`${where}: value ${i} is ${JSON.stringify(v)}, not a number`);
    if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
      if (!Number.isSafeInteger(Number(v))) throw new FormatError(`${where}: value ${i} (${String(v)}) is not an integer`);
      data[i] = BigInt(Number(v));
    } else {
      data[i] = Number(v);
    }
  }
  return { dtype, dims, data };
}

function parseJson(bytes: Uint8Array, name: string, signature: ModelSignature): Sample[] {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new FormatError(`${name}: not valid JSON (${(error as Error).message})`);
  }
  const list = Array.isArray(json) ? json : [json];
  if (list.length === 0) throw new FormatError(`${name}: an empty list of samples`);
  return list.map((entry, k) => {
    const where = Array.isArray(json) ? `${name} sample ${k}` : name;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw new FormatError(`${where}: expected an object of input name → tensor`);
    return Object.fromEntries(Object.entries(entry as Record<string, unknown>).map(([input, value]) => {
      const declared = signature.inputs.find((v) => v.name === input);
      // Unknown names are reported by checkSample with the full list.
      const dtype = declared && isSampleDType(declared.dtype) ? declared.dtype : 'float32';
      return [input, fromJsonValue(value, dtype, `${where}: input '${input}'`)];
    }));
  });
}

async function parseSafetensors(bytes: Uint8Array, name: string): Promise<Sample> {
  const reader = await openSafetensors(bytesSource(bytes, name), { name });
  const sample: Sample = {};
  for (const info of reader.list()) {
    if (!isSampleDType(info.dtype)) throw new FormatError(`${name}: tensor '${info.name}' is ${info.dtype}, which cannot be fed to a model`);
    const data = new SAMPLE_ARRAYS[info.dtype](info.shape.reduce((a, b) => a * b, 1));
    new Uint8Array(data.buffer).set(await reader.read(info.name));
    sample[info.name] = { dtype: info.dtype, dims: info.shape, data };
  }
  return sample;
}

/**
 * Checks that `sample` feeds exactly the declared inputs with their element types and fixed sizes; an
 * {@link InvalidArgumentError} names each problem.
 *
 * @example
 * ```ts
 * checkSample({ x: { dtype: 'float32', dims: [1, 3, 48, 320], data } }, signature, 'inputs.json');
 * ```
 */
export function checkSample(sample: Sample, signature: ModelSignature, where: string): void {
  const problems: string[] = [];
  for (const input of signature.inputs) {
    const given = sample[input.name];
    if (!given) { problems.push(`input '${input.name}' (${describeValue(input)}) is missing`); continue; }
    const dimsOk = input.dims === undefined
      || (input.dims.length === given.dims.length && input.dims.every((d, i) => typeof d !== 'number' || d === given.dims[i]));
    if (given.dtype !== input.dtype || !dimsOk) {
      problems.push(`input '${input.name}' is ${given.dtype} [${given.dims.join(', ')}], the model takes ${describeValue(input)}`);
    }
  }
  const extra = Object.keys(sample).filter((k) => !signature.inputs.some((v) => v.name === k));
  if (extra.length) problems.push(`${extra.map((k) => `'${k}'`).join(', ')} ${extra.length === 1 ? 'is not an input' : 'are not inputs'} of the model (its inputs: ${signature.inputs.map((v) => v.name).join(', ')})`);
  if (problems.length) throw new InvalidArgumentError('inputs', where, `${where}: ${problems.join('; ')}`);
}

/**
 * Reads the samples in a `.json`, `.npy` or `.safetensors` file (by `name`'s extension) and checks each
 * against `signature`.
 *
 * @example
 * ```ts
 * const samples = await parseInputSamples(bytes, 'x.npy', signature); // one sample
 * ```
 */
export async function parseInputSamples(bytes: Uint8Array, name: string, signature: ModelSignature): Promise<Sample[]> {
  let samples: Sample[];
  if (/\.json$/i.test(name)) samples = parseJson(bytes, name, signature);
  else if (/\.safetensors$/i.test(name)) samples = [await parseSafetensors(bytes, name)];
  else if (/\.npy$/i.test(name)) {
    if (signature.inputs.length !== 1) {
      throw new InvalidArgumentError('inputs', name, `${name}: an .npy file holds one array, but the model has ${signature.inputs.length} inputs `
        + `(${signature.inputs.map((v) => v.name).join(', ')}); give a .json or .safetensors file with one entry per input`);
    }
    samples = [{ [signature.inputs[0]!.name]: parseNpy(bytes, name) }];
  } else {
    throw new InvalidArgumentError('inputs', name, `${name}: unknown inputs format; use a .json, .npy or .safetensors file`);
  }
  samples.forEach((sample, k) => checkSample(sample, signature, samples.length > 1 ? `${name} sample ${k}` : name));
  return samples;
}
