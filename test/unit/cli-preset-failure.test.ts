// `compress --preset transformers.js` writes each file while the work goes on (as planned, or, where a weight turned
// out other than planned, while the next file is compressed): a failure in the second file's compression must leave
// nothing behind, neither the first file, nor a temporary file, nor the folders the command made; the folders a
// user already had stay. The failure is injected into the second compressOnnxParts call.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { runCli, tinyOnnx } from './cli-support.js';
import { RUN_SEED } from './support.js';
import { seededNormal } from '../shared/mlp-onnx.js';

const calls = { count: 0, failAt: 0, written: [] as boolean[] };
vi.mock('../../src/compress/compress-onnx.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/compress/compress-onnx.js')>();
  return {
    ...real,
    compressOnnxParts: async (...args: Parameters<typeof real.compressOnnxParts>) => {
      calls.count++;
      const result = await real.compressOnnxParts(...args);
      calls.written.push(result.written === true);
      if (calls.count === calls.failAt) throw new Error('injected failure after the file was compressed');
      return result;
    },
  };
});

// The second output's flush fails when asked (a disk full at the end, say): the first file must not be renamed.
const flushes = { failSecond: false, opened: 0 };
vi.mock('../../src/cli/output.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/cli/output.js')>();
  return {
    ...real,
    openOutput: async (...args: Parameters<typeof real.openOutput>) => {
      const sink = await real.openOutput(...args);
      const index = flushes.opened++;
      return {
        ...sink, write: sink.write, close: sink.close, abort: sink.abort, restart: sink.restart,
        flush: async () => {
          if (flushes.failSecond && index === 1) throw new Error('injected failure to flush the second file');
          await sink.flush();
        },
      };
    },
  };
});

