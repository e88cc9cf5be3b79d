// The MatMulNBits and GatherBlockQuantized writers given 4-bit integers packed two to a byte (`{ nibbles }`, as a
// QTensor of packed nibbles holds them): the same initializers, byte for byte, as from the integers one a byte, laid
// out into lent memory where given (B, and for MatMulNBits the scales and the layout's scratch, over old bytes);
// packed integers of the wrong length, or for an 8-bit dtype, are refused.
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { writeGatherBlockQuantized } from '../../src/io/onnx/gather-block-writer.js';
import type { BlockIntegers } from '../../src/io/onnx/matmul-nbits-blocks.js';
import { writeMatMulNBits } from '../../src/io/onnx/matmul-nbits-writer.js';
import { NameAllocator } from '../../src/io/onnx/names.js';
import { OnnxModel } from '../../src/io/onnx/onnx-model.js';
import type { GraphProto, TensorProto } from '../../src/io/onnx/proto.js';
import { packNibbles } from '../../src/pack-nibbles.js';
import { buildEmbeddingModel } from '../shared/embedding-onnx.js';
import { buildMlp } from '../shared/mlp-onnx.js';
import { RUN_SEED, rng } from './support.js';

type Written = { stored: { data: TensorProto; scale: TensorProto; zeroPoint?: TensorProto } };

/** The stored initializers' bytes of one write into a fresh copy of `bytes`. */
async function storedBytes(bytes: Uint8Array, write: (model: OnnxModel, names: NameAllocator) => Written): Promise<Uint8Array[]> {
  const model = await OnnxModel.load(bytes, { name: 'm' });
  const { stored } = write(model, new NameAllocator(model.proto.graph as GraphProto));
  return [stored.data, stored.scale, ...(stored.zeroPoint ? [stored.zeroPoint] : [])].map((t) => Uint8Array.from(t.rawData));
}

