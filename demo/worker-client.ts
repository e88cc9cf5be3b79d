// The page's side of compress-worker.ts: one worker at a time, requests matched to replies by id, progress
// passed on. Cancel terminates the worker (a real stop, its GPU work included) and rejects what was pending
// with CancelledError; the next request starts a fresh worker.
import type { WorkerReply, WorkerRequest } from './worker-protocol.js';

let started = () => {};

/** Called each time a worker is started (the page counts them for the test). */
export function onWorkerStarted(callback: () => void): void { started = callback; }

let worker: Worker | undefined;
let nextId = 0;
const pending = new Map<number, {
  resolve: (reply: Exclude<WorkerReply, { type: 'progress' | 'error' }>) => void;
  reject: (error: Error) => void;
  onProgress?: (progress: { done: number; total: number; name: string }) => void;
}>();

/** What a request rejects with when Cancel (or a newer run) terminated its worker. */
export class CancelledError extends Error {}

function failAll(error: Error): void {
  for (const p of pending.values()) p.reject(error);
  pending.clear();
}

function getWorker(): Worker {
  if (worker) return worker;
  const w = new Worker(new URL('./compress-worker.ts', import.meta.url), { type: 'module' });
  started();
  w.addEventListener('message', (event: MessageEvent<WorkerReply>) => {
    const reply = event.data;
    const p = pending.get(reply.id);
    if (!p) return;
    if (reply.type === 'progress') { p.onProgress?.(reply); return; }
    pending.delete(reply.id);
    if (reply.type === 'error') p.reject(new Error(reply.message));
    else p.resolve(reply);
  });
  w.addEventListener('error', (event) => {
    event.preventDefault();
    failAll(new Error(`the compression worker failed: ${event.message || 'it could not start'}`));
    if (worker === w) worker = undefined;
    w.terminate();
  });
  worker = w;
  return w;
}

export function callWorker<T extends WorkerRequest['type']>(
  request: Omit<Extract<WorkerRequest, { type: T }>, 'id'>, onProgress?: (progress: { done: number; total: number; name: string }) => void,
  transfer: Transferable[] = [],
): Promise<Extract<WorkerReply, { type: T extends 'backend' ? 'backend' : T extends 'formats' ? 'formats' : T extends 'export-format' ? 'file' : 'done' }>> {
  const id = ++nextId;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve: resolve as (reply: unknown) => void, reject, ...(onProgress ? { onProgress } : {}) });
    getWorker().postMessage({ ...request, id }, transfer);
  });
}

export function cancelWorker(): void {
  worker?.terminate();
  worker = undefined;
  failAll(new CancelledError('cancelled'));
}
