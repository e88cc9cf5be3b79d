import { defineConfig } from 'vitest/config';

// Three projects: 'unit' (test/unit, plain Node: the CPU reference and host logic), 'models' (test/models:
// real models end to end in onnxruntime-node, text rendered in headless Chromium) and 'browser'
// (test/browser: drives the built library inside headless Chromium; its global setup serves the repo on
// 127.0.0.1 and starts Chromium). `npx vitest run --project unit` runs the fast half alone.
export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 180_000,
    teardownTimeout: 30_000,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      // Real models (Silero VAD, PaddleOCR v4) compressed and run in onnxruntime-node on rendered inputs.
      { extends: true, test: { name: 'models', include: ['test/models/**/*.test.ts'] } },
      {
        extends: true,
        test: { name: 'browser', include: ['test/browser/**/*.test.ts'], globalSetup: ['test/setup/browser-global.ts'] },
      },
    ],
  },
});
