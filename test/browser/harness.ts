// Runs in the page. Collects the GPU test suites (test/browser/suites/*.ts), which import the built
// library (dist/, what ships), and exposes them to the Node side as window.__harness.
import { tests } from './suites/all.js';

const uncaptured: string[] = [];
window.addEventListener('unhandledrejection', (event) => uncaptured.push(`unhandled rejection: ${String(event.reason)}`));

declare global {
  interface Window {
    __harness: {
      list(): string[];
      run(name: string): Promise<{ ok: boolean; message: string }>;
      uncaptured(): string[];
    };
  }
}

window.__harness = {
  list: () => [...tests.keys()],
  async run(name) {
    const test = tests.get(name);
    if (!test) return { ok: false, message: `no browser test named ${name}` };
    try {
      const message = await test();
      return { ok: true, message: message ?? '' };
    } catch (error) {
      const e = error as Error;
      return { ok: false, message: `${e?.name ?? 'Error'}: ${e?.message ?? String(error)}\n${e?.stack ?? ''}` };
    }
  },
  uncaptured: () => uncaptured.slice(),
};
