// GPU-resident tensors: quantize from a caller's GPUBuffer, integers kept on the device until read, and
// dequantize straight into a caller's buffer as float32 or float16 (exact float32 -> float16 rounding in
// WGSL integer code, checked bit for bit against floatToHalfBits). The pool must return to empty.
import {
  DataOnGpuError, GpuManager, InvalidArgumentError, type QDType, type QTensor, bytesSource, compressToSafetensors, decideWeights,
  dequantize, floatToHalfBits, fromIntRepr, getDefaultManager, gpuTensor, loadQuantizedSafetensors, memorySink, openSafetensors,
  quantizePerChannel, quantizePerGroup, quantizePerTensor, readQuantizedSafetensors, reference, serializeSafetensors, tensor,
} from './imports.js';
import { type BrowserTest, RUN_SEED, expectExact, expectPoolEmpty, expectReject, gpuScoped, randomData, rng } from './support.js';

const kUsage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** A buffer on `device` holding `data` at `offset` bytes. */
function upload(device: GPUDevice, data: Float32Array, offset = 0, usage = kUsage): GPUBuffer {
  const buffer = device.createBuffer({ label: 'test.input', size: Math.max(4, offset + data.byteLength), usage });
  device.queue.writeBuffer(buffer, offset, data as Float32Array<ArrayBuffer>);
  return buffer;
}

