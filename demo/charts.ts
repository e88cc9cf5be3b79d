// The app's charts, drawn on <canvas> with no dependency: a per-channel series chart (bars plus an optional
// second series as a line), a heatmap, a histogram with the quantization grid over it, and a labelled
// scatter plot (the scheme comparison). Every axis has a
// title and ticks on 1-2-5 steps (ticks.ts). Why no chart library: docs/app.md, "Charts".
import { type Axis, formatTick, linearAxis, logAxis } from './ticks.js';

type Colour = 'fg' | 'muted' | 'line' | 'a' | 'b' | 'grid' | 'sel';

/** A theme colour from a CSS custom property, read at draw time so light and dark both work. */
export function cssColour(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

function colours(): Record<Colour, string> {
  return {
    fg: cssColour('--fg', '#222'), muted: cssColour('--muted', '#666'), line: cssColour('--line', '#8884'), a: cssColour('--series-a', '#2f6fdf'),
    b: cssColour('--series-b', '#e07b00'), grid: cssColour('--grid', '#d03050'), sel: cssColour('--sel', '#1a7f37'),
  };
}

/** Sizes the canvas backing store to its CSS box (times devicePixelRatio) and returns a context in CSS pixels. */
function prepare(canvas: HTMLCanvasElement, cssHeight: number): { ctx: CanvasRenderingContext2D; width: number; height: number } {
  const dpr = window.devicePixelRatio || 1;
  const width = Math.max(200, canvas.clientWidth || canvas.parentElement?.clientWidth || 600);
  canvas.style.height = `${cssHeight}px`;
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(cssHeight * dpr);
  const ctx = canvas.getContext('2d')!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, cssHeight);
  ctx.font = '11px system-ui, sans-serif';
  return { ctx, width, height: cssHeight };
}

/** Room the y tick labels need (plus the rotated title beside them). */
function yAxisWidth(ctx: CanvasRenderingContext2D, axis: Axis): number {
  return 20 + Math.max(...axis.ticks.map((t) => ctx.measureText(formatTick(t, axis)).width), 10);
}

