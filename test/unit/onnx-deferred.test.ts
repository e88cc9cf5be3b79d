// ONNX models read with their tensor data left in the file (decodeDeferred, OnnxModel.loadDeferred): the same
// model as a whole read once the data is read, the data read straight into a caller's array, parts written
// through a small buffer to the same bytes, damaged files refused (the caller reads them whole), and the
// compress command's output the same bytes as compressOnnx's, to a file and to stdout.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, describe, expect, it } from 'vitest';
import { compressOnnx } from '../../src/compress/compress-onnx.js';
import { bytesSource } from '../../src/io/byte-source.js';
import { NotDeferrable, concatParts, decodeDeferred, deferredRange, materialized, writeParts } from '../../src/io/onnx/deferred-raw-data.js';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';
import { type TensorProto, decodeModel, encodeModel, encodeModelParts } from '../../src/io/onnx/proto.js';
import { buildMlp } from '../shared/mlp-onnx.js';
import { runCli } from './cli-support.js';
import { RUN_SEED } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'webgpu-quant-deferred-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** MLPs with big weights at aligned and unaligned offsets (the producer name shifts them). */
const models = [0, 1, 2, 3].map((shift) => {
  const proto = decodeModel(buildMlp(onnxProto.onnx, [200, 300, 170 + shift, 64], RUN_SEED + shift).model, 'mlp');
  proto.producerName = 'mlp'.padEnd(3 + shift, '-');
  return encodeModel(proto);
});

async function joined(parts: Uint8Array[], chunkBytes?: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  await writeParts(parts, async (chunk) => { chunks.push(chunk.slice()); }, chunkBytes);
  return Buffer.concat(chunks);
}

