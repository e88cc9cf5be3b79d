/**
 * Argument checks of {@link errorStats}, shared by the CPU reference and the GPU path so both reject the
 * same inputs with the same typed errors, before any GPU is acquired.
 *
 * @example
 * ```ts
 * const request = checkErrorStatsArguments(tensor([1, 2]), tensor([1, 2.5]), { axis: 0 });
 * request.axis; // 0
 * ```
 * @module
 */
import type { IntReprArray } from '../dtype.js';
import { InvalidArgumentError } from '../errors.js';
import { QTensor } from '../qtensor.js';
import { type Tensor, checkTensor } from '../tensor.js';
import { normalizeAxis } from '../validate.js';
import { type QuantGrid, quantGrid } from './quant-grid.js';
import type { ErrorStatsOptions } from './types.js';

/** The validated arguments. */
export interface ErrorStatsRequest {
  readonly original: Float32Array;
  readonly shape: readonly number[];
  readonly size: number;
  /** The statistics axis (non-negative), when given. */
  readonly axis?: number;
  readonly groupSize?: number;
  /** x̂ given directly (a plain Tensor: no grid), or stored integers and their grid (a QTensor). */
  readonly quantized:
    | { readonly kind: 'values'; readonly data: Float32Array }
    | {
      readonly kind: 'grid';
      /** One integer per element (for a tensor holding 4-bit integers packed, unpacked when first read). */
      readonly ints: Readonly<IntReprArray>;
      readonly grid: QuantGrid;
      /** 4-bit integers as the tensor holds them, packed two to a byte (element 0 in the low nibble), if it does. */
      readonly nibbles?: { readonly packed: Uint8Array; readonly signed: boolean };
    };
}

/** The grid request of a QTensor: a tensor holding 4-bit integers packed lends them so, unpacked only if asked for. */
function gridRequest(q: QTensor): ErrorStatsRequest['quantized'] {
  const packed = q.packedNibbles;
  const grid = quantGrid(q);
  return packed
    ? { kind: 'grid', grid, nibbles: { packed, signed: q.dtype === 'qint4' }, get ints() { return q.intReprView(); } }
    : { kind: 'grid', grid, ints: q.intReprView() };
}

function describe(value: unknown): string {
  return Array.isArray(value) ? `[${value.join(', ')}]` : String(value);
}

/** The index of the first NaN in `data`, or -1 (a plain loop; callers may pass a faster one with the same answer). */
function firstNaNLoop(data: Float32Array): number {
  // eslint-disable-next-line no-self-compare
  for (let i = 0; i < data.length; i++) if (data[i] !== data[i]) return i;
  return -1;
}

/**
 * The error for a NaN at `argument[i]` (`argument` names the array, such as `'original.data'`).
 *
 * @example
 * ```ts
 * throw nanArgumentError('original.data', 7); // InvalidArgumentError: original.data[7] is NaN; ...
 * ```
 */
export function nanArgumentError(argument: string, i: number): InvalidArgumentError {
  return new InvalidArgumentError(`${argument}[${i}]`, NaN,
    `${argument}[${i}] is NaN; error statistics need numbers: replace or drop the NaN values first`);
}

/** Throws naming `argument[i]` at the first NaN of `data`. */
function rejectNaN(data: Float32Array, argument: string, firstNaN: (data: Float32Array) => number): void {
  const i = firstNaN(data);
  if (i >= 0) throw nanArgumentError(argument, i);
}

/**
 * Validates the arguments of {@link errorStats} (see there) and returns them resolved. `firstNaN` finds the
 * first NaN of an array (-1 when none); the default is a plain loop.
 *
 * @example
 * ```ts
 * checkErrorStatsArguments(tensor([1, NaN]), tensor([1, 1]));
 * // throws InvalidArgumentError: original.data[1] is NaN; ...
 * ```
 */
export function checkErrorStatsArguments(
  original: Tensor, quantized: QTensor | Tensor, opts: ErrorStatsOptions | undefined, firstNaN = firstNaNLoop,
): ErrorStatsRequest {
  const size = checkTensor(original, 'original');
  const isQ = quantized instanceof QTensor;
  if (!isQ && (quantized === null || typeof quantized !== 'object' || !((quantized as Tensor).data instanceof Float32Array))) {
    throw new InvalidArgumentError('quantized', quantized,
      `quantized is ${describe(quantized)}; pass a QTensor (from quantizePerTensor, quantizePerChannel or fromIntRepr) `
      + 'or a Tensor { data: Float32Array, shape } of dequantized values');
  }
  if (!isQ) checkTensor(quantized, 'quantized');
  const quantizedShape = isQ ? quantized.shape : (quantized as Tensor).shape;
  if (quantizedShape.length !== original.shape.length || quantizedShape.some((d, i) => d !== original.shape[i])) {
    throw new InvalidArgumentError('quantized.shape', [...quantizedShape],
      `quantized.shape [${quantizedShape.join(', ')}] differs from original.shape [${original.shape.join(', ')}]; `
      + 'pass the quantized version of original itself');
  }
  if (opts !== undefined && (opts === null || typeof opts !== 'object')) {
    throw new InvalidArgumentError('opts', opts, `opts is ${describe(opts)}; pass an object like { axis: 0, groupSize: 32 } or nothing`);
  }
  const axis = opts?.axis === undefined ? undefined : normalizeAxis(opts.axis, original.shape.length, 'opts.axis');
  const groupSize = opts?.groupSize;
  if (groupSize !== undefined) {
    if (typeof groupSize !== 'number' || !Number.isSafeInteger(groupSize) || groupSize < 1) {
      throw new InvalidArgumentError('opts.groupSize', groupSize,
        `opts.groupSize is ${describe(groupSize)}; use a positive integer such as 32, 64 or 128`);
    }
    if (axis === undefined) {
      throw new InvalidArgumentError('opts.groupSize', groupSize,
        `opts.groupSize ${groupSize} needs opts.axis (groups are blocks along an axis); pass { axis, groupSize }`);
    }
  }
  rejectNaN(original.data, 'original.data', firstNaN);
  if (!isQ) rejectNaN((quantized as Tensor).data, 'quantized.data', firstNaN);
  return {
    original: original.data,
    shape: [...original.shape],
    size,
    ...(axis === undefined ? {} : { axis }),
    ...(groupSize === undefined ? {} : { groupSize }),
    quantized: isQ
      ? gridRequest(quantized)
      : { kind: 'values', data: (quantized as Tensor).data },
  };
}
