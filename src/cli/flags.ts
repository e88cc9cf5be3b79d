/**
 * The command line's vocabulary: its commands, every flag (value type, short form, the commands that take it,
 * its help), and the help text built from them. The parser (args.ts) reads the same table.
 *
 * @example
 * ```ts
 * FLAGS['group-size'];          // { type: 'string', commands: ['compress'], value: 'N', help: 'elements per group ...' }
 * process.stdout.write(`${USAGE}\n`); // webgpu-quant --help
 * ```
 * @module
 */

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

/** The help text's rows for `command`'s flags, aligned. */
function flagLines(command: CommandName): string {
  const rows = Object.entries(FLAGS).filter(([, spec]) => spec.commands.includes(command))
    .map(([name, spec]) => [`${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.value ? ` ${spec.value}` : ''}${spec.multiple ? '...' : ''}`,
      spec.help] as const);
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, help]) => `    ${left.padEnd(width)}  ${help}`).join('\n');
}

/** The help text (`webgpu-quant --help`, and after a usage mistake). */
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
