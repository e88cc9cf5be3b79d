/**
 * A model file opened for `inspect`: its stored tensors, the quantized weights inside it (behind
 * DequantizeLinear, MatMulNBits and GatherBlockQuantized nodes in ONNX; their parameters read and checked,
 * their integers read by `load()`), and which stored tensors make up each quantized weight (its data, scale and
 * zero point), so that the listing can show one row per weight. Close it when done: it holds the file
 * (safetensors) or its external data files (ONNX).
 *
 * @example
 * ```ts
 * const model = await openModelFile('vad.q8.onnx');
 * try {
 *   model.quantized.size;                                   // 36, no integers read yet
 *   model.parts.get('model.decoder.decoder.1.weight');      // ['model.decoder.decoder.1.weight_quantized', '..._scale', '..._zero_point']
 * } finally { await model.close(); }
 * ```
 * @module
 */
import { FormatError } from '../errors.js';
import { listGraphs } from '../io/onnx/graph-index.js';
import { OnnxModel } from '../io/onnx/onnx-model.js';
import { type GraphProto, nodeLabel, nodesOf } from '../io/onnx/proto.js';
import { describeContribWeights } from '../io/onnx/contrib-read.js';
import { describeQdqWeights } from '../io/onnx/qdq-read.js';
import { openSafetensorsFile } from '../io/safetensors/node-open.js';
import { describeQuantized, storedQuantizedTensor } from '../io/safetensors/quantized-read.js';
import type { StoredQuantizedWeight } from '../io/stored-quantized.js';
import type { WeightReader } from '../io/weights.js';
import { externalDataNextTo } from './external-data.js';
import { checkInputFile, fileError, formatOf } from './files.js';
import { type OnnxInput, openOnnxInput } from './onnx-input.js';

/** An opened model. */
export interface OpenedModel {
  format: 'onnx' | 'safetensors';
  reader: WeightReader;
  /** Bytes of the file. */
  fileBytes: number;
  /** The quantized weights, their integers still in the file. */
  quantized: Map<string, StoredQuantizedWeight>;
  /** For each quantized weight, the names of the stored tensors that hold it. */
  parts: Map<string, string[]>;
  close(): Promise<void>;
}

/** The stored tensors behind each DequantizeLinear of an ONNX model, by the quantized weight's name. */
function qdqParts(model: OnnxModel, quantized: ReadonlyMap<string, unknown>): Map<string, string[]> {
  const outputs = new Map<string, string>(); // `${graph}|${node label}` -> weight name
  for (const entry of listGraphs(model.proto.graph as GraphProto)) {
    nodesOf(entry.graph).forEach((node, index) => {
      if (node.opType !== 'DequantizeLinear') return;
      const output = node.output[0] as string;
      const name = quantized.has(output) ? output : `${output}@${entry.path}`;
      if (quantized.has(name)) outputs.set(`${entry.path}|${nodeLabel(node, index)}`, name);
    });
  }
  const parts = new Map<string, string[]>();
  for (const w of model.list()) {
    const owners = new Set(w.consumers.map((c) => outputs.get(`${c.graph}|${c.nodeName}`)));
    if (owners.size !== 1 || owners.has(undefined)) continue; // also used outside one DequantizeLinear: a tensor of its own
    const owner = [...owners][0]!;
    parts.set(owner, [...(parts.get(owner) ?? []), w.name]);
  }
  return parts;
}

/**
 * Opens `path` (`argument` names it in errors: 'file' or 'original').
 *
 * @example
 * ```ts
 * const original = await openModelFile('vad.onnx', 'original');
 * ```
 */
export async function openModelFile(path: string, argument = 'file'): Promise<OpenedModel> {
  const format = formatOf(path);
  if (!format || format === 'gguf') {
    throw new FormatError(`${path}: ${format === 'gguf' ? 'a GGUF file cannot be the original' : 'unknown format'}; use a .onnx or .safetensors file`);
  }
  const stats = await checkInputFile(path, argument);
  if (format === 'onnx') {
    const external = externalDataNextTo(path);
    let input: OnnxInput | undefined;
    try {
      // The tensor data stays in the file until a weight is read (a 1 GB model opens in the time of its graph).
      input = await openOnnxInput(path, path, external.resolve, true, argument);
      const model = await input.load();
      const qdq = await describeQdqWeights(model);
      // MatMulNBits and GatherBlockQuantized weights too (onnxruntime's contrib operators).
      const contrib = await describeContribWeights(model);
      const quantized = new Map([...qdq, ...contrib.weights]);
      const opened = input;
      return {
        format, reader: model, fileBytes: stats.size, quantized, parts: new Map([...qdqParts(model, qdq), ...contrib.parts]),
        close: async () => { await opened.close(); await external.close(); },
      };
    } catch (error) {
      await input?.close();
      await external.close();
      throw error;
    }
  }
  const reader = await openSafetensorsFile(path).catch((error: unknown) => { throw fileError(error, path, argument); });
  try {
    const descriptions = [...describeQuantized(reader).values()];
    const quantized = new Map<string, StoredQuantizedWeight>();
    for (const d of descriptions) quantized.set(d.name, await storedQuantizedTensor(reader, d));
    const parts = new Map(descriptions.map((d) => [d.name, d.layout.entries.map((e) => e.name)]));
    return { format, reader, fileBytes: stats.size, quantized, parts, close: () => reader.close() };
  } catch (error) {
    await reader.close();
    throw error;
  }
}
