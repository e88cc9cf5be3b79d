// The host's view of shaders/error-stats/error_stats.wgsl: the uniform struct field by field, the bindings, the
// parameter-table encoding, the clipping bounds, the prescale, and the index maps the shader mirrors.
import { describe, expect, it } from 'vitest';
import { fromIntRepr, tensor } from '../../src/index.js';
import { prescaleFor } from '../../src/kernels/error-stats/error-stats-kernel.js';
import {
  ERROR_STATS_PARAMS, ERROR_STATS_SCHEME, ERROR_STATS_SHADER, PARAM_WORDS, clipBounds, errorStatsVariant, paramTableWords, quantizesFromOriginal,
} from '../../src/kernels/error-stats/error-stats-shader.js';
import { packUniform } from '../../src/kernels/common/uniforms.js';
import { entryKey } from '../../src/gpu/pipeline-cache.js';
import { checkErrorStatsArguments } from '../../src/stats/arguments.js';
import { channelIndexMap, groupIndexMap, indexOf, indexWindow, tensorIndexMap } from '../../src/stats/index-map.js';
import { quantGrid } from '../../src/stats/quant-grid.js';

/** The `name: type` fields of `struct <name> { ... }`, comments removed. */
function parseStruct(source: string, name: string): [string, string][] {
  const code = source.replace(/\/\/[^\n]*/g, '');
  const match = new RegExp(`struct\\s+${name}\\s*\\{([^}]*)\\}`).exec(code);
  if (!match) throw new Error(`no struct ${name}`);
  return match[1]!.split(',').map((field) => field.trim()).filter(Boolean).map((field) => {
    const [fieldName, type] = field.split(':').map((part) => part.trim());
    return [fieldName!, type!];
  });
}

