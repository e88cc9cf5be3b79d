// Host logic of the calibration kernels, without a GPU: the reduction view (every element belongs to exactly
// one output, in the ONNX block parameter order), the box plan (boxes are contiguous, in memory order, cover
// the tensor once, each output meets its elements in increasing j, windows group consecutive boxes), the
// lane rule, and the uniform layout against the WGSL struct.
import { describe, expect, it } from 'vitest';
import { type Granularity, elementIndex, outputLength, reductionLayout } from '../../src/calibration/granularity.js';
import { ELEMENTS_PER_LANE, combineLanesFor, firstPass, laneFastest, lanesFor, planBoxes } from '../../src/kernels/calibration/minmax-plan.js';
import { CALIBRATION_SHADER_FILES } from '../../src/kernels/calibration/minmax-shaders.js';
import { CALIBRATION_PARAMS, CALIBRATION_PARAMS_BYTES, packCalibrationParams } from '../../src/kernels/calibration/minmax-uniforms.js';

const kShapes: [number[], Granularity][] = [
  [[7], 'per_tensor'], [[3, 5, 4], 'per_tensor'], [[6, 10], { axis: 0 }], [[6, 10], { axis: 1 }], [[3, 4, 5], { axis: 1 }],
  [[2, 3, 4, 5], { axis: 3 }], [[2, 3, 4, 5], { axis: -4 }], [[6, 10], { axis: 1, groupSize: 4 }], [[6, 10, 3], { axis: 1, groupSize: 3 }],
  [[5, 7, 2], { axis: 0, groupSize: 2 }], [[4, 9], { axis: 1, groupSize: 1 }], [[4, 9], { axis: 1, groupSize: 9 }], [[4, 9], { axis: 1, groupSize: 20 }],
  [[3, 50, 40], { axis: 1, groupSize: 30 }], [[1100, 3], { axis: 1 }],
];

/** The parameter index of flat element i, straight from the ONNX block_size definition. */
function parameterOf(shape: number[], granularity: Granularity, i: number): number {
  if (granularity === 'per_tensor') return 0;
  const axis = (granularity.axis + shape.length) % shape.length;
  let inner = 1;
  for (let d = axis + 1; d < shape.length; d++) inner *= shape[d]!;
  const n = shape[axis]!;
  const a = Math.floor(i / inner) % n;
  if (!('groupSize' in granularity)) return a;
  const o = Math.floor(i / (inner * n));
  return (o * Math.ceil(n / granularity.groupSize) + Math.floor(a / granularity.groupSize)) * inner + (i % inner);
}

describe('reduction layout', () => {
  for (const [shape, granularity] of kShapes) {
    it(`[${shape}] ${JSON.stringify(granularity)}: each element belongs to exactly its parameter, in increasing j`, () => {
      const layout = reductionLayout(shape, granularity);
      const size = shape.reduce((a, b) => a * b, 1);
      const owner = new Int32Array(size).fill(-1);
      for (let w = 0; w < layout.outputs; w++) {
        let previous = -1;
        for (let j = 0; j < outputLength(layout, w); j++) {
          const i = elementIndex(layout, w, j);
          expect(i).toBeGreaterThan(previous);
          previous = i;
          expect(owner[i]).toBe(-1);
          owner[i] = w;
        }
      }
      for (let i = 0; i < size; i++) expect(owner[i]).toBe(parameterOf(shape, granularity, i));
    });
  }
});

