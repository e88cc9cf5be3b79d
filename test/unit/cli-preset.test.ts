// `compress --preset transformers.js`: the files transformers.js loads by dtype (onnx/model_q4.onnx,
// onnx/model_quantized.onnx; onnx/model_q4f16.onnx for a float16 model), with the settings of its
// scripts/quantize.py for q4 (MatMulNBits, 4 bits, block_size 32, symmetric: no zero_points, MatMul weights
// only), run in onnxruntime-node against the float model on fresh seeded weights; and the CLI contract
// (atomic writes, no silent replacement, flags the preset sets itself refused).
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { halfToFloat } from '../../src/io/float-convert.js';
import { floatToHalfBits } from '../../src/io/half.js';
import { compressOnnx } from '../../src/compress/compress-onnx.js';
import { transformersJsFileName } from '../../src/compress/transformers-js.js';
import { seededNormal } from '../shared/mlp-onnx.js';
import { runCli } from './cli-support.js';
import { RUN_SEED } from './support.js';
import { maxRelativeError } from '../shared/relative-error.js';

const { onnx } = onnxProto;
type Proto = onnxProto.onnx.ModelProto;
const kSeed = RUN_SEED;
const folder = mkdtempSync(join(tmpdir(), 'wq-preset-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

/** x [batch, 256] → MatMul a [256, 512] → Relu → MatMul b [512, 384] → Gemm c [384, 128] (+ bias) → y. */
function model(float16: boolean): { bytes: Uint8Array; weights: Record<string, Float32Array> } {
  const shapes: Record<string, [number, number]> = { 'a.weight': [256, 512], 'b.weight': [512, 384], 'c.weight': [384, 128] };
  const weights: Record<string, Float32Array> = {};
  const type = float16 ? 10 : 1;
  const raw = (data: Float32Array) => (float16
    ? new Uint8Array(Uint16Array.from(data, (v) => floatToHalfBits(v)).buffer) : new Uint8Array(data.buffer));
  const initializer = Object.entries(shapes).map(([name, [k, n]], i) => {
    weights[name] = seededNormal(k * n, kSeed + 31 * i, 1 / Math.sqrt(k));
    return { name, dataType: type, dims: [k, n], rawData: raw(weights[name]!) };
  });
  weights['c.bias'] = seededNormal(128, kSeed + 99, 0.1);
  initializer.push({ name: 'c.bias', dataType: type, dims: [128], rawData: raw(weights['c.bias']) });
  const io = (name: string, width: number) => ({ name, type: { tensorType: { elemType: type, shape: { dim: [{ dimParam: 'batch' }, { dimValue: width }] } } } });
  const bytes = onnx.ModelProto.encode({
    irVersion: 8, opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'preset', initializer, input: [io('x', 256)], output: [io('y', 128)],
      node: [
        { opType: 'MatMul', name: 'a', input: ['x', 'a.weight'], output: ['a.out'] },
        { opType: 'Relu', name: 'relu', input: ['a.out'], output: ['a.relu'] },
        { opType: 'MatMul', name: 'b', input: ['a.relu', 'b.weight'], output: ['b.out'] },
        { opType: 'Gemm', name: 'c', input: ['b.out', 'c.weight', 'c.bias'], output: ['y'] },
      ],
    },
  }).finish();
  return { bytes, weights };
}

/** `bytes` with every initializer's data moved to `folder/location` (as big models come: model.onnx + model.onnx_data). */
function externalize(bytes: Uint8Array, folder: string, location: string): Uint8Array {
  const proto = onnx.ModelProto.decode(bytes) as Proto;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const t of proto.graph!.initializer!) {
    const raw = t.rawData!;
    t.dataLocation = 1;
    t.externalData = [{ key: 'location', value: location }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(raw.byteLength) }];
    t.rawData = new Uint8Array(0);
    chunks.push(raw);
    offset += raw.byteLength;
  }
  writeFileSync(join(folder, location), Buffer.concat(chunks));
  return onnx.ModelProto.encode(proto).finish();
}

