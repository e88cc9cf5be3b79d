// The committed WebAssembly module is the build of the committed source: rebuilt here with wabt and compared.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs build script without type declarations
import { OUTPUT_PATH, WAT_PATH, buildSimdKernels } from '../../scripts/build-wasm.mjs';

describe('simd-kernels-wasm.ts', () => {
  it('is what scripts/build-wasm.mjs builds from simd-kernels.wat (run it after editing the .wat)', async () => {
    const built: string = await buildSimdKernels(readFileSync(WAT_PATH as string, 'utf8'));
    expect(built.length).toBeGreaterThan(1000);
    expect(readFileSync(OUTPUT_PATH as string, 'utf8') === built, 'stale: run node scripts/build-wasm.mjs').toBe(true);
  });

  it('a changed source builds a different module', async () => {
    const source = readFileSync(WAT_PATH as string, 'utf8').replace('(f32x4.nearest', '(f32x4.floor');
    expect(await buildSimdKernels(source)).not.toBe(readFileSync(OUTPUT_PATH as string, 'utf8'));
  });
});
