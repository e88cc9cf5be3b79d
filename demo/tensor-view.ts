// One tensor, in detail: per-channel error (SQNR from the report, or MSE from errorStats, optionally on a log
// scale, optionally against a second scheme), the scales per channel or group, a histogram of one channel
// with its quantization grid, and a heatmap of |error|. The QTensor is what the compressed file holds (read
// back with readQdqWeights for ONNX); the original is read from the loaded model.
import { type QTensor, dequantize, dtypeInfo, errorStats, tensor } from '../src/index.js';
import { type CompressionPolicy, type TensorReport, type WeightDecision, quantizeWeight } from '../src/models.js';
import { drawChannelChart, drawHeatmap, drawHistogram } from './charts.js';
import { formatDb } from './report-view.js';

export interface TensorSource {
  report: TensorReport;
  original: Float32Array;
  q: QTensor;
  /** The decision a policy makes for this tensor (for the comparison scheme). */
  decide: (policy: CompressionPolicy) => WeightDecision | undefined;
}

export const COMPARE_POLICIES: Record<string, { label: string; policy: CompressionPolicy }> = {
  tensor: { label: 'int8 per tensor', policy: { dtype: 'qint8', granularity: 'tensor' } },
  channel: { label: 'int8 per channel', policy: { dtype: 'qint8', granularity: 'channel' } },
  int4g32: { label: 'int4 per group 32', policy: { dtype: 'qint4', granularity: 'group', groupSize: 32 } },
  int4c: { label: 'int4 per channel', policy: { dtype: 'qint4', granularity: 'channel' } },
};

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** Strides of a row-major shape. */
function strides(shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) out[i] = out[i + 1]! * shape[i + 1]!;
  return out;
}

/** The elements with index `channel` along `axis`. */
function channelSlice(data: Float32Array, shape: readonly number[], axis: number, channel: number): Float32Array {
  const inner = strides(shape)[axis]!;
  const dim = shape[axis]!;
  const outer = data.length / (dim * inner);
  const out = new Float32Array(outer * inner);
  for (let o = 0; o < outer; o++) out.set(data.subarray((o * dim + channel) * inner, (o * dim + channel + 1) * inner), o * inner);
  return out;
}

/** Scale and zero point that apply to the first element of `channel` along `axis` (per group: its first group). */
function paramsOfChannel(q: QTensor, axis: number, channel: number): { scale: number; zeroPoint: number; what: string } {
  const scheme = q.qscheme();
  if (scheme === 'per_tensor_affine') return { scale: q.qScale(), zeroPoint: q.qZeroPoint(), what: 'the tensor’s scale' };
  const qAxis = q.qPerChannelAxis();
  const shape = q.shape;
  // Flat index of the first element of the channel, then its coordinates.
  const coords = shape.map((_, i) => (i === axis ? channel : 0));
  if (scheme === 'per_channel_affine') {
    return { scale: q.qPerChannelScales()[coords[qAxis]!]!, zeroPoint: q.qPerChannelZeroPoints()[coords[qAxis]!]!, what: `channel ${coords[qAxis]} along axis ${qAxis}` };
  }
  const groupSize = q.qGroupSize();
  const paramShape = shape.map((d, i) => (i === qAxis ? Math.ceil(d / groupSize) : d));
  const paramCoords = coords.map((c, i) => (i === qAxis ? Math.floor(c / groupSize) : c));
  const ps = strides(paramShape);
  const at = paramCoords.reduce((sum, c, i) => sum + c * ps[i]!, 0);
  return { scale: q.qPerGroupScales()[at]!, zeroPoint: q.qPerGroupZeroPoints()[at]!, what: 'the channel’s first group' };
}

export interface ViewState { metric: 'sqnr' | 'mse'; log: boolean; compare: string; channel: number }

export interface DrawnView { heatmapMs: number; channels: number; compareSqnr?: Float64Array }

/** Caches what is slow to recompute while only the channel or the metric changes. */
interface Derived { absError: Float32Array; mse?: Float64Array; compare: Map<string, { sqnrDb: Float64Array; mse: Float64Array } | string> }
const derivedCache = new WeakMap<TensorSource, Derived>();

async function derive(source: TensorSource, state: ViewState): Promise<Derived> {
  let d = derivedCache.get(source);
  if (!d) {
    const deq = (await dequantize(source.q, { backend: 'auto' })).data;
    const absError = new Float32Array(deq.length);
    for (let i = 0; i < deq.length; i++) absError[i] = Math.abs(source.original[i]! - deq[i]!);
    d = { absError, compare: new Map() };
    derivedCache.set(source, d);
  }
  const axis = source.report.statsAxis;
  if (state.metric === 'mse' && !d.mse && axis !== undefined) {
    d.mse = (await errorStats(tensor(source.original, [...source.report.shape]), source.q, { axis }, { backend: 'auto' })).perChannel!.mse;
  }
  if (state.compare && !d.compare.has(state.compare)) {
    const decision = source.decide(COMPARE_POLICIES[state.compare]!.policy);
    if (!decision || decision.action !== 'quantize') d.compare.set(state.compare, `the policy keeps this tensor float (${decision?.reason ?? 'no decision'})`);
    else {
      const result = await quantizeWeight(tensor(source.original, [...source.report.shape]), decision, {}, { backend: 'auto' });
      if (!result.ok) d.compare.set(state.compare, result.reason);
      else if (!result.stats.perChannel) d.compare.set(state.compare, 'no per-channel statistics for this scheme');
      else d.compare.set(state.compare, { sqnrDb: result.stats.perChannel.sqnrDb, mse: result.stats.perChannel.mse });
    }
  }
  return d;
}

