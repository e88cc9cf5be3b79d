/**
 * `webgpu-quant inspect <file>`: a model's tensors as a table, one row per quantized weight (its data,
 * scale and zero point folded together; `--raw` lists them as stored) and one per other tensor, with a
 * header line and a summary. With `--original`, each quantized weight's error against the original's
 * float weight (SQNR, max |error|, worst channel), worst first (`--sort name` to order by name); with
 * `--tensor`, one tensor in detail. Sizes in decimal units (kB = 1000 bytes, MB = 10^6 bytes).
 *
 * @example
 * ```ts
 * await runInspect({ command: 'inspect', file: 'vad.q8.onnx', original: 'vad.onnx', sort: 'sqnr', raw: false, json: false }, io); // 0
 * ```
 * @module
 */
import { type BufferSlots, bufferSlots } from '../compress/buffer-slots.js';
import { FormatError } from '../errors.js';
import { float32View } from '../io/float-convert.js';
import { FLOAT_WEIGHT_DTYPES, type WeightInfo, readWeightInto } from '../io/weights.js';
import { type StoredQuantizedWeight, packedByteLength } from '../io/stored-quantized.js';
import type { QTensor } from '../qtensor.js';
import { errorStats } from '../ops/error-stats.js';
import type { InspectArgs } from './args.js';
import type { CliIo } from './compress-command.js';
import { jsonNumber } from './json-output.js';
import { formatOf } from './files.js';
import { runInspectGguf } from './inspect-gguf.js';
import { type OpenedModel, openModelFile } from './open-model.js';
import { formatBytes } from './units.js';

interface TensorLine {
  name: string;
  dtype: string;
  shape: number[];
  /** Stored bytes (a quantized weight's data, scale and zero point together unless --raw). */
  bytes: number;
  quantized: boolean;
  scheme?: string;
  /** The stored tensors folded into this row. */
  parts?: string[];
  sqnrDb?: number;
  mse?: number;
  maxAbsError?: number;
  worstChannel?: { index: number; sqnrDb: number };
  perChannelSqnrDb?: number[];
}

function schemeText(w: StoredQuantizedWeight): string {
  if (w.qscheme === 'per_tensor_affine') return `${w.dtype} per tensor`;
  if (w.qscheme === 'per_channel_affine') return `${w.dtype} per channel (axis ${w.axis})`;
  return `${w.dtype} per group of ${w.groupSize} (axis ${w.axis})`;
}

/** The rows: quantized weights, then the other stored tensors (without the folded parts unless raw). */
function rowsOf(model: OpenedModel, raw: boolean): TensorLine[] {
  const stored = model.reader.list();
  const bytesOf = new Map(stored.map((w) => [w.name, w.byteLength]));
  const folded = new Set(raw ? [] : [...model.parts.values()].flat());
  const rows: TensorLine[] = [...model.quantized.entries()].map(([name, w]) => {
    const parts = model.parts.get(name) ?? [];
    const bytes = raw || parts.length === 0 ? packedByteLength(w) : parts.reduce((sum, p) => sum + (bytesOf.get(p) ?? 0), 0);
    return { name, dtype: w.dtype, shape: [...w.shape], bytes, quantized: true, scheme: schemeText(w), ...(raw ? {} : { parts }) };
  });
  for (const w of stored) {
    if (folded.has(w.name) || model.quantized.has(w.name)) continue;
    rows.push({ name: w.name, dtype: w.dtype, shape: [...w.shape], bytes: w.byteLength, quantized: false });
  }
  return rows;
}

/**
 * A quantized row's float weight from the original (read into `raw`; converted to float32 into `converted` where it
 * is not an aligned float32 view of `raw`) and its integers, read for {@link measure}.
 */
interface Measured {
  x: { data: Float32Array; shape: number[] };
  q: QTensor;
  raw: Uint8Array;
  converted?: Uint8Array;
}

/**
 * Reads what {@link measure} needs for a quantized row, the original's weight into a buffer of `slots`, and its
 * float32 values into another where they are converted (both given back by the caller once measured): undefined
 * when the original has no float weight of its name.
 */
