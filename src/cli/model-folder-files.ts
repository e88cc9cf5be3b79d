/**
 * The files of a model folder that transformers.js loads beside `onnx/`: its configuration and tokenizer
 * (`config.json`, `tokenizer.json`, `tokenizer_config.json`, `generation_config.json`, `preprocessor_config.json`,
 * `merges.txt`, `vocab.txt`, `tokenizer.model`, ...), which `--preset transformers.js` copies into its output
 * folder so that the folder loads as it is; and `config.json` with the `transformers.js_config` entry that loads
 * files with external data.
 *
 * @example
 * ```ts
 * modelFolderOf('my-model/onnx/model.onnx');   // 'my-model'
 * await companionFiles('my-model');            // ['config.json', 'tokenizer.json', 'tokenizer_config.json']
 * withExternalDataFormat('{"model_type":"bert"}', ['model_q4.onnx']);
 * // '{\n  "model_type": "bert",\n  "transformers.js_config": {\n    "use_external_data_format": {\n      "model_q4.onnx": 1\n ...'
 * ```
 * @module
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** The extensions of the files copied: configuration (JSON), vocabularies and merges (text), sentencepiece models. */
const kCompanion = /\.(json|txt|model)$/i;

/**
 * The model folder of an input in a model folder's `onnx/` (the folder above it), else undefined.
 *
 * @example
 * ```ts
 * modelFolderOf('models/bert/onnx/model.onnx'); // 'models/bert'
 * modelFolderOf('exported.onnx');               // undefined
 * ```
 */
export function modelFolderOf(input: string): string | undefined {
  return basename(dirname(input)) === 'onnx' ? dirname(dirname(input)) : undefined;
}

/**
 * The names of the files at the top of `folder` that transformers.js may load beside `onnx/` (see the module
 * documentation), sorted; links to files included, hidden files, folders and broken links left out.
 *
 * @example
 * ```ts
 * await companionFiles('my-model'); // ['config.json', 'merges.txt', 'tokenizer.json', 'vocab.json']
 * ```
 */
export async function companionFiles(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true });
  const names: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.') || !kCompanion.test(e.name)) continue;
    // A link to a file counts as the file (a Hugging Face cache's snapshot folder links every file to its blob).
    if (e.isFile() || (e.isSymbolicLink() && (await stat(join(folder, e.name)).catch(() => undefined))?.isFile())) names.push(e.name);
  }
  return names.sort();
}

/**
 * `config` (a config.json's text) with `transformers.js_config.use_external_data_format` naming each of `files`
 * (`{ "model_q4.onnx": 1 }`: one data file each), the rest as it was; undefined when `config` is not a JSON object.
 * A `use_external_data_format` of `true` (every file) is kept.
 *
 * @example
 * ```ts
 * JSON.parse(withExternalDataFormat('{}', ['model_q4.onnx'])!)['transformers.js_config']; // { use_external_data_format: { 'model_q4.onnx': 1 } }
 * ```
 */
export function withExternalDataFormat(config: string, files: readonly string[]): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(config);
  } catch {
    return undefined;
  }
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!isObject(parsed)) return undefined;
  const settings = isObject(parsed['transformers.js_config']) ? parsed['transformers.js_config'] : {};
  const current = settings.use_external_data_format;
  if (current !== true) {
    settings.use_external_data_format = { ...(isObject(current) ? current : {}), ...Object.fromEntries(files.map((f) => [f, 1])) };
  }
  parsed['transformers.js_config'] = settings;
  return `${JSON.stringify(parsed, null, 2)}\n`;
}
