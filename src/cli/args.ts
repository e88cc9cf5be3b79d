/**
 * The command line of `webgpu-quant`: one table of flags (`FLAGS`, flags.ts) drives the parser, the help text
 * and the "did you mean" hint for a mistyped flag. Usage mistakes throw {@link UsageError} (exit code 2).
 * To add a flag, add a row to FLAGS and read it in the command's parse function below.
 *
 * @example
 * ```ts
 * parseCommandLine(['compress', 'model.onnx', '-o', 'small.onnx', '--dtype', 'int4', '--granularity', 'group']);
 * // { command: 'compress', input: 'model.onnx', output: 'small.onnx', dtype: 'qint4', granularity: 'group', ... }
 * parseCommandLine(['compress', '--dtyp', 'int8']); // throws UsageError: unknown flag --dtyp; did you mean --dtype?
 * ```
 * @module
 */
import { parseArgs } from 'node:util';
import { COMMANDS, type CommandName, DTYPES, DTYPE_ALIASES, FLAGS } from './flags.js';
import { nearestWord } from './nearest.js';

/** A mistake in the command line itself. `brief` errors are shown on one line, without the usage text. */
export class UsageError extends Error {
  readonly brief: boolean;
  constructor(message: string, options: { brief?: boolean } = {}) {
    super(message);
    this.name = 'UsageError';
    this.brief = options.brief ?? false;
  }
}

/** How to verify (`verify`, and `compress --verify`). */
export interface VerifyFlags {
  /** Files of inputs (.json, .npy, .safetensors); none: generated. */
  inputs: string[];
  /** Sizes of dynamic dimensions (`--dim NAME=N`, NAME a symbolic dimension or input:axis). */
  dims: Record<string, number>;
  /** Generated samples (seeds 1..N). */
  seeds?: number;
  minCosine?: number;
  minArgmaxAgreement?: number;
}

/** Options of `compress`. */
export interface CompressArgs {
  command: 'compress';
  input?: string;
  /** A path, or '-' for stdout. */
  output: string;
  dtype: (typeof DTYPES)[number];
  granularity: 'tensor' | 'channel' | 'group';
  axis?: number;
  groupSize?: number;
  symmetric?: boolean;
  calibrate: 'minmax' | 'mse' | 'percentile' | 'lsq';
  /** The size budget in stored bits per quantized weight. */
  targetBits?: number;
  /** The integer range rule (policy `range`). */
  range?: 'auto' | 'narrow' | 'torch' | 'extreme';
  /** The quality floor in dB (policy `minSqnrDb`; -Infinity for off). */
  minSqnr?: number;
  firstLayer?: 'keep' | 'quantize';
  include?: RegExp;
  exclude?: RegExp;
  format?: 'onnx' | 'safetensors' | 'gguf';
  /** How the ONNX output carries quantized weights. */
  onnxOps?: 'qdq' | 'contrib';
  /** MatMulNBits accuracy_level (with onnxOps 'contrib', or the transformers.js preset's q4). */
  accuracyLevel?: number;
  /** The type of float32 weights' scales in ONNX QDQ (compressOnnx `scaleDtype`). */
  scaleDtype?: 'float32' | 'float16';
  /** Write a runtime's model layout into the folder `output` (the preset decides dtype, scheme and operators). */
  preset?: 'transformers.js';
  backend: 'auto' | 'webgpu' | 'cpu';
  /** CPU worker threads for a safetensors output on the CPU path or a GGUF output (undefined: one thread). */
  workers?: number;
  /** Dequantize the weights a safetensors input holds quantized, and quantize them again under this policy. */
  requantize?: boolean;
  /** Write an ONNX output's weights as external data (`<out>.data`) even under 2 GB. */
  externalData?: boolean;
  json: boolean;
  force: boolean;
  /** Verify the written model against the input in onnxruntime-node (ONNX output only). */
  verify?: VerifyFlags;
  /** With targetBits: sample input files; each weight's sensitivity is measured on them in onnxruntime-node. */
  budgetInputs?: string[];
}

/** Options of `verify`. */
export interface VerifyArgs extends VerifyFlags {
  command: 'verify';
  original: string;
  compressed: string;
  json: boolean;
}

/** Options of `inspect`. */
export interface InspectArgs {
  command: 'inspect';
  file: string;
  tensor?: string;
  original?: string;
  sort: 'sqnr' | 'name';
  raw: boolean;
  json: boolean;
}

/** A parsed command line. */
export type CommandLine = CompressArgs | InspectArgs | VerifyArgs | { command: 'help' } | { command: 'version' };

/** Flag values by flag name: a string, true, or the strings of a `multiple` flag. */
export type FlagValues = Record<string, string | boolean | string[] | undefined>;

