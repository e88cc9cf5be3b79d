// How the tests, the benchmark and the screenshot scripts start Chromium: Debian's build, headless, with
// WebGPU (SwiftShader when there is no GPU) and without the background traffic a closed network refuses.
import { existsSync } from 'node:fs';

export const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-dev-shm-usage',
];

/** The Chromium binary: $CHROMIUM_PATH, else Debian's /usr/bin/chromium. */
export function chromiumPath(): string {
  const path = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(path)) {
    throw new Error(`Chromium not found at ${path}: run 'apt-get install -y chromium' (scripts/test.sh does) or set CHROMIUM_PATH`);
  }
  return path;
}
