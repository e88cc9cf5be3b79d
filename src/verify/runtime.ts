/**
 * The slice of onnxruntime's JavaScript API that verification uses, so the same code runs with
 * `onnxruntime-node` (Node), `onnxruntime-web` (browser, WebGPU or wasm) or any look-alike, passed in by the
 * caller: webgpu-quant never imports a runtime itself. Also the host tensors that feed it.
 *
 * @example
 * ```ts
 * import * as ort from 'onnxruntime-web';
 * const runtime: OnnxRuntimeLike = ort;
 * const sample: Sample = { x: { dtype: 'float32', dims: [1, 4], data: new Float32Array(4) } };
 * ```
 * @module
 */

/** Element types verification can feed and compare (float16 travels as its bits in a Uint16Array). */
export type SampleDType =
  | 'float32' | 'float64' | 'float16' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'bool';

/** The typed array each {@link SampleDType} is held in, as onnxruntime expects it. */
export type SampleData =
  | Float32Array | Float64Array | Uint16Array | Int8Array | Uint8Array | Int16Array | Int32Array | Uint32Array
  | BigInt64Array | BigUint64Array;

/** One input tensor on the host. */
export interface SampleTensor {
  dtype: SampleDType;
  dims: number[];
  data: SampleData;
}

/** One set of inputs for a model: input name → tensor. */
export type Sample = Record<string, SampleTensor>;

/** The typed array constructor of each sample dtype. */
export const SAMPLE_ARRAYS: Readonly<Record<SampleDType, { new (length: number): SampleData; BYTES_PER_ELEMENT: number }>> = {
  float32: Float32Array, float64: Float64Array, float16: Uint16Array, int8: Int8Array, uint8: Uint8Array, int16: Int16Array,
  uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array, int64: BigInt64Array, uint64: BigUint64Array, bool: Uint8Array,
};

/** True for the dtypes verification handles. */
export function isSampleDType(dtype: string): dtype is SampleDType {
  return Object.hasOwn(SAMPLE_ARRAYS, dtype);
}

/** A tensor as onnxruntime returns it. */
export interface RuntimeTensor {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
}

/** An inference session as onnxruntime returns it. */
export interface RuntimeSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, RuntimeTensor>): Promise<Record<string, RuntimeTensor>>;
  release?(): Promise<void>;
}

/** What verification needs from an onnxruntime package: `import * as ort from 'onnxruntime-web'` fits. */
export interface OnnxRuntimeLike {
  InferenceSession: { create(model: Uint8Array | string, options?: object): Promise<RuntimeSession> };
  Tensor: new (type: never, data: never, dims: readonly number[]) => RuntimeTensor;
}

/** Builds the runtime's tensor for a host tensor. */
export function toRuntimeTensor(runtime: OnnxRuntimeLike, tensor: SampleTensor): RuntimeTensor {
  const Tensor = runtime.Tensor as unknown as new (type: string, data: unknown, dims: readonly number[]) => RuntimeTensor;
  // onnxruntime takes bool tensors as Uint8Array (0/1) and float16 as its bits in a Uint16Array.
  return new Tensor(tensor.dtype, tensor.data, tensor.dims);
}
