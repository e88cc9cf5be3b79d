// The webgpu-quant command line, run in-process on the bundled default model: compress to ONNX and to
// safetensors, inspect against the original, --json output, and the exit codes for bad input and usage.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './cli-support.js';
import { defaultModelPath } from '../../src/cli/default-model.js';
import { OnnxModel, openSafetensorsFile, readQuantizedSafetensors } from '../../src/models.js';
import { readQdqWeights } from '../../src/io/onnx/qdq-read.js';

const dir = mkdtempSync(join(tmpdir(), 'webgpu-quant-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI in-process and captures what it writes. */
const run = (...argv: string[]) => runCli(argv);

describe('webgpu-quant compress', () => {
  it('compresses the bundled default model to int8 QDQ ONNX and prints a summary', async () => {
    const out = join(dir, 'vad.q8.onnx');
    const result = await run('compress', '-o', out, '--backend', 'cpu');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/silero_vad_legacy\.onnx \(bundled default model\) -> .*vad\.q8\.onnx/);
    expect(result.stdout).toMatch(/tensors: 34 quantized, \d+ kept/); // the two STFT bases (the first layer) stay float
    expect(result.stdout).toMatch(/weights: 1\.78 MB -> 0\.90 MB \(1\.99x\)/);
    expect(result.stdout).toMatch(/backend: cpu/);
    expect(result.stdout).toMatch(/worst tensors by SQNR:\n +\d+\.\d\d dB/);
    const model = await OnnxModel.load(readFileSync(out));
    expect((await readQdqWeights(model)).size).toBe(34);
    expect(readdirSync(dir).filter((f) => f.includes('webgpu-quant-tmp'))).toEqual([]);
  });

  it('--json prints one JSON object with the report', async () => {
    const result = await run('compress', defaultModelPath(), '-o', join(dir, 'vad.json.onnx'), '--dtype', 'quint8', '--json', '--backend', 'cpu');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.format).toBe('onnx');
    expect(report.totals.tensorsQuantized).toBe(34);
    expect(report.tensors.find((t: { action: string }) => t.action === 'quantize').dtypeOut).toBe('quint8');
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('writes int4 per-group safetensors that inspect reads back and compares with the original', async () => {
    const out = join(dir, 'vad.q4.safetensors');
    const result = await run('compress', '-o', out, '--dtype', 'qint4', '--granularity', 'group', '--group-size', '32', '--backend', 'cpu');
    expect(result.code).toBe(0);
    const { quantized } = await readQuantizedSafetensors(await openSafetensorsFile(out));
    expect(quantized.size).toBe(34);
    expect([...quantized.values()].every((q) => q.dtype === 'qint4' && q.qscheme() === 'per_group_affine' && q.qGroupSize() === 32)).toBe(true);
    const inspect = await run('inspect', out, '--original', defaultModelPath(), '--json');
    expect(inspect.code).toBe(0);
    const listing = JSON.parse(inspect.stdout);
    const measured = listing.tensors.filter((t: { sqnrDb?: number }) => t.sqnrDb !== undefined);
    expect(measured).toHaveLength(34);
    for (const t of measured) expect(t.sqnrDb).toBeGreaterThan(10); // int4 groups of 32: 18-30 dB measured
  });

  it('inspect --tensor shows one tensor with its per-channel SQNR', async () => {
    const result = await run('inspect', join(dir, 'vad.q8.onnx'), '--original', defaultModelPath(), '--tensor', 'model.first_layer.0.pw_conv.0.weight');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/\nmodel\.first_layer\.0\.pw_conv\.0\.weight {2}qint8 {2}\[16, 258, 1\] {2}4\.\d\d kB {2}qint8 per channel \(axis 0\) {2}\d+\.\d\d dB/);
    expect(result.stdout).toMatch(/per-channel SQNR \(dB\): (\d+\.\d\d ){15}\d+\.\d\d/);
  });
});

describe('exit codes', () => {
  it('1 for a missing file, with the file named on one line', async () => {
    const result = await run('compress', join(dir, 'missing.onnx'), '-o', join(dir, 'x.onnx'));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^webgpu-quant: \S*missing\.onnx: no such file\n$/);
  });

  it('1 for a file that is not a model, naming it and the problem', async () => {
    const bad = join(dir, 'bad.onnx');
    writeFileSync(bad, 'not a model at all');
    const result = await run('compress', bad, '-o', join(dir, 'y.onnx'));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^webgpu-quant: .*bad\.onnx: protobuf does not parse.*\n$/);
    expect(existsSync(join(dir, 'y.onnx'))).toBe(false);
  });

  it('2 for usage mistakes, with the usage text', async () => {
    for (const argv of [['compress', '--dtype', 'int9', '-o', 'x.onnx'], ['compress'], ['frobnicate'], ['inspect'],
      ['compress', '-o', 'x.onnx', '--group-size', '32'], ['compress', '-o', 'x', '--include', '(']]) {
      const result = await run(...argv);
      expect(result.code, argv.join(' ')).toBe(2);
      expect(result.stderr).toMatch(/Usage:/);
    }
    const onnxFromSafetensors = await run('compress', join(dir, 'vad.q4.safetensors'), '-o', join(dir, 'z.onnx'));
    expect(onnxFromSafetensors.code).toBe(2);
    expect(onnxFromSafetensors.stderr).toMatch(/safetensors input can only be written as safetensors/);
  });

  it('0 and the usage for --help', async () => {
    const result = await run('--help');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/webgpu-quant compress/);
  });
});
