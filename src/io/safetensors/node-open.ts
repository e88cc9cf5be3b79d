/**
 * Node conveniences: open a safetensors file, or a sharded checkpoint from its index file, by path. The
 * returned readers own their files: `close()` releases them.
 *
 * @example
 * ```ts
 * import { openSafetensorsFile, openShardedSafetensorsFiles } from 'webgpu-quant';
 * const reader = await openSafetensorsFile('model.safetensors');
 * try { console.log(reader.list().length); } finally { await reader.close(); }
 * const sharded = await openShardedSafetensorsFiles('ckpt/model.safetensors.index.json');
 * ```
 * @module
 */
import { FormatError } from '../../errors.js';
import { quoteName } from './header-parse.js';
import { nodeFileSource } from './node-file-source.js';
import { type OpenSafetensorsOptions, type SafetensorsReader, openSafetensors } from './reader.js';
import { type ShardedSafetensorsReader, openShardedSafetensors } from './sharded.js';

/**
 * Opens the safetensors file at `path`; the file stays open until `reader.close()`.
 *
 * @example
 * ```ts
 * const reader = await openSafetensorsFile('model.safetensors');
 * const bytes = await reader.read('embed.weight');
 * await reader.close();
 * ```
 */
export async function openSafetensorsFile(path: string, options: OpenSafetensorsOptions = {}): Promise<SafetensorsReader> {
  const source = await nodeFileSource(path);
  try {
    return await openSafetensors(source, options);
  } catch (error) {
    await source.close();
    throw error;
  }
}

/** The directory part of a path ('' for a bare file name), for either separator. */
function directoryOf(path: string): string {
  const cut = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  return cut < 0 ? '' : path.slice(0, cut + 1);
}

/**
 * Opens a sharded checkpoint from its `model.safetensors.index.json`; shard names resolve relative to the
 * index's directory and may not be absolute or contain `..`.
 *
 * @example
 * ```ts
 * const reader = await openShardedSafetensorsFiles('llama/model.safetensors.index.json');
 * reader.shards.size; // e.g. 2
 * await reader.close();
 * ```
 */
export async function openShardedSafetensorsFiles(indexPath: string, options: OpenSafetensorsOptions = {}): Promise<ShardedSafetensorsReader> {
  const index = await nodeFileSource(indexPath);
  let text: Uint8Array;
  try {
    if (index.size > 100_000_000) throw new FormatError(`${indexPath}: ${index.size} bytes is too large for a shard index (limit 100 MB)`);
    text = await index.read(0, index.size);
  } finally {
    await index.close();
  }
  const directory = directoryOf(indexPath);
  return openShardedSafetensors(text, (file) => {
    if (/^([/\\]|[A-Za-z]:)/.test(file) || file.split(/[/\\]/).includes('..')) {
      throw new FormatError(`${indexPath}: shard file name ${quoteName(file)} is absolute or leaves the index's directory; shard names must be relative`);
    }
    return nodeFileSource(directory + file);
  }, { ...options, indexName: indexPath });
}
