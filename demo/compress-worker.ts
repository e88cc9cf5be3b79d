// The whole-model work of the app, in a module Web Worker so the page stays responsive: compressOnnx for an
// ONNX model, compressToSafetensors for a safetensors file or a sharded set, the safetensors export, and the
// other formats' sizes and files (format-outputs.ts).
// The backend is the library's 'auto' choice here (WebGPU where this worker has it, else the CPU path); the
// adapter is this worker's. The page cancels a run by terminating the worker and starting a new one.
import { getBackend, getDefaultManager } from '../src/index.js';
import { type CpuWorkerPool, compressOnnx, compressToSafetensors, createCpuWorkerPool, memorySink, writableStreamSink } from '../src/models.js';
import cpuWorkerUrl from '../src/compress/cpu-worker.ts?worker&url';
import { countingSink, decideForSafetensors as decide, formatSizes, writeFormat } from './format-outputs.js';
import { openReader } from './model-source.js';
import { type WorkerReply, type WorkerRequest, describeAdapter } from './worker-protocol.js';

const post = (reply: WorkerReply, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(reply, transfer);

async function backendInfo(): Promise<{ backend: string; adapter?: string }> {
  const backend = await getBackend();
  return backend === 'webgpu' ? { backend, adapter: describeAdapter((await getDefaultManager()).adapterInfo) } : { backend };
}

/**
 * Model bytes from which a model's big weights are quantized on a pool of Web Workers by default (where they run
 * on the CPU path), as the command line does for ONNX: below it, starting the workers costs about what they save
 * (docs/performance.md).
 */
const kPoolMinBytes = 256 * 2 ** 20;

/** The pool for a model of `modelBytes`: `workers` of them when asked, else by size and cores; undefined for none. */
async function cpuPool(modelBytes: number, workers: number | undefined): Promise<CpuWorkerPool | undefined> {
  const cores = navigator.hardwareConcurrency ?? 1;
  const count = workers ?? (modelBytes >= kPoolMinBytes && cores >= 2 ? Math.min(cores, 8) : 0);
  return count > 0 ? createCpuWorkerPool({ workers: count, workerUrl: new URL(cpuWorkerUrl, self.location.href) }) : undefined;
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
  if (request.type === 'formats' || request.type === 'export-format') {
    const { reader } = await openReader(source);
    try {
      if (request.type === 'formats') {
        post({ type: 'formats', id: request.id, sizes: await formatSizes(source, reader, policy, request.formats) });
      } else {
        const output = await writeFormat(request.format, source, reader, policy);
        post({ type: 'file', id: request.id, output }, [output.buffer]);
      }
    } finally {
      await (reader as { close?: () => Promise<void> }).close?.();
    }
    return;
  }
  if (request.type === 'compress' && source.kind === 'onnx') {
    const bytes = new Uint8Array(await source.file.arrayBuffer());
    // A worker of the pool that dies fails the run with WorkerError, shown as the error (`?workers=0`: one thread).
    const pool = await cpuPool(bytes.byteLength, request.workers);
    try {
      const { model, report } = await compressOnnx(bytes, { ...policy, name: source.file.name, onProgress, ...(pool ? { pool } : {}) }, { backend: 'auto' });
      // The pool works only where the weights ran on the CPU.
      const threads = pool && report.backend === 'cpu' ? pool.size : 0;
      post({ type: 'done', id: request.id, report, output: model, threads, ...(await backendInfo()) }, [model.buffer]);
    } finally {
      await pool?.close();
    }
    return;
  }
  const { reader } = await openReader(source);
  const modelBytes = source.kind === 'sharded' ? source.files.reduce((sum, f) => sum + f.size, 0) : source.file.size;
  const pool = await cpuPool(modelBytes, request.type === 'compress' ? request.workers : undefined);
  const withPool = pool ? { pool } : {};
  try {
    const { decisions, budget } = await decide(reader, policy);
    if (request.type === 'compress') {
      const sink = countingSink();
      const report = await compressToSafetensors(reader, decisions, sink, { backend: 'auto' }, onProgress, withPool);
      const threads = pool && report.backend === 'cpu' ? pool.size : 0; // the pool works only on the CPU path
      // The decisions only where the page cannot make them itself (a size budget's allocation): 200k of them
      // would double what the reply clones.
      post({ type: 'done', id: request.id, report: budget ? { ...report, budget } : report, ...(budget ? { decisions } : {}), threads, ...(await backendInfo()) });
    } else {
      // The export: streamed to the page's file (a transferred WritableStream), else collected and transferred.
      const memory = request.stream ? undefined : memorySink();
      const sink = request.stream ? writableStreamSink(request.stream) : memory!;
      const report = await compressToSafetensors(reader, decisions, sink, { backend: 'auto' }, onProgress, withPool);
      const output = memory?.bytes();
      post({ type: 'done', id: request.id, report, ...(output ? { output } : {}), ...(await backendInfo()) }, output ? [output.buffer] : []);
    }
  } finally {
    await pool?.close();
    await (reader as { close?: () => Promise<void> }).close?.();
  }
}

self.addEventListener('message', (event: MessageEvent<WorkerRequest>) => {
  handle(event.data).catch((error: unknown) => {
    post({ type: 'error', id: event.data.id, message: error instanceof Error ? error.message : String(error) });
  });
});
