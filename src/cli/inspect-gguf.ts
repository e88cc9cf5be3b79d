/**
 * `webgpu-quant inspect <file.gguf>`: the GGUF file's metadata and tensors (ggml type, row-major shape,
 * ggml dims, bytes); with `--original`, the error of each Q8_0 / Q4_0 / F16 tensor's values against the
 * original's float weight of the same name (transposed when the GGUF tensor holds it as rows of the input
 * dimension, see docs/gguf.md).
 *
 * @example
 * ```ts
 * await runInspectGguf({ command: 'inspect', file: 'mlp.q4_0.gguf', original: 'mlp.onnx', sort: 'name', raw: false, json: false }, io); // 0
 * ```
 * @module
 */
import { bufferSlots } from '../compress/buffer-slots.js';
import { FormatError } from '../errors.js';
import { float32View } from '../io/float-convert.js';
import { type GgufSourceFile, openGguf } from '../io/gguf/open-gguf.js';
import { type GgufValue, ggmlToFloat32 } from '../io/gguf/reader.js';
import { nodeFileSource } from '../io/safetensors/node-file-source.js';
import { FLOAT_WEIGHT_DTYPES, type WeightReader, readWeightInto } from '../io/weights.js';
import { errorStats } from '../ops/error-stats.js';
import type { InspectArgs } from './args.js';
import type { CliIo } from './compress-command.js';
import { jsonNumber } from './json-output.js';
import { checkInputFile, fileError } from './files.js';
import { openModelFile } from './open-model.js';

interface GgufLine {
  name: string;
  type: string;
  shape: number[];
  ne: number[];
  bytes: number | undefined;
  sqnrDb?: number;
  maxAbsError?: number;
  transposedFromOriginal?: boolean;
}

function transpose(data: Float32Array, rows: number, columns: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < columns; j++) out[j * rows + i] = data[i * columns + j]!;
  return out;
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** Runs `inspect` on a GGUF file; returns the exit code. */
export async function runInspectGguf(args: InspectArgs, io: CliIo): Promise<number> {
  await checkInputFile(args.file, 'file');
  // Read by range: the header, then one tensor at a time (a file larger than the memory can be inspected).
  const source = await nodeFileSource(args.file).catch((error: unknown) => { throw fileError(error, args.file, 'file'); });
  let opened: Awaited<ReturnType<typeof openModelFile>> | undefined;
  try {
    const file = await openGguf(source, args.file);
    opened = args.original ? await openModelFile(args.original, 'original') : undefined;
    return await listGguf(args, io, file, opened?.reader);
  } finally {
    await opened?.close();
    await source.close();
  }
}

async function listGguf(args: InspectArgs, io: CliIo, file: GgufSourceFile, original: WeightReader | undefined): Promise<number> {
  const originals = new Map((original?.list() ?? []).map((w) => [w.name, w]));
  const lines: GgufLine[] = [];
  let scratch: Float32Array | undefined; // one array for the values of tensor after tensor of the same size
  const slots = bufferSlots('local'); // and buffers for the original's weights (a 16-bit one's float32 values in a second)
  for (const t of file.tensors) {
    if (args.tensor !== undefined && t.name !== args.tensor) continue;
    const line: GgufLine = { name: t.name, type: t.type, shape: t.shape, ne: t.ne, bytes: t.byteLength };
    const base = originals.get(t.name);
    if (base && FLOAT_WEIGHT_DTYPES.includes(base.dtype) && ['Q8_0', 'Q4_0', 'F16', 'BF16'].includes(t.type)) {
      const raw = await readWeightInto(original!, base, slots.take(base.byteLength));
      let converted: Uint8Array | undefined;
      let x = float32View(raw, base.dtype, base.name, (count) => {
        converted = slots.take(4 * count);
        return new Float32Array(converted.buffer, 0, count);
      }); // only read
      const transposed = base.shape.length === 2 && !sameShape(base.shape, t.shape) && sameShape([...base.shape].reverse(), t.shape);
      if (transposed) x = transpose(x, base.shape[0]!, base.shape[1]!);
      if (transposed || sameShape(base.shape, t.shape)) {
        const values = ggmlToFloat32(t.type, await file.readTensor(t), t.ne.reduce((a, b) => a * b, 1), t.name, scratch);
        if (values.length === x.length) scratch = values;
        const stats = await errorStats({ data: x, shape: t.shape }, { data: values, shape: t.shape }, {}, { backend: 'cpu' });
        Object.assign(line, { sqnrDb: stats.overall.sqnrDb, maxAbsError: stats.overall.maxAbsError, transposedFromOriginal: transposed });
      }
      slots.give(raw);
      if (converted) slots.give(converted);
    }
    lines.push(line);
  }
  if (args.tensor !== undefined && lines.length === 0) throw new FormatError(`${args.file}: no tensor named ${JSON.stringify(args.tensor)}`);
  const metadata = Object.fromEntries(Object.entries(file.metadata).map(([k, v]): [string, GgufValue | string] =>
    [k, Array.isArray(v) && v.length > 16 ? `[${v.length} values]` : v]));
  if (args.json) {
    io.stdout.write(`${JSON.stringify({ file: args.file, original: args.original, format: 'gguf', version: file.version, metadata, tensors: lines },
      (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : jsonNumber(v)))}\n`);
    return 0;
  }
  io.stdout.write(`${args.file}: GGUF v${file.version}, ${file.tensors.length} tensors\n`);
  for (const [k, v] of Object.entries(metadata)) io.stdout.write(`  ${k} = ${typeof v === 'string' ? v : JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x))}\n`);
  for (const line of lines) {
    const error = line.sqnrDb === undefined ? '' : `  SQNR ${line.sqnrDb.toFixed(2)} dB, max |err| ${line.maxAbsError!.toExponential(2)}`
      + (line.transposedFromOriginal ? ' (original transposed)' : '');
    io.stdout.write(`${line.name}  ${line.type}  [${line.shape.join(', ')}] (ne [${line.ne.join(', ')}])  ${line.bytes ?? '?'} B${error}\n`);
  }
  return 0;
}
