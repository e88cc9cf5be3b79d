// `webgpu-quant verify` and `compress --verify`, run in-process on the bundled default model: the table,
// --json, the exit codes (0 passed, 1 failed verification or bad input, 2 usage), inputs from files, and a
// missing onnxruntime-node (exit 1 with the install command, before any file is written).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runCli } from './cli-support.js';
import { defaultModelPath } from '../../src/cli/default-model.js';
import { OCR_REC_PATH } from '../models/ocr-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'webgpu-quant-verify-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => { delete (globalThis as { WEBGPU_QUANT_ORT_MODULE?: string }).WEBGPU_QUANT_ORT_MODULE; });

/** Runs the CLI in-process and captures what it writes. */
const run = (...argv: string[]) => runCli(argv);

describe('webgpu-quant compress --verify / verify', () => {
  const compressed = join(dir, 'vad.q8.onnx');

  it('compress --verify writes the model, prints the comparison and exits 0 when it passes', async () => {
    const result = await run('compress', '-o', compressed, '--backend', 'cpu', '--verify');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/tensors: 34 quantized/);
    expect(result.stdout).toMatch(/verify: silero_vad_legacy\.onnx \(bundled default model\) vs .*vad\.q8\.onnx in onnxruntime, 3 generated samples \(input \[1, 256\], sr \[\], h \[2, 1, 64\], c \[2, 1, 64\]\)/);
    expect(result.stdout).toMatch(/\n {2}output +max \|Δ\| +rel\. error +cosine +argmax agreement\n {2}output +\S+ +\S+ +0\.99\d+ +-\n {2}hn +\S+ +\S+ +0\.99\d+ +100\.00 % of 6\n/);
    expect(result.stdout).toMatch(/PASS: every output's cosine similarity >= 0\.99\n$/);
  });

  it('compress --verify --json puts the verification in the one JSON object', async () => {
    const result = await run('compress', '-o', join(dir, 'vad.json.onnx'), '--backend', 'cpu', '--verify', '--json', '--seeds', '1');
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.totals.tensorsQuantized).toBe(34); // the two first layers (the STFT bases) stay float
    expect(report.verify).toMatchObject({ inputs: 'generated', samples: 1, passed: true });
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('verify exits 0 and prints one JSON object with --json', async () => {
    const result = await run('verify', defaultModelPath(), compressed, '--json', '--seeds', '2', '--dim', 'sequence=512');
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({ compressed, inputs: 'generated', samples: 2, passed: true, minCosine: 0.99, failures: [] });
    expect(report.inputDims.input).toEqual([1, 512]);
    expect(report.outputs.map((o: { name: string }) => o.name)).toEqual(['output', 'hn', 'cn']);
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('a failed criterion exits 1: verify prints FAIL; compress --verify keeps the file and says so', async () => {
    const verified = await run('verify', defaultModelPath(), compressed, '--min-cosine', '1');
    expect(verified.code).toBe(1);
    expect(verified.stdout).toMatch(/FAIL: output 'output': cosine 0\.\d+ < 1; output 'hn'/);
    expect(verified.stdout).toMatch(/note: the inputs were generated/);
    const out = join(dir, 'strict.onnx');
    const result = await run('compress', '-o', out, '--backend', 'cpu', '--verify', '--min-cosine', '1');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/strict\.onnx was written but fails verification \(output 'output': cosine/);
    expect(existsSync(out)).toBe(true);
  });

  it('reads inputs from .json files (several samples, several files)', async () => {
    const sample = { input: new Array(1).fill(new Array(512).fill(0).map((_, i) => 0.2 * Math.sin(i / 5))), sr: 16000, h: { dims: [2, 1, 64], data: new Array(128).fill(0) }, c: { dims: [2, 1, 64], data: new Array(128).fill(0) } };
    writeFileSync(join(dir, 'a.json'), JSON.stringify([sample, sample]));
    writeFileSync(join(dir, 'b.json'), JSON.stringify(sample));
    const result = await run('verify', defaultModelPath(), defaultModelPath(), '--inputs', join(dir, 'a.json'), '--inputs', join(dir, 'b.json'), '--json');
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ inputs: 'given', samples: 3, passed: true });
  });

  it('bad input exits 1 with one line naming it: models that differ, inputs that do not fit, unknown format', async () => {
    const differ = await run('verify', defaultModelPath(), OCR_REC_PATH);
    expect(differ.code).toBe(1);
    expect(differ.stderr).toMatch(/^webgpu-quant: silero_vad_legacy\.onnx and ch_PP-OCRv4_rec_infer\.onnx do not have the same inputs and outputs: input 'input' is in silero_vad_legacy\.onnx but not in ch_PP-OCRv4_rec_infer\.onnx;.*output 'softmax_11\.tmp_0' is in ch_PP-OCRv4_rec_infer\.onnx but not in silero_vad_legacy\.onnx\n$/);
    writeFileSync(join(dir, 'partial.json'), JSON.stringify({ sr: 16000 }));
    const partial = await run('verify', defaultModelPath(), compressed, '--inputs', join(dir, 'partial.json'));
    expect(partial.code).toBe(1);
    expect(partial.stderr).toMatch(/partial\.json: input 'input' \(float32 \[batch, sequence\]\) is missing; input 'h'/);
    writeFileSync(join(dir, 'x.txt'), '1');
    expect((await run('verify', defaultModelPath(), compressed, '--inputs', join(dir, 'x.txt'))).stderr).toMatch(/x\.txt: unknown inputs format/);
    expect((await run('verify', defaultModelPath(), join(dir, 'missing.onnx'))).code).toBe(1);
  });

  it('usage mistakes exit 2', async () => {
    for (const argv of [
      ['verify', defaultModelPath()],
      ['verify', defaultModelPath(), compressed, '--dim', 'sequence'],
      ['verify', defaultModelPath(), compressed, '--min-cosine', '1.5'],
      ['verify', defaultModelPath(), compressed, '--seeds', '0'],
      ['verify', defaultModelPath(), compressed, '--min-argmax', '95'],
      ['verify', defaultModelPath(), compressed, '--min-argmax', ''],
      ['compress', '-o', join(dir, 'x.onnx'), '--min-cosine', '0.9'],
      ['compress', '-o', join(dir, 'x.onnx'), '--min-argmax', '0.9'],
      ['compress', '-o', join(dir, 'x.safetensors'), '--verify'],
    ]) {
      const result = await run(...argv);
      expect(result.code, argv.join(' ')).toBe(2);
    }
    expect(existsSync(join(dir, 'x.safetensors'))).toBe(false);
  });

  it('without onnxruntime-node: exit 1 with the install command, and compress --verify writes nothing', async () => {
    (globalThis as { WEBGPU_QUANT_ORT_MODULE?: string }).WEBGPU_QUANT_ORT_MODULE = 'onnxruntime-node-not-installed';
    const verified = await run('verify', defaultModelPath(), compressed);
    expect(verified.code).toBe(1);
    expect(verified.stderr).toMatch(/^webgpu-quant: verification runs the models in onnxruntime-node, which is not installed: run 'npm install onnxruntime-node'/);
    const out = join(dir, 'never.onnx');
    const result = await run('compress', '-o', out, '--backend', 'cpu', '--verify');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/npm install onnxruntime-node/);
    expect(existsSync(out)).toBe(false);
    expect(readFileSync(compressed).length).toBeGreaterThan(0);
  });
});
