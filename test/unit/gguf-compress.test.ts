// compressToGguf and `--format gguf` on a small MLP built here (4 MatMul weights [128, 512] / [512, 128], biases,
// and a [100, 64] MatMul weight whose rows are not a multiple of 32): @huggingface/gguf parses the files
// (metadata and tensor infos); the blocks decoded straight from the format, at the offsets
// @huggingface/gguf gives, are the report's quantized values and lie within one block step of the original
// (transposed: rows of the input dimension K); the fallback weight is F16 with its reason; safetensors
// [out, in] weights are not transposed; the CLI refuses schemes GGUF cannot hold with exit 2 and
// `inspect` lists a GGUF file with its SQNR against the original.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GGMLFileQuantizationType, GGMLQuantizationType, gguf } from '@huggingface/gguf';
import onnxProto from 'onnx-proto';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './cli-support.js';
import {
  OnnxModel, bytesSource, compressToGguf, decideWeights, memorySink, openSafetensors, planOnnxCompression, writeSafetensors,
} from '../../src/models.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { RUN_SEED, normalData, rng } from './support.js';

const { onnx } = onnxProto;
const dir = mkdtempSync(join(tmpdir(), 'webgpu-quant-gguf-mlp-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const shapes: Record<string, [number, number]> = { W1: [128, 512], W2: [512, 128], W3: [128, 512], W4: [512, 128], W5: [100, 64] };

function mlp(seed: number): { model: Uint8Array; weights: Record<string, Float32Array> } {
  const next = rng(seed);
  const weights: Record<string, Float32Array> = {};
  for (const [name, [k, n]] of Object.entries(shapes)) weights[name] = normalData(k * n, next, 1 / Math.sqrt(k));
  weights.b1 = normalData(512, next, 0.1);
  const value = (name: string, dims: number[]) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
  const model = onnx.ModelProto.encode({
    irVersion: 7, opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'mlp', input: [value('X', [1, 128]), value('X5', [1, 100])], output: [value('Y', [1, 128]), value('Y5', [1, 64])],
      initializer: Object.entries(weights).map(([name, data]) => ({
        name, dataType: 1, dims: shapes[name] ?? [512], rawData: new Uint8Array(data.buffer.slice(0)),
      })),
      node: [
        { opType: 'MatMul', input: ['X', 'W1'], output: ['h1'] }, { opType: 'Add', input: ['h1', 'b1'], output: ['a1'] },
        { opType: 'Relu', input: ['a1'], output: ['r1'] }, { opType: 'MatMul', input: ['r1', 'W2'], output: ['h2'] },
        { opType: 'MatMul', input: ['h2', 'W3'], output: ['h3'] }, { opType: 'MatMul', input: ['h3', 'W4'], output: ['Y'] },
        { opType: 'MatMul', input: ['X5', 'W5'], output: ['Y5'] },
      ],
    },
  }).finish();
  return { model, weights };
}

function half(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  return e === 0 ? sign * m * 2 ** -24 : e === 0x1f ? (m ? NaN : sign * Infinity) : sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** A Q8_0 / Q4_0 tensor of `count` elements at `offset`, decoded from the format definition: values and each element's d. */
function decodeBlocks(bytes: Uint8Array, offset: number, count: number, type: number): { values: Float64Array; step: Float64Array } {
  const size = type === GGMLQuantizationType.Q8_0 ? 34 : 18;
  const values = new Float64Array(count);
  const step = new Float64Array(count);
  for (let b = 0; b < count / 32; b++) {
    const at = offset + b * size;
    const d = half(bytes[at]! | (bytes[at + 1]! << 8));
    for (let j = 0; j < 32; j++) {
      const q = type === GGMLQuantizationType.Q8_0 ? (bytes[at + 2 + j]! << 24) >> 24
        : j < 16 ? (bytes[at + 2 + j]! & 15) - 8 : (bytes[at + 2 + j - 16]! >> 4) - 8;
      values[b * 32 + j] = q * d;
      step[b * 32 + j] = Math.abs(d);
    }
  }
  return { values, step };
}

describe('compressToGguf on an ONNX MLP', () => {
  for (const [dtype, type, fileType] of [
    ['qint8', GGMLQuantizationType.Q8_0, GGMLFileQuantizationType.Q8_0],
    ['qint4', GGMLQuantizationType.Q4_0, GGMLFileQuantizationType.Q4_0],
  ] as const) {
    it(`${dtype}: @huggingface/gguf parses it; rows of K; every weight within one block step (seed ${RUN_SEED})`, async () => {
      const { model: bytes, weights } = mlp(RUN_SEED);
      const model = await OnnxModel.load(bytes);
      const { decisions } = planOnnxCompression(model, { dtype, granularity: 'group', firstLayer: 'quantize' });
      const sink = memorySink();
      const report = await compressToGguf(model, decisions, sink, { name: 'mlp' });
      const file = sink.bytes();
      expect(file.byteLength).toBe(report.totals.fileBytesAfter);
      const path = join(dir, `mlp.${dtype}.gguf`);
      writeFileSync(path, file);
      const parsed = await gguf(path, { allowLocalFile: true });
      expect(parsed.metadata).toMatchObject({
        version: 3, tensor_count: 6n, 'general.architecture': 'generic', 'general.name': 'mlp',
        'general.file_type': fileType, 'general.quantization_version': 2, 'general.alignment': 32,
      });
      const infos = new Map(parsed.tensorInfos.map((t) => [t.name, t]));
      for (const name of ['W1', 'W2', 'W3', 'W4']) {
        const [k, n] = shapes[name]!;
        const info = infos.get(name)!;
        expect([info.dtype, info.shape.map(Number)]).toEqual([type, [k, n]]); // ne = [K, N]: rows of the input dimension
        const line = report.tensors.find((t) => t.name === name)!;
        expect([line.action, line.ggmlType, line.transposed, line.bytesAfter]).toEqual(['quantize', dtype === 'qint8' ? 'Q8_0' : 'Q4_0', true, (k * n / 32) * (dtype === 'qint8' ? 34 : 18)]);
        const { values, step } = decodeBlocks(file, Number(parsed.tensorDataOffset + info.offset), k * n, type);
        const w = weights[name]!;
        const bad: string[] = [];
        let signal = 0;
        let noise = 0;
        for (let i = 0; i < k; i++) {
          for (let j = 0; j < n; j++) {
            const x = w[i * n + j]!;
            const xh = values[j * k + i]!; // row j (output channel) holds column j of the ONNX weight
            signal += x * x;
            noise += (x - xh) ** 2;
            // One block step; Q4_0's clipped extreme is 8·d stored as 7·d16, so allow d's float16 rounding on 8 steps.
            if (Math.abs(x - xh) > step[j * k + i]! * (1 + 8 * 2 ** -11)) bad.push(`[${i}, ${j}]: ${x} vs ${xh}`);
          }
        }
        expect(bad.slice(0, 10)).toEqual([]);
        expect(line.sqnrDb).toBeCloseTo(10 * Math.log10(signal / noise), 6);
        expect(line.perChannelSqnrDb).toHaveLength(n);
        expect(line.statsAxis).toBe(1);
      }
      const w5 = report.tensors.find((t) => t.name === 'W5')!;
      expect([w5.action, w5.ggmlType, w5.reason]).toEqual(['keep', 'F16', 'rows of 100 elements are not a multiple of 32; stored as F16']);
      expect(infos.get('W5')!.shape.map(Number)).toEqual([100, 64]);
      expect(w5.sqnrDb).toBeGreaterThan(60);
      expect([infos.get('b1')!.dtype, report.tensors.find((t) => t.name === 'b1')!.ggmlType]).toEqual([GGMLQuantizationType.F32, 'F32']);
      const ratio = report.totals.bytesBefore / report.totals.bytesAfter;
      expect(ratio).toBeGreaterThan(dtype === 'qint8' ? 3.5 : 6);
    });
  }

  it('on one thread, each tensor read while the one before is encoded: the same file as read one by one; a failed read fails the call', async () => {
    const model = await OnnxModel.load(mlp(RUN_SEED + 5).model);
    const { decisions } = planOnnxCompression(model, { dtype: 'qint8', granularity: 'group' });
    const reads: string[] = [];
    let failOn: string | undefined;
    // A reader without readInto, one read at a time (each waits for the one before to be consumed).
    const oneByOne = {
      list: () => model.list(),
      read: async (name: string) => {
        reads.push(name);
        if (name === failOn && reads.filter((n) => n === name).length > 1) throw new Error(`cannot read ${name} again`);
        return (await model.read(name)).slice();
      },
    };
    const ahead = memorySink();
    await compressToGguf(model, decisions, ahead, { speculate: false });
    const plain = memorySink();
    await compressToGguf(oneByOne, decisions, plain, { speculate: false });
    expect(Buffer.compare(ahead.bytes(), plain.bytes())).toBe(0);
    // Planning reads each quantized weight once; writing reads every tensor once more.
    const quantized = model.list().filter((_, i) => decisions[i]!.action === 'quantize').length;
    expect(reads.length).toBe(quantized + model.list().length);
    // Where the sink can start again, the header goes first and each tensor right after its plan: one read each.
    reads.length = 0;
    const once = memorySink();
    const report = await compressToGguf(oneByOne, decisions, once);
    expect(Buffer.compare(once.bytes(), plain.bytes())).toBe(0);
    expect(reads).toEqual(model.list().map((w) => w.name));
    expect(report.tensors.filter((t) => t.action === 'quantize').length).toBe(quantized);
    reads.length = 0;
    failOn = 'W3';
    const failing = memorySink();
    await expect(compressToGguf(oneByOne, decisions, failing, { speculate: false })).rejects.toThrow(/cannot read W3 again/);
    expect(failing.bytes().byteLength).toBe(0); // aborted
  });

  it('written as planned: a plan other than assumed (NaN, values past float16) starts the file again, the same bytes as planned first', async () => {
    const next = rng(RUN_SEED + 6);
    for (const broken of [NaN, Infinity, 1e9, undefined]) {
      // Weights of which one (the third) may not be block-quantized: each tensor is written as planned until then.
      const weights = [0, 1, 2, 3].map((i) => ({ name: `w${i}`, data: normalData(64 * 96, next) }));
      if (broken !== undefined) weights[2]!.data[7] = broken;
      const source = memorySink();
      await writeSafetensors(source, weights.map((w) => ({ name: w.name, dtype: 'F32', shape: [64, 96], data: w.data })));
      const reader = await openSafetensors(bytesSource(source.bytes(), 'w.safetensors'));
      const decisions = decideWeights(reader.list(), { dtype: 'qint8', granularity: 'group' });
      const planned = memorySink();
      const first = await compressToGguf(reader, decisions, planned, { speculate: false });
      const progress: number[] = [];
      const speculated = memorySink();
      const report = await compressToGguf(reader, decisions, speculated, { onProgress: (p) => progress.push(p.done) });
      expect(Buffer.compare(speculated.bytes(), planned.bytes()), String(broken)).toBe(0);
      expect({ ...report, seconds: 0 }).toEqual({ ...first, seconds: 0 });
      expect(report.tensors[2]!.ggmlType, String(broken)).toBe(broken === undefined ? 'Q8_0' : 'F32');
      // Two tensors written before the third's plan differed, then the whole file again.
      expect(progress, String(broken)).toEqual(broken === undefined ? [1, 2, 3, 4] : [1, 2, 1, 2, 3, 4]);
    }
  });

  it('refuses a decision GGUF cannot hold before writing anything', async () => {
    const model = await OnnxModel.load(mlp(1).model);
    const sink = memorySink();
    const { decisions } = planOnnxCompression(model, { dtype: 'quint8', granularity: 'channel' });
    await expect(compressToGguf(model, decisions, sink)).rejects.toThrow(InvalidArgumentError);
    await expect(compressToGguf(model, decisions, memorySink())).rejects.toThrow(/quint8 has no GGUF type; GGUF holds qint8 -> Q8_0 and qint4 -> Q4_0/);
  });
});

describe('compressToGguf on safetensors', () => {
  it('keeps PyTorch [out, in] weights as rows of in (no transpose), non-finite weights as F32 with the reason', async () => {
    const next = rng(RUN_SEED + 1);
    const linear = normalData(64 * 96, next);
    const broken = normalData(64 * 64, next);
    broken[5] = NaN;
    const source = memorySink();
    await writeSafetensors(source, [
      { name: 'fc.weight', dtype: 'F32', shape: [64, 96], data: linear },
      { name: 'bad.weight', dtype: 'F32', shape: [64, 64], data: broken },
    ]);
    const reader = await openSafetensors(bytesSource(source.bytes()));
    const decisions = decideWeights(reader.list(), { dtype: 'qint8', granularity: 'group' });
    const sink = memorySink();
    const report = await compressToGguf(reader, decisions, sink);
    const fc = report.tensors.find((t) => t.name === 'fc.weight')!;
    expect([fc.ggmlType, fc.ne, fc.transposed]).toEqual(['Q8_0', [96, 64], false]);
    const bad = report.tensors.find((t) => t.name === 'bad.weight')!;
    expect([bad.ggmlType, bad.reason]).toEqual(['F32', 'non-finite values; kept']);
    const path = join(dir, 'st.gguf');
    writeFileSync(path, sink.bytes());
    const parsed = await gguf(path, { allowLocalFile: true });
    const info = parsed.tensorInfos.find((t) => t.name === 'fc.weight')!;
    const { values } = decodeBlocks(sink.bytes(), Number(parsed.tensorDataOffset + info.offset), 64 * 96, GGMLQuantizationType.Q8_0);
    let worst = 0;
    for (let i = 0; i < linear.length; i++) worst = Math.max(worst, Math.abs(linear[i]! - values[i]!));
    expect(worst).toBeCloseTo(fc.maxAbsError!, 6);
  });

  it('leaves tensors without elements out of the file (ggml needs every dimension >= 1) and lists them in the report', async () => {
    const next = rng(RUN_SEED + 2);
    const linear = normalData(64 * 96, next);
    const source = memorySink();
    await writeSafetensors(source, [
      { name: 'empty', dtype: 'F32', shape: [0], data: new Float32Array(0) },
      { name: 'fc.weight', dtype: 'F32', shape: [64, 96], data: linear },
      { name: 'none.weight', dtype: 'F32', shape: [64, 0], data: new Float32Array(0) },
      { name: 'flags', dtype: 'BOOL', shape: [3, 0, 2], data: new Uint8Array(0) },
    ]);
    const reader = await openSafetensors(bytesSource(source.bytes()));
    const decisions = decideWeights(reader.list(), { dtype: 'qint4', granularity: 'group' });
    for (const speculate of [true, false]) {
      const sink = memorySink();
      const report = await compressToGguf(reader, decisions, sink, { speculate });
      expect(report.tensors.map((t) => [t.name, t.scheme, t.bytesAfter])).toEqual([
        ['empty', 'left out (no elements)', 0],
        ['fc.weight', expect.stringMatching(/^Q4_0: /), 96 / 32 * 18 * 64],
        ['none.weight', 'left out (no elements)', 0],
        ['flags', 'left out (no elements)', 0],
      ]);
      expect(report.tensors[2]!.reason).toMatch(/no elements: left out of the file/);
      const path = join(dir, `empty-${speculate}.gguf`);
      writeFileSync(path, sink.bytes());
      const parsed = await gguf(path, { allowLocalFile: true });
      expect(parsed.tensorInfos.map((t) => [t.name, t.shape.map(Number)])).toEqual([['fc.weight', [96, 64]]]);
      expect(report.totals.fileBytesAfter).toBe(sink.bytes().byteLength);
    }
  });
});

/** Runs the CLI in-process and captures what it writes. */
const run = (...argv: string[]) => runCli(argv);

describe('webgpu-quant compress --format gguf', () => {
  const input = join(dir, 'mlp.onnx');
  writeFileSync(input, mlp(7).model);

  it('writes Q4_0 GGUF (groups of 32 by default) that inspect lists with its SQNR against the original', async () => {
    const out = join(dir, 'mlp.q4_0.gguf');
    const result = await run('compress', input, '-o', out, '--dtype', 'qint4', '--first-layer', 'quantize');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/tensors: 4 quantized, 2 kept/);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    const parsed = await gguf(out, { allowLocalFile: true });
    expect(parsed.tensorInfos.filter((t) => t.dtype === GGMLQuantizationType.Q4_0)).toHaveLength(4);
    const inspect = await run('inspect', out, '--original', input, '--json');
    expect(inspect.code, inspect.stderr).toBe(0);
    const listing = JSON.parse(inspect.stdout);
    expect(listing.metadata['general.file_type']).toBe(2);
    const w1 = listing.tensors.find((t: { name: string }) => t.name === 'W1');
    expect(w1).toMatchObject({ type: 'Q4_0', shape: [512, 128], ne: [128, 512], bytes: 512 * 4 * 18, transposedFromOriginal: true });
    expect(w1.sqnrDb).toBeGreaterThan(15);
    const text = await run('inspect', out);
    expect(text.stdout).toMatch(/GGUF v3, 6 tensors/);
    expect(text.stdout).toMatch(/W2 {2}Q4_0 {2}\[128, 512\] \(ne \[512, 128\]\) {2}36864 B/);
  });

  it('reports a damaged GGUF file and a GGUF original on one line with exit 1', async () => {
    const good = join(dir, 'mlp.q4_0.gguf');
    const damaged = join(dir, 'damaged.gguf');
    writeFileSync(damaged, readFileSync(good).subarray(0, 200));
    const result = await run('inspect', damaged);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^webgpu-quant: .*damaged\.gguf: .*; the file is damaged or not GGUF\n$/);
    const original = await run('inspect', input, '--original', good);
    expect(original.code).toBe(1);
    expect(original.stderr).toMatch(/a GGUF file cannot be the original; use a \.onnx or \.safetensors file/);
  });

  it('exits 2 for --min-sqnr, which GGUF output does not apply', async () => {
    const result = await run('compress', input, '-o', join(dir, 'floor.gguf'), '--min-sqnr', '30');
    expect([result.code, result.stderr]).toEqual([2, expect.stringMatching(/--min-sqnr does not apply to --format gguf/)]);
  });

  for (const [flags, what] of [
    [['--dtype', 'quint8'], /quint8 has no GGUF type/],
    [['--granularity', 'channel'], /granularity channel has no GGUF type/],
    [['--granularity', 'group', '--group-size', '64'], /group size 64 has no GGUF type/],
    [['--calibrate', 'mse'], /calibration mse has no GGUF type/],
    [['--range', 'torch'], /range torch for qint8 has no GGUF type/],
  ] as const) {
    it(`exits 2 for ${flags.join(' ')}, naming the schemes GGUF holds`, async () => {
      const out = join(dir, 'refused.gguf');
      const result = await run('compress', input, '-o', out, '--format', 'gguf', ...flags);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(what);
      expect(result.stderr).toMatch(/GGUF holds qint8 -> Q8_0 and qint4 -> Q4_0, symmetric, in groups \(blocks\) of 32/);
      expect(() => readFileSync(out)).toThrow();
    });
  }
});