describe('box plan', () => {
  for (const [shape, granularity] of kShapes) {
    it(`[${shape}] ${JSON.stringify(granularity)}: boxes tile the tensor and each output's elements, at every budget`, () => {
      const layout = reductionLayout(shape, granularity);
      const size = shape.reduce((a, b) => a * b, 1);
      for (const budget of [1, 2, 3, 4, 7, 16, 40, 100, 1000, size]) {
        let next = 0;
        const seen = new Int32Array(layout.outputs);
        let window = { start: -1, count: 0 };
        const closed = new Set<number>();
        for (const box of planBoxes(layout, budget)) {
          expect(box.start).toBe(next);
          expect(box.count).toBeGreaterThan(0);
          expect(box.count).toBeLessThanOrEqual(budget);
          next += box.count;
          if (box.windowStart !== window.start) {
            expect(closed.has(box.windowStart), 'a window reopens').toBe(false);
            if (window.start >= 0) closed.add(window.start);
            window = { start: box.windowStart, count: box.windowCount };
          }
          expect(box.windowCount).toBe(window.count);
          expect(box.wStart).toBeGreaterThanOrEqual(window.start);
          expect(box.wStart + box.wCount).toBeLessThanOrEqual(window.start + window.count);
          const covered: number[] = [];
          for (let w = box.wStart; w < box.wStart + box.wCount; w++) {
            const end = Math.min(box.jEnd, outputLength(layout, w));
            // Each output's elements arrive in order: this box continues exactly where the last one stopped.
            if (box.jStart < end) expect(seen[w]).toBe(box.jStart);
            for (let j = box.jStart; j < end; j++) covered.push(elementIndex(layout, w, j));
            seen[w] = Math.max(seen[w]!, end);
          }
          covered.sort((a, b) => a - b);
          expect(covered).toEqual(Array.from({ length: box.count }, (_, k) => box.start + k));
        }
        expect(next).toBe(size);
        for (let w = 0; w < layout.outputs; w++) expect(seen[w]).toBe(outputLength(layout, w));
      }
    });
  }

  it('per channel and per tensor keep one window of every output; whole groups one per box', () => {
    const channel = [...planBoxes(reductionLayout([50, 8], { axis: 1 }), 64)];
    expect(channel.length).toBeGreaterThan(1);
    for (const box of channel) expect([box.windowStart, box.windowCount]).toEqual([0, 8]);
    const groups = [...planBoxes(reductionLayout([16, 64], { axis: 1, groupSize: 32 }), 128)];
    for (const box of groups) expect([box.windowStart, box.windowCount]).toEqual([box.wStart, box.wCount]);
  });
});

describe('lanes', () => {
  it('one lane up to 64 elements, then about 64 elements a lane', () => {
    expect([lanesFor(1), lanesFor(ELEMENTS_PER_LANE), lanesFor(65), lanesFor(4096), lanesFor(1e9)]).toEqual([1, 1, 2, 64, 65536]);
  });
  it('neighbouring invocations read neighbouring memory in both channel layouts', () => {
    expect(laneFastest(reductionLayout([512, 1024], { axis: 0 }))).toBe(true);
    expect(laneFastest(reductionLayout([512, 1024], { axis: 1 }))).toBe(false);
    expect(laneFastest(reductionLayout([1000], 'per_tensor'))).toBe(true);
    expect(laneFastest(reductionLayout([64, 256], { axis: 1, groupSize: 32 }))).toBe(true);
    expect(laneFastest(reductionLayout([256, 64], { axis: 0, groupSize: 32 }))).toBe(false);
  });
});

describe('the first min/max pass', () => {
  const only = (layout: ReturnType<typeof reductionLayout>, maxElements = 1 << 26) => firstPass(layout, [...planBoxes(layout, maxElements)][0]!);

  it('takes vec4 loads along an output where its elements come in aligned runs of 4', () => {
    const perTensor = only(reductionLayout([4096, 4096], 'per_tensor'));
    expect([perTensor.entry, perTensor.lanes, perTensor.outputsPerLane, perTensor.invocations]).toEqual(['minmax_input_along', 16384, 1, 16384]);
    const axis0 = only(reductionLayout([4096, 4096], { axis: 0 }));
    expect([axis0.entry, axis0.lanes, axis0.invocations]).toEqual(['minmax_input_along', 4, 4096 * 4]);
    // Short outputs: several per invocation, about 1024 elements in all.
    const short = only(reductionLayout([512, 8], { axis: 0 }));
    expect([short.entry, short.lanes, short.outputsPerLane, short.invocations]).toEqual(['minmax_input_along', 1, 128, 4]);
    // Groups tiling the last axis are the rows of a matrix: told to the shader as per channel rows.
    const groups = only(reductionLayout([4096, 4096], { axis: 1, groupSize: 32 }));
    expect([groups.entry, groups.layout.family, groups.layout.n, groups.layout.inner, groups.outputsPerLane]).toEqual(['minmax_input_along', 'channel', 4096 * 128, 32, 32]);
    // A ragged last group: the group layout itself, one output per invocation.
    const ragged = only(reductionLayout([64, 300], { axis: 1, groupSize: 32 }));
    expect([ragged.entry, ragged.layout.family, ragged.outputsPerLane]).toEqual(['minmax_input_along', 'group', 1]);
    // Several o per box (axis 1 of [8, 12, 16]): one output per invocation.
    expect(only(reductionLayout([8, 12, 16], { axis: 1 })).outputsPerLane).toBe(1);
  });

  it('takes vec4 loads across four neighbouring outputs where they share each vec4', () => {
    const axis1 = only(reductionLayout([4096, 4096], { axis: 1 }));
    expect([axis1.entry, axis1.lanes, axis1.invocations]).toEqual(['minmax_input_across', 16, 1024 * 16]);
    expect(only(reductionLayout([64, 128, 8], { axis: 1, groupSize: 32 })).entry).toBe('minmax_input_across');
  });

  it('combine passes reduce about 256 records a lane', () => {
    expect([combineLanesFor(1), combineLanesFor(256), combineLanesFor(257), combineLanesFor(16384)]).toEqual([1, 1, 2, 64]);
  });

  it('reads one element at a time otherwise, with the records the combine passes expect', () => {
    for (const layout of [reductionLayout([5, 7, 9], { axis: 1 }), reductionLayout([1001], 'per_tensor'), reductionLayout([6, 10], { axis: 1 })]) {
      const pass = only(layout);
      expect(pass.entry).toBe('minmax_input');
      expect(pass.invocations).toBe([...planBoxes(layout, 1 << 26)][0]!.wCount * pass.lanes);
    }
    // A box that starts off a multiple of 4 elements falls back too.
    const layout = reductionLayout([10, 1000], 'per_tensor');
    const boxes = [...planBoxes(layout, 998)];
    expect(boxes.map((box) => firstPass(layout, box).entry)).toContain('minmax_input');
  });
});

