// One tensor, in detail: per-channel error (SQNR from the report, or MSE from errorStats, optionally on a log
// scale, optionally against a second scheme; bars coloured by SQNR band), the scales per channel or group, a
// histogram of one channel (or of one group of it, picked) with that block's quantization grid, and a heatmap
// of |error|. The QTensor is what the compressed file holds (read back with describeQdqWeights for ONNX); the
// original is read from the loaded model.
import { type OpOptions, type QTensor, dequantize, dtypeInfo, errorStats, getBackend, tensor } from '../src/index.js';
import { type CompressionPolicy, type TensorReport, type WeightDecision, quantizeWeight } from '../src/models.js';
import { cssColour, drawChannelChart, drawHeatmap, drawHistogram } from './charts.js';
import { SQNR_BANDS, bandColourVar, sqnrBand } from './quality.js';
import { formatDb } from './report-view.js';
import { channelBlocks, channelSlice } from './scale-blocks.js';

export interface TensorSource {
  report: TensorReport;
  original: Float32Array;
  q: QTensor;
  /** The decision a policy makes for this tensor (for the comparison scheme). */
  decide: (policy: CompressionPolicy) => WeightDecision | undefined;
}

/**
 * The backend of the page's own weight calls (the one tensor on show, a compared scheme): the GPU wherever the
 * page has one, whatever 'auto' would choose for a compression. On the CPU a weight's work is one long task on
 * the main thread, and the page stops answering until it ends; on the GPU the page waits without blocking.
 *
 * @example
 * ```ts
 * await quantizeWeight(x, decision, {}, await pageBackend()); // { backend: 'webgpu' } in Chrome with WebGPU
 * ```
 */
export async function pageBackend(): Promise<OpOptions> {
  return { backend: await getBackend() };
}

export const COMPARE_POLICIES: Record<string, { label: string; policy: CompressionPolicy }> = {
  tensor: { label: 'int8 per tensor', policy: { dtype: 'qint8', granularity: 'tensor' } },
  channel: { label: 'int8 per channel', policy: { dtype: 'qint8', granularity: 'channel' } },
  int4g32: { label: 'int4 per group 32', policy: { dtype: 'qint4', granularity: 'group', groupSize: 32 } },
  int4c: { label: 'int4 per channel', policy: { dtype: 'qint4', granularity: 'channel' } },
};

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** What the view shows; `group` indexes the blocks (groups) of the selected channel. */
export interface ViewState { metric: 'sqnr' | 'mse'; log: boolean; compare: string; channel: number; group: number }

