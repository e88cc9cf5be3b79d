// compressToGguf from an ONNX model read from its file, on a worker pool: each big float32 or float16 weight is
// read, planned and encoded by its worker from the file (ggufWeightFile; the calling thread holds no copy), none
// through a shared slot, and the file and report are those of one thread, for Q8_0 and Q4_0, with
// results held from planning or encoded again while writing, written as planned or after planning. A file cut
// short after it was opened, and one whose values change between planning and writing, are FormatErrors naming
// it, and nothing is written. The same with weights written transposed taken in bands of columns (bandBytes).
import { mkdirSync, mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, describe, expect, it } from 'vitest';
import { type CompressToGgufOptions, compressToGguf } from '../../src/compress/compress-gguf.js';
import { poolTasksInFlight } from '../../src/compress/cpu-worker-pool.js';
import { planOnnxCompression } from '../../src/compress/onnx-plan.js';
import type { CompressionPolicy } from '../../src/compress/policy.js';
import { FormatError, InvalidArgumentError } from '../../src/errors.js';
import type { FileRange } from '../../src/io/byte-source.js';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';
import { nodeFileSink } from '../../src/io/safetensors/node-file-sink.js';
import { nodeFileSource, readFileRange } from '../../src/io/safetensors/node-file-source.js';
import { memorySink } from '../../src/io/safetensors/sinks.js';
import { recordingPool, useCpuWorkerPool } from '../shared/cpu-worker-pool-fixture.js';
import { buildMlp } from '../shared/mlp-onnx.js';
import { mixedMlp } from '../shared/mixed-mlp.js';
import { RUN_SEED } from './support.js';

