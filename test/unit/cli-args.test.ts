// The command line's parser: one table of flags drives parsing, help and the did-you-mean hint; usage
// mistakes are one line in our words (exit 2), never Node's raw parseArgs message.
import { describe, expect, it } from 'vitest';
import { UsageError, parseCommandLine, parseFlags } from '../../src/cli/args.js';
import { FLAGS, type FlagSpec, USAGE } from '../../src/cli/flags.js';
import { runCli } from './cli-support.js';
import { editDistance, nearestWord } from '../../src/cli/nearest.js';
import { WEBGPU_QUANT_VERSION } from '../../src/compress/version.js';

/** Runs the CLI in-process and captures what it writes. */
const run = (...argv: string[]) => runCli(argv);

function usageError(argv: string[]): UsageError {
  try {
    parseCommandLine(argv);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return error as UsageError;
  }
  throw new Error(`no UsageError for ${argv.join(' ')}`);
}

describe('flags', () => {
  it('a misspelt flag: one line naming the nearest flag, exit 2', async () => {
    const cases: [string[], string][] = [
      [['compress', '--dtyp', 'int8', '-o', 'x.onnx'], '--dtype'],
      [['compress', '--symetric', '-o', 'x.onnx'], '--symmetric'],
      [['compress', '--granulartiy', 'group', '-o', 'x.onnx'], '--granularity'],
      [['compress', '--ouptut', 'x.onnx'], '--output'],
      [['compress', '--groupsize=32', '-o', 'x.onnx'], '--group-size'],
      [['inspect', 'x.onnx', '--orignal', 'y.onnx'], '--original'],
      [['inspect', 'x.onnx', '--sotr', 'name'], '--sort'],
      [['compress', '--verison'], '--version'],
    ];
    for (const [argv, flag] of cases) {
      const result = await run(...argv);
      expect(result.code, argv.join(' ')).toBe(2);
      const wrong = argv.find((a) => a.startsWith('--') && !Object.hasOwn(FLAGS, a.slice(2).split('=')[0]!))!.split('=')[0];
      expect(result.stderr).toBe(`webgpu-quant: unknown flag ${wrong}; did you mean ${flag}? (webgpu-quant --help lists the flags)\n`);
      expect(result.stderr).not.toMatch(/To specify a positional argument|ERR_PARSE_ARGS/);
    }
  });

  it('an unknown flag with nothing near it, and an unknown short flag', async () => {
    const far = await run('compress', '--frobnicate', '-o', 'x.onnx');
    expect(far.code).toBe(2);
    expect(far.stderr).toBe('webgpu-quant: unknown flag --frobnicate (webgpu-quant --help lists the flags)\n');
    const short = await run('compress', '-x', '-o', 'x.onnx');
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/^webgpu-quant: unknown flag -x/);
  });

  it('missing values, values given to switches, flags of the other command', () => {
    expect(usageError(['compress', '-o', 'x.onnx', '--dtype']).message)
      .toBe('--dtype needs a value (qint8|quint8|qint4|quint4); write --dtype=VALUE for a value that starts with -');
    expect(usageError(['compress', '--include', '-o', 'x.onnx']).message).toMatch(/^--include needs a value/);
    expect(parseCommandLine(['compress', '-o', 'x.onnx', '--exclude', '-bias$'])).toMatchObject({ exclude: /-bias$/ });
    expect(parseCommandLine(['compress', '-o', 'x.onnx', '--include=--odd'])).toMatchObject({ include: /--odd/ });
    expect(usageError(['compress', '--axis', '--json', '-o', 'x.onnx']).message).toMatch(/^--axis needs a value/);
    expect(usageError(['compress', '-o', 'x.onnx', '--json=yes']).message).toMatch(/^--json takes no value/);
    expect(usageError(['inspect', 'x.onnx', '--dtype', 'int4']).message).toBe('--dtype is a flag of compress, not of inspect');
    expect(usageError(['compress', '-o', 'x.onnx', '--tensor', 'w']).message).toBe('--tensor is a flag of inspect, not of compress');
  });

  it('--axis takes a negative number with or without =', () => {
    expect(parseCommandLine(['compress', '-o', 'x.onnx', '--axis', '-1'])).toMatchObject({ axis: -1 });
    expect(parseCommandLine(['compress', '-o', 'x.onnx', '--axis=-2'])).toMatchObject({ axis: -2 });
  });

  it('int8, uint8, int4 and uint4 mean qint8, quint8, qint4 and quint4', () => {
    for (const [plain, q] of [['int8', 'qint8'], ['uint8', 'quint8'], ['int4', 'qint4'], ['uint4', 'quint4'], ['qint4', 'qint4']]) {
      expect(parseCommandLine(['compress', '-o', 'x.onnx', '--dtype', plain!])).toMatchObject({ dtype: q });
    }
    expect(usageError(['compress', '-o', 'x.onnx', '--dtype', 'int9']).message).toBe('--dtype int9: use one of qint8, quint8, qint4, quint4');
  });

  it('--affine is the opposite of --symmetric; both at once is a usage error', async () => {
    expect(parseCommandLine(['compress', '-o', 'x.onnx', '--affine'])).toMatchObject({ symmetric: false });
    expect(parseCommandLine(['compress', '-o', 'x.onnx', '--symmetric'])).toMatchObject({ symmetric: true });
    expect((parseCommandLine(['compress', '-o', 'x.onnx']) as { symmetric?: boolean }).symmetric).toBeUndefined();
    const both = await run('compress', '-o', 'x.onnx', '--affine', '--symmetric');
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/^webgpu-quant: --symmetric and --affine exclude each other; give one\nUsage:/);
  });

  it('--version prints the version, exit 0', async () => {
    const { code, stdout, stderr } = await run('--version');
    expect({ code, stdout, stderr }).toEqual({ code: 0, stdout: `webgpu-quant ${WEBGPU_QUANT_VERSION}\n`, stderr: '' });
    expect(WEBGPU_QUANT_VERSION).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('inspect options: --sort, --raw', () => {
    expect(parseCommandLine(['inspect', 'x.onnx'])).toMatchObject({ sort: 'sqnr', raw: false });
    expect(parseCommandLine(['inspect', 'x.onnx', '--sort', 'name', '--raw'])).toMatchObject({ sort: 'name', raw: true });
    expect(usageError(['inspect', 'x.onnx', '--sort', 'size']).message).toBe('--sort size: use one of sqnr, name');
  });

  it('a row of the table is all a new flag needs; `multiple` collects repeated values', () => {
    const table = FLAGS as Record<string, FlagSpec>;
    table['tag-test'] = { type: 'string', multiple: true, commands: ['inspect'], value: 'T', help: 'test only' };
    try {
      expect(parseFlags(['inspect', 'x.onnx', '--tag-test', 'a', '--tag-test=b', '--raw'])).toEqual({
        values: { 'tag-test': ['a', 'b'], raw: true }, positionals: ['inspect', 'x.onnx'] });
      expect(usageError(['inspect', 'x.onnx', '--tag-tset', 'a']).message).toMatch(/did you mean --tag-test\?/);
      expect(usageError(['compress', '-o', 'x', '--tag-test', 'a']).message).toBe('--tag-test is a flag of inspect, not of compress');
    } finally {
      delete table['tag-test'];
    }
  });

  it('an unknown command suggests the nearest one', () => {
    expect(usageError(['compres', '-o', 'x']).message).toMatch(/unknown command "compres": did you mean compress\?/);
  });

  it('the help lists every flag of the table, and says which size unit it uses', () => {
    for (const [name, spec] of Object.entries(FLAGS)) expect(USAGE, name).toContain(`--${name}${spec.value ? ` ${spec.value}` : ''}`);
    expect(USAGE).toMatch(/1 MB = 10\^6 bytes/);
  });
});

describe('nearestWord', () => {
  it('edit distance counts insertions, deletions, substitutions and swaps', () => {
    expect(editDistance('dtyp', 'dtype')).toBe(1);
    expect(editDistance('ofrmat', 'format')).toBe(1);
    expect(editDistance('axis', 'axes')).toBe(1);
    expect(editDistance('', 'json')).toBe(4);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });

  it('a unique prefix wins; nothing close gives undefined', () => {
    expect(nearestWord('gran', ['group-size', 'granularity'])).toBe('granularity');
    expect(nearestWord('zzzzzz', ['dtype', 'axis'])).toBeUndefined();
  });
});
