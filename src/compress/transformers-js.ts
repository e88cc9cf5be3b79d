/**
 * The files of transformers.js's model layout (`onnx/model_<suffix>.onnx`, chosen at load time by the
 * `dtype` option of `pipeline()` / `from_pretrained()`), and the compression options that write each one.
 * transformers.js's own `scripts/quantize.py` makes them with onnxruntime's Python quantizers; these are
 * the same files made from the same model by {@link compressOnnx}:
 *
 * | dtype   | file                  | what transformers.js writes                          | what we write |
 * |---------|-----------------------|------------------------------------------------------|---------------|
 * | `q4`    | `model_q4.onnx`       | MatMul weights as `MatMulNBits`, 4 bits, blocks of 32, symmetric; the rest float32 | the same |
 * | `q4f16` | `model_q4f16.onnx`    | q4, then the whole graph converted to float16        | q4 of a float16 model (scales float16) |
 * | `q8`    | `model_quantized.onnx`| dynamic int8 (`MatMulInteger`, int8 weights per tensor) | int8 weights per channel, symmetric, as QDQ |
 *
 * q8 differs on purpose: onnxruntime's dynamic quantization also quantizes the activations at run time
 * (`DynamicQuantizeLinear`); we quantize the weights only, per output channel, and write `DequantizeLinear`
 * nodes, which onnxruntime fuses on the CPU and every execution provider runs. The file name is what
 * transformers.js asks for with `dtype: 'q8'`.
 *
 * q4 quantizes only weights read as MatMul input B (as onnxruntime's `MatMul4BitsQuantizer`); Gemm, Conv
 * and the other weights stay float. A float32 model gives `model_q4.onnx` and `model_quantized.onnx`; a
 * float16 model (its MatMul weights float16) gives `model_q4f16.onnx` only, since converting a float32
 * graph to float16 (casts at its inputs and outputs, float16 value types throughout) is not done here.
 *
 * The caller's other policy fields (calibration, quality floor, first layer, include / exclude) apply to
 * every file; the quality floor may escalate a weak 4-bit weight to 8 bits, which q4 writes as QDQ
 * (`matMulNBits8: false`): onnxruntime-web's WebGPU EP, where transformers.js runs q4, refuses 8-bit MatMulNBits.
 *
 * @example
 * ```ts
 * const model = await OnnxModel.load(bytes);
 * for (const variant of transformersJsVariants(model, { calibrate: 'minmax' })) {
 *   const { model: out } = await compressOnnx(bytes, variant.options);
 *   await writeFile(`out/onnx/${variant.file}`, out);
 * }
 * ```
 * @module
 */
import type { OnnxModel } from '../io/onnx/onnx-model.js';
import type { CompressOnnxOptions } from './compress-onnx.js';
import type { CompressionPolicy } from './policy.js';

/** The transformers.js `dtype` names this preset writes. */
export type TransformersJsDtype = 'q4' | 'q4f16' | 'q8';

/** One file of the layout: its dtype, its path under the output folder, and its compression options. */
export interface TransformersJsVariant {
  dtype: TransformersJsDtype;
  /** The path relative to the output folder, e.g. `onnx/model_q4.onnx`. */
  file: string;
  /** The options that write it (with the caller's calibration, quality floor, first layer, …). */
  options: CompressOnnxOptions;
}

/** The suffix transformers.js appends to `model` for each dtype (its `DEFAULT_DTYPE_SUFFIX_MAPPING`). */
export const TRANSFORMERS_JS_SUFFIX: Readonly<Record<TransformersJsDtype, string>> = { q4: '_q4', q4f16: '_q4f16', q8: '_quantized' };

/** The block size and symmetry transformers.js's q4 uses (`quantize.py`: block_size 32, is_symmetric). */
export const TRANSFORMERS_JS_Q4_BLOCK = 32;

const escape = (name: string) => name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const matches = (pattern: RegExp | RegExp[] | undefined, name: string) => pattern === undefined
  || [pattern].flat().some((p) => { p.lastIndex = 0; return p.test(name); });

