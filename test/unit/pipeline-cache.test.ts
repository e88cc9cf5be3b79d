// The pipeline cache derives its keys from the source, the entry point and the sorted override constants,
// and elementwise plans are immutable and name their variants.
import { describe, expect, it } from 'vitest';
import { dtypeInfo } from '../../src/dtype.js';
import { PipelineCache, entryKey } from '../../src/gpu/pipeline-cache.js';
import { ROW_LAYOUT } from '../../src/kernels/elementwise/scheme-params.js';
import { planElementwise } from '../../src/kernels/elementwise/plan-elementwise.js';
import { vecGeometry } from '../../src/kernels/elementwise/quantize-kernel.js';
import { STATIONARY_KIND } from '../../src/kernels/elementwise/stationary.js';
import { SHADER_FILES } from '../../src/kernels/elementwise/shader-sources.js';
import { ERROR_STATS_SCHEME, ERROR_STATS_SHADER } from '../../src/kernels/error-stats/error-stats-shader.js';

/** The `const NAME: u32 = Nu;` declarations of a WGSL source. */
function wgslConstants(source: string): Record<string, number> {
  return Object.fromEntries([...source.matchAll(/^const (\w+): u32 = (\d+)u;/gm)].map((m) => [m[1]!, Number(m[2])]));
}

describe('named variants', () => {
  it('each table matches the named constants its WGSL compares the override with', () => {
    expect(wgslConstants(SHADER_FILES.stationaryParams)).toMatchObject(
      { KIND_RUNS: STATIONARY_KIND.runs, KIND_COLUMNS: STATIONARY_KIND.columns, KIND_SHORT_RUNS: STATIONARY_KIND.shortRuns });
    expect(wgslConstants(SHADER_FILES.groupedParams)).toMatchObject(
      { ROWS_GENERAL: ROW_LAYOUT.general, ROWS_SAME: ROW_LAYOUT.sameRow, ROWS_CONSECUTIVE: ROW_LAYOUT.consecutiveRows });
    expect(wgslConstants(ERROR_STATS_SHADER)).toMatchObject({
      SCHEME_FLOATS: ERROR_STATS_SCHEME.floats, SCHEME_PER_TENSOR_INTEGERS: ERROR_STATS_SCHEME.perTensorIntegers,
      SCHEME_INDEXED_INTEGERS: ERROR_STATS_SCHEME.indexedIntegers,
    });
    for (const table of [STATIONARY_KIND, ROW_LAYOUT, ERROR_STATS_SCHEME]) expect(new Set(Object.values(table)).size).toBe(Object.keys(table).length);
  });
});

/** A device that only counts what it builds: the cache never needs more of it. */
function countingDevice() {
  const built = { modules: 0, pipelines: 0 };
  const device = {
    createShaderModule: () => { built.modules++; return {}; },
    createComputePipeline: () => { built.pipelines++; return { id: built.pipelines }; },
    limits: { maxStorageBufferBindingSize: 2 ** 30, maxBufferSize: 2 ** 30, maxComputeWorkgroupsPerDimension: 65535 },
  } as unknown as GPUDevice;
  return { device, built };
}

describe('PipelineCache', () => {
  it('one pipeline per source, entry point and constants, whatever the label or the order of the constants', () => {
    const { device, built } = countingDevice();
    const cache = new PipelineCache(device);
    const a = cache.get({ label: 'a', code: 'x', entryPoint: 'main', constants: { A: 1, B: 2 } });
    expect(cache.get({ label: 'b', code: 'x', entryPoint: 'main', constants: { B: 2, A: 1 } })).toBe(a);
    expect(cache.get({ label: 'a', code: 'x', entryPoint: 'main', constants: { A: 1, B: 3 } })).not.toBe(a);
    expect(cache.get({ label: 'a', code: 'x', entryPoint: 'other', constants: { A: 1, B: 2 } })).not.toBe(a);
    expect(cache.get({ label: 'a', code: 'y', entryPoint: 'main', constants: { A: 1, B: 2 } })).not.toBe(a);
    expect(built).toEqual({ modules: 2, pipelines: 4 });
    expect(cache.size).toBe(4);
    expect(cache.built().map((p) => p.key)).toEqual(['main(A=1,B=2)', 'main(A=1,B=3)', 'other(A=1,B=2)', 'main(A=1,B=2)']);
    expect(entryKey('e', {})).toBe('e()');
  });
});

describe('planElementwise', () => {
  const info = dtypeInfo('qint8');
  const { device } = countingDevice();
  const channel = (shape: number[], axis: number) => ({
    scheme: 'per_channel_affine' as const, scales: new Float64Array(shape[axis]!).fill(0.5), zeroPoints: new Int32Array(shape[axis]!), axis,
  });
  const plan = (op: 'quantize' | 'dequantize' | 'fakeQuantize', shape: number[], axis: number, scale = 0.5) => {
    const params = { ...channel(shape, axis), scales: new Float64Array(shape[axis]!).fill(scale) };
    return planElementwise(device, { op, info, params, range: info, shape, packed4x8: true }, vecGeometry(op === 'dequantize' ? 'dequantize' : 'quantize', info));
  };

  it('returns a frozen plan whose label and constants name the variant', () => {
    const runs = plan('quantize', [64, 256], 0);
    expect(Object.isFrozen(runs) && Object.isFrozen(runs.pipeline) && Object.isFrozen(runs.pipeline.constants)).toBe(true);
    expect(runs.pipeline.label).toBe('quantize|stationary|qint8|runs');
    expect(runs.pipeline.constants.STATIONARY_KIND).toBe(STATIONARY_KIND.runs);
    expect(plan('dequantize', [64, 256], 1).pipeline.label).toBe('dequantize|stationary|qint8|columns');
    const short = plan('quantize', [64, 256], 1);
    expect(short.pipeline.constants.STATIONARY_KIND).toBe(STATIONARY_KIND.columns);
    expect(plan('quantize', [64, 16], 0).pipeline.label).toBe('quantize|stationary|qint8|shortRuns');
    expect(plan('quantize', [64, 16], 0).pipeline.constants.RUN_VECS).toBe(1);
  });

  it('fake quantization runs the grouped kernel with its named row layout; tiny scales add EXACT_SUBNORMALS to quantize only', () => {
    const fake = plan('fakeQuantize', [64, 128], 0);
    expect(fake.pipeline.label).toBe('fakeQuantize|grouped');
    expect(fake.pipeline.constants).toMatchObject({ ROW_LAYOUT: ROW_LAYOUT.sameRow, PER_GROUP: 0 });
    expect(plan('fakeQuantize', [64, 130], 1).pipeline.constants.ROW_LAYOUT).toBe(ROW_LAYOUT.general);
    expect(plan('quantize', [64, 256], 0, 2 ** -126).pipeline.constants.EXACT_SUBNORMALS).toBe(1);
    expect(plan('quantize', [64, 256], 0).pipeline.constants.EXACT_SUBNORMALS).toBeUndefined();
    expect(plan('dequantize', [64, 256], 0, 2 ** -126).pipeline.constants.EXACT_SUBNORMALS).toBeUndefined();
  });
});
