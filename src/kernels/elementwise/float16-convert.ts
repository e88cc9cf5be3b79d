/**
 * Host side of the float32 → float16 pass (shaders/elementwise/float16_convert.wgsl), encoded after a
 * dequantize chunk when the caller asks for float16 on the GPU. One named variant, 'exactRounding': the
 * integer-only conversion, chosen on every device (with or without `shader-f16`) because WGSL lets a
 * float conversion pick either neighbour of a value between two halves; these bits are the same everywhere.
 *
 * @example
 * ```ts
 * const halves = encodeFloat16(run, pipelines, floats, count); // a pooled buffer of ceil(count / 2) words
 * ```
 * @module
 */
import { dispatchSize } from '../../gpu/dispatch.js';
import type { GpuRun } from '../../gpu/gpu-run.js';
import type { PipelineCache, PipelineSpec } from '../../gpu/pipeline-cache.js';
import { FLOAT16_PARAMS, packUniform } from '../common/uniforms.js';
import { WORKGROUP_SIZE } from '../common/workgroup.js';
import indexing from '../../../shaders/common/indexing.wgsl?raw';
import float16Convert from '../../../shaders/elementwise/float16_convert.wgsl?raw';

/** The raw shader file, for the test that checks the host's view of its uniform. */
export const FLOAT16_SHADER = float16Convert;

/** The conversion variants by name, each with its override constants. */
export const FLOAT16_VARIANTS = { exactRounding: { WORKGROUP_SIZE } } as const;

/** The pipeline of a variant. */
export function float16Variant(name: keyof typeof FLOAT16_VARIANTS): PipelineSpec {
  return {
    label: `float16|${name}`,
    code: [indexing, float16Convert].join('\n'),
    entryPoint: 'float32_to_float16',
    constants: FLOAT16_VARIANTS[name],
  };
}

/** Bytes of `count` halves as the pass writes them: whole 4-byte words. */
export function float16Bytes(count: number): number { return Math.ceil(count / 2) * 4; }

/**
 * Encodes the conversion of `count` float32 values at the start of `input` into a pooled buffer of
 * {@link float16Bytes}(count) bytes (an odd count leaves a zero high half in the last word), and returns it.
 */
export function encodeFloat16(run: GpuRun, pipelines: PipelineCache, input: GPUBuffer, count: number): GPUBuffer {
  const spec = float16Variant('exactRounding');
  const words = Math.ceil(count / 2);
  const grid = dispatchSize(words, WORKGROUP_SIZE, run.device.limits.maxComputeWorkgroupsPerDimension);
  const uniformBytes = packUniform(FLOAT16_PARAMS, { count, thread_count: grid.threadCount, _pad0: 0, _pad1: 0 });
  const uniform = run.upload(uniformBytes, GPUBufferUsage.UNIFORM, 'float16.uniform');
  const output = run.buffer(words * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, 'float16.output');
  run.dispatch(pipelines.get(spec), [
    { binding: 0, resource: { buffer: uniform, size: uniformBytes.byteLength } },
    { binding: 1, resource: { buffer: input, size: count * 4 } },
    { binding: 2, resource: { buffer: output, size: words * 4 } },
  ], grid, 'float16');
  return output;
}
