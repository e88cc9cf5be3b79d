/**
 * Sharded safetensors checkpoints: `model.safetensors.index.json` (`{ metadata, weight_map: { tensor: file } }`)
 * plus the shard files it names, presented as one {@link WeightReader}. The caller supplies a resolver
 * from a shard's file name to a {@link ByteSource}, so the same code serves a browser (files picked from a
 * folder, `blobSource`) and Node (`nodeFileSource`, or `openShardedSafetensorsFiles`).
 *
 * Checks, each a {@link FormatError} naming the index or the shard: the index is a JSON object whose
 * `weight_map` maps names to file names; every listed tensor is in the shard the index names; every
 * tensor of a shard is listed for that shard (so no name is ambiguous or silently dropped).
 *
 * @example
 * ```ts
 * import { blobSource, openShardedSafetensors } from 'webgpu-quant';
 * const byName = new Map([...folderInput.files].map((f) => [f.name, f]));
 * const reader = await openShardedSafetensors(await byName.get('model.safetensors.index.json')!.text(),
 *   (file) => blobSource(byName.get(file)!));
 * reader.list().length; // every tensor of every shard
 * ```
 * @module
 */
import { FormatError, InvalidArgumentError } from '../../errors.js';
import type { WeightReader } from '../weights.js';
import type { ByteSource, FileRange } from '../byte-source.js';
import { FORBIDDEN_KEYS, type SafetensorsTensorInfo, describeValue, quoteName } from './header-parse.js';
import { type OpenSafetensorsOptions, type SafetensorsReader, openSafetensors } from './reader.js';

/** A parsed `model.safetensors.index.json`. */
export interface ShardIndex {
  /** The index's `metadata` (values as in the JSON, e.g. `total_size` is a number). */
  metadata: Map<string, unknown>;
  /** Tensor name to shard file name, in the index's order. */
  weightMap: Map<string, string>;
}

/** A tensor of a sharded checkpoint: its description in its shard, plus the shard's file name. */
export interface ShardedTensorInfo extends SafetensorsTensorInfo { shard: string }

/** One reader over every shard. */
export interface ShardedSafetensorsReader extends WeightReader {
  readonly metadata: ReadonlyMap<string, unknown>;
  /** The open shards by file name, in the order the index first names them. */
  readonly shards: ReadonlyMap<string, SafetensorsReader>;
  /** Every tensor: shards in order, each shard's tensors in file order. */
  list(): ShardedTensorInfo[];
  info(name: string): ShardedTensorInfo;
  has(name: string): boolean;
  read(name: string): Promise<Uint8Array>;
  /** Reads into the start of `buffer`, see `SafetensorsReader.readInto`. */
  readInto(name: string, buffer: Uint8Array): Promise<Uint8Array>;
  /** Reads a range of a tensor's bytes into `target`, see `SafetensorsReader.readRangeInto`. */
  readRangeInto(name: string, byteOffset: number, target: Uint8Array): Promise<Uint8Array>;
  /** Where a float32 tensor lies on disk, see `SafetensorsReader.float32FileRange`. */
  float32FileRange(name: string): Promise<FileRange | undefined>;
  /** Where a tensor's stored bytes lie on disk, see `SafetensorsReader.tensorFileRange`. */
  tensorFileRange(name: string): Promise<FileRange | undefined>;
  /** Closes every shard's source. */
  close(): Promise<void>;
}

/**
 * Parses the index JSON (text or UTF-8 bytes).
 *
 * @example
 * ```ts
 * parseShardIndex('{"metadata":{"total_size":8},"weight_map":{"a":"m-1.safetensors"}}').weightMap.get('a'); // 'm-1.safetensors'
 * ```
 */
