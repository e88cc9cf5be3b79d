// `compress --target-bits` on the bundled default model, run in-process: the allocation in the summary and
// in --json, safetensors output (its parameters counted as safetensors stores them), a budget below what
// int4 groups reach (exit 2, stating the minimum) and malformed values (exit 2), with no output file left.
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './cli-support.js';
import { openSafetensorsFile, readQuantizedSafetensors } from '../../src/models.js';
import onnxProto from 'onnx-proto';
import { withExternalData } from '../shared/external-data.js';
import { buildMlp } from '../shared/mlp-onnx.js';
import { syntheticSignal } from '../shared/vad-signal.js';
import { RUN_SEED, rng } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'webgpu-quant-cli-budget-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI in-process and captures what it writes. */
const run = (...argv: string[]) => runCli(argv);

describe('webgpu-quant compress --target-bits', () => {
  it('meets the budget and prints the allocation; --json carries it per tensor', async () => {
    const out = join(dir, 'vad.b5.onnx');
    const result = await run('compress', '-o', out, '--target-bits', '5', '--backend', 'cpu');
    expect(result.code).toBe(0);
    const bits = Number(/size budget: (\d+\.\d+) bits per weight \(target 5, minimum 4\.\d+\)/.exec(result.stdout)?.[1]);
    expect(bits).toBeGreaterThan(4.5);
    expect(bits).toBeLessThanOrEqual(5);
    expect(result.stdout).toMatch(/ {2}int8 per channel: \d+ tensors, \d+ weights/);
    const json = await run('compress', '-o', join(dir, 'vad.b6.onnx'), '--target-bits', '6', '--backend', 'cpu', '--json');
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report.budget.targetBits).toBe(6);
    expect(report.budget.bits).toBeLessThanOrEqual(6);
    expect(report.budget.bits).toBeGreaterThan(bits);
    expect(report.budget.tensors).toHaveLength(34); // 36 weights, the first layer's 2 kept float by the policy
    for (const t of report.budget.tensors) {
      expect(t.options.map((o: { option: string }) => o.option)).toContain(t.chosen);
      expect(report.tensors.find((r: { name: string }) => r.name === t.name).reason).toContain(`size budget 6 bits per weight: ${t.chosen}`);
    }
  }, 120_000);

  it('safetensors output: the budget counts one float32 scale and one byte of zero point per group or channel', async () => {
    const out = join(dir, 'vad.b5.safetensors');
    const result = await run('compress', '-o', out, '--target-bits', '5', '--backend', 'cpu', '--json');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.budget.bits).toBeLessThanOrEqual(5);
    const g32 = report.budget.tensors[0].options.find((o: { option: string }) => o.option === 'int4 groups of 32');
    expect(g32.bits).toBeGreaterThan(5.25 - 1e-9); // at least 4 + (32 + 8) / 32: a last short group costs more
    const { quantized } = await readQuantizedSafetensors(await openSafetensorsFile(out));
    const chosen = new Map<string, string>(report.budget.tensors.map((t: { name: string; chosen: string }) => [t.name, t.chosen]));
    for (const [name, q] of quantized) {
      const option = chosen.get(name)!;
      expect(option.startsWith('int4') ? [q.dtype, q.qGroupSize()] : [q.dtype], name).toEqual(
        option.startsWith('int4') ? ['qint4', Number(option.split(' ').pop())] : ['qint8']);
    }
    const quantizedElements = report.budget.tensors.reduce((sum: number, t: { elements: number }) => sum + t.elements, 0);
    expect(statSync(out).size).toBeLessThan(report.totals.bytesBefore - 4 * quantizedElements + (5 / 8) * quantizedElements + 64 * 1024);
  }, 120_000);

  it('exit 2 for a budget below int4 groups of 128 (stating the minimum) or a malformed value', async () => {
    const out = join(dir, 'never.onnx');
    const low = await run('compress', '-o', out, '--target-bits', '3', '--backend', 'cpu');
    expect(low.code).toBe(2);
    expect(low.stderr).toMatch(/--target-bits 3: is below what this model's weights can reach: .* average 4\.\d+ bits per weight; use targetBits >= 4\.\d+/);
    for (const value of ['0', '-1', 'five', 'NaN']) {
      const bad = await run('compress', '-o', out, `--target-bits=${value}`);
      expect(bad.code, value).toBe(2);
      expect(bad.stderr).toContain(`--target-bits ${value}: use a number of bits per weight > 0`);
    }
    expect(existsSync(out)).toBe(false);
  }, 120_000);

  it('--inputs with --target-bits: sensitivities measured on the samples, the 8 kHz branch flagged as unreached, the same written as safetensors; --inputs alone still needs --verify or --target-bits, a safetensors input is refused', async () => {
    const windows = syntheticSignal().slice(8, 11);
    const samples = windows.map((x) => ({
      input: { dims: [1, x.length], data: Array.from(x) }, sr: { dims: [], data: [16000] },
      h: { dims: [2, 1, 64], data: new Array(128).fill(0) }, c: { dims: [2, 1, 64], data: new Array(128).fill(0) },
    }));
    const inputs = join(dir, 'vad-inputs.json');
    writeFileSync(inputs, JSON.stringify(samples));
    const out = join(dir, 'vad.b5.data.onnx');
    const result = await run('compress', '-o', out, '--target-bits', '5', '--inputs', inputs, '--backend', 'cpu');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/sensitivities measured on the sample inputs: 36 model runs, \d+\.\d s/);
    // The 8 kHz branch, and (from a zero state) the branches the LSTM state selects: 24 of 36 measured here.
    const unreached = Number(/warning: (\d+) weights do not change the outputs on these inputs \(given the cheapest option\): model_8k\./.exec(result.stdout)?.[1]);
    expect(unreached).toBeGreaterThanOrEqual(12);
    expect(unreached).toBeLessThan(36);
    const bits = Number(/size budget: (\d+\.\d+) bits per weight/.exec(result.stdout)?.[1]);
    expect(bits).toBeLessThanOrEqual(5);
    const alone = await run('compress', '-o', join(dir, 'never.onnx'), '--inputs', inputs);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toMatch(/--inputs needs --verify or --target-bits/);
    expect(existsSync(join(dir, 'never.onnx'))).toBe(false);
    // Written as safetensors: the same sensitivities (the ONNX model runs in onnxruntime), safetensors' storage costs.
    const asSafetensors = await run('compress', '-o', join(dir, 'vad.b5.inputs.safetensors'), '--target-bits', '5', '--inputs', inputs, '--backend', 'cpu', '--json');
    expect(asSafetensors.code, asSafetensors.stderr).toBe(0);
    const onnxJson = await run('compress', '-o', join(dir, 'vad.b5.inputs.onnx'), '--target-bits', '5', '--inputs', inputs, '--backend', 'cpu', '--json');
    const [stBudget, onnxBudget] = [JSON.parse(asSafetensors.stdout).budget, JSON.parse(onnxJson.stdout).budget];
    expect(stBudget).toMatchObject({ errorSource: 'outputs', probeRuns: 36 });
    expect(stBudget.bits).toBeLessThanOrEqual(5);
    // The probed values differ a little (ONNX rounds the scales to float16 under a budget, safetensors keeps float32):
    // the same weights unreached, the others' sensitivities within a factor of 2 of ONNX's.
    const sensitivities = (budget: { tensors: { name: string; sensitivity: number }[] }) => new Map(budget.tensors.map((t) => [t.name, t.sensitivity]));
    const [st, ox] = [sensitivities(stBudget), sensitivities(onnxBudget)];
    expect([...st.keys()].sort()).toEqual([...ox.keys()].sort());
    for (const [name, value] of st) {
      const ratio = value / ox.get(name)!;
      if (ox.get(name) === 0) expect(value, name).toBe(0);
      else expect(ratio > 0.5 && ratio < 2, `${name}: ${value} against ${ox.get(name)}`).toBe(true);
    }
    // A safetensors input has no model to run.
    const tensors = join(dir, 'vad.i8.safetensors');
    expect((await run('compress', '-o', tensors, '--backend', 'cpu')).code).toBe(0);
    const safetensors = await run('compress', tensors, '-o', join(dir, 'never.safetensors'), '--target-bits', '5', '--inputs', inputs);
    expect(safetensors.code).toBe(2);
    expect(safetensors.stderr).toMatch(/--inputs with --target-bits runs the model in onnxruntime: it needs an ONNX input/);
  }, 120_000);

  it('--inputs with a model whose weights are in external data: its weights read from the data file and fed, the allocation of the same model inline', async () => {
    const inline = buildMlp(onnxProto.onnx, [64, 256, 128, 32], RUN_SEED + 41).model;
    const { model, data } = withExternalData(inline, ['fc0.weight', 'fc1.weight', 'fc2.weight', 'fc0.bias', 'fc1.bias', 'fc2.bias'], 'mlp.bin');
    const folder = mkdtempSync(join(dir, 'ext-'));
    writeFileSync(join(folder, 'inline.onnx'), inline);
    writeFileSync(join(folder, 'mlp.onnx'), model);
    writeFileSync(join(folder, 'mlp.bin'), data);
    const next = rng(RUN_SEED + 42);
    const inputs = join(folder, 'x.json');
    writeFileSync(inputs, JSON.stringify([1, 2, 3].map(() => ({ x: { dims: [1, 64], data: Array.from({ length: 64 }, () => 2 * next() - 1) } }))));
    const budgets = [];
    for (const name of ['inline.onnx', 'mlp.onnx']) {
      const result = await run('compress', join(folder, name), '-o', join(folder, `${name}.b5.onnx`), '--target-bits', '5', '--inputs', inputs, '--backend', 'cpu', '--json');
      expect(result.code, result.stderr).toBe(0);
      const { budget } = JSON.parse(result.stdout);
      expect(budget.errorSource).toBe('outputs');
      expect(budget.probeRuns).toBe(3);
      budgets.push(budget.tensors.map((t: { name: string; chosen: string; sensitivity: number }) => [t.name, t.chosen, t.sensitivity]));
    }
    expect(budgets[1]).toEqual(budgets[0]);
    expect(budgets[0]!.every(([, , sensitivity]: [string, string, number]) => sensitivity > 0)).toBe(true);
  }, 120_000);

  it('--scale-dtype: float16 scales under the budget by default, float32 on request; float16 without a budget; refused where it cannot apply', async () => {
    const half = await run('compress', '-o', join(dir, 'vad.b5.f16.onnx'), '--target-bits', '5', '--backend', 'cpu', '--json');
    const wide = await run('compress', '-o', join(dir, 'vad.b5.f32.onnx'), '--target-bits', '5', '--backend', 'cpu', '--json', '--scale-dtype', 'float32');
    expect([half.code, wide.code]).toEqual([0, 0]);
    const [h, w] = [JSON.parse(half.stdout), JSON.parse(wide.stdout)];
    const quantized = (r: { tensors: { action: string; scheme: string }[] }) => r.tensors.filter((t) => t.action === 'quantize');
    expect(quantized(h).every((t) => t.scheme.endsWith('float16 scales'))).toBe(true);
    expect(quantized(w).some((t) => t.scheme.includes('float16'))).toBe(false);
    // The same budget buys less with float32 scales: its int4 options cost more bits.
    type Budget = { budget: { tensors: { name: string; elements: number; options: { option: string; bits: number }[] }[] } };
    const largest = [...h.budget.tensors].sort((a: { elements: number }, b: { elements: number }) => b.elements - a.elements)[0].name;
    const int4g32 = (r: Budget) => r.budget.tensors.find((t) => t.name === largest)!.options.find((o) => o.option === 'int4 groups of 32')!.bits;
    expect(int4g32(w)).toBeCloseTo(5.125, 9); // 4 + (32 + 4) / 32
    expect(int4g32(h)).toBeCloseTo(4.625, 9); // 4 + (16 + 4) / 32
    const plain = await run('compress', '-o', join(dir, 'vad.q8.f16.onnx'), '--backend', 'cpu', '--json', '--scale-dtype', 'float16');
    expect(plain.code).toBe(0);
    expect(quantized(JSON.parse(plain.stdout)).every((t) => t.scheme.endsWith('float16 scales'))).toBe(true);
    for (const [flags, message] of [
      [['--scale-dtype', 'bfloat16'], /--scale-dtype bfloat16: use one of float32, float16/],
      [['--scale-dtype', 'float16', '--onnx-ops', 'contrib'], /--scale-dtype float16 is for QDQ weights/],
      [['--scale-dtype', 'float16', '--format', 'safetensors'], /--scale-dtype sets how ONNX stores scales: it needs ONNX output, not safetensors/],
    ] as const) {
      const out = join(dir, 'refused.bin');
      const result = await run('compress', '-o', out, '--backend', 'cpu', ...flags);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(existsSync(out)).toBe(false);
    }
  }, 120_000);
});