const fixture = useCpuWorkerPool(2);
const dir = mkdtempSync(join(tmpdir(), 'wq-gguf-onnx-pool-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const policyOf = (dtype: 'qint8' | 'qint4'): CompressionPolicy => ({ dtype, granularity: 'group', groupSize: 32, firstLayer: 'quantize' });

/** The model at `path` compressed to GGUF in memory, read from its file, on `pool` or on this thread. */
async function compress(path: string, policy: CompressionPolicy, options: CompressToGgufOptions = {}) {
  const source = await nodeFileSource(path);
  try {
    const model = await OnnxModel.loadDeferred(source, { name: 'mixed.onnx' });
    const sink = memorySink();
    const report = await compressToGguf(model, planOnnxCompression(model, policy).decisions, sink, options);
    return { bytes: sink.bytes(), report: { ...report, seconds: 0 } };
  } finally {
    await source.close();
  }
}

describe('compressToGguf from an ONNX file on a worker pool', () => {
  it('writes the bytes and report of one thread, the workers reading, planning and encoding the float32 weights', { timeout: 60000 }, async () => {
    const path = join(dir, 'mixed.onnx');
    writeFileSync(path, mixedMlp(RUN_SEED + 11)); // fc0 float32 (512 KiB), fc1 float16, fc2 float32 with a NaN, fc3 small
    // fc1's float16 bytes in the file: tensorFileRange names them, float32FileRange does not.
    const source = await nodeFileSource(path);
    try {
      const model = await OnnxModel.loadDeferred(source, { name: 'mixed.onnx' });
      expect(await model.float32FileRange('fc1.weight')).toBeUndefined();
      const range = (await model.tensorFileRange('fc1.weight'))!;
      const read = new Uint8Array(range.byteLength);
      await readFileRange(range, read);
      expect(Buffer.compare(read, await model.read('fc1.weight'))).toBe(0);
      expect(range.byteLength).toBe(512 * 384 * 2);
      await expect(model.tensorFileRange('nope')).rejects.toThrow(InvalidArgumentError);
      await expect(model.tensorFileRange('nope')).rejects.toThrow(/has no weight named "nope"/);
    } finally {
      await source.close();
    }
    for (const dtype of ['qint8', 'qint4'] as const) {
      const alone = await compress(path, policyOf(dtype));
      const block = dtype === 'qint8' ? 'Q8_0' : 'Q4_0';
      expect(Object.fromEntries(alone.report.tensors.filter((t) => t.name.endsWith('weight')).map((t) => [t.name, t.ggmlType])))
        .toEqual({ 'fc0.weight': block, 'fc1.weight': block, 'fc2.weight': 'F32', 'fc3.weight': 'F16' });
      expect(alone.report.tensors.find((t) => t.name === 'fc0.weight')!.transposed).toBe(true);
      // Tasks by path: planned and encoded from the file (fc0, and fc1: float16), planned only (fc2: kept as
      // stored, written from here). Nothing held: fc0 and fc1 are read and encoded again while writing. Written as
      // planned (the default with a sink that restarts): fc2's NaN, the third plan, differs from the assumed type,
      // so fc0 and fc1, written by then, are encoded again.
      // bandBytes: fc0 [256, 512] in bands of 120 columns (the last 32), fc1 [512, 384] (float16) in bands of 56 (the
      // last 48), fc2 [384, 300] in bands of 80 until its NaN sends it back to whole.
      const bands = { bandBytes: 4 * 256 * 120 };
      const cases: [Partial<CompressToGgufOptions>, number, number][] = [
        [{ speculate: false }, 3, 0],
        [{ speculate: false, heldBytes: 0 }, 5, 0],
        [{}, 5, 0],
        [{ heldBytes: 0 }, 7, 0],
        [{ speculate: false, ...bands }, 3, 0],
        [{ heldBytes: 0, ...bands }, 7, 0],
      ];
      // One thread, the weights written transposed read from the file in bands (written as planned, and after planning).
      for (const speculate of [true, false]) {
        const banded = await compress(path, policyOf(dtype), { ...bands, speculate });
        expect(Buffer.compare(banded.bytes, alone.bytes), `${dtype} one thread in bands, speculate ${speculate}`).toBe(0);
        expect(banded.report, `${dtype} one thread in bands`).toEqual(alone.report);
      }
      for (const [options, fromFile, fromSlot] of cases) {
        const what = `${dtype} ${JSON.stringify(options)}`;
        const pool = recordingPool(fixture.pool);
        const sent: unknown[] = [];
        const run = pool.run;
        pool.run = ((task: string, args: unknown[], transfer?: ArrayBuffer[]) => {
          if (task === 'ggufWeightFile') sent.push(args[5]);
          return (run as (...a: unknown[]) => unknown)(task, args, transfer);
        }) as typeof pool.run;
        const pooled = await compress(path, policyOf(dtype), { ...options, pool });
        expect(sent, `${what}: the band size goes to the workers`).toEqual(new Array(fromFile).fill(options.bandBytes));
        expect(Buffer.compare(pooled.bytes, alone.bytes), what).toBe(0);
        expect(pooled.report, what).toEqual(alone.report);
        expect(pool.names.filter((task) => task === 'ggufWeightFile'), what).toHaveLength(fromFile);
        expect(pool.names.filter((task) => task === 'encodeGgufTensor'), what).toHaveLength(fromSlot);
        expect(pool.names, what).toHaveLength(fromFile + fromSlot);
      }
    }
  });

  it('a worker gets a written buffer for each tensor\'s bytes but the first in flight: no fresh memory a tensor', async () => {
    // Six float32 weights of 512 KiB, Q8_0, each read and encoded by a worker; written as planned (each task after
    // the first in flight waits for a written result's buffer), and after planning with nothing held (the same).
    const path = join(dir, 'deep.onnx');
    writeFileSync(path, buildMlp(onnxProto.onnx, [256, 512, 256, 512, 256, 512, 256], RUN_SEED + 14).model);
    const policy: CompressionPolicy = { ...policyOf('qint8'), minElements: 0 };
    const alone = await compress(path, policy);
    for (const options of [{}, { speculate: false, heldBytes: 0 }] as const) {
      const what = JSON.stringify(options);
      const pool = recordingPool(fixture.pool);
      const encoded: boolean[] = []; // a buffer sent with each encoding task
      const run = pool.run;
      pool.run = ((task: string, args: unknown[], transfer?: ArrayBuffer[]) => {
        if (task === 'ggufWeightFile' && args[3] === true) encoded.push(args[4] instanceof ArrayBuffer);
        return (run as (...a: unknown[]) => unknown)(task, args, transfer);
      }) as typeof pool.run;
      const pooled = await compress(path, policy, { ...options, pool });
      expect(Buffer.compare(pooled.bytes, alone.bytes), what).toBe(0);
      expect(pooled.report, what).toEqual(alone.report);
      const inFlight = poolTasksInFlight(pool);
      expect(encoded, what).toEqual([...new Array(inFlight).fill(false), ...new Array(6 - inFlight).fill(true)]);
    }
  });

  it('a file cut short after it was opened: a FormatError naming it, and no output file (whole, and in bands; pool and one thread)', async () => {
    const bytes = mixedMlp(RUN_SEED + 12);
    const cases: [string, CompressToGgufOptions][] = [
      ['pool', { pool: fixture.pool }],
      ['pool, bands', { pool: fixture.pool, bandBytes: 4 * 256 * 120 }],
      ['one thread, bands', { bandBytes: 4 * 256 * 120 }],
    ];
    for (const [what, options] of cases) {
      const path = join(dir, 'cut.onnx');
      writeFileSync(path, bytes);
      const out = join(dir, 'cut-out');
      rmSync(out, { recursive: true, force: true });
      const source = await nodeFileSource(path);
      try {
        const model = await OnnxModel.loadDeferred(source, { name: 'cut.onnx' });
        truncateSync(path, Math.floor(bytes.byteLength / 2));
        mkdirSync(out);
        const error = await compressToGguf(model, planOnnxCompression(model, policyOf('qint8')).decisions, await nodeFileSink(join(out, 'm.gguf')),
          options).catch((e: unknown) => e);
        expect(error, what).toBeInstanceOf(FormatError);
        expect((error as Error).message, what).toMatch(/cut\.onnx/);
        expect(readdirSync(out), what).toEqual([]);
      } finally {
        await source.close();
      }
    }
  });

  it('a weight whose values change between planning and writing: a FormatError, not a file whose header is wrong', async () => {
    const bytes = mixedMlp(RUN_SEED + 13);
    const path = join(dir, 'first.onnx');
    writeFileSync(path, bytes);
    const source = await nodeFileSource(path);
    try {
      const model = await OnnxModel.loadDeferred(source, { name: 'first.onnx' });
      const range = (await model.float32FileRange('fc0.weight'))!;
      // A copy of the file with a NaN in fc0, which the second read of fc0 (while writing) is pointed at.
      const changed = join(dir, 'changed.onnx');
      const patched = new Uint8Array(bytes);
      patched.set(new Uint8Array(Float32Array.of(NaN).buffer), range.offset);
      writeFileSync(changed, patched);
      let reads = 0;
      const reader = {
        list: () => model.list(),
        read: (name: string) => model.read(name),
        float32FileRange: async (name: string): Promise<FileRange | undefined> => {
          const at = await model.float32FileRange(name);
          return name === 'fc0.weight' && reads++ > 0 ? { ...at!, path: changed } : at;
        },
      };
      const error = await compressToGguf(reader, planOnnxCompression(model, policyOf('qint8')).decisions, memorySink(),
        { pool: fixture.pool, speculate: false, heldBytes: 0 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FormatError);
      expect((error as Error).message).toMatch(/fc0\.weight: .*changed\.onnx changed while it was being compressed/);
    } finally {
      await source.close();
    }
  });
});
