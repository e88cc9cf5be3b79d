// What every bench page module shares: deterministic inputs and quantization parameters, repetition timing
// (timestamp queries with a wall-clock fallback), error scopes, readback and byte comparison. The modules
// that time cases (bench/page.ts, bench/page-reductions.ts) build on these; bench/run.mjs drives them.
import type { QDType } from 'webgpu-quant';

/**
 * Which quantization parameters a case uses: one pair, one per index along the first or last axis, or one
 * per group of 32 / 128 along the last axis.
 */
export type BenchLayout = 'perTensor' | 'axis0' | 'axisLast' | 'group32' | 'group128';

/** The group size of a per-group layout, else undefined. */
export const groupSizeOf = (layout: BenchLayout): number | undefined =>
  (layout === 'group32' ? 32 : layout === 'group128' ? 128 : undefined);
export type TimingMethod = 'timestamp-query' | 'onSubmittedWorkDone';

export interface RepeatOptions {
  reps: number;
  warmup: number;
  /** Ignore timestamp queries even when the device has them. */
  forceWall?: boolean;
}

export interface Timings {
  /** Per repetition, device time in ms: from timestamps, or equal to wallMs without them. */
  deviceMs: number[];
  /** Per repetition, ms from submit to onSubmittedWorkDone (one submit per repetition). */
  wallMs: number[];
  method: TimingMethod;
  /** Why the method is not timestamp-query, when it is not. */
  note?: string;
}

// ---- inputs -------------------------------------------------------------------------------------

/** Deterministic uniform floats in [-2, 2) (mulberry32): every run quantizes the same data. */
const inputCache = new Map<number, Float32Array<ArrayBuffer>>();
export function inputData(n: number): Float32Array<ArrayBuffer> {
  let data = inputCache.get(n);
  if (data) return data;
  data = new Float32Array(n);
  let a = 0x5eed;
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    data[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 4 - 2;
  }
  inputCache.clear(); // one size at a time: 16M floats are 64 MiB
  inputCache.set(n, data);
  return data;
}

export interface CaseParams {
  axis: number;
  scale: number;
  zeroPoint: number;
  scales: Float64Array;
  zeroPoints: Int32Array;
  /** Per-group layouts only. */
  groupSize?: number;
}

/** Parameters that keep most values in range (a few clamp), so every branch of the kernel runs. */
export function caseParams(c: { dtype: QDType; layout: BenchLayout; shape: readonly number[] }): CaseParams {
  const axis = c.layout === 'axis0' ? 0 : c.shape.length - 1;
  const groupSize = groupSizeOf(c.layout);
  // Per group along the last axis: one pair per group of every row (groupParamCount).
  const channels = groupSize ? c.shape.reduce((a, b) => a * b, 1) / c.shape[axis]! * Math.ceil(c.shape[axis]! / groupSize) : c.shape[axis]!;
  const wide = c.dtype === 'qint32';
  const narrow = c.dtype === 'qint4' || c.dtype === 'quint4';
  const scales = new Float64Array(channels);
  const zeroPoints = new Int32Array(channels);
  for (let ch = 0; ch < channels; ch++) {
    scales[ch] = (wide ? 1e-6 : narrow ? 0.3 : 0.016) * (1 + ((ch * 37) % 16) / 16);
    // quint8 (the dtype of the GPU-resident onnxruntime-web comparison) centres its zero points at 128.
    zeroPoints[ch] = wide ? 0 : narrow ? (ch % 3) - 1 + (c.dtype === 'quint4' ? 8 : 0) : (ch % 9) - 4 + (c.dtype === 'quint8' ? 128 : 0);
  }
  const zeroPoint = wide ? 0 : c.dtype === 'quint8' ? 131 : c.dtype === 'quint4' ? 8 : narrow ? 1 : 3;
  return { axis, scale: wide ? 1e-6 : narrow ? 0.3 : 0.02, zeroPoint, scales, zeroPoints, ...(groupSize ? { groupSize } : {}) };
}

// ---- timing -------------------------------------------------------------------------------------

export interface TimestampSlots { querySet: GPUQuerySet; begin: number; end: number }
export type Encode = (encoder: GPUCommandEncoder, slots: TimestampSlots | undefined) => void;

/**
 * Submits `warmup + reps` command buffers, one repetition each, waiting for each to finish. Timed
 * repetitions get two timestamp slots; every repetition's submit-to-done wall time is kept as well.
 */
export async function timeRepetitions(device: GPUDevice, label: string, options: RepeatOptions, encode: Encode): Promise<Timings> {
  const useTimestamps = device.features.has('timestamp-query') && !options.forceWall;
  const querySet = useTimestamps
    ? device.createQuerySet({ label: `${label}.timestamps`, type: 'timestamp', count: 2 * options.reps })
    : undefined;
  const wallMs: number[] = [];
  try {
    for (let i = 0; i < options.warmup + options.reps; i++) {
      const timed = i >= options.warmup;
      const encoder = device.createCommandEncoder({ label: `${label}.encoder` });
      const rep = i - options.warmup;
      encode(encoder, timed && querySet ? { querySet, begin: 2 * rep, end: 2 * rep + 1 } : undefined);
      const commands = encoder.finish({ label: `${label}.commands` });
      const t0 = performance.now();
      device.queue.submit([commands]);
      await device.queue.onSubmittedWorkDone();
      if (timed) wallMs.push(performance.now() - t0);
    }
    if (!querySet) {
      return { deviceMs: wallMs.slice(), wallMs, method: 'onSubmittedWorkDone', note: options.forceWall ? 'forced' : 'no timestamp-query' };
    }
    const ticks = await resolveTimestamps(device, label, querySet, 2 * options.reps);
    const deviceMs: number[] = [];
    for (let r = 0; r < options.reps; r++) deviceMs.push(Number(ticks[2 * r + 1]! - ticks[2 * r]!) / 1e6);
    if (deviceMs.some((ms, r) => !(ms > 0) || ms > wallMs[r]! * 1.05 + 0.1)) {
      // Zero, negative or longer than the whole submit: the timestamps are not trustworthy here.
      return { deviceMs: wallMs.slice(), wallMs, method: 'onSubmittedWorkDone',
        note: `timestamps implausible (${deviceMs.map((ms) => ms.toFixed(3)).join(', ')} ms)` };
    }
    return { deviceMs, wallMs, method: 'timestamp-query' };
  } finally {
    querySet?.destroy();
  }
}

