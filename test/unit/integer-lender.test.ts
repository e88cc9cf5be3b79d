// The integer lender hands a buffer out again only once no tensor of the model lies over it, and compressOnnxParts on
// the calling thread's CPU path, which lends the integers' memory from weight to weight when the output is written as
// it goes, writes the same bytes as compressOnnx (which lends nothing).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { describe, expect, it, vi } from 'vitest';
import { compressOnnx, compressOnnxParts } from '../../src/compress/compress-onnx.js';
import type { IntegerLender } from '../../src/compress/integer-lender.js';
import type { LentParameters } from '../../src/compress/lent-parameters.js';
import { LEND_FROM_BYTES, integerLender } from '../../src/compress/integer-lender.js';
import type { CompressOnnxOptions } from '../../src/compress/onnx-options.js';
import type { FloorOutcome } from '../../src/compress/quality-floor.js';
import { writeParts } from '../../src/io/onnx/deferred-raw-data.js';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';
import { type GraphProto, onnx } from '../../src/io/onnx/proto.js';
import { memorySink } from '../../src/io/safetensors/sinks.js';
import { nodeFileSource } from '../../src/io/safetensors/node-file-source.js';
import { QTensor } from '../../src/qtensor.js';
import { buildMlp } from '../shared/mlp-onnx.js';
import { RUN_SEED, normalData, rng } from './support.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { decideWeight } from '../../src/compress/policy.js';
import { quantizeWeight } from '../../src/compress/quantize-weight.js';
import { countingPool, useCpuWorkerPool } from '../shared/cpu-worker-pool-fixture.js';
import type { CpuWorkerPool } from '../../src/compress/cpu-worker-pool.js';

const lenders = vi.hoisted(() => [] as IntegerLender[]);
vi.mock('../../src/compress/integer-lender.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/compress/integer-lender.js')>();
  return { ...real, integerLender: (root: GraphProto, from?: number) => { const lender = real.integerLender(root, from); lenders.push(lender); return lender; } };
});

const cpu = { backend: 'cpu' } as const;
const fixture = useCpuWorkerPool(2);

/** A quantized outcome whose integers lie on `buffer`. */
function outcomeOver(buffer: ArrayBuffer, n: number): FloorOutcome {
  const q = new QTensor(new Int8Array(buffer, 0, n), [n], 'qint8', { scheme: 'per_tensor_affine', scale: 1, zeroPoint: 0 }, 'cpu');
  return { kind: 'quantized', decision: {} as never, steps: [], result: { ok: true, q, scales: Float32Array.of(1), zeroPoints: Int32Array.of(0), paramShape: [], stats: {} as never } };
}

const tensorOver = (name: string, buffer: ArrayBuffer, n: number) => onnx.TensorProto.create({ name, dims: [n], dataType: 3, rawData: new Uint8Array(buffer, 0, n) });

