/**
 * `webgpu-quant inspect <file>`: lists a model's tensors (dtype, shape, bytes, and for compressed files the
 * quantization scheme); with `--original`, the per-tensor and per-channel error of each quantized weight
 * against the original's float weight; with `--tensor`, one tensor in detail.
 *
 * @example
 * ```ts
 * await runInspect({ command: 'inspect', file: 'vad.q8.onnx', original: 'vad.onnx', json: false }, io); // 0
 * ```
 * @module
 */
import { readFile } from 'node:fs/promises';
import { FormatError } from '../errors.js';
import { toFloat32 } from '../io/float-convert.js';
import { OnnxModel } from '../io/onnx/onnx-model.js';
import { readQdqWeights } from '../io/onnx/qdq-read.js';
import { openSafetensorsFile } from '../io/safetensors/node-open.js';
import { readQuantizedSafetensors } from '../io/safetensors/quantized-read.js';
import { FLOAT_WEIGHT_DTYPES, type WeightInfo, type WeightReader } from '../io/weights.js';
import type { QTensor } from '../qtensor.js';
import { errorStats } from '../ops/error-stats.js';
import type { InspectArgs } from './args.js';
import type { CliIo } from './compress-command.js';
import { formatOf, jsonNumber } from './compress-command.js';

/** A model file opened for inspection: its stored tensors and the quantized weights inside it. */
async function openModel(path: string): Promise<{ reader: WeightReader; quantized: Map<string, QTensor> }> {
  const format = formatOf(path);
  if (format === 'onnx') {
    const model = await OnnxModel.load(await readFile(path), { name: path });
    return { reader: model, quantized: await readQdqWeights(model) };
  }
  if (format === 'safetensors') {
    const reader = await openSafetensorsFile(path);
    return { reader, quantized: (await readQuantizedSafetensors(reader)).quantized };
  }
  throw new FormatError(`${path}: unknown format; use a .onnx or .safetensors file`);
}

interface TensorLine {
  name: string;
  dtype: string;
  shape: number[];
  bytes: number;
  scheme?: string;
  sqnrDb?: number;
  mse?: number;
  maxAbsError?: number;
  worstChannel?: { index: number; sqnrDb: number };
  perChannelSqnrDb?: number[];
}

function schemeText(q: QTensor): string {
  const scheme = q.qscheme();
  if (scheme === 'per_tensor_affine') return `${q.dtype} per tensor`;
  if (scheme === 'per_channel_affine') return `${q.dtype} per channel (axis ${q.qPerChannelAxis()})`;
  return `${q.dtype} per group of ${q.qGroupSize()} (axis ${q.qPerChannelAxis()})`;
}

/** Runs `inspect`; returns the exit code. */
export async function runInspect(args: InspectArgs, io: CliIo): Promise<number> {
  const { reader, quantized } = await openModel(args.file);
  const original = args.original ? (await openModel(args.original)).reader : undefined;
  const originals = new Map((original?.list() ?? []).map((w) => [w.name, w]));
  const lines: TensorLine[] = [];
  const stored = reader.list();
  const shown: (WeightInfo | { name: string; dtype: string; shape: number[]; byteLength: number })[] = [
    ...stored.filter((w) => !quantized.has(w.name)),
    ...[...quantized.entries()].map(([name, q]) => ({ name, dtype: q.dtype, shape: [...q.shape], byteLength: q.packedData().byteLength })),
  ];
  for (const info of shown) {
    if (args.tensor !== undefined && info.name !== args.tensor) continue;
    const line: TensorLine = { name: info.name, dtype: info.dtype, shape: [...info.shape], bytes: info.byteLength };
    const q = quantized.get(info.name);
    if (q) {
      line.scheme = schemeText(q);
      const base = originals.get(info.name);
      if (base && FLOAT_WEIGHT_DTYPES.includes(base.dtype)) {
        const x = { data: toFloat32(await original!.read(base.name), base.dtype, base.name), shape: [...base.shape] };
        const axis = q.qscheme() === 'per_tensor_affine' ? (x.shape.length > 1 ? 0 : undefined) : q.qPerChannelAxis();
        const stats = await errorStats(x, q, axis === undefined ? {} : { axis });
        Object.assign(line, { sqnrDb: stats.overall.sqnrDb, mse: stats.overall.mse, maxAbsError: stats.overall.maxAbsError });
        const perChannel = stats.perChannel?.sqnrDb;
        if (perChannel && perChannel.length) {
          let index = 0;
          perChannel.forEach((v, i) => { if (v < perChannel[index]!) index = i; });
          line.worstChannel = { index, sqnrDb: perChannel[index]! };
          if (args.tensor !== undefined) line.perChannelSqnrDb = Array.from(perChannel);
        }
      }
    }
    lines.push(line);
  }
  if (args.tensor !== undefined && lines.length === 0) throw new FormatError(`${args.file}: no tensor named ${JSON.stringify(args.tensor)}`);
  if (args.json) {
    io.stdout.write(`${JSON.stringify({ file: args.file, original: args.original, tensors: lines }, (_k, v: unknown) => jsonNumber(v))}\n`);
    return 0;
  }
  io.stdout.write(`${args.file}: ${stored.length} stored tensors, ${quantized.size} quantized weights\n`);
  for (const line of lines) {
    const error = line.sqnrDb === undefined ? '' : `  SQNR ${line.sqnrDb.toFixed(2)} dB, max |err| ${line.maxAbsError!.toExponential(2)}`
      + (line.worstChannel ? `, worst channel ${line.worstChannel.index}: ${line.worstChannel.sqnrDb.toFixed(2)} dB` : '');
    io.stdout.write(`${line.name}  ${line.dtype}  [${line.shape.join(', ')}]  ${line.bytes} B${line.scheme ? `  ${line.scheme}` : ''}${error}\n`);
    if (line.perChannelSqnrDb) io.stdout.write(`  per-channel SQNR (dB): ${line.perChannelSqnrDb.map((v) => v.toFixed(2)).join(' ')}\n`);
  }
  return 0;
}
