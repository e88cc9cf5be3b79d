// The other output formats of the result on show, computed in the worker: the ONNX model with onnxruntime's
// contrib operators (MatMulNBits, GatherBlockQuantized), GGUF (llama.cpp), and safetensors. `formatSizes`
// writes each into a sink that only counts, so the export buttons can show every format's size before
// anything is downloaded; `writeFormat` writes one for the download. Formats that cannot hold the scheme
// (GGUF is Q8_0 / Q4_0 blocks of 32) say why instead of a size.
import {
  type BudgetAllocation, type ByteSink, type CompressionPolicy, OnnxModel, type WeightDecision, type WeightReader, allocateBudget,
  compressOnnx, compressToGguf, compressToSafetensors, decideWeights, ggufSchemeProblem, memorySink, planOnnxCompression, toFloat32,
} from '../src/models.js';
import type { AnyWeightSource } from './worker-protocol.js';

/** The formats offered beside the one the compression itself wrote. */
export type OutputFormat = 'onnx-contrib' | 'gguf' | 'safetensors';

/** One format's size in bytes, or why it does not apply. */
export interface FormatSize { format: OutputFormat; bytes?: number; problem?: string }

/** A sink that only counts the bytes written. */
export function countingSink(): ByteSink & { readonly byteLength: number } {
  let byteLength = 0;
  return {
    get byteLength() { return byteLength; },
    async write(chunk) { byteLength += chunk.byteLength; },
    async close() {},
    async abort() {},
  };
}

/**
 * The decisions for a safetensors output: the policy's, then, with `targetBits`, the size budget's allocation
 * (counted as safetensors stores the parameters), as the command line does.
 */
export async function decideForSafetensors(reader: WeightReader, policy: CompressionPolicy): Promise<{ decisions: WeightDecision[]; budget?: BudgetAllocation }> {
  const decisions = reader instanceof OnnxModel ? planOnnxCompression(reader, policy).decisions : decideWeights(reader.list(), policy);
  if (policy.targetBits === undefined) return { decisions };
  const list = reader.list();
  const read = async (i: number) => toFloat32(await reader.read(list[i]!.name), list[i]!.dtype, list[i]!.name);
  const allocated = await allocateBudget(list, decisions, policy, policy.targetBits, read, {}, { backend: 'auto' }, 'safetensors');
  return { decisions: allocated.decisions, budget: allocated.allocation };
}

/** Why `format` cannot be written for this model and scheme, or undefined. */
export function formatProblem(format: OutputFormat, source: AnyWeightSource, policy: CompressionPolicy): string | undefined {
  if (format === 'onnx-contrib' && source.kind !== 'onnx') return 'needs an ONNX model (a safetensors file has no graph)';
  if (format === 'gguf') {
    if (policy.targetBits !== undefined) return 'GGUF holds Q8_0 / Q4_0 blocks of 32 only; turn the size budget off';
    const problem = ggufSchemeProblem(policy);
    if (problem) return problem;
  }
  return undefined;
}

/** Writes `reader` (opened from `source`) as `format` into `sink`. */
async function write(format: OutputFormat, source: AnyWeightSource, reader: WeightReader, policy: CompressionPolicy, sink: ByteSink): Promise<void> {
  if (format === 'onnx-contrib') {
    if (source.kind !== 'onnx') throw new Error('ONNX with contrib operators needs an ONNX model');
    const { model } = await compressOnnx(new Uint8Array(await source.file.arrayBuffer()), { ...policy, name: source.file.name, onnxOps: 'contrib' }, { backend: 'auto' });
    await sink.write(model);
    await sink.close();
    return;
  }
  if (format === 'gguf') {
    const decisions = reader instanceof OnnxModel ? planOnnxCompression(reader, policy).decisions : decideWeights(reader.list(), policy);
    const name = (source.kind === 'sharded' ? source.indexName : source.file.name).replace(/\.(onnx|safetensors|index\.json|json)$/i, '');
    await compressToGguf(reader, decisions, sink, { name });
    return;
  }
  const { decisions } = await decideForSafetensors(reader, policy);
  await compressToSafetensors(reader, decisions, sink, { backend: 'auto' });
}

/** Every format's size for this model and scheme (each written into a counting sink), or its problem. */
export async function formatSizes(source: AnyWeightSource, reader: WeightReader, policy: CompressionPolicy, formats: readonly OutputFormat[]): Promise<FormatSize[]> {
  const sizes: FormatSize[] = [];
  for (const format of formats) {
    const problem = formatProblem(format, source, policy);
    if (problem) { sizes.push({ format, problem }); continue; }
    const sink = countingSink();
    await write(format, source, reader, policy, sink);
    sizes.push({ format, bytes: sink.byteLength });
  }
  return sizes;
}

/** The file of one format, in memory (for a download). */
export async function writeFormat(format: OutputFormat, source: AnyWeightSource, reader: WeightReader, policy: CompressionPolicy): Promise<Uint8Array> {
  const problem = formatProblem(format, source, policy);
  if (problem) throw new Error(`${format}: ${problem}`);
  const sink = memorySink();
  await write(format, source, reader, policy, sink);
  return sink.bytes();
}
