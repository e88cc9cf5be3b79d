// Concurrency and lifetime: many calls in flight, the buffer pool and pipeline cache counters, a device
// lost mid-run, and a caller-owned device the library must use but never destroy.
import {
  DeviceLostError, GpuManager, type QDType, QDTYPES, QTensor, dequantize, getDefaultManager, managerForDevice, quantizePerChannel,
  quantizePerTensor, reference, tensor,
} from './imports.js';
import { type BrowserTest, RUN_SEED, expectExact, expectPoolEmpty, expectReject, expectUlps, gpuScoped, randomData, rng } from './support.js';

const gpu = { backend: 'webgpu' } as const;

interface Job { run: () => Promise<void>; what: string }

/** A random quantize or dequantize call, per tensor or per channel, checked against the reference. */
function randomJob(index: number, seed: number, options: object = gpu): Job {
  const next = rng(seed + index * 7919);
  const dtype = QDTYPES[index % QDTYPES.length] as QDType;
  const n = [0, 1, 5, 17, 1023, 4096, 20000][Math.floor(next() * 7)]!;
  const perChannel = next() < 0.5 && n > 0;
  const x = tensor(randomData(n, seed + index, 3));
  const what = `job ${index}: ${dtype} n=${n} ${perChannel ? 'per-channel' : 'per-tensor'}`;
  return {
    what,
    run: async () => {
      let q: QTensor;
      let expected: QTensor;
      if (perChannel) {
        const channels = n % 5 === 0 ? 5 : 1;
        const w = tensor(x.data, [channels, n / channels]);
        const scales = Array.from({ length: channels }, (_, c) => Math.fround(0.01 * (c + 1)));
        const zeroPoints = new Array(channels).fill(dtype === 'quint8' ? 128 : 0);
        q = await quantizePerChannel(w, scales, zeroPoints, 0, dtype, options);
        expected = reference.quantizePerChannel(w, scales, zeroPoints, 0, dtype);
      } else {
        q = await quantizePerTensor(x, 0.02, dtype === 'quint8' ? 128 : 0, dtype, options);
        expected = reference.quantizePerTensor(x, 0.02, dtype === 'quint8' ? 128 : 0, dtype);
      }
      expectExact(q.intRepr(), expected.intReprView(), `${what} quantize`);
      expectUlps((await dequantize(q, options)).data, reference.dequantize(expected).data, 0, `${what} dequantize`);
    },
  };
}

