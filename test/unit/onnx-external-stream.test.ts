// compressOnnx with externalDataSink: each weight's tensors reach the data file while the later weights are still
// being compressed, and the file (what the sink got, then the returned parts) holds the same tensors, aligned the
// same way, as the file written at the end without a sink; onnxruntime-node gives exactly the same outputs on fresh
// random inputs. A sink that fails fails the call; a sink without writeExternalData 'always' is refused.
// externalDataCertain tells from the plan alone when a model will need external data.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { type CompressOnnxOptions, compressOnnx } from '../../src/compress/compress-onnx.js';
import { externalDataCertain } from '../../src/compress/external-data-stream.js';
import { decideWeights } from '../../src/compress/policy.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { EXTERNAL_DATA_ABOVE_BYTES } from '../../src/io/onnx/external-data-write.js';
import type { OnnxWeightInfo } from '../../src/io/onnx/onnx-model.js';
import { concatParts } from '../../src/io/onnx/deferred-raw-data.js';
import { DATA_LOCATION_EXTERNAL, type ModelProto, decodeModel } from '../../src/io/onnx/proto.js';
import { useCpuWorkerPool } from '../shared/cpu-worker-pool-fixture.js';
import { buildMlp } from '../shared/mlp-onnx.js';
import { RUN_SEED, rng } from './support.js';

const cpu = { backend: 'cpu' } as const;
const root = mkdtempSync(join(tmpdir(), 'webgpu-quant-ext-stream-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const fixture = useCpuWorkerPool(2);
const external = { externalDataLocation: 'm.onnx.data', writeExternalData: 'always' } as const;
const widths = [256, 512, 384, 300, 64];

/** Each initializer's bytes by name (from the data file where external), checking each external one's alignment. */
function tensorBytes(model: ModelProto, data: Uint8Array): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const t of model.graph!.initializer!) {
    const name = String(t.name);
    if (t.dataLocation !== DATA_LOCATION_EXTERNAL) {
      out.set(name, t.rawData!);
      continue;
    }
    const entry = Object.fromEntries((t.externalData ?? []).map((e) => [String(e.key), String(e.value)]));
    const [offset, length] = [Number(entry.offset), Number(entry.length)];
    expect(entry.location, name).toBe('m.onnx.data');
    expect(offset % (length >= 1 << 20 ? 4096 : 64), `${name} at ${offset}`).toBe(0);
    expect(offset + length, name).toBeLessThanOrEqual(data.byteLength);
    out.set(name, data.subarray(offset, offset + length));
  }
  return out;
}

/** y for each input, from the model and its data file written to a folder of their own. */
async function outputs(name: string, model: Uint8Array, data: Uint8Array, inputs: Float32Array[]): Promise<Float32Array[]> {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'm.onnx'), model);
  writeFileSync(join(dir, 'm.onnx.data'), data);
  const session = await ort.InferenceSession.create(join(dir, 'm.onnx'));
  try {
    const out: Float32Array[] = [];
    for (const x of inputs) out.push((await session.run({ x: new ort.Tensor('float32', x, [1, widths[0]!]) })).y!.data as Float32Array);
    return out;
  } finally {
    await session.release();
  }
}

const schemes: [string, CompressOnnxOptions, boolean][] = [
  ['int8 per channel', {}, false],
  ['int8 per channel, on a pool of 2', {}, true],
  ['int4 groups of 32, float16 scales', { dtype: 'qint4', granularity: 'group', groupSize: 32, scaleDtype: 'float16' }, false],
  ['MatMulNBits, int4 groups of 32', { onnxOps: 'contrib', dtype: 'quint4', granularity: 'group', groupSize: 32 }, false],
];