const folder = mkdtempSync(join(tmpdir(), 'wq-preset-fail-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

describe('compress --preset transformers.js: a failure leaves nothing', () => {
  const input = join(folder, 'model.onnx');
  writeFileSync(input, tinyOnnx([{ name: 'w', dims: [64, 64], data: seededNormal(64 * 64, RUN_SEED, 0.1) },
    { name: 'b', dims: [64], data: seededNormal(64, RUN_SEED + 1, 0.1) }]));

  it('succeeds with both files written as planned, while their weights were compressed', async () => {
    Object.assign(calls, { count: 0, failAt: 0, written: [] });
    const out = join(folder, 'ok');
    const result = await runCli(['compress', input, '--preset', 'transformers.js', '-o', out, '--backend', 'cpu', '--first-layer', 'quantize']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(readdirSync(join(out, 'onnx')).sort()).toEqual(['model_q4.onnx', 'model_quantized.onnx']);
    expect(calls.written).toEqual([true, true]);
  });

  for (const [failAt, where] of [[1, 'the first file'], [2, 'the second file']] as const) {
    it(`a failure in ${where}: no file, no temporary file, the new folders removed`, async () => {
      Object.assign(calls, { count: 0, failAt, written: [] });
      const out = join(folder, `new-${failAt}`);
      const result = await runCli(['compress', input, '--preset', 'transformers.js', '-o', out, '--backend', 'cpu', '--first-layer', 'quantize']);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/injected failure/);
      expect(calls.count).toBe(failAt);
      expect(existsSync(out)).toBe(false);
    });
  }

  it('a failure in the second file of a model folder\'s input: neither the files nor the copied config.json and tokenizer are left', async () => {
    Object.assign(calls, { count: 0, failAt: 2, written: [] });
    const source = join(folder, 'hub-model');
    mkdirSync(join(source, 'onnx'), { recursive: true });
    writeFileSync(join(source, 'onnx', 'model.onnx'), readFileSync(input));
    writeFileSync(join(source, 'config.json'), '{"model_type":"bert"}');
    writeFileSync(join(source, 'tokenizer.json'), '{}');
    const out = join(folder, 'hub-web');
    const result = await runCli(['compress', join(source, 'onnx', 'model.onnx'), '--preset', 'transformers.js', '-o', out, '--backend', 'cpu', '--first-layer', 'quantize']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/injected failure/);
    expect(existsSync(out)).toBe(false);
    Object.assign(calls, { count: 0, failAt: 0, written: [] });
    expect((await runCli(['compress', join(source, 'onnx', 'model.onnx'), '--preset', 'transformers.js', '-o', out, '--backend', 'cpu', '--first-layer', 'quantize'])).code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['config.json', 'onnx', 'tokenizer.json']);
  });

  it('the second file failing to flush: neither file is renamed into place, the new folders removed', async () => {
    Object.assign(calls, { count: 0, failAt: 0, written: [] });
    Object.assign(flushes, { failSecond: true, opened: 0 });
    try {
      const out = join(folder, 'flush');
      const result = await runCli(['compress', input, '--preset', 'transformers.js', '-o', out, '--backend', 'cpu', '--first-layer', 'quantize']);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/injected failure to flush/);
      expect(flushes.opened).toBe(2);
      expect(existsSync(out)).toBe(false);
    } finally {
      flushes.failSecond = false;
    }
  });

  it('with the weights in external data: a failure in the second file, or in the last flush, leaves neither files nor data files', async () => {
    const source = join(folder, 'external');
    mkdirSync(source);
    const w = seededNormal(64 * 64, RUN_SEED + 2, 0.1);
    const b = seededNormal(64, RUN_SEED + 3, 0.1);
    writeFileSync(join(source, 'model.onnx_data'), Buffer.concat([new Uint8Array(w.buffer), new Uint8Array(b.buffer)]));
    const path = join(source, 'model.onnx');
    writeFileSync(path, tinyOnnx([{ name: 'w', dims: [64, 64], data: w, external: { location: 'model.onnx_data', offset: 0 } },
      { name: 'b', dims: [64], data: b, external: { location: 'model.onnx_data', offset: w.byteLength } }]));
    const args = (out: string) => ['compress', path, '--preset', 'transformers.js', '-o', out, '--backend', 'cpu', '--first-layer', 'quantize'];
    Object.assign(calls, { count: 0, failAt: 0, written: [] });
    expect((await runCli(args(join(folder, 'external-ok')))).code).toBe(0);
    expect(readdirSync(join(folder, 'external-ok', 'onnx')).sort()).toEqual(['model_q4.onnx', 'model_q4.onnx_data', 'model_quantized.onnx', 'model_quantized.onnx_data']);

    Object.assign(calls, { count: 0, failAt: 2, written: [] });
    const failed = await runCli(args(join(folder, 'external-fail')));
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/injected failure/);
    expect(existsSync(join(folder, 'external-fail'))).toBe(false);

    Object.assign(calls, { count: 0, failAt: 0, written: [] });
    Object.assign(flushes, { failSecond: true, opened: 0 });
    try {
      const result = await runCli(args(join(folder, 'external-flush')));
      expect(result.stderr).toMatch(/injected failure to flush/);
      expect(flushes.opened).toBe(4); // two files and their data files: the data files flushed first, then the models
      expect(existsSync(join(folder, 'external-flush'))).toBe(false);
    } finally {
      flushes.failSecond = false;
    }
    expect(readdirSync(source).sort()).toEqual(['model.onnx', 'model.onnx_data']);

    // A data file cut short, or missing: a message naming the tensor and the file, and nothing written.
    const data = readFileSync(join(source, 'model.onnx_data'));
    try {
      writeFileSync(join(source, 'model.onnx_data'), data.subarray(0, w.byteLength - 4));
      const short = await runCli(args(join(folder, 'external-short')));
      expect(short.code).toBe(1);
      expect(short.stderr).toMatch(/initializer "w" in graph: external data "model\.onnx_data": bytes 0\.\.\d+ lie past the end/);
      expect(existsSync(join(folder, 'external-short'))).toBe(false);
      rmSync(join(source, 'model.onnx_data'));
      const missing = await runCli(args(join(folder, 'external-missing')));
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/external data file "model\.onnx_data" was not found; place it next to the model/);
      expect(existsSync(join(folder, 'external-missing'))).toBe(false);
    } finally {
      writeFileSync(join(source, 'model.onnx_data'), data);
    }
  });

  it('a failure in a folder the user had: the folders stay, empty, and what was in them is untouched', async () => {
    Object.assign(calls, { count: 0, failAt: 2, written: [] });
    const out = join(folder, 'existing');
    mkdirSync(join(out, 'onnx'), { recursive: true });
    writeFileSync(join(out, 'onnx', 'model.onnx'), 'upstream');
    const result = await runCli(['compress', input, '--preset', 'transformers.js', '-o', out, '--backend', 'cpu', '--first-layer', 'quantize']);
    expect(result.code).toBe(1);
    expect(readdirSync(join(out, 'onnx'))).toEqual(['model.onnx']);
  });
});
