// A big tensor kept as it is stored goes from its input file to the output a piece at a time (copyFileRange,
// GgufWriter.writeChunk, SafetensorsWriter.writeChunk): the same bytes as a whole read, the sink never handed more
// than a piece of it, on one thread and on a worker pool. copyFileRange's pieces, order and errors; the GGUF
// writer's pieces and what it refuses.
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, describe, expect, it } from 'vitest';
import { compressToGguf } from '../../src/compress/compress-gguf.js';
import { compressToSafetensors } from '../../src/compress/compress-safetensors.js';
import type { CpuWorkerPool } from '../../src/compress/cpu-worker-pool.js';
import { planOnnxCompression } from '../../src/compress/onnx-plan.js';
import { FormatError, InvalidArgumentError } from '../../src/errors.js';
import { createGgufWriter } from '../../src/io/gguf/writer.js';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';
import { COPY_PIECE_BYTES, copyFileRange, nodeFileSource } from '../../src/io/safetensors/node-file-source.js';
import { type MemorySink, memorySink } from '../../src/io/safetensors/sinks.js';
import { useCpuWorkerPool } from '../shared/cpu-worker-pool-fixture.js';
import { buildMlp } from '../shared/mlp-onnx.js';
import { rng } from '../shared/random.js';
import { RUN_SEED } from './support.js';

