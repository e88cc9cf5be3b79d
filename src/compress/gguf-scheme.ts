/**
 * Which quantization settings a GGUF file can hold: ggml's Q8_0 and Q4_0 are symmetric blocks of 32
 * consecutive weights of a row, each block with its own float16 scale computed from its absolute maximum.
 * So `qint8` maps to Q8_0 and `qint4` to Q4_0, with granularity 'group', group size 32, symmetric, minmax;
 * anything else (per-channel or affine schemes, unsigned dtypes, other group sizes, mse / percentile
 * calibration, an explicit axis, a `range` other than ggml's: narrow for Q8_0, extreme for Q4_0) has no GGUF type.
 *
 * @example
 * ```ts
 * ggufSchemeProblem({ dtype: 'qint4', granularity: 'group', groupSize: 32 }); // undefined: Q4_0
 * ggufSchemeProblem({ dtype: 'quint8', granularity: 'channel' });           // 'quint8 has no GGUF type; ...'
 * ```
 * @module
 */
import type { QuantizeSettings } from './policy.js';

/** The schemes GGUF can hold, in words (for messages). */
export const GGUF_SCHEMES = 'qint8 -> Q8_0 and qint4 -> Q4_0, symmetric, in groups (blocks) of 32 along the input dimension, minmax';

/**
 * Why `settings` cannot be written as GGUF, or undefined when they can (unset fields take GGUF's values).
 *
 * @example
 * ```ts
 * ggufSchemeProblem({ dtype: 'qint8', groupSize: 64 }); // 'group size 64 has no GGUF type; ...'
 * ```
 */
export function ggufSchemeProblem(settings: QuantizeSettings): string | undefined {
  const problem = (what: string): string => `${what} has no GGUF type; GGUF holds ${GGUF_SCHEMES}`;
  const dtype = settings.dtype ?? 'qint8';
  if (dtype !== 'qint8' && dtype !== 'qint4') return problem(dtype);
  if ((settings.granularity ?? 'group') !== 'group') return problem(`granularity ${settings.granularity}`);
  if ((settings.groupSize ?? 32) !== 32) return problem(`group size ${settings.groupSize}`);
  if (settings.symmetric === false) return problem('an affine (asymmetric) scheme');
  if ((settings.calibrate ?? 'minmax') !== 'minmax') return problem(`calibration ${settings.calibrate}`);
  if (settings.axis !== undefined) return problem(`an explicit axis (${settings.axis})`);
  if (settings.quantMin !== undefined || settings.quantMax !== undefined) return problem(`a custom range [${settings.quantMin}, ${settings.quantMax}]`);
  // Q8_0 is the narrow range (amax / 127), Q4_0 the extreme one (max / -8): 'auto' resolves to exactly these.
  const range = settings.range ?? 'auto';
  if (range !== 'auto' && range !== (dtype === 'qint8' ? 'narrow' : 'extreme')) return problem(`range ${range} for ${dtype}`);
  return undefined;
}
