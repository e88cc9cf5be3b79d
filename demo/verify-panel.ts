// The Verify panel: the original and the compressed ONNX model run in onnxruntime-web, here in the page, on
// the same generated inputs (the library's verifyModels does the running and comparing), and each output's
// difference is shown: max |Δ|, relative error, cosine similarity, argmax agreement, pass or fail.
// onnxruntime-web is loaded only when Verify is first pressed; its wasm file is emitted by the build next to
// the app (the package's `new URL('….wasm', import.meta.url)`), so the app verifies offline too.
import { type OutputComparison, type VerifyReport, verifyModels } from '../src/models.js';

type Ort = typeof import('onnxruntime-web');

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

let ortModule: Promise<Ort> | undefined;

/** onnxruntime-web, loaded once; one wasm thread (the page is not cross-origin isolated, so no shared memory). */
function loadOrt(): Promise<Ort> {
  return ortModule ??= import('onnxruntime-web').then((ort) => {
    ort.env.wasm.numThreads = 1;
    // Its warnings (e.g. shape nodes placed on the CPU) go to console.error; the panel shows what matters.
    ort.env.logLevel = 'error';
    return ort;
  });
}

/** What the panel verifies: the two models' bytes, read when Verify is pressed. */
export interface VerifyPair { name: string; original: () => Promise<Uint8Array>; compressed: Uint8Array }

/** A verification as the panel shows it: the report, and the execution providers that ran it. */
export interface VerifyShown { report: VerifyReport; runtime: string }

const fixed = (x: number, digits: number) => (Number.isFinite(x) ? x.toFixed(digits) : String(x));

/** One row per output. */
export function verifyRows(report: VerifyReport): HTMLTableRowElement[] {
  return report.outputs.map((o: OutputComparison) => {
    const tr = document.createElement('tr');
    tr.dataset.output = o.name;
    const pass = report.passedBy[o.name] !== undefined;
    tr.dataset.result = pass ? 'pass' : 'fail';
    const cells = [
      `${o.name} [${o.dims.join('×')}]`, o.maxAbsDiff.toExponential(2), o.relativeError.toExponential(2), fixed(o.cosine, 5),
      o.argmaxAgreement === undefined ? '—' : `${(o.argmaxAgreement * 100).toFixed(1)} % of ${o.argmaxRows}`, pass ? 'pass' : 'fail',
    ];
    tr.append(...cells.map((text, i) => {
      const td = document.createElement('td');
      td.textContent = text;
      if (i >= 1 && i <= 4) td.className = 'num';
      if (i === 5) td.className = pass ? 'match' : 'mismatch';
      return td;
    }));
    return tr;
  });
}

/** The panel: `enable` with the pair on show (or disable with a reason), `run` on Verify. */
export class VerifyPanel {
  #pair: VerifyPair | undefined;
  #running: VerifyPair | undefined;
  /** Called with each finished verification (the app keeps the last one for its test). */
  onResult: (shown: VerifyShown | undefined) => void = () => {};

  /** A new result is on show: what was verified before belongs to another model, so it goes. */
  enable(pair: VerifyPair | undefined, reason = 'Verify runs ONNX models: compress an ONNX model first.'): void {
    this.#pair = pair;
    $<HTMLButtonElement>('verify').disabled = !pair;
    $('verify-wrap').hidden = true;
    $('verify-table').querySelector('tbody')!.replaceChildren();
    $('verify-status').textContent = pair ? '' : reason;
    delete $('verify-wrap').dataset.passed;
    this.onResult(undefined);
  }

  async run(): Promise<void> {
    const pair = this.#pair;
    if (!pair || this.#running) return;
    this.#running = pair;
    const button = $<HTMLButtonElement>('verify');
    button.disabled = true;
    const status = $('verify-status');
    const wanted = $<HTMLSelectElement>('verify-ep').value;
    try {
      status.textContent = 'Loading onnxruntime-web…';
      const ort = await loadOrt();
      const original = await pair.original();
      if (this.#pair !== pair) return;
      status.textContent = `Running both models in onnxruntime-web ${ort.env.versions.web}…`;
      let runtime = 'wasm';
      let report: VerifyReport;
      const verify = (executionProviders: string[]) => verifyModels(original, pair.compressed, {
        runtime: ort as never, sessionOptions: { executionProviders }, names: [pair.name, `${pair.name} compressed`],
      });
      if (wanted === 'webgpu' && 'gpu' in navigator) {
        try {
          report = await verify(['webgpu', 'wasm']);
          runtime = 'WebGPU EP (wasm for the nodes it has no kernel for)';
        } catch (error) {
          // Some models or adapters fail on the WebGPU EP: wasm still verifies, and says why it was used.
          report = await verify(['wasm']);
          runtime = `wasm (the WebGPU EP failed: ${String((error as Error)?.message ?? error).split('\n')[0]})`;
        }
      } else {
        report = await verify(['wasm']);
        runtime = wanted === 'webgpu' ? 'wasm (no WebGPU in this browser)' : 'wasm';
      }
      if (this.#pair !== pair) return; // another result came while this one ran
      this.#show(report, runtime, ort.env.versions.web ?? '');
    } catch (error) {
      if (this.#pair !== pair) return;
      status.textContent = `Verification could not run: ${error instanceof Error ? error.message : String(error)}`;
      $('verify-wrap').hidden = true;
      this.onResult(undefined);
    } finally {
      this.#running = undefined;
      button.disabled = !this.#pair;
    }
  }

  #show(report: VerifyReport, runtime: string, version: string): void {
    $('verify-table').querySelector('tbody')!.replaceChildren(...verifyRows(report));
    $('verify-wrap').hidden = false;
    $('verify-wrap').dataset.passed = String(report.passed);
    const dims = Object.entries(report.inputDims).map(([n, d]) => `${n} [${d.join('×')}]`).join(', ');
    $('verify-status').textContent = `${report.passed ? 'Passed' : 'Failed'}: ${report.samples} generated samples (${dims}), `
      + `onnxruntime-web ${version}, ${runtime}, ${report.seconds.toFixed(2)} s.${report.failures.length ? ` ${report.failures.join(' ')}` : ''}`;
    this.onResult({ report, runtime });
  }
}