/**
 * Times several encodes interleaved: each round runs every encode once (one submit each, the order
 * reversed every other round), after `warmup` rounds. On a software adapter whose speed drifts with the
 * host's load within seconds, timings taken round by round compare far better than runs minutes apart.
 */
export async function timeInterleaved(device: GPUDevice, label: string, options: RepeatOptions, encodes: Encode[]): Promise<Timings[]> {
  const once: RepeatOptions = { reps: 1, warmup: 0, forceWall: options.forceWall };
  for (let w = 0; w < options.warmup; w++) {
    for (const encode of encodes) await timeRepetitions(device, label, once, encode);
  }
  const rounds: Timings[][] = encodes.map(() => []);
  for (let r = 0; r < options.reps; r++) {
    const order = encodes.map((_, i) => i);
    if (r % 2) order.reverse();
    for (const i of order) rounds[i]!.push(await timeRepetitions(device, label, once, encodes[i]!));
  }
  return rounds.map((runs) => {
    const wall = runs.find((t) => t.method !== 'timestamp-query');
    return {
      deviceMs: runs.map((t) => t.deviceMs[0]!), wallMs: runs.map((t) => t.wallMs[0]!),
      method: wall ? 'onSubmittedWorkDone' : 'timestamp-query', ...(wall?.note ? { note: wall.note } : {}),
    };
  });
}

async function resolveTimestamps(device: GPUDevice, label: string, querySet: GPUQuerySet, count: number): Promise<BigUint64Array> {
  const resolve = device.createBuffer({ label: `${label}.resolve`, size: 8 * count, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const staging = device.createBuffer({ label: `${label}.resolveStaging`, size: 8 * count, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    const encoder = device.createCommandEncoder({ label: `${label}.resolveEncoder` });
    encoder.resolveQuerySet(querySet, 0, count, resolve, 0);
    encoder.copyBufferToBuffer(resolve, 0, staging, 0, 8 * count);
    device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    return new BigUint64Array(staging.getMappedRange().slice(0));
  } finally {
    resolve.destroy();
    staging.destroy();
  }
}

export function timestampWrites(slots: TimestampSlots | undefined): GPUComputePassTimestampWrites | undefined {
  return slots && { querySet: slots.querySet, beginningOfPassWriteIndex: slots.begin, endOfPassWriteIndex: slots.end };
}

/**
 * The timestamp writes of pass `index` of `count` passes timed as one: the first pass writes the beginning,
 * the last the end, so the time covers every pass and the gaps between them.
 */
export function passTimestampWrites(slots: TimestampSlots | undefined, index: number, count: number): GPUComputePassTimestampWrites | undefined {
  if (!slots || (index > 0 && index < count - 1)) return undefined;
  return {
    querySet: slots.querySet,
    ...(index === 0 ? { beginningOfPassWriteIndex: slots.begin } : {}),
    ...(index === count - 1 ? { endOfPassWriteIndex: slots.end } : {}),
  };
}

/** Runs `body` inside validation, out-of-memory and internal error scopes; throws the first error caught. */
export async function withErrorScopes<T>(device: GPUDevice, label: string, body: () => Promise<T>): Promise<T> {
  const filters: GPUErrorFilter[] = ['out-of-memory', 'internal', 'validation'];
  for (const filter of filters) device.pushErrorScope(filter);
  let outcome: { ok: true; value: T } | { ok: false; error: unknown };
  try {
    outcome = { ok: true, value: await body() };
  } catch (error) {
    outcome = { ok: false, error };
  }
  const scoped = (await Promise.all(filters.map(() => device.popErrorScope()))).find((e) => e !== null);
  // A GPU error explains a failure better than what it caused, so it wins.
  if (scoped) throw new Error(`${label}: GPU ${scoped.constructor.name}: ${scoped.message}`);
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}

export async function readBack(device: GPUDevice, label: string, source: GPUBuffer, size: number): Promise<ArrayBuffer> {
  const staging = device.createBuffer({ label: `${label}.staging`, size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    const encoder = device.createCommandEncoder({ label: `${label}.readbackEncoder` });
    encoder.copyBufferToBuffer(source, 0, staging, 0, size);
    device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    return staging.getMappedRange().slice(0);
  } finally {
    staging.destroy();
  }
}

/** Throws with the first few differing 32-bit words when `actual` and `expected` differ. */
export function expectSameBytes(actual: ArrayBuffer, expected: ArrayBufferView, what: string): void {
  const a = new Uint32Array(actual, 0, expected.byteLength / 4);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.byteLength / 4);
  const rows: string[] = [];
  let total = 0;
  for (let i = 0; i < e.length; i++) {
    if (a[i] !== e[i]) {
      total++;
      if (rows.length < 10) rows.push(`  word ${i}: expected 0x${e[i]!.toString(16)}, got 0x${a[i]!.toString(16)}`);
    }
  }
  if (total > 0) throw new Error(`${what}: ${total} of ${e.length} words differ\n${rows.join('\n')}`);
}
