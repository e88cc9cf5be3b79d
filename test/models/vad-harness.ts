// Silero VAD (legacy, from @ricky0123/vad-web) run by onnxruntime-node on several deterministic 16 kHz
// signals, for comparing a compressed model with the original: speech probabilities window by window
// (512 samples, LSTM state carried), their largest and mean difference, decision flips at 0.5 and the
// Pearson correlation of the two probability tracks.
import { createRequire } from 'node:module';
import * as ort from 'onnxruntime-node';
import { rng } from '../shared/random.js';
import { VAD_WINDOW, syntheticSignal } from '../shared/vad-signal.js';

export const VAD_MODEL_PATH = createRequire(import.meta.url).resolve('@ricky0123/vad-web/dist/silero_vad_legacy.onnx');
const kRate = 16000;

function windows(samples: Float32Array): Float32Array[] {
  const out: Float32Array[] = [];
  for (let i = 0; i + VAD_WINDOW <= samples.length; i += VAD_WINDOW) out.push(samples.slice(i, i + VAD_WINDOW));
  return out;
}

/** A vowel-like voice: a glottal pulse train (f0 gliding around `f0`) through three formant resonances, syllables at `rate` Hz, pauses. */
function voice(seconds: number, f0: number, rate: number, seed: number): Float32Array {
  const next = rng(seed);
  const n = Math.round(seconds * kRate);
  const out = new Float32Array(n);
  const formants = [[700, 110], [1220, 120], [2600, 160]] as const;
  const state = formants.map(() => [0, 0]);
  let phase = 0;
  for (let i = 0; i < n; i++) {
    const t = i / kRate;
    const pitch = f0 * (1 + 0.15 * Math.sin(2 * Math.PI * 0.9 * t));
    phase += pitch / kRate;
    const pulse = phase >= 1 ? 1 : 0;
    if (phase >= 1) phase -= 1;
    const excitation = pulse + 0.02 * (next() - 0.5);
    let y = 0;
    formants.forEach(([f, bw], k) => {
      // Two-pole resonator at f with bandwidth bw.
      const r = Math.exp(-Math.PI * bw / kRate);
      const a1 = 2 * r * Math.cos(2 * Math.PI * f / kRate);
      const s = state[k]!;
      const v = excitation + a1 * s[0]! - r * r * s[1]!;
      s[1] = s[0]!;
      s[0] = v;
      y += v;
    });
    const syllable = Math.max(0, Math.sin(2 * Math.PI * rate * t)) ** 0.5;
    const phrase = (t % 1.6) < 1.1 ? 1 : 0; // a pause after each phrase
    out[i] = 0.05 * y * syllable * phrase;
  }
  return out;
}

function noise(seconds: number, level: number, seed: number, brown = false): Float32Array {
  const next = rng(seed);
  const out = new Float32Array(Math.round(seconds * kRate));
  let b = 0;
  for (let i = 0; i < out.length; i++) {
    const w = next() - 0.5;
    b = 0.98 * b + w;
    out[i] = level * (brown ? b / 4 : w);
  }
  return out;
}

function mix(...parts: Float32Array[]): Float32Array {
  const out = new Float32Array(Math.min(...parts.map((p) => p.length)));
  for (const p of parts) for (let i = 0; i < out.length; i++) out[i]! += p[i]!;
  return out;
}

/** The test signals, one list of 512-sample windows each (about 1.5 to 3 s). */
export function vadSignals(): Record<string, Float32Array[]> {
  const chord = new Float32Array(2 * kRate).map((_, i) => 0.08 * [220, 277.2, 329.6].reduce((s, f) => s + Math.sin(2 * Math.PI * f * i / kRate), 0));
  return {
    'speech-like (harmonics)': syntheticSignal(),
    'speech-like (formants, low voice)': windows(voice(3, 110, 4, 11)),
    'speech-like (formants, high voice)': windows(voice(3, 230, 5, 12)),
    'white noise': windows(noise(1.5, 0.2, 21)),
    'brown noise': windows(noise(1.5, 0.3, 22, true)),
    silence: windows(new Float32Array(1.5 * kRate)),
    'speech + white noise': windows(mix(voice(3, 150, 4, 13), noise(3, 0.1, 23))),
    'speech + music': windows(mix(voice(2, 180, 4.5, 14), chord)),
  };
}

