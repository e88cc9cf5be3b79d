// Vitest global setup for the browser tests: serves the repository on 127.0.0.1 (WebGPU needs a secure
// context) with Vite, launches Debian's headless Chromium with WebGPU on, and hands both addresses to
// the test files through `inject`. Unit tests ignore them.
import { resolve } from 'node:path';
import type { TestProject } from 'vitest/node';
import puppeteer, { type Browser } from 'puppeteer-core';
import { createServer, type ViteDevServer } from 'vite';
import { CHROMIUM_ARGS, chromiumPath } from './chromium.js';

declare module 'vitest' {
  export interface ProvidedContext {
    baseUrl: string;
    wsEndpoint: string;
  }
}

let server: ViteDevServer | undefined;
let browser: Browser | undefined;

export async function setup(project: TestProject): Promise<void> {
  server = await createServer({
    root: process.cwd(),
    logLevel: 'error',
    server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false },
    // onnx-proto (CommonJS, protobufjs) is pre-bundled so the page can import its default export: the library
    // from source needs it, and suites that build ONNX models in the page (ort-contrib) import it directly.
    optimizeDeps: { noDiscovery: true, include: ['onnx-proto'] },
    // The suites import 'webgpu-quant': what ships (dist/, built before the tests). While developing,
    // WEBGPU_QUANT_TEST_SOURCE=1 serves src/ instead, so no build is needed between edits.
    resolve: {
      alias: ['index', 'models'].map((entry) => ({
        find: new RegExp(`^webgpu-quant${entry === 'index' ? '' : `/${entry}`}$`),
        replacement: resolve(process.cwd(), process.env.WEBGPU_QUANT_TEST_SOURCE === '1' ? `src/${entry}.ts` : `dist/${entry}.js`),
      })),
    },
  });
  await server.listen();
  const address = server.httpServer?.address();
  if (!address || typeof address === 'string') throw new Error('vite did not report its port');
  browser = await puppeteer.launch({ executablePath: chromiumPath(), headless: true, args: CHROMIUM_ARGS });
  project.provide('baseUrl', `http://127.0.0.1:${address.port}`);
  project.provide('wsEndpoint', browser.wsEndpoint());
}

export async function teardown(): Promise<void> {
  await browser?.close();
  await server?.close();
}
