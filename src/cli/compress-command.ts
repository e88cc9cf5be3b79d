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
import { getBackend } from '../ops/backend.js';
import { type BudgetAllocation, allocateBudget } from '../compress/budget.js';
import { type CompressOnnxOptions, compressOnnx } from '../compress/compress-onnx.js';
import type { TensorReport } from '../compress/compress-report.js';
import { compressToSafetensors } from '../compress/compress-safetensors.js';
import { planOnnxCompression } from '../compress/onnx-plan.js';
import { type CompressionPolicy, decideWeights } from '../compress/policy.js';
import { InvalidArgumentError } from '../errors.js';
import { toFloat32 } from '../io/float-convert.js';
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
    ...(args.targetBits !== undefined ? { targetBits: args.targetBits } : {}),
  };
}

/** JSON has no Infinity or NaN: write them as strings ("Infinity" for an exact tensor's SQNR). */
export function jsonNumber(value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? String(value) : value;
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(2)} MB`;
}

/** The human summary: counts, sizes, ratio, backend, and the five worst tensors by SQNR. */
function summary(input: string, output: string, tensors: TensorReport[], totals: { tensorsQuantized: number; tensorsKept: number;
  bytesBefore: number; bytesAfter: number; compressionRatio: number }, backend: string, seconds: number, fileBytes?: [number, number]): string {
  const worst = tensors.filter((t) => t.sqnrDb !== undefined).sort((a, b) => a.sqnrDb! - b.sqnrDb!).slice(0, 5);
  const lines = [
    `${input} -> ${output}`,
    `tensors: ${totals.tensorsQuantized} quantized, ${totals.tensorsKept} kept`,
    `weights: ${megabytes(totals.bytesBefore)} -> ${megabytes(totals.bytesAfter)} (${totals.compressionRatio.toFixed(2)}x)`,
    ...(fileBytes ? [`file: ${megabytes(fileBytes[0])} -> ${megabytes(fileBytes[1])} (${(fileBytes[0] / fileBytes[1]).toFixed(2)}x)`] : []),
    `backend: ${backend}; ${seconds.toFixed(2)} s`,
    'worst tensors by SQNR:',
    ...worst.map((t) => `  ${t.sqnrDb!.toFixed(2).padStart(7)} dB  ${t.name}  [${t.shape.join(', ')}]  ${t.scheme}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** The allocation in a few lines: the bits reached, then how many weights (and elements) got each precision. */
function budgetSummary(budget: BudgetAllocation): string {
  const counts = new Map<string, [number, number]>();
  for (const t of budget.tensors) {
    const [tensors, elements] = counts.get(t.chosen) ?? [0, 0];
    counts.set(t.chosen, [tensors + 1, elements + t.elements]);
  }
  const lines = [`size budget: ${budget.bits.toFixed(3)} bits per weight (target ${budget.targetBits}, minimum ${budget.minimumBits.toFixed(3)}), `
    + `error estimate ${budget.errorEstimate.toExponential(3)}`];
  for (const [option, [tensors, elements]] of counts) lines.push(`  ${option}: ${tensors} tensors, ${elements} weights`);
  return `${lines.join('\n')}\n`;
}

/** A budget below what the model can reach is a usage mistake (exit 2); the message states the minimum. */
function budgetUsage(error: unknown, targetBits: number | undefined): unknown {
  if (error instanceof InvalidArgumentError && error.argument === 'targetBits') {
    return new UsageError(`--target-bits ${targetBits}: ${error.message.replace(/^targetBits \S+ /, '')}`);
  }
  return error;
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
    let result;
    try {
      result = await compressOnnx(bytes, options, backend);
    } catch (error) {
      throw budgetUsage(error, args.targetBits);
    }
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
    if (report.budget) text += budgetSummary(report.budget);
  } else {
    const reader = inFormat === 'onnx' ? await OnnxModel.load(await readFile(input), { name: inputName }) : await openSafetensorsFile(input);
    let decisions = reader instanceof OnnxModel ? planOnnxCompression(reader, policyOf(args)).decisions : decideWeights(reader.list(), policyOf(args));
    let budget: BudgetAllocation | undefined;
    if (args.targetBits !== undefined) {
      const weights = reader.list();
      const read = async (i: number) => toFloat32(await reader.read(weights[i]!.name), weights[i]!.dtype, weights[i]!.name);
      try {
        ({ decisions, allocation: budget } = await allocateBudget(weights, decisions, policyOf(args), args.targetBits, read, {}, backend, 'safetensors'));
      } catch (error) {
        throw budgetUsage(error, args.targetBits);
      }
    }
    const sink = await nodeFileSink(args.output);
    report = await compressToSafetensors(reader, decisions, sink, backend, onProgress);
    bar?.done();
    text = summary(inputName, args.output, report.tensors, report.totals, report.backend ?? resolved, report.seconds);
    if (budget) {
      text += budgetSummary(budget);
      report = { ...report, budget };
    }
  }
  if (args.json) {
    io.stdout.write(`${JSON.stringify({ input: inputName, output: args.output, ...report }, (_key, value: unknown) =>
      (value instanceof Float64Array || value instanceof Float32Array ? Array.from(value, jsonNumber) : jsonNumber(value)))}\n`);
  } else {
    io.stdout.write(text);
  }
  return 0;
}