describe('integerLender', () => {
  it('gives back a rejected candidate at once, and the chosen integers only once the model lets go of them', () => {
    const graph = onnx.GraphProto.create({ initializer: [] }) as GraphProto;
    const lender = integerLender(graph, 0);
    const first = lender.forWeight(0);
    const rejected = first.take(1000);
    const chosen = first.take(1000);
    expect(chosen).not.toBe(rejected);
    expect(chosen.byteLength).toBeGreaterThanOrEqual(1000);
    first.keep(outcomeOver(chosen, 1000));
    // The candidate went back; the chosen buffer is not handed out while it waits for its commit.
    const second = lender.forWeight(1);
    expect(second.take(900)).toBe(rejected);
    expect(second.take(900)).not.toBe(chosen);
    expect(lender.reused).toBe(1);
    // Committed into the graph: still held, so settle() keeps it.
    graph.initializer.push(tensorOver('w_quantized', chosen, 1000));
    lender.settle(0);
    expect(lender.forWeight(2).take(1000)).not.toBe(chosen);
    // Written and dropped (a placeholder in its place): now it goes back.
    graph.initializer[0]!.rawData = new Uint8Array(1000);
    lender.settle(0);
    expect(lender.forWeight(3).take(1000)).toBe(chosen);
  });

  it('keeps a later weight\'s chosen integers until that weight is committed, though the model does not hold them yet', () => {
    const graph = onnx.GraphProto.create({ initializer: [] }) as GraphProto;
    const lender = integerLender(graph, 0);
    // Weight 1 is prepared (its outcome in) before weight 0 is committed and written.
    const [zero, one] = [0, 1].map((i) => {
      const loan = lender.forWeight(i);
      const buffer = loan.take(512);
      loan.keep(outcomeOver(buffer, 512));
      return buffer;
    });
    lender.settle(0); // weight 0 written and dropped: nothing holds either buffer
    const next = lender.forWeight(2);
    expect(next.take(512)).toBe(zero);
    expect(next.take(512)).not.toBe(one);
    lender.settle(1);
    expect(lender.forWeight(3).take(512)).toBe(one);
  });

  it('lends a commit exactly the bytes it asks for, back once written and let go', () => {
    const graph = onnx.GraphProto.create({ initializer: [] }) as GraphProto;
    const lender = integerLender(graph, 0);
    const packed = lender.forCommit(0, 1001);
    expect(packed.byteLength).toBe(1001);
    graph.initializer.push(onnx.TensorProto.create({ name: 'w_quantized', dims: [2002], dataType: 22, rawData: packed }));
    lender.settle(0);
    const next = lender.forCommit(1, 1001);
    expect(next.buffer).not.toBe(packed.buffer); // still in the model
    graph.initializer.push(onnx.TensorProto.create({ name: 'v_quantized', dims: [2002], dataType: 22, rawData: next }));
    graph.initializer[0]!.rawData = new Uint8Array(1001); // written and dropped
    lender.settle(1);
    expect(lender.forCommit(2, 900).buffer).toBe(packed.buffer);
  });

  it('leaves integers under LEND_FROM_BYTES untracked: fresh memory, nothing to settle', () => {
    const graph = onnx.GraphProto.create({ initializer: [] }) as GraphProto;
    const lender = integerLender(graph);
    const small = lender.forWeight(0);
    const a = small.take(LEND_FROM_BYTES - 1);
    small.keep(outcomeOver(a, 16));
    lender.settle(0);
    const b = lender.forWeight(1).take(LEND_FROM_BYTES - 1);
    expect(b).not.toBe(a);
    expect(lender.forCommit(2, 100).byteLength).toBe(100);
    lender.adopt(3, outcomeOver(new ArrayBuffer(64), 64));
    lender.settle(3);
    expect(lender.forPool(1)).toBeUndefined();
    expect(lender.reused).toBe(0);
    // From the threshold on, memory is used again.
    const big = lender.forWeight(4);
    const c = big.take(LEND_FROM_BYTES);
    big.keep(undefined);
    expect(lender.forWeight(5).take(LEND_FROM_BYTES)).toBe(c);
    expect(lender.reused).toBe(1);
  });

  it('looks for tensors in every graph, Constant nodes and sparse initializers included', () => {
    const placeholder = () => tensorOver('t', new ArrayBuffer(64), 64);
    const constant = onnx.NodeProto.create({ opType: 'Constant', attribute: [onnx.AttributeProto.create({ name: 'value', type: 4, t: placeholder() })] });
    const sparse = onnx.SparseTensorProto.create({ values: placeholder(), indices: placeholder() });
    const graph = onnx.GraphProto.create({
      node: [onnx.NodeProto.create({ opType: 'If', attribute: [onnx.AttributeProto.create({ name: 'then_branch', type: 5, g: onnx.GraphProto.create({ node: [constant] }) })] })],
      sparseInitializer: [sparse],
    }) as GraphProto;
    const lender = integerLender(graph, 0);
    // Four weights' chosen integers, then three of them laid under the graph's tensors.
    const taken = [0, 1, 2, 3].map((i) => {
      const loan = lender.forWeight(i);
      const buffer = loan.take(64);
      loan.keep(outcomeOver(buffer, 64));
      return buffer;
    });
    expect(new Set(taken).size).toBe(4);
    [constant.attribute[0]!.t!, sparse.values!, sparse.indices!].forEach((t, k) => { t.rawData = new Uint8Array(taken[k]!, 0, 64); });
    lender.settle(3);
    // Only the fourth is free: the next take gets it, and the one after a fresh buffer.
    const next = lender.forWeight(4);
    expect(next.take(64)).toBe(taken[3]);
    expect(taken).not.toContain(next.take(64));
  });
});

