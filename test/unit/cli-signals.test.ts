// SIGINT and SIGTERM during compress: the command (the built bin/webgpu-quant.mjs, as a user runs it)
// removes its temporary file, leaves no output, and exits 130 / 143. Needs the build (npm test builds
// first; alone: npm run build). And the clean-up itself (src/cli/signals.ts): the registered temporary files,
// then the registered folders that are empty, inner ones first.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeTempFiles, trackTempFile, trackTempFolder, untrackTempFile, untrackTempFolder } from '../../src/cli/signals.js';
import { writeSafetensors } from './cli-support.js';

const repo = resolve(import.meta.dirname, '..', '..');
const bin = join(repo, 'bin', 'webgpu-quant.mjs');
const dir = mkdtempSync(join(tmpdir(), 'webgpu-quant-cli-signal-'));
const input = join(dir, 'big.safetensors');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(() => {
  if (!existsSync(join(repo, 'dist', 'cli.js'))) throw new Error('dist/cli.js is missing: run `npm run build` before this test');
  // 16 weights of 256 x 1024 float32 (16 MiB, a few seconds of work): the signal lands in the middle.
  const tensors = Array.from({ length: 16 }, (_, t) => {
    const data = new Float32Array(256 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.37 + t) * (1 + (i % 97) / 97);
    return { name: `layer${t}.weight`, shape: [256, 1024], data };
  });
  writeSafetensors(input, tensors);
});

/** Resolves when `test` holds, polling every 5 ms; rejects after `ms`. */
async function until(test: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
}

describe('interrupting compress', () => {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${signal}: the temporary file is removed, no output, exit ${code}`, async () => {
      const output = join(dir, `out-${signal}.safetensors`);
      const child = spawn(process.execPath, [bin, 'compress', input, '-o', output, '--backend', 'cpu'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (chunk) => { stderr += chunk; });
      const done = exited(child);
      const temp = () => readdirSync(dir).filter((f) => f.includes(`out-${signal}.safetensors`)); // whatever its name
      await until(() => temp().length === 1 || child.exitCode !== null, 60_000, 'the temporary file');
      expect(temp(), 'the temporary file appears while compressing').toHaveLength(1);
      expect(temp()[0]).toMatch(new RegExp(`^\\.out-${signal}\\.safetensors\\.webgpu-quant-tmp-[0-9a-f]{12}$`));
      child.kill(signal);
      const result = await done;
      expect(result, stderr).toEqual({ code, signal: null });
      expect(temp()).toEqual([]);
      expect(existsSync(output)).toBe(false);
      expect(stderr).toMatch(new RegExp(`webgpu-quant: interrupted \\(${signal}\\); the unfinished output was removed\\n$`));
    });
  }
});

describe('interrupt clean-up', () => {
  it('removes the temporary files, then the empty folders made, inner first; keeps what is not its own', () => {
    const root = join(dir, 'clean-up');
    mkdirSync(root);
    const made = join(root, 'web');
    const inner = join(made, 'onnx');
    mkdirSync(inner, { recursive: true });
    trackTempFolder(made);
    trackTempFolder(inner);
    const temp = join(inner, '.model_q4.onnx.webgpu-quant-tmp-1');
    writeFileSync(temp, 'partial');
    trackTempFile(temp);
    // A user's folder with a file of theirs: only the temporary file goes.
    const theirs = join(root, 'theirs');
    mkdirSync(theirs);
    writeFileSync(join(theirs, 'model.onnx'), 'upstream');
    trackTempFolder(theirs);
    const kept = join(theirs, '.x.webgpu-quant-tmp-2');
    writeFileSync(kept, 'partial');
    trackTempFile(kept);
    // Registered, then finished: left alone.
    const done = join(root, 'done');
    mkdirSync(done);
    trackTempFolder(done);
    untrackTempFolder(done);
    const finished = join(root, 'finished.onnx');
    writeFileSync(finished, 'complete');
    trackTempFile(finished);
    untrackTempFile(finished);
    removeTempFiles();
    expect([existsSync(temp), existsSync(inner), existsSync(made)]).toEqual([false, false, false]);
    expect([existsSync(kept), existsSync(join(theirs, 'model.onnx'))]).toEqual([false, true]);
    expect([existsSync(done), existsSync(finished)]).toEqual([true, true]);
    removeTempFiles(); // nothing registered any more: nothing happens
    expect(existsSync(done)).toBe(true);
  });
});
