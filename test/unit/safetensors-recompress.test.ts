// Compressing a file that is already quantized: by default its quantized weights pass through as they are,
// still tied to their scales by their `webgpu_quant.*` metadata; with requantize (dequantizedReader, or
// `compress --requantize`) they are dequantized and quantized again. Every other metadata key of the input
// survives both ways.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { compressToSafetensors } from '../../src/compress/compress-safetensors.js';
import { type CompressionPolicy, decideWeights } from '../../src/compress/policy.js';
import {
  QUANTIZED_METADATA_PREFIX, type SafetensorsReader, bytesSource, dequantizedReader, memorySink, openSafetensors, readQuantizedSafetensors,
  serializeSafetensors,
} from '../../src/io/safetensors/index.js';
import type { WeightReader } from '../../src/io/weights.js';
import { dequantize } from '../../src/reference/dequantize.js';
import { RUN_SEED, rng } from '../shared/random.js';

const dir = mkdtempSync(join(tmpdir(), 'webgpu-quant-recompress-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const kUserMetadata = { format: 'pt', owner: 'someone', 'training.steps': '12000', note: 'ünïcode ✓' };

/** A float32 model with random weights (fresh per run) and user metadata. */
async function floatModel(seed: number): Promise<Uint8Array> {
  const next = rng(seed);
  const normal = (n: number) => Float32Array.from({ length: n }, () => (next() - 0.5) * 4 * next());
  return serializeSafetensors([
    { name: 'encoder.weight', dtype: 'F32', shape: [16, 96], data: normal(16 * 96) },
    { name: 'encoder.bias', dtype: 'F32', shape: [16], data: normal(16) },
    { name: 'decoder.weight', dtype: 'F32', shape: [32, 64], data: normal(32 * 64) },
    { name: 'steps', dtype: 'I64', shape: [1], data: BigInt64Array.of(7n) },
  ], kUserMetadata);
}

async function compress(reader: WeightReader, policy: CompressionPolicy): Promise<SafetensorsReader> {
  const sink = memorySink();
  await compressToSafetensors(reader, decideWeights(reader.list(), policy), sink, { backend: 'cpu' });
  return openSafetensors(bytesSource(sink.bytes(), 'out.safetensors'));
}

function userKeys(reader: SafetensorsReader): Record<string, string> {
  return Object.fromEntries([...reader.metadata].filter(([k]) => k !== 'format' && k !== 'generator' && !k.startsWith(QUANTIZED_METADATA_PREFIX)));
}

describe('compressing a quantized safetensors file', () => {
  it('keeps its quantized weights as they are, with their metadata, and every other metadata key', async () => {
    const seed = RUN_SEED;
    const original = await openSafetensors(bytesSource(await floatModel(seed), 'model.safetensors'));
    const once = await compress(original, { dtype: 'qint8' });
    const first = await readQuantizedSafetensors(once);
    expect([...first.quantized.keys()].sort(), `seed ${seed}`).toEqual(['decoder.weight', 'encoder.weight']);
    const { format: _format, ...expectedUser } = kUserMetadata;
    expect(userKeys(once)).toEqual(expectedUser);

    // Again, with a policy that would choose another scheme: the quantized weights must not change.
    const twice = await compress(once, { dtype: 'qint4', granularity: 'group', groupSize: 16 });
    const second = await readQuantizedSafetensors(twice);
    expect([...second.quantized.keys()].sort()).toEqual(['decoder.weight', 'encoder.weight']);
    for (const [name, q] of first.quantized) {
      const again = second.quantized.get(name)!;
      expect(again.dtype).toBe('qint8');
      expect(again.qscheme()).toBe(q.qscheme());
      expect(Array.from(again.intRepr())).toEqual(Array.from(q.intRepr()));
      expect(Array.from(again.qPerChannelScales())).toEqual(Array.from(q.qPerChannelScales()));
      expect(twice.metadata.get(QUANTIZED_METADATA_PREFIX + name)).toBe(once.metadata.get(QUANTIZED_METADATA_PREFIX + name));
    }
    expect(userKeys(twice)).toEqual(expectedUser);
    expect(twice.list().map((t) => t.name)).toEqual(once.list().map((t) => t.name));
    for (const t of twice.list()) expect(await twice.read(t.name)).toEqual(await once.read(t.name));
  });

  it('requantize dequantizes the quantized weights and quantizes them under the new policy', async () => {
    const seed = RUN_SEED + 1;
    const original = await openSafetensors(bytesSource(await floatModel(seed), 'model.safetensors'));
    const once = await compress(original, { dtype: 'qint8' });
    const view = dequantizedReader(once);
    expect(view.list().find((w) => w.name === 'encoder.weight')).toEqual({ name: 'encoder.weight', dtype: 'float32', shape: [16, 96], byteLength: 16 * 96 * 4 });
    expect(view.list().some((w) => w.name.endsWith('.scale') || w.name.endsWith('.zero_point'))).toBe(false);
    const requantized = await compress(view, { dtype: 'qint4', granularity: 'group', groupSize: 16 });
    const result = await readQuantizedSafetensors(requantized);
    expect([...result.quantized.keys()].sort(), `seed ${seed}`).toEqual(['decoder.weight', 'encoder.weight']);
    const { format: _format, ...expectedUser } = kUserMetadata;
    expect(userKeys(requantized)).toEqual(expectedUser);
    for (const [name, q] of result.quantized) {
      expect(q.dtype).toBe('qint4');
      expect(q.qscheme()).toBe('per_group_affine');
      // Each dequantized int4 value lies within one step of the int8 value it was made from: half a step of
      // rounding, or, on the side opposite the group's signed extreme (stored exactly as -8 or 8 steps, as
      // llama.cpp's Q4_0 does), a clip at 7 steps of values up to 8 steps away.
      const from = new Float32Array((await view.read(name)).slice().buffer);
      const back = dequantize(q).data;
      const scales = q.qPerGroupScales();
      const maxScale = Math.max(...scales);
      for (let i = 0; i < from.length; i++) expect(Math.abs(back[i]! - from[i]!)).toBeLessThanOrEqual(maxScale + 1e-6);
    }
  });

  it('the CLI: compress, compress again, inspect still shows the quantized weights; --requantize changes them', async () => {
    const input = join(dir, 'model.safetensors');
    writeFileSync(input, await floatModel(RUN_SEED + 2));
    const once = join(dir, 'model.q8.safetensors');
    const twice = join(dir, 'model.q8.again.safetensors');
    const requantized = join(dir, 'model.q4.safetensors');
    const sink = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
    expect(await main(['compress', input, '-o', once, '--backend', 'cpu'], { stdout: sink, stderr: sink })).toBe(0);
    expect(await main(['compress', once, '-o', twice, '--backend', 'cpu'], { stdout: sink, stderr: sink })).toBe(0);
    expect(await main(['compress', once, '-o', requantized, '--backend', 'cpu', '--requantize', '--dtype', 'qint4', '--granularity', 'group', '--group-size', '16'],
      { stdout: sink, stderr: sink })).toBe(0);
    const inspect = async (file: string): Promise<string> => {
      let out = '';
      const capture = { write: (text: string) => { out += text; return true; }, isTTY: false } as unknown as NodeJS.WriteStream;
      expect(await main(['inspect', file], { stdout: capture, stderr: capture })).toBe(0);
      return out;
    };
    expect(await inspect(twice)).toMatch(/, 8 stored tensors, 2 quantized weights\n/);
    expect(await inspect(twice)).toMatch(/encoder\.weight +qint8 +\[16, 96\]/);
    expect(await inspect(requantized)).toMatch(/encoder\.weight +qint4 +\[16, 96\] .* per group of 16/);
    for (const file of [twice, requantized]) {
      const reader = await openSafetensors(bytesSource(new Uint8Array(await import('node:fs').then((fs) => fs.readFileSync(file))), file));
      expect(reader.metadata.get('owner')).toBe('someone');
      expect(reader.metadata.get('training.steps')).toBe('12000');
    }
  });
});
