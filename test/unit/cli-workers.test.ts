// compress --workers N (the built bin/webgpu-quant.mjs, as a user runs it: the worker script is dist/cpu-worker.js):
// a safetensors, GGUF or ONNX output quantized on worker threads (N of them; by default the host's cores)
// is the same bytes as on one thread (--workers 0), so is a size budget's (its options measured on the workers), and SIGINT while the
// workers run removes the unfinished output. Needs the build (npm test builds first; alone: npm run build).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import onnxProto from 'onnx-proto';
import { buildMlp } from '../shared/mlp-onnx.js';
import { RUN_SEED, rng } from '../shared/random.js';
import { writeSafetensors } from './cli-support.js';

const repo = resolve(import.meta.dirname, '..', '..');
const bin = join(repo, 'bin', 'webgpu-quant.mjs');
const dir = mkdtempSync(join(tmpdir(), 'webgpu-quant-cli-workers-'));
const input = join(dir, 'model.safetensors');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(() => {
  if (!existsSync(join(repo, 'dist', 'cpu-worker.js'))) throw new Error('dist/cpu-worker.js is missing: run `npm run build` before this test');
  console.log(`seed ${RUN_SEED}`);
  const next = rng(RUN_SEED);
  // 12 weights of 256 x 1024 float32 (12 MiB; each over the pool's 256 KiB threshold) with rows of uneven ranges, and a bias.
  const tensors = Array.from({ length: 12 }, (_, t) => {
    const data = Float32Array.from({ length: 256 * 1024 }, (_, i) => (next() * 2 - 1) * (0.01 + (Math.floor(i / 1024) % 13) * next()));
    return { name: `layer${t}.weight`, shape: [256, 1024], data };
  });
  tensors.push({ name: 'norm.bias', shape: [1024], data: Float32Array.from({ length: 1024 }, () => next()) });
  writeSafetensors(input, tensors);
});

function compress(output: string, ...extra: string[]): { status: number | null; stdout: string; stderr: string } {
  const child = spawnSync(process.execPath, [bin, 'compress', input, '-o', output, '--backend', 'cpu', ...extra], { encoding: 'utf8' });
  return { status: child.status, stdout: child.stdout, stderr: child.stderr };
}

