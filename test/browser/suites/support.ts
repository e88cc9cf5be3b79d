// Helpers for the in-page GPU tests: seeded random data, exact comparisons that print a readable
// mismatch table (at most 10 rows: index, expected, actual), error-scope wrapping, expected errors.
import { getDefaultManager } from 'webgpu-quant';
import { rng } from '../../shared/random.js';

/** A browser test: resolves (optionally with a note to print) or throws. */
export type BrowserTest = () => Promise<string | void>;

export { RUN_SEED, rng } from '../../shared/random.js';

/** `n` float32 values, normal(0, sigma), from `seed`; with `tieScale`, every 7th is an exact tie (k + 0.5) * tieScale. */
export function randomData(n: number, seed: number, sigma = 1, tieScale = 0): Float32Array {
  const next = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(next(), 1e-12);
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
    out[i] = tieScale > 0 && i % 7 === 3 ? (Math.round(z * 20) + 0.5) * tieScale : z * sigma;
  }
  return out;
}

function table(rows: [number, unknown, unknown][], total: number, what: string): string {
  const lines = rows.map(([i, e, a]) => `  [${i}] expected ${String(e)}, got ${String(a)}`);
  return `${what}: ${total} mismatches${total > rows.length ? ` (first ${rows.length})` : ''}\n${lines.join('\n')}`;
}

/** Values must be identical (Object.is: -0 differs from +0). */
export function expectExact(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  if (actual.length !== expected.length) throw new Error(`${what}: length ${actual.length}, expected ${expected.length}`);
  const rows: [number, unknown, unknown][] = [];
  let total = 0;
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) {
      total++;
      if (rows.length < 10) rows.push([i, expected[i], actual[i]]);
    }
  }
  if (total) throw new Error(table(rows, total, what));
}

/** float32 values must agree within `ulps` units in the last place; returns how many differ at all. */
export function expectUlps(actual: Float32Array, expected: Float32Array, ulps: number, what: string): number {
  if (actual.length !== expected.length) throw new Error(`${what}: length ${actual.length}, expected ${expected.length}`);
  const a = new Int32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Int32Array(expected.buffer, expected.byteOffset, expected.length);
  const rows: [number, unknown, unknown][] = [];
  let total = 0;
  let differing = 0;
  for (let i = 0; i < e.length; i++) {
    if (a[i] === e[i]) continue;
    differing++;
    // Map sign-magnitude bit patterns onto a monotonic integer line, so the difference counts ulps.
    const ka = a[i]! < 0 ? -2147483648 - a[i]! : a[i]!;
    const ke = e[i]! < 0 ? -2147483648 - e[i]! : e[i]!;
    if (Math.abs(ka - ke) > ulps) {
      total++;
      if (rows.length < 10) rows.push([i, expected[i], actual[i]]);
    }
  }
  if (total) throw new Error(table(rows, total, `${what} (tolerance ${ulps} ulp)`));
  return differing;
}

/** Awaits `run` and checks it rejects with `type` and a message matching `pattern`. */
export async function expectReject(
  run: () => Promise<unknown>, type: abstract new (...args: never[]) => Error, pattern: RegExp,
): Promise<void> {
  let caught: unknown;
  try { await run(); } catch (error) { caught = error; }
  if (!(caught instanceof type)) throw new Error(`expected ${type.name}, got ${caught === undefined ? 'no error' : String(caught)}`);
  if (!pattern.test(caught.message)) throw new Error(`message ${JSON.stringify(caught.message)} does not match ${pattern}`);
}

/** Runs `body` inside validation and out-of-memory error scopes of the default device; fails on any GPU error. */
export async function gpuScoped<T>(body: () => Promise<T>): Promise<T> {
  const { device } = await getDefaultManager();
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  let result: T;
  try {
    result = await body();
  } finally {
    const errors = [await device.popErrorScope(), await device.popErrorScope()].filter((e) => e !== null);
    if (errors.length) throw new Error(`GPU errors: ${errors.map((e) => e!.message).join('; ')}`);
  }
  return result;
}

/**
 * Runs `code`'s entry point `main` (workgroups of 64) once over `input` bound at 0 (read-only storage) with an
 * output of `outputBytes` at 1, `invocations` invocations; resolves with the output's words. For tests that run
 * a shader file's functions on their own.
 */
