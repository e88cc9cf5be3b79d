// ONNX output with external data of its own: forced with --external-data (automatic past protobuf's 2 GB),
// and chosen when the output goes to another folder than the input's data file. onnxruntime-node loads the
// written model from its path (so it finds <out>.data) and gives exactly the outputs of the inline output.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';
import { RUN_SEED, rng } from '../shared/random.js';
import { runCli, tinyOnnx, tinyWeights } from './cli-support.js';

const root = mkdtempSync(join(tmpdir(), 'webgpu-quant-cli-extw-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const cpu = ['--backend', 'cpu'];
let serial = 0;

function folder(): string {
  const dir = join(root, `case-${serial++}`);
  mkdirSync(join(dir, 'models'), { recursive: true });
  mkdirSync(join(dir, 'out'), { recursive: true });
  return dir;
}

/** Runs the tiny MatMul + Add model (input x [1, 64]) from a file path, on fresh random inputs. */
async function run(path: string, inputs: Float32Array[]): Promise<Float32Array[]> {
  const session = await ort.InferenceSession.create(path);
  try {
    const out: Float32Array[] = [];
    for (const x of inputs) out.push((await session.run({ x: new ort.Tensor('float32', x, [1, 64]) })).y!.data as Float32Array);
    return out;
  } finally {
    await session.release();
  }
}

function randomInputs(count: number): Float32Array[] {
  const next = rng(RUN_SEED + 99);
  return Array.from({ length: count }, () => Float32Array.from({ length: 64 }, () => next() * 2 - 1));
}

/**
 * The tiny model y = x @ w + b with w [64, n] and b [n] in a fresh folder, compressed to out/inline.onnx and,
 * with --external-data, to out/ext.onnx (whose run is returned).
 */
async function inlineAndExternal(n: number): Promise<{ b: Float32Array; inline: string; external: string; result: Awaited<ReturnType<typeof runCli>> }> {
  const dir = folder();
  const { w, b } = tinyWeights(64, n);
  const model = join(dir, 'models', 'm.onnx');
  writeFileSync(model, tinyOnnx([{ name: 'w', dims: [64, n], data: w }, { name: 'b', dims: [n], data: b }]));
  const inline = join(dir, 'out', 'inline.onnx');
  const external = join(dir, 'out', 'ext.onnx');
  expect((await runCli(['compress', model, '-o', inline, ...cpu])).code).toBe(0);
  return { b, inline, external, result: await runCli(['compress', model, '-o', external, '--external-data', ...cpu]) };
}

describe('compress --external-data', () => {
  it('writes <out>.data beside the model; onnxruntime gives exactly the inline output\'s results', async () => {
    const { inline, external, result } = await inlineAndExternal(64);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`external data: ${external}.data (1 tensors,`);
    // The quantized weight (4096 bytes) is external; the scale, zero point and bias (under 1 KiB) stay inline.
    const written = await OnnxModel.load(readFileSync(external));
    const stored = written.list().filter((t) => t.external);
    expect(stored.map((t) => [t.name, t.external!.location])).toEqual([['w_quantized', 'ext.onnx.data']]);
    expect(readFileSync(`${external}.data`).byteLength).toBe(64 * 64);
    expect(readFileSync(external).byteLength).toBeLessThan(readFileSync(inline).byteLength - 4000);
    const inputs = randomInputs(3);
    const [expected, actual] = [await run(inline, inputs), await run(external, inputs)];
    for (let i = 0; i < inputs.length; i++) expect(actual[i]).toEqual(expected[i]);
    expect(readdirSync(dirname(external)).sort()).toEqual(['ext.onnx', 'ext.onnx.data', 'inline.onnx']); // no temp file left
  });

  it('an output in another folder copies the weights kept in the input\'s data file into its own, instead of refusing', async () => {
    const dir = folder();
    const { w, b } = tinyWeights();
    const data = new Uint8Array(w.byteLength + b.byteLength);
    data.set(new Uint8Array(w.buffer), 0);
    data.set(new Uint8Array(b.buffer), w.byteLength);
    const model = join(dir, 'models', 'm.onnx');
    writeFileSync(join(dir, 'models', 'weights.bin'), data);
    writeFileSync(model, tinyOnnx([
      { name: 'w', dims: [64, 64], data: w, external: { location: 'weights.bin', offset: 0 } },
      { name: 'b', dims: [64], data: b, external: { location: 'weights.bin', offset: w.byteLength } },
    ]));
    const beside = join(dir, 'models', 'm.q8.onnx'); // refers to weights.bin, as before
    const elsewhere = join(dir, 'out', 'm.q8.onnx');
    expect((await runCli(['compress', model, '-o', beside, ...cpu])).code).toBe(0);
    const result = await runCli(['compress', model, '-o', elsewhere, ...cpu]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const written = await OnnxModel.load(readFileSync(elsewhere));
    expect(new Set(written.list().flatMap((t) => (t.external ? [t.external.location] : [])))).toEqual(new Set(['m.q8.onnx.data']));
    expect(written.info('b').external?.location).toBe('m.q8.onnx.data'); // the kept bias, copied
    const inputs = randomInputs(2);
    const [expected, actual] = [await run(beside, inputs), await run(elsewhere, inputs)];
    for (let i = 0; i < inputs.length; i++) expect(actual[i]).toEqual(expected[i]);
  });

  it('a kept weight still in the input file (64 KiB or more, read on demand) is copied to <out>.data in its turn', async () => {
    const { b, inline, external, result } = await inlineAndExternal(16384); // b: 64 KiB of float32, kept (rank 1), left in the input file until written
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain(`external data: ${external}.data (4 tensors,`); // w's integers, scales, zero points; b
    const written = await OnnxModel.load(readFileSync(external));
    expect(written.info('b').external?.location).toBe('ext.onnx.data');
    const data = readFileSync(`${external}.data`);
    const { offset } = written.info('b').external!;
    expect(Buffer.compare(data.subarray(offset, offset + b.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength))).toBe(0);
    const inputs = randomInputs(2);
    const [expected, actual] = [await run(inline, inputs), await run(external, inputs)];
    for (let i = 0; i < inputs.length; i++) expect(actual[i]).toEqual(expected[i]);
  });

  it('a failure after the weights went to <out>.data leaves neither file, and no temporary file', async () => {
    const dir = folder();
    const { w, b } = tinyWeights();
    const model = join(dir, 'models', 'm.onnx');
    // The bias lives in a data file that is missing: it is read when the data file is finished, after the
    // quantized weight was written there.
    writeFileSync(model, tinyOnnx([{ name: 'w', dims: [64, 64], data: w }, { name: 'b', dims: [64], data: b, external: { location: 'gone.bin', offset: 0 } }]));
    const result = await runCli(['compress', model, '-o', join(dir, 'out', 'm.q8.onnx'), '--external-data', ...cpu]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/initializer "b" in graph: external data file "gone\.bin" was not found/);
    expect(readdirSync(join(dir, 'out'))).toEqual([]);
  });

  it('--external-data with stdout is a usage error (exit 2), and nothing is written', async () => {
    const dir = folder();
    const { w, b } = tinyWeights();
    const model = join(dir, 'models', 'm.onnx');
    writeFileSync(model, tinyOnnx([{ name: 'w', dims: [64, 64], data: w }, { name: 'b', dims: [64], data: b }]));
    const result = await runCli(['compress', model, '-o', '-', '--external-data', ...cpu]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^webgpu-quant: --external-data writes <out>\.data beside the model: give a file output/);
    expect(existsSync(join(dir, 'models', '-.data'))).toBe(false);
  });
});