describe('compress --workers', () => {
  it('writes the same bytes as one thread', () => {
    const alone = compress(join(dir, 'alone.safetensors'), '--workers', '0');
    expect(alone.status, alone.stderr).toBe(0);
    expect(alone.stdout).toMatch(/backend: cpu; /); // the summary says where it ran
    for (const workers of ['1', '2', 'default']) {
      const pooled = compress(join(dir, `pooled-${workers}.safetensors`), ...(workers === 'default' ? [] : ['--workers', workers]));
      expect(pooled.status, pooled.stderr).toBe(0);
      if (workers !== 'default') expect(pooled.stdout).toMatch(new RegExp(`backend: cpu, ${workers} worker threads?; `));
      expect(Buffer.compare(readFileSync(join(dir, `pooled-${workers}.safetensors`)), readFileSync(join(dir, 'alone.safetensors'))), `--workers ${workers}`).toBe(0);
    }
    const bad = compress(join(dir, 'bad.safetensors'), '--workers', '1.5');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--workers 1.5: use an integer >= 0/);
  });

  it('--target-bits: the big weights\' options measured on the workers; the same file and allocation as one thread', () => {
    const outputs: Buffer[] = [];
    const budgets: unknown[] = [];
    for (const workers of ['0', '2']) {
      const out = join(dir, `budget-w${workers}.safetensors`);
      const result = compress(out, '--target-bits', '5', '--workers', workers, '--json');
      expect(result.status, result.stderr).toBe(0);
      const report = JSON.parse(result.stdout);
      expect(report.budget.tensors).toHaveLength(12);
      expect(report.budget.bits).toBeLessThanOrEqual(5);
      budgets.push(report.budget);
      outputs.push(readFileSync(out));
    }
    expect(Buffer.compare(outputs[1]!, outputs[0]!)).toBe(0);
    expect(budgets[1]).toEqual(budgets[0]);
  });

  it('writes the same GGUF file as one thread', () => {
    const alone = compress(join(dir, 'alone.gguf'), '--workers', '0');
    expect(alone.status, alone.stderr).toBe(0);
    const bytes = readFileSync(join(dir, 'alone.gguf'));
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('GGUF');
    expect(bytes.byteLength).toBeGreaterThan(12 * 256 * 1024 * 34 / 32); // Q8_0: 34 bytes per 32 weights
    for (const workers of ['2', 'default']) {
      const pooled = compress(join(dir, `pooled-${workers}.gguf`), ...(workers === 'default' ? [] : ['--workers', workers]));
      expect(pooled.status, pooled.stderr).toBe(0);
      expect(Buffer.compare(readFileSync(join(dir, `pooled-${workers}.gguf`)), bytes), `--workers ${workers}`).toBe(0);
    }
  });

  it('writes the same ONNX model as one thread', () => {
    const model = join(dir, 'mlp.onnx');
    // Weights of 1 MiB, 768 KiB and 96 KiB of float32: the first two go to the pool.
    writeFileSync(model, buildMlp(onnxProto.onnx, [256, 1024, 192, 128], RUN_SEED + 5).model);
    const run = (output: string, ...extra: string[]) => spawnSync(process.execPath,
      [bin, 'compress', model, '-o', output, '--backend', 'cpu', '--first-layer', 'quantize', ...extra], { encoding: 'utf8' });
    const alone = run(join(dir, 'alone.onnx'), '--workers', '0');
    expect(alone.status, alone.stderr).toBe(0);
    expect(alone.stdout).toMatch(/backend: cpu; /);
    const bytes = readFileSync(join(dir, 'alone.onnx'));
    expect(bytes.byteLength).toBeLessThan(readFileSync(model).byteLength / 3); // int8: quantized, not copied
    for (const workers of ['2', 'default']) {
      const pooled = run(join(dir, `pooled-${workers}.onnx`), ...(workers === 'default' ? [] : ['--workers', workers]));
      expect(pooled.status, pooled.stderr).toBe(0);
      // By default a model this small (1.1 MiB of float32 to quantize) stays on one thread: starting workers costs more.
      expect(pooled.stdout).toMatch(workers === '2' ? /backend: cpu, 2 worker threads; / : /backend: cpu; /);
      expect(Buffer.compare(readFileSync(join(dir, `pooled-${workers}.onnx`)), bytes), `--workers ${workers}`).toBe(0);
    }
  });

  it('--preset transformers.js on worker threads writes the same files as one thread', () => {
    const model = join(dir, 'preset.onnx');
    writeFileSync(model, buildMlp(onnxProto.onnx, [256, 1024, 192, 128], RUN_SEED + 6).model);
    const files: Buffer[][] = [];
    for (const workers of ['0', '2']) {
      const out = join(dir, `preset-${workers}`);
      const run = spawnSync(process.execPath, [bin, 'compress', model, '--preset', 'transformers.js', '-o', out, '--backend', 'cpu',
        '--first-layer', 'quantize', '--workers', workers], { encoding: 'utf8' });
      expect(run.status, run.stderr).toBe(0);
      files.push(['model_q4.onnx', 'model_quantized.onnx'].map((name) => readFileSync(join(out, 'onnx', name))));
    }
    expect(Buffer.compare(files[1]![0]!, files[0]![0]!), 'model_q4.onnx').toBe(0);
    expect(Buffer.compare(files[1]![1]!, files[0]![1]!), 'model_quantized.onnx').toBe(0);
  });

  it('SIGINT while the workers run: no output, no temporary file, exit 130', async () => {
    const output = join(dir, 'interrupted.safetensors');
    const child: ChildProcess = spawn(process.execPath, [bin, 'compress', input, '-o', output, '--backend', 'cpu', '--workers', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (chunk) => { stderr += chunk; });
    const done = new Promise<{ code: number | null }>((r) => child.on('exit', (code) => r({ code })));
    const temp = () => readdirSync(dir).filter((f) => f.includes('interrupted.safetensors'));
    const end = Date.now() + 60_000;
    while (temp().length === 0 && child.exitCode === null && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
    expect(temp(), 'the temporary file appears while compressing').toHaveLength(1);
    child.kill('SIGINT');
    expect(await done, stderr).toEqual({ code: 130 });
    expect(temp()).toEqual([]);
    expect(existsSync(output)).toBe(false);
  });

  it('SIGINT while the preset writes its files: no file, no temporary file, not the folders it made, exit 130', async () => {
    const model = join(dir, 'preset-big.onnx');
    writeFileSync(model, buildMlp(onnxProto.onnx, [1024, 4096, 1024], RUN_SEED + 7).model); // 32 MiB: a few seconds
    const out = join(dir, 'preset-interrupted');
    const child: ChildProcess = spawn(process.execPath, [bin, 'compress', model, '--preset', 'transformers.js', '-o', out, '--backend', 'cpu',
      '--first-layer', 'quantize', '--workers', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (chunk) => { stderr += chunk; });
    const done = new Promise<{ code: number | null }>((r) => child.on('exit', (code) => r({ code })));
    const temp = () => (existsSync(join(out, 'onnx')) ? readdirSync(join(out, 'onnx')) : []);
    const end = Date.now() + 60_000;
    while (temp().length < 2 && child.exitCode === null && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
    expect(temp().filter((f) => f.includes('webgpu-quant-tmp')), 'both temporary files appear before the work').toHaveLength(2);
    child.kill('SIGINT');
    expect(await done, stderr).toEqual({ code: 130 });
    expect(stderr).toContain('the unfinished output was removed');
    expect(existsSync(out)).toBe(false);
  });
});