/** Draws the whole tensor view; returns timings and what it drew (for the test). */
export async function drawTensorView(source: TensorSource, state: ViewState, onPick: (channel: number) => void): Promise<DrawnView> {
  const r = source.report;
  const axis = r.statsAxis ?? 0;
  const channels = r.shape[axis] ?? 1;
  const channel = Math.min(Math.max(0, state.channel), channels - 1);
  const d = await derive(source, state);
  $('tensor-title').textContent = `Tensor ${r.name}`;
  $('tensor-info').textContent = `shape [${r.shape.join(', ')}], ${r.dtypeIn} → ${r.scheme}; SQNR ${formatDb(r.sqnrDb)}, MSE ${r.mse?.toExponential(3)}, `
    + `max |error| ${r.maxAbsError?.toExponential(3)}; ${r.reason}`;
  const channelInput = $<HTMLInputElement>('channel');
  channelInput.max = String(channels - 1);
  channelInput.value = String(channel);

  // Per-channel chart.
  const compared = state.compare ? d.compare.get(state.compare) : undefined;
  const primary = state.metric === 'sqnr' ? r.perChannelSqnrDb : d.mse;
  const series = primary ? [{ label: `${r.scheme.split(',')[0]}`, values: primary }] : [];
  if (compared && typeof compared !== 'string') {
    series.push({ label: COMPARE_POLICIES[state.compare]!.label, values: state.metric === 'sqnr' ? compared.sqnrDb : compared.mse });
  }
  const canvas = $<HTMLCanvasElement>('channel-chart');
  const pick = drawChannelChart(canvas, {
    series, yLabel: state.metric === 'sqnr' ? `SQNR per channel (dB), axis ${axis}` : `MSE per channel${state.log ? ' (log scale)' : ''}, axis ${axis}`,
    log: state.metric === 'mse' && state.log, selected: channel,
  });
  canvas.onclick = (event) => onPick(pick(event.offsetX));
  const sqnrHere = r.perChannelSqnrDb?.[channel];
  let caption = primary ? `${channels} channels along axis ${axis}. Channel ${channel}: SQNR ${formatDb(sqnrHere)}` : 'No per-channel statistics for this tensor.';
  if (compared && typeof compared !== 'string') caption += `; with ${COMPARE_POLICIES[state.compare]!.label}: ${formatDb(compared.sqnrDb[channel])}`;
  if (typeof compared === 'string') caption += ` Comparison not available: ${compared}.`;
  $('channel-caption').textContent = caption;

  // Scales (per channel or per group), and the chosen channel's parameters.
  const q = source.q;
  const scheme = q.qscheme();
  const scales = scheme === 'per_tensor_affine' ? Float64Array.of(q.qScale()) : scheme === 'per_channel_affine' ? q.qPerChannelScales() : q.qPerGroupScales();
  const zeroPoints = scheme === 'per_tensor_affine' ? Int32Array.of(q.qZeroPoint()) : scheme === 'per_channel_affine' ? q.qPerChannelZeroPoints() : q.qPerGroupZeroPoints();
  drawChannelChart($<HTMLCanvasElement>('scale-chart'), {
    series: [{ label: 'scale', values: scales }], yLabel: scheme === 'per_group_affine' ? `scale per group (${scales.length})` : scheme === 'per_channel_affine' ? 'scale per channel' : 'scale (one per tensor)', height: 200,
  });
  let zpMin = Infinity;
  let zpMax = -Infinity;
  for (const z of zeroPoints) { zpMin = Math.min(zpMin, z); zpMax = Math.max(zpMax, z); }
  const params = paramsOfChannel(q, axis, channel);
  $('scale-caption').textContent = `${scales.length} scale${scales.length > 1 ? 's' : ''}; zero points ${zpMin === zpMax ? `all ${zpMin}` : `${zpMin} … ${zpMax}`}. `
    + `Channel ${channel}: scale ${params.scale.toPrecision(6)}, zero point ${params.zeroPoint} (${params.what}).`;

  // Histogram of the channel with its grid.
  const values = channelSlice(source.original, r.shape, axis, channel);
  const info = dtypeInfo(q.dtype);
  const grid: number[] = [];
  for (let k = info.qmin; k <= info.qmax; k++) grid.push(params.scale * (k - params.zeroPoint));
  const hist = drawHistogram($<HTMLCanvasElement>('histogram'), values, grid);
  $('histogram-caption').textContent = `Channel ${channel}: ${values.length} weights; red lines: the ${info.qmax - info.qmin + 1} levels of ${q.dtype} at scale `
    + `${params.scale.toPrecision(4)}${hist.gridStep > 1 ? ` (one line in ${hist.gridStep} drawn: the grid is finer than the screen)` : ''}.`;

  // Heatmap of |error| with the channel axis as rows.
  const rows = r.shape.length ? r.shape[0]! : 1;
  const cols = d.absError.length / rows;
  const heat = drawHeatmap($<HTMLCanvasElement>('heatmap'), d.absError, rows, cols);
  $('heatmap-caption').textContent = `|original − dequantized| as [${rows}, ${cols}] (the weight flattened after axis 0), max ${heat.max.toExponential(3)}; `
    + `drawn in ${heat.ms.toFixed(1)} ms.`;
  return { heatmapMs: heat.ms, channels, ...(compared && typeof compared !== 'string' ? { compareSqnr: compared.sqnrDb } : {}) };
}
