/**
 * Input files for the command line, checked before they are read: a missing file, a folder, a device or
 * an unreadable file is an {@link InvalidArgumentError} with one line naming the file and the problem,
 * never a raw `ENOENT` or `EISDIR` with a stack.
 *
 * @example
 * ```ts
 * await readInputFile('model.onnx', 'input');  // Uint8Array
 * await readInputFile('missing.onnx', 'input'); // throws: missing.onnx: no such file
 * ```
 * @module
 */
import type { Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { InvalidArgumentError } from '../errors.js';

const kReasons: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EISDIR: 'is a folder, not a model file',
  ENOTDIR: 'a part of the path is not a folder',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'the name is too long',
  ENXIO: 'nothing is listening on the other end (a socket or FIFO)',
  ENOSPC: 'no space left on the device',
  EROFS: 'the file system is read-only',
  EDQUOT: 'the disk quota is exceeded',
  EMFILE: 'too many open files',
  EIO: 'an input/output error from the device',
};

/**
 * The model format a path names, by extension.
 *
 * @example
 * ```ts
 * formatOf('vad.q8.onnx'); // 'onnx'
 * formatOf('notes.txt');   // undefined
 * ```
 */
export function formatOf(path: string): 'onnx' | 'safetensors' | 'gguf' | undefined {
  if (/\.onnx$/i.test(path)) return 'onnx';
  if (/\.gguf$/i.test(path)) return 'gguf';
  if (/\.safetensors$/i.test(path)) return 'safetensors';
  return undefined;
}

/**
 * A file-system error (code, and perhaps path and syscall) from Node.
 *
 * @example
 * ```ts
 * try { await readFile('x'); } catch (e) { isFsError(e); } // true: code 'ENOENT', syscall 'open'
 * ```
 */
export function isFsError(error: unknown): error is NodeJS.ErrnoException & { code: string } {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string'
    && typeof (error as NodeJS.ErrnoException).syscall === 'string';
}

/**
 * One line for a file-system error on `path`: `<path>: <what went wrong>`.
 *
 * @example
 * ```ts
 * describeFsError(Object.assign(new Error('ENOENT'), { code: 'ENOENT', syscall: 'open' }), 'x.onnx'); // 'x.onnx: no such file'
 * ```
 */
export function describeFsError(error: NodeJS.ErrnoException, path: string): string {
  const reason = (error.code && kReasons[error.code]) ?? error.message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '');
  return `${path}: ${reason}`;
}

/**
 * A file-system error as an InvalidArgumentError naming `path`; other errors unchanged (throw the result).
 *
 * @example
 * ```ts
 * await open(path, 'r').catch((error) => { throw fileError(error, path, 'input'); });
 * ```
 */
export function fileError(error: unknown, path: string, argument: string): unknown {
  return isFsError(error) ? new InvalidArgumentError(argument, path, describeFsError(error, path)) : error;
}

/**
 * Checks that `path` is a regular file (following symbolic links) and returns its stats.
 *
 * @example
 * ```ts
 * (await checkInputFile('model.onnx', 'input')).size; // bytes
 * ```
 */
export async function checkInputFile(path: string, argument: string): Promise<Stats> {
  let stats: Stats;
  try {
    stats = await stat(path);
  } catch (error) {
    throw fileError(error, path, argument);
  }
  if (stats.isDirectory()) throw new InvalidArgumentError(argument, path, `${path}: is a folder, not a model file`);
  if (!stats.isFile()) throw new InvalidArgumentError(argument, path, `${path}: is not a regular file; give the path of a model file`);
  return stats;
}

/**
 * Reads a whole input file after {@link checkInputFile}.
 *
 * @example
 * ```ts
 * const bytes = await readInputFile('model.onnx', 'input');
 * ```
 */
export async function readInputFile(path: string, argument: string): Promise<Uint8Array> {
  await checkInputFile(path, argument);
  try {
    return await readFile(path);
  } catch (error) {
    throw fileError(error, path, argument);
  }
}