export interface DrawnView {
  heatmapMs: number; channels: number; compareSqnr?: Float64Array;
  /** The blocks (groups) of the selected channel, the one drawn in the histogram, and the axis labels drawn. */
  groups: number; group: number; yTicks: string[]; xTicks: string[]; histogramTicks: string[];
}

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
      const result = await quantizeWeight(tensor(source.original, [...source.report.shape]), decision, {}, await pageBackend());
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
  // The legend names the scheme without its symmetry and calibration ("qint4 per group (axis 2, groupSize 32)").
  const series = primary ? [{ label: r.scheme.replace(/, (symmetric|affine)\b.*$/, ''), values: primary }] : [];
  if (compared && typeof compared !== 'string') {
    series.push({ label: COMPARE_POLICIES[state.compare]!.label, values: state.metric === 'sqnr' ? compared.sqnrDb : compared.mse });
  }
  const canvas = $<HTMLCanvasElement>('channel-chart');
  const bands = Object.fromEntries(SQNR_BANDS.map((b) => [b.band, cssColour(bandColourVar(b.band), '#888')]));
  const drawn = drawChannelChart(canvas, {
    series,
    yTitle: state.metric === 'sqnr' ? 'SQNR (dB)' : `MSE${state.log ? ' (log scale)' : ''}`,
    xTitle: `channel (index along axis ${axis})`,
    log: state.metric === 'mse' && state.log, selected: channel,
    ...(state.metric === 'sqnr' ? { barColour: (v: number) => bands[sqnrBand(v) ?? 'good'], legendColour: bands.good, guides: SQNR_BANDS.slice(0, -1).map((b) => b.below) } : {}),
  });
  canvas.onclick = (event) => onPick(drawn.pick(event.offsetX));
  const sqnrHere = r.perChannelSqnrDb?.[channel];
  const metricHere = state.metric === 'sqnr' ? `SQNR ${formatDb(sqnrHere)}` : `MSE ${d.mse?.[channel]?.toExponential(3) ?? '—'} (SQNR ${formatDb(sqnrHere)})`;
  let caption = primary ? `${channels} channels along axis ${axis}. Channel ${channel}: ${metricHere}` : 'No per-channel statistics for this tensor.';
  if (compared && typeof compared !== 'string') {
    const other = state.metric === 'sqnr' ? formatDb(compared.sqnrDb[channel]) : `MSE ${compared.mse[channel]?.toExponential(3)}`;
    caption += `; with ${COMPARE_POLICIES[state.compare]!.label}: ${other}`;
  }
  if (typeof compared === 'string') caption += ` Comparison not available: ${compared}.`;
  if (state.metric === 'sqnr' && primary) caption += `. Bars coloured by SQNR band; dashed lines at ${SQNR_BANDS.slice(0, -1).map((b) => b.below).join(' and ')} dB.`;
  $('channel-caption').textContent = caption;

  // Scales (per channel or per group), and the chosen channel's parameters.
  const q = source.q;
  const scheme = q.qscheme();
  const scales = scheme === 'per_tensor_affine' ? Float64Array.of(q.qScale()) : scheme === 'per_channel_affine' ? q.qPerChannelScales() : q.qPerGroupScales();
  const zeroPoints = scheme === 'per_tensor_affine' ? Int32Array.of(q.qZeroPoint()) : scheme === 'per_channel_affine' ? q.qPerChannelZeroPoints() : q.qPerGroupZeroPoints();
  const perGroup = scheme === 'per_group_affine';
  drawChannelChart($<HTMLCanvasElement>('scale-chart'), {
    series: [{ label: 'scale', values: scales }], yTitle: 'scale',
    xTitle: perGroup ? 'group (row-major)' : scheme === 'per_channel_affine' ? `channel (index along axis ${q.qPerChannelAxis()})` : 'one scale for the tensor', height: 220,
  });
  let zpMin = Infinity;
  let zpMax = -Infinity;
  for (const z of zeroPoints) { zpMin = Math.min(zpMin, z); zpMax = Math.max(zpMax, z); }
  const { blocks, blockOf, kind } = channelBlocks(q, axis, channel);
  const group = Math.min(Math.max(0, state.group), blocks.length - 1);
  const block = blocks[group]!;
  const groupInput = $<HTMLInputElement>('group');
  $('group-field').hidden = blocks.length < 2;
  $('group-label').textContent = kind === 'group' ? `Group (of ${blocks.length} in this channel)` : `Scale (of ${blocks.length} in this channel)`;
  groupInput.max = String(blocks.length - 1);
  groupInput.value = String(group);
  const where = block.from === undefined ? 'the tensor’s scale'
    : kind === 'group' ? `group ${group} of the channel: elements ${block.from}–${block.to} along axis ${block.axis}`
      : `channel ${block.from} along axis ${block.axis}`;
  $('scale-caption').textContent = `${scales.length} scale${scales.length > 1 ? 's' : ''}; zero points ${zpMin === zpMax ? `all ${zpMin}` : `${zpMin} … ${zpMax}`}. `
    + `Channel ${channel}${blocks.length > 1 ? `, ${kind} ${group}` : ''}: scale ${block.scale.toPrecision(6)}, zero point ${block.zeroPoint} (${where}).`;

  // Histogram of the channel (or of its picked group) with that block's grid.
  const slice = channelSlice(source.original, r.shape, axis, channel);
  const values = blocks.length > 1 ? slice.filter((_, i) => blockOf[i] === group) : slice;
  const info = dtypeInfo(q.dtype);
  const grid: number[] = [];
  for (let k = info.qmin; k <= info.qmax; k++) grid.push(block.scale * (k - block.zeroPoint));
  const hist = drawHistogram($<HTMLCanvasElement>('histogram'), values, grid, 'weight value');
  $('histogram-caption').textContent = `Channel ${channel}${blocks.length > 1 ? `, ${kind} ${group} of ${blocks.length}` : ''}: ${values.length} weights; `
    + `red lines: the ${info.qmax - info.qmin + 1} levels of ${q.dtype} at scale ${block.scale.toPrecision(4)}, zero point ${block.zeroPoint}`
    + `${hist.gridStep > 1 ? ` (one line in ${hist.gridStep} drawn: the grid is finer than the screen)` : ''}.`;

  // Heatmap of |error| with the channel axis as rows.
  const rows = r.shape.length ? r.shape[0]! : 1;
  const cols = d.absError.length / rows;
  const heat = drawHeatmap($<HTMLCanvasElement>('heatmap'), d.absError, rows, cols, { rows: 'index along axis 0', cols: 'the rest, flattened', value: '|error|' });
  $('heatmap-caption').textContent = `|original − dequantized| as [${rows}, ${cols}] (the weight flattened after axis 0), max ${heat.max.toExponential(3)}; `
    + `drawn in ${heat.ms.toFixed(1)} ms.`;
  return {
    heatmapMs: heat.ms, channels, groups: blocks.length, group, yTicks: drawn.yTicks, xTicks: drawn.xTicks, histogramTicks: hist.xTicks,
    ...(compared && typeof compared !== 'string' ? { compareSqnr: compared.sqnrDb } : {}),
  };
}
