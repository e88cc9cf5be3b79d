/**
 * The plain float32 tensor that goes into quantize and comes out of dequantize.
 *
 * @example
 * ```ts
 * import { tensor } from 'webgpu-quant';
 * const w = tensor([1, 2, 3, 4, 5, 6], [2, 3]); // { data: Float32Array [1..6], shape: [2, 3] }
 * ```
 * @module
 */
import { InvalidArgumentError } from './errors.js';

/** Which path computed a result. */
export type ResolvedBackend = 'webgpu' | 'cpu';

/** A row-major, contiguous float32 tensor. */
export interface Tensor {
  data: Float32Array;
  shape: number[];
  /** Set on results: which backend computed them. */
  backend?: ResolvedBackend;
}

/** The largest element count a tensor may have: GPU indices are 32-bit. */
export const MAX_ELEMENTS = 2 ** 32 - 1;

/**
 * Checks that `shape` is a list of non-negative integers and returns its element count.
 *
 * @example
 * ```ts
 * shapeSize([2, 3], 'shape'); // 6
 * shapeSize([2, -1], 'shape'); // throws InvalidArgumentError
 * ```
 */
export function shapeSize(shape: readonly number[], argument = 'shape'): number {
  if (!Array.isArray(shape)) {
    throw new InvalidArgumentError(argument, shape, `${argument} must be an array of dimension sizes, got ${typeof shape}`);
  }
  let size = 1;
  shape.forEach((dim, i) => {
    if (!Number.isSafeInteger(dim) || dim < 0) {
      throw new InvalidArgumentError(`${argument}[${i}]`, dim,
        `${argument}[${i}] is ${String(dim)}; dimension sizes must be non-negative integers`);
    }
    size *= dim;
  });
  if (size > MAX_ELEMENTS) {
    throw new InvalidArgumentError(argument, shape,
      `${argument} [${shape.join(', ')}] has ${size} elements, more than the supported 2^32 - 1; split the tensor`);
  }
  return size;
}

/**
 * Validates a tensor-like argument: a `Float32Array` `data` whose length is the product of `shape`.
 *
 * @example
 * ```ts
 * checkTensor({ data: new Float32Array(6), shape: [2, 3] }, 'input'); // ok, returns 6
 * ```
 */
export function checkTensor(input: Tensor, argument = 'input'): number {
  if (input === null || typeof input !== 'object' || !(input.data instanceof Float32Array)) {
    throw new InvalidArgumentError(argument, input,
      `${argument} must be a Tensor { data: Float32Array, shape: number[] }; build one with tensor(data, shape)`);
  }
  const size = shapeSize(input.shape, `${argument}.shape`);
  if (size !== input.data.length) {
    throw new InvalidArgumentError(`${argument}.shape`, input.shape,
      `${argument}.data has ${input.data.length} elements but ${argument}.shape [${input.shape.join(', ')}] needs ${size}`);
  }
  return size;
}

/**
 * Makes a float32 tensor from numbers. The data is copied into a new `Float32Array` (values rounded to
 * float32); `shape` defaults to `[data.length]` and must multiply out to the data's length.
 *
 * @example
 * ```ts
 * const x = tensor([-1.52, 0.01, 1.501, 3.0001]);       // shape [4]
 * const w = tensor(new Float32Array(12), [3, 4]);         // shape [3, 4]
 * tensor([1, 2, 3], [2, 2]);                               // throws InvalidArgumentError
 * ```
 */
export function tensor(data: ArrayLike<number>, shape?: number[]): Tensor {
  if (data === null || typeof data !== 'object' || typeof (data as ArrayLike<number>).length !== 'number') {
    throw new InvalidArgumentError('data', data, 'data must be an array or typed array of numbers');
  }
  const finalShape = shape === undefined ? [data.length] : [...shape];
  const size = shapeSize(finalShape, 'shape');
  if (size !== data.length) {
    throw new InvalidArgumentError('shape', shape,
      `data has ${data.length} elements but shape [${finalShape.join(', ')}] needs ${size}`);
  }
  return { data: Float32Array.from(data), shape: finalShape };
}

