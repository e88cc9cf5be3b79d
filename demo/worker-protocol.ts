// The messages between the page (main.ts) and compress-worker.ts. Files travel as File objects (posting one
// shares it, nothing is copied); the compressed model comes back as a transferred buffer.
import type { CompressionPolicy, WeightDecision } from '../src/models.js';
import type { FormatSize, OutputFormat } from './format-outputs.js';
import type { AnyReport } from './report-view.js';

/** Where the worker reads the model from. */
export type AnyWeightSource =
  | { kind: 'onnx'; file: File }
  | { kind: 'safetensors'; file: File }
  | { kind: 'sharded'; index: string; indexName: string; files: File[] };

export type WorkerRequest =
  | { type: 'backend'; id: number }
  /**
   * Compress with `policy`: ONNX gives the QDQ model back, safetensors only the report (the export writes the file).
   * `workers`: Web Workers for the model's big weights on the CPU path (0: none; default: the cores, at most 8,
   * for a model of 256 MiB or more).
   */
  | { type: 'compress'; id: number; source: AnyWeightSource; policy: CompressionPolicy; workers?: number }
  /** Write the model as a quantized safetensors file, into `stream` when given, else back as bytes. */
  | { type: 'export-safetensors'; id: number; source: AnyWeightSource; policy: CompressionPolicy; stream?: WritableStream<Uint8Array> }
  /** The size of each of `formats` for this model and scheme (or why it does not apply). */
  | { type: 'formats'; id: number; source: AnyWeightSource; policy: CompressionPolicy; formats: OutputFormat[] }
  /** One format's file, back as bytes. */
  | { type: 'export-format'; id: number; source: AnyWeightSource; policy: CompressionPolicy; format: OutputFormat };

export type WorkerReply =
  | { type: 'progress'; id: number; done: number; total: number; name: string }
  | { type: 'backend'; id: number; backend: string; adapter?: string }
  /** `threads`: the Web Workers that quantized on the CPU path, if any. `decisions`: with a size budget, what each weight of a safetensors output got (without one, the page decides as the worker did). */
  | { type: 'done'; id: number; report: AnyReport; output?: Uint8Array; decisions?: WeightDecision[]; backend: string; adapter?: string; threads?: number }
  | { type: 'formats'; id: number; sizes: FormatSize[] }
  | { type: 'file'; id: number; output: Uint8Array }
  | { type: 'error'; id: number; message: string };

/** The adapter in words, for the summary. */
export function describeAdapter(info: GPUAdapterInfo | undefined): string {
  return [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ') || 'unnamed adapter';
}
