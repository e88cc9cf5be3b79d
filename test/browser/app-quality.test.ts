// The app's model-quality features, in headless Chromium with WebGPU: the quality floor (its control, the
// escalated and weak weights flagged in the table with each step and its reason, the counts in the summary),
// the size budget (its control, the allocation per tensor, the average bits reached) and the Verify panel
// (the original and the compressed model in onnxruntime-web, built into the app).
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_ARGS, chromiumPath } from '../setup/chromium.js';
import { type Opened, type ServedApp, open, serveApp, text, waitForRun } from './app-support.js';

let served: ServedApp;
let browser: Browser;
let opened: Opened;

beforeAll(async () => {
  served = await serveApp();
  browser = await puppeteer.launch({ executablePath: chromiumPath(), headless: true, args: CHROMIUM_ARGS });
  opened = await open(browser, served.url, 1400);
});

afterAll(async () => {
  await browser?.close();
  await served?.close();
});

/** Sets the form's fields one after another, then waits for the run with all of them. */
async function runWith(page: Page, fields: Record<string, string>, policy: Record<string, unknown>, floor: number | undefined | 'off'): Promise<void> {
  const runs = await page.evaluate(() => window.__app.runs);
  for (const [id, value] of Object.entries(fields)) await page.select(`#${id}`, value);
  await waitForRun(page, policy, runs);
  // The floor travels apart: -Infinity does not survive the trip into the page inside an object.
  await page.waitForFunction((want: number | null | 'off') => {
    const got = window.__app.policy?.minSqnrDb;
    return want === 'off' ? got === -Infinity : want === null ? got === undefined : got === want;
  }, { timeout: 120_000 }, floor ?? null);
  await page.waitForFunction(() => !window.__app.busy);
}

/** The table's rows as shown: name, flags (with their tooltips), the scheme cell's escalation steps. */
const tableOf = (page: Page) => page.$$eval('#tensor-table tbody tr', (trs) => trs.map((tr) => ({
  name: (tr as HTMLElement).dataset.name!,
  flags: (tr as HTMLElement).dataset.flags ?? '',
  tips: [...tr.querySelectorAll<HTMLElement>('.flag')].map((f) => f.title),
  steps: [...tr.querySelectorAll('details.escalations li')].map((li) => li.textContent ?? ''),
  summary: tr.querySelector('details.escalations summary')?.textContent ?? '',
  sqnr: Number.parseFloat(tr.children[5]!.textContent!),
})));

/** The report's own escalations and weak weights, to hold the page's flags against. */
const reportOf = (page: Page) => page.evaluate(() => window.__app.report!.tensors.map((t) => ({
  name: t.name, action: t.action, sqnrDb: t.sqnrDb, steps: (t.escalations ?? []).map((s) => s.text),
})));

