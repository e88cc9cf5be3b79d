// Public calls in Node upload a float32 input of 4 MiB or more through the pool's staging buffers
// (src/kernels/elementwise/plan-elementwise.ts withStagedInput, src/gpu/staged-upload.ts), not writeBuffer, when
// the call runs in one chunk; in several chunks each chunk is written as before. `stagedUploads` is off in a
// browser, so the test turns it on to run the path everywhere: every public quantize form, fake quantization and
// `output: 'gpu'` against the CPU path, and the queue's writeBuffer calls of the input counted.
import { fakeQuantizePerChannelAffine, getDefaultManager, quantizePerChannel, quantizePerGroup, quantizePerTensor, tensor } from './imports.js';
import { type BrowserTest, RUN_SEED, countQueue, expectExact, expectPoolEmpty, gpuScoped, randomData, rng } from './support.js';

export const tests: Record<string, BrowserTest> = {
  async 'a float32 input of 4 MiB or more in one chunk goes up through the staging buffers, in several chunks by writeBuffer: the CPU path\'s results, pool empty'() {
    const manager = await getDefaultManager();
    const next = rng(RUN_SEED + 76);
    const shape = [1024, 1040]; // 4.06 MiB of float32
    const size = shape[0]! * shape[1]!;
    const x = tensor(randomData(size, Math.floor(next() * 1e9), 3, 0.05), shape);
    const scales = Float64Array.from({ length: shape[1]! }, () => Math.fround(0.01 + 0.1 * next()));
    const zeroPoints = Int32Array.from({ length: shape[1]! }, () => Math.floor(next() * 16) - 8);
    const groupScales = Float64Array.from({ length: shape[0]! * 65 }, () => Math.fround(0.01 + 0.1 * next()));
    const calls: [string, (options: { backend: 'webgpu' | 'cpu'; maxChunkElements?: number }) => Promise<ArrayLike<number>>][] = [
      ['quantizePerTensor qint8', async (o) => (await quantizePerTensor(x, 0.02, 3, 'qint8', o)).intRepr()],
      ['quantizePerChannel qint4 axis 1', async (o) => (await quantizePerChannel(x, scales, zeroPoints, 1, 'qint4', o)).intRepr()],
      ['quantizePerGroup quint8 groups of 16', async (o) => (await quantizePerGroup(x, groupScales, new Int32Array(groupScales.length).fill(128), 1, 16, 'quint8', o)).intRepr()],
      ['fakeQuantizePerChannelAffine', async (o) => (await fakeQuantizePerChannelAffine(x, scales, zeroPoints, 1, -8, 7, o)).data],
      ['quantizePerTensor with output gpu', async (o) => {
        if (o.backend === 'cpu') return (await quantizePerTensor(x, 0.02, 3, 'qint8', o)).intRepr();
        const q = await quantizePerTensor(x, 0.02, 3, 'qint8', { ...o, output: 'gpu' });
        try { return (await q.read()).intRepr(); } finally { q.destroy(); }
      }],
    ];
    const staged = manager.stagedUploads; // off in a browser by default: on here, to run the path everywhere
    manager.stagedUploads = true;
    await gpuScoped(async () => {
      for (const [what, call] of calls) {
        const expected = await call({ backend: 'cpu' });
        for (const [chunks, knobs] of [['one chunk', {}], ['chunks of 2^18', { maxChunkElements: 2 ** 18 }]] as const) {
          const { result, uploads } = await countQueue(manager.device, 2 ** 18 * 4, () => call({ backend: 'webgpu', ...knobs }));
          expectExact(result, expected, `${what}, ${chunks}`);
          const want = chunks === 'one chunk' ? 0 : Math.ceil(size / 2 ** 18);
          if (uploads !== want) throw new Error(`${what}, ${chunks}: ${uploads} writeBuffer calls of the input, expected ${want}`);
        }
      }
    }).finally(() => { manager.stagedUploads = staged; });
    await expectPoolEmpty();
  },
};
