/**
 * `webgpu-quant compress <model.onnx> --preset transformers.js -o <folder>`: writes the files of
 * transformers.js's layout (compress/transformers-js.ts) under `<folder>/onnx/`: `model_q4.onnx` and
 * `model_quantized.onnx` for a float32 model, `model_q4f16.onnx` for a float16 one (an input in a model folder's
 * `onnx/` named after itself: `onnx/decoder_model_merged.onnx` gives `decoder_model_merged_q4.onnx`, ...).
 *
 * The model is read from its file (its tensor data left there until written). Each file is written to a temporary
 * file beside it (`.<name>.webgpu-quant-tmp-*`) as planned while its weights are compressed (`compressOnnxParts`
 * with a sink), or, where a weight came out other than planned, while the next one is compressed. All are renamed into
 * place once all are complete, so a failure leaves none of them (nor the folders it made). Files already in the
 * folder are refused before any work without `--force` (it is often a downloaded model's folder, whose own
 * quantized files should not vanish silently).
 *
 * An input in a model folder's `onnx/` has the folder's configuration and tokenizer files (`config.json`,
 * `tokenizer.json`, ...: model-folder-files.ts) copied into `<folder>` with them, so that it loads as it is;
 * `config.json` then names the files with external data (`transformers.js_config.use_external_data_format`).
 *
 * With `--verify`, each file, once in place, runs beside the input in onnxruntime-node (as `compress --verify`): a
 * file that fails stays written and the command exits 1 naming it.
 *
 * A model that keeps its weights in external data (`model.onnx` + `model.onnx_data`, as big models come) gives
 * files with external data of their own, named as transformers.js asks for them (`model_q4.onnx_data` beside
 * `model_q4.onnx`, loaded with `use_external_data_format` in the model's `transformers.js_config`): each weight's
 * tensors go there as soon as it is done, and the float weights the file keeps are copied there from the input's
 * data files. So does a model whose quantized integers alone pass the 2 GB one ONNX file holds.
 *
 * @example
 * ```ts
 * await runPreset({ command: 'compress', input: 'model.onnx', output: 'web-model', preset: 'transformers.js', ... }, io); // 0
 * // web-model/onnx/model_q4.onnx, web-model/onnx/model_quantized.onnx
 * ```
 * @module
 */
