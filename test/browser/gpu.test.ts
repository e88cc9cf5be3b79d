// Drives the GPU test suites inside real headless Chromium: one vitest test per browser test, so the
// runner's counts include every GPU check. The first test prints the adapter and fails without one.
import puppeteer from 'puppeteer-core';
import { afterAll, expect, inject, it } from 'vitest';

const browser = await puppeteer.connect({ browserWSEndpoint: inject('wsEndpoint') });
const page = await browser.newPage();
const consoleErrors: string[] = [];
/** onnxruntime-web's node placements after each `[placement] <label>` line of the ort-contrib suite. */
const placements = new Map<string, string[]>();
let placing: string | undefined;
page.on('console', (message) => {
  const line = message.text();
  // onnxruntime-web writes its whole log to console.error; its verbose and info lines (the ort-contrib suite asks
  // for them) are not errors.
  // The warning about nodes off the preferred EP is expected once: GatherBlockQuantized on the CPU (asserted below).
  const ortLog = /\[[VI]:onnxruntime:/.test(line) || (placing !== undefined && /^\s*[A-Za-z0-9]+ \(.*\)\s*$/.test(line))
    || (placing?.startsWith('GatherBlockQuantized') === true && /\[W:onnxruntime:.*Some nodes were not assigned to the preferred execution providers/.test(line));
  if (message.type() === 'error' && !ortLog) consoleErrors.push(line);
  const marker = /^\[placement\] (.*)$/.exec(line);
  if (marker) placements.set(placing = marker[1]!, []);
  // "Node(s) placed on [EP]. Number of nodes: n", then one line per node: " OpType (node name)".
  else if (placing && (/placed on \[/.test(line) || /^\s*[A-Za-z0-9]+ \(.*\)\s*$/.test(line.replace(/^.*VerifyEachNodeIsAssignedToAnEp\]/, '')))) {
    placements.get(placing)!.push(line.replace(/^.*VerifyEachNodeIsAssignedToAnEp\]/, '').trim());
  }
});
page.on('pageerror', (error) => consoleErrors.push(`page error: ${(error as Error).message}`));
await page.goto(`${inject('baseUrl')}/test/browser/harness.html`);
await page.waitForFunction(() => window.__harness !== undefined, { timeout: 60_000 });
const names = await page.evaluate(() => window.__harness.list());

afterAll(async () => { await page.close(); await browser.disconnect(); });

it('finds browser tests', () => {
  expect(names.length).toBeGreaterThan(10);
});

for (const name of names) {
  it(name, async () => {
    const result = await page.evaluate((n) => window.__harness.run(n), name);
    if (!result.ok) throw new Error(result.message);
    if (result.message) console.log(`${name}: ${result.message}`);
  }, 300_000);
}

/** Node lines by EP from a session's placement lines ("All nodes placed on [EP]" lists none). */
function nodesByEp(lines: readonly string[]): Record<string, string[]> {
  const byEp: Record<string, string[]> = {};
  let ep = '';
  for (const line of lines) {
    const placed = /placed on \[(\w+)\]/.exec(line);
    if (placed) byEp[ep = placed[1]!] ??= [];
    else byEp[ep]!.push(line);
  }
  return byEp;
}

it('onnxruntime-web places MatMulNBits on its WebGPU EP (verbose session log, no CPU fallback); GatherBlockQuantized falls back to the CPU', () => {
  if (!placements.size) return; // the ort-contrib suite was filtered out of this run
  for (const [label, lines] of placements) console.log(`${label}: ${lines.join(' | ')}`);
  const mlp = placements.get('MatMulNBits MLP int4 g32');
  expect(mlp?.length, 'no placement line in onnxruntime\'s verbose log').toBeGreaterThan(0);
  expect(mlp!.filter((l) => !/^All nodes placed on \[JsExecutionProvider\]/.test(l))).toEqual([]);
  // onnxruntime-web 1.30's JSEP has no kernel for GatherBlockQuantized's uint8 form: that one node runs on the
  // CPU inside the WebGPU session (its outputs still match); everything else stays on WebGPU.
  const gather = nodesByEp(placements.get('GatherBlockQuantized embedding int4 g32') ?? []);
  expect(gather.CPUExecutionProvider).toEqual(['GatherBlockQuantized (embed)']);
  expect(gather.JsExecutionProvider).toContain('MatMul (proj)');
});

it('left no console errors or unhandled rejections in the page', async () => {
  const uncaptured = await page.evaluate(() => window.__harness.uncaptured());
  expect([...consoleErrors, ...uncaptured]).toEqual([]);
});