describe(`ONNX tensor data left in the file (seed ${RUN_SEED})`, () => {
  it('decodes to the whole model; the left-out tensors point at their bytes in the file', async () => {
    for (const bytes of models) {
      for (const minBytes of [65536, 1]) {
        const proto = await decodeDeferred(bytesSource(bytes), 'mlp', minBytes, 97);
        const whole = decodeModel(bytes, 'mlp');
        const tensors = proto.graph!.initializer as TensorProto[];
        const wholeTensors = whole.graph!.initializer as TensorProto[];
        let left = 0;
        tensors.forEach((t, i) => {
          const range = deferredRange(t.rawData);
          const expected = wholeTensors[i]!.rawData;
          expect(t.rawData.byteLength).toBe(expected.byteLength);
          if (expected.byteLength >= minBytes) {
            left++;
            expect(range?.offset, `tensor ${i}`).toBe(expected.byteOffset - bytes.byteOffset);
          } else {
            expect(range).toBeUndefined();
          }
        });
        expect(left).toBeGreaterThan(minBytes === 1 ? 4 : 1);
        // Written in parts through a small buffer: the bytes of the whole model.
        const parts = encodeModelParts(proto, 65536, (b) => deferredRange(b) !== undefined);
        expect(parts.filter((p) => deferredRange(p)).length).toBe(left);
        expect(Buffer.from(await joined(parts, 1000)).equals(Buffer.from(encodeModel(whole)))).toBe(true);
        expect(() => concatParts(parts, bytes.byteLength)).toThrow(/still in its file/);
        for (const t of tensors) t.rawData = await materialized(t.rawData);
        expect(Buffer.from(encodeModel(proto)).equals(Buffer.from(bytes))).toBe(true);
      }
    }
  });

  it('OnnxModel.loadDeferred reads a weight straight into the caller\'s array, and reads or encodes the rest on demand', async () => {
    const bytes = models[1]!;
    const model = await OnnxModel.loadDeferred(bytesSource(bytes), { name: 'mlp' });
    const whole = OnnxModel.decode(bytes, { name: 'mlp' });
    expect(model.list()).toStrictEqual(whole.list());
    expect(model.byteLength).toBe(bytes.byteLength);
    const name = 'fc0.weight';
    const target = new Float32Array(200 * 300);
    const read = await model.readFloat32View(name, () => target);
    expect(read).toBe(target);
    expect(Buffer.from(target.buffer).equals(Buffer.from(await whole.read(name)))).toBe(true);
    expect(() => model.encode()).toThrow(/still in the file/);
    expect(Buffer.from(await model.read(name)).equals(Buffer.from(await whole.read(name)))).toBe(true);
    await model.materialize();
    expect(Buffer.from(model.encode()).equals(Buffer.from(whole.encode()))).toBe(true);
  });

  it('read() of a weight still in the file reads it each time and keeps nothing: going through every weight holds one at a time', async () => {
    const bytes = models[1]!;
    const inner = bytesSource(bytes);
    let readBytes = 0;
    const counting = { size: inner.size, name: 'mlp', read: (offset: number, length: number) => { readBytes += length; return inner.read(offset, length); } };
    const model = await OnnxModel.loadDeferred(counting, { name: 'mlp' });
    const whole = OnnxModel.decode(bytes, { name: 'mlp' });
    const name = 'fc0.weight';
    const size = whole.info(name).byteLength;
    const before = readBytes;
    const first = await model.read(name);
    const second = await model.read(name);
    expect(readBytes - before).toBe(2 * size);
    expect(second).not.toBe(first);
    expect(Buffer.from(second).equals(Buffer.from(await whole.read(name)))).toBe(true);
    expect(() => model.encode()).toThrow(/still in the file/); // fc0 too: nothing was put back into the model
    const parts = model.encodeParts();
    expect(parts.some((part) => part.byteLength === size && deferredRange(part)?.offset !== undefined)).toBe(true);
  });

  it('readInto reads a weight into the start of a buffer, from the file or from memory, and refuses one too small', async () => {
    const bytes = models[1]!;
    const deferred = await OnnxModel.loadDeferred(bytesSource(bytes), { name: 'mlp' });
    const whole = OnnxModel.decode(bytes, { name: 'mlp' });
    const buffer = new Uint8Array(whole.info('fc0.weight').byteLength + 100).fill(0xee);
    for (const model of [deferred, whole]) {
      for (const { name } of model.list()) {
        const expected = await whole.read(name);
        const got = await model.readInto(name, buffer);
        expect(got.buffer).toBe(buffer.buffer);
        expect(got.byteOffset).toBe(0);
        expect(Buffer.from(got).equals(Buffer.from(expected)), name).toBe(true);
      }
      await expect(model.readInto('fc0.weight', new Uint8Array(8))).rejects.toThrow(/needs a Uint8Array of at least \d+ bytes/);
    }
    expect(buffer[buffer.byteLength - 1]).toBe(0xee); // nothing past the weight
  });

  it('a damaged or unusual file is NotDeferrable (the caller reads it whole, which says what is wrong)', async () => {
    const bytes = models[0]!;
    await expect(decodeDeferred(bytesSource(bytes.subarray(0, bytes.byteLength - 10)), 'cut', 65536)).rejects.toThrow(NotDeferrable);
    await expect(decodeDeferred(bytesSource(Uint8Array.of(0x0b, 0x0c)), 'group', 65536)).rejects.toThrow(NotDeferrable);
    await expect(decodeDeferred(bytesSource(Uint8Array.of(0x3a, 0x00, 0x3a, 0x00)), 'two graphs', 65536)).rejects.toThrow(NotDeferrable);
    await expect(decodeDeferred(bytesSource(Uint8Array.of(0x08, 0xff)), 'varint', 65536)).rejects.toThrow(NotDeferrable);
    // Two raw_data fields in one initializer: graph { initializer { raw_data 'a' raw_data 'b' } }.
    const twice = Uint8Array.of(0x3a, 0x08, 0x2a, 0x06, 0x4a, 0x01, 0x61, 0x4a, 0x01, 0x62);
    await expect(decodeDeferred(bytesSource(twice), 'twice', 1)).rejects.toThrow(NotDeferrable);
    expect(decodeModel(twice, 'twice').graph?.initializer?.length).toBe(1);
  });

  it('compress writes the bytes of compressOnnx, to a file and to stdout, aligned and unaligned weights', { timeout: 120000 }, async () => {
    for (const [m, bytes] of models.entries()) {
      const input = join(dir, `mlp${m}.onnx`);
      writeFileSync(input, bytes);
      for (const scheme of [['--dtype', 'qint8'], ['--dtype', 'qint4', '--granularity', 'group', '--group-size', '32', '--first-layer', 'quantize']]) {
        const { model } = await compressOnnx(bytes, {
          name: input, ...(scheme[1] === 'qint4' ? { dtype: 'qint4', granularity: 'group', groupSize: 32, firstLayer: 'quantize' } : { dtype: 'qint8' }),
        }, { backend: 'cpu' });
        const out = join(dir, `mlp${m}.out.onnx`);
        const toFile = await runCli(['compress', input, '-o', out, '--backend', 'cpu', ...scheme]);
        expect(toFile.code, toFile.stderr).toBe(0);
        expect(Buffer.from(readFileSync(out)).equals(Buffer.from(model)), `model ${m} ${scheme.join(' ')} to a file`).toBe(true);
        const toStdout = await runCli(['compress', input, '-o', '-', '--backend', 'cpu', ...scheme]);
        expect(toStdout.code, toStdout.stderr).toBe(0);
        expect(Buffer.from(toStdout.stdoutBytes).equals(Buffer.from(model)), `model ${m} ${scheme.join(' ')} to stdout`).toBe(true);
      }
    }
  });
});