import { mkdir, readFile, rmdir, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { type CompressOnnxOptions, type OnnxCompressionReport, compressOnnxParts } from '../compress/compress-onnx.js';
import { externalDataCertain } from '../compress/external-data-stream.js';
import { writeParts } from '../io/onnx/deferred-raw-data.js';
import type { ExternalDataFile } from '../io/onnx/onnx-types.js';
import { planOnnxCompression } from '../compress/onnx-plan.js';
import { transformersJsFileName, transformersJsVariants } from '../compress/transformers-js.js';
import { InvalidArgumentError } from '../errors.js';
import type { CompressArgs } from './args.js';
import { UsageError } from './args.js';
import type { CliIo } from './compress-command.js';
import { externalDataNextTo } from './external-data.js';
import { checkInputFile, fileError, formatOf } from './files.js';
import { companionFiles, modelFolderOf, withExternalDataFormat } from './model-folder-files.js';
import { type OnnxInput, openOnnxInput } from './onnx-input.js';
import { type OutputSink, openOutput, resolveOutput } from './output.js';
import { type VerifyReport, verifyModels } from '../verify/verify-models.js';
import { formatVerifyReport, loadNodeRuntime, verifyJson, verifyOptionsOf } from './verify-command.js';
import { trackTempFolder, untrackTempFolder } from './signals.js';
import { megabytes } from './units.js';
import { onnxPool } from './worker-pool.js';

/** One written file of the preset. */
export interface PresetFile {
  /** The transformers.js `dtype` that loads it. */
  dtype: string;
  path: string;
  report: OnnxCompressionReport;
  /** Its external data file, where it has one: its path and what it holds. */
  externalData?: { path: string; byteLength: number; tensors: number };
  /** With `--verify`: the file run beside the input in onnxruntime-node. */
  verify?: VerifyReport;
}

/**
 * The external data file transformers.js loads beside `file` (`onnx/model_q4.onnx` → `onnx/model_q4.onnx_data`:
 * its `${fileName}${suffix}.onnx_data`).
 *
 * @example
 * ```ts
 * externalDataFileOf('web/onnx/model_q4.onnx'); // 'web/onnx/model_q4.onnx_data'
 * ```
 */
export function externalDataFileOf(file: string): string {
  return `${file}_data`;
}

function policyOf(args: CompressArgs): CompressOnnxOptions {
  return {
    calibrate: args.calibrate, include: args.include, exclude: args.exclude,
    ...(args.range ? { range: args.range } : {}), ...(args.minSqnr !== undefined ? { minSqnrDb: args.minSqnr } : {}),
    ...(args.firstLayer ? { firstLayer: args.firstLayer } : {}), ...(args.accuracyLevel !== undefined ? { accuracyLevel: args.accuracyLevel } : {}),
  };
}

/** The folder `-o` names: an existing folder, or a new one in an existing folder. */
async function checkFolder(folder: string): Promise<void> {
  const stats = await stat(folder).catch(() => undefined);
  if (stats && !stats.isDirectory()) throw new InvalidArgumentError('output', folder, `${folder}: is not a folder; --preset writes a folder of files (give a folder path)`);
  if (!stats && !(await stat(dirname(folder)).catch(() => undefined))?.isDirectory()) {
    throw new InvalidArgumentError('output', folder, `${folder}: the folder ${dirname(folder)} does not exist; create it first`);
  }
}

/** A file's external data as the summary gives it. */
function dataOf(file: string, data: ExternalDataFile): NonNullable<PresetFile['externalData']> {
  return { path: externalDataFileOf(file), byteLength: data.byteLength, tensors: data.tensors };
}

/** A line per file: its dtype, path, operators, size and ratio. */
function fileLine(file: PresetFile): string {
  const { totals, tensors } = file.report;
  const nbits = tensors.filter((t) => t.onnxOp === 'MatMulNBits').length;
  const qdq = tensors.filter((t) => t.onnxOp === 'DequantizeLinear').length;
  const ops = [nbits ? `${nbits} MatMulNBits` : '', qdq ? `${qdq} DequantizeLinear` : '', `${totals.tensorsKept} kept float`].filter(Boolean).join(', ');
  const worst = Math.min(...tensors.filter((t) => t.sqnrDb !== undefined).map((t) => t.sqnrDb!));
  const data = file.externalData ? ` (external data ${file.externalData.path}, ${megabytes(file.externalData.byteLength)})` : '';
  return `  dtype ${file.dtype.padEnd(5)} ${file.path}${data}: ${megabytes(totals.modelBytesBefore)} -> ${megabytes(totals.modelBytesAfter)} `
    + `(${totals.modelCompressionRatio.toFixed(2)}x); ${ops}${Number.isFinite(worst) ? `; worst SQNR ${worst.toFixed(2)} dB` : ''}`;
}

/** Runs `compress --preset`; returns the exit code. */
export async function runPreset(args: CompressArgs, io: CliIo): Promise<number> {
  const input = args.input;
  if (input === undefined || formatOf(input) !== 'onnx') {
    throw new UsageError(`--preset ${args.preset} compresses an ONNX model: give the .onnx file (e.g. onnx/model.onnx of the model's folder)`);
  }
  await checkInputFile(input, 'input');
  await checkFolder(args.output);
  const runtime = args.verify ? await loadNodeRuntime() : undefined; // before any work: onnxruntime-node is there
  const external = externalDataNextTo(input);
  const written: PresetFile[] = [];
  let copiedPaths: string[] = [];
  let configNamesData = false; // the copied config.json names the files with external data
  let onnxInput: OnnxInput | undefined;
  try {
    // Its tensor data left in the file: read by the workers (or this thread) in their turn, copied to the output.
    onnxInput = await openOnnxInput(input, input, external.resolve, true);
    const model = await onnxInput.load();
    // Named as transformers.js loads the input's model: onnx/decoder_model_merged.onnx gives decoder_model_merged_q4.onnx
    // (an input outside a model folder's onnx/ is `model`).
    const variants = transformersJsVariants(model, policyOf(args), transformersJsFileName(input));
    if (variants.length === 0) {
      throw new InvalidArgumentError('input', input, `${input}: a float16 model with no MatMul weight: transformers.js's q4f16 quantizes MatMul weights only, and q8 is written from float32 models`);
    }
    const plans = variants.map((v) => planOnnxCompression(model, v.options).decisions);
    // The input's own files, which no output may replace without --force.
    const inputs = [input, ...new Set(model.list().flatMap((w) => (w.external ? [join(dirname(input), w.external.location)] : [])))];
    // External data of its own for every file when the input keeps weights in external data (the float weights a file
    // keeps are copied there) or when the planned integers alone pass 2 GB; then it is written as the weights are done.
    const externalInput = inputs.length > 1;
    const targets = variants.map((variant) => join(args.output, variant.file));
    const dataTargets = variants.map((variant, i) => (externalInput || externalDataCertain(model.list(), plans[i]!)
      ? externalDataFileOf(join(args.output, variant.file)) : undefined));
    // Files already there are refused before any work (unless --force).
    const refuseExisting = async (path: string): Promise<void> => {
      if (!args.force && await stat(path).then(() => true, () => false)) {
        throw new InvalidArgumentError('output', path, `${path}: exists; add --force to replace it, or write to another folder`);
      }
    };
    // The model folder's configuration and tokenizer, copied beside onnx/ (not when writing into that folder itself).
    const modelFolder = modelFolderOf(input);
    const copied = modelFolder !== undefined && resolve(modelFolder) !== resolve(args.output) ? await companionFiles(modelFolder) : [];
    const copyTargets = copied.map((name) => join(args.output, name));
    for (const path of [...targets, ...dataTargets, ...copyTargets]) if (path !== undefined) await refuseExisting(path);
    const folder = join(args.output, 'onnx');
    const created = await mkdir(folder, { recursive: true }); // the first folder made, if any
    // The folders made, removed again (when empty) on failure or interruption, the inner one first.
    const made = created === undefined ? [] : resolve(created) === resolve(folder) ? [folder] : [created, folder];
    for (const path of made) trackTempFolder(path);
    const sinks: OutputSink[] = [];
    const dataSinks: (OutputSink | undefined)[] = [];
    const copySinks: OutputSink[] = [];
    const writes: Promise<void>[] = []; // files written while the next one is compressed
    const openAt = async (path: string) => openOutput(await resolveOutput(path, inputs, args.force), io.stdout);
    try {
      for (const path of targets) sinks.push(await openAt(path));
      for (const path of dataTargets) dataSinks.push(path === undefined ? undefined : await openAt(path));
      for (const path of copyTargets) copySinks.push(await openAt(path));
      // On the CPU ('cpu', or 'auto', which computes on a pool when it has one), big models (or --workers) run on
      // the worker pool, as `compress` does: the same files.
      const pool = await onnxPool(args.workers, args.backend !== 'webgpu', model.list(), plans);
      try {
        // The 8-bit file first: the buffers its integers leave in the workers (a byte an element) then serve the
        // 4-bit file's (half a byte), where the other order leaves the 4-bit ones unused beside fresh 8-bit ones
        // (the 1.07 GB MLP with two workers: 181–183 against 203–206 MiB at the peak). Listed in the variants' order.
        const order = [...variants.keys()].sort((a, b) => Number(variants[a]!.dtype !== 'q8') - Number(variants[b]!.dtype !== 'q8'));
        for (const i of order) {
          const variant = variants[i]!;
          const dataSink = dataSinks[i];
          const options: CompressOnnxOptions = {
            ...variant.options, name: input, externalData: external.resolve, ...(pool ? { pool } : {}),
            ...(dataSink ? { externalDataLocation: basename(externalDataFileOf(targets[i]!)), writeExternalData: 'always', externalDataSink: dataSink } : {}),
          };
          const sink = sinks[i]!;
          // Written as planned while its weights are compressed; otherwise its parts are written while the next
          // file is compressed.
          const result = await compressOnnxParts(await onnxInput.load(), options, { backend: args.backend }, { sink });
          written[i] = { dtype: variant.dtype, path: targets[i]!, report: result.report, ...(result.externalData ? { externalData: dataOf(targets[i]!, result.externalData) } : {}) };
          if (!result.written) {
            const write = writeParts(result.parts, (chunk) => sink.write(chunk));
            write.catch(() => undefined); // awaited below; a failure meanwhile is not unhandled
            writes.push(write);
          }
        }
      } finally {
        await pool?.close();
      }
      await Promise.all(writes);
      const withData = written.filter((f) => f.externalData).map((f) => basename(f.path));
      for (const [i, name] of copied.entries()) {
        const from = join(modelFolder!, name);
        const bytes = await readFile(from).catch((error: unknown) => { throw fileError(error, from, 'input'); });
        const edited = name === 'config.json' && withData.length > 0 ? withExternalDataFormat(bytes.toString('utf8'), withData) : undefined;
        if (edited !== undefined) configNamesData = true;
        await copySinks[i]!.write(edited === undefined ? bytes : new TextEncoder().encode(edited));
      }
      // All renamed into place only when all are written and on disk (what can fail short of the renames); each data
      // file before its model.
      const all = [...dataSinks.filter((s) => s !== undefined), ...sinks, ...copySinks];
      for (const sink of all) await sink.flush();
      for (const sink of all) await sink.close();
      copiedPaths = copyTargets;
    } catch (error) {
      await Promise.allSettled(writes);
      for (const sink of [...dataSinks, ...sinks, ...copySinks]) await sink?.abort(error).catch(() => undefined);
      for (const path of [...made].reverse()) await rmdir(path).catch(() => undefined); // only when empty
      throw error;
    } finally {
      for (const path of made) untrackTempFolder(path);
    }
  } finally {
    await onnxInput?.close();
    await external.close();
  }
  if (args.verify) {
    // Each file from its path (onnxruntime-node reads its data file itself), on the same samples.
    const options = await verifyOptionsOf(args.verify, input, input, runtime!);
    for (const file of written) file.verify = await verifyModels(input, file.path, { ...options, names: [input, file.path] });
  }
  if (args.json) {
    io.stdout.write(`${JSON.stringify({ input, output: args.output, preset: args.preset, copied: copiedPaths, configNamesExternalData: configNamesData, files: written.map((f) => ({
      dtype: f.dtype, path: f.path, bytes: f.report.totals.modelBytesAfter, ...(f.externalData ? { externalData: f.externalData } : {}), totals: f.report.totals,
      tensors: f.report.tensors.map(({ perChannelSqnrDb: _p, ...t }) => t), ...(f.verify ? { verify: verifyJson(f.verify) } : {}),
    })) }, (_key, value: unknown) => (typeof value === 'number' && !Number.isFinite(value) ? String(value) : value))}\n`);
  } else {
    const withData = written.filter((f) => f.externalData).map((f) => JSON.stringify(basename(f.path)));
    const configCopied = copiedPaths.some((p) => basename(p) === 'config.json');
    io.stdout.write(`${input} -> ${args.output} (transformers.js layout)\n${written.map(fileLine).join('\n')}\n`
      + (copiedPaths.length ? `  copied from ${modelFolderOf(input)}: ${copiedPaths.map((p) => basename(p)).join(', ')}\n` : '')
      + `load it with pipeline(task, folder, { dtype })${configCopied ? '' : ' (copy config.json and the tokenizer files beside onnx/)'}\n`
      + (withData.length === 0 ? '' : configNamesData ? 'config.json names the files with external data ("transformers.js_config": "use_external_data_format")\n'
        : `with external data: set "transformers.js_config": { "use_external_data_format": { ${withData.map((f) => `${f}: 1`).join(', ')} } } `
        + 'in config.json (or true for every file), or pass use_external_data_format: true to pipeline()\n')
      + written.filter((f) => f.verify).map((f) => formatVerifyReport(f.verify!, [input, f.path])).join(''));
  }
  const failed = written.filter((f) => f.verify && !f.verify.passed);
  if (failed.length > 0) {
    io.stderr.write(`webgpu-quant: ${failed.map((f) => `${f.path} (dtype ${f.dtype}) was written but fails verification (${f.verify!.failures.join('; ')})`).join('; ')}; `
      + 'load another dtype, or leave more weights in float (--exclude, --min-sqnr)\n');
    return 1;
  }
  return 0;
}