describe('ErrorStatsParams', () => {
  it('the WGSL struct has the host layout\'s fields, in order, all 4-byte scalars', () => {
    expect(parseStruct(ERROR_STATS_SHADER, 'ErrorStatsParams')).toEqual(ERROR_STATS_PARAMS.fields.map(([n, t]) => [n, t]));
  });

  it('is the uniform at binding 0; bindings 1..5 are the inputs, table, tiles and partials (1, 2 also as vec4s), 6 the integers written', () => {
    expect(ERROR_STATS_SHADER).toMatch(/@group\(0\) @binding\(0\) var<uniform> params: ErrorStatsParams;/);
    const bindings = [...ERROR_STATS_SHADER.matchAll(/@binding\((\d)\) var<storage, (read|read_write)> (\w+): array<([\w<>]+)>/g)]
      .map((m) => [Number(m[1]), m[2], m[3], m[4]]);
    expect(bindings).toEqual([[1, 'read', 'original', 'f32'], [2, 'read', 'quantized', 'u32'], [3, 'read', 'param_table', 'vec4<u32>'],
      [4, 'read', 'tiles', 'vec2<u32>'], [5, 'read_write', 'partials', 'vec4<u32>'],
      [1, 'read', 'original4', 'vec4<f32>'], [2, 'read', 'quantized4', 'vec4<u32>'], [6, 'read_write', 'stored', 'u32']]);
  });

  it('packs 17 fields into 80 bytes (a uniform struct rounds up to 16), each at 4 * i with its type', () => {
    const values = Object.fromEntries(ERROR_STATS_PARAMS.fields.map(([name, type], i) => [name, type === 'f32' ? i + 0.5 : 0x01020300 + i]));
    const bytes = packUniform(ERROR_STATS_PARAMS, values as never);
    expect(ERROR_STATS_PARAMS.fields).toHaveLength(17);
    expect(bytes.byteLength).toBe(80);
    const view = new DataView(bytes);
    ERROR_STATS_PARAMS.fields.forEach(([name, type], i) => {
      const read = type === 'f32' ? view.getFloat32(4 * i, true) : view.getUint32(4 * i, true);
      expect(read, name).toBe((values as Record<string, number>)[name]);
    });
  });

  it('every Kahan step multiplies its new sum by params.one, so a driver that reassociates cannot drop the compensation', () => {
    // The vec4 kernel's one step and the quad kernel's four (NVIDIA's compiler folded (next - sum) - term to 0).
    const steps = ERROR_STATS_SHADER.match(/let n(?:ext|_\w+) = [^;]*;/g) ?? [];
    expect(steps).toHaveLength(5);
    for (const step of steps) expect(step).toMatch(/\) \* params\.one;$/);
  });

  it('pipeline variants differ only by the SCHEME override, each named scheme mapped to its integer', () => {
    const [a, b, c] = [errorStatsVariant('floats'), errorStatsVariant('perTensorIntegers'), errorStatsVariant('indexedIntegers')];
    expect(a.code).toBe(c.code);
    expect([a.label, c.label]).toEqual(['errorStats|floats', 'errorStats|indexedIntegers']);
    expect([a, b, c].map((v) => v.constants)).toEqual([0, 1, 2].map((SCHEME) => ({ WORKGROUP_SIZE: 64, SCHEME })));
    expect([a, b, c].map((v) => entryKey(v.entryPoint, v.constants))).toEqual([0, 1, 2].map((s) => `error_stats(SCHEME=${s},WORKGROUP_SIZE=64)`));
    expect(Object.entries(ERROR_STATS_SCHEME)).toEqual([['floats', 0], ['perTensorIntegers', 1], ['indexedIntegers', 2]]);
  });

  it('the vec4 variants name their entry point and integer layout in the label and the constants', () => {
    const packed = errorStatsVariant('indexedIntegers', { quantizedBytes: 1, signed: true });
    expect([packed.label, packed.entryPoint]).toEqual(['errorStats|indexedIntegers|quads|i8', 'error_stats_quads']);
    expect(packed.constants).toEqual({ WORKGROUP_SIZE: 64, SCHEME: 2, QUANTIZED_BYTES: 1, QUANTIZED_SIGNED: 1, LANE_PARAMS: 0, SMALL_RANGE_CLIP: 0 });
    expect(errorStatsVariant('indexedIntegers', { quantizedBytes: 1, signed: true, laneParams: true }).label).toBe('errorStats|indexedIntegers|quads|i8|laneParams');
    expect(errorStatsVariant('perTensorIntegers', { quantizedBytes: 1, signed: false }).constants).toMatchObject({ SCHEME: 1, QUANTIZED_SIGNED: 0 });
    expect(errorStatsVariant('floats', { quantizedBytes: 4, signed: true }).label).toBe('errorStats|floats|quads|i32');
    expect(errorStatsVariant('perTensorIntegers', { quantizedBytes: 1, signed: true, smallRangeClip: true }).constants.SMALL_RANGE_CLIP).toBe(1);
  });

  it('the quantizing variant: its own entry point, named in the label, with only the overrides it reads', () => {
    const v = errorStatsVariant('indexedIntegers', { quantizedBytes: 1, signed: true, laneParams: true, smallRangeClip: true, quantizeFromOriginal: true });
    expect([v.label, v.entryPoint]).toEqual(['errorStats|indexedIntegers|quads|quantize|laneParams', 'error_stats_quantize_quads']);
    expect(v.constants).toEqual({ WORKGROUP_SIZE: 64, SCHEME: 2, LANE_PARAMS: 1 });
    const perTensor = errorStatsVariant('perTensorIntegers', { quantizedBytes: 1, signed: false, quantizeFromOriginal: true });
    expect([perTensor.label, perTensor.constants]).toEqual(['errorStats|perTensorIntegers|quads|quantize', { WORKGROUP_SIZE: 64, SCHEME: 1, LANE_PARAMS: 0 }]);
    expect(v.code).toMatch(/fn error_stats_quantize_quads\(/);
  });

  it('quantizesFromOriginal: ordinary 8-bit grids yes; huge zero points, huge inverse scales or an infinite level no', () => {
    const grid = (dtype: 'qint8' | 'quint8' | 'qint32', scales: number[], zeroPoints: number[]) =>
      quantGrid(fromIntRepr(new Array(scales.length).fill(0), [scales.length], dtype, { scales, zeroPoints, axis: 0 }));
    expect(quantizesFromOriginal(grid('qint8', [0.1, 4, 1e-30], [0, -3, 127]))).toBe(true);
    expect(quantizesFromOriginal(grid('quint8', [0.02, 1e30], [128, 0]))).toBe(true);
    // |qmin| = 2^31: outside SMALL_RANGE_CLIP's conditions.
    expect(quantizesFromOriginal(grid('qint32', [0.5], [0]))).toBe(false);
    // An inverse scale of 2^125.5 > 2^125: a subnormal x could round away from 0.
    expect(quantizesFromOriginal(grid('qint8', [0.5, 2 ** -125.5], [0, 0]))).toBe(false);
    // (127 - (-128)) * 8e37 overflows float32: that level would be +Infinity.
    expect(quantizesFromOriginal(grid('qint8', [8e37], [-128]))).toBe(false);
    expect(quantizesFromOriginal(grid('quint8', [1.4e36], [0]))).toBe(false);
  });

  it('4-bit integers as the quantize kernels store them: a named variant with QUANTIZED_NIBBLES, declared in the shader', () => {
    const signed = errorStatsVariant('indexedIntegers', { quantizedBytes: 1, signed: true, nibbles: true });
    const unsigned = errorStatsVariant('perTensorIntegers', { quantizedBytes: 1, signed: false, nibbles: true });
    expect([signed.label, unsigned.label]).toEqual(['errorStats|indexedIntegers|quads|i4', 'errorStats|perTensorIntegers|quads|u4']);
    expect(signed.constants).toMatchObject({ QUANTIZED_BYTES: 1, QUANTIZED_SIGNED: 1, QUANTIZED_NIBBLES: 1 });
    expect(unsigned.constants).toMatchObject({ QUANTIZED_BYTES: 1, QUANTIZED_SIGNED: 0, QUANTIZED_NIBBLES: 1 });
    // Bytes keep their constants (and so their cached pipelines) unchanged.
    expect(errorStatsVariant('indexedIntegers', { quantizedBytes: 1, signed: true }).constants).not.toHaveProperty('QUANTIZED_NIBBLES');
    expect(signed.code).toMatch(/override QUANTIZED_NIBBLES: bool = false;/);
  });
});