/** Speech probabilities of `model` over one signal, state carried. */
export async function speechProbabilities(session: ort.InferenceSession, signal: Float32Array[]): Promise<Float32Array> {
  let h = new ort.Tensor('float32', new Float32Array(128), [2, 1, 64]);
  let c = new ort.Tensor('float32', new Float32Array(128), [2, 1, 64]);
  const sr = new ort.Tensor('int64', BigInt64Array.of(BigInt(kRate)), []);
  const out = new Float32Array(signal.length);
  for (const [w, x] of signal.entries()) {
    const result = await session.run({ input: new ort.Tensor('float32', x, [1, VAD_WINDOW]), sr, h, c });
    out[w] = (result.output!.data as Float32Array)[0]!;
    h = result.hn as typeof h;
    c = result.cn as typeof c;
  }
  return out;
}

/** The probabilities of `model` on every signal. */
export async function vadProbabilities(model: Uint8Array | string, signals = vadSignals()): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(model as Uint8Array);
  try {
    const out: Record<string, Float32Array> = {};
    for (const [name, signal] of Object.entries(signals)) out[name] = await speechProbabilities(session, signal);
    return out;
  } finally {
    await session.release();
  }
}

function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) { ma += a[i]! / n; mb += b[i]! / n; }
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return saa === 0 && sbb === 0 ? 1 : sab / Math.sqrt(saa * sbb);
}

/** One signal's agreement. */
export interface VadSignalAgreement { maxAbs: number; meanAbs: number; flips: number; speechWindows: number; windows: number }

/** How a compressed VAD agrees with the original: per signal, and the worst and pooled figures. */
export interface VadAgreement {
  signals: Record<string, VadSignalAgreement>;
  /** The largest |Δp| over every signal. */
  maxAbs: number;
  flips: number;
  /** Pearson correlation of all windows of all signals together. */
  correlation: number;
}

/** Compares `compressed` with `original` (bytes or paths) on every signal; `reference` reuses the original's probabilities. */
export async function vadAgreement(original: Uint8Array | string | Record<string, Float32Array>, compressed: Uint8Array,
  signals = vadSignals()): Promise<VadAgreement> {
  const reference = typeof original === 'string' || original instanceof Uint8Array ? await vadProbabilities(original, signals) : original;
  const other = await vadProbabilities(compressed, signals);
  const result: VadAgreement = { signals: {}, maxAbs: 0, flips: 0, correlation: 0 };
  const all: [number[], number[]] = [[], []];
  for (const name of Object.keys(signals)) {
    const a = reference[name]!;
    const b = other[name]!;
    let maxAbs = 0;
    let sum = 0;
    let flips = 0;
    a.forEach((p, i) => {
      const d = Math.abs(p - b[i]!);
      maxAbs = Math.max(maxAbs, d);
      sum += d;
      if ((p > 0.5) !== (b[i]! > 0.5)) flips++;
      all[0].push(p);
      all[1].push(b[i]!);
    });
    result.signals[name] = { maxAbs, meanAbs: sum / a.length, flips, speechWindows: a.filter((p) => p > 0.5).length, windows: a.length };
    result.maxAbs = Math.max(result.maxAbs, maxAbs);
    result.flips += flips;
  }
  result.correlation = correlation(all[0], all[1]);
  return result;
}

/**
 * Sample inputs for a data-driven size budget, apart from the test signals: windows of another voice, of
 * the voice over another chord, and of noise, 16 kHz, each with the LSTM state the original model carries
 * into it (the model takes other branches from a zero state, so zero states alone would leave weights unmeasured).
 */
export async function vadCalibrationSamples(model: Uint8Array | string): Promise<Record<string, ort.Tensor>[]> {
  const chord = new Float32Array(kRate).map((_, i) => 0.08 * [196, 246.9, 293.7].reduce((s, f) => s + Math.sin(2 * Math.PI * f * i / kRate), 0));
  const signals = [windows(voice(1, 135, 4.2, 31)), windows(mix(voice(1, 200, 4.8, 32), chord)), windows(noise(0.5, 0.2, 33))];
  const session = await ort.InferenceSession.create(model as Uint8Array);
  const sr = new ort.Tensor('int64', BigInt64Array.of(BigInt(kRate)), []);
  const samples: Record<string, ort.Tensor>[] = [];
  try {
    for (const signal of signals) {
      let h = new ort.Tensor('float32', new Float32Array(128), [2, 1, 64]);
      let c = new ort.Tensor('float32', new Float32Array(128), [2, 1, 64]);
      for (const [w, x] of signal.entries()) {
        const input = new ort.Tensor('float32', x, [1, VAD_WINDOW]);
        if (w % 5 === 4) samples.push({ input, sr, h, c });
        const result = await session.run({ input, sr, h, c });
        h = result.hn as typeof h;
        c = result.cn as typeof c;
      }
    }
  } finally {
    await session.release();
  }
  return samples;
}
