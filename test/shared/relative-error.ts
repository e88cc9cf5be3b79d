// Measures of how far a model's output is from a reference's, shared by the tests and the bench:
// max |a − b| / max |b| (the largest difference relative to the reference's largest magnitude), and
// ‖a − b‖ / ‖b‖ (the root of the summed squares: steadier from input to input than the maximum).

/** max |a - b| / max |b|; `a` and `b` have the same length. */
export function maxRelativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let peak = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    peak = Math.max(peak, Math.abs(b[i]!));
  }
  return diff / peak;
}

/** ‖a − b‖₂ / ‖b‖₂; `a` and `b` have the same length. */
export function rmsRelativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i]! - b[i]!) ** 2;
    norm += b[i]! ** 2;
  }
  return Math.sqrt(diff / norm);
}
