// Parameter tables built on the device (shaders/elementwise/param_table.wgsl, src/kernels/elementwise/param-table-kernel.ts):
// each kind ('table' blocks, dequantize's 'rows', quantize's 'quantRows') must hold the host's bits word for
// word (buildTable) for scales over the whole valid range (random bit patterns of every exponent, float64
// values between float32 ones, powers of two, the range's ends, significands of all ones), padding rows
// zero over a buffer filled with garbage, with 2-D folds; and the public calls that build their table on the
// device (16,384 rows or more) must give the CPU path's bytes, with chunks that read the table the first
// chunk's submit built.
import { type QDType, dequantize, dtypeInfo, getDefaultManager, quantizePerChannel, quantizePerGroup, reference, tensor } from './imports.js';
import { type BrowserTest, RUN_SEED, expectExact, expectPoolEmpty, gpuScoped, randomData, rng, runTestKernel } from './support.js';
import { checkChannelParams } from '../../../src/validate.js';
import { type TableKind, buildTable, tableBytes, tableSource } from '../../../src/kernels/elementwise/scheme-params.js';
import { DEVICE_TABLE_MIN_ROWS, buildsTableOnDevice, encodeParamTable } from '../../../src/kernels/elementwise/param-table-kernel.js';
import { runOnGpu } from '../../../src/gpu/gpu-run.js';
import exactFloat from '../../../shaders/common/exact_float.wgsl?raw';

const kReciprocalKernel = `
@group(0) @binding(0) var<storage, read> cases: array<vec2<u32>>;
@group(0) @binding(1) var<storage, read_write> results: array<vec2<u32>>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= arrayLength(&cases)) { return; }
  results[i] = vec2<u32>(reciprocal_from_guess(cases[i].x, cases[i].y), reciprocal_bits(cases[i].x));
}`;


const scratch = new DataView(new ArrayBuffer(4));
function floatOf(bits: number): number {
  scratch.setUint32(0, bits >>> 0, true);
  return scratch.getFloat32(0, true);
}
function bitsOf(value: number): number {
  scratch.setFloat32(0, value, true);
  return scratch.getUint32(0, true);
}

/** `rows` scales in [2^-126, 2^126] after rounding to float32: random of every exponent, between float32 values, and the hard ones. */
function hardScales(rows: number, next: () => number): Float64Array {
  const scales = new Float64Array(rows);
  const special = [2 ** -126, 2 ** 126, 1, 2, 0.5, 3, 0.1, 1 / 3, floatOf(0x3fffffff), floatOf(0x00ffffff), floatOf(0x7e7fffff),
    floatOf(0x7e800000), floatOf(0x00800001), 2 ** 126 * (1 - 2 ** -24), 2 ** -126 * (1 + 2 ** -23), 1 + 2 ** -23, 2 - 2 ** -23];
  for (let r = 0; r < rows; r++) {
    const pick = next();
    if (r < special.length) scales[r] = special[r]!;
    // Random float32 bit patterns, exponent fields 1..253 (up to 2^126 after rounding: 253 with a zero fraction).
    else if (pick < 0.5) scales[r] = floatOf(((1 + Math.floor(next() * 252)) << 23) | Math.floor(next() * 0x800000));
    // Float64 values between float32 neighbours, ties included: the host rounds them to float32 on the way up.
    else if (pick < 0.8) scales[r] = Math.fround(0.001 + next() * 10) * (1 + (next() < 0.3 ? 2 ** -24 : next() * 2 ** -23));
    else scales[r] = 2 ** (Math.floor(next() * 252) - 126);
    if (Math.fround(scales[r]!) > 2 ** 126) scales[r] = 2 ** 126;
  }
  return scales;
}

