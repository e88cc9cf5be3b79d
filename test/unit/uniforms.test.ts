// The host's view of the uniform structs must match the WGSL structs field by field, and packUniform must
// write each field where the shader reads it.
import { describe, expect, it } from 'vitest';
import { SHADER_FILES } from '../../src/kernels/elementwise/shader-sources.js';
import { FLOAT16_SHADER } from '../../src/kernels/elementwise/float16-convert.js';
import { PARAMS_FROM_RANGES_SHADER_FILES, RANGE_PARAMS } from '../../src/kernels/weight/params-from-ranges.js';
import { PARAM_TABLE_PARAMS, PARAM_TABLE_SHADER_FILES } from '../../src/kernels/elementwise/param-table-kernel.js';
import { FLOAT16_PARAMS, GROUPED_PARAMS, PER_TENSOR_PARAMS, STATIONARY_PARAMS, type UniformLayout, packUniform } from '../../src/kernels/common/uniforms.js';

/** The `name: type` fields of `struct <name> { ... }` in `source`, in order, with comments removed. */
function parseStruct(source: string, name: string): [string, string][] {
  const code = source.replace(/\/\/[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '');
  const matches = [...code.matchAll(new RegExp(`struct\\s+${name}\\s*\\{([^}]*)\\}`, 'g'))];
  expect(matches, `exactly one struct ${name}`).toHaveLength(1);
  return matches[0]![1]!.split(',').map((field) => field.trim()).filter((field) => field !== '').map((field) => {
    const parts = /^(?:@\w+(?:\([^)]*\))?\s+)*(\w+)\s*:\s*([\w<>, ]+)$/.exec(field);
    if (!parts) throw new Error(`struct ${name}: cannot parse field "${field}"`);
    return [parts[1]!, parts[2]!.trim()];
  });
}

const families = [
  ['perTensorParams', SHADER_FILES.perTensorParams, PER_TENSOR_PARAMS],
  ['groupedParams', SHADER_FILES.groupedParams, GROUPED_PARAMS],
  ['stationaryParams', SHADER_FILES.stationaryParams, STATIONARY_PARAMS],
  ['float16_convert', FLOAT16_SHADER, FLOAT16_PARAMS],
  ['minmax_to_params', PARAMS_FROM_RANGES_SHADER_FILES.minmaxToParams, RANGE_PARAMS],
  ['param_table', PARAM_TABLE_SHADER_FILES.paramTable, PARAM_TABLE_PARAMS],
] as const;

describe('uniform layouts match the WGSL structs', () => {
  it('the parser reads fields, ignoring comments and attributes', () => {
    const source = 'struct S {\n  a: u32, // note: b: f32,\n  @align(16) b : vec4<f32>, /* c: i32 */\n  c: i32\n}';
    expect(parseStruct(source, 'S')).toEqual([['a', 'u32'], ['b', 'vec4<f32>'], ['c', 'i32']]);
  });

  for (const [file, source, layout] of families) {
    it(`${layout.struct} in ${file}.wgsl has the fields of the host layout, in order`, () => {
      expect(source.length).toBeGreaterThan(0);
      const wgsl = parseStruct(source, layout.struct);
      expect(wgsl.length).toBeGreaterThan(0);
      expect(wgsl).toEqual(layout.fields.map(([name, type]) => [name, type]));
    });

    it(`${layout.struct} is the uniform at @group(0) @binding(0)`, () => {
      expect(source).toMatch(new RegExp(`@group\\(0\\)\\s*@binding\\(0\\)\\s*var<uniform>\\s*\\w+\\s*:\\s*${layout.struct}\\s*;`));
    });

    it(`${layout.struct} has only 4-byte scalars (so field i lies at byte 4 * i)`, () => {
      for (const [, type] of layout.fields) expect(['u32', 'i32', 'f32']).toContain(type);
    });
  }
});

/** Distinct test values per type: each field gets a value that shows up wrong if it lands elsewhere. */
function sampleValues(layout: UniformLayout<string>): Record<string, number> {
  const values: Record<string, number> = {};
  layout.fields.forEach(([name, type], i) => {
    values[name] = type === 'u32' ? 0x01020300 + i : type === 'i32' ? -5 - i : 0.1 + i;
  });
  return values;
}

