/**
 * Composes the calibration kernels' WGSL by concatenation: the shared numerics (`quantize_value`, NaN
 * tests), dispatch indexing, the calibration uniform and addressing, then the min/max reduction, or the
 * MSE or 'lsq' search (with its exact division and the shared candidate formulas). Variants differ only by entry point and the `WORKGROUP_SIZE` override.
 *
 * @example
 * ```ts
 * const pipeline = manager.pipelines.get(calibrationPipeline('minmax_input'));
 * ```
 * @module
 */
import type { PipelineSpec } from '../../gpu/pipeline-cache.js';
import indexing from '../../../shaders/common/indexing.wgsl?raw';
import lsqSearch from '../../../shaders/calibration/lsq_search.wgsl?raw';
import minmaxParams from '../../../shaders/calibration/minmax_params.wgsl?raw';
import minmaxReduce from '../../../shaders/calibration/minmax_reduce.wgsl?raw';
import mseDivide from '../../../shaders/calibration/mse_divide.wgsl?raw';
import mseSearch from '../../../shaders/calibration/mse_search.wgsl?raw';
import numerics from '../../../shaders/common/numerics.wgsl?raw';
import searchCandidate from '../../../shaders/calibration/search_candidate.wgsl?raw';

/** Invocations per workgroup of the calibration kernels: they loop, so small groups balance better. */
export const CALIBRATION_WORKGROUP_SIZE = 64;

/** The entry points: three min/max first passes, the min/max combine pass, three MSE and two 'lsq' passes. */
export type CalibrationEntry =
  | 'minmax_input' | 'minmax_input_along' | 'minmax_input_across' | 'minmax_combine' | 'mse_blocks' | 'mse_accumulate' | 'mse_pick'
  | 'lsq_candidates' | 'lsq_pick';

const kMinMaxSource = [numerics, indexing, minmaxParams, minmaxReduce].join('\n');
const kMseSource = [numerics, indexing, minmaxParams, mseDivide, searchCandidate, mseSearch].join('\n');
const kLsqSource = [numerics, indexing, minmaxParams, mseDivide, searchCandidate, lsqSearch].join('\n');

/** The raw shader files, for tests that check the host's view of them. */
export const CALIBRATION_SHADER_FILES = { minmaxParams, minmaxReduce, mseSearch, mseDivide, searchCandidate, lsqSearch } as const;

/**
 * The pipeline of one entry point.
 *
 * @example
 * ```ts
 * calibrationPipeline('mse_blocks').entryPoint; // 'mse_blocks'
 * ```
 */
export function calibrationPipeline(entry: CalibrationEntry): PipelineSpec {
  return {
    label: `calibration|${entry}`,
    code: entry.startsWith('minmax') ? kMinMaxSource : entry.startsWith('lsq') ? kLsqSource : kMseSource,
    entryPoint: entry,
    constants: { WORKGROUP_SIZE: CALIBRATION_WORKGROUP_SIZE },
  };
}
