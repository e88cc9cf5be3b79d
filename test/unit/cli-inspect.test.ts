// inspect's listing: a header line, one row per quantized weight (its data, scale and zero point folded
// together unless --raw), the worst SQNR first (or by name), sizes in decimal units, and a summary.
// With --original, each row's error against that weight's original: float32, float16 and bfloat16 originals, safetensors and GGUF files.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSafetensorsFile } from '../../src/io/safetensors/node-open.js';
import { readQuantizedSafetensors } from '../../src/io/safetensors/quantized-read.js';
import { reference } from '../../src/index.js';
import { RUN_SEED, normalData, rng } from './support.js';
import { runCli, storedBytes, tinyOnnx, tinyWeights, writeSafetensors } from './cli-support.js';
import { halfToFloat } from '../../src/io/float-convert.js';
import { ggufTensorFloat32, readGguf } from '../../src/models.js';

const dir = mkdtempSync(join(tmpdir(), 'webgpu-quant-cli-inspect-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const original = join(dir, 'm.safetensors');
const compressed = join(dir, 'm.q8.safetensors');
const onnxOut = join(dir, 'm.q8.onnx');

beforeAll(async () => {
  const next = rng(RUN_SEED);
  // Three weights whose int8 error differs a lot: heavy outliers (worst), normal, uniform (best); one small bias kept.
  const outliers = normalData(64 * 64, next);
  for (let i = 0; i < outliers.length; i += 64) outliers[i] = 60 * (next() < 0.5 ? -1 : 1);
  const uniform = Float32Array.from({ length: 64 * 64 }, () => next() * 2 - 1);
  writeSafetensors(original, [
    { name: 'b.normal', shape: [64, 64], data: normalData(64 * 64, next) },
    { name: 'a.outliers', shape: [64, 64], data: outliers },
    { name: 'c.uniform', shape: [64, 64], data: uniform },
    { name: 'd.bias', shape: [64], data: normalData(64, next) },
  ]);
  expect((await runCli(['compress', original, '-o', compressed, '--backend', 'cpu'])).code).toBe(0);
});

describe('inspect', () => {
  it('a header, one folded row per quantized weight, worst SQNR first, a summary', async () => {
    const result = await runCli(['inspect', compressed, '--original', original]);
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^${compressed}: safetensors file, \\d+\\.\\d\\d kB, 10 stored tensors, 3 quantized weights; error measured against ${original}$`));
    expect(lines[1]).toMatch(/^name +dtype +shape +size +scheme +SQNR +max \|error\| +worst channel$/);
    const rows = lines.slice(2, -1);
    expect(rows.map((r) => r.split(/ +/)[0]), `seed ${RUN_SEED}`).toEqual(['a.outliers', 'b.normal', 'c.uniform', 'd.bias']);
    // 4096 int8 values + 64 float32 scales + 64 int8 zero points = 4416 bytes.
    expect(rows[0]).toMatch(/^a\.outliers +qint8 +\[64, 64\] +4\.42 kB +qint8 per channel \(axis 0\) +\d+\.\d\d dB +\d\.\d\de[-+]\d+ +\d+: \d+\.\d\d dB$/);
    expect(rows[3]).toMatch(/^d\.bias +float32 +\[64\] +256 B +not quantized$/);
    const sqnr = rows.slice(0, 3).map((r) => Number(/ (\d+\.\d\d) dB /.exec(r)![1]));
    expect(sqnr).toEqual([...sqnr].sort((x, y) => x - y));
    expect(result.stdout).not.toMatch(/\.scale|\.zero_point/);
    expect(lines.at(-1)).toBe(`summary: 3 quantized weights (13.25 kB), 1 other tensors (256 B); SQNR worst ${sqnr[0]!.toFixed(2)} dB, `
      + `median ${sqnr[1]!.toFixed(2)} dB over 3 weights`);
  });

  it('--sort name orders by name; --raw lists the stored data, scale and zero point', async () => {
    const byName = await runCli(['inspect', compressed, '--sort', 'name']);
    expect(byName.stdout.split('\n').slice(2, 6).map((r) => r.split(/ +/)[0])).toEqual(['a.outliers', 'b.normal', 'c.uniform', 'd.bias']);
    expect(byName.stdout.split('\n')[1]).toMatch(/^name +dtype +shape +size +scheme$/); // no error columns without --original
    const raw = await runCli(['inspect', compressed, '--raw']);
    for (const part of ['a.outliers.scale', 'a.outliers.zero_point', 'c.uniform.scale']) expect(raw.stdout).toMatch(new RegExp(`\\n${part.replace(/\./g, '\\.')} `));
    expect(raw.stdout).toMatch(/\na\.outliers +qint8 +\[64, 64\] +4\.10 kB /); // the data alone
  });

  it('ONNX: the _quantized / _scale / _zero_point initializers fold into the weight\'s row', async () => {
    const { w, b } = tinyWeights();
    const model = join(dir, 'tiny.onnx');
    writeFileSync(model, tinyOnnx([{ name: 'w', dims: [64, 64], data: w }, { name: 'b', dims: [64], data: b }]));
    expect((await runCli(['compress', model, '-o', onnxOut, '--backend', 'cpu'])).code).toBe(0);
    const folded = await runCli(['inspect', onnxOut, '--original', model]);
    const rows = folded.stdout.trimEnd().split('\n').slice(2, -1);
    expect(rows.map((r) => r.split(/ +/)[0])).toEqual(['w', 'b']);
    expect(rows[0]).toMatch(/^w +qint8 +\[64, 64\] +4\.42 kB +qint8 per channel \(axis 1\) +\d+\.\d\d dB/);
    const part = await runCli(['inspect', onnxOut, '--tensor', 'w_scale']);
    expect(part.code).toBe(1);
    expect(part.stderr).toBe(`webgpu-quant: ${onnxOut}: no tensor named "w_scale"; it is stored as part of the quantized weight "w" `
      + '(inspect it by that name, or add --raw)\n');
    expect((await runCli(['inspect', onnxOut, '--tensor', 'w_scale', '--raw'])).stdout).toMatch(/\nw_scale +float32 +\[64\]/);
    const raw = await runCli(['inspect', onnxOut, '--raw']);
    expect(raw.stdout).toMatch(/\nw_quantized +int8 +\[64, 64\] +4\.10 kB/);
    expect(raw.stdout).toMatch(/\nw_scale +float32 +\[64\] +256 B/);
  });

  it('--json carries the summary and the folded parts', async () => {
    const result = await runCli(['inspect', compressed, '--original', original, '--json']);
    const listing = JSON.parse(result.stdout);
    expect(listing.summary).toMatchObject({ storedTensors: 10, quantizedWeights: 3, otherTensors: 1, quantizedBytes: 3 * 4416, otherBytes: 256, measured: 3 });
    expect(listing.tensors[0].parts).toEqual(['a.outliers', 'a.outliers.scale', 'a.outliers.zero_point']);
  });
});

describe('inspect and compress on a file of 200,000 one-byte tensors', () => {
  it('both list every tensor and exit 0 (no per-tensor argument list that overflows the stack; --json in pieces)', async () => {
    const n = 200_000;
    const next = rng(RUN_SEED + 3);
    const parts = ['"__metadata__":{"format":"pt"}'];
    for (let i = 0; i < n; i++) parts.push(`"t.${i}":{"dtype":"U8","shape":[1],"data_offsets":[${i},${i + 1}]}`);
    const json = new TextEncoder().encode(`{${parts.join(',')}}`);
    const padded = Math.ceil(json.byteLength / 8) * 8;
    const bytes = new Uint8Array(8 + padded + n).fill(0x20, 8 + json.byteLength, 8 + padded);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(padded), true);
    bytes.set(json, 8);
    for (let i = 0; i < n; i++) bytes[8 + padded + i] = Math.floor(next() * 256);
    const file = join(dir, 'tiny.safetensors');
    writeFileSync(file, bytes);
    const compressedTiny = join(dir, 'tiny.out.safetensors');
    const compressedRun = await runCli(['compress', file, '-o', compressedTiny, '--backend', 'cpu', '--json']);
    expect(compressedRun.code, compressedRun.stderr).toBe(0);
    const report = JSON.parse(compressedRun.stdout);
    expect(report.tensors).toHaveLength(n);
    expect(report.totals).toMatchObject({ tensorsQuantized: 0, tensorsKept: n });
    expect(report.tensors[n - 1]).toMatchObject({ name: `t.${n - 1}`, action: 'keep', reason: 'uint8 is not a float type' });
    // Tens of MB of JSON, written in pieces rather than built as one string first.
    expect(compressedRun.stdoutLargestWrite).toBeLessThan(2 ** 20);
    const inspected = await runCli(['inspect', compressedTiny, '--sort', 'name']);
    expect(inspected.code, inspected.stderr).toBe(0);
    const lines = inspected.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(n + 3); // the file line, the column names, a row per tensor, the summary
    expect(lines[2]).toMatch(/^t\.0 +uint8 +\[1\] +1 B +not quantized$/);
    expect(lines.at(-1)).toBe('summary: 0 quantized weights (0 B), 200000 other tensors (200.00 kB)');
    // The text summary: nothing quantized, so no heading over an empty list of worst tensors.
    const text = await runCli(['compress', file, '-o', join(dir, 'tiny.text.safetensors'), '--backend', 'cpu']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^tensors: 0 quantized, 200000 kept$/m);
    expect(text.stdout).not.toContain('worst tensors');
  }, 240_000);
});

/** A tensor of `dtype` as the file stores it, widened to float32 element by element (halfToFloat; bfloat16's bits shifted up). */
function widened(data: Float32Array, dtype: 'F32' | 'F16' | 'BF16'): Float32Array {
  if (dtype === 'F32') return data;
  const stored = storedBytes(data, dtype);
  const halves = new Uint16Array(stored.buffer, stored.byteOffset, data.length);
  return dtype === 'F16' ? Float32Array.from(halves, halfToFloat) : new Float32Array(Uint32Array.from(halves, (h) => h * 65536).buffer);
}

describe('inspect --original on weights of several sizes', () => {
  it('each row\'s error is the statistics of that weight against its own original (arrays reused from weight to weight, one read ahead), float32, float16 and bfloat16 originals', async () => {
    const next = rng(RUN_SEED + 5);
    // Sizes that grow, shrink and grow again, so the reused arrays are grown and used part-way; int8 and int4 (held packed).
    const shapes: [string, number[]][] = [['w0', [32, 64]], ['w1', [96, 128]], ['w2', [16, 128]], ['w3', [64, 96]], ['w4', [128, 192]], ['w5', [32, 64]]];
    for (const dtype of ['F32', 'F16', 'BF16'] as const) {
      const tensors = shapes.map(([name, shape]) => ({ name, shape, dtype, data: normalData(shape[0]! * shape[1]!, next, 0.5 + next()) }));
      const source = join(dir, `sizes-${dtype}.safetensors`);
      writeSafetensors(source, tensors);
      for (const scheme of [[], ['--dtype', 'qint4', '--granularity', 'group', '--group-size', '32']]) {
        const out = join(dir, `sizes-${dtype}${scheme.length ? '.q4' : '.q8'}.safetensors`);
        expect((await runCli(['compress', source, '-o', out, '--backend', 'cpu', '--force', ...scheme])).code).toBe(0);
        const result = await runCli(['inspect', out, '--original', source, '--json']);
        expect(result.code, result.stderr).toBe(0);
        const rows = new Map((JSON.parse(result.stdout).tensors as { name: string; sqnrDb?: number; maxAbsError?: number }[]).map((t) => [t.name, t]));
        const reader = await openSafetensorsFile(out);
        try {
          const { quantized } = await readQuantizedSafetensors(reader);
          expect([...quantized.keys()].sort()).toEqual(shapes.map(([name]) => name));
          for (const t of tensors) {
            const q = quantized.get(t.name)!;
            const stats = reference.errorStats({ data: widened(t.data, dtype), shape: t.shape }, q, q.qscheme() === 'per_tensor_affine' ? { axis: 0 } : { axis: q.qPerChannelAxis() });
            const what = `${t.name} ${dtype} ${scheme.join(' ') || 'default'} (seed ${RUN_SEED})`;
            expect(rows.get(t.name)?.sqnrDb, what).toBeCloseTo(stats.overall.sqnrDb, 6);
            expect(rows.get(t.name)?.maxAbsError, what).toBe(stats.overall.maxAbsError);
          }
        } finally {
          await reader.close();
        }
      }
    }
  });

  it('a GGUF file against a float16 or bfloat16 original: each row the statistics of the file\'s values against the original\'s', async () => {
    const next = rng(RUN_SEED + 6);
    const shapes: [string, number[]][] = [['w0', [32, 64]], ['w1', [96, 128]], ['w2', [16, 128]], ['w3', [64, 96]]];
    for (const dtype of ['F16', 'BF16'] as const) {
      const tensors = shapes.map(([name, shape]) => ({ name, shape, dtype, data: normalData(shape[0]! * shape[1]!, next, 0.5 + next()) }));
      const source = join(dir, `gguf-${dtype}.safetensors`);
      writeSafetensors(source, tensors);
      const out = join(dir, `gguf-${dtype}.gguf`);
      expect((await runCli(['compress', source, '-o', out, '--backend', 'cpu', '--force'])).code).toBe(0);
      const result = await runCli(['inspect', out, '--original', source, '--json']);
      expect(result.code, result.stderr).toBe(0);
      const rows = new Map((JSON.parse(result.stdout).tensors as { name: string; sqnrDb?: number; maxAbsError?: number }[]).map((t) => [t.name, t]));
      const file = readGguf(new Uint8Array(readFileSync(out)));
      for (const t of tensors) {
        const info = file.tensors.find((f) => f.name === t.name)!;
        const stats = reference.errorStats({ data: widened(t.data, dtype), shape: t.shape }, { data: ggufTensorFloat32(file, info), shape: t.shape });
        const what = `${t.name} ${dtype} ${info.type} (seed ${RUN_SEED})`;
        expect(rows.get(t.name)?.sqnrDb, what).toBeCloseTo(stats.overall.sqnrDb, 6);
        expect(rows.get(t.name)?.maxAbsError, what).toBe(stats.overall.maxAbsError);
      }
    }
  });
});
