/**
 * `webgpu-quant compress`: ONNX in → ONNX (QDQ), safetensors or GGUF out; safetensors in → safetensors or GGUF out.
 * Prints a summary (or one JSON object with --json) and returns the exit code.
 *
 * @example
 * ```ts
 * await runCompress({ command: 'compress', output: 'vad.q8.onnx', dtype: 'qint8', ... }, io); // 0
 * ```
 * @module
 */
import { readFile, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { getBackend } from '../ops/backend.js';
import { type BudgetAllocation, type OutputErrorProbe, allocateBudget } from '../compress/budget.js';
import { type CompressOnnxOptions, compressOnnxParts } from '../compress/compress-onnx.js';
import { externalDataCertain } from '../compress/external-data-stream.js';
import { compressToSafetensors } from '../compress/compress-safetensors.js';
import { compressToGguf } from '../compress/compress-gguf.js';
import { ggufSchemeProblem } from '../compress/gguf-scheme.js';
import { planOnnxCompression } from '../compress/onnx-plan.js';
import { type CompressionPolicy, decideWeights } from '../compress/policy.js';
import { float32View } from '../io/float-convert.js';
import { reusedFloat32 } from '../compress/weight-buffers.js';
import { readWeightInto } from '../io/weights.js';
import { OnnxModel } from '../io/onnx/onnx-model.js';
import type { ExternalDataResolver } from '../io/onnx/onnx-types.js';
import type { GraphProto } from '../io/onnx/proto.js';
import type { OnnxRuntimeLike } from '../verify/runtime.js';
import { concatParts, writeParts } from '../io/onnx/deferred-raw-data.js';
import { InvalidArgumentError } from '../errors.js';
import { dequantizedReader } from '../io/safetensors/dequantized-reader.js';
import { openSafetensorsFile } from '../io/safetensors/node-open.js';
import type { SafetensorsReader } from '../io/safetensors/reader.js';
import type { ByteSink } from '../io/safetensors/sinks.js';
import { type VerifyReport, verifyModels } from '../verify/verify-models.js';
import { parseInputSamples } from '../verify/input-files.js';
import { graphSignature, readModelSignature } from '../verify/model-signature.js';
import { outputErrorProbe } from '../verify/output-error-probe.js';
import type { CompressArgs } from './args.js';
import { UsageError } from './args.js';
import { DEFAULT_MODEL_NAME, DEFAULT_MODEL_PACKAGE, findDefaultModel } from './default-model.js';
import { externalDataNextTo } from './external-data.js';
import { type OnnxInput, openOnnxInput } from './onnx-input.js';
import { checkInputFile, fileError, formatOf } from './files.js';
import { type OutputTarget, checkNotAnInput, openOutput, resolveOutput, staleTempFiles } from './output.js';
import { runPreset } from './preset-command.js';
import { defaultPool, onnxPool } from './worker-pool.js';
import { budgetOnPool } from '../compress/budget-pool.js';
import { budgetFromFiles } from '../compress/budget-measure-file.js';
import { type Progress, progressBar } from './progress.js';
import { megabytes } from './units.js';
import { writeJsonObject } from './json-output.js';
import { compressSummary, escalationWarnings } from './compress-summary.js';
import { formatVerifyReport, loadNodeRuntime, verifyJson, verifyOptionsOf } from './verify-command.js';

/** Where the command writes, and what it finds installed. */
export interface CliIo {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  /** The bundled sample model's path, or undefined when absent (default: {@link findDefaultModel}). */
  bundledModel?: () => string | undefined;
}


function policyOf(args: CompressArgs): CompressionPolicy {
  return {
    dtype: args.dtype, granularity: args.granularity, axis: args.axis, groupSize: args.groupSize, symmetric: args.symmetric,
    calibrate: args.calibrate, include: args.include, exclude: args.exclude,
    ...(args.targetBits !== undefined ? { targetBits: args.targetBits } : {}),
    ...(args.range ? { range: args.range } : {}), ...(args.minSqnr !== undefined ? { minSqnrDb: args.minSqnr } : {}),
    ...(args.firstLayer ? { firstLayer: args.firstLayer } : {}),
  };
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
  if (budget.errorSource === 'outputs') {
    lines.push(`  sensitivities measured on the sample inputs: ${budget.probeRuns} model runs, ${budget.probeSeconds.toFixed(1)} s`);
    const unreached = budget.tensors.filter((t) => t.sensitivity === 0);
    if (unreached.length) {
      lines.push(`  warning: ${unreached.length} weights do not change the outputs on these inputs (given the cheapest option): `
        + `${unreached.slice(0, 3).map((t) => t.name).join(', ')}${unreached.length > 3 ? ', ...' : ''}; give inputs that reach them if the model uses them`);
    }
  }
  for (const [option, [tensors, elements]] of counts) lines.push(`  ${option}: ${tensors} tensors, ${elements} weights`);
  return `${lines.join('\n')}\n`;
}

/** The output-error probe of `model` on the samples in `files` (budget inputs), run in onnxruntime-node. */
async function budgetProbe(model: Uint8Array | OnnxModel, files: string[], inputName: string, runtime: OnnxRuntimeLike,
  externalData?: ExternalDataResolver): Promise<OutputErrorProbe> {
  const signature = model instanceof OnnxModel ? graphSignature(model.proto.graph as GraphProto, inputName) : readModelSignature(model, inputName);
  const inputs = [];
  for (const file of files) inputs.push(...await parseInputSamples(await readFile(file), file, signature));
  return outputErrorProbe(model, { runtime, inputs, sessionOptions: { logSeverityLevel: 3 }, ...(externalData ? { externalData } : {}) });
}

/** A budget below what the model can reach is a usage mistake (exit 2); the message states the minimum. */
function budgetUsage(error: unknown, targetBits: number | undefined): unknown {
  if (error instanceof InvalidArgumentError && error.argument === 'targetBits') {
    return new UsageError(`--target-bits ${targetBits}: ${error.message.replace(/^targetBits \S+ /, '')}`);
  }
  return error;
}

/** The compressed model must not point at external data files it leaves behind in another folder. */
async function checkKeptExternal(model: OnnxModel, tensors: readonly { name: string; action: string }[], input: string,
  target: OutputTarget): Promise<void> {
  const kept = tensors.filter((t) => t.action === 'keep' && model.info(t.name).external);
  if (kept.length === 0) return;
  const location = model.info(kept[0]!.name).external!.location;
  const sameFolder = target.kind !== 'stdout'
    && await realpath(dirname(target.path)).catch(() => '') === await realpath(dirname(input)).catch(() => undefined);
  if (sameFolder) return;
  const count = kept.length === 1 ? '1 weight stays' : `${kept.length} weights stay`;
  throw new InvalidArgumentError('output', target.display, `${target.display}: ${count} float in external data `
    + `(e.g. ${JSON.stringify(kept[0]!.name)} in ${JSON.stringify(location)}), which the output refers to relative to its own folder; `
    + `write the output into the model's folder ${dirname(input)}, or write --format safetensors`);
}

/**
 * Whether the output must carry its own external data file: some weights are in external data and the
 * output goes to another folder, where the input's data files are not (they are copied into `<out>.data`).
 */
async function externalElsewhere(model: OnnxModel, input: string, target: OutputTarget): Promise<boolean> {
  if (target.kind !== 'file' || !model.list().some((w) => w.external)) return false;
  return await realpath(dirname(target.path)).catch(() => '') !== await realpath(dirname(input)).catch(() => undefined);
}

/** The output may not be one of the model's external data files either. */
async function checkExternalFiles(model: OnnxModel, input: string, target: OutputTarget, force: boolean): Promise<void> {
  const locations = new Set(model.list().flatMap((w) => (w.external ? [w.external.location] : [])));
  await checkNotAnInput(target, [...locations].map((location) => join(dirname(input), location)), force);
}

/** Runs `compress`; returns the exit code. Bad input throws (FormatError etc.), usage mistakes UsageError. */
export async function runCompress(args: CompressArgs, io: CliIo): Promise<number> {
  if (args.preset) return runPreset(args, io);
  const input = args.input ?? (io.bundledModel ?? findDefaultModel)();
  if (input === undefined) {
    throw new UsageError(`no input model given, and the bundled sample model (${DEFAULT_MODEL_PACKAGE}, installed for development only) `
      + 'is not installed; give a .onnx or .safetensors file to compress');
  }
  const inputName = args.input ?? `${DEFAULT_MODEL_NAME} (bundled default model)`;
  const inFormat = formatOf(input);
  if (!inFormat || inFormat === 'gguf') throw new UsageError(`${input}: unknown input format; use a .onnx or .safetensors file`);
  const outFormat = args.format ?? (args.output === '-' ? undefined : formatOf(args.output)) ?? inFormat;
  if (inFormat === 'safetensors' && outFormat === 'onnx') {
    throw new UsageError('safetensors input can only be written as safetensors (there is no graph to write ONNX from); use --format safetensors');
  }
  if (args.output === '-' && io.stdout.isTTY) {
    throw new UsageError('-o - writes the binary model to stdout, which is a terminal here; redirect it (> file, | program) or give -o <file>');
  }
  if (args.onnxOps && outFormat !== 'onnx') throw new UsageError(`--onnx-ops chooses ONNX operators: it needs ONNX output, not ${outFormat}`);
  if (args.scaleDtype && outFormat !== 'onnx') throw new UsageError(`--scale-dtype sets how ONNX stores scales: it needs ONNX output, not ${outFormat}`);
  if (args.verify && outFormat !== 'onnx') throw new UsageError('--verify runs ONNX models: it needs ONNX output (a .onnx file)');
  if (args.budgetInputs && (inFormat !== 'onnx' || outFormat === 'gguf')) {
    throw new UsageError('--inputs with --target-bits runs the model in onnxruntime: it needs an ONNX input (written as ONNX or safetensors)');
  }
  if (outFormat === 'gguf') {
    const problem = ggufSchemeProblem(policyOf(args));
    if (problem) throw new UsageError(`--format gguf: ${problem}`);
    if (args.targetBits !== undefined) throw new UsageError('--target-bits does not apply to --format gguf (Q8_0 / Q4_0 are chosen with --dtype); leave it out');
    if (args.minSqnr !== undefined) throw new UsageError('--min-sqnr does not apply to --format gguf (ggml\'s block types are fixed); leave it out, or write ONNX or safetensors');
  }
  await checkInputFile(input, 'input');
  // Before any work: a missing onnxruntime-node is an error now, not after the compression.
  const runtime = args.verify || args.budgetInputs ? await loadNodeRuntime() : undefined;
  const target = await resolveOutput(args.output, [input], args.force);
  // With the model on stdout, every message goes to stderr.
  const out = target.kind === 'stdout' ? io.stderr : io.stdout;
  for (const stale of await staleTempFiles(target)) {
    io.stderr.write(`webgpu-quant: note: ${stale} is left over from an interrupted run; delete it unless another webgpu-quant is writing ${target.display} now\n`);
  }
  const backend = { backend: args.backend } as const;
  // 'auto' is resolved only if a summary needs it: on a big model it computes on the worker pool, and opening a GPU
  // device it would not use costs time and memory. 'webgpu' without a GPU fails here, before any work.
  const resolved = args.backend === 'auto' ? undefined : await getBackend(backend);
  let bar: Progress | undefined;
  const onProgress = ({ done, total, name }: { done: number; total: number; name: string }): void => {
    bar ??= args.json ? { update: () => {}, done: () => {} } : progressBar(io.stderr, total);
    bar.update(done, name);
  };
  const external = inFormat === 'onnx' ? externalDataNextTo(input) : undefined;
  let reader: SafetensorsReader | undefined;
  let onnxInput: OnnxInput | undefined;
  let sink: ByteSink | undefined;
  let dataSink: ByteSink | undefined;
  let externalNote = '';
  let report;
  let text;
  let verified: VerifyReport | undefined;
  let threads = 0; // worker threads of the pool the compression ran with, for the summary
  /** The summary's backend: with the pool's threads where the compression had one. */
  const where = (backend: string): string => (threads > 0 ? `${backend}, ${threads} worker thread${threads === 1 ? '' : 's'}` : backend);
  try {
    // The sink (and its temporary file's cleanup) exists before anything is read: every failure after this aborts it.
    sink = await openOutput(target, io.stdout);
    if (outFormat === 'onnx') {
      // The model's tensor data is read from the file (--verify runs both models from their files; an output that is
      // not a file is verified from memory, which needs the input's bytes); so are the weights budget inputs feed.
      onnxInput = await openOnnxInput(input, inputName, external!.resolve, !(args.verify && target.kind !== 'file'));
      const { bytes } = onnxInput;
      const model = await onnxInput.load();
      await checkExternalFiles(model, input, target, args.force);
      if (args.externalData && target.kind !== 'file') {
        throw new UsageError('--external-data writes <out>.data beside the model: give a file output (-o model.onnx), not stdout or a device');
      }
      const planned = planOnnxCompression(model, policyOf(args)).decisions;
      // A data file of its own: asked for, needed to copy the input's data files, or certain from the plan (the
      // planned integers alone pass 2 GB); then its tensors are written as each weight is done.
      const certain = args.targetBits === undefined && externalDataCertain(model.list(), planned);
      if (certain && target.kind !== 'file') {
        throw new UsageError(`${inputName}: its planned integers alone pass the 2 GB one ONNX file can hold, so it is written with external data, `
          + 'which needs a file output (-o model.onnx): not stdout or a device');
      }
      const ownData = args.externalData || await externalElsewhere(model, input, target) || certain;
      if (!ownData) await checkKeptExternal(model, planned, input, target); // before the work
      // A model of its own for the probe, its tensors still in the file (the compression's model is changed as it is written).
      const outputError = args.budgetInputs ? await budgetProbe(bytes ?? await onnxInput.load(), args.budgetInputs, inputName, runtime!, external!.resolve) : undefined;
      const options: CompressOnnxOptions = {
        ...policyOf(args), name: inputName, onProgress, externalData: external!.resolve, ...(outputError ? { outputError } : {}),
        ...(target.kind === 'file' ? { externalDataLocation: `${basename(target.path)}.data`, writeExternalData: ownData ? 'always' : 'auto' } : {}),
        ...(args.onnxOps ? { onnxOps: args.onnxOps } : {}), ...(args.accuracyLevel !== undefined ? { accuracyLevel: args.accuracyLevel } : {}),
        ...(args.scaleDtype ? { scaleDtype: args.scaleDtype } : {}),
      };
      // Its own data file: opened before the work, each weight written there as soon as it is done.
      const openData = async (folder: string, location: string): Promise<{ sink: ByteSink; display: string }> => {
        const dataTarget = await resolveOutput(join(folder, location),
          [input, ...model.list().flatMap((w) => (w.external ? [join(dirname(input), w.external.location)] : []))], args.force);
        return { sink: dataSink = await openOutput(dataTarget, io.stdout), display: dataTarget.display };
      };
      const streamed = ownData && target.kind === 'file' ? await openData(dirname(target.path), options.externalDataLocation!) : undefined;
      // By default a pool only for big models: below kOnnxPoolMinBytes its start costs about what it saves.
      const pool = await onnxPool(args.workers, args.backend !== 'webgpu', model.list(), [planned]);
      threads = pool?.size ?? 0;
      let result;
      try {
        // To a file, the model is written as planned while the weights are compressed (when they come out as planned).
        result = await compressOnnxParts(bytes ?? await onnxInput.load(), { ...options, ...(pool ? { pool } : {}), ...(streamed ? { externalDataSink: streamed.sink } : {}) },
          backend, target.kind === 'file' ? { sink } : {})
          .catch((error: unknown) => { throw budgetUsage(error, args.targetBits); });
      } finally {
        await pool?.close();
      }
      bar?.done();
      if (!result.externalData) await checkKeptExternal(model, result.report.tensors, input, target); // weights kept for their values too
      if (result.externalData && target.kind === 'file') {
        // Written (to a temporary file) before the model, renamed into place just before it.
        const data = streamed ?? await openData(dirname(target.path), result.externalData.location);
        for (const part of result.externalData.parts) await data.sink.write(part);
        externalNote = `external data: ${data.display} (${result.externalData.tensors} tensors, ${megabytes(result.externalData.byteLength)})\n`;
      }
      // The tensors' bytes passed through, not copied into one buffer (unless already written as planned).
      if (!result.written) await writeParts(result.parts, (chunk) => sink!.write(chunk));
      await dataSink?.close();
      await sink.close();
      report = result.report;
      if (args.verify) {
        const names: [string, string] = [inputName, target.display];
        // Both from their files (the output is in place now), which onnxruntime-node loads itself with their
        // external data; an output on stdout (which never has external data) from memory.
        const compressed = target.kind === 'file' ? target.path : concatParts(result.parts, result.byteLength);
        verified = await verifyModels(input, compressed, { ...await verifyOptionsOf(args.verify, input, inputName, runtime!), names });
      }
      text = compressSummary(inputName, target.display, report.tensors, report.totals, where(report.backend ?? resolved ?? await getBackend(backend)), report.seconds,
        [report.totals.modelBytesBefore, report.totals.modelBytesAfter]);
      if (report.budget) text += budgetSummary(report.budget);
    } else {
      const weights = inFormat === 'onnx'
        // Its tensor data left in the file, each weight read when its turn comes (nothing else needs the bytes).
        ? await (onnxInput = await openOnnxInput(input, inputName, external!.resolve, true)).load()
        : (reader = await openSafetensorsFile(input).catch((error: unknown) => { throw fileError(error, input, 'input'); }));
      if (weights instanceof OnnxModel) await checkExternalFiles(weights, input, target, args.force);
      const source = args.requantize && !(weights instanceof OnnxModel) ? dequantizedReader(weights) : weights;
      if (outFormat === 'gguf') {
        const decisions = source instanceof OnnxModel ? planOnnxCompression(source, policyOf(args)).decisions : decideWeights(source.list(), policyOf(args));
        const name = inputName.replace(/^.*[\\/]/, '').replace(/\.(onnx|safetensors)$/i, '');
        const pool = await defaultPool(args.workers); // GGUF blocks are computed on the CPU
        threads = pool?.size ?? 0;
        try {
          report = await compressToGguf(source, decisions, sink, { name, onProgress, ...(pool ? { pool } : {}) });
        } finally {
          await pool?.close();
        }
        bar?.done();
        text = compressSummary(inputName, target.display, report.tensors, report.totals, where(report.backend ?? 'cpu'), report.seconds,
          [(await stat(input)).size, report.totals.fileBytesAfter]);
      } else {
        // Budget inputs run the ONNX model in onnxruntime (a model of its own, its tensors read from the file); with
        // measured sensitivities the first layers join the budget, as for ONNX output.
        const outputError = args.budgetInputs && source instanceof OnnxModel ? await budgetProbe(await onnxInput!.load(), args.budgetInputs, inputName, runtime!) : undefined;
        const policy = outputError && args.firstLayer === undefined ? { ...policyOf(args), firstLayer: 'quantize' as const } : policyOf(args);
        let decisions = source instanceof OnnxModel ? planOnnxCompression(source, policy).decisions : decideWeights(source.list(), policyOf(args));
        let budget: BudgetAllocation | undefined;
        // 'auto' with a pool computes on it (autoComputesOnCpu): the workers outrun one GPU round trip per weight.
        const pool = args.backend !== 'webgpu' ? await defaultPool(args.workers) : undefined;
        threads = pool?.size ?? 0;
        try {
          if (args.targetBits !== undefined) {
            const list = source.list();
            // One weight at a time, read into one buffer used again, as float32: a view of it where it holds aligned
            // float32, else converted into one array used again (measuring keeps neither).
            const scratch = reusedFloat32();
            let stored = new Uint8Array(0);
            const read = async (i: number) => {
              const info = list[i]!;
              if (stored.byteLength < info.byteLength) stored = new Uint8Array(info.byteLength);
              return float32View(await readWeightInto(source, info, stored.subarray(0, info.byteLength)), info.dtype, info.name, scratch);
            };
            // The workers measure the big weights' options ahead of the allocator (budget-pool.ts); on one thread
            // on the CPU path, a weight in a file is measured a block of rows at a time (budget-measure-file.ts).
            const measured = pool ? budgetOnPool(pool, source, list, decisions, policyOf(args), undefined, undefined, outputError !== undefined)
              : outputError === undefined && (await getBackend(backend)) === 'cpu' ? budgetFromFiles(source, list, decisions, policyOf(args), read, {}) : undefined;
            ({ decisions, allocation: budget } = await allocateBudget(list, decisions, policyOf(args), args.targetBits, read, {}, backend, 'safetensors', outputError, undefined, measured)
              .catch((error: unknown) => { throw budgetUsage(error, args.targetBits); }));
          }
          report = await compressToSafetensors(source, decisions, sink, backend, onProgress, pool ? { pool } : {});
        } finally {
          await pool?.close();
        }
        bar?.done();
        text = compressSummary(inputName, target.display, report.tensors, report.totals, where(report.backend ?? resolved ?? await getBackend(backend)), report.seconds);
        if (budget) {
          text += budgetSummary(budget);
          report = { ...report, budget };
        }
      }
    }
  } catch (error) {
    await dataSink?.abort(error);
    await sink?.abort(error);
    throw error;
  } finally {
    await reader?.close();
    await onnxInput?.close();
    await external?.close();
  }
  io.stderr.write(escalationWarnings(report.tensors));
  if (args.json) {
    writeJsonObject(out, { input: inputName, output: target.display, ...report, ...(verified ? { verify: verifyJson(verified) } : {}) });
  } else {
    out.write(text + externalNote);
    if (verified) out.write(formatVerifyReport(verified, [inputName, target.display]));
  }
  if (verified && !verified.passed) {
    io.stderr.write(`webgpu-quant: ${target.display} was written but fails verification (${verified.failures.join('; ')}); `
      + 'use a finer scheme (--granularity channel, --dtype qint8) or leave more weights in float (--exclude)\n');
    return 1;
  }
  return 0;
}
