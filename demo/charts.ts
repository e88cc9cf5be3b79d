// The app's charts, drawn on <canvas> with no dependency: a per-channel series chart (bars plus an optional
// second series as a line), a heatmap and a histogram with grid lines. Measured: a 512×512 heatmap draws in a
// few milliseconds (the test records it), so a chart library would add weight without adding speed.

/** Theme colours from the CSS custom properties, read at draw time so light/dark both work. */
function colours(): Record<'fg' | 'muted' | 'line' | 'a' | 'b' | 'grid' | 'sel', string> {
  const style = getComputedStyle(document.documentElement);
  const get = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback;
  return {
    fg: get('--fg', '#222'), muted: get('--muted', '#666'), line: get('--line', '#8884'), a: get('--series-a', '#2f6fdf'),
    b: get('--series-b', '#e07b00'), grid: get('--grid', '#d03050'), sel: get('--sel', '#1a7f37'),
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

function formatTick(v: number, log: boolean): string {
  if (log) return `1e${Math.round(v)}`;
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-2 || a >= 1e5) ? v.toExponential(1) : String(Number(v.toPrecision(3)));
}

export interface Series { label: string; values: ArrayLike<number> }

export interface ChannelChartOptions {
  series: Series[];
  yLabel: string;
  /** Plot log10 of the values (for MSE). */
  log?: boolean;
  selected?: number;
  height?: number;
}

/**
 * Per-channel chart: series 0 as bars, series 1 (if any) as a line with dots. ±Infinity and NaN are left out
 * (an exact channel has SQNR +Infinity). Returns a function mapping a CSS x position to a channel index.
 */
export function drawChannelChart(canvas: HTMLCanvasElement, options: ChannelChartOptions): (x: number) => number {
  const { ctx, width, height } = prepare(canvas, options.height ?? 220);
  const c = colours();
  const n = Math.max(...options.series.map((s) => s.values.length), 1);
  const transform = (v: number) => (options.log ? (v > 0 ? Math.log10(v) : Number.NaN) : v);
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of options.series) {
    for (let i = 0; i < s.values.length; i++) {
      const v = transform(s.values[i]!);
      if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    }
  }
  if (!Number.isFinite(lo)) { lo = 0; hi = 1; }
  if (!options.log) lo = Math.min(lo, 0);
  if (options.log) { lo = Math.floor(lo); hi = Math.ceil(hi); }
  if (hi - lo < 1e-12) hi = lo + 1;
  const left = 52;
  const right = 8;
  const top = 22;
  const bottom = 24;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const xOf = (i: number) => left + ((i + 0.5) / n) * plotW;
  const yOf = (v: number) => top + plotH - ((v - lo) / (hi - lo)) * plotH;
  // Axes and ticks.
  ctx.strokeStyle = c.line;
  ctx.fillStyle = c.muted;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  const ticks = 5;
  for (let t = 0; t <= ticks; t++) {
    const v = lo + ((hi - lo) * t) / ticks;
    const y = yOf(v);
    ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(width - right, y); ctx.stroke();
    ctx.fillText(formatTick(v, options.log ?? false), left - 4, y);
  }
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  const step = Math.max(1, Math.ceil(n / 10));
  for (let i = 0; i < n; i += step) ctx.fillText(String(i), xOf(i), top + plotH + 6);
  ctx.textAlign = 'left';
  ctx.fillStyle = c.fg;
  ctx.fillText(options.yLabel, 4, 4);
  // Series 0: bars.
  const barW = Math.max(1, (plotW / n) * 0.8);
  const base = yOf(options.log ? lo : Math.max(lo, 0));
  if (options.series[0]) {
    ctx.fillStyle = c.a;
    const s = options.series[0].values;
    for (let i = 0; i < s.length; i++) {
      const v = transform(s[i]!);
      if (!Number.isFinite(v)) continue;
      const y = yOf(v);
      ctx.fillRect(xOf(i) - barW / 2, Math.min(y, base), barW, Math.max(1, Math.abs(base - y)));
    }
  }
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
  // Selected channel marker.
  if (options.selected !== undefined && options.selected < n) {
    ctx.strokeStyle = c.sel;
    ctx.setLineDash([4, 3]);
    ctx.beginPath(); ctx.moveTo(xOf(options.selected), top); ctx.lineTo(xOf(options.selected), top + plotH); ctx.stroke();
    ctx.setLineDash([]);
  }
  // Legend.
  ctx.textAlign = 'right';
  let lx = width - right;
  for (const [k, s] of [...options.series.entries()].reverse()) {
    const w = ctx.measureText(s.label).width;
    ctx.fillStyle = c.fg;
    ctx.fillText(s.label, lx, 4);
    ctx.fillStyle = k === 0 ? c.a : c.b;
    ctx.fillRect(lx - w - 14, 6, 10, 8);
    lx -= w + 26;
  }
  return (x: number) => Math.min(n - 1, Math.max(0, Math.floor(((x - left) / plotW) * n)));
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
export function drawHeatmap(canvas: HTMLCanvasElement, values: ArrayLike<number>, rows: number, cols: number): { max: number; ms: number } {
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
  const aspect = outRows / outCols;
  const width = Math.max(200, canvas.clientWidth || canvas.parentElement?.clientWidth || 600);
  const drawW = width - 60;
  const drawH = Math.max(40, Math.min(360, drawW * aspect));
  const ready = prepare(canvas, drawH + 4);
  ready.ctx.imageSmoothingEnabled = false;
  ready.ctx.drawImage(off, 0, 2, drawW, drawH);
  // Colour bar.
  const c = colours();
  for (let y = 0; y < drawH; y++) {
    const k = Math.round((1 - y / drawH) * 255) * 3;
    ready.ctx.fillStyle = `rgb(${kRamp[k]},${kRamp[k + 1]},${kRamp[k + 2]})`;
    ready.ctx.fillRect(drawW + 8, y + 2, 10, 1);
  }
  ready.ctx.fillStyle = c.muted;
  ready.ctx.textBaseline = 'top';
  ready.ctx.fillText(max.toExponential(1), drawW + 20, 2);
  ready.ctx.textBaseline = 'bottom';
  ready.ctx.fillText('0', drawW + 20, drawH + 2);
  return { max, ms: performance.now() - started };
}

/**
 * Histogram of `values` with the quantization grid (`gridPoints`, the dequantized integers) drawn over it.
 * When the grid is denser than 3 px per step, only every k-th line is drawn; the returned `gridStep` says k.
 */
export function drawHistogram(canvas: HTMLCanvasElement, values: ArrayLike<number>, gridPoints: number[]): { gridStep: number; gridShown: number } {
  const { ctx, width, height } = prepare(canvas, 200);
  const c = colours();
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) { lo = Math.min(lo, values[i]!); hi = Math.max(hi, values[i]!); }
  if (!Number.isFinite(lo)) { lo = -1; hi = 1; }
  const pad = (hi - lo) * 0.05 || Math.abs(lo) * 0.05 || 1e-6;
  lo -= pad;
  hi += pad;
  const left = 8;
  const top = 8;
  const bottom = 22;
  const plotW = width - 2 * left;
  const plotH = height - top - bottom;
  const bins = Math.min(80, Math.max(10, Math.ceil(Math.sqrt(values.length) * 2)));
  const counts = new Uint32Array(bins);
  for (let i = 0; i < values.length; i++) counts[Math.min(bins - 1, Math.floor(((values[i]! - lo) / (hi - lo)) * bins))]!++;
  const maxCount = Math.max(1, ...counts);
  const xOf = (v: number) => left + ((v - lo) / (hi - lo)) * plotW;
  ctx.fillStyle = c.a;
  for (let b = 0; b < bins; b++) {
    const h = (counts[b]! / maxCount) * plotH;
    ctx.fillRect(left + (b / bins) * plotW + 0.5, top + plotH - h, plotW / bins - 1, h);
  }
  const visible = gridPoints.filter((g) => g >= lo && g <= hi).sort((a, b) => a - b);
  const spacing = visible.length > 1 ? plotW / ((hi - lo) / (visible[1]! - visible[0]!)) : plotW;
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
  ctx.strokeStyle = c.line;
  ctx.beginPath(); ctx.moveTo(left, top + plotH); ctx.lineTo(left + plotW, top + plotH); ctx.stroke();
  ctx.fillStyle = c.muted;
  ctx.textBaseline = 'top';
  ctx.textAlign = 'left';
  ctx.fillText(formatTick(lo + pad, false), left, top + plotH + 6);
  ctx.textAlign = 'right';
  ctx.fillText(formatTick(hi - pad, false), left + plotW, top + plotH + 6);
  return { gridStep, gridShown };
}
