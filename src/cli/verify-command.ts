/**
 * `webgpu-quant verify ORIGINAL COMPRESSED`: both ONNX models in onnxruntime-node on the same inputs (the
 * user's files, or generated), every output compared; exit 0 when every output passes the criterion, 1 when
 * one fails or the input is bad. onnxruntime-node is an optional peer dependency, loaded only here.
 *
 * @example
 * ```ts
 * await runVerify({ command: 'verify', original: 'vad.onnx', compressed: 'vad.q8.onnx', inputs: [], dims: {}, json: false }, io); // 0
 * ```
 * @module
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { MissingDependencyError } from '../errors.js';
import { parseInputSamples } from '../verify/input-files.js';
import type { OnnxRuntimeLike, Sample } from '../verify/runtime.js';
import { type ModelInput, type VerifyOptions, type VerifyReport, modelSignature, verifyModels } from '../verify/verify-models.js';
import { checkInputFile } from './files.js';
import type { VerifyArgs, VerifyFlags } from './args.js';
import type { CliIo } from './compress-command.js';

/** The install command printed when onnxruntime-node is missing. */
export const ORT_INSTALL_COMMAND = 'npm install onnxruntime-node';

/**
 * Loads onnxruntime-node (or the module `globalThis.WEBGPU_QUANT_ORT_MODULE` names); a
 * {@link MissingDependencyError} with the install command when it is not installed.
 */
export async function loadNodeRuntime(): Promise<OnnxRuntimeLike> {
  const moduleName = (globalThis as { WEBGPU_QUANT_ORT_MODULE?: string }).WEBGPU_QUANT_ORT_MODULE ?? 'onnxruntime-node';
  try {
    // Not a literal: bundlers must leave this optional import alone.
    const ort = await import(/* @vite-ignore */ moduleName) as OnnxRuntimeLike & { default?: OnnxRuntimeLike };
    return ort.InferenceSession ? ort : ort.default!;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException)?.code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new MissingDependencyError(moduleName,
        `verification runs the models in onnxruntime-node, which is not installed: run '${ORT_INSTALL_COMMAND}' where webgpu-quant is installed`
        + ` (with npx: npx -p webgpu-quant -p onnxruntime-node webgpu-quant ...)`, { cause: error });
    }
    throw new MissingDependencyError(moduleName, `onnxruntime-node is installed but does not load (${String((error as Error)?.message).split('\n')[0]}): `
      + `reinstall it with '${ORT_INSTALL_COMMAND}'`, { cause: error });
  }
}

/** The library options for the CLI's flags: the input files read and checked against `original`. */
export async function verifyOptionsOf(flags: VerifyFlags, original: ModelInput, originalName: string, runtime: OnnxRuntimeLike): Promise<VerifyOptions> {
  let inputs: Sample[] | undefined;
  if (flags.inputs.length) {
    const signature = await modelSignature(original, originalName);
    inputs = [];
    for (const file of flags.inputs) inputs.push(...await parseInputSamples(await readFile(file), file, signature));
  }
  return {
    runtime, inputs, dims: flags.dims, minCosine: flags.minCosine, minArgmaxAgreement: flags.minArgmaxAgreement,
    ...(flags.seeds === undefined ? {} : { seeds: Array.from({ length: flags.seeds }, (_, i) => i + 1) }),
    sessionOptions: { logSeverityLevel: 3 },
  };
}

function number(x: number | undefined, digits = 3): string {
  if (x === undefined) return '-';
  if (x === 0 || !Number.isFinite(x)) return String(x);
  return Math.abs(x) >= 1e-3 && Math.abs(x) < 1e4 ? x.toPrecision(digits + 1) : x.toExponential(digits - 1);
}

function passSentence(report: VerifyReport): string {
  const byArgmax = Object.entries(report.passedBy).filter(([, by]) => by === 'argmax').map(([name]) => `'${name}'`);
  const cosine = `every output's cosine similarity >= ${report.minCosine}`;
  if (!byArgmax.length) return cosine;
  const all = byArgmax.length === report.outputs.length;
  return `${all ? '' : `${cosine}, except `}${byArgmax.join(', ')}: cosine below ${report.minCosine}, `
    + `argmax agreement >= ${+(100 * report.minArgmaxAgreement).toFixed(2)} % (the decisions hold)`;
}

/** The human report: the inputs, one row per output, and PASS or FAIL with the reasons. */
export function formatVerifyReport(report: VerifyReport, names: [string, string]): string {
  const inputs = Object.entries(report.inputDims).map(([n, d]) => `${n} [${d.join(', ')}]`).join(', ');
  const width = Math.max(6, ...report.outputs.map((o) => o.name.length));
  const lines = [
    `verify: ${names[0]} vs ${names[1]} in onnxruntime, ${report.samples} ${report.inputs} sample${report.samples === 1 ? '' : 's'} (${inputs})`,
    ...(report.outputs.length ? [`  ${'output'.padEnd(width)}  ${'max |Δ|'.padStart(10)}  ${'rel. error'.padStart(10)}  ${'cosine'.padStart(9)}  argmax agreement`] : []),
    ...report.outputs.map((o) => `  ${o.name.padEnd(width)}  ${number(o.maxAbsDiff).padStart(10)}  ${number(o.relativeError).padStart(10)}  `
      + `${o.cosine.toFixed(6).padStart(9)}  ${o.argmaxAgreement === undefined ? '-' : `${(100 * o.argmaxAgreement).toFixed(2)} % of ${o.argmaxRows}`}`),
    report.passed
      ? `PASS: ${passSentence(report)}`
      : `FAIL: ${report.failures.join('; ')}`,
    ...(!report.passed && report.inputs === 'generated'
      ? ['note: the inputs were generated (uniform noise); a model that finds nothing in noise (a text or object detector) '
        + 'is better judged on real inputs: --inputs FILE (.json, .npy or .safetensors)']
      : []),
  ];
  return `${lines.join('\n')}\n`;
}

/** A report as JSON text (Infinity and NaN as strings). */
export function verifyJson(report: VerifyReport): VerifyReport {
  return JSON.parse(JSON.stringify(report, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v))) as VerifyReport;
}

/** Runs `verify`; returns the exit code (0 passed, 1 failed). Bad input throws. */
export async function runVerify(args: VerifyArgs, io: CliIo): Promise<number> {
  const runtime = await loadNodeRuntime();
  await checkInputFile(args.original, 'original');
  await checkInputFile(args.compressed, 'compressed');
  const names: [string, string] = [basename(args.original), basename(args.compressed)];
  // By path: onnxruntime-node loads each file itself (and its external data beside it); only the graphs are read here.
  const report = await verifyModels(args.original, args.compressed, { ...await verifyOptionsOf(args, args.original, args.original, runtime), names });
  if (args.json) io.stdout.write(`${JSON.stringify({ original: args.original, compressed: args.compressed, ...verifyJson(report) })}\n`);
  else io.stdout.write(formatVerifyReport(report, names));
  return report.passed ? 0 : 1;
}