export async function runTestKernel(device: GPUDevice, label: string, code: string, input: Uint32Array<ArrayBuffer>,
  outputBytes: number, invocations: number): Promise<Uint32Array> {
  const module = device.createShaderModule({ label: `test|${label}.module`, code });
  const pipeline = device.createComputePipeline({ label: `test|${label}.pipeline`, layout: 'auto', compute: { module, entryPoint: 'main' } });
  const inputBuffer = device.createBuffer({ label: `test|${label}.input`, size: input.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const output = device.createBuffer({ label: `test|${label}.output`, size: outputBytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const staging = device.createBuffer({ label: `test|${label}.staging`, size: outputBytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    device.queue.writeBuffer(inputBuffer, 0, input);
    const encoder = device.createCommandEncoder({ label: `test|${label}.encoder` });
    const pass = encoder.beginComputePass({ label: `test|${label}.pass` });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, device.createBindGroup({
      label: `test|${label}.bindGroup`, layout: pipeline.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: inputBuffer } }, { binding: 1, resource: { buffer: output } }],
    }));
    pass.dispatchWorkgroups(Math.ceil(invocations / 64));
    pass.end();
    encoder.copyBufferToBuffer(output, 0, staging, 0, outputBytes);
    device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    return new Uint32Array(staging.getMappedRange().slice(0));
  } finally {
    staging.destroy();
    inputBuffer.destroy();
    output.destroy();
  }
}

/** Counts the queue's writeBuffer calls of at least `bytes` bytes and its submits while `body` runs. */
export async function countQueue<T>(device: GPUDevice, bytes: number, body: () => Promise<T>): Promise<{ result: T; uploads: number; submits: number }> {
  const queue = device.queue as GPUQueue & Record<string, unknown>;
  let uploads = 0;
  let submits = 0;
  const write = queue.writeBuffer;
  const submit = queue.submit;
  queue.writeBuffer = function (this: GPUQueue, ...args: Parameters<GPUQueue['writeBuffer']>) {
    const data = args[2] as ArrayBufferView | ArrayBuffer;
    if (data.byteLength >= bytes) uploads++;
    return write.apply(this, args);
  } as GPUQueue['writeBuffer'];
  queue.submit = function (this: GPUQueue, ...args: Parameters<GPUQueue['submit']>) {
    submits++;
    return submit.apply(this, args);
  } as GPUQueue['submit'];
  try {
    return { result: await body(), uploads, submits };
  } finally {
    Reflect.deleteProperty(queue, 'writeBuffer');
    Reflect.deleteProperty(queue, 'submit');
  }
}

/** Fails unless the default manager's buffer pool has nothing checked out. */
export async function expectPoolEmpty(): Promise<void> {
  const stats = (await getDefaultManager()).stats();
  if (stats.inUse !== 0) throw new Error(`buffer pool still has ${stats.inUse} buffers (${stats.inUseBytes} bytes) in use`);
}

import type { FixtureFloat } from '../../shared/fixture-types.js';

export type { FixtureFloat };

/** Decodes fixture floats. */
export function floats(values: FixtureFloat[]): number[] {
  return values.map((v) => (typeof v === 'number' ? v : Number(v)));
}

/**
 * The GPU's per-channel dequantize contract: `fround(fround(fround(q) - fround(zp)) * fround(scale))`.
 * Equal to PyTorch's (float64 scale) whenever the scale is a float32 value; within 1 ulp otherwise.
 */
export function dequantizeWithFloat32Scales(values: ArrayLike<number>, scales: ArrayLike<number>, zeroPoints: ArrayLike<number>,
  outer: number, inner: number): Float32Array {
  const out = new Float32Array(values.length);
  const channels = scales.length;
  let i = 0;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const scale32 = Math.fround(scales[c]!);
      const zp32 = Math.fround(zeroPoints[c]!);
      for (let k = 0; k < inner; k++, i++) out[i] = Math.fround(Math.fround(Math.fround(values[i]!) - zp32) * scale32);
    }
  }
  return out;
}

/** True when every value is exactly a float32. */
export function allFloat32(values: ArrayLike<number>): boolean {
  for (let i = 0; i < values.length; i++) if (Math.fround(values[i]!) !== values[i]) return false;
  return true;
}

/**
 * Weight-like data: Student-t with 4 degrees of freedom (heavy tails), each index along `axis` with its own
 * magnitude over two decades.
 */
export function heavyTailed(shape: number[], axis: number, seed: number): Float32Array {
  const next = rng(seed);
  const normal = (): number => Math.sqrt(-2 * Math.log(Math.max(next(), 1e-12))) * Math.cos(2 * Math.PI * next());
  let inner = 1;
  for (let d = axis + 1; d < shape.length; d++) inner *= shape[d]!;
  const magnitudes = Array.from({ length: shape[axis]! }, () => 10 ** (-2 * next()));
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < out.length; i++) {
    const chi2 = normal() ** 2 + normal() ** 2 + normal() ** 2 + normal() ** 2;
    out[i] = (normal() / Math.sqrt(chi2 / 4)) * magnitudes[Math.floor(i / inner) % shape[axis]!]!;
  }
  return out;
}
