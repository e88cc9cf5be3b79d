/**
 * Whole-tensor scans with WebAssembly SIMD (simd-kernels.wat, scan): where the first non-finite value or the
 * first NaN is, and the largest magnitude. The same answers as the plain loops beside each function, which
 * run where WebAssembly SIMD is missing.
 *
 * @example
 * ```ts
 * firstNonFinite(Float32Array.of(1, 2, Infinity)); // 2
 * maxAbs(Float32Array.of(1, -3, 2));               // 3
 * ```
 * @module
 */
import { PIECE_ELEMENTS, simdKernels } from './simd-module.js';

/** Index of the first element that is not finite (flags 0) or NaN (flags 1), or -1; max |x| before it. */
function scan(data: Float32Array, flags: 0 | 1): { first: number; maxAbs: number } | undefined {
  const kernels = data.length === 0 ? undefined : simdKernels();
  // A held array is scanned in place, in one call; any other is copied in piece by piece.
  const at = kernels?.heldOffset(data);
  const piece = at === undefined ? Math.min(data.length, PIECE_ELEMENTS) : data.length;
  const offsets = kernels?.reserve(at === undefined ? [4, 4 * piece] : [4], [1]);
  if (!kernels || !offsets) return undefined;
  const [max, scratch] = offsets as [number, number];
  const src = at ?? scratch;
  const memory = kernels.memory.buffer;
  new Float32Array(memory, max, 1)[0] = 0;
  const source = at === undefined ? new Float32Array(memory, src, piece) : undefined;
  for (let first = 0; first < data.length; first += piece) {
    const count = Math.min(piece, data.length - first);
    source?.set(data.subarray(first, first + count));
    const found = kernels.scan(source ? src : src + 4 * first, count, flags, max);
    if (found < count) return { first: first + found, maxAbs: new Float32Array(memory, max, 1)[0]! };
  }
  return { first: -1, maxAbs: new Float32Array(memory, max, 1)[0]! };
}

/**
 * The index of the first element of `data` that is NaN or ±Infinity, or -1.
 *
 * @example
 * ```ts
 * firstNonFinite(Float32Array.of(0, -Infinity, NaN)); // 1
 * ```
 */
export function firstNonFinite(data: Float32Array): number {
  const found = scan(data, 0);
  if (found) return found.first;
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) return i;
  return -1;
}

/**
 * The index of the first NaN in `data`, or -1.
 *
 * @example
 * ```ts
 * firstNaN(Float32Array.of(Infinity, NaN)); // 1
 * ```
 */
export function firstNaN(data: Float32Array): number {
  const found = scan(data, 1);
  if (found) return found.first;
  // eslint-disable-next-line no-self-compare
  for (let i = 0; i < data.length; i++) if (data[i] !== data[i]) return i;
  return -1;
}

/**
 * max |x| over `data` (0 when empty), as `Math.max` folds it: NaN when `data` holds a NaN, Infinity when it
 * holds ±Infinity and no NaN.
 *
 * @example
 * ```ts
 * maxAbs(Float32Array.of(-0, 2, -5)); // 5
 * ```
 */
export function maxAbs(data: Float32Array): number {
  const found = scan(data, 0);
  if (found && found.first < 0) return found.maxAbs;
  let m = 0;
  for (let i = 0; i < data.length; i++) m = Math.max(m, Math.abs(data[i]!));
  return m;
}

/**
 * One pass for both: the first non-finite element's index (-1 when none) and, when there is none, max |x|
 * (as {@link maxAbs}; NaN when there is one).
 *
 * @example
 * ```ts
 * scanFinite(Float32Array.of(1, -4));      // { firstNonFinite: -1, maxAbs: 4 }
 * scanFinite(Float32Array.of(1, Infinity)); // { firstNonFinite: 1, maxAbs: NaN }
 * ```
 */
export function scanFinite(data: Float32Array): { firstNonFinite: number; maxAbs: number } {
  const found = scan(data, 0);
  if (found) return { firstNonFinite: found.first, maxAbs: found.first < 0 ? found.maxAbs : NaN };
  const first = firstNonFinite(data);
  return { firstNonFinite: first, maxAbs: first < 0 ? maxAbs(data) : NaN };
}