/**
 * The model's name as transformers.js knows it, from the input's path: in a model folder's `onnx/`, the file's
 * name (`my-model/onnx/decoder_model_merged.onnx` → `decoder_model_merged`), a float16 model's `_fp16`
 * (transformers.js's fp16 suffix) dropped, so that its q4f16 file is `model_q4f16.onnx`; anywhere else `model`,
 * the name transformers.js loads by default (`./whisper-tiny.onnx` → `model`).
 *
 * @example
 * ```ts
 * transformersJsFileName('my-model/onnx/model_fp16.onnx');            // 'model'
 * transformersJsFileName('my-model/onnx/decoder_model_merged.onnx');  // 'decoder_model_merged'
 * transformersJsFileName('exported.onnx');                            // 'model'
 * ```
 */
export function transformersJsFileName(path: string): string {
  const parts = path.split(/[\\/]/);
  if (parts.length < 2 || parts.at(-2) !== 'onnx') return 'model';
  const name = parts.at(-1)!.replace(/\.onnx$/i, '').replace(/_fp16$/, '');
  return name === '' ? 'model' : name;
}

/** The names of the weights read only as MatMul input B (2-D) that `include` admits: the weights q4 quantizes. */
function matMulWeights(model: OnnxModel, include: CompressionPolicy['include']): string[] {
  return model.list().filter((w) => w.shape.length === 2 && w.consumers.length > 0
    && w.consumers.every((c) => c.opType === 'MatMul' && c.domain === '' && c.inputIndex === 1)
    && matches(include, w.name)).map((w) => w.name);
}

/**
 * The files to write for `model` (module documentation), each with its options: the variant's dtype,
 * granularity, symmetry and operators, plus the caller's other policy fields (`policy`'s dtype, granularity,
 * group size, axis, symmetry and size budget are replaced; its `include` narrows q4's MatMul weights; its
 * `accuracyLevel` goes to q4's MatMulNBits). q4
 * (q4f16 for a float16 model) is written when the model has MatMul weights, q8 for a float32 model; the
 * list is empty when neither applies. `fileName` is the model's name in its folder, which transformers.js loads
 * with the dtype's suffix: `model` (the default), or `encoder_model`, `decoder_model_merged`, ... for a model of
 * several files ({@link transformersJsFileName} gives it from the input's file name).
 *
 * @example
 * ```ts
 * transformersJsVariants(model, { calibrate: 'mse' }).map((v) => v.file); // ['onnx/model_q4.onnx', 'onnx/model_quantized.onnx']
 * transformersJsVariants(decoder, {}, 'decoder_model_merged')[0].file;   // 'onnx/decoder_model_merged_q4.onnx'
 * ```
 */
export function transformersJsVariants(
  model: OnnxModel, policy: CompressionPolicy & { accuracyLevel?: number } = {}, fileName = 'model',
): TransformersJsVariant[] {
  const { dtype: _d, granularity: _g, groupSize: _s, axis: _a, symmetric: _y, targetBits: _t, accuracyLevel, ...rest } = policy;
  const names = matMulWeights(model, policy.include);
  const float16 = model.list().some((w) => w.dtype === 'float16' && w.consumers.some((c) => c.opType === 'MatMul'));
  const variants: TransformersJsVariant[] = [];
  if (names.length > 0) {
    const dtype = float16 ? 'q4f16' : 'q4';
    variants.push({
      dtype, file: `onnx/${fileName}${TRANSFORMERS_JS_SUFFIX[dtype]}.onnx`,
      options: {
        ...rest, dtype: 'qint4', granularity: 'group', groupSize: TRANSFORMERS_JS_Q4_BLOCK, axis: 0, symmetric: true, onnxOps: 'contrib', matMulNBits8: false,
        ...(accuracyLevel !== undefined ? { accuracyLevel } : {}),
        include: new RegExp(`^(?:${names.map(escape).join('|')})$`),
      },
    });
  }
  if (!float16) {
    variants.push({
      dtype: 'q8', file: `onnx/${fileName}${TRANSFORMERS_JS_SUFFIX.q8}.onnx`,
      options: { ...rest, dtype: 'qint8', granularity: 'channel', symmetric: true, onnxOps: 'qdq' },
    });
  }
  return variants;
}
