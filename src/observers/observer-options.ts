/**
 * Validation of the observers' constructor options, shared by every observer class: known keys only,
 * dtype, qscheme, the quantization range (src/calibration/quant-range.ts) and the averaging constant. Each
 * problem is an InvalidArgumentError naming `options.<field>`, the value and the fix.
 *
 * @example
 * ```ts
 * resolveObserverOptions({ dtype: 'qint8', qscheme: 'per_tensor_symmetric' }, PER_TENSOR_QSCHEMES, []);
 * // { dtype: 'qint8', qscheme: 'per_tensor_symmetric', symmetric: true, range: { qmin: -128, qmax: 127, ... }, ... }
 * ```
 * @module
 */
import type { QDType } from '../dtype.js';
import { InvalidArgumentError } from '../errors.js';
import type { QuantRange } from '../calibration/qparams.js';
import { type QuantRangeOptions, checkKnownKeys, resolveQuantRange } from '../calibration/quant-range.js';

/** The schemes of each observer family, named as PyTorch's qschemes (plus per-group). */
export const PER_TENSOR_QSCHEMES = ['per_tensor_affine', 'per_tensor_symmetric'] as const;
export const PER_CHANNEL_QSCHEMES = ['per_channel_affine', 'per_channel_symmetric'] as const;
export const PER_GROUP_QSCHEMES = ['per_group_affine', 'per_group_symmetric'] as const;

/** Options every observer takes. */
export interface BaseObserverOptions extends QuantRangeOptions {
  /** The dtype the parameters are for; default 'quint8', as in PyTorch. */
  dtype?: QDType;
}

/** Options after validation. */
export interface ResolvedObserverOptions<S extends string> {
  dtype: QDType;
  qscheme: S;
  symmetric: boolean;
  reduceRange: boolean;
  range: QuantRange;
}

const kBaseKeys = ['dtype', 'qscheme', 'reduceRange', 'quantMin', 'quantMax'];

/**
 * Validates `options` for an observer whose schemes are `qschemes` (the first is the default) and whose
 * extra option names are `extraKeys` (checked by the caller).
 *
 * @example
 * ```ts
 * resolveObserverOptions({ qscheme: 'per_channel_symmetric' }, PER_CHANNEL_QSCHEMES, []).symmetric; // true
 * ```
 */
export function resolveObserverOptions<S extends string>(
  options: (BaseObserverOptions & { qscheme?: S }) | undefined, qschemes: readonly S[], extraKeys: readonly string[],
): ResolvedObserverOptions<S> {
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw new InvalidArgumentError('options', options, `options must be an object like { dtype: 'qint8', qscheme: '${qschemes[0]}' }`);
  }
  const given = options ?? {};
  checkKnownKeys(given, [...kBaseKeys, ...extraKeys], 'options');
  const qscheme = given.qscheme ?? qschemes[0]!;
  if (!qschemes.includes(qscheme)) {
    throw new InvalidArgumentError('options.qscheme', qscheme,
      `options.qscheme is ${JSON.stringify(qscheme)}; this observer takes ${qschemes.map((s) => `'${s}'`).join(' or ')}`);
  }
  const symmetric = qscheme.endsWith('symmetric');
  const dtype = given.dtype ?? 'quint8';
  const range = resolveQuantRange(dtype, given, symmetric, 'options');
  return { dtype, qscheme, symmetric, reduceRange: given.reduceRange ?? false, range };
}

/**
 * Checks a moving-average constant: a number in (0, 1]; default 0.01 as in PyTorch.
 *
 * @example
 * ```ts
 * checkAveragingConstant(undefined); // 0.01
 * checkAveragingConstant(0);         // throws InvalidArgumentError
 * ```
 */
export function checkAveragingConstant(value: unknown): number {
  if (value === undefined) return 0.01;
  if (typeof value !== 'number' || !(value > 0 && value <= 1)) {
    throw new InvalidArgumentError('options.averagingConstant', value,
      `options.averagingConstant is ${String(value)}; use a number in (0, 1], e.g. 0.01 (the weight of each new batch)`);
  }
  return value;
}

/**
 * Splits option `key` off `options` (a subclass's own option), leaving the rest for the base class. A
 * non-object `options` is passed on unchanged, for the base class to reject.
 *
 * @example
 * ```ts
 * splitOption({ dtype: 'qint8', averagingConstant: 0.1 }, 'averagingConstant'); // [0.1, { dtype: 'qint8' }]
 * ```
 */
export function splitOption<T extends object, K extends string>(options: T | undefined, key: K): [unknown, T | undefined] {
  if (options === undefined || options === null || typeof options !== 'object') return [undefined, options];
  const { [key]: value, ...rest } = options as Record<string, unknown>;
  return [value, rest as T];
}
