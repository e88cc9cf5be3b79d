// Seeded normal(0, 0.05) float32 data for the CPU benchmarks: mulberry32 and Box–Muller, so every run and every
// bench quantizes the same values.

/** `n` float32 values, normal with sigma 0.05, from `seed`. */
export function normalData(n, seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(Math.max(next(), 1e-12))) * Math.cos(2 * Math.PI * next()) * 0.05;
  return out;
}
