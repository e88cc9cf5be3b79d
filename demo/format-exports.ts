// The export buttons of the result on show, one per format, each with its size: the compressed ONNX as the
// run wrote it (QDQ: DequantizeLinear), ONNX with onnxruntime's contrib operators (MatMulNBits,
// GatherBlockQuantized: what onnxruntime-web's WebGPU EP and transformers.js run fastest), GGUF (llama.cpp,
// Q8_0 / Q4_0 blocks of 32) and safetensors. The sizes come from the worker, which writes each format into a
// counting sink after the run (format-outputs.ts); a format that cannot hold the scheme shows why, disabled.
import type { CompressionPolicy } from '../src/models.js';
import type { FormatSize, OutputFormat } from './format-outputs.js';
import { formatBytes } from './report-view.js';
import { CancelledError, callWorker } from './worker-client.js';
import type { AnyWeightSource } from './worker-protocol.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** The buttons' words and ids, by format. */
const kButtons: Readonly<Record<OutputFormat, { id: string; label: string; extension: string }>> = {
  'onnx-contrib': { id: 'export-contrib', label: 'ONNX, onnxruntime contrib ops', extension: 'contrib.onnx' },
  gguf: { id: 'export-gguf', label: 'GGUF (llama.cpp)', extension: 'gguf' },
  safetensors: { id: 'export-safetensors', label: 'safetensors', extension: 'safetensors' },
};

/** What the buttons need of the result on show. */
export interface ShownResult {
  source: AnyWeightSource;
  policy: CompressionPolicy;
  /** Bytes of the file the run wrote (the compressed ONNX, or the safetensors file of a safetensors input). */
  ownBytes: number;
  ownFormat: 'onnx' | 'safetensors';
}

/** The export buttons' labels and sizes; `app.formatSizes` holds the latest sizes for the test. */
export class FormatExports {
  /** The sizes shown, by format (undefined until the worker answers). */
  sizes: FormatSize[] | undefined;
  #generation = 0;

  /** Labels the buttons for `shown` and asks the worker for the other formats' sizes. */
  async refresh(shown: ShownResult): Promise<FormatSize[] | undefined> {
    const mine = ++this.#generation;
    this.sizes = undefined;
    const own = $('export-onnx');
    own.textContent = `${shown.ownFormat === 'onnx' ? 'ONNX, QDQ' : 'safetensors'} · ${formatBytes(shown.ownBytes)}`;
    own.title = shown.ownFormat === 'onnx' ? 'DequantizeLinear nodes: runs in every onnxruntime (the CPU EP fuses it)' : '';
    const formats: OutputFormat[] = shown.ownFormat === 'onnx' ? ['onnx-contrib', 'gguf', 'safetensors'] : ['gguf'];
    for (const format of Object.keys(kButtons) as OutputFormat[]) {
      const button = $<HTMLButtonElement>(kButtons[format].id);
      button.hidden = !formats.includes(format);
      // safetensors streams its own export and needs no size first: it stays usable while sizes are measured.
      if (format !== 'safetensors') button.disabled = true;
      button.textContent = `${kButtons[format].label} · …`;
      button.title = 'measuring the size';
    }
    try {
      const reply = await callWorker<'formats'>({ type: 'formats', source: shown.source, policy: shown.policy, formats });
      if (mine !== this.#generation) return undefined;
      this.sizes = reply.sizes;
      for (const size of reply.sizes) {
        const button = $<HTMLButtonElement>(kButtons[size.format].id);
        button.disabled = size.bytes === undefined && size.format !== 'safetensors';
        button.textContent = `${kButtons[size.format].label} · ${size.bytes === undefined ? 'n/a' : formatBytes(size.bytes)}`;
        button.title = size.problem ?? (size.format === 'onnx-contrib'
          ? 'MatMulNBits and GatherBlockQuantized where they fit, QDQ elsewhere; onnxruntime-web\'s WebGPU EP takes 4-bit groups of 32 (not 8-bit MatMulNBits)' : '');
      }
      return reply.sizes;
    } catch (error) {
      if (mine !== this.#generation || error instanceof CancelledError) return undefined; // a newer run took over
      for (const format of formats) {
        const button = $<HTMLButtonElement>(kButtons[format].id);
        button.textContent = `${kButtons[format].label} · ?`;
        button.title = `the size could not be measured: ${error instanceof Error ? error.message : String(error)}`;
        button.disabled = format === 'safetensors' ? false : true;
      }
      return undefined;
    }
  }

  /** Disables every format button (nothing shown belongs to a finished result). */
  clear(): void {
    this.#generation++;
    this.sizes = undefined;
    for (const { id } of Object.values(kButtons)) $<HTMLButtonElement>(id).disabled = true;
  }

  /** Writes `format` in the worker and hands the bytes to `download` under `name`. */
  async export(format: 'onnx-contrib' | 'gguf', shown: ShownResult, name: (extension: string) => string,
    download: (name: string, bytes: Uint8Array) => void, status: (text: string) => void): Promise<void> {
    const button = $<HTMLButtonElement>(kButtons[format].id);
    button.disabled = true;
    try {
      status(`Writing ${name(kButtons[format].extension)}…`);
      const reply = await callWorker<'export-format'>({ type: 'export-format', source: shown.source, policy: shown.policy, format });
      download(name(kButtons[format].extension), reply.output);
    } catch (error) {
      status(error instanceof CancelledError ? 'Export cancelled: nothing was kept.' : `Export failed: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      button.disabled = false;
    }
  }
}
