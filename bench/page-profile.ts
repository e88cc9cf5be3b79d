// Whole-model compression of the default model (Silero VAD, the ONNX file @ricky0123/vad-web ships), timed
// from the outside in the bench page: compressOnnx end to end with backend 'webgpu', 'auto' and 'cpu', then the same
// work split into its phases by calling what compressOnnx calls, in its order, through the public API
// (OnnxModel.load, planOnnxCompression, per weight readFloat32 / chooseQParams / quantize / errorStats,
// encode). The split leaves out compressOnnx's own writing of the QDQ nodes (the end-to-end total minus the
// phases' sum shows it). runCompressCompare: compressOnnx end to end on the default model or the bench MLP
// (bench/mlp-model.mjs, 64 MiB of float32 weights), with 'webgpu' through the separate calls (each weight
// uploaded three times: the path before the chained one), 'webgpu' with two submits per weight (the parameters
// on the host between them), 'webgpu' (one submit), 'auto' and 'cpu', in interleaved rounds.
import { type Backend, chooseQParams, errorStats, quantizePerChannel, quantizePerGroup, quantizePerTensor } from 'webgpu-quant';
import { OnnxModel, compressOnnx, planOnnxCompression } from 'webgpu-quant/models';
import { AUTO_GPU_MIN_ELEMENTS, calibrationGranularity, gpuWeightChain, onnx } from 'webgpu-quant/internals';
import { mlpModel } from './mlp-model.mjs';

export const DEFAULT_MODEL_URL = '/node_modules/@ricky0123/vad-web/dist/silero_vad_legacy.onnx';

export interface CompressProfile {
  backend: Backend;
  modelBytes: number;
  weights: number;
  quantized: number;
  /** compressOnnx end to end, ms, per timed call (after one warm-up call). */
  totalMs: number[];
  /** Per phase, ms summed over the model's weights, per timed repetition. */
  phasesMs: Record<'load' | 'plan' | 'readFloat32' | 'chooseQParams' | 'quantize' | 'errorStats' | 'encode', number[]>;
  /** The weight whose quantize + errorStats took longest in the last repetition, and how long. */
  slowest: { name: string; elements: number; ms: number };
}