/** Builds `kind`'s table for `scales` / `zeroPoints` on the device, over a buffer of garbage, and compares it with the host's. */
async function checkTable(kind: TableKind, dtype: QDType, rows: number, seed: number, maxWorkgroupsPerDimension?: number): Promise<void> {
  const next = rng(seed);
  const info = dtypeInfo(dtype);
  const zeroPoints = Array.from({ length: rows }, () => info.qmin + Math.floor(next() * (info.qmax - info.qmin + 1)));
  const checked = checkChannelParams(hardScales(rows, next), zeroPoints, rows, info);
  const source = tableSource(kind, checked.scales, checked.zeroPoints, info);
  if (!buildsTableOnDevice({ deviceTables: true }, source, info, rows)) throw new Error(`${kind}: checked parameters of ${dtype} are not built on the device`);
  const expected = new Uint32Array(buildTable(source).buffer);
  const actual = new Uint32Array(expected.length);
  const manager = await getDefaultManager();
  await runOnGpu(manager, `test: paramTable|${kind}`, (run) => {
    const bytes = tableBytes(source);
    const table = run.buffer(bytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, 'table');
    run.device.queue.writeBuffer(table, 0, new Uint32Array(bytes / 4).fill(0xdeadbeef));
    encodeParamTable(run, manager, source, table, maxWorkgroupsPerDimension);
    run.read(table, bytes, (out) => actual.set(new Uint32Array(out, 0, actual.length)));
  });
  expectExact(actual, expected, `${kind} table, ${dtype}, ${rows} rows${maxWorkgroupsPerDimension ? `, at most ${maxWorkgroupsPerDimension} workgroups a dimension` : ''}`);
}

/** A per-group or per-channel call with `rows` parameter rows on the device against the CPU path, quantize and dequantize. */
async function checkCall(shape: number[], axis: number, groupSize: number | undefined, dtype: QDType, seed: number,
  options: { backend: 'webgpu'; maxChunkElements?: number }): Promise<void> {
  const next = rng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  const x = tensor(randomData(size, seed, 20), shape);
  const rows = groupSize ? (size / shape[axis]!) * Math.ceil(shape[axis]! / groupSize) : shape[axis]!;
  const { qmin, qmax } = dtypeInfo(dtype);
  // float32 scales: dequantize multiplies by the float32 scale, the reference by the float64 one (docs/numerics.md).
  const scales = Float64Array.from({ length: rows }, () => Math.fround(0.01 + 2 * next()));
  const zeroPoints = Int32Array.from({ length: rows }, () => qmin + Math.floor(next() * (qmax - qmin + 1)));
  const what = `${dtype} [${shape}] axis ${axis}${groupSize ? ` groups of ${groupSize}` : ''} ${JSON.stringify(options)}`;
  const [q, expected] = groupSize
    ? [await quantizePerGroup(x, scales, zeroPoints, axis, groupSize, dtype, options), reference.quantizePerGroup(x, scales, zeroPoints, axis, groupSize, dtype)]
    : [await quantizePerChannel(x, scales, zeroPoints, axis, dtype, options), reference.quantizePerChannel(x, scales, zeroPoints, axis, dtype)];
  expectExact(q.intRepr(), expected.intReprView(), `${what}: quantize`);
  expectExact((await dequantize(q, options)).data, reference.dequantize(expected).data, `${what}: dequantize`);
}