describe(`contrib writers from packed integers (seed ${RUN_SEED})`, () => {
  const next = rng(RUN_SEED + 9);
  const draw = (count: number, signed: boolean) => (signed ? Int8Array.from({ length: count }, () => Math.floor(next() * 16) - 8)
    : Uint8Array.from({ length: count }, () => Math.floor(next() * 16)));
  // Zero points of -1 (stored negated) and others: both parameter kinds the layouts store.
  const zeroPoints = (count: number, signed: boolean) => Int32Array.from({ length: count }, () => (signed ? [0, -1, 3][Math.floor(next() * 3)]! : Math.floor(next() * 16)));
  const scales = (count: number) => Float32Array.from({ length: count }, () => Math.fround(0.01 + next()));

  it('MatMulNBits: packed integers give the same B, scales and zero points; into lent memory too', async () => {
    const bytes = buildMlp(onnxProto.onnx, [64, 40, 24], RUN_SEED).model; // fc0 [64, 40]: N not a multiple of 8
    for (const [name, K, N] of [['fc0.weight', 64, 40], ['fc1.weight', 40, 24]] as const) {
      for (const dtype of ['qint4', 'quint4'] as const) {
        const signed = dtype === 'qint4';
        const values = draw(K * N, signed);
        const groups = Math.ceil(K / 16) * N;
        const q = { dtype, parameters: 'groups' as const, scales: scales(groups), zeroPoints: zeroPoints(groups, signed), blockSize: 16 };
        const write = (integers: BlockIntegers, dataMemory?: (n: number) => Uint8Array) => (model: OnnxModel, names: NameAllocator) =>
          writeMatMulNBits(model, name, { ...q, values: integers, ...(dataMemory ? { dataMemory } : {}) }, names);
        const expected = await storedBytes(bytes, write(values));
        expect(await storedBytes(bytes, write({ nibbles: packNibbles(values) })), `${name} ${dtype}`).toEqual(expected);
        let lent: Uint8Array | undefined;
        const memory = (n: number) => (lent = new Uint8Array(n).fill(0xa5));
        expect(await storedBytes(bytes, write({ nibbles: packNibbles(values) }, memory)), `${name} ${dtype}, lent`).toEqual(expected);
        expect(lent, 'B laid out into the lent memory').toEqual(expected[0]);
        // The scales in memory of their own (at an offset of a larger buffer, over old bytes) and the layout's scratch
        // over old bytes: the same initializers, the scale tensor's bytes over that memory.
        const model0 = await OnnxModel.load(bytes, { name: 'm' });
        const scaleArena = new Uint8Array(4 * groups + 24).fill(0x5a);
        const scratch = new Uint8Array(2 * groups + 8).fill(0xff);
        const written = writeMatMulNBits(model0, name, {
          ...q, values, scaleMemory: (n) => scaleArena.subarray(8, 8 + n), scratch: (n) => scratch.subarray(0, n),
        }, new NameAllocator(model0.proto.graph as GraphProto));
        const got = [written.stored.data, written.stored.scale, ...(written.stored.zeroPoint ? [written.stored.zeroPoint] : [])].map((t) => Uint8Array.from(t.rawData));
        expect(got, `${name} ${dtype}, scale memory and scratch`).toEqual(expected);
        expect(written.stored.scale.rawData.buffer).toBe(scaleArena.buffer);
        expect(written.stored.scale.rawData.byteOffset).toBe(8);
        expect(scratch.subarray(0, 2 * groups).some((b) => b !== 0xff), 'the scratch used').toBe(true);
        expect(scratch.subarray(2 * groups).every((b) => b === 0xff), 'and no more of it').toBe(true);
        // Symmetric (every zero point the default: no block negated, none stored), the scratch over old bytes again.
        const symmetric = { ...q, zeroPoints: new Int32Array(groups).fill(signed ? 0 : 8), values };
        const plain = await storedBytes(bytes, (m, n) => writeMatMulNBits(m, name, symmetric, n));
        scratch.fill(0xff);
        expect(await storedBytes(bytes, (m, n) => writeMatMulNBits(m, name, { ...symmetric, scratch: (k) => scratch.subarray(0, k) }, n)), `${name} ${dtype}, symmetric`).toEqual(plain);
        const model = await OnnxModel.load(bytes, { name: 'm' });
        const names = new NameAllocator(model.proto.graph as GraphProto);
        expect(() => writeMatMulNBits(model, name, { ...q, values: { nibbles: packNibbles(values).subarray(1) } }, names)).toThrow(/bytes of packed integers do not fit/);
        expect(() => writeMatMulNBits(model, name, { ...q, dtype: 'qint8', values: { nibbles: new Uint8Array(K * N) } }, names)).toThrow(InvalidArgumentError);
      }
    }
  });

  it('GatherBlockQuantized: packed integers give the same data, scales and zero points; into lent memory too', async () => {
    const bytes = buildEmbeddingModel(onnxProto.onnx, 48, RUN_SEED);
    const [rows, D] = [1000, 48]; // three blocks of 16 a row
    for (const dtype of ['qint4', 'quint4'] as const) {
      const signed = dtype === 'qint4';
      const values = draw(rows * D, signed);
      const groups = rows * Math.ceil(D / 16);
      const q = { dtype, parameters: 'groups' as const, scales: scales(groups), zeroPoints: zeroPoints(groups, signed), blockSize: 16 };
      const write = (integers: BlockIntegers, dataMemory?: (n: number) => Uint8Array) => (model: OnnxModel, names: NameAllocator) =>
        writeGatherBlockQuantized(model, 'embed.weight', { ...q, values: integers, ...(dataMemory ? { dataMemory } : {}) }, names);
      const expected = await storedBytes(bytes, write(values));
      expect(await storedBytes(bytes, write({ nibbles: packNibbles(values) })), dtype).toEqual(expected);
      let lent: Uint8Array | undefined;
      const memory = (n: number) => (lent = new Uint8Array(n).fill(0xa5));
      expect(await storedBytes(bytes, write({ nibbles: packNibbles(values) }, memory)), `${dtype}, lent`).toEqual(expected);
      expect(lent, 'the data laid out into the lent memory').toEqual(expected[0]);
      const model = await OnnxModel.load(bytes, { name: 'm' });
      const names = new NameAllocator(model.proto.graph as GraphProto);
      expect(() => writeGatherBlockQuantized(model, 'embed.weight', { ...q, values: { nibbles: new Uint8Array(10) } }, names)).toThrow(/bytes of packed integers do not fit/);
      expect(() => writeGatherBlockQuantized(model, 'embed.weight', { ...q, dtype: 'qint8', values: { nibbles: new Uint8Array(rows * D) } }, names)).toThrow(InvalidArgumentError);
    }
  });
});