describe('the quality floor in the app', () => {
  it('flags each weight the floor escalated, with every step and its reason, and counts them in the summary', async () => {
    const { page, errors } = opened;
    // The default floor under the default scheme: nothing escalated, nothing flagged.
    expect(await text(page, '#sum-floor')).toBe('default (25 dB 8-bit, 15 dB 4-bit): no weight escalated');
    expect((await tableOf(page)).every((r) => r.flags === '')).toBe(true);

    // int4 per tensor: the default 15 dB floor for 4-bit escalates the weights below it to int8 per channel.
    await runWith(page, { dtype: 'qint4', granularity: 'tensor' }, { dtype: 'qint4', granularity: 'tensor' }, undefined);
    const report = await reportOf(page);
    const escalated = report.filter((t) => t.steps.length);
    const weak = report.filter((t) => t.action === 'quantize' && t.sqnrDb! < 20);
    expect(escalated.length).toBeGreaterThan(0);
    expect(escalated.every((t) => t.action === 'quantize')).toBe(true);
    expect(await text(page, '#sum-floor')).toBe(`default (25 dB 8-bit, 15 dB 4-bit): ${escalated.length} weights escalated${
      weak.length ? `; ${weak.length} weight${weak.length === 1 ? '' : 's'} below 20 dB (weak)` : ''}`);
    const rows = await tableOf(page);
    for (const t of escalated) {
      const row = rows.find((r) => r.name === t.name)!;
      expect(row.flags).toContain('escalated');
      expect(row.summary).toBe('escalated by the quality floor (1 step)');
      // Each step in words, as the report has it, without the name: 'qint4 per tensor 11.1 dB < 15 dB floor → qint8 per channel 50.1 dB'.
      expect(row.steps).toEqual(t.steps.map((s) => s.slice(t.name.length + 2)));
      expect(row.steps[0]).toMatch(/^qint4 per tensor -?\d+\.\d dB < 15 dB floor → qint8 per channel \d+\.\d dB$/);
      expect(row.tips[0]).toBe(row.steps.join('\n'));
      expect(row.sqnr).toBeGreaterThanOrEqual(15);
    }
    for (const r of rows.filter((r) => !escalated.some((t) => t.name === r.name))) expect(r.flags).not.toContain('escalated');
    // Weak weights (quantized, below 20 dB) carry the ⚠ flag, and only they.
    for (const r of rows) expect(r.flags.includes('weak')).toBe(weak.some((t) => t.name === r.name));

    // Floor off: nothing is escalated, and every int4 per-tensor weight below 20 dB is flagged weak.
    await runWith(page, { 'min-sqnr': 'off' }, { dtype: 'qint4', granularity: 'tensor' }, 'off');
    const off = await reportOf(page);
    expect(off.some((t) => t.steps.length)).toBe(false);
    const weakOff = off.filter((t) => t.action === 'quantize' && t.sqnrDb! < 20).length;
    expect(weakOff).toBeGreaterThan(weak.length);
    expect(await text(page, '#sum-floor')).toBe(`off: ${weakOff} weights below 20 dB (weak)`);
    expect((await tableOf(page)).filter((r) => r.flags.includes('weak')).length).toBe(weakOff);
    expect(errors).toEqual([]);
  });

  it('lists a weight the floor kept float even while kept tensors are hidden, with the step that kept it', async () => {
    const { page, errors } = opened;
    // int8 per channel with a 40 dB floor: a weight below 40 dB has nothing finer to go to and stays float.
    await runWith(page, { dtype: 'qint8', granularity: 'channel', 'min-sqnr': '40' }, { dtype: 'qint8', granularity: 'channel' }, 40);
    const report = await reportOf(page);
    const kept = report.filter((t) => t.action === 'keep' && t.steps.length);
    expect(kept.length).toBeGreaterThan(0);
    expect(await page.$eval('#show-kept', (c) => (c as HTMLInputElement).checked)).toBe(false);
    const rows = await tableOf(page);
    for (const t of kept) {
      const row = rows.find((r) => r.name === t.name)!;
      expect(row.summary).toBe('kept float by the quality floor');
      expect(row.steps[0]).toMatch(/^qint8 per channel \d+\.\d dB < 40 dB floor → float \(kept\)$/);
    }
    const up = report.filter((t) => t.action === 'quantize' && t.steps.length).length;
    const keptText = up ? `${up} weight${up === 1 ? '' : 's'} escalated, ${kept.length} kept float by the floor`
      : `${kept.length} weight${kept.length === 1 ? '' : 's'} kept float by the floor`;
    expect(await text(page, '#sum-floor')).toBe(`40 dB: ${keptText}`);
    expect(report.filter((t) => t.action === 'quantize').every((t) => t.sqnrDb! >= 40)).toBe(true);
    expect(errors).toEqual([]);
  });
});

