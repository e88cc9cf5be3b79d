/**
 * The command line of `webgpu-quant`: one table of flags ({@link FLAGS}) drives the parser, the help text
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

/** The subcommands (each has a parse function in {@link parseCommandLine}'s table). */
export const COMMANDS = ['compress', 'inspect', 'verify'] as const;
export type CommandName = (typeof COMMANDS)[number];

/** One flag: its value type, short form, the commands that take it (none: every command) and its help. */
export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** May be given several times (a string flag's values are then collected into an array). */
  readonly multiple?: boolean;
  readonly commands: readonly CommandName[];
  /** The value in the help text, e.g. `qint8|quint8|qint4|quint4`. */
  readonly value?: string;
  readonly help: string;
}

/** The quantized dtypes, and the plain names accepted for them (`--dtype int4` means qint4). */
export const DTYPES = ['qint8', 'quint8', 'qint4', 'quint4'] as const;
export const DTYPE_ALIASES: Readonly<Record<string, (typeof DTYPES)[number]>> = { int8: 'qint8', uint8: 'quint8', int4: 'qint4', uint4: 'quint4' };

/** Every flag, in help order. */
export const FLAGS: Readonly<Record<string, FlagSpec>> = {
  output: { type: 'string', short: 'o', commands: ['compress'], value: '<out>', help: 'the output file; - streams the model to stdout (messages go to stderr; exit 1 if it stops midway)' },
  dtype: { type: 'string', commands: ['compress'], value: 'qint8|quint8|qint4|quint4', help: 'the integer type (int8, uint8, int4, uint4 mean the same); default qint8' },
  granularity: { type: 'string', commands: ['compress'], value: 'tensor|channel|group', help: 'one scale per tensor, per output channel (default; group for GGUF) or per group' },
  axis: { type: 'string', commands: ['compress'], value: 'N', help: 'the channel axis (negative counts from the end; write --axis=-1 or --axis -1)' },
  'group-size': { type: 'string', commands: ['compress'], value: 'N', help: 'elements per group (with --granularity group)' },
  symmetric: { type: 'boolean', commands: ['compress'], help: 'zero point fixed at 0 (the default for qint8 and qint4)' },
  affine: { type: 'boolean', commands: ['compress'], help: 'zero point fitted to the range (the default for quint8 and quint4)' },
  calibrate: { type: 'string', commands: ['compress'], value: 'minmax|mse|percentile|lsq', help: 'how the range is chosen; default minmax (lsq: candidate scales refit by least squares; for int4, Q4_0\'s grid searched, the zero point too where it pays: weight MSE 25-40 % lower, slower)' },
  'target-bits': { type: 'string', commands: ['compress'], value: 'B', help: 'size budget: at most B stored bits per quantized weight on average; each weight gets float, int8 per channel or int4 groups of 32/64/128, whichever keeps the estimated model error lowest (measured on the outputs with --inputs, else from the weights)' },
  range: { type: 'string', commands: ['compress'], value: 'auto|narrow|torch|extreme', help: 'the integer range: auto (default: int8 absmax/127, int4 Q4_0), or PyTorch\'s (torch); docs/quality.md' },
  'min-sqnr': { type: 'string', commands: ['compress'], value: 'DB|off', help: 'the quality floor; a weight below it is escalated (default 25 dB for 8-bit, 15 dB for 4-bit)' },
  'first-layer': { type: 'string', commands: ['compress'], value: 'keep|quantize', help: 'the weights applied to the model input: kept float (default) or quantized' },
  include: { type: 'string', commands: ['compress'], value: 'RE', help: 'quantize only weights whose name matches' },
  exclude: { type: 'string', commands: ['compress'], value: 'RE', help: 'keep float the weights whose name matches' },
  'onnx-ops': { type: 'string', commands: ['compress'], value: 'qdq|contrib', help: 'ONNX output: DequantizeLinear everywhere (qdq, default) or onnxruntime\'s MatMulNBits for MatMul weights and GatherBlockQuantized for Gather embeddings (contrib)' },
  'accuracy-level': { type: 'string', commands: ['compress'], value: '0-4', help: 'MatMulNBits accuracy_level (with --onnx-ops contrib; 4: int8 compute, fastest on CPU)' },
  'scale-dtype': { type: 'string', commands: ['compress'], value: 'float32|float16', help: 'the type of a float32 weight\'s scales in ONNX QDQ (float16: cast to float32 in the graph; default float16 with --target-bits, else float32)' },
  format: { type: 'string', commands: ['compress'], value: 'onnx|safetensors|gguf', help: 'output format; default from the output name, else the input\'s. gguf: qint8 -> Q8_0, qint4 -> Q4_0, blocks of 32' },
  preset: { type: 'string', commands: ['compress'], value: 'transformers.js', help: 'write a runtime\'s model layout into the folder -o: transformers.js gives onnx/model_q4.onnx (MatMulNBits int4, blocks of 32, symmetric) and onnx/model_quantized.onnx (int8 per channel, QDQ); onnx/model_q4f16.onnx for a float16 model' },
  backend: { type: 'string', commands: ['compress'], value: 'auto|webgpu|cpu', help: 'where to quantize; default auto (WebGPU when available)' },
  workers: { type: 'string', commands: ['compress'], value: 'N', help: 'on the CPU path (--backend cpu, or auto, which then computes on the workers), or for gguf output: quantize big weights on N worker threads at once, safetensors weights per channel along axis 0, and the float32 weights of an onnx model, in blocks of rows (same output bytes; default: the host\'s cores, at most 8, for an onnx output from 256 MiB of float32 to quantize; 0: one thread)' },
  force: { type: 'boolean', commands: ['compress'], help: 'allow the output to be the input file itself (overwrites it); with --preset, replace files already in the folder' },
  requantize: { type: 'boolean', commands: ['compress'], help: 'dequantize the weights a .safetensors input already holds quantized and quantize them again (default: kept as they are, with their metadata)' },
  'external-data': { type: 'boolean', commands: ['compress'], help: 'write the ONNX output\'s weights to <out>.data beside it (automatic past protobuf\'s 2 GB, and for weights kept in another folder\'s data file)' },
  tensor: { type: 'string', commands: ['inspect'], value: 'NAME', help: 'show one tensor, with its per-channel SQNR' },
  original: { type: 'string', commands: ['inspect'], value: 'FILE', help: 'the float model to measure the error against (SQNR, max |error|)' },
  sort: { type: 'string', commands: ['inspect'], value: 'sqnr|name', help: 'row order: worst SQNR first (default), or by name' },
  raw: { type: 'boolean', commands: ['inspect'], help: 'list every stored tensor (a quantized weight\'s data, scale, zero point) instead of one row per weight' },
  verify: { type: 'boolean', commands: ['compress'], help: 'run the written model beside the input in onnxruntime-node and fail (exit 1) when they disagree (ONNX output)' },
  inputs: { type: 'string', multiple: true, commands: ['compress', 'verify'], value: 'FILE', help: 'sample inputs (.json, .npy, .safetensors) for verification (default: generated to the declared shapes) and, with --target-bits, for measuring each weight\'s effect on the outputs' },
  dim: { type: 'string', multiple: true, commands: ['compress', 'verify'], value: 'NAME=N', help: 'size of a dynamic dimension for generated inputs (NAME: symbolic name or input:axis)' },
  seeds: { type: 'string', commands: ['compress', 'verify'], value: 'N', help: 'generated input samples (default 3)' },
  'min-cosine': { type: 'string', commands: ['compress', 'verify'], value: 'X', help: 'pass when every output\'s cosine similarity is at least X (default 0.99)' },
  'min-argmax': { type: 'string', commands: ['compress', 'verify'], value: 'X', help: 'an output with >= 16 class-axis rows also passes when its argmax agrees on at least X of them (default 0.95; 1: off)' },
  json: { type: 'boolean', commands: ['compress', 'inspect', 'verify'], help: 'print one JSON object instead of text' },
  help: { type: 'boolean', short: 'h', commands: [], help: 'show this help' },
  version: { type: 'boolean', commands: [], help: 'print the version' },
};