function oneOf<T extends string>(flag: string, value: unknown, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly unknown[]).includes(value)) throw new UsageError(`--${flag} ${String(value)}: use one of ${allowed.join(', ')}`);
  return value as T;
}

function integer(flag: string, value: unknown, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value === '' || !Number.isSafeInteger(n) || n < min) throw new UsageError(`--${flag} ${String(value)}: use an integer >= ${min}`);
  return n;
}

function minSqnr(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (value === 'off') return -Infinity;
  const n = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--min-sqnr ${String(value)}: use a number of dB (e.g. 25) or off`);
  return n;
}

function regex(flag: string, value: unknown): RegExp | undefined {
  if (value === undefined) return undefined;
  try {
    return new RegExp(String(value));
  } catch (error) {
    throw new UsageError(`--${flag} ${String(value)}: not a valid regular expression (${(error as Error).message})`);
  }
}

const kShortFlags = new Map(Object.entries(FLAGS).filter(([, s]) => s.short).map(([name, s]) => [s.short!, name]));

/** The flag a token names (long or short), or undefined. */
function flagNamed(name: string, raw: string): string | undefined {
  if (raw.startsWith('--')) return Object.hasOwn(FLAGS, name) ? name : undefined;
  return kShortFlags.get(raw.slice(1)); // parseArgs gives a known short flag's long name, an unknown one's letter
}

/** The one-line message for an unknown flag: the nearest flag of the command (then of any command). */
function unknownFlag(raw: string, command: string | undefined): UsageError {
  const word = raw.replace(/^-+/, '').split('=')[0]!;
  const names = Object.keys(FLAGS);
  const own = names.filter((n) => FLAGS[n]!.commands.length === 0 || FLAGS[n]!.commands.includes(command as CommandName));
  const guess = nearestWord(word, own) ?? nearestWord(word, names);
  return new UsageError(`unknown flag ${raw.split('=')[0]}${guess ? `; did you mean --${guess}?` : ''} (webgpu-quant --help lists the flags)`,
    { brief: true });
}

/**
 * Flags and positionals, checked against {@link FLAGS}; every mistake is a UsageError in our words.
 *
 * @example
 * ```ts
 * parseFlags(['inspect', 'm.onnx', '--sort', 'name']); // { values: { sort: 'name' }, positionals: ['inspect', 'm.onnx'] }
 * ```
 */
export function parseFlags(argv: string[]): { values: FlagValues; positionals: string[] } {
  const options = Object.fromEntries(Object.entries(FLAGS).map(([name, spec]) => [name, { type: spec.type, ...(spec.short ? { short: spec.short } : {}) }]));
  // Not strict: every mistake is reported below in our words, with the nearest flag for a misspelt one
  // (and `multiple` is handled below too).
  const { tokens } = parseArgs({ args: argv, allowPositionals: true, strict: false, tokens: true, options });
  const positionals = tokens.filter((t) => t.kind === 'positional').map((t) => t.value);
  const values: FlagValues = {};
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const name = flagNamed(token.name, token.rawName);
    if (name === undefined) throw unknownFlag(token.rawName, positionals[0]);
    const spec = FLAGS[name]!;
    if (spec.type === 'boolean') {
      if (token.value !== undefined) throw new UsageError(`--${name} takes no value (got ${JSON.stringify(token.value)})`, { brief: true });
      values[name] = true;
      continue;
    }
    // parseArgs (not strict) takes the next word as the value even when it is a flag: `--axis --json`.
    const value = token.value;
    const looksLikeFlag = value !== undefined && !token.inlineValue
      && (value.startsWith('--') || (value.length === 2 && kShortFlags.has(value.slice(1))));
    if (value === undefined || looksLikeFlag) {
      throw new UsageError(`--${name} needs a value${spec.value ? ` (${spec.value})` : ''}; `
        + `write --${name}=VALUE for a value that starts with -`, { brief: true });
    }
    values[name] = spec.multiple ? [...((values[name] as string[] | undefined) ?? []), value] : value;
  }
  return { values, positionals };
}

/** Rejects flags that the command does not take (`inspect --dtype`). */
function checkFlagsApply(values: FlagValues, command: CommandName): void {
  for (const name of Object.keys(values)) {
    const commands = FLAGS[name]!.commands;
    if (commands.length > 0 && !commands.includes(command)) {
      throw new UsageError(`--${name} is a flag of ${commands.join(' and ')}, not of ${command}`, { brief: true });
    }
  }
}

function verifyFlags(values: FlagValues): VerifyFlags {
  const dims: Record<string, number> = {};
  for (const entry of (values.dim as string[] | undefined) ?? []) {
    const match = /^(.+)=(\d+)$/.exec(entry);
    if (!match || Number(match[2]) < 1) throw new UsageError(`--dim ${entry}: use NAME=N with N >= 1 (NAME: a symbolic dimension, or input:axis)`);
    dims[match[1]!] = Number(match[2]);
  }
  const raw = values['min-cosine'];
  const minCosine = raw === undefined ? undefined : Number(raw);
  if (minCosine !== undefined && !(minCosine >= -1 && minCosine <= 1)) throw new UsageError(`--min-cosine ${String(raw)}: use a number in [-1, 1], e.g. 0.99`);
  const rawArgmax = values['min-argmax'];
  const minArgmaxAgreement = rawArgmax === undefined ? undefined : Number(rawArgmax);
  if (minArgmaxAgreement !== undefined && (rawArgmax === '' || !(minArgmaxAgreement >= 0 && minArgmaxAgreement <= 1))) {
    throw new UsageError(`--min-argmax ${String(rawArgmax)}: use a fraction in [0, 1], e.g. 0.95 (1 turns the argmax criterion off)`);
  }
  return { inputs: (values.inputs as string[] | undefined) ?? [], dims, seeds: integer('seeds', values.seeds, 1), minCosine, minArgmaxAgreement };
}

/** Flags a preset sets itself (or that cannot apply to a folder of several files). */
const kPresetSets = ['dtype', 'granularity', 'group-size', 'axis', 'symmetric', 'affine', 'onnx-ops', 'format', 'target-bits', 'external-data', 'requantize'];

function checkPresetFlags(values: FlagValues, preset: string): void {
  const clash = kPresetSets.find((flag) => values[flag] !== undefined);
  if (clash) {
    throw new UsageError(`--${clash} does not go with --preset ${preset}, which chooses each file's scheme and operators; `
      + 'leave it out (or compress without --preset)', { brief: true });
  }
  if (values.output === '-') throw new UsageError(`--preset ${preset} writes several files into a folder: give -o <folder>, not -`, { brief: true });
}

