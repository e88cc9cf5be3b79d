/**
 * The nearest word to a mistyped one, for "did you mean" hints: optimal string alignment distance
 * (insertions, deletions, substitutions and swaps of neighbours each cost 1), with a unique prefix
 * winning outright (`--dt` means `--dtype`).
 *
 * @example
 * ```ts
 * nearestWord('dtyp', ['dtype', 'axis', 'output']);  // 'dtype'
 * nearestWord('frobnicate', ['dtype', 'axis']);      // undefined: nothing close
 * ```
 * @module
 */

/**
 * The optimal string alignment distance between `a` and `b`.
 *
 * @example
 * ```ts
 * editDistance('symetric', 'symmetric'); // 1
 * editDistance('ofrmat', 'format');      // 1 (a swap)
 * ```
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[rows - 1]![cols - 1]!;
}

/**
 * The candidate nearest to `word`, or undefined when none is close (more than a third of the word, and at
 * least 2 edits, away). Ties go to the earlier candidate, so list the likelier ones first.
 *
 * @example
 * ```ts
 * nearestWord('granulartiy', ['group-size', 'granularity']); // 'granularity'
 * ```
 */
export function nearestWord(word: string, candidates: readonly string[]): string | undefined {
  const prefixed = candidates.filter((c) => word.length >= 2 && c.startsWith(word));
  if (prefixed.length === 1) return prefixed[0];
  const limit = Math.max(2, Math.floor(word.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= limit ? best : undefined;
}
