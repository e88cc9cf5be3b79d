// Verification of models whose tensors are in external data files: each model's files are found in its own
// folder, wherever the command runs from (onnxruntime looks for them in the working directory when a model
// is run from memory, unless told otherwise). A big model file with its weights inline goes to onnxruntime as its
// graph, the weights referenced in place in the file: the same report as the file itself.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';
import { verifyModels } from '../../src/verify/verify-models.js';
import { inlineAsExternal } from '../../src/verify/session-model.js';
import onnxProto from 'onnx-proto';
import { buildMlp } from '../shared/mlp-onnx.js';
import { runCli, tinyOnnx, tinyWeights } from './cli-support.js';
import { RUN_SEED } from './support.js';

const root = mkdtempSync(join(tmpdir(), 'webgpu-quant-verify-ext-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const cpu = ['--backend', 'cpu'];
let serial = 0;

/** models/m.onnx, its w [64, 64] and b [64] in models/weights.bin; out/ for the outputs. Neither is the working directory. */
function externalModel(): { models: string; out: string; model: string } {
  const models = join(root, `case-${serial}`, 'models');
  const out = join(root, `case-${serial++}`, 'out');
  mkdirSync(models, { recursive: true });
  mkdirSync(out, { recursive: true });
  const { w, b } = tinyWeights();
  const data = new Uint8Array(w.byteLength + b.byteLength);
  data.set(new Uint8Array(w.buffer), 0);
  data.set(new Uint8Array(b.buffer), w.byteLength);
  writeFileSync(join(models, 'weights.bin'), data);
  writeFileSync(join(models, 'm.onnx'), tinyOnnx([
    { name: 'w', dims: [64, 64], data: w, external: { location: 'weights.bin', offset: 0 } },
    { name: 'b', dims: [64], data: b, external: { location: 'weights.bin', offset: w.byteLength } },
  ]));
  return { models, out, model: join(models, 'm.onnx') };
}

describe('verify with external data, from another working directory', () => {
  it('compress --external-data --verify: the output\'s data file is read from its folder, the input\'s from its own', async () => {
    const { out, model } = externalModel();
    expect(process.cwd()).not.toBe(out);
    const target = join(out, 'm.q8.onnx');
    const result = await runCli(['compress', model, '-o', target, '--external-data', '--verify', ...cpu]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/external data: .*out\/m\.q8\.onnx\.data \(2 tensors/);
    expect(result.stdout).toMatch(/verify: .*models\/m\.onnx vs .*out\/m\.q8\.onnx in onnxruntime, 3 generated samples \(x \[1, 64\]\)/);
    // Random weights each run: two near-equal top logits may swap, so the argmax agreement is reported, not fixed.
    expect(result.stdout, `seed ${RUN_SEED}`).toMatch(/\n {2}y +\S+ +\S+ +0\.99\d+ +\d+\.\d\d % of 3\nPASS: every output's cosine similarity >= 0\.99\n$/);
    // The quantized weight really is in the data file, not in the model.
    const written = OnnxModel.decode(readFileSync(target));
    expect(written.list().filter((t) => t.external).map((t) => t.external!.location)).toContain('m.q8.onnx.data');
  });

  it('verify ORIGINAL COMPRESSED passes; without the compressed model\'s data file it fails, naming it', async () => {
    const { out, model } = externalModel();
    const target = join(out, 'm.q8.onnx');
    expect((await runCli(['compress', model, '-o', target, '--external-data', ...cpu])).code).toBe(0);
    const passed = await runCli(['verify', model, target, '--json', '--seeds', '2']);
    expect(passed.code, passed.stderr).toBe(0);
    const report = JSON.parse(passed.stdout);
    expect(report).toMatchObject({ passed: true, samples: 2, failures: [] });
    expect(report.outputs[0].cosine).toBeGreaterThan(0.999);
    expect(report.outputs[0].maxAbsDiff).toBeGreaterThan(0); // the integers were read: not the float weights

    renameSync(`${target}.data`, join(out, 'elsewhere.data'));
    const failed = await runCli(['verify', model, target]);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/FAIL: m\.q8\.onnx does not run in onnxruntime: .*m\.q8\.onnx\.data/);
  });

  it('a data file both share: found from another directory; without it, the original is named as the model that does not run', async () => {
    const { models, model } = externalModel();
    const target = join(models, 'm.q8.onnx');
    expect((await runCli(['compress', model, '-o', target, ...cpu])).code).toBe(0);
    expect(existsSync(`${target}.data`)).toBe(false); // b still read from weights.bin, which both models share
    expect((await runCli(['verify', model, target])).code).toBe(0);
    rmSync(join(models, 'weights.bin'));
    const result = await runCli(['verify', model, target]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/m\.onnx does not run on generated inputs .*weights\.bin/);
  });
});

describe('verifyModels from files', () => {
  it('paths instead of bytes: onnxruntime loads each file with its external data; only the graphs are read here', async () => {
    const { out, model } = externalModel();
    const target = join(out, 'm.q8.onnx');
    expect((await runCli(['compress', model, '-o', target, '--external-data', ...cpu])).code).toBe(0);
    const byPath = await verifyModels(model, target, { runtime: ort, seeds: [1, 2] });
    expect(byPath.passed).toBe(true);
    // The same outputs as from bytes run with each model's folder.
    const folder = (path: string) => ({ extra: { session: { model_external_initializers_file_folder_path: join(path, '..') } } });
    const byBytes = await verifyModels(readFileSync(model), readFileSync(target), { runtime: ort, seeds: [1, 2], sessionOptions: [folder(model), folder(target)] });
    expect(byPath.outputs).toEqual(byBytes.outputs);
    const missing = join(out, 'none.onnx');
    await expect(verifyModels(model, missing, { runtime: ort })).rejects.toThrow(InvalidArgumentError);
    await expect(verifyModels(model, missing, { runtime: ort, names: ['a', 'b'] })).rejects.toThrow(/b: .*none\.onnx cannot be opened/);
  });

  it('compress --verify to stdout verifies from memory (the input read whole for it)', async () => {
    const { w, b } = tinyWeights();
    const dir = join(root, `case-${serial++}`);
    mkdirSync(dir, { recursive: true });
    const input = join(dir, 'm.onnx');
    writeFileSync(input, tinyOnnx([{ name: 'w', dims: [64, 64], data: w }, { name: 'b', dims: [64], data: b }]));
    const result = await runCli(['compress', input, '-o', '-', '--verify', ...cpu]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/verify: .*m\.onnx vs <stdout> in onnxruntime, 3 generated samples[\s\S]*PASS/);
    expect(OnnxModel.decode(result.stdoutBytes).list().map((t) => t.name)).toContain("w_quantized");
  });
});

describe('verifyModels sessionOptions', () => {
  const { w, b } = tinyWeights();
  const bytes = tinyOnnx([{ name: 'w', dims: [64, 64], data: w }, { name: 'b', dims: [64], data: b }]);

  it('a pair gives each model its own options; equal models pass with cosine 1', async () => {
    const report = await verifyModels(bytes, bytes, { runtime: ort, sessionOptions: [{ logSeverityLevel: 3 }, { logSeverityLevel: 3, executionProviders: ['cpu'] }] });
    expect(report.passed).toBe(true);
    expect(report.outputs[0]!.cosine).toBe(1);
  });

  it('the compressed model\'s own options are the ones it runs with', async () => {
    const report = await verifyModels(bytes, bytes, { runtime: ort, sessionOptions: [{ logSeverityLevel: 3 }, { executionProviders: ['no-such-provider'] }] });
    expect(report.passed).toBe(false);
    expect(report.failures[0]).toMatch(/the compressed model does not run in onnxruntime/);
  });

  it('a list that is not a pair is refused', async () => {
    for (const sessionOptions of [[], [{}], [{}, {}, {}]] as unknown as [object, object][]) {
      await expect(verifyModels(bytes, bytes, { runtime: ort, sessionOptions })).rejects.toThrow(InvalidArgumentError);
    }
    await expect(verifyModels(bytes, bytes, { runtime: ort, sessionOptions: [{}] as unknown as [object, object] }))
      .rejects.toThrow(/sessionOptions has 1 entries: give one object for both models, or two/);
  });

  it('a big model file goes to onnxruntime as its graph with its weights referenced in the file: the same report', async () => {
    const dir = join(root, `case-${serial++}`, 'models');
    mkdirSync(dir, { recursive: true });
    const model = join(dir, 'mlp.onnx');
    writeFileSync(model, buildMlp(onnxProto.onnx, [256, 512, 128, 16], RUN_SEED + 7).model); // weights of 512 and 256 KiB, inline
    const target = join(dir, 'mlp.q8.onnx');
    expect((await runCli(['compress', model, '-o', target, ...cpu])).code).toBe(0);
    const calls: [unknown, unknown][] = [];
    const runtime = { ...ort, InferenceSession: { create: (m: unknown, o: unknown) => { calls.push([m, o]); return ort.InferenceSession.create(m as string, o as object); } } };
    const before = inlineAsExternal.minBytes;
    try {
      inlineAsExternal.minBytes = Infinity;
      const asFiles = await verifyModels(model, target, { runtime: runtime as never, seeds: [1, 2] });
      expect(calls.map(([m]) => m)).toEqual([model, target]);
      inlineAsExternal.minBytes = 0;
      calls.length = 0;
      const asGraphs = await verifyModels(model, target, { runtime: runtime as never, seeds: [1, 2] });
      expect(calls.map(([m]) => m instanceof Uint8Array), 'both as their graphs').toEqual([true, true]);
      for (const [bytes, options] of calls) {
        expect((bytes as Uint8Array).byteLength, 'the weights are not in it').toBeLessThan(64 * 1024);
        expect(options).toMatchObject({ extra: { session: { model_external_initializers_file_folder_path: dir } } });
      }
      expect({ ...asGraphs, seconds: 0 }).toEqual({ ...asFiles, seconds: 0 });
      expect(asGraphs.passed).toBe(true);
      // Session options that name the folder already: the file goes as it is.
      calls.length = 0;
      const own = { extra: { session: { model_external_initializers_file_folder_path: dir } } };
      await verifyModels(model, target, { runtime: runtime as never, seeds: [1], sessionOptions: own });
      expect(calls.map(([m]) => m)).toEqual([model, target]);
    } finally {
      inlineAsExternal.minBytes = before;
    }
  });
});