describe('QuantizeWeightOptions.integers', () => {
  const decide = (dtype: 'qint8' | 'qint4', granularity: 'channel' | 'group') =>
    decideWeight({ name: 'w', dtype: 'float32', shape: [48, 64], consumers: [{ opType: 'MatMul', inputIndex: 1 }] }, { dtype, granularity, firstLayer: 'quantize', minSqnrDb: 0 });

  it('the integers go into the memory given, the same bits and statistics as without it', async () => {
    const next = rng(RUN_SEED);
    const x = { data: normalData(48 * 64, next), shape: [48, 64] };
    for (const decision of [decide('qint8', 'channel'), decide('qint4', 'group')]) {
      const given = new ArrayBuffer(48 * 64 + 100);
      new Uint8Array(given).fill(0x5a); // what was there before must not show
      const asked: number[] = [];
      const into = await quantizeWeight(x, decision, { integers: (n) => { asked.push(n); return given; } }, cpu);
      const plain = await quantizeWeight(x, decision, {}, cpu);
      if (!into.ok || !plain.ok) throw new Error('not quantized');
      expect(asked).toEqual([48 * 64]);
      expect(into.q.intReprView().buffer).toBe(given);
      expect([...into.q.intRepr()]).toEqual([...plain.q.intRepr()]);
      expect(into.stats.overall).toEqual(plain.stats.overall);
    }
  });

  it('refuses what is not a function, and memory that is not an ArrayBuffer large enough', async () => {
    const x = { data: normalData(48 * 64, rng(RUN_SEED + 1)), shape: [48, 64] };
    const decision = decide('qint8', 'channel');
    await expect(quantizeWeight(x, decision, { integers: 7 as never }, cpu)).rejects.toThrow(InvalidArgumentError);
    await expect(quantizeWeight(x, decision, { integers: () => new ArrayBuffer(10) }, cpu)).rejects.toThrow(/ArrayBuffer of 10 bytes; return an ArrayBuffer of at least the 3072 bytes/);
    await expect(quantizeWeight(x, decision, { integers: () => new Uint8Array(4096) as never }, cpu)).rejects.toThrow(InvalidArgumentError);
  });
});

describe('integerLender with CPU workers', () => {
  it('sends a worker\'s buffer back once its weight is committed and the model lets go of it', () => {
    const graph = onnx.GraphProto.create({ initializer: [] }) as GraphProto;
    const lender = integerLender(graph, 0);
    const fromWorker = [new ArrayBuffer(4096), new ArrayBuffer(2048)];
    lender.adopt(0, outcomeOver(fromWorker[0]!, 4096));
    lender.adopt(1, outcomeOver(fromWorker[1]!, 2048));
    lender.adopt(2, { kind: 'keep', reason: 'kept', steps: [] }); // nothing to adopt
    expect(lender.forPool(1)).toBeUndefined(); // nothing committed yet
    graph.initializer.push(tensorOver('w0_quantized', fromWorker[0]!, 4096));
    lender.settle(1); // weight 1's buffer is free, weight 0's still in the model
    expect(lender.forPool(4096)).toBeUndefined(); // too small
    expect(lender.forPool(1024)).toBe(fromWorker[1]);
    expect(lender.forPool(1024)).toBeUndefined(); // handed out once
    graph.initializer[0]!.rawData = new Uint8Array(16);
    lender.settle(1);
    expect(lender.forPool(4096)).toBe(fromWorker[0]);
    expect(lender.reused).toBe(2);
    // A worker's buffer never goes to this thread's own loans.
    lender.adopt(3, outcomeOver(new ArrayBuffer(64), 64));
    lender.settle(3);
    expect(lender.forWeight(4).take(64)).not.toBe(lender.forPool(64));
  });
});