describe('clipBounds', () => {
  it('8-bit ranges are exact; clamps lie one integer outside', () => {
    expect(clipBounds(-128, 127)).toEqual({ low: -128, high: 127, clampLow: -129, clampHigh: 128 });
    expect(clipBounds(0, 255)).toEqual({ low: 0, high: 255, clampLow: -1, clampHigh: 256 });
    expect(clipBounds(-8, 7)).toEqual({ low: -8, high: 7, clampLow: -9, clampHigh: 8 });
  });

  it('qint32: 2^31 − 1 is no float32, so high is the float32 below it; clamps are the next float32 values', () => {
    expect(clipBounds(-(2 ** 31), 2 ** 31 - 1)).toEqual({ low: -(2 ** 31), high: 2147483520, clampLow: -2147483904, clampHigh: 2 ** 31 });
  });
});

describe('parameter table and prescale', () => {
  it('paramTableWords: inverse scale, zero point and scale as float32 bits, the zero point as int32', () => {
    const q = fromIntRepr([0, 0], [2], 'qint8', { scales: [0.1, 4], zeroPoints: [-3, 5], axis: 0 });
    const words = paramTableWords(quantGrid(q));
    expect(words.length).toBe(2 * PARAM_WORDS);
    const floats = new Float32Array(words.buffer);
    const ints = new Int32Array(words.buffer);
    expect([floats[0], floats[1], floats[2], ints[3]]).toEqual([Math.fround(1 / Math.fround(0.1)), -3, Math.fround(0.1), -3]);
    expect([floats[4], floats[5], floats[6], ints[7]]).toEqual([0.25, 5, 4, 5]);
  });

  it('prescaleFor brings the largest finite magnitude into [1, 2), ignoring infinities, within [2^-126, 2^126]', () => {
    const of = (x: number[], xh: number[]) => prescaleFor(checkErrorStatsArguments(tensor(x), tensor(xh), undefined));
    expect(of([3, -1000], [3, -1000])).toBe(2 ** -9);
    expect(of([0.25, Infinity], [0, 0])).toBe(4);
    expect(of([0, 0], [0, 0])).toBe(1);
    expect(of([1e-44, 0], [0, 0])).toBe(2 ** 126);
    expect(of([3e38, 0], [0, 0])).toBe(2 ** -126);
    const q = fromIntRepr([1, 2], [2], 'qint8', { scale: 0.5, zeroPoint: 0 });
    expect(prescaleFor(checkErrorStatsArguments(tensor([0, 0]), q, undefined))).toBe(2 ** -8); // bound 2 * 256 * 0.5
  });
});

describe('index maps', () => {
  it('per tensor, per channel and per group (ONNX block layout), as the module examples say', () => {
    expect(indexOf(tensorIndexMap(), 123)).toBe(0);
    expect(indexOf(channelIndexMap([2, 3, 4], 1), 13)).toBe(0);
    expect(indexOf(channelIndexMap([5, 4], 1), 6)).toBe(2);
    const groups = groupIndexMap([2, 5, 3], 1, 2);
    expect([groups.count, indexOf(groups, 0), indexOf(groups, 14), indexOf(groups, 15 + 14)]).toEqual([18, 0, 8, 17]);
    expect(indexOf(groupIndexMap([4, 8], 1, 3), 15)).toBe(5);
    expect(indexWindow(groupIndexMap([4, 8], 1, 2), 9, 12)).toEqual([4, 6]);
    expect(indexWindow(channelIndexMap([4, 8], 1), 9, 12)).toEqual([1, 4]);
    expect(indexWindow(channelIndexMap([4, 8], 1), 7, 9)).toEqual([0, 8]);
  });
});