/** Grid lines and labels of a y axis, and its title rotated along the left edge. */
function drawYAxis(ctx: CanvasRenderingContext2D, axis: Axis, yOf: (v: number) => number, x0: number, x1: number, title: string, c: Record<Colour, string>): void {
  ctx.strokeStyle = c.line;
  ctx.fillStyle = c.muted;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (const t of axis.ticks) {
    const y = Math.round(yOf(t)) + 0.5;
    ctx.beginPath(); ctx.moveTo(x0, y); ctx.lineTo(x1, y); ctx.stroke();
    ctx.fillText(formatTick(t, axis), x0 - 4, y);
  }
  const [top, bottom] = [yOf(axis.hi), yOf(axis.lo)];
  ctx.save();
  ctx.translate(2, (top + bottom) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  ctx.fillStyle = c.fg;
  ctx.fillText(title, 0, 0, Math.abs(bottom - top));
  ctx.restore();
}

/** Tick labels along the bottom and the x title centred under them. */
function drawXAxis(ctx: CanvasRenderingContext2D, axis: Axis, xOf: (v: number) => number, y: number, title: string, x0: number, x1: number, c: Record<Colour, string>): void {
  ctx.strokeStyle = c.line;
  ctx.beginPath(); ctx.moveTo(x0, Math.round(y) + 0.5); ctx.lineTo(x1, Math.round(y) + 0.5); ctx.stroke();
  ctx.fillStyle = c.muted;
  ctx.textBaseline = 'top';
  for (const t of axis.ticks) {
    const x = xOf(t);
    const label = formatTick(t, axis);
    const w = ctx.measureText(label).width;
    ctx.textAlign = x - w / 2 < x0 - 4 ? 'left' : x + w / 2 > x1 + 4 ? 'right' : 'center';
    ctx.fillText(label, x, y + 4);
  }
  ctx.textAlign = 'center';
  ctx.fillStyle = c.fg;
  ctx.fillText(title, (x0 + x1) / 2, y + 18, x1 - x0);
}

export interface Series { label: string; values: ArrayLike<number> }

export interface ChannelChartOptions {
  series: Series[];
  yTitle: string;
  xTitle: string;
  /** Plot log10 of the values (for MSE), with whole decades as ticks. */
  log?: boolean;
  selected?: number;
  height?: number;
  /** A colour per bar of series 0 (the SQNR bands); the series colour otherwise. */
  barColour?: (value: number, index: number) => string | undefined;
  /** Dashed horizontal lines (the band thresholds). */
  guides?: number[];
  /** The legend swatch of series 0 when its bars are coloured by `barColour`. */
  legendColour?: string;
}

/** What a chart drew, for the caption and the tests. */
export interface DrawnAxes { pick: (x: number) => number; yTicks: string[]; xTicks: string[] }

/**
 * Per-channel chart: series 0 as bars, series 1 (if any) as a line with dots. ±Infinity and NaN are left out
 * (an exact channel has SQNR +Infinity). `pick` maps a CSS x position to a channel index.
 */
export function drawChannelChart(canvas: HTMLCanvasElement, options: ChannelChartOptions): DrawnAxes {
  const { ctx, width, height } = prepare(canvas, options.height ?? 220);
  const c = colours();
  const n = Math.max(...options.series.map((s) => s.values.length), 1);
  const transform = (v: number) => (options.log ? (v > 0 ? Math.log10(v) : Number.NaN) : v);
  let min = Infinity;
  let max = -Infinity;
  for (const s of options.series) {
    for (let i = 0; i < s.values.length; i++) {
      const v = options.log ? s.values[i]! : transform(s.values[i]!);
      if (Number.isFinite(v) && (!options.log || v > 0)) { min = Math.min(min, v); max = Math.max(max, v); }
    }
  }
  if (!Number.isFinite(min)) { min = options.log ? 1 : 0; max = options.log ? 10 : 1; }
  const yAxis = options.log ? logAxis(min, max, 6) : linearAxis(Math.min(min, 0), max, 5);
  const left = yAxisWidth(ctx, yAxis);
  const right = 10;
  const top = 20;
  const bottom = 34;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const xOf = (i: number) => left + ((i + 0.5) / n) * plotW;
  const yOf = (v: number) => top + plotH - ((v - yAxis.lo) / (yAxis.hi - yAxis.lo)) * plotH;
  drawYAxis(ctx, yAxis, yOf, left, width - right, options.yTitle, c);
  const xAxis = linearAxis(0, n - 1, Math.max(2, Math.floor(plotW / 50)), { expand: false, integer: true });
  drawXAxis(ctx, xAxis, xOf, top + plotH, options.xTitle, left, width - right, c);
  // Series 0: bars from the axis base (0, or the bottom of a log axis).
  const barW = Math.max(1, (plotW / n) * 0.8);
  const base = yOf(options.log ? yAxis.lo : Math.max(yAxis.lo, 0));
  if (options.series[0]) {
    const s = options.series[0].values;
    for (let i = 0; i < s.length; i++) {
      const v = transform(s[i]!);
      if (!Number.isFinite(v)) continue;
      const y = yOf(v);
      ctx.fillStyle = options.barColour?.(s[i]!, i) ?? c.a;
      ctx.fillRect(xOf(i) - barW / 2, Math.min(y, base), barW, Math.max(1, Math.abs(base - y)));
    }
  }
  ctx.strokeStyle = c.muted;
  ctx.setLineDash([2, 3]);
  for (const g of options.guides ?? []) {
    if (g <= yAxis.lo || g >= yAxis.hi) continue;
    const y = Math.round(yOf(g)) + 0.5;
    ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(width - right, y); ctx.stroke();
  }
  ctx.setLineDash([]);
  // Series 1: line with dots.
  if (options.series[1]) {
    const s = options.series[1].values;
    ctx.strokeStyle = c.b;
    ctx.fillStyle = c.b;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    let pen = false;
    for (let i = 0; i < s.length; i++) {
      const v = transform(s[i]!);
      if (!Number.isFinite(v)) { pen = false; continue; }
      if (pen) ctx.lineTo(xOf(i), yOf(v)); else ctx.moveTo(xOf(i), yOf(v));
      pen = true;
    }
    ctx.stroke();
    if (n <= 300) for (let i = 0; i < s.length; i++) {
      const v = transform(s[i]!);
      if (Number.isFinite(v)) { ctx.beginPath(); ctx.arc(xOf(i), yOf(v), 2, 0, 2 * Math.PI); ctx.fill(); }
    }
    ctx.lineWidth = 1;
  }
  if (options.selected !== undefined && options.selected < n) {
    ctx.strokeStyle = c.sel;
    ctx.setLineDash([4, 3]);
    ctx.beginPath(); ctx.moveTo(xOf(options.selected), top); ctx.lineTo(xOf(options.selected), top + plotH); ctx.stroke();
    ctx.setLineDash([]);
  }
  // Legend, right-aligned in the top margin; labels are shortened rather than drawn over each other.
  ctx.textAlign = 'right';
  ctx.textBaseline = 'top';
  let lx = width - right;
  const room = (width - left - right) / Math.max(1, options.series.length) - 20;
  for (const [k, s] of [...options.series.entries()].reverse()) {
    const w = Math.min(room, ctx.measureText(s.label).width);
    ctx.fillStyle = c.fg;
    ctx.fillText(s.label, lx, 3, room);
    ctx.fillStyle = k === 0 ? options.legendColour ?? c.a : c.b;
    ctx.fillRect(lx - w - 14, 5, 10, 8);
    lx -= w + 26;
  }
  return {
    pick: (x: number) => Math.min(n - 1, Math.max(0, Math.floor(((x - left) / plotW) * n))),
    yTicks: yAxis.ticks.map((t) => formatTick(t, yAxis)), xTicks: xAxis.ticks.map((t) => formatTick(t, xAxis)),
  };
}

/** 256-entry colour ramp (dark blue → yellow, perceptually ordered, close to viridis). */
const kRamp: Uint8ClampedArray = (() => {
  const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const lut = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * (stops.length - 1);
    const k = Math.min(stops.length - 2, Math.floor(t));
    const f = t - k;
    for (let ch = 0; ch < 3; ch++) lut[i * 3 + ch] = stops[k]![ch]! + (stops[k + 1]![ch]! - stops[k]![ch]!) * f;
  }
  return lut;
})();