export const tests: Record<string, BrowserTest> = {
  async 'exact_float.wgsl reciprocal: the correctly rounded 1 / x from its own guess and from any guess within 31 of the quotient'() {
    const { device } = await getDefaultManager();
    const next = rng(RUN_SEED + 77);
    const xs = Array.from(hardScales(6000, next), (scale) => bitsOf(scale));
    const cases: number[] = [];
    for (const [i, x] of xs.entries()) {
      // round(2^47 / m), m the significand with its leading 1, exactly (BigInt); a power of two has no guess to correct.
      const m = BigInt((x & 0x7fffff) | 0x800000);
      const exact = Number((2n ** 48n / m + 1n) / 2n);
      const offset = i % 63 - 31;
      cases.push(x, (exact + offset) >>> 0);
    }
    const results = await runTestKernel(device, 'reciprocal', `${exactFloat}\n${kReciprocalKernel}`, Uint32Array.from(cases), 4 * cases.length, cases.length / 2);
    const mismatches: string[] = [];
    for (const [i, x] of xs.entries()) {
      const expected = bitsOf(Math.fround(1 / floatOf(x)));
      const [fromGuess, own] = [results[2 * i]!, results[2 * i + 1]!];
      if ((fromGuess !== expected && (x & 0x7fffff) !== 0) || own !== expected) {
        if (mismatches.length < 10) mismatches.push(`x=0x${x.toString(16)} (${floatOf(x)}), guess offset ${i % 63 - 31}: from the guess 0x${fromGuess.toString(16)}, own guess 0x${own.toString(16)}, expected 0x${expected.toString(16)}`);
      }
    }
    if (mismatches.length) throw new Error(`reciprocal_bits differs from the host:\n${mismatches.join('\n')}`);
    return `${xs.length} scales, guesses off by -31..31`;
  },
  async 'parameter tables built on the device hold the host\'s bits, every kind, padding and 2-D folds included'() {
    await gpuScoped(async () => {
      for (const [i, [kind, dtype]] of ([['table', 'qint8'], ['rows', 'quint4'], ['quantRows', 'qint4'], ['quantRows', 'quint8']] as const).entries()) {
        for (const rows of [4099, 20002]) await checkTable(kind, dtype, rows, RUN_SEED + 10 * i + rows);
      }
      await checkTable('table', 'quint8', 20001, RUN_SEED + 90, 32);
      await checkTable('quantRows', 'qint8', 20001, RUN_SEED + 91, 32);
    });
    await expectPoolEmpty();
    return `run seed ${RUN_SEED}`;
  },
  async 'parameter tables: only checked scales of 8- and 4-bit dtypes with enough rows are built on the device, and only where deviceTables holds'() {
    const info = dtypeInfo('qint8');
    const rows = DEVICE_TABLE_MIN_ROWS;
    const checked = checkChannelParams(new Float64Array(rows).fill(0.5), new Int32Array(rows), rows, info);
    const on = { deviceTables: true };
    const cases: [string, boolean, boolean][] = [
      ['checked, enough rows', buildsTableOnDevice(on, tableSource('quantRows', checked.scales, checked.zeroPoints, info), info), true],
      ['checked from a plain array', buildsTableOnDevice(on, tableSource('rows', checkChannelParams(Array(rows).fill(2), Array(rows).fill(0), rows, info).scales, checked.zeroPoints), info), true],
      ['one row short', buildsTableOnDevice(on, tableSource('rows', checked.scales.subarray(1), checked.zeroPoints.subarray(1)), info), false],
      ['unchecked scales', buildsTableOnDevice(on, tableSource('rows', new Float64Array(rows).fill(0.5), checked.zeroPoints), info), false],
      ['qint32', buildsTableOnDevice(on, tableSource('table', checked.scales, checked.zeroPoints), dtypeInfo('qint32')), false],
      ['deviceTables off', buildsTableOnDevice({ deviceTables: false }, tableSource('quantRows', checked.scales, checked.zeroPoints, info), info), false],
    ];
    const wrong = cases.filter(([, got, want]) => got !== want);
    if (wrong.length) throw new Error(`buildsTableOnDevice: ${wrong.map(([what, got]) => `${what}: ${got}`).join('; ')}`);
  },
  async 'calls with 16,384 parameter rows or more build their table on the device and give the CPU path\'s bytes'() {
    const manager = await getDefaultManager();
    const deviceTables = manager.deviceTables; // off on a software adapter: on here, to run the path everywhere
    manager.deviceTables = true;
    await gpuScoped(async () => {
      await checkCall([256, 2048], 1, 32, 'qint4', RUN_SEED + 1, { backend: 'webgpu' });
      await checkCall([256, 2048], 1, 32, 'qint8', RUN_SEED + 2, { backend: 'webgpu' });
      // Chunks after the first read the table the first chunk's submit built.
      await checkCall([128, 4096], 1, 16, 'quint8', RUN_SEED + 3, { backend: 'webgpu', maxChunkElements: 65536 });
      // Per channel along the last axis (the 'columns' kernel's blocks) and a group size that leaves a short last group.
      await checkCall([4, 16384], 1, undefined, 'quint4', RUN_SEED + 4, { backend: 'webgpu' });
      await checkCall([64, 16400], 1, 50, 'qint8', RUN_SEED + 5, { backend: 'webgpu' });
    }).finally(() => { manager.deviceTables = deviceTables; });
    const labels = manager.pipelines.built().map((p) => p.label);
    for (const kind of ['table', 'rows', 'quantRows']) {
      if (!labels.includes(`paramTable|${kind}`)) throw new Error(`no paramTable|${kind} pipeline was built: ${labels.join(', ')}`);
    }
    await expectPoolEmpty();
    return `run seed ${RUN_SEED}`;
  },
};
