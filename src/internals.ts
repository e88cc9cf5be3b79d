/**
 * Internals for the benchmarks (bench/): kernel planning, shader pipelines and reduction pieces, so that a
 * benchmark times exactly what the library runs. Not part of the package's exports and not a stable API.
 *
 * @example
 * ```ts
 * import { dispatchSize } from 'webgpu-quant/internals'; // resolved to src/internals.ts by bench/run.mjs
 * dispatchSize(70_000_000, 256, 65_535); // { x: 65535, y: 5 }: the 2-D fold of a large dispatch
 * ```
 * @module
 */
export { type ReductionLayout, reductionLayout } from './calibration/granularity.js';
export { AUTO_GPU_MIN_ELEMENTS, calibrationGranularity } from './compress/quantize-weight.js';
export { gpuWeightChain } from './compress/gpu-weight-chain.js';
export { dispatchSize } from './gpu/dispatch.js';
export { type GpuRun } from './gpu/gpu-run.js';
export { encodeModel, onnx } from './io/onnx/proto.js';
export { bindingLimit, encodeMinMaxBox } from './kernels/calibration/minmax-kernel.js';
export { planBoxes } from './kernels/calibration/minmax-plan.js';
export { CALIBRATION_WORKGROUP_SIZE, calibrationPipeline } from './kernels/calibration/minmax-shaders.js';
export { type ChunkedJob, chunkElements } from './kernels/common/run-chunked.js';
export { entryKey } from './gpu/pipeline-cache.js';
export { VECS_PER_THREAD, WORKGROUP_SIZE } from './kernels/common/workgroup.js';
export { vecGeometry } from './kernels/elementwise/quantize-kernel.js';
export { type ElementwisePlan, type ElementwiseRequest, planElementwise } from './kernels/elementwise/plan-elementwise.js';
export { addChunkPartials } from './kernels/error-stats/chunk-partials.js';
export { encodeStatsChunk, planStatsPass, prescaleFor } from './kernels/error-stats/error-stats-kernel.js';
export { planChunks, type StatsPartition } from './kernels/error-stats/error-stats-plan.js';
export { paramTableWords } from './kernels/error-stats/error-stats-shader.js';
export { channelLayout } from './layout.js';
export { type QParams } from './qtensor.js';
export { checkErrorStatsArguments, type ErrorStatsRequest } from './stats/arguments.js';
export { assembleErrorStats } from './stats/assemble.js';
export { BucketSums } from './stats/bucket-sums.js';
export { channelIndexMap, tensorIndexMap } from './stats/index-map.js';