/** The `name: type` fields of `struct <name> { ... }` in `source`, in order, comments removed. */
function parseStruct(source: string, name: string): [string, string][] {
  const code = source.replace(/\/\/[^\n]*/g, '');
  const match = new RegExp(`struct\\s+${name}\\s*\\{([^}]*)\\}`).exec(code);
  if (!match) throw new Error(`no struct ${name}`);
  return match[1]!.split(',').map((f) => f.trim()).filter((f) => f).map((f) => {
    const [field, type] = f.split(':').map((p) => p.trim());
    return [field!, type!];
  });
}

describe('the calibration uniform', () => {
  it('CalibrationParams in minmax_params.wgsl has the host layout, field by field, 4-byte scalars only', () => {
    expect(parseStruct(CALIBRATION_SHADER_FILES.minmaxParams, 'CalibrationParams')).toEqual(CALIBRATION_PARAMS.fields.map(([n, t]) => [n, t]));
    expect(CALIBRATION_SHADER_FILES.minmaxParams).toMatch(/@group\(0\)\s*@binding\(0\)\s*var<uniform>\s*params\s*:\s*CalibrationParams;/);
    for (const [, type] of CALIBRATION_PARAMS.fields) expect(['u32', 'i32', 'f32']).toContain(type);
  });

  it('packs each field at 4 * i, little-endian, padded to 16 bytes', () => {
    const layout = reductionLayout([3, 1100, 7], { axis: 1, groupSize: 30 });
    const box = { start: 123, count: 456, wStart: 7, wCount: 8, jStart: 9, jEnd: 29, windowStart: 5, windowCount: 13 };
    const fields = {
      lanes: 3, inLanes: 17, laneFastest: true, invocations: 999, invocationOffset: 64, candidates: 100, block: 1024, firstBlock: 2,
      boxBlocks: 4, symmetric: true, qmin: -8, qmax: 7, symmetricZeroPoint: 0, eps: 2 ** -23, outputsPerLane: 6,
    };
    const bytes = packCalibrationParams(layout, box, fields);
    expect(bytes.byteLength).toBe(CALIBRATION_PARAMS_BYTES);
    expect(CALIBRATION_PARAMS_BYTES % 16).toBe(0);
    const view = new DataView(bytes);
    const expected: Record<string, number> = {
      family: 1, n: 1100, inner: 7, group_size: 30, groups: 37, channel_length: 0, box_start: 123, w_start: 7, w_count: 8, j_start: 9,
      j_end: 29, lanes: 3, in_lanes: 17, lane_fastest: 1, invocations: 999, invocation_offset: 64, candidates: 100, block: 1024,
      first_block: 2, box_blocks: 4, window_start: 5, symmetric: 1, qmin: -8, qmax: 7, qrange: 15, half_range: 7.5,
      symmetric_zero_point: 0, eps: 2 ** -23, opaque_zero: 0, outputs_per_lane: 6,
    };
    CALIBRATION_PARAMS.fields.forEach(([name, type], i) => {
      const value = type === 'f32' ? view.getFloat32(4 * i, true) : view.getUint32(4 * i, true);
      expect([name, value]).toEqual([name, expected[name]]);
    });
  });
});
