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
import dequantizePerChannel from '../../shaders/dequantize_per_channel.wgsl?raw';
import dequantizePerTensor from '../../shaders/dequantize_per_tensor.wgsl?raw';
import indexing from '../../shaders/indexing.wgsl?raw';
import numerics from '../../shaders/numerics.wgsl?raw';
import packBuiltin from '../../shaders/pack_builtin.wgsl?raw';
import packShift from '../../shaders/pack_shift.wgsl?raw';
import perChannelParams from '../../shaders/per_channel_params.wgsl?raw';
import perTensorParams from '../../shaders/per_tensor_params.wgsl?raw';
import quantizeEntries from '../../shaders/quantize_entries.wgsl?raw';
import quantizePerChannel from '../../shaders/quantize_per_channel.wgsl?raw';
import quantizePerTensor from '../../shaders/quantize_per_tensor.wgsl?raw';

/** The kernel operations. */
export type KernelOp = 'quantize' | 'dequantize';
/** The kernel families: one uniform struct each. */
export type KernelScheme = 'perTensor' | 'perChannel';

const kBodies: Record<KernelOp, Record<KernelScheme, string>> = {
  quantize: { perTensor: quantizePerTensor, perChannel: quantizePerChannel },
  dequantize: { perTensor: dequantizePerTensor, perChannel: dequantizePerChannel },
};
const kEntries: Record<KernelOp, string> = { quantize: quantizeEntries, dequantize: dequantizeEntries };
const kParams: Record<KernelScheme, string> = { perTensor: perTensorParams, perChannel: perChannelParams };

/** The full WGSL source of one kernel; `packed4x8` picks the built-in or the shift packing helpers. */
export function kernelSource(op: KernelOp, scheme: KernelScheme, packed4x8: boolean): string {
  return [numerics, packed4x8 ? packBuiltin : packShift, indexing, kParams[scheme], kBodies[op][scheme], kEntries[op]]
    .join('\n');
}

/** The raw shader files, for tests that check the host's view of them. */
export const SHADER_FILES = { perTensorParams, perChannelParams } as const;

/**
 * The label, pipeline cache key and pipeline spec of one kernel variant. The key holds only what changes
 * the code: op, scheme, dtype (entry point), workgroup size, vecs per thread and pack variant.
 *
 * @example
 * ```ts
 * kernelVariant('quantize', 'perChannel', dtypeInfo('qint8'), true).pipelineKey;
 * // 'quantize|perChannel|qint8|wg256|v4|packBuiltin'
 * ```
 */
export function kernelVariant(op: KernelOp, scheme: KernelScheme, info: DTypeInfo, packed4x8: boolean):
  { label: string; pipelineKey: string; pipeline: PipelineSpec } {
  const label = `${op}|${scheme}|${info.name}`;
  return {
    label,
    pipelineKey: `${label}|wg${WORKGROUP_SIZE}|v${VECS_PER_THREAD}|${packed4x8 ? 'packBuiltin' : 'packShift'}`,
    pipeline: {
      code: kernelSource(op, scheme, packed4x8),
      entryPoint: `${op}_${info.storage}`,
      constants: { WORKGROUP_SIZE, VECS_PER_THREAD },
    },
  };
}
