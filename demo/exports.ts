// Getting files out of the page: a Blob download, export file names that say the scheme, and a save
// stream into a file the person picks (File System Access API) that can be handed to the worker.
import type { CompressionPolicy } from '../src/models.js';

/** Downloads `bytes` as a file named `name`. */
export function downloadBytes(name: string, bytes: Uint8Array, type: string): void {
  const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** `<model>.<dtype>-<granularity>[<group>][-axis<N>].<extension>`, or `<model>.<extension>` without a policy. */
export function exportName(modelName: string | undefined, extension: string, policy?: CompressionPolicy): string {
  const base = (modelName ?? 'model').replace(/\.(onnx|safetensors)$/i, '');
  if (!policy) return `${base}.${extension}`;
  const scheme = `${policy.dtype}-${policy.granularity}${policy.granularity === 'group' ? policy.groupSize : ''}`
    + `${policy.axis === undefined ? '' : `-axis${policy.axis}`}`;
  return `${base}.${scheme}.${extension}`;
}

/** A file the person picked, as a transferable stream (the file's own stream cannot be transferred). */
export interface SaveTarget {
  handle: FileSystemFileHandle;
  stream: WritableStream<Uint8Array>;
  /** Discards the file's pending contents (a half-written export is never kept). */
  abort(): Promise<void>;
}

/**
 * Asks where to save `name` when the File System Access API exists: the target, `undefined` when the person
 * closed the picker, or 'unsupported' (then download instead).
 */
export async function pickSaveTarget(name: string): Promise<SaveTarget | undefined | 'unsupported'> {
  if (!window.showSaveFilePicker) return 'unsupported';
  let handle: FileSystemFileHandle;
  try {
    handle = await window.showSaveFilePicker({ suggestedName: name, types: [{ description: 'safetensors', accept: { 'application/octet-stream': ['.safetensors'] } }] });
  } catch (error) {
    if ((error as Error).name === 'AbortError') return undefined;
    throw error;
  }
  const writable = await handle.createWritable();
  const stream = new WritableStream<Uint8Array>({
    write: (chunk) => writable.write(chunk as Uint8Array<ArrayBuffer>), close: () => writable.close(), abort: (reason) => writable.abort(reason),
  });
  return { handle, stream, abort: () => writable.abort().catch(() => {}) };
}