function flagLines(command: CommandName): string {
  const rows = Object.entries(FLAGS).filter(([, spec]) => spec.commands.includes(command))
    .map(([name, spec]) => [`${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.value ? ` ${spec.value}` : ''}${spec.multiple ? '...' : ''}`,
      spec.help] as const);
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, help]) => `    ${left.padEnd(width)}  ${help}`).join('\n');
}

export const USAGE = `Usage:
  webgpu-quant compress [<in>] -o <out> [flags]
    Compresses an ONNX model (to QDQ ONNX, safetensors or GGUF) or a safetensors file (to safetensors or GGUF).
    With no <in>, compresses the bundled sample model (Silero VAD) when it is installed. The output is written to a temporary file beside
    <out> (.<name>.webgpu-quant-tmp-*) and renamed into place only when complete; character devices and FIFOs
    are written directly. ONNX external data is read from files in the model's folder; an ONNX output past
    2 GB (or with --external-data) keeps its weights in <out>.data beside it.
${flagLines('compress')}
  webgpu-quant inspect <file> [flags]
    Lists a model's weights: one row per quantized weight (its scheme and stored bytes), then the others.
${flagLines('inspect')}
  webgpu-quant verify <original.onnx> <compressed.onnx> [flags]
    Runs both models in onnxruntime-node (npm install onnxruntime-node) and compares every output: max |Δ|,
    relative error, cosine similarity, argmax agreement. Fails (exit 1) below --min-cosine, unless
    the output's argmax agreement reaches --min-argmax.
${flagLines('verify')}
  webgpu-quant --help | --version

Sizes are in decimal units: 1 kB = 1000 bytes, 1 MB = 10^6 bytes.
Exit codes: 0 success, 1 bad input or failed verification (the file and the problem on one line), 2 usage,
130 / 143 interrupted by SIGINT / SIGTERM (no partial output is left).`;

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
