/**
 * The bundled default model: Silero VAD (legacy), the ONNX file shipped in the `@ricky0123/vad-web`
 * package (MIT upstream). Read from the installed package, never copied into this repository.
 *
 * @example
 * ```ts
 * const path = defaultModelPath(); // .../node_modules/@ricky0123/vad-web/dist/silero_vad_legacy.onnx
 * ```
 * @module
 */
import { createRequire } from 'node:module';

/** The file name the default model is known by in reports. */
export const DEFAULT_MODEL_NAME = 'silero_vad_legacy.onnx';

/** The default model's path in node_modules. */
export function defaultModelPath(): string {
  return createRequire(import.meta.url).resolve(`@ricky0123/vad-web/dist/${DEFAULT_MODEL_NAME}`);
}