/**
 * Heatmap of `values` laid out [rows, cols], scaled to [0, max]. Larger than 512 in either dimension is
 * max-pooled into ≤ 512 bins so one large error is never averaged away. Returns the max and the drawing time.
 */
export function drawHeatmap(canvas: HTMLCanvasElement, values: ArrayLike<number>, rows: number, cols: number,
  titles: { rows: string; cols: string; value: string } = { rows: 'row', cols: 'column', value: 'value' }): { max: number; ms: number } {
  const started = performance.now();
  const outRows = Math.min(rows, 512);
  const outCols = Math.min(cols, 512);
  const pooled = new Float32Array(outRows * outCols);
  let max = 0;
  for (let r = 0; r < rows; r++) {
    const pr = Math.floor((r * outRows) / rows) * outCols;
    for (let c = 0; c < cols; c++) {
      const v = values[r * cols + c]!;
      const at = pr + Math.floor((c * outCols) / cols);
      if (v > pooled[at]!) pooled[at] = v;
      if (v > max) max = v;
    }
  }
  const image = new ImageData(outCols, outRows);
  const scale = max > 0 ? 255 / max : 0;
  for (let i = 0; i < pooled.length; i++) {
    const k = Math.min(255, Math.round(pooled[i]! * scale)) * 3;
    image.data[i * 4] = kRamp[k]!;
    image.data[i * 4 + 1] = kRamp[k + 1]!;
    image.data[i * 4 + 2] = kRamp[k + 2]!;
    image.data[i * 4 + 3] = 255;
  }
  const off = document.createElement('canvas');
  off.width = outCols;
  off.height = outRows;
  off.getContext('2d')!.putImageData(image, 0, 0);
  const width = Math.max(200, canvas.clientWidth || canvas.parentElement?.clientWidth || 600);
  const [left, top, bottom, barRoom] = [44, 4, 34, 78];
  const drawW = width - left - barRoom;
  const drawH = Math.max(40, Math.min(360, drawW * (outRows / outCols)));
  const { ctx } = prepare(canvas, top + drawH + bottom);
  const c = colours();
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(off, left, top, drawW, drawH);
  const yAxis = linearAxis(0, rows - 1, Math.max(2, Math.floor(drawH / 40)), { expand: false, integer: true });
  drawYAxis(ctx, yAxis, (r) => top + ((r + 0.5) / rows) * drawH, left, left, titles.rows, c);
  const xAxis = linearAxis(0, cols - 1, Math.max(2, Math.floor(drawW / 60)), { expand: false, integer: true });
  drawXAxis(ctx, xAxis, (k) => left + ((k + 0.5) / cols) * drawW, top + drawH, titles.cols, left, left + drawW, c);
  // Colour bar with its own value axis.
  const barX = left + drawW + 10;
  for (let y = 0; y < drawH; y++) {
    const k = Math.round((1 - y / drawH) * 255) * 3;
    ctx.fillStyle = `rgb(${kRamp[k]},${kRamp[k + 1]},${kRamp[k + 2]})`;
    ctx.fillRect(barX, top + y, 10, 1);
  }
  const valueAxis = linearAxis(0, max || 1, 4, { expand: false });
  ctx.fillStyle = c.muted;
  ctx.textAlign = 'left';
  ctx.textBaseline = 'middle';
  for (const t of valueAxis.ticks) ctx.fillText(formatTick(t, valueAxis), barX + 14, top + drawH - (t / (max || 1)) * drawH);
  ctx.fillStyle = c.fg;
  ctx.textBaseline = 'top';
  ctx.fillText(titles.value, barX, top + drawH + 18, barRoom - 12);
  return { max, ms: performance.now() - started };
}