/** `bytes` bytes of `buffer` from `offset`, read back through a staging buffer. */
async function readBuffer(device: GPUDevice, buffer: GPUBuffer, offset: number, bytes: number): Promise<ArrayBuffer> {
  const staging = device.createBuffer({ label: 'test.staging', size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    const encoder = device.createCommandEncoder({ label: 'test.readback' });
    encoder.copyBufferToBuffer(buffer, offset, staging, 0, bytes);
    device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    return staging.getMappedRange().slice(0);
  } finally {
    staging.destroy();
  }
}

const kDTypes: QDType[] = ['qint8', 'quint8', 'qint4', 'quint4', 'qint32'];

export const tests: Record<string, BrowserTest> = {
  async 'quantize from a GPUBuffer with output gpu: exact integers after read(), every scheme and dtype, pool empty after destroy()'() {
    const { device } = await getDefaultManager();
    const next = rng(RUN_SEED + 13);
    const cases: string[] = [];
    await gpuScoped(async () => {
      for (const dtype of kDTypes) {
        for (const [rows, cols] of [[3, 37], [4, 64], [1, 1], [7, 200]] as const) {
          const data = randomData(rows * cols, Math.floor(next() * 1e9), 2, 0.05);
          const offset = 4 * Math.floor(next() * 8);
          const buffer = upload(device, data, offset);
          const x = tensor(data, [rows, cols]);
          const input = gpuTensor(buffer, [rows, cols], { device, offset });
          const zp = dtype.startsWith('qu') ? (dtype === 'quint4' ? 8 : 128) : 0;
          const scales = Array.from({ length: rows }, (_, r) => Math.fround(0.01 * (r + 1)));
          const groups = Math.ceil(cols / 16);
          const gScales = Array.from({ length: rows * groups }, (_, g) => Math.fround(0.02 + 0.003 * g));
          const runs: [string, (o: object) => Promise<QTensor>, QTensor][] = [
            ['perTensor', (o) => quantizePerTensor(input, 0.03, zp, dtype, o), reference.quantizePerTensor(x, 0.03, zp, dtype)],
            ['perChannel', (o) => quantizePerChannel(input, scales, scales.map(() => zp), 0, dtype, o),
              reference.quantizePerChannel(x, scales, scales.map(() => zp), 0, dtype)],
            ['perGroup', (o) => quantizePerGroup(input, gScales, gScales.map(() => zp), 1, 16, dtype, o),
              reference.quantizePerGroup(x, gScales, gScales.map(() => zp), 1, 16, dtype)],
          ];
          for (const [scheme, run, expected] of runs) {
            for (const options of [{ output: 'gpu' }, { output: 'gpu', maxChunkElements: 64 }]) {
              const what = `${dtype} [${rows}, ${cols}] ${scheme} offset ${offset} ${JSON.stringify(options)}`;
              const q = await run(options);
              if (!q.onGpu || q.onCpu) throw new Error(`${what}: expected the integers on the GPU only`);
              if ((await getDefaultManager()).stats().inUse !== 1) throw new Error(`${what}: expected one pooled buffer held by the tensor`);
              // The GPU-held integers dequantize on the GPU without a readback, as the reference does.
              expectExact((await dequantize(q)).data, reference.dequantize(expected).data, `${what} dequantize`);
              expectExact((await q.read()).intRepr(), expected.intReprView(), what);
              expectExact(q.packedData(), expected.packedData(), `${what} packedData`);
              q.destroy();
              q.destroy();
              await expectPoolEmpty();
            }
          }
          buffer.destroy();
          cases.push(`${dtype}[${rows},${cols}]`);
        }
      }
    });
    return `run seed ${RUN_SEED}, ${cases.length} shapes × 3 schemes × 2 chunkings`;
  },

  async 'sync accessors of a GPU-held tensor throw DataOnGpuError until read(); after destroy() without read() they say so'() {
    const x = tensor(randomData(50, RUN_SEED + 3));
    const q = await quantizePerTensor(x, 0.1, 0, 'qint8', { output: 'gpu' });
    await expectReject(async () => q.intRepr(), DataOnGpuError, /await q\.read\(\)/);
    await expectReject(async () => q.packedData(), DataOnGpuError, /read\(\)/);
    if (q.gpuBuffer.size < 64) throw new Error(`gpuBuffer has ${q.gpuBuffer.size} bytes`);
    q.destroy();
    await expectReject(async () => q.intReprView(), DataOnGpuError, /released by destroy\(\)/);
    await expectReject(async () => q.read(), DataOnGpuError, /released/);
    await expectReject(async () => Promise.resolve(q.gpuBuffer), DataOnGpuError, /released/);
    const cpu = await quantizePerTensor(x, 0.1, 0, 'qint8');
    await expectReject(async () => Promise.resolve(cpu.gpuBuffer), DataOnGpuError, /output: 'gpu'/);
    await expectPoolEmpty();
  },

  async 'dequantize into a GPUBuffer: float32 bit for bit as the reference, at an offset, from CPU and GPU integers'() {
    const { device } = await getDefaultManager();
    await gpuScoped(async () => {
      for (const dtype of kDTypes) {
        const data = randomData(333, RUN_SEED + 21, 3);
        const q = await quantizePerChannel(tensor(data, [9, 37]), Array.from({ length: 9 }, (_, i) => Math.fround(0.05 / (i + 1))),
          new Array(9).fill(0), 0, dtype, { output: 'gpu' });
        const expected = reference.dequantize(await q.read()).data;
        const out = device.createBuffer({ label: 'test.output', size: 16 + 4 * 333, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
        for (const options of [{ maxChunkElements: 64 }, {}]) {
          const view = await dequantize(q, { output: out, outputOffset: 16, ...options });
          if (view.buffer !== out || view.offset !== 16 || view.dtype !== 'float32') throw new Error('the result is not a view of the given buffer');
          expectExact(new Float32Array(await readBuffer(device, out, 16, 4 * 333)), expected, `${dtype} float32 ${JSON.stringify(options)}`);
        }
        q.destroy();
        const owned = await dequantize(reference.quantizePerTensor(tensor(data), 0.02, 0, dtype), { output: 'gpu' });
        expectExact(new Float32Array(await readBuffer(device, owned.buffer, 0, 4 * 333)),
          reference.dequantize(reference.quantizePerTensor(tensor(data), 0.02, 0, dtype)).data, `${dtype} into a new buffer`);
        owned.buffer.destroy();
        out.destroy();
      }
    });
    await expectPoolEmpty();
  },

  async 'dequantize to float16 matches floatToHalfBits bit for bit: random values, ties, subnormals, overflow to Infinity'() {
    const { device } = await getDefaultManager();
    const next = rng(RUN_SEED + 99);
    const cases: { ints: number[]; scale: number; what: string }[] = [
      // 2049 and 2051 are ties between halves (spacing 2 above 2048): to even, 2048 and 2052.
      { ints: [0, 1, -1, 2049, 2051, -2049, 65504, 65519, 65520, -65520, 70000, 1 << 30, -(1 << 30), 4095, 4097], scale: 1, what: 'ties and overflow' },
      // k * 2^-30: float16 subnormals (unit 2^-24 = 64 units), ties at 2^-25 (32) and 1.5 * 2^-24 (96).
      { ints: [1, 31, 32, 33, 48, 64, 96, 97, 160, -32, -33, 65535, 65536, 65537, 1 << 20, (1 << 20) - 32], scale: 2 ** -30, what: 'subnormals' },
      // float32 overflow to Infinity, then Infinity in float16.
      { ints: [100, -100, 1, 0], scale: 8e37, what: 'float32 Infinity' },
    ];
    for (let c = 0; c < 6; c++) {
      const ints = Array.from({ length: 1001 }, () => Math.floor((next() - 0.5) * 2 ** 25));
      cases.push({ ints, scale: 2 ** Math.floor(next() * 60 - 50), what: `random ${c}` });
      cases.push({ ints, scale: Math.fround(next() * 1e-3), what: `random float scale ${c}` });
    }
    await gpuScoped(async () => {
      for (const { ints, scale, what } of cases) {
        const q = fromIntRepr(ints, [ints.length], 'qint32', { scale, zeroPoint: 0 });
        const floats = reference.dequantize(q).data;
        const expected = Array.from(floats, (v) => floatToHalfBits(v));
        for (const options of [{}, { maxChunkElements: 16 }]) {
          const view = await dequantize(q, { output: 'gpu', dtype: 'float16', ...options });
          const bits = new Uint16Array(await readBuffer(device, view.buffer, 0, view.buffer.size), 0, ints.length);
          expectExact(bits, expected, `${what} scale ${scale} ${JSON.stringify(options)}`);
          view.buffer.destroy();
        }
      }
    });
    await expectPoolEmpty();
    return `run seed ${RUN_SEED}, ${cases.length} cases`;
  },

  async 'loadQuantizedSafetensors: every tensor of a compressed file in GPU buffers, float32 and float16, as the CPU dequantizes it'() {
    const { device } = await getDefaultManager();
    const data = (n: number, seed: number): Float32Array => randomData(n, RUN_SEED + seed, 0.5);
    const model = await serializeSafetensors([
      { name: 'encoder.weight', dtype: 'F32', shape: [16, 96], data: data(16 * 96, 1) },
      { name: 'encoder.bias', dtype: 'F32', shape: [16], data: data(16, 2) },
      { name: 'decoder.weight', dtype: 'F32', shape: [33, 64], data: data(33 * 64, 3) },
      { name: 'steps', dtype: 'I64', shape: [1], data: BigInt64Array.of(7n) },
    ]);
    const sink = memorySink();
    const reader = await openSafetensors(bytesSource(model));
    await compressToSafetensors(reader, decideWeights(reader.list(), {}), sink, { backend: 'cpu' });
    const file = sink.bytes();
    const { quantized } = await readQuantizedSafetensors(await openSafetensors(bytesSource(file)));
    if (quantized.size === 0) throw new Error('the default policy quantized nothing');
    const compressed = await openSafetensors(bytesSource(file));
    const expected = new Map<string, Float32Array>();
    for (const [name, q] of quantized) expected.set(name, reference.dequantize(q).data);
    expected.set('encoder.bias', new Float32Array((await compressed.read('encoder.bias')).slice().buffer));
    for (const dtype of ['float32', 'float16'] as const) {
      const loaded = await loadQuantizedSafetensors(bytesSource(file), device, { dtype });
      try {
        const names = [...loaded.keys()].sort();
        if (names.join() !== [...expected.keys()].sort().join()) throw new Error(`${dtype}: loaded ${names.join(', ')}`);
        for (const [name, values] of expected) {
          const t = loaded.get(name)!;
          const bytes = await readBuffer(device, t.buffer, 0, t.buffer.size);
          if (dtype === 'float32') expectExact(new Float32Array(bytes, 0, values.length), values, `${name} float32`);
          else expectExact(new Uint16Array(bytes, 0, values.length), Array.from(values, (v) => floatToHalfBits(v)), `${name} float16`);
        }
      } finally {
        for (const t of loaded.values()) t.buffer.destroy();
      }
    }
    await expectPoolEmpty();
    return `quantized: ${[...quantized.keys()].join(', ')}`;
  },

  async 'bad GPU buffers: missing COPY_SRC / COPY_DST, another device, too small, CPU backend'() {
    const { device } = await getDefaultManager();
    const data = randomData(8, 1);
    const noCopySrc = upload(device, data, 0, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
    await expectReject(() => quantizePerTensor(gpuTensor(noCopySrc, [8], { device }), 0.1, 0, 'qint8'), InvalidArgumentError, /COPY_SRC/);
    const other = await GpuManager.create();
    try {
      const foreign = upload(other.device, data);
      await expectReject(() => quantizePerTensor(gpuTensor(foreign, [8], { device }), 0.1, 0, 'qint8'), InvalidArgumentError, /device/);
      const q = await quantizePerTensor(tensor(data), 0.1, 0, 'qint8', { device });
      await expectReject(() => dequantize(q, { output: foreign, device }), InvalidArgumentError, /device/);
    } finally {
      other.destroy();
    }
    const good = upload(device, data);
    await expectReject(async () => gpuTensor(good, [9]), InvalidArgumentError, /bigger buffer/);
    await expectReject(async () => gpuTensor(good, [8], { offset: 2 }), InvalidArgumentError, /multiple of 4/);
    await expectReject(() => quantizePerTensor(gpuTensor(good, [8], { device }), 0.1, 0, 'qint8', { backend: 'cpu' }), InvalidArgumentError, /WebGPU/);
    await expectReject(() => quantizePerTensor(tensor(data), 0.1, 0, 'qint8', { backend: 'cpu', output: 'gpu' }), InvalidArgumentError, /WebGPU/);
    const q = await quantizePerTensor(tensor(data), 0.1, 0, 'qint8');
    const noCopyDst = device.createBuffer({ label: 'test.noCopyDst', size: 64, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    await expectReject(() => dequantize(q, { output: noCopyDst }), InvalidArgumentError, /COPY_DST/);
    await expectReject(() => dequantize(q, { output: good, outputOffset: 8 }), InvalidArgumentError, /bigger buffer/);
    for (const b of [noCopySrc, good, noCopyDst]) b.destroy();
    await expectPoolEmpty();
  },
};