async function readForMeasure(
  line: TensorLine, w: StoredQuantizedWeight, original: OpenedModel, originals: Map<string, WeightInfo>, slots: BufferSlots,
): Promise<Measured | undefined> {
  const base = originals.get(line.name);
  if (!base || !FLOAT_WEIGHT_DTYPES.includes(base.dtype)) return undefined;
  const raw = await readWeightInto(original.reader, base, slots.take(base.byteLength));
  let converted: Uint8Array | undefined;
  const into = (count: number) => {
    converted = slots.take(4 * count);
    return new Float32Array(converted.buffer, 0, count);
  };
  const x = { data: float32View(raw, base.dtype, base.name, into), shape: [...base.shape] }; // only read
  return { x, q: await w.load(), raw, ...(converted ? { converted } : {}) };
}

/** Adds the error against the original's float weight to a quantized row (the weight's integers read for it, then let go). */
async function measure(line: TensorLine, w: StoredQuantizedWeight, { x, q }: Measured, detail: boolean): Promise<void> {
  const axis = w.qscheme === 'per_tensor_affine' ? (x.shape.length > 1 ? 0 : undefined) : w.axis;
  const stats = await errorStats(x, q, axis === undefined ? {} : { axis });
  Object.assign(line, { sqnrDb: stats.overall.sqnrDb, mse: stats.overall.mse, maxAbsError: stats.overall.maxAbsError });
  const perChannel = stats.perChannel?.sqnrDb;
  if (perChannel && perChannel.length) {
    let index = 0;
    perChannel.forEach((v, i) => { if (v < perChannel[index]! || Number.isNaN(v)) index = i; });
    line.worstChannel = { index, sqnrDb: perChannel[index]! };
    if (detail) line.perChannelSqnrDb = Array.from(perChannel);
  }
}

/** Worst SQNR first (NaN, the worst of all, before any number); rows without one after, in file order. */
function sortRows(rows: TensorLine[], by: 'sqnr' | 'name'): TensorLine[] {
  if (by === 'name') return [...rows].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const key = (line: TensorLine): number => (line.sqnrDb === undefined ? Infinity : Number.isNaN(line.sqnrDb) ? -Infinity : line.sqnrDb);
  return rows.map((line, i) => ({ line, i })).sort((a, b) => {
    const ka = key(a.line);
    const kb = key(b.line);
    const measuredA = a.line.sqnrDb !== undefined;
    const measuredB = b.line.sqnrDb !== undefined;
    if (measuredA !== measuredB) return measuredA ? -1 : 1;
    return ka === kb ? a.i - b.i : ka < kb ? -1 : 1;
  }).map(({ line }) => line);
}

/** Totals for the summary line and the JSON. */
function summaryOf(rows: TensorLine[], model: OpenedModel) {
  const quantized = rows.filter((r) => r.quantized);
  const sqnr = quantized.map((r) => r.sqnrDb).filter((v): v is number => v !== undefined).sort((a, b) => a - b);
  return {
    storedTensors: model.reader.list().length, quantizedWeights: model.quantized.size, otherTensors: rows.length - quantized.length,
    quantizedBytes: quantized.reduce((s, r) => s + r.bytes, 0), otherBytes: rows.filter((r) => !r.quantized).reduce((s, r) => s + r.bytes, 0),
    fileBytes: model.fileBytes,
    ...(sqnr.length ? { measured: sqnr.length, worstSqnrDb: sqnr[0]!, medianSqnrDb: sqnr[Math.floor((sqnr.length - 1) / 2)]! } : {}),
  };
}

const dB = (v: number): string => `${v.toFixed(2)} dB`;