describe('integerLender: parameters for CPU workers', () => {
  /** A per-group outcome of `count` parameters, each array in a buffer of its own (as a worker's arrive), and those buffers. */
  const groupsOutcome = (count: number, shared = false): { outcome: FloorOutcome; buffers: ArrayBuffer[] } => {
    const scales = Float32Array.from({ length: count }, (_, i) => 0.01 * (i + 1));
    const zeroPoints = new Int32Array(count);
    const scales64 = shared ? new Float64Array(scales.buffer, 0, count / 2) : Float64Array.from(scales);
    const q = new QTensor(new Int8Array(32 * count), [count, 32], 'qint8', { scheme: 'per_group_affine', scales: scales64, zeroPoints, axis: 1, groupSize: 32 }, 'cpu');
    const outcome: FloorOutcome = { kind: 'quantized', decision: {} as never, steps: [], result: { ok: true, q, scales, zeroPoints, paramShape: [count, 1], stats: {} as never } };
    return { outcome, buffers: [scales.buffer, zeroPoints.buffer, scales64.buffer] };
  };

  it('sends a committed weight\'s parameters back once the model lies over none of them, for exactly as many parameters', () => {
    const graph = onnx.GraphProto.create({ initializer: [] }) as GraphProto;
    const lender = integerLender(graph, 0);
    const count = 1000 + Math.floor(rng(5)() * 1000);
    const first = groupsOutcome(count);
    const second = groupsOutcome(count);
    lender.adoptParameters(0, first.outcome);
    lender.adoptParameters(2, second.outcome);
    // The model still holds a view of weight 0's scales (its scale tensor, until written and let go).
    graph.initializer.push(onnx.TensorProto.create({ name: 'w0_scale', dims: [count], dataType: 1, rawData: new Uint8Array(first.buffers[0]!) }));
    lender.settle(1);
    expect(lender.forPoolParameters(count)).toBeUndefined(); // weight 0's held, weight 2 not committed
    graph.initializer[0]!.rawData = new Uint8Array(4);
    lender.settle(1);
    expect(lender.forPoolParameters(count + 1)).toBeUndefined(); // exactly as many, or none
    expect(lender.forPoolParameters(count)).toEqual({ scales: first.buffers[0], zeroPoints: first.buffers[1], scales64: first.buffers[2] });
    expect(lender.forPoolParameters(count)).toBeUndefined(); // handed out once; weight 2 waits for its commit
    lender.settle(2);
    expect(lender.forPoolParameters(count)?.scales64).toBe(second.buffers[2]);
    expect(lender.reused).toBe(2);
  });

  it('tracks no parameters that share a buffer, a per-tensor outcome, or fewer than lendFromBytes bytes of them', () => {
    const graph = onnx.GraphProto.create({ initializer: [] }) as GraphProto;
    const lender = integerLender(graph, 0);
    lender.adoptParameters(0, groupsOutcome(512, true).outcome); // float64 scales over the float32 ones' buffer
    lender.adoptParameters(1, outcomeOver(new ArrayBuffer(64), 64)); // per tensor
    lender.adoptParameters(2, { kind: 'keep', reason: 'kept', steps: [] });
    lender.adoptParameters(3, undefined);
    lender.settle(3);
    expect(lender.forPoolParameters(512)).toBeUndefined();
    // 16 bytes a parameter: 65536 of them are 1 MiB, the default LEND_FROM_BYTES.
    const byDefault = integerLender(graph);
    byDefault.adoptParameters(0, groupsOutcome(LEND_FROM_BYTES / 16 - 32).outcome);
    byDefault.adoptParameters(1, groupsOutcome(LEND_FROM_BYTES / 16).outcome);
    byDefault.settle(1);
    expect(byDefault.forPoolParameters(LEND_FROM_BYTES / 16 - 32)).toBeUndefined();
    expect(byDefault.forPoolParameters(LEND_FROM_BYTES / 16)).toBeDefined();
  });
});