describe('the size budget in the app', () => {
  it('sets targetBits, shows the allocation per tensor and the average bits reached', async () => {
    const { page, errors } = opened;
    await runWith(page, { 'min-sqnr': '' }, { dtype: 'qint8', granularity: 'channel' }, undefined);
    expect(await page.$eval('#target-bits', (i) => (i as HTMLInputElement).disabled)).toBe(true);
    let runs = await page.evaluate(() => window.__app.runs);
    await page.click('#budget-on');
    await waitForRun(page, { targetBits: 5 }, runs);
    // The allocator chooses each weight's data type and granularity, so the form's are off.
    expect(await page.$$eval('#dtype, #granularity', (s) => s.map((e) => (e as HTMLSelectElement).disabled))).toEqual([true, true]);
    const budget = await page.evaluate(() => (window.__app.report as { budget?: import('../../src/models.js').BudgetAllocation }).budget!);
    expect(budget.targetBits).toBe(5);
    expect(budget.bits).toBeLessThanOrEqual(5);
    expect(budget.bits).toBeGreaterThanOrEqual(budget.minimumBits);
    const chosen = new Set(budget.tensors.map((t) => t.chosen));
    expect(chosen.size).toBeGreaterThan(1); // 5 bits is between int4 and int8: a mix, not one scheme
    expect(await page.$eval('#sum-budget-item', (e) => (e as HTMLElement).hidden)).toBe(false);
    const summary = await text(page, '#sum-budget');
    expect(summary.startsWith(`${budget.bits.toFixed(2)} of 5 (minimum ${budget.minimumBits.toFixed(2)}) · `)).toBe(true);
    for (const c of chosen) expect(summary).toContain(`${budget.tensors.filter((t) => t.chosen === c).length} ${c === 'keep' ? 'kept float' : c}`);
    const notes = await page.$$eval('#tensor-table tbody tr', (trs) => trs.map((tr) => ({
      name: (tr as HTMLElement).dataset.name!, scheme: (tr.querySelector('td.scheme > span') ?? tr.querySelector('td.scheme'))!.textContent!,
      chosen: (tr.querySelector('small.allocation') as HTMLElement | null)?.dataset.chosen, note: tr.querySelector('small.allocation')?.textContent,
    })));
    const shown = notes.filter((n) => n.chosen !== undefined);
    expect(shown.length).toBeGreaterThan(0);
    const report = await reportOf(page);
    for (const n of shown) {
      const a = budget.tensors.find((t) => t.name === n.name)!;
      expect(n.chosen).toBe(a.chosen);
      expect(n.note).toBe(`budget: ${a.chosen === 'keep' ? 'kept float' : a.chosen}, ${a.bits.toFixed(2)} bits`);
      // The scheme the row shows is the one chosen (unless the quality floor escalated it, which the row says too).
      if (report.find((t) => t.name === n.name)!.steps.length) continue;
      const scheme = { 'int8 per channel': /^qint8 per channel/, 'int4 groups of 32': /^qint4 per group \(axis \d+, groupSize 32\)/,
        'int4 groups of 64': /^qint4 per group \(axis \d+, groupSize 64\)/, 'int4 groups of 128': /^qint4 per group \(axis \d+, groupSize 128\)/,
        keep: /^float/ }[a.chosen];
      expect(n.scheme).toMatch(scheme);
    }
    // Off again: the form's scheme decides, and the budget line goes.
    runs = await page.evaluate(() => window.__app.runs);
    await page.click('#budget-on');
    await page.waitForFunction((r: number) => !window.__app.busy && window.__app.runs > r && window.__app.policy!.targetBits === undefined, {}, runs);
    expect(await page.$eval('#sum-budget-item', (e) => (e as HTMLElement).hidden)).toBe(true);
    expect(await page.$$eval('#tensor-table small.allocation', (e) => e.length)).toBe(0);
    expect(errors).toEqual([]);
  });
});

describe('the Verify panel', () => {
  it('runs the original and the compressed model in onnxruntime-web and shows a pass per output', async () => {
    const { page, errors } = opened;
    await runWith(page, { dtype: 'qint8', granularity: 'channel', 'min-sqnr': '' }, { dtype: 'qint8', granularity: 'channel' }, undefined);
    expect(await page.$eval('#verify', (b) => (b as HTMLButtonElement).disabled)).toBe(false);
    // The wasm EP: the test machine's WebGPU adapter is a software one, on which the WebGPU EP is several times slower.
    await page.select('#verify-ep', 'wasm');
    await page.click('#verify');
    await page.waitForFunction(() => window.__app.verify !== undefined || /could not run/.test(document.querySelector('#verify-status')!.textContent!),
      { timeout: 280_000 });
    const status = await text(page, '#verify-status');
    const shown = await page.evaluate(() => window.__app.verify!);
    expect(shown, status).toBeDefined();
    expect(shown.report.passed).toBe(true);
    expect(status).toMatch(/^Passed: 3 generated samples .*, onnxruntime-web 1\.\d+\.\d+, wasm, /);
    const rows = await page.$$eval('#verify-table tbody tr', (trs) => trs.map((tr) => ({
      output: (tr as HTMLElement).dataset.output, result: (tr as HTMLElement).dataset.result,
      cells: [...tr.children].map((td) => td.textContent ?? ''),
    })));
    expect(rows.map((r) => r.output)).toEqual(shown.report.outputs.map((o) => o.name));
    expect(rows.length).toBeGreaterThan(0);
    for (const [i, row] of rows.entries()) {
      const o = shown.report.outputs[i]!;
      expect(row.result).toBe('pass');
      expect(row.cells[5]).toBe('pass');
      expect(Number(row.cells[3])).toBeGreaterThan(0.99);
      expect(Number(row.cells[3])).toBeCloseTo(o.cosine, 5);
      expect(row.cells[1]).toBe(o.maxAbsDiff.toExponential(2));
      expect(o.maxAbsDiff).toBeGreaterThan(0); // the compressed model does differ: the panel compared two models
    }
    // A new result clears the verification, which belonged to the previous compressed model.
    await runWith(page, { granularity: 'tensor' }, { dtype: 'qint8', granularity: 'tensor' }, undefined);
    expect(await page.evaluate(() => window.__app.verify)).toBeUndefined();
    expect(await page.$eval('#verify-wrap', (w) => (w as HTMLElement).hidden)).toBe(true);
    expect(errors).toEqual([]);
  }, 300_000);
});
