// Sharded checkpoints (model.safetensors.index.json + shards) read as one WeightReader, from memory and
// from files, and indexes that disagree with their shards.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ByteSource, bytesSource, openShardedSafetensors, openShardedSafetensorsFiles, parseShardIndex, serializeSafetensors,
} from '../../src/io/safetensors/index.js';
import { FormatError } from '../../src/errors.js';

const shard1 = await serializeSafetensors([
  { name: 'embed.weight', dtype: 'F32', shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) },
  { name: 'layer.0.weight', dtype: 'BF16', shape: [3], data: Uint16Array.of(0x3f80, 0x4000, 0x4040) },
], { format: 'pt' });
const shard2 = await serializeSafetensors([{ name: 'head.bias', dtype: 'I64', shape: [1], data: BigInt64Array.of(-5n) }], { format: 'pt' });
const files = new Map([['model-00001-of-00002.safetensors', shard1], ['model-00002-of-00002.safetensors', shard2]]);
const index = {
  metadata: { total_size: 30 },
  weight_map: {
    'head.bias': 'model-00002-of-00002.safetensors',
    'embed.weight': 'model-00001-of-00002.safetensors',
    'layer.0.weight': 'model-00001-of-00002.safetensors',
  },
};

/** Sources over `files`, counting closes so a failed open can be shown to release what it opened. */
function resolver(closed: string[] = []): (file: string) => ByteSource {
  return (file) => {
    const bytes = files.get(file);
    if (!bytes) throw new Error(`test resolver: no file ${file}`);
    return { ...bytesSource(bytes, file), close: async () => { closed.push(file); } };
  };
}

describe('sharded safetensors', () => {
  it('presents every shard\'s tensors as one reader', async () => {
    const reader = await openShardedSafetensors(JSON.stringify(index), resolver());
    expect(reader.list().map((t) => [t.name, t.shard, t.safetensorsDType])).toEqual([
      ['head.bias', 'model-00002-of-00002.safetensors', 'I64'],
      ['embed.weight', 'model-00001-of-00002.safetensors', 'F32'],
      ['layer.0.weight', 'model-00001-of-00002.safetensors', 'BF16'],
    ]);
    expect(reader.metadata.get('total_size')).toBe(30);
    expect([...reader.shards.keys()]).toEqual(['model-00002-of-00002.safetensors', 'model-00001-of-00002.safetensors']);
    expect(new BigInt64Array((await reader.read('head.bias')).slice().buffer)[0]).toBe(-5n);
    expect(Array.from(new Float32Array((await reader.read('embed.weight')).slice().buffer))).toEqual([1, 2, 3, 4]);
    expect(reader.info('layer.0.weight')).toMatchObject({ dtype: 'bfloat16', shape: [3], byteLength: 6 });
    expect(reader.has('nope')).toBe(false);
    await expect(reader.read('nope')).rejects.toThrow(/the checkpoint has no tensor "nope"/);
  });

  it('an index that disagrees with its shards is a FormatError, and the shards opened so far are closed', async () => {
    const cases: [unknown, RegExp][] = [
      [{ weight_map: { ...index.weight_map, 'embed.weight': 'model-00002-of-00002.safetensors' } },
        /model-00001-of-00002\.safetensors: tensor "embed\.weight" is in this shard but model\.safetensors\.index\.json lists it in "model-00002-of-00002\.safetensors"/],
      [{ weight_map: { ...index.weight_map, ghost: 'model-00002-of-00002.safetensors' } },
        /model\.safetensors\.index\.json: lists tensor "ghost" in "model-00002-of-00002\.safetensors", but that shard has no such tensor/],
      [{ weight_map: { 'embed.weight': 'model-00001-of-00002.safetensors' } }, /tensor "layer\.0\.weight" is in this shard but .* does not list it/],
    ];
    for (const [bad, message] of cases) {
      const closed: string[] = [];
      const error = await openShardedSafetensors(JSON.stringify(bad), resolver(closed)).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(FormatError);
      expect((error as Error).message).toMatch(message);
      expect(closed.length).toBeGreaterThan(0);
    }
  });

  it('a damaged index is a FormatError naming it', () => {
    const bad: [string | Uint8Array, RegExp][] = [
      ['{"weight_map":', /index\.json: not valid UTF-8 JSON/],
      [Uint8Array.of(0x7b, 0xff, 0x7d), /not valid UTF-8 JSON/],
      ['[]', /a shard index must be an object with "weight_map"/],
      ['{"weight_map":{"a":5}}', /weight_map\["a"\] must be a shard file name, found 5/],
      ['{"weight_map":{"a":""}}', /weight_map\["a"\] must be a shard file name/],
      ['{"weight_map":{"__proto__":"x.safetensors"}}', /names the tensor "__proto__", which is rejected as a prototype key/],
      ['{"weight_map":{},"metadata":{"constructor":1}}', /metadata has the key "constructor"/],
      ['{"weight_map":{},"metadata":7}', /"metadata" must be an object/],
    ];
    for (const [text, message] of bad) {
      expect(() => parseShardIndex(text, 'x/model.safetensors.index.json')).toThrow(FormatError);
      expect(() => parseShardIndex(text, 'x/model.safetensors.index.json')).toThrow(message);
    }
  });
});

describe('sharded safetensors from files', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wq-shards-'));
    for (const [name, bytes] of files) await writeFile(join(dir, name), bytes);
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify(index));
  });
  afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

  it('resolves shards beside the index and closes them', async () => {
    const reader = await openShardedSafetensorsFiles(join(dir, 'model.safetensors.index.json'));
    try {
      expect(reader.list().length).toBe(3);
      expect(Array.from(new Uint16Array((await reader.read('layer.0.weight')).buffer))).toEqual([0x3f80, 0x4000, 0x4040]);
    } finally {
      await reader.close();
    }
  });

  it('refuses shard names that leave the index\'s directory', async () => {
    const path = join(dir, 'escape.index.json');
    await writeFile(path, JSON.stringify({ weight_map: { a: '../etc/passwd' } }));
    await expect(openShardedSafetensorsFiles(path)).rejects.toThrow(/shard file name "\.\.\/etc\/passwd" is absolute or leaves the index's directory/);
    await writeFile(path, JSON.stringify({ weight_map: { a: '/etc/passwd' } }));
    await expect(openShardedSafetensorsFiles(path)).rejects.toThrow(FormatError);
  });
});
