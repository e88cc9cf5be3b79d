// One measure of how far a model's output is from a reference's, shared by the tests and the bench:
// max |a − b| / max |b| (the largest difference relative to the reference's largest magnitude).

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