describe('packUniform', () => {
  for (const [, , layout] of families) {
    it(`writes every ${layout.struct} field at 4 * i, little-endian, with its type, and pads to 16 bytes`, () => {
      const values = sampleValues(layout);
      const bytes = packUniform(layout, values as never);
      expect(bytes.byteLength).toBe(Math.ceil(layout.fields.length / 4) * 16);
      expect(bytes.byteLength % 16).toBe(0);
      const view = new DataView(bytes);
      layout.fields.forEach(([name, type], i) => {
        const value = values[name]!;
        const read = type === 'u32' ? view.getUint32(4 * i, true) : type === 'i32' ? view.getInt32(4 * i, true)
          : view.getFloat32(4 * i, true);
        expect(read, `${name} (${type}) at byte ${4 * i}`).toBe(type === 'f32' ? Math.fround(value) : value);
      });
      for (let offset = 4 * layout.fields.length; offset < bytes.byteLength; offset++) {
        expect(view.getUint8(offset), `padding byte ${offset}`).toBe(0);
      }
    });

    it(`${layout.struct}: a missing field throws and names the field`, () => {
      const values = sampleValues(layout);
      const missing = layout.fields[layout.fields.length - 1]![0];
      delete values[missing];
      expect(() => packUniform(layout, values as never)).toThrow(new RegExp(`${layout.struct}.*${missing}`));
    });
  }

  it('writes exact bytes: f32 0.1, i32 -5, u32 2^32 - 1, little-endian', () => {
    const bytes = packUniform(PER_TENSOR_PARAMS, {
      vec_count: 2 ** 32 - 1, thread_count: 0x01020304, inv_scale: 0.1, zero_point_f32: -0,
      qmin: -128, qmax: 127, scale: 1 / 3, zero_point: -5,
    });
    const u8 = new Uint8Array(bytes);
    expect(Array.from(u8.subarray(0, 4))).toEqual([0xff, 0xff, 0xff, 0xff]);
    expect(Array.from(u8.subarray(4, 8))).toEqual([0x04, 0x03, 0x02, 0x01]);
    expect(Array.from(u8.subarray(8, 12))).toEqual([0xcd, 0xcc, 0xcc, 0x3d]); // 0.1f = 0x3dcccccd
    expect(Array.from(u8.subarray(12, 16))).toEqual([0, 0, 0, 0x80]); // -0 keeps its sign bit
    expect(Array.from(u8.subarray(16, 20))).toEqual([0, 0, 0, 0xc3]); // -128f = 0xc3000000
    expect(Array.from(u8.subarray(20, 24))).toEqual([0, 0, 0xfe, 0x42]); // 127f = 0x42fe0000
    expect(new DataView(bytes).getFloat32(24, true)).toBe(Math.fround(1 / 3));
    expect(Array.from(u8.subarray(28, 32))).toEqual([0xfb, 0xff, 0xff, 0xff]); // -5
    expect(bytes.byteLength).toBe(32);
  });

  it('pads a struct whose size is not a multiple of 16 with zero bytes', () => {
    const five = { struct: 'Five', fields: [['a', 'u32'], ['b', 'i32'], ['c', 'f32'], ['d', 'u32'], ['e', 'f32']] } as const;
    const bytes = packUniform(five, { a: 1, b: -1, c: 0.5, d: 9, e: -2 });
    expect(bytes.byteLength).toBe(32);
    const view = new DataView(bytes);
    expect([view.getUint32(0, true), view.getInt32(4, true), view.getFloat32(8, true), view.getUint32(12, true),
      view.getFloat32(16, true)]).toEqual([1, -1, 0.5, 9, -2]);
    expect(Array.from(new Uint8Array(bytes, 20))).toEqual(new Array(12).fill(0));
    expect(packUniform({ struct: 'One', fields: [['a', 'u32']] } as const, { a: 3 }).byteLength).toBe(16);
  });

  it('packs GROUPED_PARAMS (20 fields) into 80 bytes with its u32 and f32 fields where the shader reads them', () => {
    const bytes = packUniform(GROUPED_PARAMS, {
      vec_count: 7, thread_count: 1024, start_element: 4096, inner: 20, channels: 3, group_size: 32,
      stride_outer: 60, stride_group: 20, stride_inner: 1, qmin: -8, qmax: 7, _pad0: 0,
      word_step_k: 4, word_step_a: 2, word_step_o: 68, word_step_pad: 0, four_step_k: 4, four_step_a: 0, four_step_o: 0, four_step_pad: 0,
    });
    const view = new DataView(bytes);
    expect(bytes.byteLength).toBe(80);
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => view.getUint32(4 * i, true))).toEqual([7, 1024, 4096, 20, 3, 32, 60, 20, 1]);
    expect(view.getFloat32(36, true)).toBe(-8);
    expect(view.getFloat32(40, true)).toBe(7);
    expect([12, 13, 14, 15, 16, 17, 18, 19].map((i) => view.getUint32(4 * i, true))).toEqual([4, 2, 68, 0, 4, 0, 0, 0]);
  });
});
