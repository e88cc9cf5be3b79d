// The whole-model work of the app, in a module Web Worker so the page stays responsive: compressOnnx for an
// ONNX model, compressToSafetensors for a safetensors file or a sharded set, and the safetensors export.
// The backend is the library's 'auto' choice here (WebGPU where this worker has it, else the CPU path); the
// adapter is this worker's. The page cancels a run by terminating the worker and starting a new one.
import { getBackend, getDefaultManager } from '../src/index.js';
import {
  type BudgetAllocation, type ByteSink, type CompressionPolicy, OnnxModel, type WeightDecision, type WeightReader, allocateBudget, compressOnnx,
  compressToSafetensors, decideWeights, memorySink, planOnnxCompression, toFloat32, writableStreamSink,
} from '../src/models.js';
import { openReader } from './model-source.js';
import { type WorkerReply, type WorkerRequest, describeAdapter } from './worker-protocol.js';

const post = (reply: WorkerReply, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(reply, transfer);

/** A sink that only counts: the report needs the output's size, not its bytes (the export writes them). */
function countingSink(): ByteSink & { readonly byteLength: number } {
  let byteLength = 0;
  return {
    get byteLength() { return byteLength; },
    async write(chunk) { byteLength += chunk.byteLength; },
    async close() {},
    async abort() {},
  };
}

async function backendInfo(): Promise<{ backend: string; adapter?: string }> {
  const backend = await getBackend();
  return backend === 'webgpu' ? { backend, adapter: describeAdapter((await getDefaultManager()).adapterInfo) } : { backend };
}

/**
 * The decisions for a safetensors output: the policy's, then, with `targetBits`, the size budget's allocation
 * (counted as safetensors stores the parameters), as the command line does.
 */
async function decide(reader: WeightReader, policy: CompressionPolicy): Promise<{ decisions: WeightDecision[]; budget?: BudgetAllocation }> {
  const decisions = reader instanceof OnnxModel ? planOnnxCompression(reader, policy).decisions : decideWeights(reader.list(), policy);
  if (policy.targetBits === undefined) return { decisions };
  const list = reader.list();
  const read = async (i: number) => toFloat32(await reader.read(list[i]!.name), list[i]!.dtype, list[i]!.name);
  const allocated = await allocateBudget(list, decisions, policy, policy.targetBits, read, {}, { backend: 'auto' }, 'safetensors');
  return { decisions: allocated.decisions, budget: allocated.allocation };
}

/** The least time between two progress messages. */
const kProgressMs = 50;

/**
 * Progress for request `id`, posted at most every {@link kProgressMs} (the first and the last step always): a
 * file of 200k tiny tensors would otherwise post 200k messages, each a structured clone and a page update,
 * and take minutes for seconds of work.
 */
function progressPoster(id: number): (progress: { done: number; total: number; name: string }) => void {
  let last = -Infinity;
  return (progress) => {
    const now = performance.now();
    if (progress.done < progress.total && now - last < kProgressMs) return;
    last = now;
    post({ type: 'progress', id, ...progress });
  };
}

async function handle(request: WorkerRequest): Promise<void> {
  const onProgress = progressPoster(request.id);
  if (request.type === 'backend') {
    post({ type: 'backend', id: request.id, ...(await backendInfo()) });
    return;
  }
  const { source, policy } = request;
  if (request.type === 'compress' && source.kind === 'onnx') {
    const bytes = new Uint8Array(await source.file.arrayBuffer());
    const { model, report } = await compressOnnx(bytes, { ...policy, name: source.file.name, onProgress }, { backend: 'auto' });
    post({ type: 'done', id: request.id, report, output: model, ...(await backendInfo()) }, [model.buffer]);
    return;
  }
  const { reader } = await openReader(source);
  try {
    const { decisions, budget } = await decide(reader, policy);
    if (request.type === 'compress') {
      const sink = countingSink();
      const report = await compressToSafetensors(reader, decisions, sink, { backend: 'auto' }, onProgress);
      // The decisions only where the page cannot make them itself (a size budget's allocation): 200k of them
      // would double what the reply clones.
      post({ type: 'done', id: request.id, report: budget ? { ...report, budget } : report, ...(budget ? { decisions } : {}), ...(await backendInfo()) });
    } else {
      // The export: streamed to the page's file (a transferred WritableStream), else collected and transferred.
      const memory = request.stream ? undefined : memorySink();
      const sink = request.stream ? writableStreamSink(request.stream) : memory!;
      const report = await compressToSafetensors(reader, decisions, sink, { backend: 'auto' }, onProgress);
      const output = memory?.bytes();
      post({ type: 'done', id: request.id, report, ...(output ? { output } : {}), ...(await backendInfo()) }, output ? [output.buffer] : []);
    }
  } finally {
    await (reader as { close?: () => Promise<void> }).close?.();
  }
}

self.addEventListener('message', (event: MessageEvent<WorkerRequest>) => {
  handle(event.data).catch((error: unknown) => {
    post({ type: 'error', id: event.data.id, message: error instanceof Error ? error.message : String(error) });
  });
});
