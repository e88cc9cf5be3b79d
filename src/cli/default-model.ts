/**
 * The bundled sample model: Silero VAD (legacy), the ONNX file shipped in the `@ricky0123/vad-web`
 * package (MIT upstream), read from the installed package, never copied into this repository. The package
 * is a development dependency, so an ordinary install may not have it: {@link findDefaultModel} then
 * returns undefined and `compress` without an input asks for one.
 *
 * @example
 * ```ts
 * findDefaultModel(); // .../node_modules/@ricky0123/vad-web/dist/silero_vad_legacy.onnx, or undefined
 * defaultModelPath(); // the same path, or throws when the package is not installed
 * ```
 * @module
 */
import { createRequire } from 'node:module';

/** The file name the default model is known by in reports. */
export const DEFAULT_MODEL_NAME = 'silero_vad_legacy.onnx';

/** The package that carries it. */
export const DEFAULT_MODEL_PACKAGE = '@ricky0123/vad-web';

/** The default model's path in node_modules, or undefined when the package is not installed. */
export function findDefaultModel(): string | undefined {
  try {
    return createRequire(import.meta.url).resolve(`${DEFAULT_MODEL_PACKAGE}/dist/${DEFAULT_MODEL_NAME}`);
  } catch {
    return undefined;
  }
}

/** The default model's path in node_modules; throws when the package is not installed. */
export function defaultModelPath(): string {
  const path = findDefaultModel();
  if (path === undefined) throw new Error(`${DEFAULT_MODEL_PACKAGE} is not installed: run npm install (it is a development dependency)`);
  return path;
}
