/**
 * `webgpu-quant compress`: ONNX in → ONNX (QDQ) or safetensors out; safetensors in → safetensors out.
 * Prints a summary (or one JSON object with --json) and returns the exit code.
 *
 * @example
 * ```ts
 * await runCompress({ command: 'compress', output: 'vad.q8.onnx', dtype: 'qint8', ... }, io); // 0
 * ```
 * @module
 */
import { readFile } from 'node:fs/promises';
import { getBackend } from '../backend.js';
import { type CompressOnnxOptions, compressOnnx } from '../compress/compress-onnx.js';
import type { TensorReport } from '../compress/compress-report.js';
import { compressToSafetensors } from '../compress/compress-safetensors.js';
import { planOnnxCompression } from '../compress/onnx-plan.js';
import { type CompressionPolicy, decideWeights } from '../compress/policy.js';
import { OnnxModel } from '../io/onnx/onnx-model.js';
import { nodeFileSink } from '../io/safetensors/node-file-sink.js';
import { openSafetensorsFile } from '../io/safetensors/node-open.js';
import type { CompressArgs } from './args.js';
import { UsageError } from './args.js';
import { DEFAULT_MODEL_NAME, defaultModelPath } from './default-model.js';
import { type Progress, progressBar } from './progress.js';

/** Where the command writes. */
export interface CliIo {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

/** The file format a path names, by extension. */
export function formatOf(path: string): 'onnx' | 'safetensors' | undefined {
  if (/\.onnx$/i.test(path)) return 'onnx';
  if (/\.safetensors$/i.test(path)) return 'safetensors';
  return undefined;
}

function policyOf(args: CompressArgs): CompressionPolicy {
  return {
    dtype: args.dtype, granularity: args.granularity, axis: args.axis, groupSize: args.groupSize, symmetric: args.symmetric,
    calibrate: args.calibrate, include: args.include, exclude: args.exclude,
    ...(args.range ? { range: args.range } : {}), ...(args.minSqnr !== undefined ? { minSqnrDb: args.minSqnr } : {}),
    ...(args.firstLayer ? { firstLayer: args.firstLayer } : {}),
  };
}

/** JSON has no Infinity or NaN: write them as strings ("Infinity" for an exact tensor's SQNR). */
export function jsonNumber(value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? String(value) : value;
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(2)} MB`;
}

/** Lines about the quality floor: every escalated weight and what it became (stderr, so --json stays one object). */
export function escalationWarnings(tensors: readonly TensorReport[]): string {
  const escalated = tensors.filter((t) => t.escalations?.length);
  if (!escalated.length) return '';
  const lines = [`warning: ${escalated.length} weight(s) fell below the quality floor and were escalated (--min-sqnr sets the floor):`];
  for (const t of escalated) for (const step of t.escalations!) lines.push(`  ${step.text}`);
  return `${lines.join('\n')}\n`;
}

/** The human summary: counts, sizes, ratio, backend, and the five worst tensors by SQNR. */
function summary(input: string, output: string, tensors: TensorReport[], totals: { tensorsQuantized: number; tensorsKept: number;
  bytesBefore: number; bytesAfter: number; compressionRatio: number; tensorsEscalated?: number }, backend: string, seconds: number, fileBytes?: [number, number]): string {
  const worst = tensors.filter((t) => t.sqnrDb !== undefined).sort((a, b) => a.sqnrDb! - b.sqnrDb!).slice(0, 5);
  const lines = [
    `${input} -> ${output}`,
    `tensors: ${totals.tensorsQuantized} quantized, ${totals.tensorsKept} kept${
      totals.tensorsEscalated ? `, ${totals.tensorsEscalated} escalated by the quality floor` : ''}`,
    `weights: ${megabytes(totals.bytesBefore)} -> ${megabytes(totals.bytesAfter)} (${totals.compressionRatio.toFixed(2)}x)`,
    ...(fileBytes ? [`file: ${megabytes(fileBytes[0])} -> ${megabytes(fileBytes[1])} (${(fileBytes[0] / fileBytes[1]).toFixed(2)}x)`] : []),
    `backend: ${backend}; ${seconds.toFixed(2)} s`,
    'worst tensors by SQNR:',
    ...worst.map((t) => `  ${t.sqnrDb!.toFixed(2).padStart(7)} dB  ${t.name}  [${t.shape.join(', ')}]  ${t.scheme}${
      t.escalations?.length ? `  (escalated: ${t.escalations.map((e) => `${e.from} ${e.reason}`).join('; ')})` : ''}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** Runs `compress`; returns the exit code. Bad input throws (FormatError etc.), usage mistakes UsageError. */
export async function runCompress(args: CompressArgs, io: CliIo): Promise<number> {
  const input = args.input ?? defaultModelPath();
  const inputName = args.input ?? `${DEFAULT_MODEL_NAME} (bundled default model)`;
  const inFormat = formatOf(input);
  if (!inFormat) throw new UsageError(`${input}: unknown input format; use a .onnx or .safetensors file`);
  const outFormat = args.format ?? formatOf(args.output) ?? inFormat;
  if (inFormat === 'safetensors' && outFormat === 'onnx') {
    throw new UsageError('safetensors input can only be written as safetensors (there is no graph to write ONNX from); use --format safetensors');
  }
  const backend = { backend: args.backend } as const;
  const resolved = await getBackend(backend);
  let bar: Progress | undefined;
  const onProgress = ({ done, total, name }: { done: number; total: number; name: string }): void => {
    bar ??= args.json ? { update: () => {}, done: () => {} } : progressBar(io.stderr, total);
    bar.update(done, name);
  };
  let report;
  let text;
  if (outFormat === 'onnx') {
    const bytes = await readFile(input);
    const options: CompressOnnxOptions = { ...policyOf(args), name: inputName, onProgress };
    const result = await compressOnnx(bytes, options, backend);
    bar?.done();
    const sink = await nodeFileSink(args.output);
    try {
      await sink.write(result.model);
      await sink.close();
    } catch (error) {
      await sink.abort(error);
      throw error;
    }
    report = result.report;
    text = summary(inputName, args.output, report.tensors, report.totals, report.backend ?? resolved, report.seconds,
      [report.totals.modelBytesBefore, report.totals.modelBytesAfter]);
  } else {
    const reader = inFormat === 'onnx' ? await OnnxModel.load(await readFile(input), { name: inputName }) : await openSafetensorsFile(input);
    const decisions = reader instanceof OnnxModel ? planOnnxCompression(reader, policyOf(args)).decisions : decideWeights(reader.list(), policyOf(args));
    const sink = await nodeFileSink(args.output);
    report = await compressToSafetensors(reader, decisions, sink, backend, onProgress);
    bar?.done();
    text = summary(inputName, args.output, report.tensors, report.totals, report.backend ?? resolved, report.seconds);
  }
  io.stderr.write(escalationWarnings(report.tensors));
  if (args.json) {
    io.stdout.write(`${JSON.stringify({ input: inputName, output: args.output, ...report }, (_key, value: unknown) =>
      (value instanceof Float64Array || value instanceof Float32Array ? Array.from(value, jsonNumber) : jsonNumber(value)))}\n`);
  } else {
    io.stdout.write(text);
  }
  return 0;
}
