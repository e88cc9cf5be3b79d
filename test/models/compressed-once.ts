// compressOnnx on the CPU backend, once per model and scheme: the tests of one file share each compressed
// model (a PaddleOCR v4 compression takes seconds), and the results table reads the same one.
import { type CompressOnnxOptions, type OnnxCompressionReport, compressOnnx } from '../../src/compress/compress-onnx.js';

/** A compressed model and its report. */
export interface Compressed { model: Uint8Array; report: OnnxCompressionReport }

const cache = new WeakMap<Uint8Array, Map<string, Promise<Compressed>>>();

/** `compressOnnx(original, policy, { backend: 'cpu' })`, computed the first time `scheme` is asked for. */
export function compressedOnce(original: Uint8Array, scheme: string, policy: CompressOnnxOptions): Promise<Compressed> {
  let schemes = cache.get(original);
  if (!schemes) cache.set(original, schemes = new Map());
  let result = schemes.get(scheme);
  if (!result) schemes.set(scheme, result = compressOnnx(original, policy, { backend: 'cpu' }));
  return result;
}