function parseCompress(values: FlagValues, rest: string[]): CompressArgs {
  if (rest.length > 1) throw new UsageError(`compress takes one input file, got ${rest.length}: ${rest.join(' ')}`);
  if (typeof values.output !== 'string' || values.output === '') throw new UsageError('compress needs -o <out> (or -o - for stdout)');
  const preset = values.preset === undefined ? undefined : oneOf('preset', values.preset, ['transformers.js'] as const, 'transformers.js');
  if (preset) checkPresetFlags(values, preset);
  // GGUF holds only blocks of 32, so its default granularity is 'group'.
  const gguf = values.format === 'gguf' || (values.format === undefined && /\.gguf$/i.test(values.output));
  const granularity = oneOf('granularity', values.granularity, ['tensor', 'channel', 'group'] as const, gguf ? 'group' : 'channel');
  const groupSize = integer('group-size', values['group-size'], 1);
  if (groupSize !== undefined && granularity !== 'group') throw new UsageError('--group-size needs --granularity group');
  const axis = values.axis === undefined ? undefined : Number(values.axis);
  if (axis !== undefined && (values.axis === '' || !Number.isSafeInteger(axis))) {
    throw new UsageError(`--axis ${String(values.axis)}: use an integer (negative counts from the end)`);
  }
  const targetBits = values['target-bits'] === undefined ? undefined : Number(values['target-bits']);
  if (targetBits !== undefined && (values['target-bits'] === '' || !(Number.isFinite(targetBits) && targetBits > 0))) {
    throw new UsageError(`--target-bits ${String(values['target-bits'])}: use a number of bits per weight > 0, e.g. 5`);
  }
  const verifyOnly = ['inputs', 'dim', 'seeds', 'min-cosine', 'min-argmax']
    .filter((flag) => values[flag] !== undefined && !(flag === 'inputs' && targetBits !== undefined));
  if (!values.verify && verifyOnly.length) throw new UsageError(`--${verifyOnly[0]} needs --verify${verifyOnly[0] === 'inputs' ? ' or --target-bits' : ''}`);
  const budgetInputs = targetBits !== undefined ? (values.inputs as string[] | undefined) ?? [] : [];
  if (values.symmetric && values.affine) throw new UsageError('--symmetric and --affine exclude each other; give one');
  const dtype = typeof values.dtype === 'string' ? DTYPE_ALIASES[values.dtype] ?? values.dtype : values.dtype;
  const onnxOps = values['onnx-ops'] === undefined ? undefined : oneOf('onnx-ops', values['onnx-ops'], ['qdq', 'contrib'] as const, 'qdq');
  const accuracyLevel = integer('accuracy-level', values['accuracy-level'], 0);
  if (accuracyLevel !== undefined && accuracyLevel > 4) throw new UsageError(`--accuracy-level ${accuracyLevel}: use 0 to 4`);
  if (accuracyLevel !== undefined && onnxOps !== 'contrib' && !preset) throw new UsageError('--accuracy-level sets MatMulNBits\'s accuracy_level: it needs --onnx-ops contrib');
  const scaleDtype = values['scale-dtype'] === undefined ? undefined : oneOf('scale-dtype', values['scale-dtype'], ['float32', 'float16'] as const, 'float32');
  if (scaleDtype === 'float16' && (onnxOps === 'contrib' || preset)) {
    throw new UsageError('--scale-dtype float16 is for QDQ weights; MatMulNBits takes its scales in the activations\' type (drop --scale-dtype or --onnx-ops contrib)');
  }
  return {
    command: 'compress', input: rest[0], output: values.output,
    dtype: oneOf('dtype', dtype, DTYPES, 'qint8'),
    granularity, axis, groupSize, symmetric: values.symmetric ? true : values.affine ? false : undefined,
    calibrate: oneOf('calibrate', values.calibrate, ['minmax', 'mse', 'percentile', 'lsq'] as const, 'minmax'), targetBits,
    range: values.range === undefined ? undefined : oneOf('range', values.range, ['auto', 'narrow', 'torch', 'extreme'] as const, 'auto'),
    minSqnr: minSqnr(values['min-sqnr']),
    firstLayer: values['first-layer'] === undefined ? undefined : oneOf('first-layer', values['first-layer'], ['keep', 'quantize'] as const, 'keep'),
    include: regex('include', values.include), exclude: regex('exclude', values.exclude),
    format: values.format === undefined ? undefined : oneOf('format', values.format, ['onnx', 'safetensors', 'gguf'] as const, 'onnx'),
    ...(onnxOps ? { onnxOps } : {}), ...(accuracyLevel !== undefined ? { accuracyLevel } : {}), ...(preset ? { preset } : {}),
    ...(scaleDtype ? { scaleDtype } : {}),
    backend: oneOf('backend', values.backend, ['auto', 'webgpu', 'cpu'] as const, 'auto'),
    ...(values.workers !== undefined ? { workers: integer('workers', values.workers, 0) } : {}),
    json: values.json === true,
    force: values.force === true,
    requantize: values.requantize === true,
    externalData: values['external-data'] === true,
    ...(values.verify ? { verify: verifyFlags(values) } : {}),
    ...(budgetInputs.length ? { budgetInputs } : {}),
  };
}

