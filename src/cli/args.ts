/**
 * The command line of `webgpu-quant`: parsing and checking, with node:util's parseArgs. Usage mistakes
 * throw {@link UsageError} (exit code 2).
 *
 * @example
 * ```ts
 * parseCommandLine(['compress', 'model.onnx', '-o', 'small.onnx', '--dtype', 'qint4', '--granularity', 'group']);
 * // { command: 'compress', input: 'model.onnx', output: 'small.onnx', dtype: 'qint4', granularity: 'group', ... }
 * ```
 * @module
 */
import { parseArgs } from 'node:util';

/** A mistake in the command line itself. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const USAGE = `Usage:
  webgpu-quant compress [<in>] -o <out> [--dtype qint8|quint8|qint4|quint4]
      [--granularity tensor|channel|group] [--axis N] [--group-size N] [--symmetric]
      [--calibrate minmax|mse|percentile|lsq] [--target-bits B] [--include RE] [--exclude RE]
      [--format onnx|safetensors] [--backend auto|webgpu|cpu] [--json]
    With no <in>, compresses the bundled default model (Silero VAD). --target-bits B: at most B stored
    bits per quantized weight on average; each weight gets float, int8 per channel or int4
    groups of 32/64/128, whichever keeps the estimated model error lowest.
  webgpu-quant inspect <file> [--tensor NAME] [--original FILE] [--json]
  webgpu-quant --help

Exit codes: 0 success, 1 bad input (the file and the problem on one line), 2 usage.`;

/** Options of `compress`. */
export interface CompressArgs {
  command: 'compress';
  input?: string;
  output: string;
  dtype: 'qint8' | 'quint8' | 'qint4' | 'quint4';
  granularity: 'tensor' | 'channel' | 'group';
  axis?: number;
  groupSize?: number;
  symmetric?: boolean;
  calibrate: 'minmax' | 'mse' | 'percentile' | 'lsq';
  targetBits?: number;
  include?: RegExp;
  exclude?: RegExp;
  format?: 'onnx' | 'safetensors';
  backend: 'auto' | 'webgpu' | 'cpu';
  json: boolean;
}

/** Options of `inspect`. */
export interface InspectArgs {
  command: 'inspect';
  file: string;
  tensor?: string;
  original?: string;
  json: boolean;
}

/** A parsed command line. */
export type CommandLine = CompressArgs | InspectArgs | { command: 'help' };

function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--${flag} ${value}: use one of ${allowed.join(', ')}`);
  return value as T;
}

function integer(flag: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${flag} ${value}: use an integer >= ${min}`);
  return n;
}

function regex(flag: string, value: string | undefined): RegExp | undefined {
  if (value === undefined) return undefined;
  try {
    return new RegExp(value);
  } catch (error) {
    throw new UsageError(`--${flag} ${value}: not a valid regular expression (${(error as Error).message})`);
  }
}

/** Parses `argv` (without node and the script). */
export function parseCommandLine(argv: string[]): CommandLine {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        output: { type: 'string', short: 'o' }, dtype: { type: 'string' }, granularity: { type: 'string' },
        axis: { type: 'string' }, 'group-size': { type: 'string' }, symmetric: { type: 'boolean' },
        calibrate: { type: 'string' }, 'target-bits': { type: 'string' }, include: { type: 'string' }, exclude: { type: 'string' },
        format: { type: 'string' }, backend: { type: 'string' }, json: { type: 'boolean' },
        tensor: { type: 'string' }, original: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || command === 'help' || command === undefined) return { command: 'help' };
  if (command === 'compress') {
    if (rest.length > 1) throw new UsageError(`compress takes one input file, got ${rest.length}: ${rest.join(' ')}`);
    if (!values.output) throw new UsageError('compress needs -o <out>');
    const granularity = oneOf('granularity', values.granularity, ['tensor', 'channel', 'group'] as const, 'channel');
    const groupSize = integer('group-size', values['group-size'], 1);
    if (groupSize !== undefined && granularity !== 'group') throw new UsageError('--group-size needs --granularity group');
    const targetBits = values['target-bits'] === undefined ? undefined : Number(values['target-bits']);
    if (targetBits !== undefined && !(Number.isFinite(targetBits) && targetBits > 0)) {
      throw new UsageError(`--target-bits ${values['target-bits']}: use a number of bits per weight > 0, e.g. 5`);
    }
    const axis = values.axis === undefined ? undefined : Number(values.axis);
    if (axis !== undefined && !Number.isSafeInteger(axis)) throw new UsageError(`--axis ${values.axis}: use an integer (negative counts from the end)`);
    return {
      command, input: rest[0], output: values.output,
      dtype: oneOf('dtype', values.dtype, ['qint8', 'quint8', 'qint4', 'quint4'] as const, 'qint8'),
      granularity, axis, groupSize, symmetric: values.symmetric,
      calibrate: oneOf('calibrate', values.calibrate, ['minmax', 'mse', 'percentile', 'lsq'] as const, 'minmax'), targetBits,
      include: regex('include', values.include), exclude: regex('exclude', values.exclude),
      format: values.format === undefined ? undefined : oneOf('format', values.format, ['onnx', 'safetensors'] as const, 'onnx'),
      backend: oneOf('backend', values.backend, ['auto', 'webgpu', 'cpu'] as const, 'auto'),
      json: values.json ?? false,
    };
  }
  if (command === 'inspect') {
    if (rest.length !== 1) throw new UsageError(`inspect takes one file, got ${rest.length}`);
    return { command, file: rest[0]!, tensor: values.tensor, original: values.original, json: values.json ?? false };
  }
  throw new UsageError(`unknown command ${JSON.stringify(command)}: use compress or inspect`);
}