/** A session on `file` with its external data passed as transformers.js passes it ({ path, data }). */
async function runAsTransformersJs(file: string, x: Float32Array, batch: number): Promise<Float32Array> {
  const path = `${basename(file)}_data`;
  const session = await ort.InferenceSession.create(readFileSync(file), { externalData: [{ path, data: readFileSync(`${file}_data`) }] });
  try {
    return (await session.run({ x: new ort.Tensor('float32', x, [batch, 256]) })).y!.data as Float32Array;
  } finally {
    await session.release();
  }
}

async function run(bytes: Uint8Array | string, x: Float32Array, batch: number, float16 = false, optimize = true): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes as Uint8Array, optimize ? {} : { graphOptimizationLevel: 'disabled' });
  try {
    const input = float16 ? new ort.Tensor('float16', Uint16Array.from(x, (v) => floatToHalfBits(v)), [batch, 256]) : new ort.Tensor('float32', x, [batch, 256]);
    const y = (await session.run({ x: input })).y!;
    // onnxruntime-node gives float16 outputs as their bits (Uint16Array).
    return y.type === 'float16' ? Float32Array.from(y.data as Uint16Array, (h) => halfToFloat(h)) : (y.data as Float32Array);
  } finally {
    await session.release();
  }
}

const intAttr = (node: onnxProto.onnx.INodeProto, name: string) => {
  const a = node.attribute!.find((x) => x.name === name);
  return a ? Number(a.i) : undefined;
};