function parseInspect(values: FlagValues, rest: string[]): InspectArgs {
  if (rest.length !== 1) throw new UsageError(`inspect takes one file, got ${rest.length}`);
  return {
    command: 'inspect', file: rest[0]!, tensor: values.tensor as string | undefined, original: values.original as string | undefined,
    sort: oneOf('sort', values.sort, ['sqnr', 'name'] as const, 'sqnr'), raw: values.raw === true, json: values.json === true,
  };
}

function parseVerify(values: FlagValues, rest: string[]): VerifyArgs {
  if (rest.length !== 2) throw new UsageError(`verify takes two ONNX files (the original, then the compressed model), got ${rest.length}`);
  return { command: 'verify', original: rest[0]!, compressed: rest[1]!, ...verifyFlags(values), json: values.json === true };
}

const kParsers: Readonly<Record<CommandName, (values: FlagValues, rest: string[]) => CommandLine>> = {
  compress: parseCompress,
  inspect: parseInspect,
  verify: parseVerify,
};

/**
 * Parses `argv` (without node and the script).
 *
 * @example
 * ```ts
 * parseCommandLine(['inspect', 'vad.q8.onnx', '--original', 'vad.onnx', '--sort', 'name']);
 * // { command: 'inspect', file: 'vad.q8.onnx', original: 'vad.onnx', sort: 'name', raw: false, json: false }
 * ```
 */
export function parseCommandLine(argv: string[]): CommandLine {
  const { values, positionals } = parseFlags(argv);
  const [command, ...rest] = positionals;
  if (values.help || command === 'help') return { command: 'help' };
  if (values.version) return { command: 'version' };
  if (command === undefined) return { command: 'help' };
  if (!(COMMANDS as readonly string[]).includes(command)) {
    const guess = nearestWord(command, COMMANDS);
    throw new UsageError(`unknown command ${JSON.stringify(command)}: ${guess ? `did you mean ${guess}? ` : ''}use ${COMMANDS.join(' or ')}`);
  }
  checkFlagsApply(values, command as CommandName);
  return kParsers[command as CommandName](values, rest);
}
