// Seeded random data shared by the unit tests (Node) and the GPU suites (in the page): no imports, so both
// sides can load it.

/** Deterministic PRNG (mulberry32): the same seed gives the same sequence on every run. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A fresh seed per run (per page load in the browser), printed by the tests that use it so a failure can be
 * replayed: `TEST_SEED=<seed> npx vitest run --project unit <file>` runs the unit tests on that seed.
 */
export const RUN_SEED = seedFromEnvironment() ?? (Date.now() ^ Math.floor(Math.random() * 2 ** 31)) >>> 0;

function seedFromEnvironment(): number | undefined {
  const text = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.TEST_SEED;
  return text !== undefined && /^\d+$/.test(text) ? Number(text) >>> 0 : undefined;
}
