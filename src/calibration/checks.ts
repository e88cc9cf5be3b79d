/**
 * The data checks of observers and calibration, shared by the CPU and GPU paths so both reject the same
 * inputs with the same typed errors: NaN anywhere (PyTorch's observers assert), and, where parameters are
 * computed, infinite values or a range too wide for a float32 scale.
 *
 * @example
 * ```ts
 * throwIfNaN(3, 'x'); // throws InvalidArgumentError: x.data[3] is NaN ...
 * throwIfNaN(-1, 'x'); // ok
 * ```
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import type { ReductionLayout } from './granularity.js';

/**
 * Throws when `firstNaN` (a flat index, or -1) points at a NaN of `argument`.
 *
 * @example
 * ```ts
 * throwIfNaN(-1, 'x'); // returns
 * throwIfNaN(7, 'x');  // throws InvalidArgumentError, .argument 'x.data[7]'
 * ```
 */
export function throwIfNaN(firstNaN: number, argument: string): void {
  if (firstNaN < 0) return;
  throw new InvalidArgumentError(`${argument}.data[${firstNaN}]`, NaN,
    `${argument}.data[${firstNaN}] is NaN (the first NaN of ${argument}); observers and calibration need NaN-free data `
    + '(PyTorch asserts); remove or replace the NaNs first');
}

/**
 * Names output `w` for messages.
 *
 * @example
 * ```ts
 * describeOutput(reductionLayout([4, 5], { axis: 0 }), 3); // 'channel 3 (axis 0)'
 * ```
 */
export function describeOutput(layout: ReductionLayout, w: number): string {
  if (layout.axis === undefined) return 'the tensor';
  return layout.family === 'channel' ? `channel ${w} (axis ${layout.axis})` : `group parameter ${w} (axis ${layout.axis})`;
}

/**
 * Throws unless output `w`'s range [min, max] is finite and its scale (already computed) is a finite
 * float32 value, naming `argument` and the offending output.
 *
 * @example
 * ```ts
 * checkRange(-1, Infinity, Infinity, layout, 0, 'x'); // throws: x holds Infinity (in the tensor) ...
 * ```
 */
export function checkRange(min: number, max: number, scale: number, layout: ReductionLayout, w: number, argument: string): void {
  if (Number.isFinite(min) && Number.isFinite(max) && Number.isFinite(scale)) return; // no name built for a range that passes
  const where = describeOutput(layout, w);
  if (!Number.isFinite(min) || !Number.isFinite(max)) {
    const value = Number.isFinite(min) ? max : min;
    throw new InvalidArgumentError(argument, value,
      `${argument} holds ${value} (in ${where}): a scale needs a finite range; clip or remove the infinities first`);
  }
  if (!Number.isFinite(scale)) {
    throw new InvalidArgumentError(argument, [min, max],
      `${argument}'s range [${min}, ${max}] (in ${where}) is too wide: its scale overflows float32; rescale the data`);
  }
}