export const tests: Record<string, BrowserTest> = {
  async '100 calls in flight at once all give the right bits, and the pool empties'() {
    await gpuScoped(async () => {
      const jobs = Array.from({ length: 100 }, (_, i) => randomJob(i, RUN_SEED));
      await Promise.all(jobs.map((job) => job.run()));
    });
    await expectPoolEmpty();
    return `run seed ${RUN_SEED}`;
  },
  async 'repeated calls reuse pipelines and buffers'() {
    const manager = await getDefaultManager();
    const x = tensor(randomData(3000, 5));
    await quantizePerTensor(x, 0.1, 0, 'qint8', gpu);
    const pipelines = manager.pipelines.size;
    const created = manager.stats().created;
    for (let i = 0; i < 5; i++) await quantizePerTensor(x, 0.1 + i, i, 'qint8', gpu);
    // A different size in the same power-of-two buckets and the same variant: still nothing new.
    await quantizePerTensor(tensor(randomData(2900, 6)), 0.1, 0, 'qint8', gpu);
    if (manager.pipelines.size !== pipelines) throw new Error(`pipelines grew from ${pipelines} to ${manager.pipelines.size}`);
    if (manager.stats().created !== created) throw new Error(`buffers created grew from ${created} to ${manager.stats().created}`);
    await expectPoolEmpty();
  },
  async 'a device lost mid-run fails the calls in flight clearly, and the next call gets a fresh device'() {
    const before = await getDefaultManager();
    const jobs = Array.from({ length: 20 }, (_, i) => randomJob(i, RUN_SEED + 1));
    const running = jobs.map((job) => job.run());
    before.device.destroy();
    const settled = await Promise.allSettled(running);
    let lost = 0;
    for (const [i, outcome] of settled.entries()) {
      if (outcome.status === 'rejected') {
        if (!(outcome.reason instanceof DeviceLostError)) throw new Error(`${jobs[i]!.what}: expected DeviceLostError, got ${String(outcome.reason)}`);
        if (!/lost/.test(outcome.reason.message)) throw new Error(`unclear message: ${outcome.reason.message}`);
        lost++;
      }
    }
    if (lost === 0) throw new Error('no call in flight saw the device loss');
    if (!before.lost) throw new Error('the old manager does not report the loss');
    await expectReject(async () => before.device, DeviceLostError, /next call acquires a new device/);
    await randomJob(1, RUN_SEED + 2).run();
    const after = await getDefaultManager();
    if (after === before || after.lost) throw new Error('no fresh device after the loss');
    await expectPoolEmpty();
    return `${lost} of ${jobs.length} calls in flight rejected with DeviceLostError`;
  },
  async 'after a device loss, 200 concurrent calls share one new device, and each succeeds or fails typed'() {
    const before = await getDefaultManager();
    await quantizePerTensor(tensor([1]), 1, 0, 'qint8', gpu);
    // Count device requests through the adapter prototype, so every adapter the library asks for is seen.
    const requestDevice = GPUAdapter.prototype.requestDevice;
    let requests = 0;
    GPUAdapter.prototype.requestDevice = function counted(this: GPUAdapter, ...args: Parameters<GPUAdapter['requestDevice']>) {
      requests++;
      return requestDevice.apply(this, args);
    };
    let settled: PromiseSettledResult<void>[];
    const jobs = Array.from({ length: 200 }, (_, i) => randomJob(i, RUN_SEED + 4));
    try {
      before.device.destroy();
      await before.device.lost.catch(() => undefined);
      settled = await Promise.all([Promise.allSettled(jobs.map((job) => job.run())), getDefaultManager()]).then(([s]) => s);
    } finally {
      GPUAdapter.prototype.requestDevice = requestDevice;
    }
    if (requests !== 1) throw new Error(`${requests} requestDevice calls after the loss, expected exactly 1`);
    let succeeded = 0;
    for (const [i, outcome] of settled.entries()) {
      if (outcome.status === 'fulfilled') { succeeded++; continue; }
      if (!(outcome.reason instanceof DeviceLostError)) throw new Error(`${jobs[i]!.what}: expected success or DeviceLostError, got ${String(outcome.reason)}`);
    }
    if (succeeded !== jobs.length) throw new Error(`only ${succeeded} of ${jobs.length} calls succeeded on the new device`);
    const after = await getDefaultManager();
    if (after === before || after.lost) throw new Error('no fresh device after the loss');
    await expectPoolEmpty();
    return `${succeeded} of ${jobs.length} calls succeeded after the loss, ${requests} device request`;
  },
  async 'a caller-owned device is used, never destroyed, and reports its loss'() {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) throw new Error('no adapter');
    const device = await adapter.requestDevice({ label: 'test.callerDevice' });
    const options = { device };
    const q = await quantizePerTensor(tensor([1.5, 2.5, -7]), 0.5, 0, 'qint8', options);
    if (q.backend !== 'webgpu') throw new Error(`ran on ${q.backend}`);
    expectExact(q.intRepr(), [3, 5, -14], 'caller device quantize');
    const manager = managerForDevice(device);
    if (manager.owned) throw new Error('a borrowed device is marked owned');
    manager.destroy();
    // The device still works after the manager lets go of it.
    const probe = device.createBuffer({ size: 4, usage: GPUBufferUsage.COPY_DST, label: 'test.probe' });
    probe.destroy();
    for (const job of Array.from({ length: 10 }, (_, i) => randomJob(i, RUN_SEED + 3, options))) await job.run();
    if (manager.stats().inUse !== 0) throw new Error('caller-device pool not empty');
    device.destroy();
    await device.lost;
    await expectReject(() => quantizePerTensor(tensor([1]), 1, 0, 'qint8', options), DeviceLostError, /belongs to the caller/);
  },
  async 'GpuManager.create owns its device and destroy() releases it'() {
    const manager = await GpuManager.create();
    if (!manager.owned) throw new Error('created manager not owned');
    const q = await quantizePerTensor(tensor([0.5, 1.5]), 1, 0, 'quint8', { device: manager.device });
    expectExact(q.intRepr(), [0, 2], 'own manager');
    if (managerForDevice(manager.device) !== manager) throw new Error('the device option does not reuse the owning manager');
    const device = manager.device;
    manager.destroy();
    await device.lost;
    await expectReject(() => quantizePerTensor(tensor([1]), 1, 0, 'qint8', { device }), DeviceLostError, /lost/);
  },
};
