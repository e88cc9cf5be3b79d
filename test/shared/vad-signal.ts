// The deterministic 16 kHz test signal for the Silero VAD checks, shared by the onnxruntime-node test
// (Node) and the onnxruntime-web suite (in the page): harmonic "voiced" segments with a gliding pitch and a
// 4 Hz syllable envelope, then noise-only segments, seeded noise over all of it, 512-sample windows.
import { rng } from './random.js';

export const VAD_WINDOW = 512;

/** The synthetic signal, one Float32Array per window. */
export function syntheticSignal(windows = 48): Float32Array[] {
  const next = rng(20240607);
  const out: Float32Array[] = [];
  for (let w = 0; w < windows; w++) {
    const x = new Float32Array(VAD_WINDOW);
    const voiced = w % 12 < 8;
    for (let i = 0; i < VAD_WINDOW; i++) {
      const t = (w * VAD_WINDOW + i) / 16000;
      const f0 = 120 + 60 * Math.sin(2 * Math.PI * 0.7 * t);
      let v = 0;
      for (let k = 1; k < 12; k++) v += Math.sin(2 * Math.PI * k * f0 * t) / k;
      x[i] = (voiced ? 0.3 * v * (0.5 + 0.5 * Math.sin(2 * Math.PI * 4 * t)) : 0) + 0.02 * (next() - 0.5);
    }
    out.push(x);
  }
  return out;
}

/** How far two runs' speech probabilities are apart, and how many speech/non-speech decisions flipped. */
export interface ProbabilityDifference { maxAbs: number; meanAbs: number; flips: number; worstWindow: number }

/** Compares speech probabilities window by window (decision threshold 0.5). */
export function compareProbabilities(original: Float32Array, other: Float32Array): ProbabilityDifference {
  let maxAbs = 0;
  let sum = 0;
  let flips = 0;
  let worstWindow = 0;
  original.forEach((p, i) => {
    const d = Math.abs(p - other[i]!);
    sum += d;
    if (d > maxAbs) { maxAbs = d; worstWindow = i; }
    if ((p > 0.5) !== (other[i]! > 0.5)) flips++;
  });
  return { maxAbs, meanAbs: sum / original.length, flips, worstWindow };
}
