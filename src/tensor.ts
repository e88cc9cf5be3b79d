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