describe(`compressOnnx with externalDataSink (seed ${RUN_SEED})`, () => {
  for (const [what, scheme, pooled] of schemes) {
    it(`${what}: each weight written as it is done, the same tensors and outputs as the file written at the end`, async () => {
      const seed = RUN_SEED + what.length;
      const { model: input } = buildMlp(onnxProto.onnx, widths, seed);
      const pool = pooled ? { pool: fixture.pool } : {};
      const reference = await compressOnnx(input, { ...scheme, ...external, ...pool }, cpu);
      const events: { name: string; written: number }[] = [];
      const chunks: Uint8Array[] = [];
      let written = 0;
      const streamed = await compressOnnx(input, {
        ...scheme, ...external, ...pool,
        onProgress: ({ name }) => events.push({ name, written }),
        externalDataSink: { write: async (chunk) => { chunks.push(chunk.slice()); written += chunk.byteLength; } },
      }, cpu);
      // Each weight of 1 KiB or more (quantized, or kept float as the first layer and the biases are) is in the
      // file when its progress is reported; nothing is left for the end.
      const big = new Set(streamed.report.tensors.filter((t) => t.bytesAfter >= 1024).map((t) => t.name));
      expect(streamed.report.tensors.filter((t) => big.has(t.name) && t.action === 'keep').length, 'kept weights streamed too').toBeGreaterThan(0);
      expect(events.filter((e) => big.has(e.name)).length).toBe(big.size);
      for (const [i, { name, written: after }] of events.entries()) {
        if (big.has(name)) expect(after, `${name}: ${JSON.stringify(events)}`).toBeGreaterThan(events[i - 1]?.written ?? 0);
      }
      expect(streamed.externalData!.parts).toEqual([]);
      const pieces = [...chunks, ...streamed.externalData!.parts];
      expect(pieces.reduce((sum, p) => sum + p.byteLength, 0)).toBe(streamed.externalData!.byteLength);
      const data = concatParts(pieces, streamed.externalData!.byteLength); // the tensors in another order, so other padding
      expect(streamed.externalData!.tensors).toBe(reference.externalData!.tensors);
      const referenceData = concatParts(reference.externalData!.parts, reference.externalData!.byteLength);
      const [a, b] = [decodeModel(reference.model, 'reference'), decodeModel(streamed.model, 'streamed')];
      expect(b.graph!.node).toEqual(a.graph!.node);
      const [want, got] = [tensorBytes(a, referenceData), tensorBytes(b, data)];
      expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
      for (const [name, bytes] of want) expect(Buffer.compare(got.get(name)!, bytes), name).toBe(0);
      expect(streamed.report.tensors).toEqual(reference.report.tensors);
      const next = rng(seed + 1);
      const inputs = Array.from({ length: 3 }, () => Float32Array.from({ length: widths[0]! }, () => next() * 2 - 1));
      const [expected, actual] = [await outputs(`${seed}-a`, reference.model, referenceData, inputs), await outputs(`${seed}-b`, streamed.model, data, inputs)];
      for (let i = 0; i < inputs.length; i++) expect(actual[i], `input ${i}`).toEqual(expected[i]);
    });
  }

  it('a sink that fails fails the call with its error', async () => {
    const { model: input } = buildMlp(onnxProto.onnx, widths, RUN_SEED);
    let calls = 0;
    const sink = { write: async () => { if (++calls === 2) throw new Error('no space left on device'); } };
    await expect(compressOnnx(input, { ...external, externalDataSink: sink }, cpu)).rejects.toThrow('no space left on device');
  });

  it('refuses a sink without writeExternalData \'always\', and one without write()', async () => {
    const { model: input } = buildMlp(onnxProto.onnx, [64, 64], RUN_SEED);
    const sink = { write: async () => {} };
    for (const options of [{ externalDataSink: sink }, { externalDataLocation: 'm.onnx.data', externalDataSink: sink },
      { ...external, externalDataSink: {} as never }, { ...external, externalDataSink: null as never }] satisfies CompressOnnxOptions[]) {
      await expect(compressOnnx(input, options, cpu), JSON.stringify(options)).rejects.toThrow(InvalidArgumentError);
    }
    await expect(compressOnnx(input, { externalDataSink: sink }, cpu)).rejects.toThrow(/needs externalDataLocation and writeExternalData: 'always'/);
  });
});

describe('externalDataCertain', () => {
  // Only the planned integers count: shapes of big models, no data needed.
  const weight = (name: string, shape: number[]) => ({ name, dtype: 'float32', shape, byteLength: 4 * shape.reduce((a, b) => a * b, 1),
    consumers: [{ opType: 'MatMul', inputIndex: 1 }] }) as unknown as OnnxWeightInfo;
  const layers = (count: number, rows: number) => Array.from({ length: count }, (_, i) => weight(`fc${i}.weight`, [rows, 8192]));

  it('is true when the planned integers alone pass one file\'s inline limit, and only then', () => {
    // 2^31 - 64 MiB inline at most: 32 layers of [8192, 8192] are 2 GiB as int8, 1 GiB as int4.
    const big = layers(32, 8192);
    expect(externalDataCertain(big, decideWeights(big, { dtype: 'qint8' }))).toBe(true);
    expect(externalDataCertain(big, decideWeights(big, { dtype: 'qint4', granularity: 'group', groupSize: 32 }))).toBe(false);
    expect(externalDataCertain(big, decideWeights(big, { dtype: 'qint8', exclude: [/^fc[01]\.weight$/] }))).toBe(false); // 2 kept: 1.875 GiB
    // The limit itself: EXTERNAL_DATA_ABOVE_BYTES int8 values, then 32 more.
    const atLimit = [weight('a', [1, EXTERNAL_DATA_ABOVE_BYTES])];
    expect(externalDataCertain(atLimit, decideWeights(atLimit, { dtype: 'qint8' }))).toBe(false);
    const past = [...atLimit, weight('b', [1, 32])];
    expect(externalDataCertain(past, decideWeights(past, { dtype: 'qint8', minElements: 1 }))).toBe(true);
  });
});