/** The element types a {@link GpuTensor} can hold. */
export type GpuFloatDType = 'float32' | 'float16';

/**
 * A row-major, contiguous float tensor that lives in a caller's `GPUBuffer`, at `offset` bytes. The library
 * reads or writes it on the GPU and never destroys the buffer. Build one with {@link gpuTensor}.
 */
export interface GpuTensor {
  readonly buffer: GPUBuffer;
  readonly shape: readonly number[];
  readonly dtype: GpuFloatDType;
  /** Byte offset of element 0 in `buffer` (a multiple of 4). */
  readonly offset: number;
  /** The device the buffer belongs to; operations run on it unless `options.device` names it already. */
  readonly device?: GPUDevice | undefined;
}

/** Options of {@link gpuTensor}. */
export interface GpuTensorOptions {
  /** The buffer's device: operations on the tensor then run there without an `options.device`. */
  device?: GPUDevice;
  /** Byte offset of element 0 (default 0; a multiple of 4). */
  offset?: number;
  /** 'float32' (default) or 'float16'. Quantize reads float32 only. */
  dtype?: GpuFloatDType;
}

/** Bytes per element of a {@link GpuFloatDType}. */
export function gpuFloatBytes(dtype: GpuFloatDType): number { return dtype === 'float16' ? 2 : 4; }

/**
 * A view of a caller's `GPUBuffer` as a float tensor of `shape`. Checks the shape, the offset and that the
 * buffer holds `offset + size × bytes per element` bytes; the usage flags an operation needs (`COPY_SRC` to
 * read the tensor, `COPY_DST` to write it) are checked by that operation.
 *
 * @example
 * ```ts
 * const buffer = device.createBuffer({ size: 24, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
 * const w = gpuTensor(buffer, [2, 3], { device });
 * const q = await quantizePerTensor(w, 0.1, 0, 'qint8', { output: 'gpu' });
 * ```
 */
export function gpuTensor(buffer: GPUBuffer, shape: readonly number[], options: GpuTensorOptions = {}): GpuTensor {
  if (!isGpuBuffer(buffer)) {
    throw new InvalidArgumentError('buffer', buffer, 'buffer must be a GPUBuffer (from device.createBuffer)');
  }
  const size = shapeSize(shape, 'shape');
  const offset = options.offset ?? 0;
  if (!Number.isSafeInteger(offset) || offset < 0 || offset % 4 !== 0) {
    throw new InvalidArgumentError('options.offset', offset, `options.offset is ${String(offset)}; use a non-negative multiple of 4 bytes`);
  }
  const dtype = options.dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'float16') {
    throw new InvalidArgumentError('options.dtype', dtype, `options.dtype is ${String(dtype)}; use 'float32' or 'float16'`);
  }
  const needed = offset + size * gpuFloatBytes(dtype);
  if (buffer.size < needed) {
    throw new InvalidArgumentError('buffer', buffer,
      `buffer "${buffer.label}" has ${buffer.size} bytes but a ${dtype} tensor of shape [${shape.join(', ')}] at offset ${offset} needs ${needed}; create a bigger buffer`);
  }
  return Object.freeze({ buffer, shape: Object.freeze([...shape]), dtype, offset, ...(options.device ? { device: options.device } : {}) });
}

/**
 * True for a {@link GpuTensor} (a `buffer` that is a GPUBuffer), false for a {@link Tensor} and anything else.
 *
 * @example
 * ```ts
 * isGpuTensor(tensor([1, 2])); // false
 * ```
 */
export function isGpuTensor(value: unknown): value is GpuTensor {
  return value !== null && typeof value === 'object' && isGpuBuffer((value as { buffer?: unknown }).buffer)
    && Array.isArray((value as { shape?: unknown }).shape);
}

function isGpuBuffer(value: unknown): value is GPUBuffer {
  return value !== null && typeof value === 'object' && typeof (value as GPUBuffer).mapAsync === 'function'
    && typeof (value as GPUBuffer).usage === 'number';
}
