/**
 * The integer range observers and calibration quantize to, resolved as PyTorch's `calculate_qmin_qmax`
 * does it, with every option validated:
 *
 * - default: the dtype's full range (`dtypeInfo`); `reduceRange` halves it (qint8 -64..63, quint8 0..127,
 *   qint4 -4..3, quint4 0..7); PyTorch ignores `reduceRange` for qint32, and so do we.
 * - custom `quantMin` / `quantMax` (both or neither; PyTorch silently ignores just one): integers with
 *   quantMin <= 0 <= quantMax, quantMin < quantMax, inside the dtype's range (PyTorch does not check the
 *   last; the quantize functions would reject the zero points); `reduceRange` then floors both halves.
 * - symmetric zero point: 0 for signed types, 128 for quint8, floor((qmin + qmax) / 2) for quint8 with a
 *   custom range (PyTorch) and for quint4 (our choice: quint4 behaves as quint8 with the range 0..15).
 * - symmetric quint8 with reduceRange is rejected (PyTorch raises NotImplementedError).
 *
 * @example
 * ```ts
 * resolveQuantRange('qint8', { reduceRange: true });            // { qmin: -64, qmax: 63, symmetricZeroPoint: 0 }
 * resolveQuantRange('quint8', { quantMin: 0, quantMax: 15 });    // { qmin: 0, qmax: 15, symmetricZeroPoint: 7 }
 * ```
 * @module
 */
import { type QDType, dtypeInfo } from '../dtype.js';
import { InvalidArgumentError } from '../errors.js';
import type { QuantRange } from './qparams.js';

/** The range options shared by observers and chooseQParams. */
export interface QuantRangeOptions {
  /** Halve the range (PyTorch's reduce_range). Default false. */
  reduceRange?: boolean;
  /** A custom range (both or neither), e.g. 0..15 for 4-bit values stored as quint8. */
  quantMin?: number;
  quantMax?: number;
}

/**
 * Checks that `value` is undefined (false) or a boolean.
 *
 * @example
 * ```ts
 * checkOptionalBoolean(undefined, 'options.reduceRange'); // false
 * checkOptionalBoolean(1, 'options.reduceRange');         // throws InvalidArgumentError
 * ```
 */
export function checkOptionalBoolean(value: unknown, argument: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') {
    throw new InvalidArgumentError(argument, value, `${argument} is ${String(value)}; use true or false`);
  }
  return value;
}

/**
 * Rejects keys of `options` not in `known` (a misspelt option would otherwise be ignored silently).
 *
 * @example
 * ```ts
 * checkKnownKeys({ reduce_range: true }, ['reduceRange'], 'options'); // throws: options.reduce_range is not an option
 * ```
 */
export function checkKnownKeys(options: object, known: readonly string[], argument: string): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new InvalidArgumentError(`${argument}.${key}`, (options as Record<string, unknown>)[key],
        `${argument}.${key} is not an option; use ${known.join(', ')}`);
    }
  }
}

/**
 * Resolves the quantization range of `dtype` under `options` (see the module documentation). `symmetric`
 * only matters for the quint8 + reduceRange check. `argument` prefixes option names in errors.
 *
 * @example
 * ```ts
 * resolveQuantRange('qint4', {}); // { qmin: -8, qmax: 7, symmetricZeroPoint: 0 }
 * ```
 */
export function resolveQuantRange(
  dtype: QDType, options: QuantRangeOptions, symmetric = false, argument = 'options',
): QuantRange {
  const info = dtypeInfo(dtype, `${argument}.dtype`);
  const reduceRange = checkOptionalBoolean(options.reduceRange, `${argument}.reduceRange`);
  const { quantMin, quantMax } = options;
  const custom = quantMin !== undefined || quantMax !== undefined;
  if (custom) checkCustomRange(quantMin, quantMax, info.qmin, info.qmax, dtype, argument);
  if (symmetric && reduceRange && dtype === 'quint8') {
    throw new InvalidArgumentError(`${argument}.reduceRange`, true,
      `${argument}.reduceRange cannot be used with a symmetric quint8 scheme (PyTorch raises NotImplementedError); `
      + 'use qint8, an affine scheme, or quantMin / quantMax');
  }
  let qmin = custom ? quantMin! : info.qmin;
  let qmax = custom ? quantMax! : info.qmax;
  if (reduceRange && (custom || dtype !== 'qint32')) {
    qmin = Math.floor(qmin / 2);
    qmax = Math.floor(qmax / 2);
  }
  let symmetricZeroPoint = 0;
  if (!info.signed) symmetricZeroPoint = dtype === 'quint8' && !custom ? 128 : Math.floor((qmin + qmax) / 2);
  return { qmin, qmax, symmetricZeroPoint };
}

function checkCustomRange(
  quantMin: number | undefined, quantMax: number | undefined, lowest: number, highest: number, dtype: QDType, argument: string,
): void {
  for (const [name, value] of [['quantMin', quantMin], ['quantMax', quantMax]] as const) {
    if (value === undefined) {
      const other = name === 'quantMin' ? 'quantMax' : 'quantMin';
      throw new InvalidArgumentError(`${argument}.${name}`, value,
        `${argument}.${name} is missing while ${argument}.${other} is given; give both (PyTorch ignores a lone one) or neither`);
    }
    if (typeof value !== 'number' || !Number.isInteger(value) || value < lowest || value > highest) {
      throw new InvalidArgumentError(`${argument}.${name}`, value,
        `${argument}.${name} is ${String(value)}; for ${dtype} use an integer in [${lowest}, ${highest}]`);
    }
  }
  if (!(quantMin! < quantMax!)) {
    throw new InvalidArgumentError(`${argument}.quantMin`, quantMin,
      `${argument}.quantMin ${quantMin} must be less than ${argument}.quantMax ${quantMax}`);
  }
  if (quantMin! > 0 || quantMax! < 0) {
    throw new InvalidArgumentError(`${argument}.quantMin`, quantMin,
      `${argument}.quantMin / quantMax give [${quantMin}, ${quantMax}], which does not contain 0 (PyTorch requires `
      + 'quantMin <= 0 <= quantMax); '
      + `widen it, e.g. [${Math.min(quantMin!, 0)}, ${Math.max(quantMax!, 0)}]`);
  }
}