/**
 * Histogram of `values` with the quantization grid (`gridPoints`, the dequantized integers) drawn over it.
 * When the grid is denser than 3 px per step, only every k-th line is drawn; the returned `gridStep` says k.
 */
export function drawHistogram(canvas: HTMLCanvasElement, values: ArrayLike<number>, gridPoints: number[], xTitle: string)
  : { gridStep: number; gridShown: number; xTicks: string[] } {
  const { ctx, width, height } = prepare(canvas, 220);
  const c = colours();
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) { lo = Math.min(lo, values[i]!); hi = Math.max(hi, values[i]!); }
  if (!Number.isFinite(lo)) { lo = -1; hi = 1; }
  const xAxis = linearAxis(lo, hi, Math.max(2, Math.floor(width / 90)));
  const bins = Math.min(80, Math.max(10, Math.ceil(Math.sqrt(values.length) * 2)));
  const counts = new Uint32Array(bins);
  const span = xAxis.hi - xAxis.lo;
  for (let i = 0; i < values.length; i++) counts[Math.min(bins - 1, Math.floor(((values[i]! - xAxis.lo) / span) * bins))]!++;
  const yAxis = linearAxis(0, Math.max(1, ...counts), 4, { integer: true });
  const left = yAxisWidth(ctx, yAxis);
  const [right, top, bottom] = [12, 8, 34];
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const xOf = (v: number) => left + ((v - xAxis.lo) / span) * plotW;
  const yOf = (v: number) => top + plotH - (v / yAxis.hi) * plotH;
  drawYAxis(ctx, yAxis, yOf, left, width - right, 'weights', c);
  ctx.fillStyle = c.a;
  for (let b = 0; b < bins; b++) {
    const h = plotH - (yOf(counts[b]!) - top);
    ctx.fillRect(left + (b / bins) * plotW + 0.5, top + plotH - h, plotW / bins - 1, h);
  }
  const visible = gridPoints.filter((g) => g >= xAxis.lo && g <= xAxis.hi).sort((a, b) => a - b);
  const spacing = visible.length > 1 ? plotW / (span / (visible[1]! - visible[0]!)) : plotW;
  const gridStep = Math.max(1, Math.ceil(3 / spacing));
  ctx.strokeStyle = c.grid;
  ctx.globalAlpha = 0.7;
  let gridShown = 0;
  for (let i = 0; i < visible.length; i += gridStep) {
    const x = Math.round(xOf(visible[i]!)) + 0.5;
    ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + plotH); ctx.stroke();
    gridShown++;
  }
  ctx.globalAlpha = 1;
  drawXAxis(ctx, xAxis, xOf, top + plotH, xTitle, left, width - right, c);
  return { gridStep, gridShown, xTicks: xAxis.ticks.map((t) => formatTick(t, xAxis)) };
}