describe('compress --preset transformers.js', () => {
  const float32 = model(false);
  const input = join(folder, 'model.onnx');
  writeFileSync(input, float32.bytes);
  const batch = 3;
  const x = seededNormal(batch * 256, kSeed + 7);

  it(`writes onnx/model_q4.onnx (MatMulNBits, 4 bits, block 32, symmetric, MatMul weights only) and onnx/model_quantized.onnx; both run (seed ${kSeed})`, async () => {
    const out = join(folder, 'web');
    const result = await runCli(['compress', input, '--preset', 'transformers.js', '-o', out, '--first-layer', 'quantize', '--backend', 'cpu']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(readdirSync(join(out, 'onnx')).sort()).toEqual(['model_q4.onnx', 'model_quantized.onnx']); // no temporary files left
    expect(result.stdout).toMatch(/dtype q4 .*model_q4\.onnx.*2 MatMulNBits, 2 kept float/);
    // Listed in the variants' order (the 8-bit file is compressed first).
    expect(result.stdout.indexOf('model_q4.onnx')).toBeLessThan(result.stdout.indexOf('model_quantized.onnx'));

    const q4 = onnx.ModelProto.decode(readFileSync(join(out, 'onnx', 'model_q4.onnx'))) as Proto;
    const nbits = q4.graph!.node!.filter((n) => n.opType === 'MatMulNBits');
    expect(nbits.map((n) => [n.name, n.domain, intAttr(n, 'bits'), intAttr(n, 'block_size'), intAttr(n, 'K'), intAttr(n, 'N'), n.input!.length, intAttr(n, 'accuracy_level')]))
      .toEqual([['a', 'com.microsoft', 4, 32, 256, 512, 3, undefined], ['b', 'com.microsoft', 4, 32, 512, 384, 3, undefined]]); // 3 inputs: no zero_points (symmetric)
    expect(q4.graph!.node!.map((n) => n.opType)).toEqual(['MatMulNBits', 'Relu', 'MatMulNBits', 'Gemm']); // the Gemm weight stays float, as onnxruntime's quantizer leaves it
    expect(q4.graph!.initializer!.find((t) => t.name === 'c.weight')!.dataType).toBe(1);

    const q8 = onnx.ModelProto.decode(readFileSync(join(out, 'onnx', 'model_quantized.onnx'))) as Proto;
    const dq = q8.graph!.node!.filter((n) => n.opType === 'DequantizeLinear');
    expect(dq).toHaveLength(3); // every weight, the Gemm's too
    for (const node of dq) expect(q8.graph!.initializer!.find((t) => t.name === node.input![0])!.dataType).toBe(3); // int8

    const yFloat = await run(float32.bytes, x, batch);
    const y4 = await run(join(out, 'onnx', 'model_q4.onnx'), x, batch);
    const y8 = await run(join(out, 'onnx', 'model_quantized.onnx'), x, batch);
    // The same 4-bit weights as QDQ (run unfused: DequantizeLinear + float MatMul): equal within float rounding.
    const qdq = await compressOnnx(float32.bytes, {
      dtype: 'qint4', granularity: 'group', groupSize: 32, symmetric: true, include: /^[ab]\.weight$/, firstLayer: 'quantize' }, { backend: 'cpu' });
    expect(maxRelativeError(y4, await run(qdq.model, x, batch, false, false))).toBeLessThan(1e-5);
    // Against float32: 4-bit groups of 32 on normal weights are ~19 dB each (two layers); int8 per channel ~40 dB.
    expect(maxRelativeError(y4, yFloat)).toBeLessThan(0.25);
    expect(maxRelativeError(y4, yFloat)).toBeGreaterThan(1e-3); // really 4-bit
    expect(maxRelativeError(y8, yFloat)).toBeLessThan(0.03);
  });

  it('a 4-bit weight the quality floor escalates to 8 bits stays QDQ in model_q4.onnx (onnxruntime-web\'s WebGPU EP takes 4-bit MatMulNBits only)', async () => {
    const out = join(folder, 'floor');
    // Normal weights in 4-bit groups of 32 are ~19 dB: a 25 dB floor escalates every MatMul weight to int8 per channel.
    const result = await runCli(['compress', input, '--preset', 'transformers.js', '-o', out, '--first-layer', 'quantize', '--min-sqnr', '25', '--backend', 'cpu', '--json']);
    expect(result.code).toBe(0);
    const q4 = JSON.parse(result.stdout).files[0];
    expect(q4.tensors.filter((t: { action: string }) => t.action === 'quantize').map((t: { name: string; onnxOp: string; dtypeOut: string; reason: string }) =>
      [t.name, t.onnxOp, t.dtypeOut, /QDQ, not MatMulNBits: 8-bit/.test(t.reason)])).toEqual([['a.weight', 'DequantizeLinear', 'qint8', true], ['b.weight', 'DequantizeLinear', 'qint8', true]]);
    const proto = onnx.ModelProto.decode(readFileSync(join(out, 'onnx', 'model_q4.onnx'))) as Proto;
    expect(proto.graph!.node!.filter((n) => n.opType === 'MatMulNBits')).toEqual([]);
    expect(maxRelativeError(await run(join(out, 'onnx', 'model_q4.onnx'), x, batch), await run(float32.bytes, x, batch))).toBeLessThan(0.03);
  });

  it('does not replace files already in the folder without --force; with --force it does', async () => {
    const out = join(folder, 'existing');
    expect((await runCli(['compress', input, '--preset', 'transformers.js', '-o', out, '--backend', 'cpu'])).code).toBe(0);
    writeFileSync(join(out, 'onnx', 'model_q4.onnx'), 'upstream');
    const refused = await runCli(['compress', input, '--preset', 'transformers.js', '-o', out, '--backend', 'cpu']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/model_q4\.onnx: exists; add --force/);
    expect(readFileSync(join(out, 'onnx', 'model_q4.onnx'), 'utf8')).toBe('upstream');
    const forced = await runCli(['compress', input, '--preset', 'transformers.js', '-o', out, '--backend', 'cpu', '--force']);
    expect(forced.code).toBe(0);
    expect(readFileSync(join(out, 'onnx', 'model_q4.onnx')).byteLength).toBeGreaterThan(1000);
    expect(readdirSync(join(out, 'onnx')).sort()).toEqual(['model_q4.onnx', 'model_quantized.onnx']);
  });

  it('a float16 model gives onnx/model_q4f16.onnx (float16 scales), which runs', async () => {
    const half = model(true);
    mkdirSync(join(folder, 'half', 'onnx'), { recursive: true });
    const path = join(folder, 'half', 'onnx', 'model_fp16.onnx'); // transformers.js's name for it: model, dtype fp16
    writeFileSync(path, half.bytes);
    const out = join(folder, 'web16');
    const result = await runCli(['compress', path, '--preset', 'transformers.js', '-o', out, '--first-layer', 'quantize', '--backend', 'cpu', '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).files.map((f: { dtype: string }) => f.dtype)).toEqual(['q4f16']);
    expect(readdirSync(join(out, 'onnx'))).toEqual(['model_q4f16.onnx']);
    const proto = onnx.ModelProto.decode(readFileSync(join(out, 'onnx', 'model_q4f16.onnx'))) as Proto;
    const scales = proto.graph!.node!.filter((n) => n.opType === 'MatMulNBits').map((n) => proto.graph!.initializer!.find((t) => t.name === n.input![2])!.dataType);
    expect(scales).toEqual([10, 10]);
    const y = await run(join(out, 'onnx', 'model_q4f16.onnx'), x, batch, true);
    expect(maxRelativeError(y, await run(half.bytes, x, batch, true))).toBeLessThan(0.25);
  });

  it('a model with its weights in external data: each file gets its own data file, named as transformers.js loads it (model_q4.onnx_data), the same outputs', async () => {
    const source = join(folder, 'external');
    mkdirSync(source);
    const path = join(source, 'model.onnx');
    writeFileSync(path, externalize(float32.bytes, source, 'model.onnx_data'));
    const inputData = readFileSync(join(source, 'model.onnx_data'));
    const out = join(folder, 'web-external');
    const result = await runCli(['compress', path, '--preset', 'transformers.js', '-o', out, '--first-layer', 'quantize', '--backend', 'cpu', '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const files = ['model_q4.onnx', 'model_quantized.onnx'];
    expect(readdirSync(join(out, 'onnx')).sort()).toEqual(files.flatMap((f) => [f, `${f}_data`]));
    const report = JSON.parse(result.stdout).files as { path: string; bytes: number; externalData: { path: string; byteLength: number }; totals: { modelBytesBefore: number } }[];
    const inline = await runCli(['compress', input, '--preset', 'transformers.js', '-o', join(folder, 'web-inline'), '--first-layer', 'quantize', '--backend', 'cpu']);
    expect(inline.code).toBe(0);
    for (const [i, file] of files.entries()) {
      const written = join(out, 'onnx', file);
      const data = readFileSync(`${written}_data`);
      expect(report[i]!.externalData).toEqual({ path: `${written}_data`, byteLength: data.byteLength, tensors: expect.any(Number) });
      expect(report[i]!.bytes).toBe(readFileSync(written).byteLength + data.byteLength);
      expect(report[i]!.totals.modelBytesBefore).toBe(readFileSync(path).byteLength + inputData.byteLength); // with the input's data
      // Every tensor of 1 KiB or more in the file's own data (the kept float Gemm weight copied there too), none in the input's.
      const proto = onnx.ModelProto.decode(readFileSync(written)) as Proto;
      const locations = proto.graph!.initializer!.filter((t) => t.dataLocation === 1).map((t) => t.externalData!.find((e) => e.key === 'location')!.value);
      expect(locations.length).toBeGreaterThanOrEqual(3);
      expect(new Set(locations)).toEqual(new Set([`${file}_data`]));
      // Loaded as transformers.js loads it, it computes what the same file written from the inline model computes.
      expect(await runAsTransformersJs(written, x, batch)).toEqual(await run(join(folder, 'web-inline', 'onnx', file), x, batch));
    }
    expect(readFileSync(join(source, 'model.onnx_data')).equals(inputData)).toBe(true);

    // The text summary names the data files and says how transformers.js is told to load them.
    const text = await runCli(['compress', path, '--preset', 'transformers.js', '-o', join(folder, 'web-external-text'), '--backend', 'cpu']);
    expect(text.stdout).toMatch(/model_q4\.onnx \(external data .*model_q4\.onnx_data, [\d.]+ MB\)/);
    expect(text.stdout).toContain('"use_external_data_format": { "model_q4.onnx": 1, "model_quantized.onnx": 1 }');

    // A data file already there is refused like the model files (nothing written), replaced with --force.
    for (const file of ['model_q4.onnx', 'model_q4.onnx_data', 'model_quantized.onnx']) rmSync(join(out, 'onnx', file));
    writeFileSync(join(out, 'onnx', 'model_quantized.onnx_data'), 'upstream');
    const refused = await runCli(['compress', path, '--preset', 'transformers.js', '-o', out, '--backend', 'cpu']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/model_quantized\.onnx_data: exists; add --force/);
    expect(readdirSync(join(out, 'onnx'))).toEqual(['model_quantized.onnx_data']);
    expect(readFileSync(join(out, 'onnx', 'model_quantized.onnx_data'), 'utf8')).toBe('upstream');
    expect((await runCli(['compress', path, '--preset', 'transformers.js', '-o', out, '--backend', 'cpu', '--force'])).code).toBe(0);
    expect(readFileSync(join(out, 'onnx', 'model_quantized.onnx_data')).byteLength).toBeGreaterThan(100_000);
  });

  it('--verify runs each file beside the input in onnxruntime-node: exit 0 when all pass, 1 naming the file that fails (which stays written)', async () => {
    const out = join(folder, 'verified');
    // The q4 file's cosine sits near the default 0.99 (0.98982 for seed 2027847182, whose argmax agreement, the
    // default's second way to pass, fell short of 0.95 too): a bound with margin, so that every seed passes.
    const result = await runCli(['compress', input, '--preset', 'transformers.js', '-o', out, '--first-layer', 'quantize', '--backend', 'cpu', '--verify',
      '--min-cosine', '0.97', '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const files = JSON.parse(result.stdout).files as { dtype: string; verify: { passed: boolean; samples: number; outputs: { name: string; cosine: number }[] } }[];
    expect(files.map((f) => [f.dtype, f.verify.passed, f.verify.samples, f.verify.outputs.map((o) => o.name)])).toEqual([['q4', true, 3, ['y']], ['q8', true, 3, ['y']]]);
    // 4-bit groups of 32 on two layers of normal weights: ~16 dB at the output, a cosine near 0.987; int8 per channel near 0.9999.
    const [q4, q8] = files.map((f) => f.verify.outputs[0]!.cosine);
    expect(q4).toBeLessThan(0.998);
    expect(q8).toBeGreaterThan(0.9995);

    const strict = join(folder, 'verified-strict');
    const failed = await runCli(['compress', input, '--preset', 'transformers.js', '-o', strict, '--first-layer', 'quantize', '--backend', 'cpu',
      '--verify', '--min-cosine', '0.999', '--min-argmax', '1']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/model_q4\.onnx \(dtype q4\) was written but fails verification \(output 'y': cosine 0\.9\d+ < 0\.999/);
    expect(failed.stderr).not.toMatch(/model_quantized\.onnx/);
    expect(failed.stdout.match(/^(PASS|FAIL)/gm)).toEqual(['FAIL', 'PASS']);
    expect(readdirSync(join(strict, 'onnx')).sort()).toEqual(['model_q4.onnx', 'model_quantized.onnx']);
  });

  it('a model of several files in its onnx/ folder: each named after its input (decoder_model_merged.onnx gives decoder_model_merged_q4.onnx), side by side', async () => {
    const source = join(folder, 'seq2seq', 'onnx'); // a model folder's onnx/: the names are transformers.js's
    mkdirSync(source, { recursive: true });
    const out = join(folder, 'web-seq2seq');
    for (const name of ['encoder_model', 'decoder_model_merged']) {
      writeFileSync(join(source, `${name}.onnx`), float32.bytes);
      const result = await runCli(['compress', join(source, `${name}.onnx`), '--preset', 'transformers.js', '-o', out, '--backend', 'cpu']);
      expect(result.code, name).toBe(0);
    }
    expect(readdirSync(join(out, 'onnx')).sort()).toEqual(['decoder_model_merged_q4.onnx', 'decoder_model_merged_quantized.onnx', 'encoder_model_q4.onnx', 'encoder_model_quantized.onnx']);
    expect(await run(join(out, 'onnx', 'decoder_model_merged_q4.onnx'), x, batch)).toEqual(await run(join(out, 'onnx', 'encoder_model_q4.onnx'), x, batch));
    expect(transformersJsFileName('m/onnx/model_fp16.onnx')).toBe('model');
    expect(transformersJsFileName('C:\\m\\onnx\\vision_model.ONNX')).toBe('vision_model');
    expect(transformersJsFileName(join(folder, 'decoder_model_merged.onnx'))).toBe('model'); // not in onnx/: the default name
    expect(transformersJsFileName('model.onnx')).toBe('model');
  });

  it('a model folder\'s configuration and tokenizer files are copied beside onnx/ (refused when there, without --force); none when writing into the folder itself', async () => {
    const source = join(folder, 'bert');
    mkdirSync(join(source, 'onnx'), { recursive: true });
    mkdirSync(join(source, 'extra'));
    writeFileSync(join(source, 'onnx', 'model.onnx'), float32.bytes);
    const files: Record<string, Uint8Array | string> = {
      'config.json': '{"model_type":"bert","transformers.js_config":{"dtype":"q4"}}', 'tokenizer.json': `{"v":${kSeed}}`,
      'merges.txt': 'a b\n', 'tokenizer.model': Uint8Array.of(0, 255, 7, kSeed & 255), 'README.md': '# bert', '.hidden.json': '{}',
      'model.safetensors': new Uint8Array(16), 'extra/other.json': '{}',
    };
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(source, name), bytes);
    // As a Hugging Face cache's snapshot holds them: links to the blobs (and a broken one, left out).
    mkdirSync(join(folder, 'blobs'));
    writeFileSync(join(folder, 'blobs', 'b1'), '{"pad_token":"[PAD]"}');
    symlinkSync(join(folder, 'blobs', 'b1'), join(source, 'special_tokens_map.json'));
    symlinkSync(join(folder, 'blobs', 'missing'), join(source, 'vocab.txt'));
    const out = join(folder, 'web-bert');
    const result = await runCli(['compress', join(source, 'onnx', 'model.onnx'), '--preset', 'transformers.js', '-o', out, '--backend', 'cpu']);
    expect(result.code, result.stderr).toBe(0);
    const copied = ['config.json', 'merges.txt', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer.model'];
    expect(readdirSync(out).sort()).toEqual([...copied, 'onnx'].sort());
    for (const name of copied.filter((n) => n in files)) expect(readFileSync(join(out, name)), name).toEqual(Buffer.from(files[name]!)); // no external data: as they were
    expect(readFileSync(join(out, 'special_tokens_map.json'), 'utf8')).toBe('{"pad_token":"[PAD]"}'); // the file, not a link
    expect(lstatSync(join(out, 'special_tokens_map.json')).isFile()).toBe(true);
    expect(result.stdout).toContain(`  copied from ${source}: ${copied.join(', ')}\n`);
    expect(result.stdout).toContain('load it with pipeline(task, folder, { dtype })\n');
    // Already there: refused before any work, nothing written; --force replaces them.
    rmSync(join(out, 'onnx'), { recursive: true });
    writeFileSync(join(out, 'tokenizer.json'), 'mine');
    const refused = await runCli(['compress', join(source, 'onnx', 'model.onnx'), '--preset', 'transformers.js', '-o', out, '--backend', 'cpu']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/web-bert\/config\.json: exists; add --force/); // the first of the copies already there
    expect([existsSync(join(out, 'onnx')), readFileSync(join(out, 'tokenizer.json'), 'utf8')]).toEqual([false, 'mine']);
    const forced = await runCli(['compress', join(source, 'onnx', 'model.onnx'), '--preset', 'transformers.js', '-o', out, '--backend', 'cpu', '--force', '--json']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(JSON.parse(forced.stdout).copied).toEqual(copied.map((name) => join(out, name)));
    expect(readFileSync(join(out, 'tokenizer.json'), 'utf8')).toBe(files['tokenizer.json']);
    // Into the model folder itself: its files stay as they are, nothing copied.
    const inPlace = await runCli(['compress', join(source, 'onnx', 'model.onnx'), '--preset', 'transformers.js', '-o', source, '--backend', 'cpu', '--json']);
    expect(inPlace.code, inPlace.stderr).toBe(0);
    expect(JSON.parse(inPlace.stdout).copied).toEqual([]);
    expect(readdirSync(join(source, 'onnx')).sort()).toEqual(['model.onnx', 'model_q4.onnx', 'model_quantized.onnx']);
    expect(readFileSync(join(source, 'config.json'), 'utf8')).toBe(files['config.json']);
  });

  it('with external data, the copied config.json names each file\'s data file (transformers.js_config.use_external_data_format), its other settings kept', async () => {
    const source = join(folder, 'big');
    mkdirSync(join(source, 'onnx'), { recursive: true });
    writeFileSync(join(source, 'onnx', 'model.onnx'), externalize(float32.bytes, join(source, 'onnx'), 'model.onnx_data'));
    writeFileSync(join(source, 'config.json'), JSON.stringify({ model_type: 'gpt2', 'transformers.js_config': { dtype: 'q4', use_external_data_format: { 'model.onnx': 1 } } }));
    const out = join(folder, 'web-big');
    const result = await runCli(['compress', join(source, 'onnx', 'model.onnx'), '--preset', 'transformers.js', '-o', out, '--backend', 'cpu', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ copied: [join(out, 'config.json')], configNamesExternalData: true });
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'))).toEqual({
      model_type: 'gpt2',
      'transformers.js_config': { dtype: 'q4', use_external_data_format: { 'model.onnx': 1, 'model_q4.onnx': 1, 'model_quantized.onnx': 1 } },
    });
    const text = await runCli(['compress', join(source, 'onnx', 'model.onnx'), '--preset', 'transformers.js', '-o', out, '--backend', 'cpu', '--force']);
    expect(text.stdout).toContain('config.json names the files with external data');
    expect(text.stdout).not.toContain('with external data: set');
  });

  it('refuses flags the preset sets, stdout, and a non-folder output (exit 2 / 1), writing nothing', async () => {
    for (const flags of [['--dtype', 'int8'], ['--onnx-ops', 'qdq'], ['--granularity', 'group'], ['--format', 'gguf'], ['--external-data']]) {
      const result = await runCli(['compress', input, '--preset', 'transformers.js', '-o', join(folder, 'no'), ...flags]);
      expect(result.code, flags.join(' ')).toBe(2);
      expect(result.stderr).toContain(`${flags[0]} does not go with --preset transformers.js`);
    }
    expect((await runCli(['compress', input, '--preset', 'transformers.js', '-o', '-'])).stderr).toMatch(/writes several files into a folder/);
    expect((await runCli(['compress', input, '--preset', 'onnxruntime', '-o', 'x'])).code).toBe(2);
    const onFile = await runCli(['compress', input, '--preset', 'transformers.js', '-o', input]);
    expect(onFile.code).toBe(1);
    expect(onFile.stderr).toMatch(/is not a folder/);
    expect(existsSync(join(folder, 'no'))).toBe(false);
  });
});
