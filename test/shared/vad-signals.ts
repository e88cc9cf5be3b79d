// Several 16 kHz test signals for the Silero VAD checks, each a list of 512-sample windows: speech-like
// (voiced harmonics with a gliding pitch shaped by three formant resonances, syllable and word envelopes,
// unvoiced noise bursts), noise (white and pink-ish), silence (near-zero hum), and mixtures of speech and
// noise at several levels. Seeded, so each kind is reproducible; no imports beyond the PRNG.
import { rng } from './random.js';
import { VAD_WINDOW } from './vad-signal.js';

/** The kinds of signal {@link vadSignal} makes. */
export type VadSignalKind = 'speech' | 'noise' | 'silence' | 'mixture';

const kRate = 16000;

/** A formant-shaped harmonic voice: f0 glides, three formants (Gaussian bumps over frequency) shape the harmonics. */
function voice(t: number, f0: number, formants: readonly number[]): number {
  let v = 0;
  for (let k = 1; k * f0 < 7000; k++) {
    const f = k * f0;
    let gain = 0;
    formants.forEach((center, i) => { gain += Math.exp(-(((f - center) / (90 + 60 * i)) ** 2)) / (1 + i); });
    v += (0.05 + gain) * Math.sin(2 * Math.PI * f * t + k) / Math.sqrt(k);
  }
  return v;
}

/**
 * A deterministic signal of `windows` 512-sample windows. Speech-like windows come in words of 3..6
 * syllables with pauses between; 'mixture' adds noise at a seeded level (speech-to-noise 0..20 dB).
 */
export function vadSignal(kind: VadSignalKind, seed: number, windows = 64): Float32Array[] {
  const next = rng(seed);
  const total = windows * VAD_WINDOW;
  const x = new Float32Array(total);
  const vowels = [[700, 1200, 2600], [300, 2300, 3000], [500, 900, 2400], [400, 1900, 2600], [350, 800, 2300]];
  if (kind === 'speech' || kind === 'mixture') {
    let i = Math.floor(next() * 3000);
    const baseF0 = 90 + next() * 130;
    const level = 0.1 + 0.3 * next();
    while (i < total) {
      const syllables = 3 + Math.floor(next() * 4);
      for (let s = 0; s < syllables && i < total; s++) {
        const length = Math.floor((0.12 + 0.15 * next()) * kRate);
        const formants = vowels[Math.floor(next() * vowels.length)]!;
        const burst = next() < 0.4 ? Math.floor(0.03 * kRate) : 0; // an unvoiced consonant first
        for (let j = 0; j < length && i < total; j++, i++) {
          const t = i / kRate;
          const env = Math.sin((Math.PI * j) / length) ** 0.6;
          const f0 = baseF0 * (1 + 0.15 * Math.sin(2 * Math.PI * 1.3 * t));
          x[i] = j < burst ? level * 0.5 * (next() - 0.5) : level * env * voice(t, f0, formants) / 3;
        }
      }
      i += Math.floor((0.2 + 0.5 * next()) * kRate); // a pause between words
    }
  }
  if (kind === 'noise' || kind === 'mixture') {
    const level = kind === 'noise' ? 0.02 + 0.2 * next() : 0.01 + 0.05 * next();
    let pink = 0;
    const pinkness = next();
    for (let i = 0; i < total; i++) {
      const white = next() - 0.5;
      pink = 0.97 * pink + 0.03 * white * 8;
      x[i] += level * (pinkness * pink + (1 - pinkness) * white);
    }
  }
  if (kind === 'silence') {
    for (let i = 0; i < total; i++) x[i] = 0.0005 * Math.sin(2 * Math.PI * 50 * i / kRate) + 0.0002 * (next() - 0.5);
  }
  const out: Float32Array[] = [];
  for (let w = 0; w < windows; w++) out.push(x.slice(w * VAD_WINDOW, (w + 1) * VAD_WINDOW));
  return out;
}

/** Pearson correlation of two equally long sequences (1 when both are constant and equal). */
export function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) { ma += a[i]!; mb += b[i]!; }
  ma /= n; mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i]! - ma;
    const db = b[i]! - mb;
    sab += da * db; saa += da * da; sbb += db * db;
  }
  if (saa === 0 && sbb === 0) return 1;
  return sab / Math.sqrt(saa * sbb);
}