export interface ScatterPoint { x: number; y: number; label: string; colour?: string; marked?: boolean }

/**
 * A labelled scatter plot (the scheme comparison: file size against SQNR). Points with a non-finite y are
 * left out; a `marked` point gets a ring. Returns the tick labels drawn, for the tests.
 */
export function drawScatter(canvas: HTMLCanvasElement, points: ScatterPoint[], titles: { x: string; y: string }): { xTicks: string[]; yTicks: string[] } {
  const { ctx, width, height } = prepare(canvas, 240);
  const c = colours();
  const shown = points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const xs = shown.map((p) => p.x);
  const ys = shown.map((p) => p.y);
  const xAxis = linearAxis(Math.min(...xs, Infinity), Math.max(...xs, -Infinity), Math.max(2, Math.floor(width / 110)));
  const yAxis = linearAxis(Math.min(...ys, Infinity), Math.max(...ys, -Infinity), 5);
  const left = yAxisWidth(ctx, yAxis);
  const [right, top, bottom] = [14, 10, 34];
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const xOf = (v: number) => left + ((v - xAxis.lo) / (xAxis.hi - xAxis.lo)) * plotW;
  const yOf = (v: number) => top + plotH - ((v - yAxis.lo) / (yAxis.hi - yAxis.lo)) * plotH;
  drawYAxis(ctx, yAxis, yOf, left, width - right, titles.y, c);
  drawXAxis(ctx, xAxis, xOf, top + plotH, titles.x, left, width - right, c);
  ctx.textBaseline = 'middle';
  for (const p of shown) {
    const [x, y] = [xOf(p.x), yOf(p.y)];
    ctx.fillStyle = p.colour ?? c.a;
    ctx.beginPath(); ctx.arc(x, y, 4, 0, 2 * Math.PI); ctx.fill();
    if (p.marked) { ctx.strokeStyle = c.fg; ctx.beginPath(); ctx.arc(x, y, 7, 0, 2 * Math.PI); ctx.stroke(); }
    const w = ctx.measureText(p.label).width;
    const onLeft = x + 10 + w > width - right;
    ctx.textAlign = onLeft ? 'right' : 'left';
    ctx.fillStyle = c.fg;
    ctx.fillText(p.label, onLeft ? x - 10 : x + 10, y);
  }
  return { xTicks: xAxis.ticks.map((t) => formatTick(t, xAxis)), yTicks: yAxis.ticks.map((t) => formatTick(t, yAxis)) };
}
