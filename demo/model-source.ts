// Turning the files a person picks or drops into a model source, and opening a reader over it. Used on both
// sides: the page opens one for the tensor it shows, the worker one for the whole-model work. Both formats are
// read through blobSource (slices of the File on demand), so a large file is never held whole.
import { OnnxModel, type WeightReader, blobSource, openSafetensors, openShardedSafetensors } from '../src/models.js';
import type { AnyWeightSource } from './worker-protocol.js';

/** The model the files make: one .onnx or .safetensors, or shards with their `*.index.json`. */
export async function sourceFromFiles(files: readonly File[]): Promise<{ name: string; source: AnyWeightSource } | undefined> {
  const index = files.find((f) => f.name.endsWith('.index.json'));
  if (index) {
    const shards = files.filter((f) => f !== index);
    return { name: index.name.replace(/\.index\.json$/, ''), source: { kind: 'sharded', index: await index.text(), indexName: index.name, files: shards } };
  }
  const file = files[0];
  if (!file) return undefined;
  if (files.length > 1) {
    throw new Error(`${files.length} files were given without a model.safetensors.index.json: give one model file, or every shard with its index`);
  }
  return { name: file.name, source: { kind: file.name.toLowerCase().endsWith('.safetensors') ? 'safetensors' : 'onnx', file } };
}

/** A reader over the source, its size in bytes, and how many shard files it reads. */
export async function openReader(source: AnyWeightSource): Promise<{ reader: WeightReader; byteLength: number; shardCount: number }> {
  if (source.kind === 'onnx') {
    // The graph read through slices of the File, each weight's data when it is read: a large model is not held
    // whole. A file the deferred reader does not take is read whole, which says what is wrong with it.
    const name = source.file.name;
    const reader = await OnnxModel.loadDeferred(blobSource(source.file), { name })
      .catch(async () => OnnxModel.load(new Uint8Array(await source.file.arrayBuffer()), { name }));
    return { reader, byteLength: source.file.size, shardCount: 1 };
  }
  if (source.kind === 'safetensors') return { reader: await openSafetensors(blobSource(source.file)), byteLength: source.file.size, shardCount: 1 };
  // Shards are matched by file name: a picker or a drop gives names without folders.
  const byName = new Map(source.files.map((f) => [f.name, f]));
  const used = new Set<File>();
  const reader = await openShardedSafetensors(source.index, (shard) => {
    const file = byName.get(shard.split('/').pop()!);
    if (!file) throw new Error(`${source.indexName} names the shard ${shard}, which was not among the files given; select or drop it too`);
    used.add(file);
    return blobSource(file);
  }, { indexName: source.indexName });
  return { reader, byteLength: [...used].reduce((sum, f) => sum + f.size, 0), shardCount: used.size };
}
