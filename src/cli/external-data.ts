/**
 * ONNX external data for the command line: files next to the model, opened on demand and closed at the
 * end. A location must stay inside the model's folder: absolute paths and `..` are refused (the ONNX
 * reader already refuses them), and so is a symbolic link that leads out of the folder.
 *
 * @example
 * ```ts
 * const external = externalDataNextTo('models/big.onnx');
 * const model = await OnnxModel.load(bytes, { name: 'models/big.onnx', externalData: external.resolve });
 * try { await model.read('embed.weight'); } finally { await external.close(); }
 * ```
 * @module
 */
import { realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import type { ExternalDataResolver } from '../io/onnx/tensor-data.js';
import { type NodeFileSource, nodeFileSource } from '../io/safetensors/node-file-source.js';

/** A resolver for the external data files beside one model, and the files it opened. */
export interface ExternalDataFiles {
  resolve: ExternalDataResolver;
  /** The locations read so far. */
  readonly opened: ReadonlySet<string>;
  /** Closes every file opened. */
  close(): Promise<void>;
}

/**
 * Resolves external data locations relative to `modelPath`'s folder (see the module documentation). A
 * missing file resolves to undefined (the reader then says which tensor needs it); a location that leaves
 * the folder throws.
 *
 * @example
 * ```ts
 * const files = externalDataNextTo('models/big.onnx');
 * await files.resolve('big.onnx.data'); // a byte source over models/big.onnx.data
 * await files.close();
 * ```
 */
export function externalDataNextTo(modelPath: string): ExternalDataFiles {
  const folder = dirname(modelPath);
  const sources = new Map<string, Promise<NodeFileSource | undefined>>();
  const open = async (location: string): Promise<NodeFileSource | undefined> => {
    if (isAbsolute(location) || /^[A-Za-z]:/.test(location) || location.split(/[\\/]/).includes('..')) {
      throw new Error(`the location must be a relative path inside the model's folder ${folder}`);
    }
    let real: string;
    try {
      real = await realpath(join(folder, location));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const inside = relative(await realpath(folder), real);
    if (inside === '' || inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
      throw new Error(`it is a symbolic link to ${real}, outside the model's folder ${folder}; copy the file next to the model`);
    }
    if (!(await stat(real)).isFile()) throw new Error('it is not a regular file');
    return nodeFileSource(real);
  };
  return {
    resolve(location) {
      let source = sources.get(location);
      if (!source) {
        source = open(location);
        sources.set(location, source);
      }
      return source;
    },
    get opened() { return new Set(sources.keys()); },
    async close() {
      const all = [...sources.values()];
      sources.clear();
      await Promise.all(all.map(async (s) => (await s.catch(() => undefined))?.close()));
    },
  };
}