export function parseShardIndex(json: string | Uint8Array, file = 'model.safetensors.index.json'): ShardIndex {
  let value: unknown;
  try {
    const text = typeof json === 'string' ? json : new TextDecoder('utf-8', { fatal: true }).decode(json);
    value = JSON.parse(text);
  } catch (error) {
    throw new FormatError(`${file}: not valid UTF-8 JSON (${(error as Error).message}); the index is damaged`, { cause: error });
  }
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!isObject(value) || !isObject(value.weight_map)) {
    throw new FormatError(`${file}: a shard index must be an object with "weight_map": { tensor name: shard file name }`);
  }
  const weightMap = new Map<string, string>();
  for (const [name, shard] of Object.entries(value.weight_map)) {
    if (FORBIDDEN_KEYS.has(name)) throw new FormatError(`${file}: weight_map names the tensor ${quoteName(name)}, which is rejected as a prototype key`);
    if (typeof shard !== 'string' || shard.length === 0) {
      throw new FormatError(`${file}: weight_map[${quoteName(name)}] must be a shard file name, found ${describeValue(shard)}`);
    }
    weightMap.set(name, shard);
  }
  const metadata = new Map<string, unknown>();
  if (value.metadata !== undefined && value.metadata !== null) {
    if (!isObject(value.metadata)) throw new FormatError(`${file}: "metadata" must be an object`);
    for (const [key, entry] of Object.entries(value.metadata)) {
      if (FORBIDDEN_KEYS.has(key)) throw new FormatError(`${file}: metadata has the key ${quoteName(key)}, which is rejected as a prototype key`);
      metadata.set(key, entry);
    }
  }
  return { metadata, weightMap };
}

/**
 * Opens every shard the index names (each header is read and validated; no tensor data is read) and
 * checks that the index and the shards agree. On any failure the shards opened so far are closed.
 *
 * @example
 * ```ts
 * const reader = await openShardedSafetensors(indexText, (file) => nodeFileSource(join(dir, file)));
 * const bytes = await reader.read('model.layers.0.mlp.up_proj.weight');
 * await reader.close();
 * ```
 */
export async function openShardedSafetensors(
  index: string | Uint8Array | ShardIndex,
  resolve: (fileName: string) => ByteSource | Promise<ByteSource>,
  options: OpenSafetensorsOptions & { indexName?: string } = {},
): Promise<ShardedSafetensorsReader> {
  if (typeof resolve !== 'function') {
    throw new InvalidArgumentError('resolve', resolve, 'resolve must be a function from a shard file name to a ByteSource');
  }
  const indexName = options.indexName ?? 'model.safetensors.index.json';
  const parsed = typeof index === 'string' || index instanceof Uint8Array ? parseShardIndex(index, indexName) : index;
  const shards = new Map<string, SafetensorsReader>();
  const closeAll = async (): Promise<void> => {
    await Promise.allSettled([...shards.values()].map((s) => s.close()));
  };
  const tensors = new Map<string, ShardedTensorInfo>();
  try {
    for (const file of new Set(parsed.weightMap.values())) {
      const source = await resolve(file);
      const shard = await openSafetensors(source, { ...options, name: options.name ? `${options.name}/${file}` : source?.name ?? file });
      shards.set(file, shard);
      for (const t of shard.list()) {
        const listed = parsed.weightMap.get(t.name);
        if (listed !== file) {
          throw new FormatError(`${shard.name}: tensor ${quoteName(t.name)} is in this shard but ${indexName} ${
            listed === undefined ? 'does not list it' : `lists it in ${quoteName(listed)}`}; the index and the shards disagree`);
        }
        tensors.set(t.name, { ...t, shard: file });
      }
    }
    for (const [name, file] of parsed.weightMap) {
      if (!tensors.has(name)) {
        throw new FormatError(`${indexName}: lists tensor ${quoteName(name)} in ${quoteName(file)}, but that shard has no such tensor`);
      }
    }
  } catch (error) {
    await closeAll();
    throw error;
  }
  const ordered = [...shards.keys()].flatMap((file) => shards.get(file)!.list().map((t) => tensors.get(t.name)!));
  const info = (name: string): ShardedTensorInfo => {
    const found = tensors.get(name);
    if (!found) throw new InvalidArgumentError('name', name, `the checkpoint has no tensor ${quoteName(String(name))}; list() gives the ${tensors.size} names`);
    return { ...found, shape: [...found.shape] };
  };
  return {
    metadata: parsed.metadata,
    shards,
    list: () => ordered.map((t) => ({ ...t, shape: [...t.shape] })),
    info,
    has: (name) => tensors.has(name),
    read: async (name) => shards.get(info(name).shard)!.read(name),
    readInto: async (name, buffer) => shards.get(info(name).shard)!.readInto(name, buffer),
    readRangeInto: async (name, byteOffset, target) => shards.get(info(name).shard)!.readRangeInto(name, byteOffset, target),
    float32FileRange: async (name) => shards.get(info(name).shard)!.float32FileRange(name),
    tensorFileRange: async (name) => shards.get(info(name).shard)!.tensorFileRange(name),
    close: closeAll,
  };
}