describe(`compressOnnxParts lends the integers' memory on the CPU path (seed ${RUN_SEED})`, () => {
  /**
   * An MLP with its MatMul weights first (so one is quantized while the one before it is written), each smaller than
   * the one before (so a buffer given back too early is the best fit for the next weight).
   */
  const mlp = (seed: number) => {
    const model = onnxProto.onnx.ModelProto.decode(buildMlp(onnxProto.onnx, [256, 256, 160, 96, 64, 48, 32], seed).model);
    model.graph!.initializer!.sort((a, b) => b.dims!.length - a.dims!.length); // stable: the weights keep their order
    return onnxProto.onnx.ModelProto.encode(model).finish();
  };

  /**
   * compressOnnxParts into a memory sink that can start again (written as planned), the parts written after where
   * not. Each write finishes a macrotask later, as a file's does: the next weight is quantized meanwhile.
   */
  async function throughSink(bytes: Uint8Array | OnnxModel, options: CompressOnnxOptions, fileBlockBytes?: number) {
    const inner = memorySink();
    const sink = { ...inner, bytes: inner.bytes, write: async (chunk: Uint8Array) => {
      await new Promise((resolve) => setTimeout(resolve, 0));
      await inner.write(chunk);
    } };
    const model = bytes instanceof OnnxModel ? bytes : await OnnxModel.load(bytes, { name: 'mlp' });
    const result = await compressOnnxParts(model, options, cpu, { sink, lendFromBytes: 0, ...(fileBlockBytes ? { fileBlockBytes } : {}) });
    if (!result.written) await writeParts(result.parts, (chunk) => sink.write(chunk));
    await sink.close();
    return { bytes: sink.bytes(), written: result.written === true, report: result.report };
  }

  it('the same file as compressOnnx, with buffers handed out again, for 8 and 4 bits and an escalation', { timeout: 60000 }, async () => {
    const schemes: CompressOnnxOptions[] = [
      { firstLayer: 'quantize' },
      { dtype: 'qint4', granularity: 'group', groupSize: 32, firstLayer: 'quantize', minSqnrDb: 0 },
      { dtype: 'quint8', granularity: 'tensor', minSqnrDb: 0, firstLayer: 'quantize' },
      // int4 per tensor falls below this floor and escalates: the sink starts again, the integers stay in the model.
      { dtype: 'qint4', granularity: 'tensor', minSqnrDb: 20, firstLayer: 'quantize' },
    ];
    for (const [s, options] of schemes.entries()) {
      const bytes = mlp(RUN_SEED + s);
      const expected = await compressOnnx(bytes, options, cpu);
      lenders.length = 0;
      const got = await throughSink(bytes, options);
      expect(lenders.length, `scheme ${s}`).toBe(1);
      expect(Buffer.from(got.bytes).equals(Buffer.from(expected.model)), `scheme ${s}`).toBe(true);
      if (s < 3) {
        expect(got.written, `scheme ${s}`).toBe(true);
        expect(lenders[0]!.reused, `scheme ${s}: buffers handed out again`).toBeGreaterThanOrEqual(3);
      } else {
        expect(got.report.tensors.some((t) => t.escalations?.length), 'an escalation').toBe(true);
      }
    }
  });

  it('on a pool of workers, sends buffers back to the workers and writes the same file', { timeout: 60000 }, async () => {
    // Weights of 256 KiB of float32 and more go to the workers; seven of them the same size, each fitting the one before.
    const bytes = onnxProto.onnx.ModelProto.encode((() => {
      const model = onnxProto.onnx.ModelProto.decode(buildMlp(onnxProto.onnx, [512, 512, 384, 256, 256, 256, 256, 256, 256, 256], RUN_SEED + 7).model);
      model.graph!.initializer!.sort((a, b) => b.dims!.length - a.dims!.length);
      return model;
    })()).finish();
    const dir = mkdtempSync(join(tmpdir(), 'wq-lender-'));
    try {
      const path = join(dir, 'mlp.onnx');
      writeFileSync(path, bytes);
      for (const options of [
        { firstLayer: 'quantize' }, { dtype: 'qint4', granularity: 'group', groupSize: 32, minSqnrDb: 0, firstLayer: 'quantize' },
        { dtype: 'qint8', granularity: 'group', groupSize: 32, minSqnrDb: 0, firstLayer: 'quantize' },
        // Every weight below the floor in groups: escalated, so the file is not written as planned, and the weights
        // held to be written after keep their parameters (none lent).
        { dtype: 'qint4', granularity: 'group', groupSize: 32, minSqnrDb: 30, firstLayer: 'quantize' },
      ] as CompressOnnxOptions[]) {
        const expected = await compressOnnx(bytes, options, cpu);
        // From memory (the weights sent to the workers), from the file (the workers read them there), and from the
        // file a block of 64 KiB at a time (a weight of 8-bit groups gets the parameters' memory of one before it; one
        // of 4-bit groups, packed, has its parameters after its integers, in the buffer of an earlier weight's).
        for (const from of ['memory', 'the file', 'the file in blocks'] as const) {
          const sentBack: boolean[] = [];
          const parametersSent: number[] = [];
          const pool: CpuWorkerPool & { tasks: number } = countingPool(fixture.pool);
          const run = pool.run;
          pool.run = (async (task: string, args: unknown[], transfer?: readonly ArrayBuffer[]) => {
            if (task === 'floorWeight' || task === 'floorWeightFile') sentBack.push(args[task === 'floorWeight' ? 3 : 4] instanceof ArrayBuffer);
            const lent = task === 'floorWeightFile' ? args[8] as LentParameters | undefined : undefined;
            const outcome = await run(task as never, args as never, transfer) as FloorOutcome;
            const packed = outcome.kind === 'quantized' ? outcome.result.q.packedNibbles : undefined;
            const params = outcome.kind === 'quantized' ? outcome.result.q.params : undefined;
            if (task === 'floorWeightFile' && packed && outcome.kind === 'quantized' && params?.scheme === 'per_group_affine') {
              expect([outcome.result.scales.buffer, outcome.result.zeroPoints.buffer, params.scales.buffer].every((b) => b === packed.buffer),
                'the parameters after the packed integers').toBe(true);
            }
            if (lent) {
              // Transferred there, and the outcome's parameters came back in the same memory (transferred again).
              expect(lent.scales.byteLength, 'sent').toBe(0);
              if (outcome.kind !== 'quantized') throw new Error('quantized');
              parametersSent.push(outcome.result.scales.length);
              expect(outcome.result.scales.buffer.byteLength).toBe(4 * outcome.result.scales.length);
              expect(outcome.result.q.params).toMatchObject({ scales: expect.any(Float64Array), zeroPoints: outcome.result.zeroPoints });
            }
            return outcome;
          }) as CpuWorkerPool['run'];
          lenders.length = 0;
          const model = from !== 'memory' ? await OnnxModel.loadDeferred(await nodeFileSource(path), { name: 'mlp' }) : await OnnxModel.load(bytes, { name: 'mlp' });
          const got = await throughSink(model, { ...options, pool }, from === 'the file in blocks' ? 65536 : undefined);
          const what = `${JSON.stringify(options)}, from ${from}`;
          expect(Buffer.from(got.bytes).equals(Buffer.from(expected.model)), what).toBe(true);
          expect(sentBack.length, what).toBe(9);
          if (options.minSqnrDb === 30) {
            expect(got.written || !got.report.tensors.every((t) => t.action === 'keep' || t.escalations?.length), what).toBe(false);
          } else {
            expect(sentBack.filter(Boolean).length, `${what}: buffers sent back`).toBeGreaterThanOrEqual(2);
            expect(lenders[0]!.reused, what).toBeGreaterThanOrEqual(2);
          }
          // 8-bit groups of 32 of the [256, 256] weights: 2048 parameters, lent again from one weight to the next.
          if (from === 'the file in blocks' && options.dtype === 'qint8' && options.minSqnrDb === 0) expect(parametersSent.filter((n) => n === 2048).length, what).toBeGreaterThanOrEqual(2);
          else expect(parametersSent, what).toEqual([]);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