export async function runCompressProfile(c: { backend: Backend; reps: number }): Promise<CompressProfile> {
  const response = await fetch(DEFAULT_MODEL_URL);
  if (!response.ok) throw new Error(`${DEFAULT_MODEL_URL}: HTTP ${response.status}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  const opAll = { backend: c.backend };
  const totalMs: number[] = [];
  for (let i = 0; i <= c.reps; i++) {
    const t0 = performance.now();
    await compressOnnx(bytes, {}, opAll);
    if (i > 0) totalMs.push(performance.now() - t0);
  }
  const phasesMs: CompressProfile['phasesMs'] = { load: [], plan: [], readFloat32: [], chooseQParams: [], quantize: [], errorStats: [], encode: [] };
  let weights = 0;
  let quantized = 0;
  let slowest = { name: '', elements: 0, ms: 0 };
  for (let i = 0; i <= c.reps; i++) {
    const sums = { load: 0, plan: 0, readFloat32: 0, chooseQParams: 0, quantize: 0, errorStats: 0, encode: 0 };
    let t = performance.now();
    const lap = (phase: keyof typeof sums): number => {
      const now = performance.now();
      const ms = now - t;
      sums[phase] += ms;
      t = now;
      return ms;
    };
    const model = await OnnxModel.load(bytes.slice(), { name: 'default model' });
    lap('load');
    const list = model.list();
    const plan = planOnnxCompression(model, {});
    lap('plan');
    weights = list.length;
    quantized = 0;
    for (const [w, decision] of plan.decisions.entries()) {
      if (decision.action !== 'quantize') continue;
      quantized++;
      const info = list[w]!;
      const x = { data: await model.readFloat32(info.name), shape: info.shape };
      lap('readFloat32');
      // As quantizeWeight does: under 'auto', small weights on the CPU.
      const op = c.backend === 'auto' && x.data.length < AUTO_GPU_MIN_ELEMENTS ? { backend: 'cpu' as const } : opAll;
      const granularity = calibrationGranularity(decision);
      const q0 = await chooseQParams(x, { dtype: decision.dtype, granularity, symmetric: decision.symmetric, method: decision.method }, op);
      lap('chooseQParams');
      const scales = 'scales' in q0 ? q0.scales : Float32Array.of(q0.scale);
      const zeroPoints = 'zeroPoints' in q0 ? q0.zeroPoints : Int32Array.of(q0.zeroPoint);
      const q = granularity === 'per_tensor' ? await quantizePerTensor(x, scales[0]!, zeroPoints[0]!, decision.dtype, op)
        : 'groupSize' in granularity ? await quantizePerGroup(x, scales, zeroPoints, granularity.axis, granularity.groupSize, decision.dtype, op)
          : await quantizePerChannel(x, scales, zeroPoints, granularity.axis, decision.dtype, op);
      const quantizeMs = lap('quantize');
      const statsAxis = decision.outputAxis ?? (decision.granularity === 'channel' ? decision.axis : undefined);
      await errorStats(x, q, statsAxis === undefined ? {} : { axis: statsAxis }, op);
      const statsMs = lap('errorStats');
      if (i === c.reps && quantizeMs + statsMs > slowest.ms) slowest = { name: info.name, elements: x.data.length, ms: quantizeMs + statsMs };
    }
    model.encode();
    lap('encode');
    if (i > 0) for (const [phase, ms] of Object.entries(sums)) phasesMs[phase as keyof typeof sums].push(ms);
  }
  return { backend: c.backend, modelBytes: bytes.byteLength, weights, quantized, totalMs, phasesMs, slowest };
}

/** One configuration of {@link runCompressCompare}. */
export type CompareConfig = 'webgpu (separate calls)' | 'webgpu (two submits)' | 'webgpu' | 'auto' | 'cpu';

export interface CompressCompare {
  model: 'default' | 'mlp';
  modelBytes: number;
  /** compressOnnx end to end, ms, per round, per configuration. */
  ms: Record<CompareConfig, number[]>;
  /** The output bytes of every configuration are identical (checked on the warm-up call). */
  identical: boolean;
}

/**
 * compressOnnx on `model` under each configuration, one warm-up call each, then `reps` rounds running every
 * configuration once, the order rotated each round (a software adapter's speed drifts with the host's load,
 * so configurations are compared within rounds).
 */
export async function runCompressCompare(c: { model: 'default' | 'mlp'; reps: number }): Promise<CompressCompare> {
  let bytes: Uint8Array;
  if (c.model === 'mlp') {
    bytes = mlpModel(onnx) as Uint8Array;
  } else {
    const response = await fetch(DEFAULT_MODEL_URL);
    if (!response.ok) throw new Error(`${DEFAULT_MODEL_URL}: HTTP ${response.status}`);
    bytes = new Uint8Array(await response.arrayBuffer());
  }
  const configs: CompareConfig[] = ['webgpu (separate calls)', 'webgpu (two submits)', 'webgpu', 'auto', 'cpu'];
  const run = async (config: CompareConfig): Promise<{ ms: number; output: Uint8Array }> => {
    gpuWeightChain.enabled = config !== 'webgpu (separate calls)';
    gpuWeightChain.oneSubmit = config !== 'webgpu (two submits)';
    try {
      const backend: Backend = config.startsWith('webgpu') ? 'webgpu' : config as Backend;
      const t0 = performance.now();
      const result = await compressOnnx(bytes, {}, { backend });
      return { ms: performance.now() - t0, output: result.model };
    } finally {
      gpuWeightChain.enabled = true;
      gpuWeightChain.oneSubmit = true;
    }
  };
  let identical = true;
  let first: Uint8Array | undefined;
  for (const config of configs) {
    const { output } = await run(config);
    if (!first) first = output;
    else identical &&= output.length === first.length && output.every((b, i) => b === first![i]);
  }
  const ms = Object.fromEntries(configs.map((k) => [k, [] as number[]])) as Record<CompareConfig, number[]>;
  for (let round = 0; round < c.reps; round++) {
    const order = configs.map((_, i) => configs[(i + round) % configs.length]!);
    for (const config of round % 2 ? order.reverse() : order) ms[config].push((await run(config)).ms);
  }
  return { model: c.model, modelBytes: bytes.byteLength, ms, identical };
}
