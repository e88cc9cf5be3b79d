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
import type { DTypeInfo } from '../../dtype.js';
import type { PipelineSpec } from '../../gpu/pipeline-cache.js';
import { VECS_PER_THREAD, WORKGROUP_SIZE } from '../common/workgroup.js';
import dequantizeEntries from '../../../shaders/elementwise/dequantize_entries.wgsl?raw';
import dequantizeStationary from '../../../shaders/elementwise/dequantize_stationary.wgsl?raw';
import groupedParams from '../../../shaders/elementwise/grouped_params.wgsl?raw';
import indexing from '../../../shaders/common/indexing.wgsl?raw';
import numerics from '../../../shaders/common/numerics.wgsl?raw';
import packBuiltin from '../../../shaders/elementwise/pack_builtin.wgsl?raw';
import packBytes from '../../../shaders/elementwise/pack_bytes.wgsl?raw';
import packNibbles from '../../../shaders/elementwise/pack_nibbles.wgsl?raw';
import packShift from '../../../shaders/elementwise/pack_shift.wgsl?raw';
import perTensorParams from '../../../shaders/elementwise/per_tensor_params.wgsl?raw';
import quantizeEntries from '../../../shaders/elementwise/quantize_entries.wgsl?raw';
import quantizeStationary from '../../../shaders/elementwise/quantize_stationary.wgsl?raw';
import stationaryParams from '../../../shaders/elementwise/stationary_params.wgsl?raw';

/** The kernel operations; fake quantization shares the quantize module (entry point `fake_quantize`). */
export type KernelOp = 'quantize' | 'dequantize' | 'fakeQuantize';
/**
 * The kernel families: one uniform struct each. 'grouped' serves per-channel and per-group; 'stationary'
 * serves the per-channel and per-group 8-bit and 4-bit tensors whose rows line up with vecs
 * (src/kernels/elementwise/stationary.ts), quantize and dequantize only.
 */
export type KernelScheme = 'perTensor' | 'grouped' | 'stationary';

const kEntries: Record<KernelOp, string> = { quantize: quantizeEntries, dequantize: dequantizeEntries, fakeQuantize: quantizeEntries };
const kStationaryEntries: Record<KernelOp, string> = { quantize: quantizeStationary, dequantize: dequantizeStationary, fakeQuantize: '' };
const kSchemes: Record<KernelScheme, string> = { perTensor: perTensorParams, grouped: groupedParams, stationary: stationaryParams };

/** Entry-point suffix per storage width: 8-bit and 4-bit types share code, signedness is an override. */
const kWidthSuffix: Record<DTypeInfo['bits'], string> = { 4: '4bit', 8: '8bit', 32: 'i32' };

/** The full WGSL source of one kernel; `packed4x8` picks the built-in or the shift 8-bit packing helpers. */
export function kernelSource(op: KernelOp, scheme: KernelScheme, packed4x8: boolean): string {
  const entries = scheme === 'stationary' ? kStationaryEntries[op] : kEntries[op];
  if (entries === '') throw new Error(`kernelSource: no ${scheme} ${op} kernel`);
  return [numerics, packed4x8 ? packBuiltin : packShift, packNibbles, packBytes, indexing, kSchemes[scheme], entries].join('\n');
}

/** The raw shader files, for tests that check the host's view of them. */
export const SHADER_FILES = { perTensorParams, groupedParams, stationaryParams } as const;

/**
 * The pipeline of one kernel variant: its label, the composed source, the entry point for the dtype's
 * storage width and the base override constants (the scheme's own constants join them in planElementwise).
 * The label names the shift-based 8-bit packing ('|packShift') where the device lacks the built-ins.
 *
 * @example
 * ```ts
 * kernelVariant('quantize', 'grouped', dtypeInfo('qint8'), true).entryPoint; // 'quantize_8bit'
 * kernelVariant('fakeQuantize', 'perTensor', dtypeInfo('qint8'), true).label; // 'fakeQuantize|perTensor'
 * ```
 */
export function kernelVariant(op: KernelOp, scheme: KernelScheme, info: DTypeInfo, packed4x8: boolean): PipelineSpec {
  return {
    label: `${op}|${scheme}${op === 'fakeQuantize' ? '' : `|${info.name}`}${packed4x8 ? '' : '|packShift'}`,
    code: kernelSource(op, scheme, packed4x8),
    entryPoint: op === 'fakeQuantize' ? 'fake_quantize' : `${op}_${kWidthSuffix[info.bits]}`,
    constants: { WORKGROUP_SIZE, VECS_PER_THREAD, SIGNED: info.signed ? 1 : 0 },
  };
}
