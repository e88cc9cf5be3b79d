// warmFileRange reads a file range in the background into memory it throws away, one piece at a time, closes the
// file, and never fails; compressOnnxParts on one thread warms the next weight of a model read from its file, and writes the same
// bytes as from memory.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { compressOnnx, compressOnnxParts } from '../../src/compress/compress-onnx.js';
import type { FileRange } from '../../src/io/byte-source.js';
import { writeParts } from '../../src/io/onnx/deferred-raw-data.js';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';
import { nodeFileSource, warmFileRange } from '../../src/io/safetensors/node-file-source.js';
import { memorySink } from '../../src/io/safetensors/sinks.js';
import { buildMlp } from '../shared/mlp-onnx.js';
import { RUN_SEED } from './support.js';

const warmed = vi.hoisted(() => [] as FileRange[]);
vi.mock('../../src/io/safetensors/node-file-source.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/io/safetensors/node-file-source.js')>();
  return { ...real, warmFileRange: (range: FileRange) => { warmed.push(range); return real.warmFileRange(range); } };
});

const dir = mkdtempSync(join(tmpdir(), 'wq-warm-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const openFds = () => readdirSync('/proc/self/fd').length;
const linux = process.platform === 'linux';

describe('warmFileRange', () => {
  it('reads a range in pieces, closes the file, and leaves nothing open', async () => {
    const path = join(dir, 'data.bin');
    const bytes = new Uint8Array(3.5 * 2 ** 20 + 123).map((_, i) => (i * 7 + RUN_SEED) & 0xff);
    writeFileSync(path, bytes);
    const before = linux ? openFds() : 0;
    await expect(warmFileRange({ path, offset: 1000, byteLength: 3 * 2 ** 20 + 5 })).resolves.toBeUndefined();
    if (linux) expect(openFds()).toBe(before);
    // The file is as it was, and reads the same afterwards.
    const source = await nodeFileSource(path);
    try {
      expect(Buffer.from(await source.read(1000, 4096)).equals(Buffer.from(bytes.subarray(1000, 5096)))).toBe(true);
    } finally {
      await source.close();
    }
  });

  it('reads one piece at a time, in order, so that other reads never queue behind it; stops at the end of the file', async () => {
    const path = join(dir, 'pieces.bin');
    writeFileSync(path, new Uint8Array(2.5 * 2 ** 20 + RUN_SEED % 1000));
    const probe = await open(path, 'r');
    const proto = Object.getPrototypeOf(probe) as { read: (...args: unknown[]) => Promise<{ bytesRead: number }> };
    await probe.close();
    const real = proto.read;
    const positions: number[] = [];
    let inFlight = 0;
    let most = 0;
    const spy = vi.spyOn(proto, 'read').mockImplementation(async function (this: unknown, ...args: unknown[]) {
      positions.push(args[3] as number);
      most = Math.max(most, ++inFlight);
      try {
        return await real.apply(this, args);
      } finally {
        inFlight--;
      }
    });
    try {
      await warmFileRange({ path, offset: 7, byteLength: 2.5 * 2 ** 20 });
      expect(positions).toEqual([7, 7 + 2 ** 20, 7 + 2 * 2 ** 20]);
      expect(most).toBe(1);
      positions.length = 0;
      // A range past the end: the read that finds no bytes is the last.
      await warmFileRange({ path, offset: 3 * 2 ** 20, byteLength: 8 * 2 ** 20 });
      expect(positions).toEqual([3 * 2 ** 20]);
    } finally {
      spy.mockRestore();
    }
  });

  it('never fails: a missing file, a range past the end', async () => {
    await expect(warmFileRange({ path: join(dir, 'missing.bin'), offset: 0, byteLength: 4096 })).resolves.toBeUndefined();
    const path = join(dir, 'short.bin');
    writeFileSync(path, new Uint8Array(100));
    const before = linux ? openFds() : 0;
    await expect(warmFileRange({ path, offset: 50, byteLength: 3 * 2 ** 20 })).resolves.toBeUndefined();
    if (linux) expect(openFds()).toBe(before);
  });
});

describe(`compressOnnxParts on one thread warms the next weight (seed ${RUN_SEED})`, () => {
  it('from a file: each next weight of 1 MiB or more warmed, the same bytes as from memory', { timeout: 60000 }, async () => {
    const bytes = buildMlp(onnxProto.onnx, [512, 1024, 512, 768, 64], RUN_SEED).model; // weights of 2, 2, 1.5 MiB and 192 KiB
    const path = join(dir, 'mlp.onnx');
    writeFileSync(path, bytes);
    const options = { firstLayer: 'quantize' as const };
    const expected = await compressOnnx(bytes, options, { backend: 'cpu' });
    warmed.length = 0;
    const source = await nodeFileSource(path);
    try {
      const model = await OnnxModel.loadDeferred(source, { name: 'mlp' });
      const sink = memorySink();
      const result = await compressOnnxParts(model, options, { backend: 'cpu' }, { sink });
      if (!result.written) await writeParts(result.parts, (chunk) => sink.write(chunk));
      await sink.close();
      expect(Buffer.from(sink.bytes()).equals(Buffer.from(expected.model))).toBe(true);
    } finally {
      await source.close();
    }
    // fc1 and fc2 are warmed while the weight before each computes; fc3 (192 KiB) is not, nor anything from memory.
    expect(warmed.map((r) => r.byteLength)).toEqual([2 * 2 ** 20, 1.5 * 2 ** 20]);
    expect(warmed.every((r) => r.path === path)).toBe(true);
    await compressOnnx(bytes, options, { backend: 'cpu' });
    expect(warmed).toHaveLength(2);
  });
});