function table(rows: TensorLine[]): string[] {
  const cells = rows.map((line) => [
    line.name, line.dtype, `[${line.shape.join(', ')}]`, formatBytes(line.bytes), line.scheme ?? 'not quantized',
    line.sqnrDb === undefined ? '' : dB(line.sqnrDb),
    line.maxAbsError === undefined ? '' : line.maxAbsError.toExponential(2),
    line.worstChannel ? `${line.worstChannel.index}: ${dB(line.worstChannel.sqnrDb)}` : '',
  ]);
  const header = ['name', 'dtype', 'shape', 'size', 'scheme', 'SQNR', 'max |error|', 'worst channel'];
  // The error columns only when something was measured.
  const columns = header.map((_, c) => c).filter((c) => c < 5 || cells.some((row) => row[c] !== ''));
  // A loop, not Math.max(...cells): a file of 200k tensors would pass 200k arguments and overflow the stack.
  const widths = columns.map((c) => cells.reduce((width, row) => Math.max(width, row[c]!.length), header[c]!.length));
  const format = (row: string[]): string => columns.map((c, k) => row[c]!.padEnd(widths[k]!)).join('  ').trimEnd();
  return [format(header), ...cells.map(format)];
}

/** Runs `inspect`; returns the exit code. */
export async function runInspect(args: InspectArgs, io: CliIo): Promise<number> {
  if (formatOf(args.file) === 'gguf') return runInspectGguf(args, io);
  const model = await openModelFile(args.file, 'file');
  let original: OpenedModel | undefined;
  try {
    original = args.original ? await openModelFile(args.original, 'original') : undefined;
    let rows = rowsOf(model, args.raw);
    if (args.tensor !== undefined) {
      rows = rows.filter((line) => line.name === args.tensor);
      if (rows.length === 0) {
        const owner = [...model.parts.entries()].find(([, parts]) => parts.includes(args.tensor!))?.[0];
        throw new FormatError(`${args.file}: no tensor named ${JSON.stringify(args.tensor)}${owner === undefined ? ''
          : `; it is stored as part of the quantized weight ${JSON.stringify(owner)} (inspect it by that name, or add --raw)`}`);
      }
    }
    if (original) {
      const originals = new Map(original.reader.list().map((w) => [w.name, w]));
      const jobs = rows.flatMap((line) => {
        const w = line.quantized ? model.quantized.get(line.name) : undefined;
        return w ? [{ line, w }] : [];
      });
      // The next weight is read (the files, and its blocks unpacked) while this one is measured: one weight ahead,
      // the original's weights (and a 16-bit weight's float32 values) in buffers used again from weight to weight.
      const slots = bufferSlots('local');
      const read = (i: number) => {
        const reading = readForMeasure(jobs[i]!.line, jobs[i]!.w, original!, originals, slots);
        reading.catch(() => undefined); // awaited in its turn; a failure meanwhile is not unhandled
        return reading;
      };
      let next = jobs.length > 0 ? read(0) : undefined;
      for (let i = 0; i < jobs.length; i++) {
        const measured = await next!;
        next = i + 1 < jobs.length ? read(i + 1) : undefined;
        if (!measured) continue;
        await measure(jobs[i]!.line, jobs[i]!.w, measured, args.tensor !== undefined);
        slots.give(measured.raw);
        if (measured.converted) slots.give(measured.converted);
      }
    }
    rows = sortRows(rows, args.sort);
    const summary = summaryOf(rows, model);
    if (args.json) {
      io.stdout.write(`${JSON.stringify({ file: args.file, original: args.original, format: model.format, summary, tensors: rows },
        (_k, v: unknown) => jsonNumber(v))}\n`);
      return 0;
    }
    const lines = [
      `${args.file}: ${model.format === 'onnx' ? 'ONNX model' : 'safetensors file'}, ${formatBytes(model.fileBytes)}, `
        + `${summary.storedTensors} stored tensors, ${summary.quantizedWeights} quantized weights`
        + `${args.original ? `; error measured against ${args.original}` : ''}`,
      ...table(rows),
      `summary: ${summary.quantizedWeights} quantized weights (${formatBytes(summary.quantizedBytes)}), `
        + `${summary.otherTensors} other tensors (${formatBytes(summary.otherBytes)})`
        + (summary.measured ? `; SQNR worst ${dB(summary.worstSqnrDb!)}, median ${dB(summary.medianSqnrDb!)} over ${summary.measured} weights` : ''),
    ];
    for (const line of rows) {
      if (line.perChannelSqnrDb) lines.push(`${line.name} per-channel SQNR (dB): ${line.perChannelSqnrDb.map((v) => v.toFixed(2)).join(' ')}`);
    }
    io.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  } finally {
    await original?.close();
    await model.close();
  }
}
