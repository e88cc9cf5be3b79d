// The CPU worker pool on Web Workers (module workers running dist/cpu-worker.js): compressing with the pool
// (safetensors, GGUF and ONNX outputs) gives the bytes of the calling thread on a fresh random model, and a terminated worker fails the call with
// WorkerError and aborts the sink (nothing is closed into a file).
import onnxProto from 'onnx-proto';
import { buildMlp } from '../../shared/mlp-onnx.js';
import {
  WorkerError, bytesSource, compressOnnx, compressToGguf, compressToSafetensors, createCpuWorkerPool, decideWeights, memorySink, openSafetensors, serializeSafetensors,
} from './imports.js';
import { type BrowserTest, RUN_SEED, randomData } from './support.js';

async function randomModel(seed: number): Promise<Uint8Array> {
  const shapes: [string, number[]][] = [['a.weight', [256, 512]], ['b.weight', [300, 257]], ['c.weight', [64, 64]], ['d.weight', [513, 129]]];
  return serializeSafetensors([
    ...shapes.map(([name, shape], i) => ({ name, dtype: 'F32' as const, shape, data: randomData(shape[0]! * shape[1]!, seed + i, 0.02 * (i + 1)) })),
    { name: 'e.bias', dtype: 'F32', shape: [512], data: randomData(512, seed + 9) },
  ]);
}

/** A sink that says whether it was closed or aborted. */
function watchedSink() {
  const inner = memorySink();
  const state = { closed: false, aborted: false };
  return {
    state, bytes: () => inner.bytes(),
    write: (chunk: Uint8Array) => inner.write(chunk),
    close: async () => { state.closed = true; await inner.close(); },
    abort: async (reason?: unknown) => { state.aborted = true; await inner.abort(reason); },
  };
}

export const tests: Record<string, BrowserTest> = {
  async 'compressToSafetensors with Web Workers: the same bytes as the calling thread'() {
    const model = await randomModel(RUN_SEED);
    const pool = await createCpuWorkerPool({ workers: 2 });
    try {
      for (const policy of [{ dtype: 'qint8' }, { dtype: 'qint4', granularity: 'group', groupSize: 32 }] as const) {
        const outputs: Uint8Array[] = [];
        for (const options of [{}, { pool }, { pool, heldBytes: 0 }]) {
          const reader = await openSafetensors(bytesSource(model, 'model.safetensors'));
          const sink = memorySink();
          await compressToSafetensors(reader, decideWeights(reader.list(), policy), sink, { backend: 'cpu' }, undefined, options);
          outputs.push(sink.bytes());
        }
        for (const [i, bytes] of outputs.entries()) {
          if (bytes.length !== outputs[0]!.length || bytes.some((b, j) => b !== outputs[0]![j])) {
            throw new Error(`${JSON.stringify(policy)}: output ${i} (${bytes.length} bytes) differs from the calling thread's (${outputs[0]!.length} bytes)`);
          }
        }
      }
    } finally {
      await pool.close();
    }
    return `seed ${RUN_SEED}`;
  },
  async 'compressToGguf with Web Workers: the same bytes and report as the calling thread'() {
    const model = await randomModel(RUN_SEED + 2);
    const pool = await createCpuWorkerPool({ workers: 2 });
    try {
      for (const dtype of ['qint8', 'qint4'] as const) {
        const outputs: { bytes: Uint8Array; report: string }[] = [];
        for (const options of [{}, { pool }, { pool, heldBytes: 0 }]) {
          const reader = await openSafetensors(bytesSource(model, 'model.safetensors'));
          const sink = memorySink();
          const report = await compressToGguf(reader, decideWeights(reader.list(), { dtype, granularity: 'group' }), sink, options);
          outputs.push({ bytes: sink.bytes(), report: JSON.stringify({ ...report, seconds: 0 }, (_, v: unknown) => (v instanceof Float64Array ? [...v] : v)) });
        }
        for (const [i, { bytes, report }] of outputs.entries()) {
          if (bytes.length !== outputs[0]!.bytes.length || bytes.some((b, j) => b !== outputs[0]!.bytes[j])) {
            throw new Error(`${dtype}: output ${i} (${bytes.length} bytes) differs from the calling thread's (${outputs[0]!.bytes.length} bytes)`);
          }
          if (report !== outputs[0]!.report) throw new Error(`${dtype}: report ${i} differs from the calling thread's`);
        }
      }
    } finally {
      await pool.close();
    }
    return `seed ${RUN_SEED + 2}, SharedArrayBuffer ${typeof SharedArrayBuffer === 'function' ? 'shared' : 'absent: buffers transferred'}`;
  },
  async 'compressOnnx with Web Workers: the same model and report as the calling thread'() {
    // Weights of 512 KiB, 512 KiB and 32 KiB of float32: two go to the pool.
    const { model } = buildMlp(onnxProto.onnx, [256, 512, 256, 32], RUN_SEED + 4);
    const pool = await createCpuWorkerPool({ workers: 2 });
    try {
      for (const policy of [{ firstLayer: 'quantize' }, { firstLayer: 'quantize', dtype: 'qint4', granularity: 'group', groupSize: 32, scaleDtype: 'float16' }] as const) {
        const alone = await compressOnnx(model, policy, { backend: 'cpu' });
        const pooled = await compressOnnx(model, { ...policy, pool }, { backend: 'cpu' });
        if (pooled.model.length !== alone.model.length || pooled.model.some((b, j) => b !== alone.model[j])) {
          throw new Error(`${JSON.stringify(policy)}: the pool's model (${pooled.model.length} bytes) differs from the calling thread's (${alone.model.length} bytes)`);
        }
        const report = (r: typeof alone.report) => JSON.stringify({ ...r, seconds: 0 });
        if (report(pooled.report) !== report(alone.report)) throw new Error(`${JSON.stringify(policy)}: the reports differ`);
        if (alone.report.tensors.filter((t) => t.action === 'quantize').length !== 3) throw new Error('expected 3 quantized weights');
      }
    } finally {
      await pool.close();
    }
    return `seed ${RUN_SEED}`;
  },
  async 'a terminated Web Worker: WorkerError, and the sink is aborted, never closed'() {
    const pool = await createCpuWorkerPool({ workers: 2 });
    try {
      await pool.killWorker(0);
      const reader = await openSafetensors(bytesSource(await randomModel(RUN_SEED + 1), 'model.safetensors'));
      const sink = watchedSink();
      let error: unknown;
      await compressToSafetensors(reader, decideWeights(reader.list(), { dtype: 'qint8' }), sink, { backend: 'cpu' }, undefined, { pool })
        .catch((e: unknown) => { error = e; });
      if (!(error instanceof WorkerError)) throw new Error(`expected WorkerError, got ${String(error)}`);
      if (!/CPU worker 1 of 2 stopped \(terminated\)/.test(error.message)) throw new Error(`message: ${error.message}`);
      if (!sink.state.aborted || sink.state.closed) throw new Error(`sink ${JSON.stringify(sink.state)}: expected aborted and not closed`);
    } finally {
      await pool.close();
    }
  },
};
