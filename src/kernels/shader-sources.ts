/**
 * Composes the WGSL modules from the files in `shaders/` by concatenation: shared helpers, the pack
 * variant the device supports, the family's uniform, the kernel body, its entry points. No string
 * templating of shader logic: variants differ only by which files are joined and by `override` constants.
 *
 * @example
 * ```ts
 * const code = kernelSource('quantize', 'perTensor', true);
 * ```
 * @module
 */
import type { DTypeInfo } from '../dtype.js';
import type { PipelineSpec } from '../gpu/pipeline-cache.js';
import { VECS_PER_THREAD, WORKGROUP_SIZE } from './workgroup.js';
import dequantizeEntries from '../../shaders/dequantize_entries.wgsl?raw';
import groupedParams from '../../shaders/grouped_params.wgsl?raw';
import indexing from '../../shaders/indexing.wgsl?raw';
import numerics from '../../shaders/numerics.wgsl?raw';
import packBuiltin from '../../shaders/pack_builtin.wgsl?raw';
import packNibbles from '../../shaders/pack_nibbles.wgsl?raw';
import packShift from '../../shaders/pack_shift.wgsl?raw';
import perTensorParams from '../../shaders/per_tensor_params.wgsl?raw';
import quantizeEntries from '../../shaders/quantize_entries.wgsl?raw';

/** The kernel operations; fake quantization shares the quantize module (entry point `fake_quantize`). */
export type KernelOp = 'quantize' | 'dequantize' | 'fakeQuantize';
/** The kernel families: one uniform struct each. 'grouped' serves per-channel and per-group. */
export type KernelScheme = 'perTensor' | 'grouped';

const kEntries: Record<KernelOp, string> = { quantize: quantizeEntries, dequantize: dequantizeEntries, fakeQuantize: quantizeEntries };
const kSchemes: Record<KernelScheme, string> = { perTensor: perTensorParams, grouped: groupedParams };

/** Entry-point suffix per storage width: 8-bit and 4-bit types share code, signedness is an override. */
const kWidthSuffix: Record<DTypeInfo['bits'], string> = { 4: '4bit', 8: '8bit', 32: 'i32' };

/** The full WGSL source of one kernel; `packed4x8` picks the built-in or the shift 8-bit packing helpers. */
export function kernelSource(op: KernelOp, scheme: KernelScheme, packed4x8: boolean): string {
  return [numerics, packed4x8 ? packBuiltin : packShift, packNibbles, indexing, kSchemes[scheme], kEntries[op]].join('\n');
}

/** The raw shader files, for tests that check the host's view of them. */
export const SHADER_FILES = { perTensorParams, groupedParams } as const;

/**
 * The label, pipeline cache key and pipeline spec of one kernel variant. The key holds only what changes
 * the code: op, scheme, dtype (entry point), workgroup size, vecs per thread and pack variant.
 *
 * @example
 * ```ts
 * kernelVariant('quantize', 'grouped', dtypeInfo('qint8'), true).pipelineKey;
 * // 'quantize|grouped|qint8|wg256|v4|packBuiltin'
 * ```
 */
export function kernelVariant(op: KernelOp, scheme: KernelScheme, info: DTypeInfo, packed4x8: boolean):
  { label: string; pipelineKey: string; pipeline: PipelineSpec } {
  const label = op === 'fakeQuantize' ? `${op}|${scheme}` : `${op}|${scheme}|${info.name}`;
  return {
    label,
    pipelineKey: `${label}|wg${WORKGROUP_SIZE}|v${VECS_PER_THREAD}|${packed4x8 ? 'packBuiltin' : 'packShift'}`,
    pipeline: {
      code: kernelSource(op, scheme, packed4x8),
      entryPoint: op === 'fakeQuantize' ? 'fake_quantize' : `${op}_${kWidthSuffix[info.bits]}`,
      constants: { WORKGROUP_SIZE, VECS_PER_THREAD, SIGNED: info.signed ? 1 : 0 },
    },
  };
}
