// Drives the GPU test suites inside real headless Chromium: one vitest test per browser test, so the
// runner's counts include every GPU check. The first test prints the adapter and fails without one.
import puppeteer from 'puppeteer-core';
import { afterAll, expect, inject, it } from 'vitest';

const browser = await puppeteer.connect({ browserWSEndpoint: inject('wsEndpoint') });
const page = await browser.newPage();
const consoleErrors: string[] = [];
page.on('console', (message) => { if (message.type() === 'error') consoleErrors.push(message.text()); });
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

it('left no console errors or unhandled rejections in the page', async () => {
  const uncaptured = await page.evaluate(() => window.__harness.uncaptured());
  expect([...consoleErrors, ...uncaptured]).toEqual([]);
});
