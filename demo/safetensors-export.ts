// The safetensors export, written by the worker: streamed into a file the person picks where the File System
// Access API exists (the bytes never gather in the page), else collected and downloaded. The line under the
// export buttons says what was saved, or what went wrong.
import type { CompressionPolicy } from '../src/models.js';
import { type SaveTarget, pickSaveTarget } from './exports.js';
import { formatBytes } from './report-view.js';
import { CancelledError, callWorker } from './worker-client.js';
import type { AnyWeightSource } from './worker-protocol.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** Shows `text` under the export buttons (role=status, so it is announced too). */
export function exportStatus(text: string): void {
  $('export-status').textContent = text;
}

export interface SafetensorsExport {
  source: AnyWeightSource;
  policy: CompressionPolicy;
  name: string;
  button: HTMLButtonElement;
  /** Whether a compression run owns the progress bar. */
  compressing: () => boolean;
  setExporting: (on: boolean) => void;
  download: (name: string, bytes: Uint8Array) => void;
  streamed: (name: string) => void;
  showError: (error: unknown) => void;
}

/** Writes `source` with `policy` as a quantized safetensors file. */
export async function writeSafetensors(job: SafetensorsExport): Promise<void> {
  const { source, policy, name, button } = job;
  button.disabled = true;
  let target: SaveTarget | undefined;
  const progress = $<HTMLProgressElement>('progress');
  const onProgress = ({ done, total, name: tensorName }: { done: number; total: number; name: string }) => {
    if (job.compressing()) return;
    progress.max = total;
    progress.value = done;
    $('progress-text').textContent = `Export ${done} / ${total}: ${tensorName}`;
  };
  const started = performance.now();
  const finished = () => { if (!job.compressing()) $('progress-text').textContent = `Exported in ${((performance.now() - started) / 1000).toFixed(2)} s`; };
  try {
    const picked = await pickSaveTarget(name);
    if (picked === undefined) return; // the person closed the picker
    job.setExporting(true);
    if (picked !== 'unsupported') {
      target = picked;
      exportStatus(`Writing ${picked.handle.name}…`);
      const reply = await callWorker<'export-safetensors'>({ type: 'export-safetensors', source, policy, stream: picked.stream }, onProgress, [picked.stream]);
      target = undefined;
      finished();
      const written = reply.report.format === 'safetensors' ? `, ${formatBytes(reply.report.totals.fileBytesAfter)}` : '';
      exportStatus(`Saved ${picked.handle.name}${written}.`);
      job.streamed(picked.handle.name);
    } else {
      exportStatus(`Writing ${name}…`);
      const reply = await callWorker<'export-safetensors'>({ type: 'export-safetensors', source, policy }, onProgress);
      finished();
      job.download(name, reply.output!);
    }
  } catch (error) {
    // The worker may already have aborted the stream; the file must not be kept half written either way.
    await target?.abort();
    exportStatus(error instanceof CancelledError ? 'Export cancelled: nothing was kept.' : `Export failed: ${error instanceof Error ? error.message : String(error)}`);
    if (!(error instanceof CancelledError)) job.showError(error);
  } finally {
    button.disabled = false;
    job.setExporting(false);
  }
}
