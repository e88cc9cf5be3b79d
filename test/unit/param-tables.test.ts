// The parameter tables of the elementwise kernels, written to the GPU a slice at a time through one reused
// scratch array (writeTable): the same bytes as the whole table built at once, for every kind of table, row
// counts around the slice size and partial last blocks, and scratch holding stale values from a bigger table.
import { describe, expect, it } from 'vitest';
import {
  ROUND_BITS, TABLE_SLICE_BYTES, type TableSource, buildTable, paramRows, paramTable, quantRows, tableBytes, tableSource, writeTable,
} from '../../src/kernels/elementwise/scheme-params.js';
import { RUN_SEED, expectExact, rng } from './support.js';

/** A queue that records writeBuffer into one ArrayBuffer standing for the GPU buffer. */
function recordingQueue(bytes: number): { queue: GPUQueue; memory: Uint8Array; writes: number[][] } {
  const memory = new Uint8Array(bytes).fill(0xa5);
  const writes: number[][] = [];
  const queue = {
    writeBuffer(_buffer: GPUBuffer, offset: number, data: ArrayBufferView, dataOffset = 0, size?: number) {
      const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      const elementBytes = (data as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
      const from = dataOffset * elementBytes;
      const length = size === undefined ? view.byteLength - from : size * elementBytes;
      if (offset % 4 !== 0 || length % 4 !== 0) throw new Error(`writeBuffer of ${length} bytes at ${offset}: not whole words`);
      if (offset + length > memory.byteLength) throw new Error(`writeBuffer past the end: ${offset} + ${length}`);
      memory.set(view.subarray(from, from + length), offset);
      writes.push([offset, length]);
    },
  } as unknown as GPUQueue;
  return { queue, memory, writes };
}

function randomParams(rows: number, seed: number): { scales: Float64Array; zeroPoints: Int32Array } {
  const next = rng(seed);
  const scales = Float64Array.from({ length: rows }, () => 10 ** (next() * 8 - 4));
  const zeroPoints = Int32Array.from({ length: rows }, () => Math.floor(next() * 256) - 128);
  return { scales, zeroPoints };
}

const range = { qmin: -128, qmax: 127 };
const kinds = ['table', 'rows', 'quantRows'] as const;
/** Rows per slice of each kind (see writeTable): whole blocks of TABLE_SLICE_BYTES at most. */
const sliceRows = (source: TableSource): number => source.rowsPerBlock * Math.floor(TABLE_SLICE_BYTES / source.bytesPerBlock);

describe('writeTable', () => {
  it('writes the bytes of the whole table, slice by slice, for row counts around the slice size', () => {
    for (const kind of kinds) {
      const slice = sliceRows(tableSource(kind, new Float64Array(1), new Int32Array(1), range));
      for (const rows of [0, 1, 3, 5, slice - 1, slice, slice + 1, 3 * slice + 7]) {
        const seed = RUN_SEED + rows;
        const { scales, zeroPoints } = randomParams(rows, seed);
        const source = tableSource(kind, scales, zeroPoints, range);
        const whole = buildTable(source);
        expect(whole.byteLength).toBe(tableBytes(source));
        const { queue, memory, writes } = recordingQueue(tableBytes(source));
        writeTable(queue, {} as GPUBuffer, source);
        expectExact(memory, new Uint8Array(whole.buffer), `${kind} rows ${rows} seed ${seed}`);
        expect(writes.length).toBe(Math.ceil(rows / slice));
      }
    }
  });

  it('leaves nothing of an earlier, bigger table in the padding of a partial last block', () => {
    const big = randomParams(40_000, RUN_SEED + 1);
    for (const kind of kinds) writeTable(recordingQueue(tableBytes(tableSource(kind, big.scales, big.zeroPoints, range))).queue, {} as GPUBuffer,
      tableSource(kind, big.scales, big.zeroPoints, range));
    const small = randomParams(6, RUN_SEED + 2);
    const source = tableSource('table', small.scales, small.zeroPoints, range);
    const { queue, memory } = recordingQueue(tableBytes(source));
    writeTable(queue, {} as GPUBuffer, source);
    const floats = new Float32Array(memory.buffer);
    expect(floats).toHaveLength(24);
    // Block 1 holds rows 4 and 5; its lanes 2 and 3 are padding.
    for (const lane of [2, 3]) for (const field of [0, 4, 8]) expect(floats[12 + field + lane]).toBe(0);
  });
});

describe('table builders with a row range', () => {
  it('write rows first .. first + count - 1 into a dirty array exactly as the whole table holds them', () => {
    const { scales, zeroPoints } = randomParams(23, RUN_SEED + 3);
    const wholeTable = paramTable(scales, zeroPoints);
    const wholeRows = paramRows(scales, zeroPoints);
    const wholeQuant = quantRows(scales, zeroPoints, range);
    for (const [first, count] of [[0, 23], [4, 8], [8, 15], [20, 3]] as const) {
      const dirty = (): Float32Array<ArrayBuffer> => new Float32Array(128).fill(Number.NaN);
      const blocks = Math.ceil(count / 4);
      expectExact(paramTable(scales, zeroPoints, first, count, dirty()).subarray(0, 12 * blocks),
        wholeTable.subarray(3 * first, 3 * first + 12 * blocks), `paramTable rows ${first} + ${count}`);
      expectExact(paramRows(scales, zeroPoints, first, count, dirty()).subarray(0, 4 * count),
        wholeRows.subarray(4 * first, 4 * (first + count)), `paramRows rows ${first} + ${count}`);
      const quant = quantRows(scales, zeroPoints, range, first, count, dirty());
      expectExact(new Int32Array(quant.buffer, 0, 4 * count), new Int32Array(wholeQuant.buffer, 16 * first, 4 * count),
        `quantRows rows ${first} + ${count}`);
    }
  });

  it('quantRows holds the inverse scale, the clamp bounds less the zero point and the zero point less ROUND_BITS', () => {
    const scales = Float64Array.of(0.1, 1e-30, 3e37);
    const zeroPoints = Int32Array.of(-128, 0, 127);
    const table = quantRows(scales, zeroPoints, range);
    const bits = new Int32Array(table.buffer);
    scales.forEach((s, r) => {
      expect(table[4 * r]).toBe(Math.fround(1 / Math.fround(s)));
      expect(table[4 * r + 1]).toBe(range.qmin - zeroPoints[r]!);
      expect(table[4 * r + 2]).toBe(range.qmax - zeroPoints[r]!);
      expect(bits[4 * r + 3]).toBe(zeroPoints[r]! - ROUND_BITS);
    });
  });

  it('a scale out of range still throws (never one of validated parameters)', () => {
    expect(() => paramRows(Float64Array.of(0.5, 0), Int32Array.of(0, 0))).toThrow(/scales\[1\] is 0/);
    expect(() => quantRows(Float64Array.of(Number.NaN), Int32Array.of(0), range)).toThrow(/finite number > 0/);
    // Each table checks its rows once after its loop, and names the first bad one of the rows it was asked for.
    const edge = Float64Array.of(1, 2 ** -126, 2 ** 126, 0.5, 2 ** -127, 2 ** 127);
    const zeros = new Int32Array(edge.length);
    expect(() => paramTable(edge, zeros, 0, 4)).not.toThrow(); // the bounds themselves are in range
    expect(() => paramTable(edge, zeros)).toThrow(/scales\[4\]/);
    expect(() => paramRows(edge, zeros, 4, 2)).toThrow(/scales\[4\]/);
    expect(() => quantRows(edge, zeros, range, 5, 1)).toThrow(/scales\[5\]/);
    expect(() => quantRows(edge, zeros, range, 0, 4)).not.toThrow();
  });
});