const fixture = useCpuWorkerPool(2);
const dir = mkdtempSync(join(tmpdir(), 'wq-kept-copy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function randomBytes(n: number, seed: number): Uint8Array {
  const next = rng(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(next() * 256));
}

/** A memory sink that remembers the largest chunk it was handed. */
function recordingSink(): MemorySink & { largest: number } {
  const inner = memorySink();
  const sink = {
    largest: 0,
    write: (chunk: Uint8Array) => {
      sink.largest = Math.max(sink.largest, chunk.byteLength);
      return inner.write(chunk);
    },
    close: () => inner.close(), abort: (reason?: unknown) => inner.abort(reason), restart: () => inner.restart!(), bytes: () => inner.bytes(),
  };
  return sink as MemorySink & { largest: number };
}

describe('copyFileRange', () => {
  it('hands over a range of a file in order, in pieces of at most pieceBytes, in two arrays used in turn', async () => {
    const bytes = randomBytes(3 * 2 ** 20 + 1234, RUN_SEED + 1);
    const path = join(dir, 'range.bin');
    writeFileSync(path, bytes);
    for (const [offset, byteLength, pieceBytes] of [[13, bytes.length - 20, 2 ** 20 + 3], [0, bytes.length, bytes.length], [7, 1, 4], [100, 0, 8]] as const) {
      const pieces: Uint8Array[] = [];
      const arrays = new Set<ArrayBufferLike>();
      await copyFileRange({ path, offset, byteLength }, async (piece) => {
        const copy = piece.slice();
        await new Promise((resolve) => setTimeout(resolve, 1)); // the next piece is read meanwhile
        expect(Buffer.compare(piece, copy), 'a piece left as it is until its write resolves').toBe(0);
        pieces.push(copy);
        arrays.add(piece.buffer);
      }, pieceBytes);
      expect(pieces.length).toBe(Math.ceil(byteLength / pieceBytes));
      expect(arrays.size).toBe(Math.min(2, pieces.length));
      expect(Math.max(0, ...pieces.map((p) => p.byteLength))).toBeLessThanOrEqual(pieceBytes);
      expect(Buffer.compare(Buffer.concat(pieces), bytes.subarray(offset, offset + byteLength))).toBe(0);
    }
  });

  it('ends with the error of a write that fails, or a FormatError for a file cut short', async () => {
    const path = join(dir, 'short.bin');
    writeFileSync(path, randomBytes(10000, RUN_SEED + 2));
    let calls = 0;
    await expect(copyFileRange({ path, offset: 0, byteLength: 10000 }, async () => {
      if (++calls === 2) throw new Error('disk full');
    }, 3000)).rejects.toThrow('disk full');
    expect(calls).toBe(2);
    truncateSync(path, 5000);
    await expect(copyFileRange({ path, offset: 0, byteLength: 10000 }, async () => undefined, 3000)).rejects.toThrow(FormatError);
    await expect(copyFileRange({ path: join(dir, 'gone.bin'), offset: 0, byteLength: 1 }, async () => undefined)).rejects.toThrow(/gone\.bin/);
  });
});

describe('GgufWriter.writeChunk', () => {
  const plans = [{ name: 'a', type: 'F32' as const, ne: [5] }, { name: 'b', type: 'F16' as const, ne: [3] }];

  it('writes a tensor in pieces as write writes it whole', async () => {
    const a = randomBytes(20, RUN_SEED + 3);
    const b = randomBytes(6, RUN_SEED + 4);
    const whole = memorySink();
    const w1 = await createGgufWriter(whole, [], plans);
    await w1.write('a', a);
    await w1.write('b', b);
    await w1.close();
    const pieces = memorySink();
    const w2 = await createGgufWriter(pieces, [], plans);
    for (const [from, to] of [[0, 7], [7, 7], [7, 20]]) await w2.writeChunk('a', a.subarray(from, to));
    await w2.writeChunk('b', b);
    await w2.close();
    expect(Buffer.compare(pieces.bytes(), whole.bytes())).toBe(0);
  });

  it('refuses a piece past the tensor, a whole write over pieces, another name, and closes no half tensor', async () => {
    const w = await createGgufWriter(memorySink(), [], plans);
    await w.writeChunk('a', new Uint8Array(12));
    await expect(w.writeChunk('a', new Uint8Array(9))).rejects.toThrow(/a: F32 \[5\] has 8 bytes left to write, got a piece of 9/);
    await expect(w.write('a', new Uint8Array(20))).rejects.toThrow(/12 of its bytes were written in pieces/);
    await expect(w.writeChunk('b', new Uint8Array(2))).rejects.toThrow(InvalidArgumentError);
    await expect(w.close()).rejects.toThrow(/only 0 of 2 tensors were written/);
  });
});

describe('kept tensors copied from their file', () => {
  // fc0 [1024, 2048] float32 (8 MiB), the first layer, kept as it is stored; fc1 quantized.
  const model = buildMlp(onnxProto.onnx, [1024, 2048, 64], RUN_SEED + 5).model;
  const path = join(dir, 'mlp.onnx');
  writeFileSync(path, model);
  const policy = { dtype: 'qint8' as const, granularity: 'group' as const, groupSize: 32 };

  /** compress(model) from the file (read as the command line reads it) and from memory: sinks and reports. */
  async function both(compress: (model: OnnxModel, sink: MemorySink) => Promise<{ tensors: { name: string; action?: string }[] }>) {
    const inMemory = OnnxModel.load(model);
    const fromMemory = recordingSink();
    const memoryReport = await compress(await inMemory, fromMemory);
    const source = await nodeFileSource(path);
    try {
      const fromFile = recordingSink();
      const fileReport = await compress(await OnnxModel.loadDeferred(source, { name: 'mlp.onnx' }), fromFile);
      return { fromMemory, fromFile, memoryReport, fileReport };
    } finally {
      await source.close();
    }
  }

  for (const threads of ['one thread', 'a pool of two'] as const) {
    const poolOf = (): { pool?: CpuWorkerPool } => (threads === 'one thread' ? {} : { pool: fixture.pool });

    it(`GGUF, ${threads}: the same file, fc0 handed to the sink a piece at a time`, { timeout: 60000 }, async () => {
      const { fromMemory, fromFile, fileReport } = await both(async (m, sink) =>
        compressToGguf(m, planOnnxCompression(m, policy).decisions, sink, { name: 'mlp', ...poolOf() }));
      expect(fileReport.tensors.find((t) => t.name === 'fc0.weight')).toMatchObject({ action: 'keep', ggmlType: 'F32', bytesAfter: 8 * 2 ** 20 });
      expect(fileReport.tensors.find((t) => t.name === 'fc1.weight')).toMatchObject({ action: 'quantize', ggmlType: 'Q8_0' });
      expect(Buffer.compare(fromFile.bytes(), fromMemory.bytes())).toBe(0);
      expect(fromMemory.largest).toBe(8 * 2 ** 20); // read whole from memory
      expect(fromFile.largest).toBeLessThanOrEqual(COPY_PIECE_BYTES);
    });

    it(`safetensors, ${threads}: the same file, fc0 handed to the sink a piece at a time`, { timeout: 60000 }, async () => {
      const { fromMemory, fromFile, fileReport } = await both(async (m, sink) =>
        compressToSafetensors(m, planOnnxCompression(m, policy).decisions, sink, { backend: 'cpu' }, undefined, poolOf()));
      expect(fileReport.tensors.find((t) => t.name === 'fc0.weight')).toMatchObject({ action: 'keep' });
      expect(Buffer.compare(fromFile.bytes(), fromMemory.bytes())).toBe(0);
      expect(fromMemory.largest).toBeGreaterThanOrEqual(8 * 2 ** 20);
      expect(fromFile.largest).toBeLessThanOrEqual(COPY_PIECE_BYTES);
    });
  }
});
